//! The best chain's indexes on disk, changed in the transaction that changes the chain, so
//! they always describe the best tip of the same commit.
//!
//! - `best_chain`: height → hash of the best chain's block there, genesis (height 0)
//!   included. Its length is the chain's length.
//! - `post_location`: post id → (height, position in the block) for every post of the
//!   best chain. A reorganization removes the reverted blocks' posts first and then adds
//!   the applied blocks', so a post on both branches keeps its new place.
//! - `posts_by_author`: (author, height, position) for every post of the best chain, so an
//!   author's posts are one range read, newest last. The author of a signed post is its
//!   key, whatever name it gives; of an unsigned post, the name it gives ([`Author`]).
//! - `replies`: (the id a post replies to, height, position) for every reply of the best
//!   chain, so a thread is one range read, oldest first. The post replied to need not be
//!   on the chain: a reply names an id, not a place.
//! - `reply_counts`: post id → how many entries `replies` holds for it (no row for none),
//!   so a page shows each post's count at one lookup, however long its thread.
//! - `handle_claims`: (handle, height, position) → key, for every profile of the best
//!   chain; a handle's first row is its owner, the key whose claim confirmed first. A
//!   reorganization that takes the owner's claim off the chain hands the handle to the
//!   next claim by removing one row, and the pages follow.
//! - `profiles`: (key, height, position) for every profile of the best chain, so a key's
//!   latest profile is the last row of its range.
//!
//! Time order is chain order: a post's own timestamp is whatever its author claims (a
//! miner may confirm posts dated in any year), while heights only grow, under block
//! timestamps that consensus checks. So `best_chain` is also the index by time.
//!
//! **Invariant:** after every commit, `best_chain` is the path from genesis to the stored
//! best tip; `post_location`, `posts_by_author` and `replies` index exactly its posts,
//! `reply_counts` counts `replies`, and `handle_claims` and `profiles` index exactly its
//! profiles.

use redb::{ReadableTable, Table, TableDefinition, WriteTransaction};

use chainpost_chain::block::Block;
use chainpost_chain::hash::{BlockHash, Hash256, TxId};
use chainpost_chain::tx::Transaction;

use super::{BLOCKS, StoreError, db_error, decode_block};

pub(super) const BEST_CHAIN: TableDefinition<u64, [u8; 32]> = TableDefinition::new("best_chain");
pub(super) const POST_LOCATION: TableDefinition<[u8; 32], (u64, u32)> =
    TableDefinition::new("post_location");
pub(super) const POSTS_BY_AUTHOR: TableDefinition<(&[u8], u64, u32), ()> =
    TableDefinition::new("posts_by_author");
pub(super) const REPLIES: TableDefinition<([u8; 32], u64, u32), ()> =
    TableDefinition::new("replies");
/// Post id → how many posts of the best chain reply to it (absent: none), so a page of
/// posts shows its reply counts at one lookup a post however long the threads.
pub(super) const REPLY_COUNTS: TableDefinition<[u8; 32], u64> =
    TableDefinition::new("reply_counts");
pub(super) const HANDLE_CLAIMS: TableDefinition<(&str, u64, u32), [u8; 32]> =
    TableDefinition::new("handle_claims");
pub(super) const PROFILES: TableDefinition<([u8; 32], u64, u32), ()> =
    TableDefinition::new("profiles");

/// Whose posts: a key for signed posts, a self-declared name for unsigned ones. The two
/// never mix: an unsigned post that gives a key's usual name is not that key's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Author {
    Key([u8; 32]),
    Name(String),
}

impl Author {
    pub(crate) fn of(tx: &Transaction) -> Author {
        match tx.signature() {
            Some(signed) => Author::Key(signed.public_key),
            None => Author::Name(tx.author().to_owned()),
        }
    }

    /// The index's key: a tag byte keeps a name from ever reading as a key.
    pub(super) fn index_key(&self) -> Vec<u8> {
        match self {
            Author::Key(key) => [&[KEY_TAG][..], key].concat(),
            Author::Name(name) => [&[NAME_TAG][..], name.as_bytes()].concat(),
        }
    }
}

const NAME_TAG: u8 = 0;
const KEY_TAG: u8 = 1;

/// A block leaving or joining the best chain, in the order the chain state decided it.
#[derive(Debug, Clone)]
pub(crate) enum ChainStep {
    Revert(std::sync::Arc<Block>),
    Apply(std::sync::Arc<Block>),
}

/// The index tables, open in one write transaction.
pub(super) struct Indexes<'txn> {
    best_chain: Table<'txn, u64, [u8; 32]>,
    post_location: Table<'txn, [u8; 32], (u64, u32)>,
    posts_by_author: Table<'txn, (&'static [u8], u64, u32), ()>,
    replies: Table<'txn, ([u8; 32], u64, u32), ()>,
    reply_counts: Table<'txn, [u8; 32], u64>,
    handle_claims: Table<'txn, (&'static str, u64, u32), [u8; 32]>,
    profiles: Table<'txn, ([u8; 32], u64, u32), ()>,
}

impl<'txn> Indexes<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> Result<Self, StoreError> {
        Ok(Indexes {
            best_chain: txn.open_table(BEST_CHAIN).map_err(db_error)?,
            post_location: txn.open_table(POST_LOCATION).map_err(db_error)?,
            posts_by_author: txn.open_table(POSTS_BY_AUTHOR).map_err(db_error)?,
            replies: txn.open_table(REPLIES).map_err(db_error)?,
            reply_counts: txn.open_table(REPLY_COUNTS).map_err(db_error)?,
            handle_claims: txn.open_table(HANDLE_CLAIMS).map_err(db_error)?,
            profiles: txn.open_table(PROFILES).map_err(db_error)?,
        })
    }

    pub(super) fn step(&mut self, step: &ChainStep) -> Result<(), StoreError> {
        match step {
            ChainStep::Revert(block) => self.revert(block),
            ChainStep::Apply(block) => self.apply(block),
        }
    }

    fn apply(&mut self, block: &Block) -> Result<(), StoreError> {
        let height = block.header().index;
        self.best_chain
            .insert(height, *block.hash().as_bytes())
            .map_err(db_error)?;
        for (position, tx) in positioned(block)? {
            self.post_location
                .insert(*tx.id().as_bytes(), (height, position))
                .map_err(db_error)?;
            if let Some(parent) = tx.reply_to() {
                self.replies
                    .insert((*parent.as_bytes(), height, position), ())
                    .map_err(db_error)?;
                self.count_reply(parent, Counted::Joined)?;
            }
            if let Some((handle, key)) = profile_of(tx) {
                self.handle_claims
                    .insert((handle, height, position), key)
                    .map_err(db_error)?;
                self.profiles
                    .insert((key, height, position), ())
                    .map_err(db_error)?;
            }
        }
        self.index_authors(block)
    }

    fn index_authors(&mut self, block: &Block) -> Result<(), StoreError> {
        let height = block.header().index;
        for (position, tx) in positioned(block)? {
            let author = Author::of(tx).index_key();
            self.posts_by_author
                .insert((author.as_slice(), height, position), ())
                .map_err(db_error)?;
        }
        Ok(())
    }

    fn revert(&mut self, block: &Block) -> Result<(), StoreError> {
        let height = block.header().index;
        self.best_chain.remove(height).map_err(db_error)?;
        for (position, tx) in positioned(block)? {
            self.post_location
                .remove(*tx.id().as_bytes())
                .map_err(db_error)?;
            let author = Author::of(tx).index_key();
            self.posts_by_author
                .remove((author.as_slice(), height, position))
                .map_err(db_error)?;
            if let Some(parent) = tx.reply_to() {
                self.replies
                    .remove((*parent.as_bytes(), height, position))
                    .map_err(db_error)?;
                self.count_reply(parent, Counted::Left)?;
            }
            if let Some((handle, key)) = profile_of(tx) {
                self.handle_claims
                    .remove((handle, height, position))
                    .map_err(db_error)?;
                self.profiles
                    .remove((key, height, position))
                    .map_err(db_error)?;
            }
        }
        Ok(())
    }

    /// Counts a reply to `parent` that joined or left the best chain; a count of 0 is no
    /// row.
    fn count_reply(&mut self, parent: &TxId, reply: Counted) -> Result<(), StoreError> {
        let count = self
            .reply_counts
            .get(parent.as_bytes())
            .map_err(db_error)?
            .map_or(0, |count| count.value());
        let count = match reply {
            Counted::Joined => count + 1,
            Counted::Left => count.checked_sub(1).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "a reply to {parent} left the best chain, which counted none"
                ))
            })?,
        };
        if count == 0 {
            self.reply_counts
                .remove(parent.as_bytes())
                .map_err(db_error)?;
        } else {
            self.reply_counts
                .insert(parent.as_bytes(), count)
                .map_err(db_error)?;
        }
        Ok(())
    }
}

/// The handle a profile claims and the key claiming it; validation makes every profile
/// on a chain signed.
fn profile_of(tx: &Transaction) -> Option<(&str, [u8; 32])> {
    Some((tx.profile_handle()?.as_str(), tx.signature()?.public_key))
}

/// What happened to a reply that [`Indexes::count_reply`] counts.
#[derive(Debug, Clone, Copy)]
enum Counted {
    Joined,
    Left,
}

/// Counts the replies of a store of schema version 4, which has the replies index but no
/// counts: the index is read once, in the transaction that opens the store.
pub(super) fn count_replies(txn: &WriteTransaction) -> Result<(), StoreError> {
    let replies = txn.open_table(REPLIES).map_err(db_error)?;
    let mut counts = txn.open_table(REPLY_COUNTS).map_err(db_error)?;
    let mut current: Option<([u8; 32], u64)> = None;
    for row in replies.iter().map_err(db_error)? {
        let (key, _) = row.map_err(db_error)?;
        let (parent, _, _) = key.value();
        current = match current {
            Some((counted, count)) if counted == parent => Some((counted, count + 1)),
            Some((counted, count)) => {
                counts.insert(counted, count).map_err(db_error)?;
                Some((parent, 1))
            }
            None => Some((parent, 1)),
        };
    }
    if let Some((counted, count)) = current {
        counts.insert(counted, count).map_err(db_error)?;
    }
    Ok(())
}

/// A block's posts with their positions, as the indexes number them.
pub(super) fn positioned(
    block: &Block,
) -> Result<impl DoubleEndedIterator<Item = (u32, &Transaction)>, StoreError> {
    let count = u32::try_from(block.transactions().len()).map_err(|_| {
        StoreError::Corrupt(format!("block {} holds over 2^32 posts", block.hash()))
    })?;
    Ok((0..count).zip(block.transactions().iter().map(AsRef::as_ref)))
}

/// Adds the author index to a store of schema version 2, which has the others: every
/// block of the best chain is read once, in the transaction that opens the store.
pub(super) fn build_author_index(txn: &WriteTransaction) -> Result<(), StoreError> {
    let blocks = txn.open_table(BLOCKS).map_err(db_error)?;
    let mut indexes = Indexes::open(txn)?;
    let best_chain = indexes
        .best_chain
        .range(1..)
        .map_err(db_error)?
        .map(|row| row.map(|(_, hash)| hash.value()).map_err(db_error))
        .collect::<Result<Vec<_>, _>>()?;
    for hash in best_chain {
        indexes.index_authors(&best_chain_block(&blocks, hash)?)?;
    }
    Ok(())
}

/// A block of the best chain, which the store must hold.
fn best_chain_block(
    blocks: &Table<'_, [u8; 32], &'static [u8]>,
    hash: [u8; 32],
) -> Result<Block, StoreError> {
    let bytes = blocks.get(hash).map_err(db_error)?.ok_or_else(|| {
        StoreError::Corrupt(format!(
            "block {} of the best chain is missing from the store",
            Hash256(hash)
        ))
    })?;
    decode_block(hash, bytes.value())
}

/// Builds the indexes of a store that has none (a fresh one, or one a release before
/// them wrote): the path from `tip` back to genesis, walked through the stored blocks.
/// Runs in the transaction that opens the store, so a crash midway leaves it as it was.
pub(super) fn build(
    txn: &WriteTransaction,
    genesis: BlockHash,
    tip: Option<BlockHash>,
) -> Result<(), StoreError> {
    let blocks = txn.open_table(BLOCKS).map_err(db_error)?;
    let mut path = Vec::new();
    let mut cursor = tip.unwrap_or(genesis);
    while cursor != genesis {
        let block = best_chain_block(&blocks, *cursor.as_bytes())?;
        cursor = block.header().previous_hash;
        path.push(block);
    }
    let mut indexes = Indexes::open(txn)?;
    indexes
        .best_chain
        .insert(0, *genesis.as_bytes())
        .map_err(db_error)?;
    for (below_tip, block) in path.iter().rev().enumerate() {
        if block.header().index != below_tip as u64 + 1 {
            return Err(StoreError::Corrupt(format!(
                "block {} claims height {} but is number {} from genesis",
                block.hash(),
                block.header().index,
                below_tip + 1
            )));
        }
        indexes.apply(block)?;
    }
    Ok(())
}

pub(super) fn hash_of(bytes: [u8; 32]) -> BlockHash {
    BlockHash(Hash256(bytes))
}
