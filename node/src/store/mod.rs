//! Durable storage in redb: the only module that touches disk.
//!
//! Tables: every connected block (by hash, and genesis), the order blocks connected in (so a restart
//! rebuilds the tree, tie-breaks included, exactly as it was), pending posts by arrival
//! number, peers, and metadata (genesis hash, best tip, schema version).
//!
//! Blocks and posts are kept in the core's binary form (`chainpost_chain::encoding`: the
//! canonical encodings that are hashed), not as the API's JSON, so renaming an API field
//! is no storage migration. The schema version says which form a store holds: a store
//! without one was written by a release that kept JSON, and is upgraded in place, in the
//! transaction that opens it. A store of a later version is refused, untouched.
//!
//! Pending posts are keyed by arrival, not by id: new posts then always land in the
//! B-tree's last leaf, so a commit of many posts rewrites a few pages rather than one
//! random leaf per post. The writer keeps the id → arrival index in memory to remove
//! posts by id.
//!
//! Writes go through one writer thread that group-commits: every batch queued while a
//! commit is in flight goes into the next transaction, so many concurrent requests share
//! one fsync. A batch's future resolves only once its transaction is durably committed;
//! that is what lets the API answer 201. Batches commit in the order they were queued.
//!
//! **Opening.** Only a missing file makes a fresh store; it is built under a temporary name
//! and renamed into place, so a crash while creating it leaves no half-made `chain.redb`.
//! An existing file is opened with redb's integrity check (every page of the committed
//! trees against its checksum) and never initialised: one that is empty, truncated or
//! corrupt is refused with [`StoreError::Corrupt`] and left as it is. The check is skipped
//! only for a file that is byte for byte what the node sealed as it last closed it
//! (`seal`), so a clean restart costs a digest of the file rather than a walk of its
//! pages. Opening and reading run on a thread of their own, so that should redb panic on a
//! file it cannot parse, the panic becomes that refusal too.
//!
//! **Failure.** When a commit fails (a full disk, say), the writer closes the database
//! (redb refuses every operation after an I/O error until it is reopened) and answers that
//! batch, and every batch queued after it, with the same [`StoreError::NotCommitted`]:
//! they were decided on changes that are not on disk. It goes on refusing until the owner
//! of the state has rolled its memory back to what is on disk (`Store::with_committed`)
//! and called `Store::resume`; the next batch then reopens the database, so writes come
//! back as soon as the disk takes them again.
//!
//! **Invariant:** the `block_index` keys are `1..=n`, the connection numbers of the tree
//! the node rebuilds from them: batches commit in the order their blocks connected, and
//! after a failure nothing commits until memory is rolled back to the last stored block.
//!
//! The best chain's indexes (`index`) change in the same transaction as the blocks, and
//! readers (`read`) take redb snapshots of the last commit, never waiting for the writer.
//!
//! **Boundary:** the store persists what the chain state already decided; it validates
//! nothing but its own encoding. It is read whole only at start-up; after that, readers
//! read what the API serves, a page or a post at a time.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};

mod index;
mod read;
mod seal;

pub(crate) use index::Author;
pub(crate) use index::ChainStep;
pub(crate) use read::{ConfirmedPost, PostPlace, ProfileRecord, Reader};

use chainpost_chain::block::Block;
use chainpost_chain::encoding;
use chainpost_chain::hash::{BlockHash, Hash256, TxId};
use chainpost_chain::tree::IndexedBlock;
use chainpost_chain::tx::Transaction;
use chainpost_wire::{BlockJson, TransactionJson};

const BLOCKS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("blocks");
/// The block index: connection number → the block's header, size and post count
/// (`encoding::encode_indexed`), all start-up reads of the chain.
const BLOCK_INDEX: TableDefinition<u64, &[u8]> = TableDefinition::new("block_index");
/// The JSON release's connection order (number → hash); the block index replaces it.
const BLOCK_ORDER: TableDefinition<u64, [u8; 32]> = TableDefinition::new("block_order");
const MEMPOOL: TableDefinition<u64, &[u8]> = TableDefinition::new("pending_by_arrival");
/// The first layout's pending posts, keyed by id; moved to `MEMPOOL` on open.
const MEMPOOL_BY_ID: TableDefinition<[u8; 32], (u64, &[u8])> = TableDefinition::new("mempool");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const PEERS: TableDefinition<&str, ()> = TableDefinition::new("peers");

const GENESIS_KEY: &str = "genesis";
const SCHEMA_KEY: &str = "schema";
/// 6: version 5 and the indexes of profiles: handle claims and each key's profiles.
const SCHEMA_VERSION: u64 = 6;
/// 5: version 4 and each post's count of replies. No post of it is a profile: the post
/// encoding had no profile tag then, and its decoder refused one.
const PROFILELESS_SCHEMA: u64 = 5;
/// 4: version 3 and the index of replies by the post they answer.
const UNCOUNTED_SCHEMA: u64 = 4;
/// 3: version 2 and the index of posts by author. No post of it replies to another: the
/// post encoding had no field after the signature then, and its decoder refused one.
const REPLYLESS_SCHEMA: u64 = 3;
/// 2: blocks (genesis included) and posts in the core's binary form, and the best chain's
/// height and post-location indexes. (1, never written down: the API's JSON, no genesis,
/// no indexes.)
const AUTHORLESS_SCHEMA: u64 = 2;
const BEST_TIP_KEY: &str = "best_tip";

/// redb's page cache, a fixed bound whatever the chain's size: readers mostly ask for the
/// newest pages, and a cache the size of the file (redb's default allows a gigabyte)
/// would make the node's memory grow with history.
const CACHE_BYTES: usize = 16 << 20;

/// Most batches folded into one commit.
const MAX_BATCHES_PER_COMMIT: usize = 4096;

/// Why the store failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    // The cause is in the message, not a source: logs print errors with Display only,
    // and `{:#}` would print it twice.
    #[error("database error: {0}")]
    Database(Arc<redb::Error>),
    /// The store was written by a later release, in a form this one cannot read.
    #[error(
        "it holds schema version {0}, but this node reads version {SCHEMA_VERSION} and older; nothing in it was changed: run the release that wrote it"
    )]
    NewerSchema(u64),
    /// The file system refused an operation on the store.
    #[error("database error: {0}")]
    Io(Arc<std::io::Error>),
    /// A block or post could not be encoded for the store.
    /// After a failed commit, an in-memory store cannot take writes again.
    #[error("database error: an in-memory store cannot be reopened")]
    CannotReopenInMemory,
    /// After a failed commit, the file holds what the node was told had failed.
    #[error(
        "database error: the reopened store holds changes that were reported as failed; restart the node"
    )]
    ReopenedWithFailedChanges,
    /// The file exists but is not a usable store: empty, truncated, corrupt, or holding
    /// data that does not decode. It is left untouched.
    #[error(
        "it is empty, truncated or corrupt ({0}); it was left as it is: restore a backup, or move it away to start a fresh chain"
    )]
    Corrupt(String),
    /// The data directory belongs to another network.
    #[error(
        "the data directory holds a chain with genesis {stored}, but this node's parameters give genesis {expected}; use another --data-dir or the same --difficulty, --require-signatures and retarget flags"
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
    /// Nothing of the batch was written: commit `failure` failed, this batch's own or an
    /// earlier one whose changes it may build on. The store takes no batch until
    /// `Store::resume` is called for `failure`.
    #[error("nothing was written: {cause}")]
    NotCommitted {
        failure: CommitFailure,
        cause: Arc<StoreError>,
    },
}

/// Resolves once a batch [`Store::write`] queued is durable, or with why it is not.
#[derive(Debug)]
#[must_use = "a write is durable only once its Durable has resolved"]
pub(crate) struct Durable(Option<tokio::sync::oneshot::Receiver<Result<(), StoreError>>>);

impl Future for Durable {
    type Output = Result<(), StoreError>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.0 {
            // The writer thread is gone: the batch was never queued, or never answered.
            None => Poll::Ready(Err(StoreError::Closed)),
            Some(committed) => Pin::new(committed)
                .poll(context)
                .map(|answer| answer.unwrap_or(Err(StoreError::Closed))),
        }
    }
}

/// Names one failed commit, so that the node rolls back once for it however many batches
/// it refused. Later failures have larger numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct CommitFailure(u64);

fn db_error(error: impl Into<redb::Error>) -> StoreError {
    StoreError::Database(Arc::new(error.into()))
}

fn io_error(error: std::io::Error) -> StoreError {
    StoreError::Io(Arc::new(error))
}

/// What opening an existing file says: what the file is at fault for is corruption;
/// the rest (permissions, a lock held by another process, I/O) is the environment's.
fn open_error(error: redb::DatabaseError) -> StoreError {
    use redb::{DatabaseError, StorageError};
    match error {
        DatabaseError::Storage(StorageError::Corrupted(reason)) => StoreError::Corrupt(reason),
        DatabaseError::Storage(StorageError::Io(io))
            if io.kind() == std::io::ErrorKind::InvalidData =>
        {
            StoreError::Corrupt(io.to_string())
        }
        DatabaseError::UpgradeRequired(version) => StoreError::Corrupt(format!(
            "the file claims redb file format {version}, which this node cannot read"
        )),
        DatabaseError::RepairAborted => StoreError::Corrupt("redb could not repair it".into()),
        other => db_error(other),
    }
}

/// One atomic set of changes.
#[derive(Debug, Default, Clone)]
pub(crate) struct Batch {
    /// Newly connected blocks with their connection sequence numbers.
    pub(crate) blocks: Vec<(u64, Arc<Block>)>,
    /// The best tip after this batch, if it moved.
    pub(crate) best_tip: Option<BlockHash>,
    /// How the best chain moved to that tip, step by step.
    pub(crate) best_chain: Vec<ChainStep>,
    /// Posts that became pending.
    pub(crate) mempool_added: Vec<Arc<Transaction>>,
    /// Posts that are no longer pending.
    pub(crate) mempool_removed: Vec<TxId>,
    pub(crate) peers_added: Vec<String>,
    pub(crate) peers_removed: Vec<String>,
}

impl Batch {
    pub(crate) fn is_empty(&self) -> bool {
        self.blocks.is_empty()
            && self.best_tip.is_none()
            && self.best_chain.is_empty()
            && self.mempool_added.is_empty()
            && self.mempool_removed.is_empty()
            && self.peers_added.is_empty()
            && self.peers_removed.is_empty()
    }
}

/// What is read back whole at start-up; the blocks are read a few at a time
/// (`Reader::connected_blocks`).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// Pending posts in arrival order.
    pub(crate) mempool: Vec<Transaction>,
    /// The best tip recorded by the last commit.
    pub(crate) best_tip: Option<BlockHash>,
    /// Known peers' URLs.
    pub(crate) peers: Vec<String>,
}

/// What the last successful commit left on disk, as far as rolling back to it needs: the
/// writer's index of pending posts (which arrival number holds each) and the connection
/// number of the last stored block.
#[derive(Debug)]
pub(crate) struct Committed {
    arrivals: HashMap<TxId, u64>,
    next_arrival: u64,
    last_block_seq: u64,
}

impl Committed {
    /// The connection number of the last stored block (0: none but genesis).
    pub(crate) fn last_block_seq(&self) -> u64 {
        self.last_block_seq
    }

    /// Whether the post is pending on disk.
    pub(crate) fn is_pending(&self, id: &TxId) -> bool {
        self.arrivals.contains_key(id)
    }

    /// How many posts are pending on disk.
    pub(crate) fn pending_count(&self) -> usize {
        self.arrivals.len()
    }

    /// The posts pending on disk, in arrival order.
    pub(crate) fn pending_in_arrival_order(&self) -> Vec<TxId> {
        let mut pending: Vec<_> = self.arrivals.iter().map(|(id, at)| (*at, *id)).collect();
        pending.sort_unstable_by_key(|(at, _)| *at);
        pending.into_iter().map(|(_, id)| id).collect()
    }
}

/// Counts the commits that moved the best chain, for whoever follows it from outside the
/// chain lock (the search index): it waits here instead of polling.
#[derive(Debug, Default)]
pub(crate) struct ChainMoved {
    commits: Mutex<u64>,
    moved: Condvar,
}

impl ChainMoved {
    fn bump(&self) {
        *self.commits.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.moved.notify_all();
    }

    /// How many commits have moved the chain so far.
    pub(crate) fn count(&self) -> u64 {
        *self.commits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until the count passes `seen`, `stopped()` holds (checked whenever
    /// [`ChainMoved::wake`] is called) or `timeout` passes, and returns the count.
    pub(crate) fn wait_past(
        &self,
        seen: u64,
        timeout: Duration,
        stopped: impl Fn() -> bool,
    ) -> u64 {
        let commits = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        let (commits, _) = self
            .moved
            .wait_timeout_while(commits, timeout, |commits| *commits <= seen && !stopped())
            .unwrap_or_else(PoisonError::into_inner);
        *commits
    }

    /// Wakes every waiter without a commit, to look at what it is stopped by. Taking the
    /// lock first means no waiter is between its check and its wait, so none misses it.
    pub(crate) fn wake(&self) {
        let _waiters_waiting = self.commits.lock().unwrap_or_else(PoisonError::into_inner);
        self.moved.notify_all();
    }
}

struct Job {
    batch: Batch,
    done: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
    /// Run by the writer once the batch is durable, whether or not anyone still awaits
    /// `done`; dropped unrun if the commit fails.
    on_durable: Option<OnDurable>,
}

/// What the owner of the state does once a batch of its changes is durable.
pub(crate) type OnDurable = Box<dyn FnOnce() + Send>;

enum Message {
    Write(Job),
    /// Memory no longer holds anything that failure refused: writing may start again.
    Resume(CommitFailure),
}

/// Handle to the database and its writer thread. Cheap to clone; when the last clone is
/// dropped, the queued batches are committed and the database is closed.
#[derive(Clone)]
pub(crate) struct Store {
    writer: Arc<Writer>,
    db: SharedDb,
    chain_moved: Arc<ChainMoved>,
}

/// The open database, shared by the writer thread and the readers. Each holds it for one
/// commit or one read; only closing it (after a failed commit) and reopening it wait for
/// them, so a reader never waits for a commit.
///
/// From a failed commit until the node has rolled back and the writer has reopened the
/// file, readers wait (at most `REOPEN_WAIT`) rather than fail: the rollback takes
/// milliseconds, and what the disk holds is readable again right after it.
#[derive(Clone)]
struct SharedDb(Arc<DbSlot>);

struct DbSlot {
    db: RwLock<Option<Database>>,
    reopening: Mutex<bool>,
    reopened: Condvar,
}

/// Longest a read waits for the store to reopen after a failed commit.
const REOPEN_WAIT: Duration = Duration::from_secs(10);

impl SharedDb {
    fn new(db: Database) -> Self {
        SharedDb(Arc::new(DbSlot {
            db: RwLock::new(Some(db)),
            reopening: Mutex::new(false),
            reopened: Condvar::new(),
        }))
    }

    fn read<R>(
        &self,
        work: impl FnOnce(&Database) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let reopening = self
            .0
            .reopening
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (reopening, _) = self
            .0
            .reopened
            .wait_timeout_while(reopening, REOPEN_WAIT, |reopening| *reopening)
            .unwrap_or_else(PoisonError::into_inner);
        drop(reopening);
        let db = self.0.db.read().unwrap_or_else(PoisonError::into_inner);
        match db.as_ref() {
            Some(db) => work(db),
            None => Err(StoreError::Closed),
        }
    }

    fn is_open(&self) -> bool {
        self.0
            .db
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Closes the slot for good: readers from now on find the store closed.
    fn take(&self) -> Option<Database> {
        self.0
            .db
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// Closes the database after a failed commit; readers wait until `reopened`.
    fn close_for_reopening(&self) {
        *self
            .0
            .reopening
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        *self.0.db.write().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Ends the wait `close_for_reopening` began, with the reopened database if there is
    /// one.
    fn reopened(&self, db: Option<Database>) {
        if let Some(db) = db {
            *self.0.db.write().unwrap_or_else(PoisonError::into_inner) = Some(db);
        }
        *self
            .0
            .reopening
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = false;
        self.0.reopened.notify_all();
    }
}

struct Writer {
    messages: Option<mpsc::Sender<Message>>,
    thread: Option<std::thread::JoinHandle<()>>,
    committed: Arc<Mutex<Committed>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue lets the thread drain it and exit; joining releases the
        // database file before anyone reopens it.
        self.messages.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Store {
    /// Opens the database at `path` (creating it only if there is no file), checks it
    /// belongs to the network whose genesis is `genesis`, and reads everything back. A file
    /// that is empty, truncated or corrupt is refused, untouched. `max_pending` is the
    /// mempool's bound; the writer's index of pending posts is sized for it up front,
    /// because growing a large index in the middle of a commit stalls every waiting writer.
    pub(crate) fn open(
        path: &Path,
        genesis: &Block,
        max_pending: usize,
    ) -> Result<(Store, Loaded), StoreError> {
        let (db, loaded, committed) = without_panics("reading the store", || {
            let db = match std::fs::metadata(path) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                    create_database(path, genesis)?
                }
                Err(error) => return Err(io_error(error)),
                Ok(file) if file.len() == 0 => {
                    return Err(StoreError::Corrupt("the file is empty".into()));
                }
                Ok(_) => open_existing(path)?,
            };
            check_network(&db, genesis)?;
            let (loaded, committed) = load(&db, max_pending)?;
            Ok((db, loaded, committed))
        })?;
        Self::start(db, Some(path.to_owned()), loaded, committed)
    }

    /// A store that keeps everything in memory, for throwaway nodes and tests.
    pub(crate) fn in_memory(
        genesis: &Block,
        max_pending: usize,
    ) -> Result<(Store, Loaded), StoreError> {
        Self::on_backend(redb::backends::InMemoryBackend::new(), genesis, max_pending)
    }

    /// A fresh store on `backend`. After a failed commit it cannot be reopened, so it
    /// takes no more writes.
    pub(crate) fn on_backend(
        backend: impl redb::StorageBackend,
        genesis: &Block,
        max_pending: usize,
    ) -> Result<(Store, Loaded), StoreError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(db_error)?;
        check_network(&db, genesis)?;
        let (loaded, committed) = load(&db, max_pending)?;
        Self::start(db, None, loaded, committed)
    }

    fn start(
        db: Database,
        reopen: Option<PathBuf>,
        loaded: Loaded,
        committed: Committed,
    ) -> Result<(Store, Loaded), StoreError> {
        let committed = Arc::new(Mutex::new(committed));
        let (messages, queue) = mpsc::channel();
        let db = SharedDb::new(db);
        let chain_moved = Arc::new(ChainMoved::default());
        let writer_thread = WriterThread {
            disk: Disk::Open,
            db: db.clone(),
            reopen,
            committed: committed.clone(),
            chain_moved: chain_moved.clone(),
            failures: 0,
            failing: false,
        };
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_thread.run(queue))
            .map_err(io_error)?;
        let writer = Writer {
            messages: Some(messages),
            thread: Some(thread),
            committed,
        };
        Ok((
            Store {
                writer: Arc::new(writer),
                db,
                chain_moved,
            },
            loaded,
        ))
    }

    /// Signalled after every commit that moved the best chain.
    pub(crate) fn chain_moved(&self) -> Arc<ChainMoved> {
        self.chain_moved.clone()
    }

    /// Reads of what the last commit left on disk, which never wait for the writer.
    pub(crate) fn reader(&self) -> Reader {
        Reader {
            db: self.db.clone(),
        }
    }

    /// Queues `batch` for the next commit and returns a future that resolves once it is
    /// durable. Queue order is commit order, so call this while still holding whatever
    /// lock decided the batch.
    pub(crate) fn write(&self, batch: Batch) -> Durable {
        self.queue(batch, None)
    }

    /// As [`Store::write`], and the writer thread runs `on_durable` right after the commit,
    /// before it answers: so it runs, in commit order, even if the returned future is
    /// dropped (a request given up, a sync timed out).
    pub(crate) fn write_then(&self, batch: Batch, on_durable: OnDurable) -> Durable {
        self.queue(batch, Some(on_durable))
    }

    fn queue(&self, batch: Batch, on_durable: Option<OnDurable>) -> Durable {
        let (done, committed) = tokio::sync::oneshot::channel();
        let queued = self.send(Message::Write(Job {
            batch,
            done,
            on_durable,
        }));
        Durable(queued.then_some(committed))
    }

    /// Resolves once everything queued before it is durable. Commits run in queue order,
    /// so a barrier costs no commit of its own.
    pub(crate) fn barrier(&self) -> Durable {
        self.write(Batch::default())
    }

    /// Waits until everything queued so far is committed, or refused: a read after it sees
    /// every change the chain state had decided when it began, so no endpoint shows less
    /// than `/status` did a moment before. Costs no commit of its own, and waits at most for
    /// the commits already queued. While writes fail, the disk holds all there is (the node
    /// rolls its memory back to it), so a refusal ends the wait too.
    pub(crate) async fn await_queued(&self) {
        // Refused or not, what the disk holds is what a read should see.
        let _ = self.barrier().await;
    }

    /// Runs `read` on what the last successful commit left on disk. Meant for rolling back
    /// after a [`StoreError::NotCommitted`], while the writer commits nothing.
    pub(crate) fn with_committed<R>(&self, read: impl FnOnce(&Committed) -> R) -> R {
        read(
            &self
                .writer
                .committed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Says that memory holds nothing of what `failure` refused any more, so writing may
    /// start again (reopening the database first). Queue it under the lock that decides
    /// batches, so every batch after it was decided on the rolled-back state.
    pub(crate) fn resume(&self, failure: CommitFailure) {
        // A closed queue means shutdown: nothing is left to resume.
        let _ = self.send(Message::Resume(failure));
    }

    fn send(&self, message: Message) -> bool {
        self.writer
            .messages
            .as_ref()
            .is_some_and(|messages| messages.send(message).is_ok())
    }
}

/// Runs `work` on a thread of its own and turns a panic there into [`StoreError::Corrupt`]:
/// redb trusts the file it reads, and one it cannot parse may make it panic.
fn without_panics<T: Send>(
    what: &str,
    work: impl FnOnce() -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("store-open".into())
            .spawn_scoped(scope, work)
            .map_err(io_error)?;
        worker.join().unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StoreError::Corrupt(format!("{what} failed: {message}")))
        })
    })
}

fn builder(check_every_page: bool) -> redb::Builder {
    let mut builder = Database::builder();
    builder
        .set_cache_size(CACHE_BYTES)
        .set_check_integrity_on_open(check_every_page);
    builder
}

/// Opens the store a node finds at start-up: without redb's page-by-page check if the
/// file is byte for byte what this node sealed when it last closed it (`seal`), and with
/// it otherwise.
fn open_existing(path: &Path) -> Result<Database, StoreError> {
    if seal::unseal(path) {
        tracing::info!("the store is as it was closed: its pages are not checked again");
        builder(false).open(path).map_err(open_error)
    } else {
        tracing::info!("checking every page of the store");
        open_database(path)
    }
}

/// Opens an existing store, never initialising it: redb verifies the checksum of every
/// page of the committed trees first. A cleanly closed file (its last commit two-phase)
/// with a bad page is refused rather than rolled back; after a crash, redb's recovery
/// falls back to the previous commit if the last one is torn, as crash recovery should.
fn open_database(path: &Path) -> Result<Database, StoreError> {
    builder(true).open(path).map_err(open_error)
}

/// `path` with `suffix` added to its file name: `chain.redb` → `chain.redb.new`.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Creates a fresh store at `path`: initialised under a temporary name, then renamed into
/// place, so that `path` never names a half-made file.
fn create_database(path: &Path, genesis: &Block) -> Result<Database, StoreError> {
    let temporary = with_suffix(path, ".new");
    match std::fs::remove_file(&temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(io_error(error)),
        _ => {}
    }
    let db = builder(true).create(&temporary).map_err(db_error)?;
    check_network(&db, genesis)?;
    std::fs::rename(&temporary, path).map_err(io_error)?;
    if let Some(dir) = path.parent() {
        // The rename is durable only once the directory is.
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error)?;
    }
    Ok(db)
}

fn check_network(db: &Database, genesis_block: &Block) -> Result<(), StoreError> {
    let genesis = genesis_block.hash();
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
        txn.open_table(BLOCK_INDEX).map_err(db_error)?;
        txn.open_table(PEERS).map_err(db_error)?;
        txn.open_table(index::REPLIES).map_err(db_error)?;
        txn.open_table(index::REPLY_COUNTS).map_err(db_error)?;
        txn.open_table(index::HANDLE_CLAIMS).map_err(db_error)?;
        txn.open_table(index::PROFILES).map_err(db_error)?;
        let mut pending = txn.open_table(MEMPOOL).map_err(db_error)?;
        migrate_pending_by_id(&txn, &mut pending)?;
        let schema = meta
            .get(SCHEMA_KEY)
            .map_err(db_error)?
            .map(|value| decode_u64(value.value()))
            .transpose()?;
        match schema {
            Some(SCHEMA_VERSION) => {}
            Some(newer) if newer > SCHEMA_VERSION => return Err(StoreError::NewerSchema(newer)),
            // The profile indexes, created above, are complete while empty: no post of
            // these versions is a profile.
            Some(PROFILELESS_SCHEMA) => {
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes().as_slice())
                    .map_err(db_error)?;
            }
            Some(UNCOUNTED_SCHEMA) => {
                index::count_replies(&txn)?;
                tracing::info!("counted the replies of the best chain's posts");
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes().as_slice())
                    .map_err(db_error)?;
            }
            Some(older @ (AUTHORLESS_SCHEMA | REPLYLESS_SCHEMA)) => {
                if older == AUTHORLESS_SCHEMA {
                    index::build_author_index(&txn)?;
                    tracing::info!("indexed the best chain's posts by author");
                }
                // The replies index and counts, created above, are complete while empty: no
                // post of these versions replies to another.
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes().as_slice())
                    .map_err(db_error)?;
            }
            Some(older) => {
                return Err(StoreError::Corrupt(format!(
                    "it claims schema version {older}, which no release wrote"
                )));
            }
            None => {
                {
                    let mut blocks = txn.open_table(BLOCKS).map_err(db_error)?;
                    upgrade_from_json(&mut blocks, &mut pending)?;
                    blocks
                        .insert(
                            genesis.as_bytes(),
                            encoding::encode_block(genesis_block).as_slice(),
                        )
                        .map_err(db_error)?;
                }
                let tip = meta
                    .get(BEST_TIP_KEY)
                    .map_err(db_error)?
                    .map(|value| decode_hash(value.value()))
                    .transpose()?;
                index_blocks_in_connection_order(&txn)?;
                index::build(&txn, genesis, tip)?;
                meta.insert(SCHEMA_KEY, SCHEMA_VERSION.to_be_bytes().as_slice())
                    .map_err(db_error)?;
            }
        }
    }
    txn.commit().map_err(db_error)
}

/// Rewrites every block and pending post of a store from the API's JSON (what releases
/// before the schema version kept) into the binary form, in the transaction that opens
/// the store, so that a crash midway leaves the old store as it was. A fresh store has
/// nothing to rewrite. It holds the store's blocks in memory once, as the node does
/// anyway after opening it.
fn upgrade_from_json(
    blocks: &mut redb::Table<[u8; 32], &[u8]>,
    pending: &mut redb::Table<u64, &[u8]>,
) -> Result<(), StoreError> {
    let mut upgraded_blocks = Vec::new();
    for row in blocks.iter().map_err(db_error)? {
        let (hash, json) = row.map_err(db_error)?;
        let block = decode_json_block(json.value())?;
        let hash = hash.value();
        if *block.hash().as_bytes() != hash {
            return Err(StoreError::Corrupt(format!(
                "the block stored as {} hashes to {}",
                Hash256(hash),
                block.hash()
            )));
        }
        upgraded_blocks.push((hash, encoding::encode_block(&block)));
    }
    for (hash, bytes) in &upgraded_blocks {
        blocks.insert(hash, bytes.as_slice()).map_err(db_error)?;
    }
    let mut upgraded_posts = Vec::new();
    for row in pending.iter().map_err(db_error)? {
        let (arrival, json) = row.map_err(db_error)?;
        let tx = decode_json_transaction(json.value())?;
        upgraded_posts.push((arrival.value(), tx.canonical_bytes()));
    }
    for (arrival, bytes) in &upgraded_posts {
        pending
            .insert(arrival, bytes.as_slice())
            .map_err(db_error)?;
    }
    if !upgraded_blocks.is_empty() || !upgraded_posts.is_empty() {
        tracing::info!(
            blocks = upgraded_blocks.len(),
            pending = upgraded_posts.len(),
            "upgraded the store from JSON to the binary form"
        );
    }
    Ok(())
}

/// Builds the block index of a store the JSON release wrote from its connection order
/// (reading each block once) and drops that order, in the transaction that opens it.
fn index_blocks_in_connection_order(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let exists = txn
        .list_tables()
        .map_err(db_error)?
        .any(|table| table.name() == BLOCK_ORDER.name());
    if !exists {
        return Ok(());
    }
    {
        let order = txn.open_table(BLOCK_ORDER).map_err(db_error)?;
        let blocks = txn.open_table(BLOCKS).map_err(db_error)?;
        let mut index = txn.open_table(BLOCK_INDEX).map_err(db_error)?;
        for row in order.iter().map_err(db_error)? {
            let (seq, hash) = row.map_err(db_error)?;
            let hash = hash.value();
            let bytes = blocks.get(hash).map_err(db_error)?.ok_or_else(|| {
                StoreError::Corrupt(format!("block {} is missing", Hash256(hash)))
            })?;
            let block = decode_block(hash, bytes.value())?;
            let entry = encoding::encode_indexed(&IndexedBlock::of(&block));
            index
                .insert(seq.value(), entry.as_slice())
                .map_err(db_error)?;
        }
    }
    txn.delete_table(BLOCK_ORDER).map_err(db_error)?;
    Ok(())
}

/// Moves pending posts from the first layout (keyed by id) to the arrival-keyed table, in
/// the same transaction that opens the database, so a data directory from before the
/// change keeps its posts.
fn migrate_pending_by_id(
    txn: &redb::WriteTransaction,
    pending: &mut redb::Table<u64, &[u8]>,
) -> Result<(), StoreError> {
    let old_name = MEMPOOL_BY_ID.name();
    let exists = txn
        .list_tables()
        .map_err(db_error)?
        .any(|table| table.name() == old_name);
    if !exists {
        return Ok(());
    }
    {
        let old = txn.open_table(MEMPOOL_BY_ID).map_err(db_error)?;
        for row in old.iter().map_err(db_error)? {
            let (_, value) = row.map_err(db_error)?;
            let (arrival, json) = value.value();
            pending.insert(arrival, json).map_err(db_error)?;
        }
    }
    txn.delete_table(MEMPOOL_BY_ID).map_err(db_error)?;
    Ok(())
}

fn load(db: &Database, max_pending: usize) -> Result<(Loaded, Committed), StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let order = txn.open_table(BLOCK_INDEX).map_err(db_error)?;
    let last_block_seq = order
        .last()
        .map_err(db_error)?
        .map_or(0, |(seq, _)| seq.value());
    let stored = order.len().map_err(db_error)?;
    if last_block_seq != stored {
        return Err(StoreError::Corrupt(format!(
            "{stored} blocks are stored, but the last is number {last_block_seq}"
        )));
    }

    let mempool_table = txn.open_table(MEMPOOL).map_err(db_error)?;
    let mut mempool = Vec::new();
    let mut committed = Committed {
        arrivals: HashMap::with_capacity(max_pending),
        next_arrival: 0,
        last_block_seq,
    };
    for row in mempool_table.iter().map_err(db_error)? {
        let (arrival, bytes) = row.map_err(db_error)?;
        let tx = decode_transaction(bytes.value())?;
        committed.arrivals.insert(tx.id(), arrival.value());
        committed.next_arrival = arrival.value() + 1;
        mempool.push(tx);
    }

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
    let loaded = Loaded {
        mempool,
        best_tip,
        peers,
    };
    Ok((loaded, committed))
}

/// Whether a reopened database holds what the writer believes it committed: the same
/// pending arrival numbers and the same last block. It may not, if a commit that reported
/// failure reached the disk after all (an fsync error after the header was written).
fn holds_what_was_committed(db: &Database, committed: &Committed) -> Result<bool, StoreError> {
    let txn = db.begin_read().map_err(db_error)?;
    let order = txn.open_table(BLOCK_INDEX).map_err(db_error)?;
    let last_block_seq = match order.last().map_err(db_error)? {
        Some((seq, _)) => seq.value(),
        None => 0,
    };
    let mempool = txn.open_table(MEMPOOL).map_err(db_error)?;
    let mut arrivals = Vec::with_capacity(committed.arrivals.len());
    for row in mempool.iter().map_err(db_error)? {
        arrivals.push(row.map_err(db_error)?.0.value());
    }
    let mut expected: Vec<u64> = committed.arrivals.values().copied().collect();
    expected.sort_unstable();
    Ok(last_block_seq == committed.last_block_seq && arrivals == expected)
}

/// The state of the writer thread's database.
enum Disk {
    /// Open and taking commits.
    Open,
    /// A commit failed; every batch is refused until the node resumes writing.
    Failed {
        failure: CommitFailure,
        cause: Arc<StoreError>,
    },
    /// Memory was rolled back after a failure; the next batch reopens the database.
    Closed,
}

struct WriterThread {
    disk: Disk,
    db: SharedDb,
    /// Where to reopen the database after a failure (none for an in-memory store).
    reopen: Option<PathBuf>,
    committed: Arc<Mutex<Committed>>,
    chain_moved: Arc<ChainMoved>,
    failures: u64,
    /// Whether the last commit attempted failed.
    failing: bool,
}

impl WriterThread {
    fn run(mut self, queue: mpsc::Receiver<Message>) {
        while let Ok(message) = queue.recv() {
            let first = match message {
                Message::Resume(failure) => {
                    self.resume(failure);
                    continue;
                }
                Message::Write(job) => job,
            };
            if let Disk::Failed { failure, cause } = &self.disk {
                // Decided on changes that are being rolled back.
                let _ = first.done.send(Err(StoreError::NotCommitted {
                    failure: *failure,
                    cause: cause.clone(),
                }));
                continue;
            }
            let mut jobs = vec![first];
            while jobs.len() < MAX_BATCHES_PER_COMMIT {
                match queue.try_recv() {
                    Ok(Message::Write(job)) => jobs.push(job),
                    // Only a failure is resumed, and none is pending here.
                    Ok(Message::Resume(failure)) => self.resume(failure),
                    Err(_) => break,
                }
            }
            let result = if jobs.iter().all(|job| job.batch.is_empty()) {
                // Only barriers: everything queued before them is already committed, or
                // was refused and rolled back.
                Ok(())
            } else {
                self.commit(&jobs)
            };
            if result.is_ok() && jobs.iter().any(|job| job.batch.best_tip.is_some()) {
                self.chain_moved.bump();
            }
            for job in jobs {
                if let (Ok(()), Some(on_durable)) = (&result, job.on_durable) {
                    on_durable();
                }
                // A caller that went away no longer needs the answer.
                let _ = job.done.send(result.clone());
            }
        }
        self.close_and_seal();
    }

    /// Closes the database once nothing more can be written, and seals the file if it
    /// closed cleanly, so that the next start need not check every page. A store that
    /// failed, or did not close cleanly, is left for that check.
    fn close_and_seal(&self) {
        let (Some(path), Disk::Open) = (self.reopen.as_deref(), &self.disk) else {
            return;
        };
        let Some(db) = self.db.take() else {
            return;
        };
        if let Err(error) = db.close() {
            tracing::warn!(%error, "the store did not close cleanly; the next start checks every page");
            return;
        }
        match seal::seal(path) {
            Ok(()) => tracing::info!("the store is closed and sealed"),
            Err(error) => {
                tracing::warn!(%error, "cannot seal the store; the next start checks every page")
            }
        }
    }

    fn resume(&mut self, failure: CommitFailure) {
        if matches!(&self.disk, Disk::Failed { failure: failed, .. } if *failed == failure) {
            // Reopened for readers after the failure, or else by the next batch.
            self.disk = if self.db.is_open() {
                Disk::Open
            } else {
                Disk::Closed
            };
        }
    }

    /// The database reopened after a failed commit, if it opens and holds what was
    /// committed before the failure.
    fn reopen_for_reading(&self) -> Option<Database> {
        let path = self.reopen.as_deref()?;
        let committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let reopened =
            without_panics("reopening the store", || open_database(path)).and_then(|db| {
                match holds_what_was_committed(&db, &committed)? {
                    true => Ok(db),
                    false => Err(StoreError::ReopenedWithFailedChanges),
                }
            });
        match reopened {
            Ok(db) => Some(db),
            Err(error) => {
                tracing::warn!(%error, "the store cannot be reopened yet; reads wait for the next write");
                None
            }
        }
    }

    fn commit(&mut self, jobs: &[Job]) -> Result<(), StoreError> {
        let mut committed = self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let written =
            reopen_if_closed(&mut self.disk, &self.db, self.reopen.as_deref(), &committed)
                .and_then(|()| self.db.read(|db| commit(db, jobs, &mut committed)));
        drop(committed);
        if written.is_ok() && self.failing {
            self.failing = false;
            tracing::info!("the store takes writes again");
        }
        written.map_err(|error| {
            self.failing = true;
            self.failures += 1;
            let failure = CommitFailure(self.failures);
            tracing::error!(
                %error,
                batches = jobs.len(),
                "commit failed; refusing writes until the node has rolled back"
            );
            let cause = Arc::new(error);
            // Dropping the database closes it: after an I/O error redb takes nothing more
            // from this handle. It is reopened at once for readers (rolling back reads
            // blocks too); batches stay refused until the node resumes.
            self.db.close_for_reopening();
            let reopened = self.reopen_for_reading();
            self.db.reopened(reopened);
            self.disk = Disk::Failed {
                failure,
                cause: cause.clone(),
            };
            StoreError::NotCommitted { failure, cause }
        })
    }
}

fn reopen_if_closed(
    disk: &mut Disk,
    shared: &SharedDb,
    reopen: Option<&Path>,
    committed: &Committed,
) -> Result<(), StoreError> {
    if matches!(disk, Disk::Closed) {
        let path = reopen.ok_or(StoreError::CannotReopenInMemory)?;
        let reopened = without_panics("reopening the store", || open_database(path))?;
        if !holds_what_was_committed(&reopened, committed)? {
            return Err(StoreError::ReopenedWithFailedChanges);
        }
        tracing::debug!(path = %path.display(), "reopened the store");
        *disk = Disk::Open;
        shared.reopened(Some(reopened));
    }
    match disk {
        Disk::Open if shared.is_open() => Ok(()),
        Disk::Open => Err(StoreError::Closed),
        Disk::Failed { cause, .. } => Err(cause.as_ref().clone()),
        Disk::Closed => Err(StoreError::Closed),
    }
}

fn commit(db: &Database, jobs: &[Job], pending: &mut Committed) -> Result<(), StoreError> {
    // Index changes stay aside until the commit succeeds, so a failed commit leaves the
    // index describing what is on disk.
    let mut changed: HashMap<TxId, Option<u64>> = HashMap::new();
    let mut next_arrival = pending.next_arrival;
    let mut last_block_seq = pending.last_block_seq;
    let txn = db.begin_write().map_err(db_error)?;
    {
        let mut blocks = txn.open_table(BLOCKS).map_err(db_error)?;
        let mut order = txn.open_table(BLOCK_INDEX).map_err(db_error)?;
        let mut mempool = txn.open_table(MEMPOOL).map_err(db_error)?;
        let mut meta = txn.open_table(META).map_err(db_error)?;
        let mut peers = txn.open_table(PEERS).map_err(db_error)?;
        let mut indexes = index::Indexes::open(&txn)?;
        for Job { batch, .. } in jobs {
            for url in &batch.peers_added {
                peers.insert(url.as_str(), ()).map_err(db_error)?;
            }
            for url in &batch.peers_removed {
                peers.remove(url.as_str()).map_err(db_error)?;
            }
            for (seq, block) in &batch.blocks {
                blocks
                    .insert(
                        *block.hash().as_bytes(),
                        encoding::encode_block(block).as_slice(),
                    )
                    .map_err(db_error)?;
                order
                    .insert(
                        *seq,
                        encoding::encode_indexed(&IndexedBlock::of(block)).as_slice(),
                    )
                    .map_err(db_error)?;
                last_block_seq = last_block_seq.max(*seq);
            }
            for id in &batch.mempool_removed {
                let arrival = match changed.get(id) {
                    Some(arrival) => *arrival,
                    None => pending.arrivals.get(id).copied(),
                };
                if let Some(arrival) = arrival {
                    mempool.remove(arrival).map_err(db_error)?;
                    changed.insert(*id, None);
                }
            }
            for tx in &batch.mempool_added {
                mempool
                    .insert(next_arrival, tx.canonical_bytes().as_slice())
                    .map_err(db_error)?;
                changed.insert(tx.id(), Some(next_arrival));
                next_arrival += 1;
            }
            for step in &batch.best_chain {
                indexes.step(step)?;
            }
            if let Some(tip) = batch.best_tip {
                meta.insert(BEST_TIP_KEY, tip.as_bytes().as_slice())
                    .map_err(db_error)?;
            }
        }
    }
    txn.commit().map_err(db_error)?;
    pending.next_arrival = next_arrival;
    pending.last_block_seq = last_block_seq;
    for (id, arrival) in changed {
        match arrival {
            Some(arrival) => pending.arrivals.insert(id, arrival),
            None => pending.arrivals.remove(&id),
        };
    }
    Ok(())
}

fn decode_hash(bytes: &[u8]) -> Result<BlockHash, StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map(|bytes| BlockHash(Hash256(bytes)))
        .map_err(|_| StoreError::Corrupt(format!("a stored hash is {} bytes", bytes.len())))
}

fn decode_u64(bytes: &[u8]) -> Result<u64, StoreError> {
    <[u8; 8]>::try_from(bytes)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::Corrupt(format!("a stored number is {} bytes", bytes.len())))
}

/// A block read back by the hash it is stored under, which its bytes must hash to.
fn decode_block(hash: [u8; 32], bytes: &[u8]) -> Result<Block, StoreError> {
    let block = encoding::decode_block(bytes)
        .map_err(|error| StoreError::Corrupt(format!("block {}: {error}", Hash256(hash))))?;
    if *block.hash().as_bytes() != hash {
        return Err(StoreError::Corrupt(format!(
            "the block stored as {} hashes to {}",
            Hash256(hash),
            block.hash()
        )));
    }
    Ok(block)
}

fn decode_transaction(bytes: &[u8]) -> Result<Transaction, StoreError> {
    encoding::decode_transaction(bytes)
        .map_err(|error| StoreError::Corrupt(format!("a pending post: {error}")))
}

fn decode_json_block(bytes: &[u8]) -> Result<Block, StoreError> {
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

fn decode_json_transaction(bytes: &[u8]) -> Result<Transaction, StoreError> {
    let json: TransactionJson =
        serde_json::from_slice(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))?;
    json.into_transaction()
        .map_err(|error| StoreError::Corrupt(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_chain::ChainParams;
    use chainpost_chain::test_support::*;
    use chainpost_chain::{Handle, PostKind};
    use ed25519_dalek::SigningKey;

    const TEST_MAX_PENDING: usize = 1_000;

    fn params() -> ChainParams {
        ChainParams::new(0, false).expect("valid")
    }

    /// Every stored block, in connection order.
    fn stored_blocks(store: &Store) -> Vec<Block> {
        let reader = store.reader();
        reader
            .block_index()
            .expect("readable")
            .iter()
            .map(|indexed| {
                reader
                    .block(&indexed.header.hash())
                    .expect("readable")
                    .expect("stored")
            })
            .collect()
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
            let (store, loaded) = Store::open(&path, &genesis, TEST_MAX_PENDING).expect("opens");
            assert!(stored_blocks(&store).is_empty() && loaded.mempool.is_empty());
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
        assert!(seal::seal_path(&path).exists(), "closed without a seal");
        let (store, loaded) = Store::open(&path, &genesis, TEST_MAX_PENDING).expect("reopens");
        assert!(
            !seal::seal_path(&path).exists(),
            "an open store kept its seal"
        );
        let blocks = stored_blocks(&store);
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].hash(), b1.hash());
        assert_eq!(loaded.best_tip, Some(b1.hash()));
        let pending: Vec<_> = loaded.mempool.iter().map(|tx| tx.id()).collect();
        assert_eq!(pending, vec![y.id()]);
        assert_eq!(loaded.peers, vec!["http://127.0.0.1:9".to_owned()]);
    }

    #[test]
    fn an_empty_file_is_refused_and_left_as_it_is() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        std::fs::write(&path, b"").expect("empty file");
        let genesis = params().genesis();
        assert!(matches!(
            Store::open(&path, &genesis, TEST_MAX_PENDING),
            Err(StoreError::Corrupt(_))
        ));
        assert_eq!(std::fs::metadata(&path).expect("still there").len(), 0);
    }

    #[test]
    fn a_fresh_store_is_renamed_into_place_once_made() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        // What a crash while creating one would leave.
        std::fs::write(dir.path().join("chain.redb.new"), b"half made").expect("leftover");
        let genesis = params().genesis();
        drop(Store::open(&path, &genesis, TEST_MAX_PENDING).expect("creates"));
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        names.sort();
        // The seal is the one made as the store closed.
        assert_eq!(names, ["chain.redb", "chain.redb.seal"]);
        Store::open(&path, &genesis, TEST_MAX_PENDING).expect("reopens");
    }

    #[tokio::test]
    async fn another_networks_data_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let ours = params().genesis();
        drop(Store::open(&path, &ours, TEST_MAX_PENDING).expect("opens"));
        let theirs = ChainParams::new(1, false).expect("valid").genesis();
        assert!(matches!(
            Store::open(&path, &theirs, TEST_MAX_PENDING),
            Err(StoreError::WrongNetwork { .. })
        ));
    }

    /// A copy of the store the release before the binary form wrote (see the fixture's
    /// README): three blocks, two of them with posts, one signed; two posts pending.
    fn store_of_7470ebd(dir: &Path) -> PathBuf {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-7470ebd");
        let path = dir.join("chain.redb");
        std::fs::copy(fixture.join("chain.redb"), &path).expect("fixture copied");
        path
    }

    /// A copy, in `dir`, of the store a schema-2 release wrote (commit babd85d).
    fn store_of_babd85d(dir: &Path) -> PathBuf {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-babd85d");
        let path = dir.join("chain.redb");
        std::fs::copy(fixture.join("chain.redb"), &path).expect("fixture copied");
        path
    }

    /// The babd85d store, upgraded by this release and then rewritten as a release of
    /// `schema` left it (`missing` drops what that release did not have): its path, and the
    /// best chain it holds.
    fn fixture_as_written_by(
        dir: &Path,
        schema: u64,
        missing: impl FnOnce(&redb::WriteTransaction),
    ) -> (PathBuf, Vec<BlockHash>) {
        let path = store_of_babd85d(dir);
        let (store, _) = Store::open(&path, &fixture_genesis(), TEST_MAX_PENDING).expect("opens");
        let chain = store.reader().best_chain_hashes().expect("reads");
        drop(store);
        as_written_by(&path, schema, missing);
        (path, chain)
    }

    fn fixture_genesis() -> Block {
        ChainParams::new(8, false).expect("valid").genesis()
    }

    #[test]
    fn a_store_of_json_is_upgraded_in_place_to_the_binary_form() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = store_of_7470ebd(dir.path());
        let (store, first) =
            Store::open(&path, &fixture_genesis(), TEST_MAX_PENDING).expect("upgrades");
        let first_blocks = stored_blocks(&store);
        drop(store);
        let posts: Vec<usize> = first_blocks
            .iter()
            .map(|block| block.transactions().len())
            .collect();
        // Genesis is stored apart: it is not a block that connected.
        assert_eq!(posts, [2, 1]);
        assert_eq!(first.mempool.len(), 2);
        assert!(
            first_blocks[0]
                .transactions()
                .iter()
                .any(|tx| tx.signature().is_some())
        );
        assert!(first.mempool.iter().any(|tx| tx.signature().is_some()));

        // Now the binary form, read back the same.
        assert_eq!(
            stored_schema(&path),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
        let db = open_database(&path).expect("reopens");
        {
            let txn = db.begin_read().expect("read");
            let blocks = txn.open_table(BLOCKS).expect("blocks");
            for row in blocks.iter().expect("iter") {
                let (hash, bytes) = row.expect("row");
                decode_block(hash.value(), bytes.value()).expect("binary");
            }
        }
        drop(db);
        let (store, again) =
            Store::open(&path, &fixture_genesis(), TEST_MAX_PENDING).expect("opens");
        let hashes = |blocks: &[Block]| blocks.iter().map(Block::hash).collect::<Vec<_>>();
        assert_eq!(hashes(&stored_blocks(&store)), hashes(&first_blocks));
        let ids = |loaded: &Loaded| loaded.mempool.iter().map(|tx| tx.id()).collect::<Vec<_>>();
        assert_eq!(ids(&again), ids(&first));
        assert_eq!(again.best_tip, first.best_tip);

        // The upgrade built the best chain's indexes: genesis and both blocks, every post.
        let reader = store.reader();
        let mut best_chain = vec![fixture_genesis().hash()];
        best_chain.extend(hashes(&first_blocks));
        assert_eq!(reader.best_chain_hashes().expect("reads"), best_chain);
        let page = reader.best_chain_page(1, 10, usize::MAX).expect("reads");
        assert_eq!(page.length, 3);
        assert_eq!(page.hashes, best_chain[1..]);
        for block in &first_blocks {
            for tx in block.transactions() {
                let found = reader
                    .confirmed_post(&tx.id())
                    .expect("reads")
                    .expect("indexed");
                assert_eq!(
                    (found.height, found.block),
                    (block.header().index, block.hash())
                );
                assert_eq!(found.transaction.content(), tx.content());
            }
        }
        for tx in &first.mempool {
            assert!(reader.confirmed_post(&tx.id()).expect("reads").is_none());
        }
        for tx in first_blocks.iter().flat_map(|block| block.transactions()) {
            let by_author = reader
                .posts(Some(&Author::of(tx)), None, 10)
                .expect("reads");
            assert!(
                by_author
                    .posts
                    .iter()
                    .any(|post| post.transaction.id() == tx.id())
            );
        }
    }

    #[test]
    fn a_store_of_schema_2_gains_the_author_index_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = store_of_babd85d(dir.path());
        assert_eq!(
            stored_schema(&path),
            Some(AUTHORLESS_SCHEMA.to_be_bytes().to_vec())
        );
        let (store, loaded) =
            Store::open(&path, &fixture_genesis(), TEST_MAX_PENDING).expect("upgrades");
        assert_eq!(loaded.mempool.len(), 2);
        let contents = |author: Author| {
            store
                .reader()
                .posts(Some(&author), None, 10)
                .expect("reads")
                .posts
                .iter()
                .map(|post| (post.height, post.transaction.content().to_owned()))
                .collect::<Vec<_>>()
        };
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        assert_eq!(
            contents(Author::Key(key.to_bytes())),
            [(1, "signed by a key".to_owned())]
        );
        assert_eq!(
            contents(Author::Name("alice".into())),
            [(1, "first post".to_owned())]
        );
        assert_eq!(
            contents(Author::Name("bob".into())),
            [(2, "non-ASCII: 山田 ✓".to_owned())]
        );
        // The signed post's name is not an author of its own.
        assert!(contents(Author::Name("Zoë".into())).is_empty());
        drop(store);
        assert_eq!(
            stored_schema(&path),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn a_store_of_schema_3_gains_the_replies_index_in_place_and_keeps_its_chain() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, chain) = fixture_as_written_by(dir.path(), REPLYLESS_SCHEMA, |txn| {
            assert!(txn.delete_table(index::REPLIES).expect("deletes"));
            assert!(txn.delete_table(index::REPLY_COUNTS).expect("deletes"));
        });
        let (store, loaded) =
            Store::open(&path, &fixture_genesis(), TEST_MAX_PENDING).expect("upgrades");
        assert_eq!(loaded.mempool.len(), 2);
        let reader = store.reader();
        assert_eq!(reader.best_chain_hashes().expect("reads"), chain);
        let first_post = reader.posts(None, None, 100).expect("reads").posts;
        assert!(!first_post.is_empty());
        for post in &first_post {
            let replies = reader
                .replies(&post.transaction.id(), None, 10)
                .expect("the table exists");
            assert!(replies.posts.is_empty());
        }
        drop((reader, store));
        assert_eq!(
            stored_schema(&path),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
    }

    /// `blocks` as a batch stores them, numbered in connection order from `seq`.
    fn connect(seq: u64, blocks: &[&Arc<Block>]) -> Vec<(u64, Arc<Block>)> {
        (0..)
            .zip(blocks)
            .map(|(i, block)| (seq + i, (*block).clone()))
            .collect()
    }

    #[tokio::test]
    async fn the_indexes_follow_the_best_chain_through_a_reorganization_sharing_one_commit() {
        let p = params();
        let genesis = p.genesis();
        let (store, _) = Store::in_memory(&genesis, TEST_MAX_PENDING).expect("opens");
        let both = unsigned_arc("a", "on both branches", 1.0);
        let reply = |author: &str, content: &str, timestamp| {
            Arc::new(Transaction::with_reply_to(
                author.into(),
                content.into(),
                timestamp,
                Some(both.id()),
                None,
            ))
        };
        let (only_a, only_b) = (reply("a", "only on a", 2.0), reply("b", "only on b", 3.0));
        let a1 = Arc::new(mine_child(&genesis, vec![both.clone(), only_a.clone()], &p));
        let a2 = Arc::new(mine_child(&a1, vec![], &p));
        let b1 = Arc::new(mine_child(&genesis, vec![], &p));
        let b2 = Arc::new(mine_child(&b1, vec![only_b.clone()], &p));
        let b3 = Arc::new(mine_child(&b2, vec![both.clone()], &p));
        let extend = Batch {
            blocks: connect(1, &[&a1, &a2]),
            best_tip: Some(a2.hash()),
            best_chain: vec![ChainStep::Apply(a1.clone()), ChainStep::Apply(a2.clone())],
            ..Batch::default()
        };
        let reorganize = Batch {
            blocks: connect(3, &[&b1, &b2, &b3]),
            best_tip: Some(b3.hash()),
            best_chain: vec![
                ChainStep::Revert(a2.clone()),
                ChainStep::Revert(a1.clone()),
                ChainStep::Apply(b1.clone()),
                ChainStep::Apply(b2.clone()),
                ChainStep::Apply(b3.clone()),
            ],
            ..Batch::default()
        };
        // Queued together, so they may share one commit: the indexes follow each step.
        let writes = [store.write(extend), store.write(reorganize)];
        for write in writes {
            write.await.expect("durable");
        }
        let reader = store.reader();
        assert_eq!(
            reader.best_chain_hashes().expect("reads"),
            [genesis.hash(), b1.hash(), b2.hash(), b3.hash()]
        );
        let at = |tx: &Arc<Transaction>| {
            reader
                .confirmed_post(&tx.id())
                .expect("reads")
                .map(|found| (found.height, found.block))
        };
        assert_eq!(at(&both), Some((3, b3.hash())));
        assert_eq!(at(&only_b), Some((2, b2.hash())));
        assert_eq!(at(&only_a), None);
        let by = |name: &str| {
            reader
                .posts(Some(&Author::Name(name.into())), None, 10)
                .expect("reads")
                .posts
                .iter()
                .map(|post| (post.height, post.transaction.id()))
                .collect::<Vec<_>>()
        };
        assert_eq!(by("a"), [(3, both.id())]);
        assert_eq!(by("b"), [(2, only_b.id())]);
        let replies = || {
            reader
                .replies(&both.id(), None, 10)
                .expect("reads")
                .posts
                .iter()
                .map(|post| (post.height, post.transaction.id()))
                .collect::<Vec<_>>()
        };
        assert_eq!(replies(), [(2, only_b.id())]);
        let count = |tx: &Arc<Transaction>| reader.reply_count(&tx.id()).expect("reads");
        assert_eq!(count(&both), 1, "only_a's reply left with its block");
        assert_eq!(
            reader
                .confirmed_post(&both.id())
                .expect("reads")
                .map(|post| post.replies),
            Some(1)
        );
        // The abandoned branch's blocks stay stored, for `/blocks/{hash}`.
        assert_eq!(
            reader
                .block(&a1.hash())
                .expect("reads")
                .map(|block| block.hash()),
            Some(a1.hash())
        );

        // A shorter branch of more work: heights above its tip leave the index.
        let c1 = Arc::new(mine_child(&genesis, vec![only_a.clone()], &p));
        store
            .write(Batch {
                blocks: connect(6, &[&c1]),
                best_tip: Some(c1.hash()),
                best_chain: vec![
                    ChainStep::Revert(b3.clone()),
                    ChainStep::Revert(b2.clone()),
                    ChainStep::Revert(b1.clone()),
                    ChainStep::Apply(c1.clone()),
                ],
                ..Batch::default()
            })
            .await
            .expect("durable");
        assert_eq!(reader.best_chain_length().expect("reads"), 2);
        assert_eq!(at(&only_a), Some((1, c1.hash())));
        assert_eq!((at(&both), at(&only_b)), (None, None));
        assert_eq!(by("a"), [(1, only_a.id())]);
        assert!(by("b").is_empty());
        assert_eq!(replies(), [(1, only_a.id())]);
        assert_eq!(count(&both), 1, "a count follows its replies, not its post");
        assert_eq!(count(&only_a), 0);
    }

    #[tokio::test]
    async fn a_store_of_schema_4_counts_its_replies_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let p = params();
        let genesis = p.genesis();
        let (root, other) = (
            unsigned_arc("a", "root", 1.0),
            unsigned_arc("a", "other", 1.0),
        );
        let reply = |parent: &Arc<Transaction>, content: &str| {
            Arc::new(Transaction::with_reply_to(
                "b".into(),
                content.into(),
                2.0,
                Some(parent.id()),
                None,
            ))
        };
        let b1 = Arc::new(mine_child(
            &genesis,
            vec![root.clone(), other.clone(), reply(&root, "1")],
            &p,
        ));
        let b2 = Arc::new(mine_child(
            &b1,
            vec![reply(&root, "2"), reply(&other, "3"), reply(&root, "4")],
            &p,
        ));
        {
            let (store, _) = Store::open(&path, &genesis, TEST_MAX_PENDING).expect("opens");
            store
                .write(Batch {
                    blocks: connect(1, &[&b1, &b2]),
                    best_tip: Some(b2.hash()),
                    best_chain: vec![ChainStep::Apply(b1.clone()), ChainStep::Apply(b2.clone())],
                    ..Batch::default()
                })
                .await
                .expect("durable");
        }
        as_written_by(&path, UNCOUNTED_SCHEMA, |txn| {
            assert!(txn.delete_table(index::REPLY_COUNTS).expect("deletes"));
        });
        let (store, _) = Store::open(&path, &genesis, TEST_MAX_PENDING).expect("upgrades");
        let reader = store.reader();
        let count = |tx: &Arc<Transaction>| reader.reply_count(&tx.id()).expect("reads");
        assert_eq!((count(&root), count(&other)), (3, 1));
        assert_eq!(count(&reply(&root, "1")), 0);
        drop((reader, store));
        assert_eq!(
            stored_schema(&path),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
    }

    fn profile(key: &SigningKey, name: &str, handle: &str, timestamp: f64) -> Arc<Transaction> {
        Arc::new(Transaction::signed_of_kind(
            name.into(),
            format!("{name}'s bio"),
            timestamp,
            PostKind::Profile(Handle::parse(handle).expect("a handle")),
            key,
        ))
    }

    #[tokio::test]
    async fn a_handle_belongs_to_the_first_claim_on_the_best_chain_and_moves_with_a_reorganization()
    {
        let p = params();
        let genesis = p.genesis();
        let (store, _) = Store::in_memory(&genesis, TEST_MAX_PENDING).expect("opens");
        let (alice, mallory) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let alice_claims = profile(&alice, "Alice", "alice", 1.0);
        let mallory_claims = profile(&mallory, "Alice!", "alice", 2.0);
        let alice_renames = profile(&alice, "Alice Liddell", "alice", 3.0);
        let a1 = Arc::new(mine_child(&genesis, vec![alice_claims.clone()], &p));
        let a2 = Arc::new(mine_child(
            &a1,
            vec![mallory_claims.clone(), alice_renames.clone()],
            &p,
        ));
        store
            .write(Batch {
                blocks: connect(1, &[&a1, &a2]),
                best_tip: Some(a2.hash()),
                best_chain: vec![ChainStep::Apply(a1.clone()), ChainStep::Apply(a2.clone())],
                ..Batch::default()
            })
            .await
            .expect("durable");
        let reader = store.reader();
        let alice_handle = Handle::parse("alice").expect("a handle");
        let owner = |reader: &Reader| {
            reader.handle(&alice_handle).expect("reads").map(|record| {
                (
                    record.claim.transaction.id(),
                    record.profile.post.transaction.id(),
                )
            })
        };
        let keys = [
            alice.verifying_key().to_bytes(),
            mallory.verifying_key().to_bytes(),
        ];
        let profiles = |reader: &Reader| {
            reader
                .profiles(&keys)
                .expect("reads")
                .into_iter()
                .map(|record| {
                    record.map(|record| (record.post.transaction.id(), record.owns_handle))
                })
                .collect::<Vec<_>>()
        };
        // The first claim owns the handle; the owner's latest profile is the one shown.
        assert_eq!(
            owner(&reader),
            Some((alice_claims.id(), alice_renames.id()))
        );
        assert_eq!(
            profiles(&reader),
            [
                Some((alice_renames.id(), true)),
                Some((mallory_claims.id(), false))
            ]
        );

        // A branch without Alice's first claim: Mallory's is now the first.
        let b1 = Arc::new(mine_child(&genesis, vec![mallory_claims.clone()], &p));
        let b2 = Arc::new(mine_child(&b1, vec![], &p));
        let b3 = Arc::new(mine_child(&b2, vec![alice_claims.clone()], &p));
        store
            .write(Batch {
                blocks: connect(3, &[&b1, &b2, &b3]),
                best_tip: Some(b3.hash()),
                best_chain: vec![
                    ChainStep::Revert(a2.clone()),
                    ChainStep::Revert(a1.clone()),
                    ChainStep::Apply(b1.clone()),
                    ChainStep::Apply(b2.clone()),
                    ChainStep::Apply(b3.clone()),
                ],
                ..Batch::default()
            })
            .await
            .expect("durable");
        let reader = store.reader();
        assert_eq!(
            owner(&reader),
            Some((mallory_claims.id(), mallory_claims.id()))
        );
        assert_eq!(
            profiles(&reader),
            [
                Some((alice_claims.id(), false)),
                Some((mallory_claims.id(), true))
            ]
        );
        assert!(
            reader
                .handle(&Handle::parse("bob").expect("a handle"))
                .expect("reads")
                .is_none()
        );
        assert_eq!(
            reader
                .profiles(&[[9; 32]])
                .expect("reads")
                .into_iter()
                .flatten()
                .count(),
            0
        );
    }

    #[test]
    fn a_store_of_schema_5_gains_the_empty_profile_indexes_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (path, chain) = fixture_as_written_by(dir.path(), PROFILELESS_SCHEMA, |txn| {
            assert!(txn.delete_table(index::HANDLE_CLAIMS).expect("deletes"));
            assert!(txn.delete_table(index::PROFILES).expect("deletes"));
        });
        let (store, _) =
            Store::open(&path, &fixture_genesis(), TEST_MAX_PENDING).expect("upgrades");
        let reader = store.reader();
        assert_eq!(reader.best_chain_hashes().expect("reads"), chain);
        let handle = Handle::parse("alice").expect("a handle");
        assert!(reader.handle(&handle).expect("the table exists").is_none());
        drop((reader, store));
        assert_eq!(
            stored_schema(&path),
            Some(SCHEMA_VERSION.to_be_bytes().to_vec())
        );
    }

    #[tokio::test]
    async fn a_page_stops_at_its_byte_bound_but_always_holds_a_block() {
        let p = params();
        let genesis = p.genesis();
        let (store, _) = Store::in_memory(&genesis, TEST_MAX_PENDING).expect("opens");
        let big = |n: usize| unsigned_arc("a", &"x".repeat(1_000 + n), n as f64);
        let b1 = Arc::new(mine_child(&genesis, vec![big(1)], &p));
        let b2 = Arc::new(mine_child(&b1, vec![big(2)], &p));
        store
            .write(Batch {
                blocks: connect(1, &[&b1, &b2]),
                best_tip: Some(b2.hash()),
                best_chain: vec![ChainStep::Apply(b1.clone()), ChainStep::Apply(b2.clone())],
                ..Batch::default()
            })
            .await
            .expect("durable");
        let reader = store.reader();
        let hashes = |from, limit, bytes| {
            let page = reader.best_chain_page(from, limit, bytes).expect("reads");
            assert_eq!(page.length, 3);
            page.hashes
        };
        assert_eq!(hashes(1, 10, usize::MAX), [b1.hash(), b2.hash()]);
        assert_eq!(hashes(1, 1, usize::MAX), [b1.hash()]);
        assert_eq!(hashes(1, 10, b1.encoded_len() + 10), [b1.hash()]);
        assert_eq!(hashes(1, 10, 1), [b1.hash()]);
        assert_eq!(hashes(3, 10, usize::MAX), Vec::<BlockHash>::new());
    }

    #[test]
    fn a_store_of_a_later_schema_is_refused_and_nothing_in_it_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let genesis = params().genesis();
        drop(Store::open(&path, &genesis, TEST_MAX_PENDING).expect("creates"));
        as_written_by(&path, SCHEMA_VERSION + 1, |_| {});
        assert!(matches!(
            Store::open(&path, &genesis, TEST_MAX_PENDING),
            Err(StoreError::NewerSchema(version)) if version == SCHEMA_VERSION + 1
        ));
        assert_eq!(
            stored_schema(&path),
            Some((SCHEMA_VERSION + 1).to_be_bytes().to_vec())
        );
    }

    /// The schema version a closed store's file records, as stored.
    /// Rewrites the store at `path` as a release of `schema` left it: with that version,
    /// and without the tables `missing` deletes, which that release did not have.
    fn as_written_by(path: &Path, schema: u64, missing: impl FnOnce(&redb::WriteTransaction)) {
        let db = open_database(path).expect("reopens");
        let txn = db.begin_write().expect("write");
        missing(&txn);
        txn.open_table(META)
            .expect("meta")
            .insert(SCHEMA_KEY, schema.to_be_bytes().as_slice())
            .expect("inserts");
        txn.commit().expect("commits");
    }

    fn stored_schema(path: &Path) -> Option<Vec<u8>> {
        let db = open_database(path).expect("reopens");
        let txn = db.begin_read().expect("read");
        let meta = txn.open_table(META).expect("meta");
        meta.get(SCHEMA_KEY)
            .expect("get")
            .map(|value| value.value().to_vec())
    }

    #[test]
    fn pending_posts_of_the_first_layout_are_kept_in_arrival_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let genesis = params().genesis();
        let (first, second) = (
            unsigned_arc("a", "first", 1.0),
            unsigned_arc("a", "second", 2.0),
        );
        {
            let db = Database::create(&path).expect("creates");
            let txn = db.begin_write().expect("write");
            {
                let mut meta = txn.open_table(META).expect("meta");
                meta.insert(GENESIS_KEY, genesis.hash().as_bytes().as_slice())
                    .expect("insert");
                let mut old = txn.open_table(MEMPOOL_BY_ID).expect("old table");
                for (arrival, tx) in [(7u64, &second), (3, &first)] {
                    let json =
                        serde_json::to_vec(&TransactionJson::from_transaction(tx)).expect("json");
                    old.insert(*tx.id().as_bytes(), (arrival, json.as_slice()))
                        .expect("insert");
                }
            }
            txn.commit().expect("commit");
        }
        let (_, loaded) =
            Store::open(&path, &genesis, TEST_MAX_PENDING).expect("opens and migrates");
        let pending: Vec<_> = loaded.mempool.iter().map(|tx| tx.id()).collect();
        assert_eq!(pending, vec![first.id(), second.id()]);
    }

    #[tokio::test]
    async fn a_post_pending_again_after_removal_survives_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        let genesis = params().genesis();
        let post = unsigned_arc("a", "back again", 1.0);
        {
            let (store, _) = Store::open(&path, &genesis, TEST_MAX_PENDING).expect("opens");
            let added = Batch {
                mempool_added: vec![post.clone()],
                ..Batch::default()
            };
            let removed = Batch {
                mempool_removed: vec![post.id()],
                ..Batch::default()
            };
            // Queued together, so they may share one commit: the index must follow each step.
            let writes = [
                store.write(added.clone()),
                store.write(removed.clone()),
                store.write(added),
            ];
            for write in writes {
                write.await.expect("durable");
            }
            store.write(removed).await.expect("durable");
            store
                .write(Batch {
                    mempool_added: vec![post.clone()],
                    ..Batch::default()
                })
                .await
                .expect("durable");
        }
        let (_, loaded) = Store::open(&path, &genesis, TEST_MAX_PENDING).expect("reopens");
        let pending: Vec<_> = loaded.mempool.iter().map(|tx| tx.id()).collect();
        assert_eq!(pending, vec![post.id()]);
    }

    #[tokio::test]
    async fn a_barrier_resolves_only_after_what_was_queued_before_it() {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = Store::open(
            &dir.path().join("chain.redb"),
            &params().genesis(),
            TEST_MAX_PENDING,
        )
        .expect("opens");
        for round in 0..20 {
            let write = store.write(Batch {
                mempool_added: vec![unsigned_arc("a", &round.to_string(), 1.0)],
                ..Batch::default()
            });
            store.barrier().await.expect("barrier");
            assert!(
                matches!(write.now_or_never(), Some(Ok(()))),
                "round {round}: the barrier passed a write still in flight"
            );
        }
    }

    #[test]
    fn the_writer_index_has_room_for_a_full_mempool_from_the_start() {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .expect("opens");
        check_network(&db, &params().genesis()).expect("a new database");
        let (_, pending) = load(&db, 50_000).expect("loads");
        assert!(pending.arrivals.capacity() >= 50_000);
    }

    #[tokio::test]
    async fn concurrent_batches_all_become_durable() {
        let (store, _) = Store::in_memory(&params().genesis(), TEST_MAX_PENDING).expect("opens");
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
