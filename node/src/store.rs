//! Durable storage in redb: the only module that touches disk.
//!
//! Tables: every connected block (JSON, by hash), the order blocks connected in (so a
//! restart rebuilds the tree, tie-breaks included, exactly as it was), pending posts with
//! their arrival order, and metadata (genesis hash, best tip).
//!
//! Writes go through one writer thread that group-commits: every batch queued while a
//! commit is in flight goes into the next transaction, so many concurrent requests share
//! one fsync. A batch's future resolves only once its transaction is durably committed;
//! that is what lets the API answer 201. Batches commit in the order they were queued.
//!
//! **Boundary:** the store persists what the chain state already decided; it validates
//! nothing and is read only at start-up.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::chain::block::Block;
use crate::chain::hash::{BlockHash, Hash256, TxId};
use crate::chain::tx::Transaction;
use crate::wire::{BlockJson, TransactionJson};

const BLOCKS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("blocks");
const BLOCK_ORDER: TableDefinition<u64, [u8; 32]> = TableDefinition::new("block_order");
const MEMPOOL: TableDefinition<[u8; 32], (u64, &[u8])> = TableDefinition::new("mempool");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const PEERS: TableDefinition<&str, ()> = TableDefinition::new("peers");

const GENESIS_KEY: &str = "genesis";
const BEST_TIP_KEY: &str = "best_tip";

/// Most batches folded into one commit.
const MAX_BATCHES_PER_COMMIT: usize = 4096;

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data does not decode.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The data directory belongs to another network.
    #[error(
        "the data directory holds a chain with genesis {stored}, but this node's parameters give genesis {expected}; use another --data-dir or the same --difficulty"
    )]
    WrongNetwork {
        /// Genesis of the stored chain.
        stored: BlockHash,
        /// Genesis of this node's parameters.
        expected: BlockHash,
    },
    /// The writer thread is gone (the node is shutting down).
    #[error("the store is closed")]
    Closed,
}

fn db_error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Database(error.into().to_string())
}

/// One atomic set of changes.
#[derive(Debug, Default, Clone)]
pub struct Batch {
    /// Newly connected blocks with their connection sequence numbers.
    pub blocks: Vec<(u64, Arc<Block>)>,
    /// The best tip after this batch, if it moved.
    pub best_tip: Option<BlockHash>,
    /// Posts that became pending.
    pub mempool_added: Vec<Arc<Transaction>>,
    /// Posts that are no longer pending.
    pub mempool_removed: Vec<TxId>,
    /// Peers learned.
    pub peers_added: Vec<String>,
    /// Peers dropped.
    pub peers_removed: Vec<String>,
}

impl Batch {
    /// Whether the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
            && self.best_tip.is_none()
            && self.mempool_added.is_empty()
            && self.mempool_removed.is_empty()
            && self.peers_added.is_empty()
            && self.peers_removed.is_empty()
    }
}

/// Everything read back at start-up.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Blocks in the order they first connected.
    pub blocks: Vec<Block>,
    /// Pending posts in arrival order.
    pub mempool: Vec<Transaction>,
    /// The best tip recorded by the last commit.
    pub best_tip: Option<BlockHash>,
    /// Known peers' URLs.
    pub peers: Vec<String>,
}

struct Job {
    batch: Batch,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

/// Handle to the database and its writer thread. Cheap to clone; when the last clone is
/// dropped, the queued batches are committed and the database is closed.
#[derive(Clone)]
pub struct Store {
    writer: Arc<Writer>,
}

struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread drain it and exit; joining releases the
        // database file before anyone reopens it.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Opens (or creates) the database at `path`, checks it belongs to the network whose
    /// genesis is `genesis`, and reads everything back.
    pub fn open(path: &Path, genesis: BlockHash) -> Result<(Store, Loaded), StoreError> {
        let db = Database::create(path).map_err(db_error)?;
        Self::start(db, genesis)
    }

    /// A store that keeps everything in memory, for throwaway nodes and tests.
    pub fn in_memory(genesis: BlockHash) -> Result<(Store, Loaded), StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db_error)?;
        Self::start(db, genesis)
    }

    fn start(db: Database, genesis: BlockHash) -> Result<(Store, Loaded), StoreError> {
        check_network(&db, genesis)?;
        let loaded = load(&db)?;
        let next_arrival = next_mempool_arrival(&db)?;
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run_writer(db, queue, next_arrival))
            .map_err(|error| StoreError::Database(error.to_string()))?;
        let writer = Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        };
        Ok((
            Store {
                writer: Arc::new(writer),
            },
            loaded,
        ))
    }

    /// Queues `batch` for the next commit and returns a future that resolves once it is
    /// durable. Queue order is commit order, so call this while still holding whatever
    /// lock decided the batch.
    pub fn write(
        &self,
        batch: Batch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'static {
        let (done, committed) = tokio::sync::oneshot::channel();
        let queued = self
            .writer
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job { batch, done }).is_ok());
        async move {
            if !queued {
                return Err(StoreError::Closed);
            }
            committed.await.unwrap_or(Err(StoreError::Closed))
        }
    }
}

fn check_network(db: &Database, genesis: BlockHash) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(db_error)?;
    {
        let mut meta = txn.open_table(META).map_err(db_error)?;
        let stored = meta
            .get(GENESIS_KEY)
            .map_err(db_error)?
            .map(|value| decode_hash(value.value()))
            .transpose()?;
        match stored {
            Some(stored) if stored != genesis => {
                return Err(StoreError::WrongNetwork {
                    stored,
                    expected: genesis,
                });
            }
            Some(_) => {}
            None => {
                meta.insert(GENESIS_KEY, genesis.as_bytes().as_slice())
                    .map_err(db_error)?;
            }
        }
        // Create the other tables so that readers never meet a missing one.
        txn.open_table(BLOCKS).map_err(db_error)?;
        txn.open_table(BLOCK_ORDER).map_err(db_error)?;
        txn.open_table(MEMPOOL).map_err(db_error)?;
        txn.open_table(PEERS).map_err(db_error)?;
    }
    txn.commit().map_err(db_error)
}

fn load(db: &Database) -> Result<Loaded, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let blocks_table = txn.open_table(BLOCKS).map_err(db_error)?;
    let order = txn.open_table(BLOCK_ORDER).map_err(db_error)?;
    let mut blocks = Vec::new();
    for row in order.iter().map_err(db_error)? {
        let (_, hash) = row.map_err(db_error)?;
        let hash = hash.value();
        let bytes = blocks_table
            .get(hash)
            .map_err(db_error)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {} is missing", Hash256(hash))))?;
        blocks.push(decode_block(bytes.value())?);
    }

    let mempool_table = txn.open_table(MEMPOOL).map_err(db_error)?;
    let mut pending = Vec::new();
    for row in mempool_table.iter().map_err(db_error)? {
        let (_, value) = row.map_err(db_error)?;
        let (arrival, bytes) = value.value();
        pending.push((arrival, decode_transaction(bytes)?));
    }
    pending.sort_by_key(|(arrival, _)| *arrival);

    let meta = txn.open_table(META).map_err(db_error)?;
    let best_tip = meta
        .get(BEST_TIP_KEY)
        .map_err(db_error)?
        .map(|value| decode_hash(value.value()))
        .transpose()?;
    let peers_table = txn.open_table(PEERS).map_err(db_error)?;
    let mut peers = Vec::new();
    for row in peers_table.iter().map_err(db_error)? {
        let (url, _) = row.map_err(db_error)?;
        peers.push(url.value().to_owned());
    }
    Ok(Loaded {
        blocks,
        mempool: pending.into_iter().map(|(_, tx)| tx).collect(),
        best_tip,
        peers,
    })
}

fn next_mempool_arrival(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let table = txn.open_table(MEMPOOL).map_err(db_error)?;
    let mut next = 0;
    for row in table.iter().map_err(db_error)? {
        let (_, value) = row.map_err(db_error)?;
        next = next.max(value.value().0 + 1);
    }
    Ok(next)
}

fn run_writer(db: Database, queue: mpsc::Receiver<Job>, mut next_arrival: u64) {
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCHES_PER_COMMIT {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let result = commit(&db, &jobs, &mut next_arrival);
        if let Err(error) = &result {
            tracing::error!(%error, batches = jobs.len(), "commit failed");
        }
        for job in jobs {
            // A caller that went away no longer needs the answer.
            let _ = job.done.send(result.clone());
        }
    }
}

fn commit(db: &Database, jobs: &[Job], next_arrival: &mut u64) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(db_error)?;
    {
        let mut blocks = txn.open_table(BLOCKS).map_err(db_error)?;
        let mut order = txn.open_table(BLOCK_ORDER).map_err(db_error)?;
        let mut mempool = txn.open_table(MEMPOOL).map_err(db_error)?;
        let mut meta = txn.open_table(META).map_err(db_error)?;
        let mut peers = txn.open_table(PEERS).map_err(db_error)?;
        for Job { batch, .. } in jobs {
            for url in &batch.peers_added {
                peers.insert(url.as_str(), ()).map_err(db_error)?;
            }
            for url in &batch.peers_removed {
                peers.remove(url.as_str()).map_err(db_error)?;
            }
            for (seq, block) in &batch.blocks {
                let json = serde_json::to_vec(&BlockJson::from_block(block))
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                blocks
                    .insert(*block.hash().as_bytes(), json.as_slice())
                    .map_err(db_error)?;
                order
                    .insert(*seq, *block.hash().as_bytes())
                    .map_err(db_error)?;
            }
            for id in &batch.mempool_removed {
                mempool.remove(*id.as_bytes()).map_err(db_error)?;
            }
            for tx in &batch.mempool_added {
                let json = serde_json::to_vec(&TransactionJson::from_transaction(tx))
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                mempool
                    .insert(*tx.id().as_bytes(), (*next_arrival, json.as_slice()))
                    .map_err(db_error)?;
                *next_arrival += 1;
            }
            if let Some(tip) = batch.best_tip {
                meta.insert(BEST_TIP_KEY, tip.as_bytes().as_slice())
                    .map_err(db_error)?;
            }
        }
    }
    txn.commit().map_err(db_error)
}

fn decode_hash(bytes: &[u8]) -> Result<BlockHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(|bytes| BlockHash(Hash256(bytes)))
        .map_err(|_| StoreError::Corrupt(format!("a stored hash is {} bytes", bytes.len())))
}

fn decode_block(bytes: &[u8]) -> Result<Block, StoreError> {
    let json: BlockJson =
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))?;
    let (block, claimed) = json
        .into_block()
        .map_err(|error| StoreError::Corrupt(error.to_string()))?;
    if block.hash() != claimed {
        return Err(StoreError::Corrupt(format!(
            "stored block {claimed} hashes to {}",
            block.hash()
        )));
    }
    Ok(block)
}

fn decode_transaction(bytes: &[u8]) -> Result<Transaction, StoreError> {
    let json: TransactionJson =
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))?;
    json.into_transaction()
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ChainParams;
    use crate::chain::test_support::*;

    fn params() -> ChainParams {
        ChainParams::new(0, false).expect("valid")
    }

    #[tokio::test]
    async fn what_was_committed_is_read_back_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let p = params();
        let genesis = p.genesis();
        let b1 = Arc::new(unmined_child(
            &genesis,
            vec![unsigned_arc("a", "1", 1.0)],
            &p,
        ));
        let (x, y) = (unsigned_arc("a", "x", 2.0), unsigned_arc("a", "y", 3.0));
        {
            let (store, loaded) = Store::open(&path, genesis.hash()).expect("opens");
            assert!(loaded.blocks.is_empty() && loaded.mempool.is_empty());
            store
                .write(Batch {
                    mempool_added: vec![y.clone(), x.clone()],
                    ..Batch::default()
                })
                .await
                .expect("durable");
            store
                .write(Batch {
                    blocks: vec![(1, b1.clone())],
                    best_tip: Some(b1.hash()),
                    mempool_removed: vec![x.id()],
                    peers_added: vec!["http://127.0.0.1:9".into()],
                    ..Batch::default()
                })
                .await
                .expect("durable");
        }
        let (_store, loaded) = Store::open(&path, genesis.hash()).expect("reopens");
        assert_eq!(loaded.blocks.len(), 1);
        assert_eq!(loaded.blocks[0].hash(), b1.hash());
        assert_eq!(loaded.best_tip, Some(b1.hash()));
        let pending: Vec<_> = loaded.mempool.iter().map(|tx| tx.id()).collect();
        assert_eq!(pending, vec![y.id()]);
        assert_eq!(loaded.peers, vec!["http://127.0.0.1:9".to_owned()]);
    }

    #[tokio::test]
    async fn another_networks_data_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let ours = params().genesis().hash();
        drop(Store::open(&path, ours).expect("opens"));
        let theirs = ChainParams::new(1, false).expect("valid").genesis().hash();
        assert!(matches!(
            Store::open(&path, theirs),
            Err(StoreError::WrongNetwork { .. })
        ));
    }

    #[tokio::test]
    async fn concurrent_batches_all_become_durable() {
        let (store, _) = Store::in_memory(params().genesis().hash()).expect("opens");
        let writes: Vec<_> = (0..100)
            .map(|i| {
                store.write(Batch {
                    mempool_added: vec![unsigned_arc("a", &i.to_string(), 1.0)],
                    ..Batch::default()
                })
            })
            .collect();
        for write in writes {
            write.await.expect("durable");
        }
    }
}
