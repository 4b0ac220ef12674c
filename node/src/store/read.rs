//! Reading the chain from disk: each read is one redb read transaction, a snapshot of the
//! last commit, so readers never wait for the chain lock or for a commit, and what one
//! read returns holds together (a page and the length beside it come from one commit).
//!
//! Reads are blocking (they decode what they return: every hash and id is recomputed);
//! callers run them on blocking threads.

use std::ops::Bound;
use std::sync::Arc;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use chainpost_chain::block::Block;
use chainpost_chain::encoding;
use chainpost_chain::hash::{BlockHash, Hash256, TxId};
use chainpost_chain::tx::Transaction;

use chainpost_chain::Handle;

use super::index::{
    Author, BEST_CHAIN, HANDLE_CLAIMS, POST_LOCATION, POSTS_BY_AUTHOR, PROFILES, REPLIES,
    REPLY_COUNTS, hash_of, positioned,
};
use super::{BLOCK_INDEX, BLOCKS, SharedDb, StoreError, db_error, decode_block};
use chainpost_chain::tree::{BlockSource, IndexedBlock, Unreadable};

/// A page of the best chain by hash, with the length of the chain it was read from.
#[derive(Debug)]
pub(crate) struct BestChainPage {
    pub(crate) length: u64,
    pub(crate) hashes: Vec<BlockHash>,
}

/// A post of the best chain and where it is.
#[derive(Debug)]
pub(crate) struct ConfirmedPost {
    pub(crate) transaction: Transaction,
    pub(crate) height: u64,
    pub(crate) position: u32,
    pub(crate) block: BlockHash,
    /// How many posts of the best chain reply to it.
    pub(crate) replies: u64,
}

impl ConfirmedPost {
    pub(crate) fn place(&self) -> PostPlace {
        (self.height, self.position)
    }
}

/// A place in the best chain's posts: a height and a position in that block. Posts are
/// ordered by it, oldest first.
pub(crate) type PostPlace = (u64, u32);

/// Posts of the best chain in the order asked for, and where the next page starts (`None`
/// when there are no more posts).
#[derive(Debug)]
pub(crate) struct PostsPage {
    pub(crate) posts: Vec<ConfirmedPost>,
    pub(crate) next: Option<PostPlace>,
}

/// A key's latest profile on the best chain.
#[derive(Debug)]
pub(crate) struct ProfileRecord {
    /// The profile post: signed by the key, its author the display name, its content the
    /// bio, naming a handle.
    pub(crate) post: ConfirmedPost,
    /// Whether the key owns the handle the profile names: its claim confirmed first.
    pub(crate) owns_handle: bool,
}

/// Who owns a handle.
#[derive(Debug)]
pub(crate) struct HandleRecord {
    /// The first profile of the best chain to claim the handle; its key is the owner.
    pub(crate) claim: ConfirmedPost,
    /// The owner's latest profile, which may name another handle it claimed since.
    pub(crate) profile: ProfileRecord,
}

/// Most blocks one page of all posts reads: a stretch of empty blocks ends a page early
/// (with a cursor to go on from) rather than making one read walk the whole chain.
const MAX_BLOCKS_PER_PAGE: usize = 256;

/// Reads the committed chain; cheap to clone.
#[derive(Clone)]
pub(crate) struct Reader {
    pub(super) db: SharedDb,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reader")
    }
}

/// The tree reads the bodies it dropped back from here. A block the store cannot give
/// back is logged and reported as missing, which refuses what needed it.
impl BlockSource for Reader {
    fn block(&self, hash: &BlockHash) -> Option<Arc<Block>> {
        match Reader::block(self, hash) {
            Ok(block) => block.map(Arc::new),
            Err(error) => {
                tracing::error!(%error, %hash, "a stored block could not be read back");
                None
            }
        }
    }

    fn confirmed_height(&self, id: &TxId) -> Result<Option<u64>, Unreadable> {
        self.with_snapshot(|txn| {
            let locations = txn.open_table(POST_LOCATION).map_err(db_error)?;
            let location = locations.get(id.as_bytes()).map_err(db_error)?;
            Ok(location.map(|location| location.value().0))
        })
        .map_err(|error| {
            tracing::error!(%error, %id, "the index of confirmed posts could not be read");
            Unreadable
        })
    }
}

impl Reader {
    /// Runs `read` on a snapshot of the last commit. The database stays open meanwhile:
    /// the writer closes it (after a failed commit) only between reads.
    fn with_snapshot<R>(
        &self,
        read: impl FnOnce(&ReadTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.db.read(|db| read(&db.begin_read().map_err(db_error)?))
    }

    /// The hashes of up to `limit` blocks of the best chain from height `from`, stopping
    /// before the block that would take the page past `max_bytes` of canonical encoding
    /// (but always holding one, so that paging advances). Sizes come from the stored
    /// framing: nothing is decoded, so the snapshot is held only as long as the page takes
    /// to measure; callers read the blocks by hash, a few at a time ([`Reader::blocks`]).
    pub(crate) fn best_chain_page(
        &self,
        from: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<BestChainPage, StoreError> {
        self.with_snapshot(|txn| {
            let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
            let stored = txn.open_table(BLOCKS).map_err(db_error)?;
            let length = best.len().map_err(db_error)?;
            let mut hashes = Vec::new();
            let mut bytes = 0usize;
            for row in best.range(from..).map_err(db_error)?.take(limit) {
                let (_, hash) = row.map_err(db_error)?;
                let hash = hash.value();
                let size = encoding::stored_block_encoded_len(stored_bytes(&stored, hash)?.value())
                    .map_err(|error| corrupt_block(hash, error))?;
                bytes = bytes.saturating_add(size);
                if bytes > max_bytes && !hashes.is_empty() {
                    break;
                }
                hashes.push(hash_of(hash));
            }
            Ok(BestChainPage { length, hashes })
        })
    }

    /// The block index: every stored block's header, size and post count, in the order
    /// they connected. What start-up reads instead of the blocks.
    pub(crate) fn block_index(&self) -> Result<Vec<IndexedBlock>, StoreError> {
        self.with_snapshot(|txn| {
            let index = txn.open_table(BLOCK_INDEX).map_err(db_error)?;
            let mut entries =
                Vec::with_capacity(usize::try_from(index.len().map_err(db_error)?).unwrap_or(0));
            for row in index.iter().map_err(db_error)? {
                entries.push(decode_index_entry(row.map_err(db_error)?.1.value())?);
            }
            Ok(entries)
        })
    }

    /// The best chain's length (blocks, genesis included).
    pub(crate) fn best_chain_length(&self) -> Result<u64, StoreError> {
        self.with_snapshot(|txn| {
            let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
            best.len().map_err(db_error)
        })
    }

    /// The best chain's tip and its height.
    pub(crate) fn best_chain_tip(&self) -> Result<(u64, BlockHash), StoreError> {
        self.with_snapshot(|txn| {
            let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
            let (height, hash) = best
                .last()
                .map_err(db_error)?
                .ok_or_else(|| StoreError::Corrupt("the best chain has no genesis".into()))?;
            Ok((height.value(), hash_of(hash.value())))
        })
    }

    /// The hashes of up to `limit` best-chain blocks above `height`, if the block there is
    /// `hash`; `None` if it is not (the chain moved away from it). One snapshot, so the
    /// blocks returned do follow `hash`.
    pub(crate) fn best_chain_after(
        &self,
        height: u64,
        hash: &BlockHash,
        limit: usize,
    ) -> Result<Option<Vec<BlockHash>>, StoreError> {
        self.with_snapshot(|txn| {
            let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
            let there = best.get(height).map_err(db_error)?.map(|hash| hash.value());
            if there != Some(*hash.as_bytes()) {
                return Ok(None);
            }
            let mut hashes = Vec::new();
            for row in best
                .range(height.saturating_add(1)..)
                .map_err(db_error)?
                .take(limit)
            {
                hashes.push(hash_of(row.map_err(db_error)?.1.value()));
            }
            Ok(Some(hashes))
        })
    }

    /// The best chain's posts at these places, each given with the first 8 bytes of the
    /// hash of the block it was found in (as an index that may lag the chain has it):
    /// a place whose block is no longer that one is left out.
    pub(crate) fn posts_at(
        &self,
        places: &[(PostPlace, [u8; 8])],
    ) -> Result<Vec<ConfirmedPost>, StoreError> {
        self.with_snapshot(|txn| {
            let tables = PostTables::open(txn)?;
            let mut posts = Vec::with_capacity(places.len());
            for &((height, position), block) in places {
                let Some(hash) = tables.best.get(height).map_err(db_error)? else {
                    continue;
                };
                if hash.value()[..8] != block {
                    continue;
                }
                posts.push(tables.at(height, position)?);
            }
            Ok(posts)
        })
    }

    /// The best chain's hashes, genesis first: 32 bytes a block, for a reader that then
    /// fetches the blocks a few at a time.
    pub(crate) fn best_chain_hashes(&self) -> Result<Vec<BlockHash>, StoreError> {
        self.with_snapshot(|txn| {
            let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
            let mut hashes = Vec::new();
            for row in best.iter().map_err(db_error)? {
                hashes.push(hash_of(row.map_err(db_error)?.1.value()));
            }
            Ok(hashes)
        })
    }

    /// The stored blocks with these hashes, in order. Blocks are never deleted, so every
    /// hash a read of the best chain returned is found.
    pub(crate) fn blocks(&self, hashes: &[BlockHash]) -> Result<Vec<Arc<Block>>, StoreError> {
        self.with_snapshot(|txn| {
            let stored = txn.open_table(BLOCKS).map_err(db_error)?;
            hashes
                .iter()
                .map(|hash| read_block(&stored, *hash.as_bytes()).map(Arc::new))
                .collect()
        })
    }

    /// The block with this hash, on any branch, if it is stored.
    pub(crate) fn block(&self, hash: &BlockHash) -> Result<Option<Block>, StoreError> {
        self.with_snapshot(|txn| {
            let stored = txn.open_table(BLOCKS).map_err(db_error)?;
            let bytes = stored.get(hash.as_bytes()).map_err(db_error)?;
            bytes
                .map(|bytes| decode_block(*hash.as_bytes(), bytes.value()))
                .transpose()
        })
    }

    /// Up to `limit` posts of the best chain older than `before` (from the newest without
    /// it), newest first: every post, or those of one author.
    pub(crate) fn posts(
        &self,
        author: Option<&Author>,
        before: Option<PostPlace>,
        limit: usize,
    ) -> Result<PostsPage, StoreError> {
        self.with_snapshot(|txn| match author {
            Some(author) => posts_by(txn, author, before, limit),
            None => all_posts(txn, before, limit),
        })
    }

    /// Up to `limit` replies of the best chain to `parent` that come after `after` (from
    /// the oldest without it), oldest first, as a thread is read.
    pub(crate) fn replies(
        &self,
        parent: &TxId,
        after: Option<PostPlace>,
        limit: usize,
    ) -> Result<PostsPage, StoreError> {
        self.with_snapshot(|txn| replies_to(txn, parent, after, limit))
    }

    /// How many posts of the best chain reply to `id`.
    pub(crate) fn reply_count(&self, id: &TxId) -> Result<u64, StoreError> {
        self.with_snapshot(|txn| reply_count(&txn.open_table(REPLY_COUNTS).map_err(db_error)?, id))
    }

    /// How many posts of the best chain reply to each of `ids`, from one snapshot.
    pub(crate) fn reply_counts(&self, ids: &[TxId]) -> Result<Vec<u64>, StoreError> {
        self.with_snapshot(|txn| {
            let counts = txn.open_table(REPLY_COUNTS).map_err(db_error)?;
            ids.iter().map(|id| reply_count(&counts, id)).collect()
        })
    }

    /// The best chain's post with this id, decoding only that post of its block.
    pub(crate) fn confirmed_post(&self, id: &TxId) -> Result<Option<ConfirmedPost>, StoreError> {
        self.with_snapshot(|txn| confirmed_post(txn, id))
    }

    /// The latest profile of each of `keys` (`None` for a key without one), from one
    /// snapshot.
    pub(crate) fn profiles(
        &self,
        keys: &[[u8; 32]],
    ) -> Result<Vec<Option<ProfileRecord>>, StoreError> {
        self.with_snapshot(|txn| {
            let profiles = Profiles::open(txn)?;
            keys.iter().map(|key| profiles.latest(key)).collect()
        })
    }

    /// Who owns `handle`, if any profile of the best chain claims it.
    pub(crate) fn handle(&self, handle: &Handle) -> Result<Option<HandleRecord>, StoreError> {
        self.with_snapshot(|txn| {
            let profiles = Profiles::open(txn)?;
            let Some((owner, height, position)) = profiles.owner(handle.as_str())? else {
                return Ok(None);
            };
            let claim = profiles.posts.at(height, position)?;
            if claim.transaction.profile_handle() != Some(handle) {
                return Err(StoreError::Corrupt(format!(
                    "post {} is indexed as a claim of @{handle}, which it does not make",
                    claim.transaction.id()
                )));
            }
            let profile = profiles.latest(&owner)?.ok_or_else(|| {
                StoreError::Corrupt(format!("the owner of @{handle} has no indexed profile"))
            })?;
            Ok(Some(HandleRecord { claim, profile }))
        })
    }
}

/// The tables a post of the best chain is read from by its place.
struct PostTables {
    best: redb::ReadOnlyTable<u64, [u8; 32]>,
    stored: StoredBlocks,
    counts: redb::ReadOnlyTable<[u8; 32], u64>,
}

impl PostTables {
    fn open(txn: &ReadTransaction) -> Result<Self, StoreError> {
        Ok(PostTables {
            best: txn.open_table(BEST_CHAIN).map_err(db_error)?,
            stored: txn.open_table(BLOCKS).map_err(db_error)?,
            counts: txn.open_table(REPLY_COUNTS).map_err(db_error)?,
        })
    }

    /// The post at `position` of the best chain's block at `height`, decoding only it.
    fn at(&self, height: u64, position: u32) -> Result<ConfirmedPost, StoreError> {
        let hash = block_at(&self.best, height)?;
        let transaction = post_at(&self.stored, hash, position)?;
        Ok(ConfirmedPost {
            replies: reply_count(&self.counts, &transaction.id())?,
            transaction,
            height,
            position,
            block: hash_of(hash),
        })
    }
}

/// The profile indexes and the posts they point at.
struct Profiles {
    claims: redb::ReadOnlyTable<(&'static str, u64, u32), [u8; 32]>,
    by_key: redb::ReadOnlyTable<([u8; 32], u64, u32), ()>,
    posts: PostTables,
}

impl Profiles {
    fn open(txn: &ReadTransaction) -> Result<Self, StoreError> {
        Ok(Profiles {
            claims: txn.open_table(HANDLE_CLAIMS).map_err(db_error)?,
            by_key: txn.open_table(PROFILES).map_err(db_error)?,
            posts: PostTables::open(txn)?,
        })
    }

    /// The owner of `handle` and the place of its claim: the first claim in chain order.
    fn owner(&self, handle: &str) -> Result<Option<([u8; 32], u64, u32)>, StoreError> {
        let first = self
            .claims
            .range::<(&str, u64, u32)>((handle, 0, 0)..=(handle, u64::MAX, u32::MAX))
            .map_err(db_error)?
            .next();
        first
            .map(|row| {
                let (place, key) = row.map_err(db_error)?;
                let (_, height, position) = place.value();
                Ok((key.value(), height, position))
            })
            .transpose()
    }

    /// `key`'s latest profile: the last of its range.
    fn latest(&self, key: &[u8; 32]) -> Result<Option<ProfileRecord>, StoreError> {
        let last = self
            .by_key
            .range::<([u8; 32], u64, u32)>((*key, 0, 0)..=(*key, u64::MAX, u32::MAX))
            .map_err(db_error)?
            .next_back();
        let Some(row) = last else {
            return Ok(None);
        };
        let (place, _) = row.map_err(db_error)?;
        let (_, height, position) = place.value();
        let post = self.posts.at(height, position)?;
        let tx = &post.transaction;
        let Some(handle) = tx
            .profile_handle()
            .filter(|_| tx.signature().map(|signed| &signed.public_key) == Some(key))
        else {
            return Err(StoreError::Corrupt(format!(
                "post {} is indexed as a profile of key {}, which it is not",
                tx.id(),
                Hash256(*key)
            )));
        };
        let owns_handle = self
            .owner(handle.as_str())?
            .is_some_and(|(owner, _, _)| owner == *key);
        Ok(Some(ProfileRecord { post, owns_handle }))
    }
}

fn confirmed_post(txn: &ReadTransaction, id: &TxId) -> Result<Option<ConfirmedPost>, StoreError> {
    let locations = txn.open_table(POST_LOCATION).map_err(db_error)?;
    let Some(location) = locations.get(id.as_bytes()).map_err(db_error)? else {
        return Ok(None);
    };
    let (height, position) = location.value();
    let post = PostTables::open(txn)?.at(height, position)?;
    if post.transaction.id() != *id {
        return Err(StoreError::Corrupt(format!(
            "post {id} is indexed at position {position} of block {}, which holds {}",
            post.block,
            post.transaction.id()
        )));
    }
    Ok(Some(post))
}

fn posts_by(
    txn: &ReadTransaction,
    author: &Author,
    before: Option<PostPlace>,
    limit: usize,
) -> Result<PostsPage, StoreError> {
    let by_author = txn.open_table(POSTS_BY_AUTHOR).map_err(db_error)?;
    let key = author.index_key();
    let (height, position) = before.unwrap_or((u64::MAX, u32::MAX));
    let places = by_author
        .range((key.as_slice(), 0, 0)..(key.as_slice(), height, position))
        .map_err(db_error)?
        .rev()
        .take(limit.saturating_add(1))
        .map(|row| {
            let (place, _) = row.map_err(db_error)?;
            let (_, height, position) = place.value();
            Ok((height, position))
        });
    page_at(
        txn,
        places,
        limit,
        |tx| Author::of(tx) == *author,
        "another author",
    )
}

fn replies_to(
    txn: &ReadTransaction,
    parent: &TxId,
    after: Option<PostPlace>,
    limit: usize,
) -> Result<PostsPage, StoreError> {
    let replies = txn.open_table(REPLIES).map_err(db_error)?;
    let parent_key = *parent.as_bytes();
    let start = match after {
        Some((height, position)) => Bound::Excluded((parent_key, height, position)),
        None => Bound::Included((parent_key, 0, 0)),
    };
    let end = Bound::Included((parent_key, u64::MAX, u32::MAX));
    let places = replies
        .range::<([u8; 32], u64, u32)>((start, end))
        .map_err(db_error)?
        .take(limit.saturating_add(1))
        .map(|row| {
            let (place, _) = row.map_err(db_error)?;
            let (_, height, position) = place.value();
            Ok((height, position))
        });
    page_at(
        txn,
        places,
        limit,
        |tx| tx.reply_to() == Some(parent),
        "another thread",
    )
}

/// The posts at up to `limit` of `places` (one more says there are more), each checked
/// with `indexed_rightly` against the index the places came from.
fn page_at(
    txn: &ReadTransaction,
    places: impl Iterator<Item = Result<PostPlace, StoreError>>,
    limit: usize,
    indexed_rightly: impl Fn(&Transaction) -> bool,
    wrongly: &str,
) -> Result<PostsPage, StoreError> {
    let tables = PostTables::open(txn)?;
    let mut places = places.collect::<Result<Vec<_>, _>>()?;
    let more = places.len() > limit;
    places.truncate(limit);
    let mut posts = Vec::with_capacity(places.len());
    for &(height, position) in &places {
        let post = tables.at(height, position)?;
        if !indexed_rightly(&post.transaction) {
            return Err(StoreError::Corrupt(format!(
                "post {position} of block {} is indexed under {wrongly}",
                post.block
            )));
        }
        posts.push(post);
    }
    Ok(PostsPage {
        posts,
        next: places.last().copied().filter(|_| more),
    })
}

fn all_posts(
    txn: &ReadTransaction,
    before: Option<PostPlace>,
    limit: usize,
) -> Result<PostsPage, StoreError> {
    let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
    let stored = txn.open_table(BLOCKS).map_err(db_error)?;
    let counts = txn.open_table(REPLY_COUNTS).map_err(db_error)?;
    let (end_height, end_position) = before.unwrap_or((u64::MAX, u32::MAX));
    let mut posts = Vec::new();
    // Genesis (height 0) holds no posts.
    for (blocks_read, row) in (1..).zip(
        best.range(1..=end_height)
            .map_err(db_error)?
            .rev()
            .take(MAX_BLOCKS_PER_PAGE),
    ) {
        let (height, hash) = row.map_err(db_error)?;
        let (height, hash) = (height.value(), hash.value());
        let block = read_block(&stored, hash)?;
        let below = if height == end_height {
            end_position
        } else {
            u32::MAX
        };
        for (position, tx) in positioned(&block)?.rev() {
            if position >= below {
                continue;
            }
            if posts.len() == limit {
                let next = posts.last().map(ConfirmedPost::place);
                return Ok(PostsPage { posts, next });
            }
            posts.push(ConfirmedPost {
                transaction: tx.clone(),
                height,
                position,
                block: hash_of(hash),
                replies: reply_count(&counts, &tx.id())?,
            });
        }
        if blocks_read == MAX_BLOCKS_PER_PAGE && height > 1 {
            // Not the end of history: the next page goes on below this block.
            return Ok(PostsPage {
                posts,
                next: Some((height, 0)),
            });
        }
    }
    Ok(PostsPage { posts, next: None })
}

/// How many posts of the best chain reply to `id`.
fn reply_count(counts: &redb::ReadOnlyTable<[u8; 32], u64>, id: &TxId) -> Result<u64, StoreError> {
    Ok(counts
        .get(id.as_bytes())
        .map_err(db_error)?
        .map_or(0, |count| count.value()))
}

fn block_at(
    best: &redb::ReadOnlyTable<u64, [u8; 32]>,
    height: u64,
) -> Result<[u8; 32], StoreError> {
    Ok(best
        .get(height)
        .map_err(db_error)?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "a post is indexed at height {height}, past the best chain"
            ))
        })?
        .value())
}

type StoredBlocks = redb::ReadOnlyTable<[u8; 32], &'static [u8]>;

fn stored_bytes(
    stored: &StoredBlocks,
    hash: [u8; 32],
) -> Result<redb::AccessGuard<'_, &'static [u8]>, StoreError> {
    stored
        .get(hash)
        .map_err(db_error)?
        .ok_or_else(|| missing(hash))
}

fn read_block(stored: &StoredBlocks, hash: [u8; 32]) -> Result<Block, StoreError> {
    decode_block(hash, stored_bytes(stored, hash)?.value())
}

/// The post at `position` of a stored block, decoding only that post.
fn post_at(
    stored: &StoredBlocks,
    hash: [u8; 32],
    position: u32,
) -> Result<Transaction, StoreError> {
    encoding::decode_transaction_at(stored_bytes(stored, hash)?.value(), position as usize)
        .map_err(|error| corrupt_block(hash, error))
}

fn corrupt_block(hash: [u8; 32], error: encoding::DecodeError) -> StoreError {
    StoreError::Corrupt(format!("block {}: {error}", Hash256(hash)))
}

fn missing(hash: [u8; 32]) -> StoreError {
    StoreError::Corrupt(format!("block {} is missing", Hash256(hash)))
}

fn decode_index_entry(bytes: &[u8]) -> Result<IndexedBlock, StoreError> {
    encoding::decode_indexed(bytes)
        .map_err(|error| StoreError::Corrupt(format!("the block index: {error}")))
}

#[cfg(test)]
mod tests {
    use super::super::{Batch, ChainStep, Store};
    use super::*;
    use chainpost_chain::ChainParams;
    use chainpost_chain::test_support::*;
    use ed25519_dalek::SigningKey;

    /// A store whose best chain is `blocks`, each extending the one before from genesis.
    async fn store_of(p: &ChainParams, posts_per_block: &[Vec<Arc<Transaction>>]) -> Store {
        let genesis = p.genesis();
        let (store, _) = Store::in_memory(&genesis, 1_000).expect("opens");
        let mut parent = Arc::new(genesis);
        let mut blocks = Vec::new();
        for posts in posts_per_block {
            let block = Arc::new(mine_child(&parent, posts.clone(), p));
            blocks.push(block.clone());
            parent = block;
        }
        store
            .write(Batch {
                blocks: (1..).zip(blocks.iter().cloned()).collect(),
                best_tip: Some(parent.hash()),
                best_chain: blocks.iter().cloned().map(ChainStep::Apply).collect(),
                ..Batch::default()
            })
            .await
            .expect("durable");
        store
    }

    /// Every page of `author`'s posts (all posts with `None`), `limit` at a time.
    fn paged(reader: &Reader, author: Option<&Author>, limit: usize) -> Vec<(u64, u32, String)> {
        every_page(limit, |before| reader.posts(author, before, limit))
    }

    /// Every page `read` gives from the cursor before it, each at most `limit` posts:
    /// each post's place and content.
    fn every_page(
        limit: usize,
        read: impl Fn(Option<PostPlace>) -> Result<PostsPage, StoreError>,
    ) -> Vec<(u64, u32, String)> {
        let mut seen = Vec::new();
        let mut cursor = None;
        for _ in 0..1_000 {
            let page = read(cursor).expect("reads");
            assert!(page.posts.len() <= limit);
            seen.extend(page.posts.iter().map(|post| {
                (
                    post.height,
                    post.position,
                    post.transaction.content().to_owned(),
                )
            }));
            match page.next {
                Some(next) => cursor = Some(next),
                None => return seen,
            }
        }
        panic!("paging never ended");
    }

    #[tokio::test]
    async fn pages_of_posts_hold_each_post_once_newest_first_for_every_limit() {
        let p = ChainParams::new(0, false).expect("valid");
        let key = SigningKey::from_bytes(&[7; 32]);
        let signed = |name: &str, content: &str| {
            Arc::new(Transaction::signed(name.into(), content.into(), 1.0, &key))
        };
        let blocks = vec![
            vec![unsigned_arc("alice", "a1", 1.0), signed("alice", "k1")],
            vec![],
            vec![
                unsigned_arc("bob", "b1", 2.0),
                unsigned_arc("alice", "a2", 3.0),
                signed("carol", "k2"),
                unsigned_arc("alice", "a3", 4.0),
            ],
            vec![],
            vec![signed("alice", "k3")],
        ];
        let store = store_of(&p, &blocks).await;
        let reader = store.reader();
        let mut all: Vec<(u64, u32, String)> = Vec::new();
        for (height, posts) in (1..).zip(&blocks) {
            for (position, tx) in (0..).zip(posts) {
                all.push((height, position, tx.content().to_owned()));
            }
        }
        all.reverse();
        let contents = |expected: &[&str]| {
            all.iter()
                .filter(|(_, _, content)| expected.contains(&content.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        };
        let alice = Author::Name("alice".into());
        let the_key = Author::Key(key.verifying_key().to_bytes());
        for limit in 1..=8 {
            assert_eq!(paged(&reader, None, limit), all, "limit {limit}");
            // The name of an unsigned post is its author; a signed post's is its key's.
            assert_eq!(
                paged(&reader, Some(&alice), limit),
                contents(&["a1", "a2", "a3"]),
                "limit {limit}"
            );
            assert_eq!(
                paged(&reader, Some(&the_key), limit),
                contents(&["k1", "k2", "k3"]),
                "limit {limit}"
            );
        }
        assert!(paged(&reader, Some(&Author::Name("nobody".into())), 3).is_empty());
        assert!(paged(&reader, Some(&Author::Key([9; 32])), 3).is_empty());
        // A cursor names a place, not a post: it works past the tip and between posts.
        let from_height_3 = reader.posts(None, Some((3, 2)), 10).expect("reads");
        let got: Vec<_> = from_height_3
            .posts
            .iter()
            .map(|post| post.transaction.content().to_owned())
            .collect();
        assert_eq!(got, ["a2", "b1", "k1", "a1"]);
        assert_eq!(from_height_3.next, None);
        let past_tip = reader.posts(None, Some((99, 0)), 1).expect("reads");
        assert_eq!(past_tip.posts[0].transaction.content(), "k3");
        assert!(
            reader
                .posts(None, Some((1, 0)), 5)
                .expect("reads")
                .posts
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_page_of_all_posts_reads_a_bounded_number_of_blocks() {
        let p = ChainParams::new(0, false).expect("valid");
        let mut blocks = vec![vec![unsigned_arc("a", "oldest", 1.0)]];
        blocks.extend(std::iter::repeat_n(Vec::new(), MAX_BLOCKS_PER_PAGE + 10));
        let store = store_of(&p, &blocks).await;
        let reader = store.reader();
        let tip = blocks.len() as u64;
        let first = reader.posts(None, None, 5).expect("reads");
        assert!(first.posts.is_empty());
        let below = tip + 1 - MAX_BLOCKS_PER_PAGE as u64;
        assert_eq!(first.next, Some((below, 0)));
        let second = reader.posts(None, first.next, 5).expect("reads");
        assert_eq!(second.posts.len(), 1);
        assert_eq!(second.posts[0].transaction.content(), "oldest");
        assert_eq!(second.next, None);
    }

    #[tokio::test]
    async fn a_thread_pages_its_replies_once_each_oldest_first_for_every_limit() {
        let p = ChainParams::new(0, false).expect("valid");
        let key = SigningKey::from_bytes(&[7; 32]);
        let root = unsigned_arc("alice", "root", 1.0);
        let reply = |parent: &Transaction, content: &str| {
            Arc::new(Transaction::with_reply_to(
                "bob".into(),
                content.into(),
                2.0,
                Some(parent.id()),
                None,
            ))
        };
        let r1 = reply(&root, "r1");
        let nested = reply(&r1, "nested");
        let signed = Arc::new(Transaction::signed_reply(
            "carol".into(),
            "r2".into(),
            3.0,
            Some(root.id()),
            &key,
        ));
        // A reply to a post the chain never held is indexed all the same.
        let unseen = TxId(Hash256([5; 32]));
        let orphan = Arc::new(Transaction::with_reply_to(
            "dave".into(),
            "to nothing here".into(),
            4.0,
            Some(unseen),
            None,
        ));
        let blocks = vec![
            vec![root.clone(), r1.clone()],
            vec![],
            vec![nested, signed, unsigned_arc("erin", "not a reply", 5.0)],
            vec![reply(&root, "r3"), orphan],
        ];
        let store = store_of(&p, &blocks).await;
        let reader = store.reader();
        let thread = |parent: &TxId, limit: usize| {
            every_page(limit, |after| reader.replies(parent, after, limit))
        };
        for limit in 1..=5 {
            assert_eq!(
                thread(&root.id(), limit),
                [
                    (1, 1, "r1".to_owned()),
                    (3, 1, "r2".to_owned()),
                    (4, 0, "r3".to_owned())
                ],
                "limit {limit}"
            );
            assert_eq!(thread(&r1.id(), limit), [(3, 0, "nested".to_owned())]);
            assert_eq!(
                thread(&unseen, limit),
                [(4, 1, "to nothing here".to_owned())]
            );
        }
        assert!(thread(&TxId(Hash256([6; 32])), 3).is_empty());
        // A cursor names a place: past the last reply it finds none.
        let after_all = reader.replies(&root.id(), Some((9, 0)), 5).expect("reads");
        assert!(after_all.posts.is_empty() && after_all.next.is_none());
    }
}
