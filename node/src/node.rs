//! The running node: the one owner of the chain state, and the glue between it, the store
//! and the miner.
//!
//! **Invariants**
//! - The chain state lives behind one mutex that is never held across an `.await`: lock,
//!   decide, queue the store batch, unlock, then await durability. Queuing under the lock
//!   makes the store commit batches in the order the state changed.
//! - A caller is told "accepted" only after the store has made the change durable.
//! - What the store could not commit does not stay in memory: on a failed commit the state
//!   is rolled back to what the store holds, under the lock, before the store takes
//!   writes again; until that failure is answered, reads may show its changes, as they
//!   may show any commit in flight.
//! - Signature checks and proof of work run on blocking threads, never on the runtime.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use chainpost_edge::clock::unix_now;

use chainpost_chain::state::{
    BlockAccepted, ChainSummary, CheckedTransaction, RestoreError, SubmitTxError,
};
use chainpost_chain::tree::CheckedBlock;
use indexmap::IndexMap;
use tokio::sync::{Notify, mpsc};

use chainpost_chain::block::merkle_root;

use crate::event_log::EventLog;
use crate::metrics::Metrics;
use crate::miner::{self, MiningOptions, SimulatedDiscovery};
use crate::peer_url::PeerUrl;
use crate::store::{Batch, ChainStep, CommitFailure, Durable, Store, StoreError};
use chainpost_chain::{
    Block, BlockError, BlockHash, ChainParams, ChainState, InsertOutcome, Transaction, TxError,
    TxId,
};

/// Why the node could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The post was refused.
    #[error(transparent)]
    Transaction(#[from] SubmitTxError),
    /// The block was refused.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The change could not be made durable, and was undone.
    #[error(transparent)]
    Storage(#[from] StoreError),
    /// The node is shutting down and takes no new work.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A bug, never caused by input.
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// What can only go wrong through a bug in the node.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// A blocking task panicked or was cancelled.
    #[error("internal task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A batch of one block answered for none.
    #[error("internal error: a block vanished from its batch")]
    BlockVanished,
    /// The slots for heavy reads were closed, which nothing does.
    #[error("internal error: {0}")]
    SlotsClosed(#[from] tokio::sync::AcquireError),
    /// The threads for heavy reads ended while the node still had work for them.
    #[error("internal error: the threads for large answers are gone")]
    HeavyReadsGone,
    /// Building a large answer panicked.
    #[error("internal error: building a large answer failed")]
    HeavyReadPanicked,
    /// An answer could not be encoded as JSON.
    #[error("internal error: cannot encode an answer: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<tokio::task::JoinError> for NodeError {
    fn from(error: tokio::task::JoinError) -> Self {
        NodeError::Internal(error.into())
    }
}

impl From<TxError> for NodeError {
    fn from(error: TxError) -> Self {
        NodeError::Transaction(SubmitTxError::Invalid(error))
    }
}

/// What a request to mine achieved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MineOutcome {
    /// A block was mined and is on the best chain.
    Mined { index: u64, hash: BlockHash },
    /// The mempool was empty.
    NothingToMine,
}

pub struct Node {
    chain: Mutex<ChainState>,
    /// The chain state's summary as of its last durable change, so that `/status` and the
    /// network read it without the lock and never see what a crash could take away (nor a
    /// tip whose posts the store's readers do not show yet).
    summary: Arc<RwLock<Summary>>,
    /// Numbers the summaries taken under the chain lock, so a later change's summary is
    /// never replaced by an earlier one whose commit finished after it.
    summaries_taken: AtomicU64,
    /// The network's rules, fixed for the node's life (a copy of the chain state's).
    params: ChainParams,
    store: Store,
    /// Serialises mining requests: one search at a time uses every core.
    mining_turn: tokio::sync::Mutex<()>,
    signals: Arc<Signals>,
    mining: MiningOptions,
    /// The discovery times of simulated mining (`--simulated-mining-seed`).
    simulated: Option<Mutex<SimulatedDiscovery>>,
    events: Option<mpsc::Sender<NodeEvent>>,
    /// Woken when posts become pending, for continuous mining.
    pending: Notify,
    metrics: Arc<Metrics>,
    /// The last store failure rolled back; locked only under the chain lock.
    rolled_back: Mutex<CommitFailure>,
    event_log: EventLog,
}

/// Where a block or post came from: the sending peer, when a peer says so.
pub(crate) type Origin = Option<PeerUrl>;

/// What the node tells the network about, after the change is durable.
#[derive(Debug, Clone)]
pub(crate) enum NodeEvent {
    /// A post became pending.
    Transaction {
        tx: Arc<Transaction>,
        origin: Origin,
    },
    /// Blocks connected to the tree (best chain or side branch), parents first.
    Blocks {
        blocks: Vec<Arc<Block>>,
        origin: Origin,
    },
    /// A block arrived whose ancestor `hash` is unknown.
    MissingAncestor {
        /// The earliest missing ancestor.
        hash: BlockHash,
        /// Who sent the block.
        origin: Origin,
    },
}

/// What [`Node::submit_blocks`] did.
#[derive(Debug)]
pub struct BlocksSubmitted {
    /// The blocks accepted, in order.
    pub(crate) accepted: Vec<BlockAccepted>,
    /// Why it stopped early, if it did.
    pub error: Option<NodeError>,
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
    /// A node around restored state and an open store; `events` receives what the network
    /// should hear about (none for a node without peers).
    pub(crate) fn new(
        chain: ChainState,
        store: Store,
        mining: MiningOptions,
        events: Option<mpsc::Sender<NodeEvent>>,
    ) -> Self {
        Node {
            summary: Arc::new(RwLock::new(Summary {
                number: 0,
                summary: Arc::new(chain.summary()),
            })),
            summaries_taken: AtomicU64::new(0),
            params: chain.params().clone(),
            chain: Mutex::new(chain),
            store,
            events,
            pending: Notify::new(),
            metrics: Arc::default(),
            rolled_back: Mutex::default(),
            event_log: EventLog::off(),
            mining_turn: tokio::sync::Mutex::new(()),
            signals: Arc::default(),
            mining: MiningOptions {
                threads: mining.threads.max(1),
                ..mining
            },
            simulated: mining
                .simulated_seed
                .map(|seed| Mutex::new(SimulatedDiscovery::new(seed))),
        }
    }

    /// The node, writing what it mines, connects and reorganizes to `event_log`.
    pub(crate) fn with_event_log(self, event_log: EventLog) -> Self {
        Node { event_log, ..self }
    }

    /// Runs `read` on the chain state. Keep it short: every writer waits for it.
    pub fn with_chain<R>(&self, read: impl FnOnce(&ChainState) -> R) -> R {
        read(&self.chain.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The chain state at a glance as of its last durable change; never waits for the
    /// chain lock.
    pub fn summary(&self) -> Arc<ChainSummary> {
        self.summary
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .summary
            .clone()
    }

    /// The summary of `chain` as the lock holder leaves it, to publish once its changes
    /// are durable.
    fn take_summary(&self, chain: &ChainState) -> Summary {
        Summary {
            number: self.summaries_taken.fetch_add(1, Ordering::Relaxed) + 1,
            summary: Arc::new(chain.summary()),
        }
    }

    /// Updates the published count of block bodies held in memory, which `mark_durable`
    /// just lowered. The count is memory's, not the chain's, so it may be newer than the
    /// rest of the published summary.
    fn refresh_held_body_bytes(&self, chain: &ChainState) {
        let mut published = self.summary.write().unwrap_or_else(PoisonError::into_inner);
        Arc::make_mut(&mut published.summary).held_body_bytes = chain.tree().held_body_bytes();
    }

    /// Queues `batch` (which may be empty: a barrier) with the summary of `chain` after it,
    /// which the store's writer publishes once the batch is durable. Call under the lock
    /// that changed `chain`, so queue order is the order of the changes.
    fn write_and_publish(&self, batch: Batch, chain: &ChainState) -> Durable {
        let summary = self.take_summary(chain);
        let published = self.summary.clone();
        self.store
            .write_then(batch, Box::new(move || publish(&published, summary)))
    }

    /// Whether a proof-of-work search is running.
    pub(crate) fn is_mining(&self) -> bool {
        self.signals.mining.load(Ordering::Relaxed)
    }

    /// Stops running searches and refuses new ones; called on graceful shutdown.
    pub(crate) fn begin_shutdown(&self) {
        self.signals.shutting_down.store(true, Ordering::Relaxed);
    }

    /// Validates a post and, once it is durably pending, returns it and tells the network.
    pub(crate) async fn submit_transaction(
        &self,
        tx: Transaction,
        origin: Origin,
    ) -> Result<Arc<Transaction>, NodeError> {
        self.writable()?;
        let params = self.params();
        let now = unix_now();
        let checked = if tx.signature().is_some() {
            tokio::task::spawn_blocking(move || CheckedTransaction::check(tx, now, &params))
                .await
                .map_err(NodeError::from)??
        } else {
            CheckedTransaction::check(tx, now, &params)?
        };
        let tx = checked.transaction().clone();
        let submitted = {
            let mut chain = self.lock_chain();
            match chain.submit_transaction(checked) {
                Ok(()) => Ok(self.write_and_publish(
                    Batch {
                        mempool_added: vec![tx.clone()],
                        ..Batch::default()
                    },
                    &chain,
                )),
                // "Already pending" may name a post whose commit is still in flight: the
                // refusal waits for it, so it never names a post a crash could take away.
                Err(refused) => Err((self.store.barrier(), refused)),
            }
        };
        match submitted {
            Ok(durable) => durable.await.map_err(|error| self.storage_failed(error))?,
            Err((barrier, refused)) => {
                barrier.await.map_err(|error| self.storage_failed(error))?;
                return Err(refused.into());
            }
        }
        self.pending.notify_waiters();
        self.emit(NodeEvent::Transaction {
            tx: tx.clone(),
            origin,
        });
        Ok(tx)
    }

    /// Fully validates a block from outside and adds it to the tree; answers once every
    /// change it caused is durable.
    pub(crate) async fn submit_block(
        &self,
        block: Block,
        claimed_hash: BlockHash,
        origin: Origin,
    ) -> Result<BlockAccepted, NodeError> {
        let mut batch = self
            .submit_blocks(vec![(block, claimed_hash)], origin)
            .await;
        match (batch.error, batch.accepted.pop()) {
            (Some(error), _) => Err(error),
            (None, Some(accepted)) => Ok(accepted),
            (None, None) => Err(InternalError::BlockVanished.into()),
        }
    }

    /// Validates a run of blocks (parents first), their signatures in parallel on every
    /// core, and adds them in order under one lock and one commit. Stops at the first
    /// invalid block: the ones before it are kept, the error says why it stopped.
    pub async fn submit_blocks(
        &self,
        blocks: Vec<(Block, BlockHash)>,
        origin: Origin,
    ) -> BlocksSubmitted {
        if let Err(error) = self.writable() {
            return BlocksSubmitted {
                accepted: Vec::new(),
                error: Some(error),
            };
        }
        let (known, blocks) = self.split_known(blocks);
        if blocks.is_empty() {
            // "Already known" may name a block whose commit is still in flight.
            return match self.store.barrier().await {
                Ok(()) => BlocksSubmitted {
                    accepted: known,
                    error: None,
                },
                Err(error) => BlocksSubmitted {
                    accepted: Vec::new(),
                    error: Some(self.storage_failed(error)),
                },
            };
        }
        let params = self.params();
        let threads = self.mining.threads;
        let checked =
            tokio::task::spawn_blocking(move || check_in_parallel(blocks, &params, threads)).await;
        let (checked, mut error) = match checked {
            Ok((checked, error)) => (checked, error.map(NodeError::from)),
            Err(join) => (Vec::new(), Some(join.into())),
        };
        let (accepted, accept_error) = self.accept_checked_blocks(checked, origin).await;
        if accept_error.is_some() {
            error = accept_error;
        }
        if let Some(NodeError::Block(rejected)) = &error {
            Metrics::count(&self.metrics.blocks_rejected, rejected.reason());
        }
        let mut all = known;
        all.extend(accepted);
        BlocksSubmitted {
            accepted: all,
            error,
        }
    }

    /// Splits off the leading blocks this node already has, so replaying a known block
    /// costs a header and a merkle hash, not its signature checks. A known header with
    /// other posts than its merkle root commits to is not "known": it goes on to be
    /// refused by validation.
    fn split_known(
        &self,
        blocks: Vec<(Block, BlockHash)>,
    ) -> (Vec<BlockAccepted>, Vec<(Block, BlockHash)>) {
        let mut known = Vec::new();
        let mut rest = blocks.into_iter().peekable();
        while let Some((block, claimed)) = rest.peek() {
            let is_known = *claimed == block.hash()
                && merkle_root(block.transactions()) == block.header().merkle_root
                && self.with_chain(|chain| chain.tree().contains(claimed));
            if !is_known {
                break;
            }
            rest.next();
            known.push(BlockAccepted {
                outcome: InsertOutcome::AlreadyKnown,
                mempool_removed: Vec::new(),
                mempool_restored: Vec::new(),
            });
        }
        (known, rest.collect())
    }

    fn writable(&self) -> Result<(), NodeError> {
        if self.signals.shutting_down.load(Ordering::Relaxed) {
            return Err(NodeError::ShuttingDown);
        }
        Ok(())
    }

    /// Handles an error of a store write: after a failed commit, rolls memory back to what
    /// the store holds and lets it write again. Returns the error to report.
    pub(crate) fn storage_failed(&self, error: StoreError) -> NodeError {
        if let StoreError::NotCommitted { failure, .. } = &error {
            self.roll_back_to_store(*failure);
        }
        NodeError::Storage(error)
    }

    /// Undoes every change the store refused after `failure`, once however many callers
    /// report it. The store commits nothing until `resume`, so what it holds stands still;
    /// resuming under the lock means every later batch was decided on the rolled-back state.
    fn roll_back_to_store(&self, failure: CommitFailure) {
        let mut chain = self.lock_chain();
        let mut rolled_back = self
            .rolled_back
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *rolled_back >= failure {
            return;
        }
        let old_tip = chain.tree().tip().hash();
        let rewound = self.store.with_committed(|disk| {
            let (blocks, pending) = (chain.tree().last_seq(), chain.mempool().len());
            if blocks == disk.last_block_seq() {
                // Only admissions failed: they are the newest pending posts.
                chain.forget_newest_pending(|id| !disk.is_pending(id));
            }
            if chain.tree().last_seq() != disk.last_block_seq()
                || chain.mempool().len() != disk.pending_count()
            {
                // Blocks failed: replay the stored ones (the costly case, under the lock).
                *chain = chain.rewound(disk.last_block_seq(), &disk.pending_in_arrival_order())?;
            }
            tracing::warn!(
                blocks_undone = blocks.saturating_sub(chain.tree().last_seq()),
                pending_before = pending,
                pending_now = chain.mempool().len(),
                "rolled back what the store could not commit"
            );
            Ok::<_, RestoreError>(())
        });
        *rolled_back = failure;
        if let Err(error) = rewound {
            // Memory may hold what the disk lacks: better refuse every write than build on it.
            tracing::error!(%error, "cannot roll back to what the store holds; writes stay refused until the node restarts");
            return;
        }
        if chain.tree().tip().hash() != old_tip {
            self.signals.tip_generation.fetch_add(1, Ordering::Relaxed);
        }
        // Memory is what the disk holds again.
        publish(&self.summary, self.take_summary(&chain));
        self.store.resume(failure);
    }

    async fn accept_checked_blocks(
        &self,
        blocks: Vec<CheckedBlock>,
        origin: Origin,
    ) -> (Vec<BlockAccepted>, Option<NodeError>) {
        let inserted = self.insert_blocks(blocks);
        // With nothing of its own to commit, the wait is a barrier: the answer then comes
        // after the summary that shows this insert (an orphan held, say) is published.
        if let Err(failed) = inserted.durable.await {
            return (Vec::new(), Some(self.storage_failed(failed)));
        }
        if inserted.wrote {
            // The store can give these bodies back now, so memory need not keep them.
            let mut chain = self.lock_chain();
            chain.mark_durable(inserted.last_seq);
            self.refresh_held_body_bytes(&chain);
        }
        for accepted in &inserted.accepted {
            self.announce(accepted, &origin);
        }
        (inserted.accepted, inserted.refused)
    }

    /// Inserts blocks (parents first) under the chain lock, stopping at the first refused,
    /// and queues one store batch of all they changed.
    fn insert_blocks(&self, blocks: Vec<CheckedBlock>) -> Inserted {
        let mut accepted = Vec::with_capacity(blocks.len());
        let mut refused = None;
        let mut chain = self.lock_chain();
        let mut batch = Batch::default();
        let mut mempool = MempoolChanges::default();
        let old_tip = chain.tree().tip().hash();
        let ahead = work_ahead_in_batch(&blocks);
        for (block, work_ahead) in blocks.into_iter().zip(ahead) {
            match chain.submit_block_ahead_of(block, unix_now(), work_ahead) {
                Ok(one) => {
                    let tree = chain.tree();
                    batch
                        .blocks
                        .extend(one.outcome.connected().iter().filter_map(|block| {
                            tree.get(&block.hash())
                                .map(|entry| (entry.seq, block.clone()))
                        }));
                    batch.best_chain.extend(best_chain_steps(&one.outcome));
                    mempool.record(&one);
                    accepted.push(one);
                }
                Err(rejected) => {
                    refused = Some(NodeError::Block(rejected));
                    break;
                }
            }
        }
        (batch.mempool_removed, batch.mempool_added) = mempool.into_parts();
        let tip = chain.tree().tip().hash();
        if tip != old_tip {
            batch.best_tip = Some(tip);
            self.signals.tip_generation.fetch_add(1, Ordering::Relaxed);
        }
        Inserted {
            accepted,
            refused,
            last_seq: chain.tree().last_seq(),
            // An empty batch is a barrier: the summary may show an earlier insert's change.
            wrote: !batch.is_empty(),
            durable: self.write_and_publish(batch, &chain),
        }
    }

    /// Tells logs, metrics, the event stream, continuous mining and the network what a
    /// durable insert did.
    fn announce(&self, accepted: &BlockAccepted, origin: &Origin) {
        log_outcome(&accepted.outcome);
        self.event_log.outcome(&accepted.outcome);
        Metrics::count(&self.metrics.blocks_accepted, accepted.outcome.name());
        if let InsertOutcome::Reorganized { reverted, .. } = &accepted.outcome {
            self.metrics.reorgs.inc();
            self.metrics.reorg_depth.observe(reverted.len() as f64);
        }
        if !accepted.mempool_restored.is_empty() {
            self.pending.notify_waiters();
        }
        match &accepted.outcome {
            InsertOutcome::UnknownParent { missing } => self.emit(NodeEvent::MissingAncestor {
                hash: *missing,
                origin: origin.clone(),
            }),
            // Only what extends or becomes the best chain is relayed: a side block
            // (honest or not) stops here, as in Bitcoin Core.
            InsertOutcome::Extended { applied, .. }
            | InsertOutcome::Reorganized { applied, .. } => self.emit(NodeEvent::Blocks {
                blocks: applied.clone(),
                origin: origin.clone(),
            }),
            _ => {}
        }
    }

    /// Waits until there is something to mine: at least one post pending, or nothing at
    /// all when the node mines empty blocks.
    pub(crate) async fn wait_for_work(&self) {
        if self.mining.empty_blocks {
            return;
        }
        loop {
            let notified = self.pending.notified();
            if !self.with_chain(|chain| chain.mempool().is_empty()) {
                return;
            }
            notified.await;
        }
    }

    fn emit(&self, event: NodeEvent) {
        if let Some(events) = &self.events
            && let Err(error) = events.try_send(event)
        {
            // Gossip is best effort; periodic sync repairs whatever a full queue drops.
            tracing::warn!(%error, "network queue full; an announcement was dropped");
        }
    }

    pub(crate) fn params(&self) -> ChainParams {
        self.params.clone()
    }

    pub(crate) fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The store, for the shell modules that persist their own state (peers).
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// Mines the pending posts (or, with empty blocks allowed, none) into a block on the
    /// best tip, as the tutorial's `/mine`.
    /// Restarts on the new tip if a better block arrives meanwhile; gives up if the node
    /// shuts down or the returned future is dropped.
    pub(crate) async fn mine(&self) -> Result<MineOutcome, NodeError> {
        let _turn = self.mining_turn.lock().await;
        let cancel = CancelOnDrop::default();
        loop {
            if self.signals.shutting_down.load(Ordering::Relaxed) {
                return Err(NodeError::ShuttingDown);
            }
            let (template, generation) = self.with_chain(|chain| {
                (
                    chain.block_template(unix_now(), self.mining.empty_blocks),
                    self.signals.tip_generation.load(Ordering::Relaxed),
                )
            });
            let Some(template) = template else {
                return Ok(MineOutcome::NothingToMine);
            };
            let MiningOptions {
                threads, hash_rate, ..
            } = self.mining;
            let simulated_wait = self.simulated.as_ref().map(|discovery| {
                let mut discovery = discovery.lock().unwrap_or_else(PoisonError::into_inner);
                discovery.next_wait(template.header.difficulty, hash_rate.unwrap_or(1))
            });
            let cancelled = cancel.flag.clone();
            let signals = self.signals.clone();
            let started = Instant::now();
            // Held until the block found is connected, so `/status` never shows a node as
            // idle with a block of its own still on the way to its tip.
            let _searching = Searching::start(&self.signals);
            // If this future is dropped mid-search, `cancel` stops the threads.
            let run = tokio::task::spawn_blocking(move || {
                let should_stop =
                    || cancelled.load(Ordering::Relaxed) || signals.should_stop(generation);
                match simulated_wait {
                    Some(wait) => {
                        miner::mine_after(wait, template, rand::random(), threads, &should_stop)
                    }
                    None => miner::mine(template, rand::random(), threads, hash_rate, &should_stop),
                }
            })
            .await;
            let run = run?;
            let Some(block) = run.block else {
                continue; // stale template or shutdown: the loop head decides
            };
            let seconds = started.elapsed().as_secs_f64();
            self.metrics
                .hash_rate
                .set(run.hashes as f64 / seconds.max(1e-9));
            tracing::info!(
                index = block.header().index,
                hash = %block.hash(),
                hashes = run.hashes,
                rate = format!("{:.2} MH/s", run.hashes as f64 / seconds.max(1e-9) / 1e6),
                "mined a block"
            );
            let (index, hash) = (block.header().index, block.hash());
            self.event_log.mined(index, hash);
            // Our own block passes the same checks as anyone's before we build on it.
            let submitted = self.submit_blocks(vec![(block, hash)], None).await;
            if let Some(error) = submitted.error {
                return Err(error);
            }
            if submitted
                .accepted
                .iter()
                .any(|accepted| accepted.outcome.tip_changed())
            {
                return Ok(MineOutcome::Mined { index, hash });
            }
        }
    }

    /// The chain state, to change it; whoever changes it publishes its summary once the
    /// change is durable.
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

/// Runs the standalone checks of `blocks` on up to `threads` threads; returns the checked
/// prefix and the error of the first invalid block.
fn check_in_parallel(
    blocks: Vec<(Block, BlockHash)>,
    params: &ChainParams,
    threads: usize,
) -> (Vec<CheckedBlock>, Option<BlockError>) {
    let chunk = blocks.len().div_ceil(threads.max(1)).max(1);
    let mut results: Vec<Result<CheckedBlock, BlockError>> = Vec::with_capacity(blocks.len());
    let mut blocks = blocks.into_iter();
    std::thread::scope(|scope| {
        let mut handles = Vec::new();
        loop {
            let part: Vec<_> = blocks.by_ref().take(chunk).collect();
            if part.is_empty() {
                break;
            }
            handles.push(scope.spawn(move || {
                part.into_iter()
                    .map(|(block, claimed)| CheckedBlock::check(block, &claimed, params))
                    .collect::<Vec<_>>()
            }));
        }
        for handle in handles {
            // A panic here is a bug; let it reach spawn_blocking, which reports it.
            match handle.join() {
                Ok(part) => results.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    let mut checked = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(block) => checked.push(block),
            Err(error) => return (checked, Some(error)),
        }
    }
    (checked, None)
}

/// What [`Node::insert_blocks`] did under the lock; the caller awaits `durable`.
struct Inserted {
    accepted: Vec<BlockAccepted>,
    refused: Option<NodeError>,
    /// The connection number of the last block connected by then.
    last_seq: u64,
    /// The commit of everything `accepted` changed: a barrier when nothing did.
    durable: Durable,
    /// Whether anything was written.
    wrote: bool,
}

/// The chain state's summary, numbered in the order the chain lock was held.
struct Summary {
    number: u64,
    summary: Arc<ChainSummary>,
}

/// Publishes `summary` unless a later one is out already (a rollback publishes at once,
/// from another thread than the store's writer).
fn publish(published: &RwLock<Summary>, summary: Summary) {
    let mut published = published.write().unwrap_or_else(PoisonError::into_inner);
    if summary.number > published.number {
        *published = summary;
    }
}

/// The net mempool change of a run of inserts, for one store batch.
#[derive(Default)]
struct MempoolChanges {
    removed: HashSet<TxId>,
    restored: IndexMap<TxId, Arc<Transaction>>,
}

impl MempoolChanges {
    fn record(&mut self, accepted: &BlockAccepted) {
        // Removals and restorations apply in order, so replaying them keeps the stored
        // mempool equal to the one in memory.
        for tx in &accepted.mempool_restored {
            self.removed.remove(&tx.id());
            self.restored.insert(tx.id(), tx.clone());
        }
        for id in &accepted.mempool_removed {
            self.restored.shift_remove(id);
            self.removed.insert(*id);
        }
    }

    fn into_parts(self) -> (Vec<TxId>, Vec<Arc<Transaction>>) {
        (
            self.removed.into_iter().collect(),
            self.restored.into_values().collect(),
        )
    }
}

/// How an insert moved the best chain: the reverted blocks off it (tip first), then the
/// applied ones on (oldest first).
fn best_chain_steps(outcome: &InsertOutcome) -> Vec<ChainStep> {
    let (reverted, applied) = outcome.best_chain_change();
    let reverted = reverted.iter().rev().cloned().map(ChainStep::Revert);
    let applied = applied.iter().cloned().map(ChainStep::Apply);
    reverted.chain(applied).collect()
}

/// Logs what a durable insert did, for operators; research mode reads the event log.
fn log_outcome(outcome: &InsertOutcome) {
    for block in outcome.connected() {
        tracing::info!(height = block.header().index, hash = %block.hash(), "block connected");
    }
    match outcome {
        InsertOutcome::Reorganized {
            reverted, applied, ..
        } => tracing::warn!(
            reverted = reverted.len(),
            applied = applied.len(),
            "reorganized to a heavier branch"
        ),
        InsertOutcome::AlreadyKnown => tracing::debug!("block already known"),
        InsertOutcome::UnknownParent { missing } => {
            tracing::info!(%missing, "holding a block until its ancestors arrive")
        }
        InsertOutcome::Extended { .. } | InsertOutcome::SideBranch { .. } => {}
    }
}

/// For each block of a batch, the work of the blocks after it that descend from it one by
/// one (a sync page is such a chain): a branch is judged by where the batch takes it.
fn work_ahead_in_batch(blocks: &[CheckedBlock]) -> Vec<u128> {
    let mut ahead = vec![0_u128; blocks.len()];
    for index in (0..blocks.len().saturating_sub(1)).rev() {
        let (block, next) = (blocks[index].block(), blocks[index + 1].block());
        if next.header().previous_hash == block.hash() {
            ahead[index] = ahead[index + 1]
                .saturating_add(chainpost_chain::pow::work(next.header().difficulty));
        }
    }
    ahead
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_chain::mempool::MempoolLimits;
    use chainpost_chain::test_support::{unmined_child, unsigned};
    use std::time::Duration;

    /// A node whose difficulty no test can mine: its searches end only by being stopped.
    fn unmineable_node() -> Arc<Node> {
        let params = ChainParams::new(48, false).expect("valid");
        let limits = MempoolLimits::default();
        let (store, _) = Store::in_memory(&params.genesis(), limits.max_count).expect("store");
        let chain = ChainState::new(params, limits);
        let mining = MiningOptions {
            threads: 2,
            hash_rate: None,
            simulated_seed: None,
            empty_blocks: false,
        };
        Arc::new(Node::new(chain, store, mining, None))
    }

    /// Memory that refuses every write once `full` is set, as a full disk does.
    #[derive(Debug)]
    struct FillableMemory {
        memory: redb::backends::InMemoryBackend,
        full: Arc<AtomicBool>,
    }

    impl FillableMemory {
        fn refuse_if_full(&self) -> Result<(), std::io::Error> {
            if self.full.load(Ordering::Relaxed) {
                return Err(std::io::ErrorKind::StorageFull.into());
            }
            Ok(())
        }
    }

    impl redb::StorageBackend for FillableMemory {
        fn len(&self) -> Result<u64, std::io::Error> {
            self.memory.len()
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
            self.memory.read(offset, out)
        }

        fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
            self.refuse_if_full()?;
            self.memory.set_len(len)
        }

        fn sync_data(&self) -> Result<(), std::io::Error> {
            self.memory.sync_data()
        }

        fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
            self.refuse_if_full()?;
            self.memory.write(offset, data)
        }
    }

    #[tokio::test]
    async fn a_block_whose_commit_fails_is_undone_and_its_posts_are_pending_again() {
        let params = ChainParams::new(0, false).expect("valid");
        let genesis = params.genesis();
        let limits = MempoolLimits::default();
        let full = Arc::new(AtomicBool::new(false));
        let memory = FillableMemory {
            memory: redb::backends::InMemoryBackend::new(),
            full: full.clone(),
        };
        let (store, _) = Store::on_backend(memory, &genesis, limits.max_count).expect("store");
        let mining = MiningOptions {
            threads: 1,
            hash_rate: None,
            simulated_seed: None,
            empty_blocks: false,
        };
        let node = Node::new(ChainState::new(params.clone(), limits), store, mining, None);
        let post = unsigned("alice", "confirmed, then not", unix_now() as f64);
        let post = node.submit_transaction(post, None).await.expect("admitted");

        full.store(true, Ordering::Relaxed);
        let block = unmined_child(&genesis, vec![post.clone()], &params);
        let (accepted, error) = node
            .accept_checked_blocks(vec![CheckedBlock::assume_checked(block)], None)
            .await;
        assert!(
            matches!(
                error,
                Some(NodeError::Storage(StoreError::NotCommitted { .. }))
            ),
            "{error:?}"
        );
        assert!(accepted.is_empty());
        node.with_chain(|chain| {
            assert_eq!(chain.tree().tip().hash(), genesis.hash());
            assert_eq!(chain.tree().len(), 1);
            let pending: Vec<_> = chain.mempool().iter().map(|tx| tx.id()).collect();
            assert_eq!(pending, vec![post.id()]);
        });

        // This store cannot be reopened, so every later write fails, and is undone too.
        let refused = unsigned("alice", "refused", unix_now() as f64);
        assert!(matches!(
            node.submit_transaction(refused, None).await,
            Err(NodeError::Storage(_))
        ));
        node.with_chain(|chain| assert_eq!(chain.mempool().len(), 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_better_tip_stops_the_running_search_and_mining_moves_on() {
        let node = unmineable_node();
        let post = unsigned("alice", "mined elsewhere", unix_now() as f64);
        let post = node.submit_transaction(post, None).await.expect("admitted");
        let miner = tokio::spawn({
            let node = node.clone();
            async move { node.mine().await }
        });
        while !node.is_mining() {
            tokio::task::yield_now().await;
        }

        // Another miner's block confirms the post. (Its proof of work is not what this
        // test is about, so it enters past the standalone checks.)
        let genesis = node.params().genesis();
        let params = node.params();
        let rival = unmined_child(&genesis, vec![post.clone()], &params);
        let (accepted, error) = node
            .accept_checked_blocks(vec![CheckedBlock::assume_checked(rival)], None)
            .await;
        assert!(error.is_none() && accepted[0].outcome.tip_changed());

        // The search on the stale template stops, and with nothing left to mine the
        // request ends; the guard only keeps a broken build from hanging the suite.
        let outcome = tokio::time::timeout(Duration::from_secs(60), miner)
            .await
            .expect("the search stopped")
            .expect("mining task");
        assert_eq!(outcome.expect("mined"), MineOutcome::NothingToMine);
        assert!(!node.is_mining());
    }

    /// A change whose caller stops waiting for its commit (a client that hangs up, a sync
    /// that times out) is still published once durable: the store's writer publishes it.
    #[tokio::test]
    async fn a_change_whose_caller_gave_up_waiting_is_published_once_durable() {
        let node = unmineable_node();
        let (mut given_up, posts) = (0, 20);
        for number in 0..posts {
            let post = unsigned("alice", &format!("given up {number}"), unix_now() as f64);
            // Polled once: the post is queued under the lock, then the wait for its commit
            // is dropped, unless the commit was already done.
            let submitted = node.submit_transaction(post, None);
            given_up += usize::from(
                tokio::time::timeout(Duration::ZERO, submitted)
                    .await
                    .is_err(),
            );
        }
        assert!(given_up > 0, "every commit finished within its first poll");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while node.summary().mempool_size < posts {
            assert!(
                std::time::Instant::now() < deadline,
                "the summary shows {} of {posts} durable posts",
                node.summary().mempool_size
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
