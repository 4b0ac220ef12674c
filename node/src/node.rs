//! The running node: the one owner of the chain state, and the glue between it, the store
//! and the miner.
//!
//! **Invariants**
//! - The chain state lives behind one mutex that is never held across an `.await`: lock,
//!   decide, queue the store batch, unlock, then await durability. Queuing under the lock
//!   makes the store commit batches in the order the state changed.
//! - A caller is told "accepted" only after the store has made the change durable.
//! - Signature checks and proof of work run on blocking threads, never on the runtime.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::chain::state::{BlockAccepted, CheckedTransaction, SubmitTxError};
use crate::chain::tree::CheckedBlock;
use crate::chain::{Block, BlockError, BlockHash, ChainState, InsertOutcome, Transaction, TxError};
use crate::miner;
use crate::store::{Batch, Store, StoreError};

/// Why the node could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The post was refused.
    #[error(transparent)]
    Transaction(#[from] SubmitTxError),
    /// The block was refused.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The change could not be made durable.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// The node is shutting down and takes no new work.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A blocking task died (a bug, never caused by input).
    #[error("internal task failed: {0}")]
    Internal(String),
}

impl From<TxError> for NodeError {
    fn from(error: TxError) -> Self {
        NodeError::Transaction(SubmitTxError::Invalid(error))
    }
}

/// What a request to mine achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MineOutcome {
    /// A block was mined and is on the best chain.
    Mined {
        /// Its height.
        index: u64,
        /// Its hash.
        hash: BlockHash,
    },
    /// The mempool was empty.
    NothingToMine,
}

/// Seconds since the Unix epoch, by this machine's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Seconds since the Unix epoch with a fraction, as the tutorial's `time.time()`.
pub fn unix_now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs_f64())
        .unwrap_or(0.0)
}

/// A chainpost node.
pub struct Node {
    chain: Mutex<ChainState>,
    store: Store,
    /// Serialises mining requests: one search at a time uses every core.
    mining_turn: tokio::sync::Mutex<()>,
    signals: Arc<Signals>,
    mining_threads: usize,
}

/// Flags that mining threads watch; shared by `Arc` because they outlive any borrow.
#[derive(Default)]
struct Signals {
    /// Bumped whenever the best tip moves, so a running search knows its template is stale.
    tip_generation: AtomicU64,
    mining: AtomicBool,
    shutting_down: AtomicBool,
}

impl Signals {
    fn should_stop(&self, generation: u64) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
            || self.tip_generation.load(Ordering::Relaxed) != generation
    }
}

impl Node {
    /// A node around restored state and an open store.
    pub fn new(chain: ChainState, store: Store, mining_threads: usize) -> Self {
        Node {
            chain: Mutex::new(chain),
            store,
            mining_turn: tokio::sync::Mutex::new(()),
            signals: Arc::default(),
            mining_threads: mining_threads.max(1),
        }
    }

    /// Runs `read` on the chain state. Keep it short: every writer waits for it.
    pub fn with_chain<R>(&self, read: impl FnOnce(&ChainState) -> R) -> R {
        read(&self.chain.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Whether a proof-of-work search is running.
    pub fn is_mining(&self) -> bool {
        self.signals.mining.load(Ordering::Relaxed)
    }

    /// Stops running searches and refuses new ones; called on graceful shutdown.
    pub fn begin_shutdown(&self) {
        self.signals.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Validates a post and, once it is durably pending, returns it.
    pub async fn submit_transaction(&self, tx: Transaction) -> Result<Arc<Transaction>, NodeError> {
        let params = self.with_chain(|chain| chain.params().clone());
        let now = unix_now();
        let checked = if tx.signature().is_some() {
            tokio::task::spawn_blocking(move || CheckedTransaction::check(tx, now, &params))
                .await
                .map_err(|error| NodeError::Internal(error.to_string()))??
        } else {
            CheckedTransaction::check(tx, now, &params)?
        };
        let tx = checked.transaction().clone();
        let durable = {
            let mut chain = self.lock_chain();
            chain.submit_transaction(checked)?;
            self.store.write(Batch {
                mempool_added: vec![tx.clone()],
                ..Batch::default()
            })
        };
        durable.await?;
        Ok(tx)
    }

    /// Fully validates a block from outside and adds it to the tree; answers once every
    /// change it caused is durable.
    pub async fn submit_block(
        &self,
        block: Block,
        claimed_hash: BlockHash,
    ) -> Result<BlockAccepted, NodeError> {
        let params = self.with_chain(|chain| chain.params().clone());
        let checked =
            tokio::task::spawn_blocking(move || CheckedBlock::check(block, &claimed_hash, &params))
                .await
                .map_err(|error| NodeError::Internal(error.to_string()))??;
        self.accept_checked_block(checked).await
    }

    async fn accept_checked_block(&self, block: CheckedBlock) -> Result<BlockAccepted, NodeError> {
        let (accepted, durable) = {
            let mut chain = self.lock_chain();
            let accepted = chain.submit_block(block, unix_now())?;
            let tree = chain.tree();
            let blocks = accepted
                .outcome
                .connected()
                .iter()
                .filter_map(|block| {
                    tree.get(&block.hash())
                        .map(|entry| (entry.seq, block.clone()))
                })
                .collect();
            let batch = Batch {
                blocks,
                best_tip: accepted.outcome.tip_changed().then(|| tree.tip().hash()),
                mempool_added: accepted.mempool_restored.clone(),
                mempool_removed: accepted.mempool_removed.clone(),
            };
            if accepted.outcome.tip_changed() {
                self.signals.tip_generation.fetch_add(1, Ordering::Relaxed);
            }
            let durable = (!batch.is_empty()).then(|| self.store.write(batch));
            (accepted, durable)
        };
        if let Some(durable) = durable {
            durable.await?;
        }
        log_outcome(&accepted.outcome);
        Ok(accepted)
    }

    /// Mines the pending posts into a block on the best tip, as the tutorial's `/mine`.
    /// Restarts on the new tip if a better block arrives meanwhile; gives up if the node
    /// shuts down or the returned future is dropped.
    pub async fn mine(&self) -> Result<MineOutcome, NodeError> {
        let _turn = self.mining_turn.lock().await;
        let cancel = CancelOnDrop::default();
        loop {
            if self.signals.shutting_down.load(Ordering::Relaxed) {
                return Err(NodeError::ShuttingDown);
            }
            let (template, generation) = self.with_chain(|chain| {
                (
                    chain.block_template(unix_now()),
                    self.signals.tip_generation.load(Ordering::Relaxed),
                )
            });
            let Some(template) = template else {
                return Ok(MineOutcome::NothingToMine);
            };
            let threads = self.mining_threads;
            let cancelled = cancel.flag.clone();
            let signals = self.signals.clone();
            let started = Instant::now();
            let searching = Searching::start(&self.signals);
            // If this future is dropped mid-search, `cancel` stops the threads.
            let run = tokio::task::spawn_blocking(move || {
                miner::mine(template, threads, &|| {
                    cancelled.load(Ordering::Relaxed) || signals.should_stop(generation)
                })
            })
            .await;
            drop(searching);
            let run = run.map_err(|error| NodeError::Internal(error.to_string()))?;
            let Some(block) = run.block else {
                continue; // stale template or shutdown: the loop head decides
            };
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(
                index = block.header().index,
                hash = %block.hash(),
                hashes = run.hashes,
                rate = format!("{:.2} MH/s", run.hashes as f64 / seconds.max(1e-9) / 1e6),
                "mined a block"
            );
            let (index, hash) = (block.header().index, block.hash());
            let accepted = self
                .accept_checked_block(CheckedBlock::assume_checked(block))
                .await?;
            if accepted.outcome.tip_changed() {
                return Ok(MineOutcome::Mined { index, hash });
            }
        }
    }

    fn lock_chain(&self) -> std::sync::MutexGuard<'_, ChainState> {
        self.chain.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks a search as running for as long as it lives, however the search ends.
struct Searching<'a>(&'a Signals);

impl<'a> Searching<'a> {
    fn start(signals: &'a Signals) -> Self {
        signals.mining.store(true, Ordering::Relaxed);
        Searching(signals)
    }
}

impl Drop for Searching<'_> {
    fn drop(&mut self) {
        self.0.mining.store(false, Ordering::Relaxed);
    }
}

/// Sets its flag when dropped, so abandoning a request stops the search it started.
#[derive(Default)]
struct CancelOnDrop {
    flag: Arc<AtomicBool>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.flag.store(true, Ordering::Relaxed);
    }
}

fn log_outcome(outcome: &InsertOutcome) {
    match outcome {
        InsertOutcome::Extended { applied, .. } => {
            if let Some(tip) = applied.last() {
                tracing::info!(height = tip.header().index, hash = %tip.hash(), "best chain extended");
            }
        }
        InsertOutcome::Reorganized {
            reverted, applied, ..
        } => tracing::warn!(
            reverted = reverted.len(),
            applied = applied.len(),
            "reorganized to a heavier branch"
        ),
        InsertOutcome::SideBranch { connected } => {
            tracing::info!(blocks = connected.len(), "stored a side-branch block")
        }
        InsertOutcome::AlreadyKnown => tracing::debug!("block already known"),
        InsertOutcome::UnknownParent { missing } => {
            tracing::info!(%missing, "holding a block until its ancestors arrive")
        }
    }
}
