//! The node's chain state: the block tree and the mempool, kept consistent with each other.
//!
//! **Invariant:** every post this state ever accepted, into the mempool or in a connected
//! block, is either confirmed on the best chain or pending in the mempool, never both.
//! Blocks entering the best chain take their posts out of the mempool; blocks leaving it
//! in a reorganization put theirs back.
//!
//! Still pure: the caller passes the time and persists what each call reports.

use std::sync::Arc;

use crate::block::{Block, BlockHeader, merkle_root};
use crate::hash::{BlockHash, TxId};
use crate::mempool::{Mempool, MempoolError, MempoolLimits};
use crate::params::ChainParams;
use crate::tree::{Admission, BlockTree, CheckedBlock, InsertOutcome};
use crate::tree::{Bodies, IndexError, IndexedBlock, Unreadable};
use crate::tx::Transaction;
use crate::validation::{self, BlockError, TxError};

/// A post that passed the stateless checks and the mempool's time window: the only kind
/// [`ChainState::submit_transaction`] takes, so signatures are verified before any lock.
#[derive(Debug, Clone)]
pub struct CheckedTransaction(Arc<Transaction>);

impl CheckedTransaction {
    /// Runs the stateless checks, the node's policy for new posts and the time window
    /// around `now`.
    pub fn check(tx: Transaction, now: u64, params: &ChainParams) -> Result<Self, TxError> {
        validation::validate_transaction(&tx, params)?;
        validation::validate_transaction_policy(&tx)?;
        validation::validate_transaction_time(&tx, now, params)?;
        Ok(CheckedTransaction(Arc::new(tx)))
    }

    pub fn transaction(&self) -> &Arc<Transaction> {
        &self.0
    }
}

/// Why a post was not accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SubmitTxError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The post is already in a block of the best chain.
    #[error("transaction {id} is already in block #{index} ({block})")]
    AlreadyConfirmed {
        id: TxId,
        /// Height of the block holding it.
        index: u64,
        block: BlockHash,
    },
    #[error(transparent)]
    Mempool(#[from] MempoolError),
    /// Whether the best chain holds the post could not be read from this node's store.
    #[error("transaction {id} cannot be judged: {source}")]
    StoreUnreadable { id: TxId, source: Unreadable },
}

/// What accepting a block changed, for the shell to persist and announce.
#[derive(Debug, Clone)]
pub struct BlockAccepted {
    pub outcome: InsertOutcome,
    /// Pending posts that are now in the best chain.
    pub mempool_removed: Vec<TxId>,
    /// Posts of abandoned blocks that are pending again.
    pub mempool_restored: Vec<Arc<Transaction>>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RestoreError {
    /// A stored block does not fit the chain (another network's data, or corruption).
    #[error("stored block {hash} does not connect: {reason}")]
    BadBlock { hash: BlockHash, reason: String },
    /// The store could not give a block back.
    #[error("a stored block could not be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// The chain state at a glance: what `/status` shows, cheap to copy, for a shell that
/// publishes it after every change so that readers need not wait for the state's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainSummary {
    pub genesis: BlockHash,
    pub height: u64,
    /// Blocks on the best chain, genesis included.
    pub length: u64,
    pub tip: BlockHash,
    pub cumulative_work: u128,
    /// What the next block on the tip must carry.
    pub next_difficulty: u32,
    pub mempool_size: usize,
    pub mempool_bytes: usize,
    /// Connected blocks on every branch.
    pub blocks_known: usize,
    pub orphans: usize,
    pub side_branch_bytes: usize,
    pub held_body_bytes: usize,
}

/// A proposal for the next block: the header (nonce 0) and the posts it commits to.
#[derive(Debug, Clone)]
pub struct BlockTemplate {
    /// The header to search nonces for.
    pub header: BlockHeader,
    pub transactions: Vec<Arc<Transaction>>,
}

/// The block tree and mempool of one node.
#[derive(Debug, Clone)]
pub struct ChainState {
    tree: BlockTree,
    mempool: Mempool,
}

impl ChainState {
    /// A fresh state: genesis only, nothing pending.
    pub fn new(params: ChainParams, limits: MempoolLimits) -> Self {
        ChainState {
            tree: BlockTree::new(params),
            mempool: Mempool::new(limits),
        }
    }

    /// Rebuilds a state from stored blocks (in the order they first connected) and
    /// pending posts. Both were checked before they were stored, so only the cheap
    /// contextual rules run again; posts already confirmed are dropped from the mempool.
    pub fn restore(
        params: ChainParams,
        limits: MempoolLimits,
        blocks: impl IntoIterator<Item = Block>,
        pending: impl IntoIterator<Item = Transaction>,
    ) -> Result<Self, RestoreError> {
        let state = ChainState::new(params, limits);
        state.restored(blocks.into_iter().map(Ok), pending)
    }

    /// A state rebuilt from the index of stored blocks (in the order they connected)
    /// without replaying their bodies (see [`BlockTree::from_index`]), and the pending
    /// posts the best chain lacks.
    pub fn from_index(
        params: ChainParams,
        limits: MempoolLimits,
        bodies: Bodies,
        index: impl IntoIterator<Item = IndexedBlock>,
        pending: impl IntoIterator<Item = Transaction>,
    ) -> Result<Self, RestoreError> {
        let state = ChainState {
            tree: BlockTree::from_index(params, bodies, index)?,
            mempool: Mempool::new(limits),
        };
        state.restored(std::iter::empty(), pending)
    }

    fn restored(
        mut self,
        blocks: impl IntoIterator<Item = Result<Block, RestoreError>>,
        pending: impl IntoIterator<Item = Transaction>,
    ) -> Result<Self, RestoreError> {
        let state = &mut self;
        for block in blocks {
            let block = block?;
            let hash = block.hash();
            match state
                .tree
                .insert_as(CheckedBlock::assume_checked(block), Admission::Stored)
            {
                Ok(InsertOutcome::UnknownParent { missing }) => {
                    return Err(RestoreError::BadBlock {
                        hash,
                        reason: format!("parent {missing} is not stored"),
                    });
                }
                Ok(_) => {}
                Err(error) => {
                    return Err(RestoreError::BadBlock {
                        hash,
                        reason: error.to_string(),
                    });
                }
            }
        }
        for tx in pending {
            let confirmed = state
                .tree
                .confirming_block(&tx.id())
                .map_err(|error| RestoreError::Unreadable(error.to_string()))?;
            if confirmed.is_none() {
                state.mempool.reload(Arc::new(tx));
            }
        }
        Ok(self)
    }

    /// Admits a checked post to the mempool unless the best chain already has it.
    pub fn submit_transaction(&mut self, tx: CheckedTransaction) -> Result<(), SubmitTxError> {
        let tx = tx.0;
        let confirmed = self.tree.confirming_block(&tx.id()).map_err(|source| {
            SubmitTxError::StoreUnreadable {
                id: tx.id(),
                source,
            }
        })?;
        if let Some(entry) = confirmed {
            return Err(SubmitTxError::AlreadyConfirmed {
                id: tx.id(),
                index: entry.height(),
                block: entry.hash(),
            });
        }
        self.mempool.insert(tx)?;
        Ok(())
    }

    /// Inserts a checked block into the tree and brings the mempool in line with the new
    /// best chain.
    pub fn submit_block(
        &mut self,
        block: CheckedBlock,
        now: u64,
    ) -> Result<BlockAccepted, BlockError> {
        self.submit_block_ahead_of(block, now, 0)
    }

    /// [`ChainState::submit_block`] for a block followed, in the same batch, by
    /// descendants carrying `work_ahead` (see `Admission::New`).
    pub fn submit_block_ahead_of(
        &mut self,
        block: CheckedBlock,
        now: u64,
        work_ahead: u128,
    ) -> Result<BlockAccepted, BlockError> {
        let outcome = self
            .tree
            .insert_as(block, Admission::New { now, work_ahead })?;
        let (mempool_removed, mempool_restored) = match &outcome {
            InsertOutcome::Extended { applied, .. } => {
                (self.mempool.remove_included(applied), Vec::new())
            }
            InsertOutcome::Reorganized {
                reverted, applied, ..
            } => {
                let removed = self.mempool.remove_included(applied);
                let mut restored = Vec::new();
                for tx in reverted.iter().flat_map(|block| block.transactions()) {
                    // Every reverted post is in the tree's own record of what changed, so
                    // this never asks the store.
                    if !matches!(self.tree.confirming_block(&tx.id()), Ok(Some(_)))
                        && self.mempool.restore(tx.clone())
                    {
                        restored.push(tx.clone());
                    }
                }
                (removed, restored)
            }
            InsertOutcome::SideBranch { .. }
            | InsertOutcome::AlreadyKnown
            | InsertOutcome::UnknownParent { .. } => (Vec::new(), Vec::new()),
        };
        Ok(BlockAccepted {
            outcome,
            mempool_removed,
            mempool_restored,
        })
    }

    /// The next block to mine on the best tip, or `None` when nothing is pending (unless
    /// `empty_blocks` allows a block without posts). Its timestamp is `now`, or just after
    /// the median of the tip's ancestors if that is later.
    pub fn block_template(&self, now: u64, empty_blocks: bool) -> Option<BlockTemplate> {
        let params = self.tree.params();
        let tip = self.tree.tip();
        let timestamp = now.max(self.tree.min_next_timestamp());
        // A post stamped further ahead than a block may hold (possible for one returned by
        // a reorg) waits for a later block.
        let latest_post = timestamp.saturating_add(params.max_future_drift_secs) as f64;
        let transactions = self.mempool.select(
            params.max_block_transactions,
            params
                .max_block_bytes
                .saturating_sub(crate::block::HEADER_LEN),
            |tx| tx.timestamp() <= latest_post,
        );
        if transactions.is_empty() && !empty_blocks {
            return None;
        }
        let header = BlockHeader {
            index: tip.height() + 1,
            previous_hash: tip.hash(),
            merkle_root: merkle_root(&transactions),
            timestamp,
            difficulty: self.tree.next_difficulty(),
            nonce: 0,
        };
        Some(BlockTemplate {
            header,
            transactions,
        })
    }

    /// Forgets the newest pending posts while `forget` holds for them; returns their ids.
    /// Undoes admissions that never became durable: they are the newest arrivals.
    pub fn forget_newest_pending(&mut self, forget: impl Fn(&TxId) -> bool) -> Vec<TxId> {
        self.mempool.forget_newest_while(forget)
    }

    /// This state as it was when the blocks up to connection number `last_seq` had
    /// connected and `pending` (in arrival order) were pending: those blocks replayed in
    /// their order, so ties break as they did. Undoes changes that never became durable.
    /// A pending id this state holds no post for (none, while the invariant holds) is
    /// skipped.
    pub fn rewound(&self, last_seq: u64, pending: &[TxId]) -> Result<ChainState, RestoreError> {
        let mut kept: Vec<_> = self
            .tree
            .entries()
            .filter(|entry| entry.seq > 0 && entry.seq <= last_seq)
            .collect();
        kept.sort_by_key(|entry| entry.seq);
        let blocks = kept.iter().map(|entry| {
            self.tree
                .block(&entry.hash())
                .map(Arc::unwrap_or_clone)
                .map_err(|error| RestoreError::Unreadable(error.to_string()))
        });
        let posts: Vec<Transaction> = pending
            .iter()
            .filter_map(|id| self.known_post(id))
            .map(Arc::unwrap_or_clone)
            .collect();
        let state = ChainState {
            tree: self.tree.emptied(),
            mempool: Mempool::new(self.mempool.limits()),
        };
        state.restored(blocks, posts)
    }

    /// A post this state accepted: pending, or confirmed on the best chain.
    fn known_post(&self, id: &TxId) -> Option<Arc<Transaction>> {
        if let Some(tx) = self.mempool.get(id) {
            return Some(tx.clone());
        }
        let entry = self.tree.confirming_block(id).ok()??;
        let body = self.tree.block(&entry.hash()).ok()?;
        body.transactions()
            .iter()
            .find(|tx| tx.id() == *id)
            .cloned()
    }

    /// Says that the blocks up to connection number `seq` are durable (see
    /// [`BlockTree::mark_durable`]).
    pub fn mark_durable(&mut self, seq: u64) {
        self.tree.mark_durable(seq);
    }

    pub fn summary(&self) -> ChainSummary {
        let tree = &self.tree;
        let tip = tree.tip();
        ChainSummary {
            genesis: tree.genesis().hash(),
            height: tip.height(),
            length: tree.best_chain_len(),
            tip: tip.hash(),
            cumulative_work: tip.cumulative_work,
            next_difficulty: tree.next_difficulty(),
            mempool_size: self.mempool.len(),
            mempool_bytes: self.mempool.bytes(),
            blocks_known: tree.len(),
            orphans: tree.orphan_count(),
            side_branch_bytes: tree.side_bytes(),
            held_body_bytes: tree.held_body_bytes(),
        }
    }

    pub fn tree(&self) -> &BlockTree {
        &self.tree
    }

    pub fn mempool(&self) -> &Mempool {
        &self.mempool
    }

    pub fn params(&self) -> &ChainParams {
        self.tree.params()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use proptest::prelude::*;

    const NOW: u64 = 1_800_000_000;

    fn params() -> ChainParams {
        ChainParams::new(0, false).expect("valid")
    }

    fn checked(tx: &Arc<Transaction>) -> CheckedTransaction {
        CheckedTransaction::check((**tx).clone(), NOW, &params()).expect("valid post")
    }

    fn post(n: usize) -> Arc<Transaction> {
        unsigned_arc("author", &format!("post {n}"), NOW as f64)
    }

    #[test]
    fn posts_move_from_mempool_to_chain_and_back_on_reorg() {
        let p = params();
        let mut state = ChainState::new(p.clone(), MempoolLimits::default());
        let (x, y) = (post(1), post(2));
        state.submit_transaction(checked(&x)).expect("admitted");
        state.submit_transaction(checked(&y)).expect("admitted");

        let genesis = p.genesis();
        let a1 = unmined_child(&genesis, vec![x.clone()], &p);
        let accepted = state
            .submit_block(CheckedBlock::assume_checked(a1.clone()), NOW)
            .expect("valid");
        assert_eq!(accepted.mempool_removed, vec![x.id()]);
        assert_eq!(state.mempool().len(), 1);
        assert!(matches!(
            state.submit_transaction(checked(&x)),
            Err(SubmitTxError::AlreadyConfirmed { index: 1, .. })
        ));

        // A heavier branch without x: x must come back, y stays pending.
        let b1 = unmined_child(&genesis, vec![], &p);
        let b2 = unmined_child(&b1, vec![], &p);
        state
            .submit_block(CheckedBlock::assume_checked(b1), NOW)
            .expect("valid");
        let accepted = state
            .submit_block(CheckedBlock::assume_checked(b2), NOW)
            .expect("valid");
        assert!(matches!(
            accepted.outcome,
            InsertOutcome::Reorganized { .. }
        ));
        assert_eq!(
            accepted
                .mempool_restored
                .iter()
                .map(|t| t.id())
                .collect::<Vec<_>>(),
            vec![x.id()]
        );
        assert!(state.mempool().contains(&x.id()) && state.mempool().contains(&y.id()));
        assert!(
            state.mempool().was_returned(&x.id()) && !state.mempool().was_returned(&y.id()),
            "only the post the reorganization took back is marked returned"
        );
    }

    #[test]
    fn template_commits_to_pending_posts_on_the_tip() {
        let p = params();
        let mut state = ChainState::new(p.clone(), MempoolLimits::default());
        assert!(state.block_template(NOW, false).is_none());
        let empty = state
            .block_template(NOW, true)
            .expect("empty blocks allowed");
        assert!(empty.transactions.is_empty());
        assert_eq!(empty.header.merkle_root, merkle_root(&[]));
        let x = post(1);
        state.submit_transaction(checked(&x)).expect("admitted");
        let template = state.block_template(NOW, false).expect("something to mine");
        assert_eq!(template.header.index, 1);
        assert_eq!(template.header.previous_hash, p.genesis().hash());
        assert_eq!(template.header.timestamp, NOW);
        assert_eq!(
            template.header.merkle_root,
            merkle_root(std::slice::from_ref(&x))
        );
        // A clock behind the chain still yields a valid timestamp (and leaves out posts
        // stamped too far after it).
        assert!(state.block_template(0, false).is_none());
        let genesis_time = p.genesis().header().timestamp;
        state
            .mempool
            .restore(unsigned_arc("author", "old", genesis_time as f64));
        let template = state.block_template(0, false).expect("something to mine");
        assert!(template.header.timestamp > genesis_time);
        assert_eq!(template.transactions.len(), 1);
    }

    #[test]
    fn template_leaves_out_posts_too_far_ahead_of_the_block() {
        let p = params();
        let mut state = ChainState::new(p.clone(), MempoolLimits::default());
        let now_post = post(1);
        state
            .submit_transaction(checked(&now_post))
            .expect("admitted");
        // As if returned by a reorg: restored posts skip the admission window.
        let ahead = unsigned_arc("author", "from the future", (NOW + 3 * 3600) as f64);
        state.mempool.restore(ahead.clone());
        let template = state.block_template(NOW, false).expect("something to mine");
        let ids: Vec<_> = template.transactions.iter().map(|tx| tx.id()).collect();
        assert_eq!(ids, vec![now_post.id()]);
        let later = state
            .block_template(NOW + 3600, false)
            .expect("something to mine");
        assert_eq!(later.transactions.len(), 2);
    }

    #[test]
    fn restore_rebuilds_the_same_tip_and_mempool() {
        let p = params();
        let mut state = ChainState::new(p.clone(), MempoolLimits::default());
        let genesis = p.genesis();
        let (x, y) = (post(1), post(2));
        let b1 = unmined_child(&genesis, vec![x.clone()], &p);
        let side = unmined_child(&genesis, vec![], &p);
        for block in [&b1, &side] {
            state
                .submit_block(CheckedBlock::assume_checked(block.clone()), NOW)
                .expect("valid");
        }
        state.submit_transaction(checked(&y)).expect("admitted");

        let restored = ChainState::restore(
            p.clone(),
            MempoolLimits::default(),
            [b1.clone(), side],
            [(*x).clone(), (*y).clone()],
        )
        .expect("consistent");
        assert_eq!(restored.tree().tip().hash(), b1.hash());
        assert_eq!(restored.tree().len(), 3);
        assert_eq!(
            restored.mempool().len(),
            1,
            "x is confirmed, so only y is pending"
        );

        let orphan = unmined_child(&b1, vec![], &p);
        let err = ChainState::restore(p, MempoolLimits::default(), [orphan], [])
            .expect_err("parent missing");
        assert!(matches!(err, RestoreError::BadBlock { .. }));
    }

    #[test]
    fn rewinding_undoes_later_blocks_and_posts_and_keeps_what_came_before() {
        let p = params();
        let mut state = ChainState::new(p.clone(), MempoolLimits::default());
        let genesis = p.genesis();
        let (x, y, z) = (post(1), post(2), post(3));
        state.submit_transaction(checked(&x)).expect("admitted");
        state.submit_transaction(checked(&y)).expect("admitted");
        let b1 = unmined_child(&genesis, vec![], &p);
        state
            .submit_block(CheckedBlock::assume_checked(b1.clone()), NOW)
            .expect("valid");
        let before = (state.tree().last_seq(), vec![x.id(), y.id()]);

        // Later, never durable: a block confirming x, and a new post z.
        let b2 = unmined_child(&b1, vec![x.clone()], &p);
        state
            .submit_block(CheckedBlock::assume_checked(b2), NOW)
            .expect("valid");
        state.submit_transaction(checked(&z)).expect("admitted");

        let rewound = state.rewound(before.0, &before.1).expect("replays");
        assert_eq!(rewound.tree().tip().hash(), b1.hash());
        assert_eq!(rewound.tree().last_seq(), before.0);
        let pending: Vec<_> = rewound.mempool().iter().map(|tx| tx.id()).collect();
        assert_eq!(pending, before.1, "x is pending again, z is gone");
        rewound.tree().check_invariants().expect("a sound tree");
    }

    #[test]
    fn forgetting_new_posts_leaves_older_ones_pending() {
        let mut state = ChainState::new(params(), MempoolLimits::default());
        let (x, y) = (post(1), post(2));
        state.submit_transaction(checked(&x)).expect("admitted");
        state.submit_transaction(checked(&y)).expect("admitted");
        let forgotten = state.forget_newest_pending(|id| *id != x.id());
        assert_eq!(forgotten, vec![y.id()]);
        assert!(state.mempool().contains(&x.id()) && state.mempool().len() == 1);
    }

    /// Blocks of a random tree, each holding a random subset of `posts`.
    fn random_blocks(shape: &[(usize, u16)], posts: &[Arc<Transaction>]) -> Vec<Block> {
        let p = params();
        let mut blocks = vec![p.genesis()];
        for &(parent, mask) in shape {
            let parent = blocks[parent % blocks.len()].clone();
            let txs = posts
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, tx)| tx.clone())
                .collect();
            blocks.push(unmined_child(&parent, txs, &p));
        }
        blocks.remove(0);
        blocks
    }

    proptest! {
        #[test]
        fn reorgs_conserve_posts(
            shape in proptest::collection::vec((any::<usize>(), any::<u16>()), 1..25),
            order in Just(()).prop_perturb(|_, mut rng| rng.next_u64()),
        ) {
            let posts: Vec<_> = (0..12).map(post).collect();
            let mut blocks = random_blocks(&shape, &posts);
            // A deterministic shuffle from the generated seed.
            let mut seed = order | 1;
            for i in (1..blocks.len()).rev() {
                seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17;
                blocks.swap(i, (seed % (i as u64 + 1)) as usize);
            }

            let mut state = ChainState::new(params(), MempoolLimits::default());
            for tx in &posts {
                state.submit_transaction(checked(tx)).expect("admitted");
            }
            for block in blocks {
                // Blocks that replay a post on their own branch are rejected; that is fine.
                let _ = state.submit_block(CheckedBlock::assume_checked(block), NOW);
                for tx in &posts {
                    let confirmed = state.tree().confirming_block(&tx.id()).expect("readable").is_some();
                    let pending = state.mempool().contains(&tx.id());
                    prop_assert!(confirmed != pending, "post {} confirmed={} pending={}", tx.content(), confirmed, pending);
                }
            }
        }
    }
}
