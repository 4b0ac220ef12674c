//! Reading the chain from disk: each read is one redb read transaction, a snapshot of the
//! last commit, so readers never wait for the chain lock or for a commit, and what one
//! read returns holds together (a page and the length beside it come from one commit).
//!
//! Reads are blocking (they decode what they return: every hash and id is recomputed);
//! callers run them on blocking threads.

use std::sync::Arc;

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};

use chainpost_chain::block::Block;
use chainpost_chain::encoding;
use chainpost_chain::hash::{BlockHash, Hash256, TxId};
use chainpost_chain::tx::Transaction;

use super::index::{BEST_CHAIN, POST_LOCATION, hash_of};
use super::{BLOCK_INDEX, BLOCKS, SharedDb, StoreError, db_error, decode_block};
use chainpost_chain::tree::{BlockSource, IndexedBlock, Unreadable};

/// A page of the best chain, with the length of the chain it was read from.
#[derive(Debug)]
pub(crate) struct BestChainPage {
    pub(crate) length: u64,
    pub(crate) blocks: Vec<Arc<Block>>,
}

/// A post of the best chain and where it is.
#[derive(Debug)]
pub(crate) struct ConfirmedPost {
    pub(crate) transaction: Transaction,
    pub(crate) height: u64,
    pub(crate) block: BlockHash,
}

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

    /// Up to `limit` blocks of the best chain from height `from`, stopping before the
    /// block that would take the page past `max_bytes` (but always holding one, so that
    /// paging advances).
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
            let mut blocks = Vec::new();
            let mut bytes = 0usize;
            for row in best.range(from..).map_err(db_error)?.take(limit) {
                let (_, hash) = row.map_err(db_error)?;
                let block = read_block(&stored, hash.value())?;
                bytes = bytes.saturating_add(block.encoded_len());
                if bytes > max_bytes && !blocks.is_empty() {
                    break;
                }
                blocks.push(Arc::new(block));
            }
            Ok(BestChainPage { length, blocks })
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

    /// The best chain's post with this id, decoding only that post of its block.
    pub(crate) fn confirmed_post(&self, id: &TxId) -> Result<Option<ConfirmedPost>, StoreError> {
        self.with_snapshot(|txn| confirmed_post(txn, id))
    }
}

fn confirmed_post(txn: &ReadTransaction, id: &TxId) -> Result<Option<ConfirmedPost>, StoreError> {
    let locations = txn.open_table(POST_LOCATION).map_err(db_error)?;
    let Some(location) = locations.get(id.as_bytes()).map_err(db_error)? else {
        return Ok(None);
    };
    let (height, position) = location.value();
    let best = txn.open_table(BEST_CHAIN).map_err(db_error)?;
    let hash = best
        .get(height)
        .map_err(db_error)?
        .ok_or_else(|| {
            StoreError::Corrupt(format!(
                "post {id} is indexed at height {height}, past the best chain"
            ))
        })?
        .value();
    let stored = txn.open_table(BLOCKS).map_err(db_error)?;
    let bytes = stored
        .get(hash)
        .map_err(db_error)?
        .ok_or_else(|| missing(hash))?;
    let transaction = encoding::decode_transaction_at(bytes.value(), position as usize)
        .map_err(|error| StoreError::Corrupt(format!("block {}: {error}", Hash256(hash))))?;
    if transaction.id() != *id {
        return Err(StoreError::Corrupt(format!(
            "post {id} is indexed at position {position} of block {}, which holds {}",
            Hash256(hash),
            transaction.id()
        )));
    }
    Ok(Some(ConfirmedPost {
        transaction,
        height,
        block: hash_of(hash),
    }))
}

fn read_block(
    stored: &redb::ReadOnlyTable<[u8; 32], &[u8]>,
    hash: [u8; 32],
) -> Result<Block, StoreError> {
    let bytes = stored
        .get(hash)
        .map_err(db_error)?
        .ok_or_else(|| missing(hash))?;
    decode_block(hash, bytes.value())
}

fn missing(hash: [u8; 32]) -> StoreError {
    StoreError::Corrupt(format!("block {} is missing", Hash256(hash)))
}

fn decode_index_entry(bytes: &[u8]) -> Result<IndexedBlock, StoreError> {
    encoding::decode_indexed(bytes)
        .map_err(|error| StoreError::Corrupt(format!("the block index: {error}")))
}
