//! Any sequence of blocks, in any order, keeps the block tree's invariants.
//!
//! The input is a list of operations: build a block on any earlier one (or genesis) with
//! chosen posts and timestamp, deliver a block built earlier (again, perhaps, or before its
//! parent), or both at once. Most blocks are valid; a few carry a flaw only the tree can
//! see (wrong height, timestamp not after the median, too far ahead of the clock), and
//! posts drawn from a small pool make replays on a branch common. At difficulty 0 every
//! hash meets the target, so building a block costs one header hash.
//!
//! After every delivery: `BlockTree::check_invariants` holds, the outcome matches what
//! changed, and each post of the pool is either confirmed on the best chain or pending,
//! never both. At the end: restoring from the tree's blocks in connection order (what the
//! node does at start-up) rebuilds the same best chain and mempool, and inserting the
//! delivered blocks parents first into a fresh tree connects the same blocks with the
//! same best work, whatever order they first came in; and the block a miner would build
//! next is accepted.

#![no_main]

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};

use arbitrary::Arbitrary;
use chainpost_chain::block::merkle_root;
use chainpost_chain::params::GENESIS_TIMESTAMP;
use chainpost_chain::{
    Block, BlockHash, BlockHeader, BlockTree, ChainParams, ChainState, CheckedBlock,
    CheckedTransaction, InsertOutcome, MempoolLimits, Transaction,
};
use libfuzzer_sys::fuzz_target;

/// The validating clock: an hour after genesis. Blocks are stamped a few minutes apart, so
/// long chains (or the `FarFuture` flaw) run past the allowed drift and are refused.
const NOW: u64 = GENESIS_TIMESTAMP + 3600;
/// Posts that blocks draw from; few enough that a branch often holds one twice.
const POOL_SIZE: usize = 64;

#[derive(Debug, Arbitrary)]
enum Op {
    /// Builds a block without delivering it: it may come later, twice, or never.
    Build(Spec),
    /// Delivers a block built earlier, chosen modulo the number built.
    Deliver(u16),
    /// Builds a block and delivers it at once: the common case of a growing chain.
    BuildAndDeliver(Spec),
}

#[derive(Debug, Arbitrary)]
struct Spec {
    /// The block to extend, modulo the number built (genesis is number 0).
    parent: u16,
    /// Each byte below `POOL_SIZE` picks a post of the pool; larger ones pick none.
    posts: [u8; 2],
    /// Seconds after the parent's timestamp.
    seconds: u8,
    /// Picks a flaw for about one block in five (see [`Flaw::from_byte`]).
    flaw: u8,
}

/// What makes a block invalid in context while it passes the standalone checks.
enum Flaw {
    /// The index is not the parent's plus one.
    WrongIndex,
    /// Stamped before its parent, so often not after the median of its ancestors.
    Stale,
    /// Stamped after the latest time the clock allows.
    FarFuture,
}

impl Flaw {
    /// Three values in sixteen pick a flaw: enough to exercise every contextual error,
    /// few enough that valid chains grow deep.
    fn from_byte(byte: u8) -> Option<Flaw> {
        match byte % 16 {
            0 => Some(Flaw::WrongIndex),
            1 => Some(Flaw::Stale),
            2 => Some(Flaw::FarFuture),
            _ => None,
        }
    }
}

static PARAMS: LazyLock<ChainParams> =
    LazyLock::new(|| ChainParams::new(0, false).expect("difficulty 0 is valid"));

static POOL: LazyLock<Vec<Arc<Transaction>>> = LazyLock::new(|| {
    (0..POOL_SIZE)
        .map(|n| {
            let content = format!("post {n}");
            Arc::new(Transaction::new(
                "pool".into(),
                content,
                GENESIS_TIMESTAMP as f64,
                None,
            ))
        })
        .collect()
});

/// A fresh state with every post of the pool pending, so each is always confirmed or
/// pending from the start.
static START: LazyLock<ChainState> = LazyLock::new(|| {
    let mut state = ChainState::new(PARAMS.clone(), MempoolLimits::default());
    for tx in POOL.iter() {
        let checked = CheckedTransaction::check((**tx).clone(), NOW, &PARAMS).expect("valid");
        state.submit_transaction(checked).expect("admitted");
    }
    state
});

fuzz_target!(|ops: Vec<Op>| {
    let mut run = Run {
        state: START.clone(),
        built: vec![PARAMS.genesis()],
        delivered: Vec::new(),
        orphans_evicted: false,
    };
    for op in ops {
        match op {
            Op::Build(spec) => run.build(&spec),
            Op::Deliver(choice) => run.deliver(usize::from(choice) % run.built.len()),
            Op::BuildAndDeliver(spec) => {
                run.build(&spec);
                run.deliver(run.built.len() - 1);
            }
        }
    }
    run.assert_restore_rebuilds_the_same_state();
    run.assert_arrival_order_does_not_matter();
    run.assert_the_next_template_is_accepted();
});

struct Run {
    state: ChainState,
    /// Every block built, genesis first; a block's parent always comes before it.
    built: Vec<Block>,
    /// Positions in `built` of the blocks that passed the standalone checks and were
    /// inserted, in delivery order.
    delivered: Vec<usize>,
    /// Whether the orphan buffer ever dropped a block to stay within its bounds, which
    /// makes the final set of blocks depend on arrival order.
    orphans_evicted: bool,
}

impl Run {
    fn build(&mut self, spec: &Spec) {
        let parent = &self.built[usize::from(spec.parent) % self.built.len()];
        let (parent_hash, parent) = (parent.hash(), *parent.header());
        let transactions: Vec<_> = spec
            .posts
            .iter()
            .filter_map(|&n| POOL.get(usize::from(n)).cloned())
            .collect();
        let seconds = u64::from(spec.seconds);
        let mut header = BlockHeader {
            index: parent.index + 1,
            previous_hash: parent_hash,
            merkle_root: merkle_root(&transactions),
            timestamp: parent.timestamp + seconds,
            difficulty: PARAMS.difficulty,
            nonce: 0,
        };
        match Flaw::from_byte(spec.flaw) {
            Some(Flaw::WrongIndex) => header.index += 1 + seconds,
            Some(Flaw::Stale) => header.timestamp = parent.timestamp.saturating_sub(seconds),
            Some(Flaw::FarFuture) => {
                header.timestamp = NOW + PARAMS.max_future_drift_secs + 1 + seconds;
            }
            None => {}
        }
        self.built.push(Block::new(header, transactions));
    }

    /// Submits a block as a peer's would be: standalone checks, then the tree.
    fn deliver(&mut self, position: usize) {
        let block = self.built[position].clone();
        // A block naming one post twice fails here, as it would at the node's door.
        let Ok(checked) = CheckedBlock::check(block.clone(), &block.hash(), &PARAMS) else {
            return;
        };
        self.delivered.push(position);
        let tree = self.state.tree();
        let before = Before {
            len: tree.len(),
            orphans: tree.orphan_count(),
            tip: tree.tip().hash(),
            tip_work: tree.tip().cumulative_work,
            best: best_chain(tree),
            known: tree.contains(&block.hash()),
            parent_connected: tree.get(&block.header().previous_hash).is_some(),
        };
        let result = self.state.submit_block(checked, NOW);
        let tree = self.state.tree();
        if let Err(broken) = tree.check_invariants() {
            panic!("tree invariant broken: {broken}");
        }
        match result.map(|accepted| accepted.outcome) {
            Ok(InsertOutcome::AlreadyKnown) => {
                assert!(before.known);
                assert_eq!(tree.len(), before.len);
                assert_eq!(tree.orphan_count(), before.orphans);
                assert_eq!(tree.tip().hash(), before.tip);
            }
            Ok(InsertOutcome::UnknownParent { missing }) => {
                assert!(!before.known && !before.parent_connected);
                assert!(tree.contains(&block.hash()));
                assert!(!tree.contains(&missing), "the missing block is not missing");
                assert_eq!(tree.len(), before.len);
                assert_eq!(tree.tip().hash(), before.tip);
                if tree.orphan_count() != before.orphans + 1 {
                    self.orphans_evicted = true;
                }
            }
            Ok(outcome) => {
                assert!(!before.known && before.parent_connected);
                let connected = outcome.connected();
                assert_eq!(connected.first().map(|b| b.hash()), Some(block.hash()));
                assert!(connected.iter().all(|b| tree.get(&b.hash()).is_some()));
                assert_eq!(tree.len(), before.len + connected.len());
                assert!(tree.orphan_count() <= before.orphans);
                before.assert_best_chain_moved_as_told(tree, &outcome);
            }
            Err(_) => {
                assert!(!before.known && before.parent_connected);
                assert!(!tree.contains(&block.hash()));
                assert_eq!(tree.len(), before.len);
                assert_eq!(tree.tip().hash(), before.tip);
            }
        }
        for tx in POOL.iter() {
            let confirmed = tree
                .confirming_block(&tx.id())
                .expect("a tree without a store answers from memory")
                .is_some();
            let pending = self.state.mempool().contains(&tx.id());
            assert!(
                confirmed != pending,
                "post {} confirmed={confirmed} pending={pending}",
                tx.content()
            );
        }
    }

    /// The node stores blocks with their connection order and replays them at start-up.
    fn assert_restore_rebuilds_the_same_state(&self) {
        let tree = self.state.tree();
        let mut entries: Vec<_> = tree.entries().filter(|entry| entry.seq > 0).collect();
        entries.sort_by_key(|entry| entry.seq);
        let blocks = entries.iter().map(|entry| {
            let body = tree
                .block(&entry.hash())
                .expect("a tree without a store holds every body");
            (*body).clone()
        });
        let pending = self.state.mempool().iter().map(|tx| (**tx).clone());
        let restored =
            ChainState::restore(PARAMS.clone(), MempoolLimits::default(), blocks, pending)
                .expect("the tree's own blocks restore");
        assert_eq!(best_chain(restored.tree()), best_chain(tree));
        assert_eq!(restored.tree().len(), tree.len());
        let ids = |state: &ChainState| state.mempool().iter().map(|tx| tx.id()).collect::<Vec<_>>();
        assert_eq!(ids(&restored), ids(&self.state));
    }

    /// Validity depends only on a block's ancestors and the clock, so the blocks that
    /// connect do not depend on arrival order (unless the orphan buffer overflowed).
    fn assert_arrival_order_does_not_matter(&self) {
        if self.orphans_evicted {
            return;
        }
        let mut parents_first = self.delivered.clone();
        parents_first.sort_unstable();
        parents_first.dedup();
        let mut reference = BlockTree::new(PARAMS.clone());
        for position in parents_first {
            let block = CheckedBlock::assume_checked(self.built[position].clone());
            let _ = reference.insert(block, NOW);
        }
        let connected = |tree: &BlockTree| tree.entries().map(|e| e.hash()).collect::<HashSet<_>>();
        assert_eq!(connected(&reference), connected(self.state.tree()));
        assert_eq!(
            reference.tip().cumulative_work,
            self.state.tree().tip().cumulative_work
        );
    }

    /// The block a miner would build next is accepted and extends the best chain: the
    /// mempool never offers a post the chain already holds. (Unless the chain's median
    /// time has run up to the clock's limit, when no block can be mined until it moves.)
    fn assert_the_next_template_is_accepted(&self) {
        let Some(template) = self.state.block_template(NOW, false) else {
            // Every pool post is stamped at genesis, so none waits for a later block.
            assert!(self.state.mempool().is_empty());
            return;
        };
        if template.header.timestamp > NOW + PARAMS.max_future_drift_secs {
            return;
        }
        let block = Block::new(template.header, template.transactions);
        let checked = CheckedBlock::check(block.clone(), &block.hash(), &PARAMS)
            .expect("a template passes the standalone checks");
        let mut state = self.state.clone();
        let accepted = state
            .submit_block(checked, NOW)
            .expect("a template connects");
        assert!(matches!(accepted.outcome, InsertOutcome::Extended { .. }));
    }
}

fn best_chain(tree: &BlockTree) -> Vec<BlockHash> {
    tree.best_chain_blocks(0, usize::MAX)
        .expect("a tree without a store holds every body")
        .iter()
        .map(|block| block.hash())
        .collect()
}

/// What the tree looked like before a delivery.
struct Before {
    len: usize,
    orphans: usize,
    tip: BlockHash,
    tip_work: u128,
    best: Vec<BlockHash>,
    known: bool,
    parent_connected: bool,
}

impl Before {
    /// `Extended` appends to the old best chain, `Reorganized` swaps a tail of it for a
    /// heavier one, `SideBranch` leaves it alone.
    fn assert_best_chain_moved_as_told(&self, tree: &BlockTree, outcome: &InsertOutcome) {
        let now_best = best_chain(tree);
        let hashes = |blocks: &[Arc<Block>]| blocks.iter().map(|b| b.hash()).collect::<Vec<_>>();
        match outcome {
            InsertOutcome::Extended { applied, .. } => {
                assert!(tree.tip().cumulative_work > self.tip_work);
                assert_eq!(now_best, [self.best.clone(), hashes(applied)].concat());
            }
            InsertOutcome::Reorganized {
                reverted, applied, ..
            } => {
                assert!(tree.tip().cumulative_work > self.tip_work);
                assert!(!reverted.is_empty());
                let fork = self.best.len() - reverted.len();
                assert_eq!(self.best[fork..], hashes(reverted));
                assert_eq!(
                    now_best,
                    [self.best[..fork].to_vec(), hashes(applied)].concat()
                );
                assert_ne!(now_best.get(fork), self.best.get(fork));
            }
            InsertOutcome::SideBranch { .. } => assert_eq!(now_best, self.best),
            InsertOutcome::AlreadyKnown | InsertOutcome::UnknownParent { .. } => {
                unreachable!("handled by the caller")
            }
        }
    }
}
