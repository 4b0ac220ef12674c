//! The block tree: every valid block, side branches included, and the best chain through it.
//!
//! **Invariants**
//! - Every entry's parent is an entry (genesis excepted), and its height, cumulative work and
//!   arrival sequence number are fixed when it connects.
//! - The best tip is an entry of most cumulative work; among equals, the one that connected
//!   first (as Bitcoin Core), so a tie never causes a reorganization.
//! - `best_chain[h]` is the hash of the best chain's block at height `h`, and `confirmed`
//!   maps exactly the transactions of the best chain to their height.
//! - No post appears twice on one branch (the path from genesis to any entry).
//! - Orphans (blocks whose parent is unknown) live apart, bounded, and connect as soon as
//!   their parent does.
//! - Side branches are bounded: a new block that would not become best is kept only while
//!   its branch is within `MAX_SIDE_LAG_BLOCKS` of the tip, its height holds fewer than
//!   `MAX_BLOCKS_PER_HEIGHT` blocks and side blocks hold less than `MAX_SIDE_BYTES`. A
//!   block whose branch, with the blocks that arrive with it, has more work than the tip is
//!   always kept: most work always wins. Blocks read back from the store are kept as they
//!   were (`Admission::Stored`).
//!
//! - Bodies: the tree keeps every block's header and place (`Entry`), and the bodies of
//!   every block off the best chain, of genesis, of the tip and of every block not yet
//!   durable. Of the durable best chain it keeps the newest up to a byte budget when given
//!   a [`BlockSource`] to read the others back from (the shell's store); a reorganization
//!   reads the bodies it reverts before it changes anything, so one the source cannot give
//!   refuses the block and leaves the tree as it was.
//!
//! Inserting returns an [`InsertOutcome`] that says what changed, so the shell can persist
//! it, update the mempool and tell peers. The tree itself does no I/O and reads no clock:
//! a source is the shell's, called through the trait.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use crate::block::{Block, BlockHeader};
use crate::hash::{BlockHash, TxId};
use crate::params::ChainParams;
use crate::pow;
use crate::retarget;
use crate::validation::{self, BlockError};

/// A side block is kept only if its branch (with what comes with it) is at most this many
/// blocks' work behind the best tip: a branch further behind cannot plausibly become best,
/// and so a reorganization deeper than this is never made.
const MAX_SIDE_LAG_BLOCKS: u64 = 1_000;
/// Most blocks kept at one height, the best chain's included.
const MAX_BLOCKS_PER_HEIGHT: usize = 8;
/// Most bytes of blocks kept off the best chain.
const MAX_SIDE_BYTES: usize = 64 << 20;

/// Most orphans held at once; the oldest is dropped beyond it.
const MAX_ORPHANS: usize = 256;
/// Most bytes of orphans held at once; the oldest are dropped beyond it.
const MAX_ORPHAN_BYTES: usize = 32 << 20;

/// A block that passed `validation::validate_block_standalone`: the only kind the tree
/// accepts, so no block reaches it with an unchecked hash, proof of work or signature.
#[derive(Debug, Clone)]
pub struct CheckedBlock(Block);

impl CheckedBlock {
    pub fn check(
        block: Block,
        claimed_hash: &BlockHash,
        params: &ChainParams,
    ) -> Result<Self, BlockError> {
        validation::validate_block_standalone(&block, claimed_hash, params)?;
        Ok(CheckedBlock(block))
    }

    /// Skips the standalone checks, for blocks this node checked before and read back from
    /// its own store, and for blocks this node mined from checked transactions.
    pub fn assume_checked(block: Block) -> Self {
        CheckedBlock(block)
    }

    pub fn block(&self) -> &Block {
        &self.0
    }
}

/// A connected block's header and its place in the tree: what the tree keeps of every
/// block. Bodies are kept apart (see [`BlockTree`]).
#[derive(Debug, Clone)]
pub struct Entry {
    header: BlockHeader,
    hash: BlockHash,
    encoded_len: usize,
    transaction_count: usize,
    /// Total work of the chain from genesis up to and including this block.
    pub cumulative_work: u128,
    /// Order in which blocks connected; decides ties of work.
    pub seq: u64,
    /// Hashes of the connected blocks whose parent this is.
    pub children: Vec<BlockHash>,
}

impl Entry {
    fn of(block: &Block, cumulative_work: u128, seq: u64) -> Self {
        Entry {
            header: *block.header(),
            hash: block.hash(),
            encoded_len: block.encoded_len(),
            transaction_count: block.transactions().len(),
            cumulative_work,
            seq,
            children: Vec::new(),
        }
    }

    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// The block's height (its index).
    pub fn height(&self) -> u64 {
        self.header.index
    }

    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    /// Bytes of the block's canonical encoding.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    pub fn transaction_count(&self) -> usize {
        self.transaction_count
    }
}

/// Where the tree finds what it no longer holds: the shell's store of durable blocks and
/// of the durable best chain's post index. The core only calls it; it does no I/O of its
/// own.
pub trait BlockSource: Send + Sync + std::fmt::Debug {
    /// The stored block with this hash, if the store can read it.
    fn block(&self, hash: &BlockHash) -> Option<Arc<Block>>;
    /// The height at which the stored best chain holds post `id`.
    fn confirmed_height(&self, id: &TxId) -> Result<Option<u64>, Unreadable>;
}

/// What the store keeps of each block for the tree's index: enough to rebuild its entry
/// without reading the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedBlock {
    pub header: BlockHeader,
    /// Bytes of the block's canonical encoding.
    pub encoded_len: usize,
    pub transaction_count: usize,
}

impl IndexedBlock {
    pub fn of(block: &Block) -> Self {
        IndexedBlock {
            header: *block.header(),
            encoded_len: block.encoded_len(),
            transaction_count: block.transactions().len(),
        }
    }
}

/// Why a stored block index does not rebuild a tree.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    #[error("stored block {hash} comes before its parent {parent}")]
    UnknownParent { hash: BlockHash, parent: BlockHash },
    #[error("stored block {hash} is stored twice")]
    Duplicate { hash: BlockHash },
    #[error("stored block {hash} does not fit its parent: {source}")]
    Invalid { hash: BlockHash, source: BlockError },
}

/// The shell's store could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this node's store could not be read")]
pub struct Unreadable;

/// The tree's bodies beyond its budget live in `source`: see [`BlockTree::with_bodies`].
#[derive(Debug, Clone)]
pub struct Bodies {
    pub source: Arc<dyn BlockSource>,
    /// Bytes of durable best-chain bodies kept in memory, the newest first.
    pub budget: usize,
}

/// How a block comes to the tree, which decides whether the side-branch bounds apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A block from outside or from the miner, checked against the clock `now` (seconds
    /// since the epoch). `work_ahead` is the work of its descendants that arrive with it
    /// (the rest of a sync page), so a heavier branch is judged by where it leads, not by
    /// its first block.
    New {
        now: u64,
        /// Work of the blocks that follow it in the same batch, on its branch.
        work_ahead: u128,
    },
    /// A block this node kept before, read back from its store: it met the clock and the
    /// bounds when it arrived, so neither is consulted again.
    Stored,
}

/// What inserting a block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The best chain grew: `applied` (oldest first) were appended to it.
    Extended {
        /// Every block that connected, in connection order (parents first).
        connected: Vec<Arc<Block>>,
        /// The blocks added to the best chain, oldest first.
        applied: Vec<Arc<Block>>,
    },
    /// A heavier branch replaced the best chain's tail.
    Reorganized {
        /// Every block that connected, in connection order (parents first).
        connected: Vec<Arc<Block>>,
        /// Blocks that left the best chain, oldest first.
        reverted: Vec<Arc<Block>>,
        /// Blocks that joined the best chain, oldest first.
        applied: Vec<Arc<Block>>,
    },
    /// The block connected, but the best chain is unchanged.
    SideBranch {
        /// Every block that connected, in connection order (parents first).
        connected: Vec<Arc<Block>>,
    },
    /// The block was already in the tree or the orphan buffer.
    AlreadyKnown,
    /// The block's ancestry is incomplete; it waits in the orphan buffer.
    UnknownParent {
        /// The earliest missing ancestor: the block to fetch next.
        missing: BlockHash,
    },
}

impl InsertOutcome {
    /// Every block that connected to the tree (and so must be stored).
    pub fn connected(&self) -> &[Arc<Block>] {
        match self {
            InsertOutcome::Extended { connected, .. }
            | InsertOutcome::Reorganized { connected, .. }
            | InsertOutcome::SideBranch { connected } => connected,
            InsertOutcome::AlreadyKnown | InsertOutcome::UnknownParent { .. } => &[],
        }
    }

    /// A short, stable name of the outcome, for metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            InsertOutcome::Extended { .. } => "extended",
            InsertOutcome::Reorganized { .. } => "reorganized",
            InsertOutcome::SideBranch { .. } => "side_branch",
            InsertOutcome::AlreadyKnown => "already_known",
            InsertOutcome::UnknownParent { .. } => "unknown_parent",
        }
    }

    /// The blocks that left the best chain and those that joined it, oldest first each
    /// (both empty when it did not move).
    pub fn best_chain_change(&self) -> (&[Arc<Block>], &[Arc<Block>]) {
        match self {
            InsertOutcome::Extended { applied, .. } => (&[], applied),
            InsertOutcome::Reorganized {
                reverted, applied, ..
            } => (reverted, applied),
            InsertOutcome::SideBranch { .. }
            | InsertOutcome::AlreadyKnown
            | InsertOutcome::UnknownParent { .. } => (&[], &[]),
        }
    }

    pub fn tip_changed(&self) -> bool {
        matches!(
            self,
            InsertOutcome::Extended { .. } | InsertOutcome::Reorganized { .. }
        )
    }
}

/// Every valid block this node knows, and the best chain through them.
#[derive(Debug, Clone)]
pub struct BlockTree {
    params: ChainParams,
    entries: HashMap<BlockHash, Entry>,
    /// Every entry's hash by height, in connection order: reads by height cost what they
    /// return, not what the tree holds.
    by_height: Vec<Vec<BlockHash>>,
    /// Bytes of every entry, and of the best chain's: the difference is what side
    /// branches hold.
    entry_bytes: usize,
    best_bytes: usize,
    best_chain: Vec<BlockHash>,
    /// The best chain's posts by height. Without a source, every one; with a source, only
    /// the changes not yet durable (`None`: no longer confirmed), each with the connection
    /// number after which it is durable: the source answers for the rest.
    confirmed: HashMap<TxId, (Option<u64>, u64)>,
    /// The changes in `confirmed`, oldest first, to forget once durable.
    confirmed_changes: VecDeque<(u64, TxId)>,
    orphans: OrphanBuffer,
    next_seq: u64,
    /// Bodies held in memory: every block off the best chain, genesis, the tip, every
    /// block not yet durable, and the newest durable best-chain blocks up to the budget.
    /// Without `source`, every body.
    bodies: HashMap<BlockHash, Arc<Block>>,
    body_bytes: usize,
    source: Option<Bodies>,
    /// Blocks up to this connection number are durable: the source can give them back.
    durable_seq: u64,
    /// Best-chain blocks whose bodies may be dropped, in the order they joined it.
    evictable: VecDeque<BlockHash>,
}

impl BlockTree {
    /// A tree holding only the network's genesis block.
    pub fn new(params: ChainParams) -> Self {
        let genesis = Arc::new(params.genesis());
        let hash = genesis.hash();
        let genesis_bytes = genesis.encoded_len();
        let entry = Entry::of(&genesis, pow::work(genesis.header().difficulty), 0);
        BlockTree {
            params,
            entries: HashMap::from([(hash, entry)]),
            by_height: vec![vec![hash]],
            entry_bytes: genesis_bytes,
            best_bytes: genesis_bytes,
            best_chain: vec![hash],
            confirmed: HashMap::new(),
            confirmed_changes: VecDeque::new(),
            orphans: OrphanBuffer::default(),
            next_seq: 1,
            bodies: HashMap::from([(hash, genesis)]),
            body_bytes: genesis_bytes,
            source: None,
            durable_seq: 0,
            evictable: VecDeque::new(),
        }
    }

    /// A tree holding only genesis that keeps in memory no more durable best-chain
    /// bodies than `bodies.budget` bytes, reading older ones back from `bodies.source`.
    pub fn with_bodies(params: ChainParams, bodies: Bodies) -> Self {
        BlockTree {
            source: Some(bodies),
            ..BlockTree::new(params)
        }
    }

    /// Rebuilds the tree from the index of stored blocks, in the order they connected,
    /// without reading their bodies: each header is checked against its parent (its proof
    /// of work and the contextual rules, without the clock), the best tip is the first to
    /// connect of most work (what replaying them would choose), and only the bodies the
    /// tree holds (side branches and the tip) are read from the source. Costs the size of
    /// the index, not of the chain.
    pub fn from_index(
        params: ChainParams,
        bodies: Bodies,
        index: impl IntoIterator<Item = IndexedBlock>,
    ) -> Result<Self, IndexError> {
        let mut tree = BlockTree::with_bodies(params, bodies);
        for indexed in index {
            tree.index_entry(indexed)?;
        }
        let tip = tree
            .entries
            .values()
            .max_by_key(|entry| (entry.cumulative_work, std::cmp::Reverse(entry.seq)))
            .map_or(tree.genesis().hash(), Entry::hash);
        let mut best_chain = Vec::new();
        let mut cursor = tree.entries.get(&tip);
        while let Some(entry) = cursor {
            best_chain.push(entry.hash());
            cursor = tree.parent_of(entry);
        }
        best_chain.reverse();
        tree.best_bytes = best_chain
            .iter()
            .map(|hash| tree.entries[hash].encoded_len())
            .sum();
        tree.best_chain = best_chain;
        tree.durable_seq = tree.last_seq();
        let held: Vec<BlockHash> = tree
            .entries
            .values()
            .filter(|entry| entry.hash() == tip || !tree.is_on_best_chain(entry))
            .filter(|entry| !tree.bodies.contains_key(&entry.hash()))
            .map(Entry::hash)
            .collect();
        for hash in held {
            let body = tree
                .block(&hash)
                .map_err(|source| IndexError::Invalid { hash, source })?;
            tree.body_bytes += body.encoded_len();
            tree.bodies.insert(hash, body);
        }
        Ok(tree)
    }

    /// Adds one stored block's entry, checked against its parent, to a tree being rebuilt
    /// (its best chain is set once every entry is in).
    fn index_entry(&mut self, indexed: IndexedBlock) -> Result<(), IndexError> {
        let header = indexed.header;
        let hash = header.hash();
        let parent_hash = header.previous_hash;
        if self.entries.contains_key(&hash) {
            return Err(IndexError::Duplicate { hash });
        }
        let parent = self
            .entries
            .get(&parent_hash)
            .ok_or(IndexError::UnknownParent {
                hash,
                parent: parent_hash,
            })?;
        let invalid = |source| IndexError::Invalid { hash, source };
        if !pow::meets_difficulty(&hash, header.difficulty) {
            return Err(invalid(BlockError::InsufficientWork {
                hash,
                difficulty: header.difficulty,
            }));
        }
        validation::validate_header_in_context(
            &header,
            parent.height(),
            self.median_time_past(parent),
            self.difficulty_after(parent),
            None,
            &self.params,
        )
        .map_err(invalid)?;
        let cumulative_work = parent.cumulative_work + pow::work(header.difficulty);
        let entry = Entry {
            header,
            hash,
            encoded_len: indexed.encoded_len,
            transaction_count: indexed.transaction_count,
            cumulative_work,
            seq: self.next_seq,
            children: Vec::new(),
        };
        self.next_seq += 1;
        self.entry_bytes += entry.encoded_len;
        self.entries.insert(hash, entry);
        if let Some(parent) = self.entries.get_mut(&parent_hash) {
            parent.children.push(hash);
        }
        let height = usize::try_from(header.index).unwrap_or(usize::MAX);
        if self.by_height.len() <= height {
            self.by_height
                .resize_with(height.saturating_add(1), Vec::new);
        }
        if let Some(at_height) = self.by_height.get_mut(height) {
            at_height.push(hash);
        }
        Ok(())
    }

    /// A tree holding only genesis, keeping bodies as this one does.
    pub(crate) fn emptied(&self) -> Self {
        match &self.source {
            Some(bodies) => BlockTree::with_bodies(self.params.clone(), bodies.clone()),
            None => BlockTree::new(self.params.clone()),
        }
    }

    /// Says that the blocks up to connection number `seq` are durable, so their bodies
    /// may leave memory.
    pub fn mark_durable(&mut self, seq: u64) {
        self.durable_seq = self.durable_seq.max(seq);
        self.forget_durable();
    }

    /// Forgets what the source now holds: the confirmed-post changes that are durable, and
    /// the oldest durable best-chain bodies until those held fit the budget.
    fn forget_durable(&mut self) {
        let Some(budget) = self.source.as_ref().map(|bodies| bodies.budget) else {
            return;
        };
        // The source's index has what is durable.
        while let Some(&(marker, id)) = self.confirmed_changes.front() {
            if marker > self.durable_seq {
                break;
            }
            self.confirmed_changes.pop_front();
            if self
                .confirmed
                .get(&id)
                .is_some_and(|(_, latest)| *latest == marker)
            {
                self.confirmed.remove(&id);
            }
        }
        let tip = self.tip().hash();
        // Bodies off the best chain are all held, so what exceeds them is the best chain's.
        while self.body_bytes.saturating_sub(self.side_bytes()) > budget {
            let Some(&hash) = self.evictable.front() else {
                break;
            };
            let Some(entry) = self.entries.get(&hash) else {
                self.evictable.pop_front();
                continue;
            };
            if entry.seq > self.durable_seq {
                break;
            }
            if hash == tip {
                break;
            }
            self.evictable.pop_front();
            // A block that left the best chain is a side block now, held for good.
            if !self.is_on_best_chain(entry) {
                continue;
            }
            if let Some(body) = self.bodies.remove(&hash) {
                self.body_bytes -= body.encoded_len();
            }
        }
    }

    /// The body of connected block `hash`, from memory or the source.
    pub fn block(&self, hash: &BlockHash) -> Result<Arc<Block>, BlockError> {
        if let Some(body) = self.bodies.get(hash) {
            return Ok(body.clone());
        }
        self.source
            .as_ref()
            .and_then(|bodies| bodies.source.block(hash))
            .filter(|body| body.hash() == *hash)
            .ok_or(BlockError::StoredBlockUnreadable { hash: *hash })
    }

    /// The best tip's body, always held.
    pub fn tip_block(&self) -> Arc<Block> {
        self.held(&self.tip().hash())
    }

    /// Genesis, always held.
    pub fn genesis_block(&self) -> Arc<Block> {
        self.held(&self.genesis().hash())
    }

    /// A body the invariants say is held (see `bodies`).
    fn held(&self, hash: &BlockHash) -> Arc<Block> {
        self.bodies
            .get(hash)
            .cloned()
            .expect("the tree holds this body by its invariants")
    }

    /// Makes the bodies a reorganization onto the branch of `parent` would revert held
    /// again: the best chain's blocks above where that branch leaves it. Read before
    /// anything changes, so that a body the source cannot give back refuses the block
    /// and leaves the tree as it was.
    fn hold_bodies_above_fork(&mut self, parent: &BlockHash) -> Result<(), BlockError> {
        let (fork, _) = self.branch_off_best_chain(&self.entries[parent]);
        let fork_height = usize::try_from(fork.height()).unwrap_or(usize::MAX);
        let missing: Vec<BlockHash> = self
            .best_chain
            .iter()
            .skip(fork_height.saturating_add(1))
            .filter(|hash| !self.bodies.contains_key(*hash))
            .copied()
            .collect();
        let mut read = Vec::with_capacity(missing.len());
        for hash in &missing {
            read.push(self.block(hash)?);
        }
        // Oldest last, so that they are dropped again oldest first.
        for body in read.into_iter().rev() {
            let hash = body.hash();
            self.body_bytes += body.encoded_len();
            self.bodies.insert(hash, body);
            self.evictable.push_front(hash);
        }
        Ok(())
    }

    pub(crate) fn params(&self) -> &ChainParams {
        &self.params
    }

    /// Connects a new checked block (and any orphans waiting for it), validating it
    /// against its parent, and moves the best tip if a heavier chain results. `now` is the
    /// validating clock in seconds since the epoch.
    pub fn insert(&mut self, block: CheckedBlock, now: u64) -> Result<InsertOutcome, BlockError> {
        self.insert_as(block, Admission::New { now, work_ahead: 0 })
    }

    /// [`BlockTree::insert`], saying how the block comes.
    pub(crate) fn insert_as(
        &mut self,
        block: CheckedBlock,
        admission: Admission,
    ) -> Result<InsertOutcome, BlockError> {
        let block = block.0;
        let hash = block.hash();
        if self.entries.contains_key(&hash) || self.orphans.contains(&hash) {
            return Ok(InsertOutcome::AlreadyKnown);
        }
        let parent = block.header().previous_hash;
        if !self.entries.contains_key(&parent) {
            self.orphans.insert(block);
            return Ok(InsertOutcome::UnknownParent {
                missing: self.orphans.root_parent(parent),
            });
        }

        let old_tip = self.tip().hash();
        let descent = self.orphans.heaviest_descent(&hash);
        let (clock, bounds, work_ahead) = match admission {
            Admission::New { now, work_ahead } => {
                let work_ahead = work_ahead.max(descent);
                (Some(now), Some(work_ahead), work_ahead)
            }
            Admission::Stored => (None, None, descent),
        };
        let prospect = self.entries[&parent]
            .cumulative_work
            .saturating_add(pow::work(block.header().difficulty))
            .saturating_add(work_ahead);
        if self.source.is_some() && prospect > self.tip().cumulative_work && parent != old_tip {
            self.hold_bodies_above_fork(&parent)?;
        }
        let first = match self.connect(block, clock, bounds) {
            Ok(first) => first,
            Err(error) => {
                // Orphans waiting for an invalid block can never connect.
                self.orphans.remove_descendants(&hash);
                // What was read back for a reorganization that did not happen.
                self.forget_durable();
                return Err(error);
            }
        };
        let mut connected = vec![first];
        // Orphans waiting on anything that just connected follow it, breadth first.
        let mut frontier = VecDeque::from([hash]);
        while let Some(parent) = frontier.pop_front() {
            for orphan in self.orphans.take_children(&parent) {
                let orphan_hash = orphan.hash();
                let bounds = match admission {
                    Admission::New { .. } => Some(self.orphans.heaviest_descent(&orphan_hash)),
                    Admission::Stored => None,
                };
                match self.connect(orphan, clock, bounds) {
                    Ok(entry) => {
                        connected.push(entry);
                        frontier.push_back(orphan_hash);
                    }
                    Err(_) => self.orphans.remove_descendants(&orphan_hash),
                }
            }
        }

        let best = connected
            .iter()
            .map(|block| &self.entries[&block.hash()])
            .fold(self.tip(), |best, entry| {
                if entry.cumulative_work > best.cumulative_work {
                    entry
                } else {
                    best
                }
            })
            .hash();
        if matches!(admission, Admission::Stored) {
            // Read back from the store: durable already.
            self.durable_seq = self.last_seq();
        }
        if best == old_tip {
            self.forget_durable();
            return Ok(InsertOutcome::SideBranch { connected });
        }
        let (reverted, applied) = self.switch_best_chain(best);
        self.forget_durable();
        Ok(if reverted.is_empty() {
            InsertOutcome::Extended { connected, applied }
        } else {
            InsertOutcome::Reorganized {
                connected,
                reverted,
                applied,
            }
        })
    }

    /// Refuses a block (whose parent is known) that would become a side block beyond the
    /// bounds; `work_ahead` is the work of descendants known to follow it.
    fn check_side_bounds(&self, block: &Block, work_ahead: u128) -> Result<(), BlockError> {
        let parent = &self.entries[&block.header().previous_hash];
        let prospect = parent
            .cumulative_work
            .saturating_add(pow::work(block.header().difficulty))
            .saturating_add(work_ahead);
        let tip_work = self.tip().cumulative_work;
        if prospect > tip_work {
            return Ok(());
        }
        let height = block.header().index;
        let block_work = pow::work(self.next_difficulty()).max(1);
        let behind = (tip_work - prospect) / block_work;
        if behind > u128::from(MAX_SIDE_LAG_BLOCKS) {
            return Err(BlockError::FarBehindBestChain {
                height,
                behind,
                max: MAX_SIDE_LAG_BLOCKS,
            });
        }
        let at_height = usize::try_from(height)
            .ok()
            .and_then(|height| self.by_height.get(height))
            .map_or(0, Vec::len);
        if at_height >= MAX_BLOCKS_PER_HEIGHT {
            return Err(BlockError::TooManyAtHeight {
                height,
                max: MAX_BLOCKS_PER_HEIGHT,
            });
        }
        if self.side_bytes().saturating_add(block.encoded_len()) > MAX_SIDE_BYTES {
            return Err(BlockError::SideBranchesFull {
                max: MAX_SIDE_BYTES,
            });
        }
        Ok(())
    }

    /// Bytes of the block bodies held in memory.
    pub fn held_body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// Bytes of the blocks kept off the best chain.
    pub fn side_bytes(&self) -> usize {
        self.entry_bytes.saturating_sub(self.best_bytes)
    }

    /// Validates `block` against its (known) parent, and the clock when one is given, and
    /// adds it as an entry; with `side_bounds` (the work known to follow it), only within
    /// the side-branch bounds.
    fn connect(
        &mut self,
        block: Block,
        clock: Option<u64>,
        side_bounds: Option<u128>,
    ) -> Result<Arc<Block>, BlockError> {
        let parent = &self.entries[&block.header().previous_hash];
        validation::validate_header_in_context(
            block.header(),
            parent.height(),
            self.median_time_past(parent),
            self.difficulty_after(parent),
            clock,
            &self.params,
        )?;
        // Stored blocks were checked when they arrived; and the source's index describes
        // the stored tip, not the chain as it was while they are replayed.
        if clock.is_some()
            && let Some(id) = self.first_already_on_branch(parent, &block)?
        {
            return Err(BlockError::TransactionAlreadyOnBranch { id });
        }
        if let Some(work_ahead) = side_bounds {
            self.check_side_bounds(&block, work_ahead)?;
        }
        let cumulative_work = parent.cumulative_work + pow::work(block.header().difficulty);
        self.entry_bytes += block.encoded_len();
        self.body_bytes += block.encoded_len();
        let block = Arc::new(block);
        let hash = block.hash();
        let parent_hash = block.header().previous_hash;
        self.entries
            .insert(hash, Entry::of(&block, cumulative_work, self.next_seq));
        self.bodies.insert(hash, block.clone());
        self.next_seq += 1;
        if let Some(parent) = self.entries.get_mut(&parent_hash) {
            parent.children.push(hash);
        }
        // Validation ties the index to the parent's, so the height is at most one above
        // every height seen so far.
        let height = usize::try_from(block.header().index).unwrap_or(usize::MAX);
        if self.by_height.len() <= height {
            self.by_height
                .resize_with(height.saturating_add(1), Vec::new);
        }
        if let Some(at_height) = self.by_height.get_mut(height) {
            at_height.push(hash);
        }
        Ok(block)
    }

    /// Median timestamp of `parent` and its ancestors, up to the network's span.
    fn median_time_past(&self, parent: &Entry) -> u64 {
        let mut timestamps = Vec::with_capacity(self.params.median_time_span);
        let mut cursor = Some(parent);
        while let Some(entry) = cursor {
            if timestamps.len() == self.params.median_time_span {
                break;
            }
            timestamps.push(entry.header().timestamp);
            cursor = self.parent_of(entry);
        }
        validation::median(timestamps)
    }

    /// The difficulty a child of `parent` must carry: the network's, or under retargeting
    /// the parent's, moved at every retarget height by how long the last interval took.
    fn difficulty_after(&self, parent: &Entry) -> u32 {
        let inherited = parent.header().difficulty;
        let Some(rule) = self.params.retarget else {
            return self.params.difficulty;
        };
        if !rule.is_retarget_height(parent.height() + 1) {
            return inherited;
        }
        // The span stops at block 1: the genesis timestamp is fixed, not mined, so the
        // time before the first block says nothing about the hash rate.
        let mut first = parent;
        let mut intervals = 0;
        while intervals < rule.interval && first.height() > 1 {
            match self.parent_of(first) {
                Some(entry) => first = entry,
                None => break,
            }
            intervals += 1;
        }
        if intervals == 0 {
            return inherited;
        }
        let actual = parent
            .header()
            .timestamp
            .saturating_sub(first.header().timestamp);
        retarget::next_difficulty(&rule, inherited, intervals, actual, self.params.difficulty)
    }

    /// The difficulty the next block on the best tip must carry.
    pub fn next_difficulty(&self) -> u32 {
        self.difficulty_after(self.tip())
    }

    /// The height at which the best chain holds post `id`.
    fn confirmed_height(&self, id: &TxId) -> Result<Option<u64>, Unreadable> {
        match (self.confirmed.get(id), &self.source) {
            (Some((height, _)), _) => Ok(*height),
            (None, Some(bodies)) => bodies.source.confirmed_height(id),
            (None, None) => Ok(None),
        }
    }

    /// Records that the best chain holds post `id` at `height`, or no longer holds it.
    fn set_confirmed(&mut self, id: TxId, height: Option<u64>) {
        let marker = self.last_seq();
        match (height, &self.source) {
            (None, None) => {
                self.confirmed.remove(&id);
            }
            (Some(height), None) => {
                self.confirmed.insert(id, (Some(height), marker));
            }
            (height, Some(_)) => {
                self.confirmed.insert(id, (height, marker));
                self.confirmed_changes.push_back((marker, id));
            }
        }
    }

    /// The first transaction of `block` that the branch ending at `parent` already holds.
    fn first_already_on_branch(
        &self,
        parent: &Entry,
        block: &Block,
    ) -> Result<Option<TxId>, BlockError> {
        if block.transactions().is_empty() {
            return Ok(None);
        }
        // The side branch's own posts, then the best chain's index below the fork.
        let (fork, side_entries) = self.branch_off_best_chain(parent);
        let mut side = HashSet::new();
        for entry in side_entries {
            // Off the best chain, so held.
            side.extend(
                self.held(&entry.hash())
                    .transactions()
                    .iter()
                    .map(|tx| tx.id()),
            );
        }
        let fork_height = fork.height();
        for id in block.transactions().iter().map(|tx| tx.id()) {
            let confirmed = self
                .confirmed_height(&id)
                .map_err(|_| BlockError::ConfirmedIndexUnreadable)?;
            if side.contains(&id) || confirmed.is_some_and(|height| height <= fork_height) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Makes `new_tip` the best tip; returns the blocks that left and joined the best chain.
    fn switch_best_chain(&mut self, new_tip: BlockHash) -> (Vec<Arc<Block>>, Vec<Arc<Block>>) {
        let (fork, side) = self.branch_off_best_chain(&self.entries[&new_tip]);
        // Off the best chain until now, so held.
        let applied: Vec<Arc<Block>> = side
            .iter()
            .rev()
            .map(|entry| self.held(&entry.hash()))
            .collect();
        let fork_height = usize::try_from(fork.height()).unwrap_or(usize::MAX);

        // Held since `hold_bodies_above_fork`, or never dropped.
        let reverted: Vec<Arc<Block>> = self.best_chain[fork_height + 1..]
            .iter()
            .map(|hash| self.held(hash))
            .collect();
        for block in &reverted {
            for tx in block.transactions() {
                self.set_confirmed(tx.id(), None);
            }
        }
        self.best_chain.truncate(fork_height + 1);
        self.best_bytes -= reverted
            .iter()
            .map(|block| block.encoded_len())
            .sum::<usize>();
        self.best_bytes += applied
            .iter()
            .map(|block| block.encoded_len())
            .sum::<usize>();
        for block in &applied {
            for tx in block.transactions() {
                self.set_confirmed(tx.id(), Some(block.header().index));
            }
            self.best_chain.push(block.hash());
            self.evictable.push_back(block.hash());
        }
        (reverted, applied)
    }

    /// Where the branch ending at `entry` meets the best chain, and that branch's entries
    /// above it, newest first (none when `entry` is on the best chain).
    fn branch_off_best_chain<'a>(&'a self, entry: &'a Entry) -> (&'a Entry, Vec<&'a Entry>) {
        let mut side = Vec::new();
        let mut cursor = entry;
        while !self.is_on_best_chain(cursor) {
            side.push(cursor);
            match self.parent_of(cursor) {
                Some(below) => cursor = below,
                None => break,
            }
        }
        (cursor, side)
    }

    fn parent_of(&self, entry: &Entry) -> Option<&Entry> {
        self.entries.get(&entry.header().previous_hash)
    }

    fn is_on_best_chain(&self, entry: &Entry) -> bool {
        usize::try_from(entry.height())
            .ok()
            .and_then(|height| self.best_chain.get(height))
            == Some(&entry.hash())
    }

    /// The earliest timestamp a block on the best tip may carry: one second after the
    /// median of the tip and its ancestors.
    pub(crate) fn min_next_timestamp(&self) -> u64 {
        self.median_time_past(self.tip()).saturating_add(1)
    }

    pub fn tip(&self) -> &Entry {
        let hash = self
            .best_chain
            .last()
            .expect("the best chain always holds genesis");
        &self.entries[hash]
    }

    pub fn genesis(&self) -> &Entry {
        &self.entries[&self.best_chain[0]]
    }

    /// Number of blocks on the best chain, genesis included (the tutorial's "length").
    pub fn best_chain_len(&self) -> u64 {
        self.best_chain.len() as u64
    }

    /// Up to `limit` blocks of the best chain starting at height `from`, from memory or
    /// the source.
    pub fn best_chain_blocks(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<Arc<Block>>, BlockError> {
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        self.best_chain
            .iter()
            .skip(from)
            .take(limit)
            .map(|hash| self.block(hash))
            .collect()
    }

    pub fn best_at(&self, height: u64) -> Option<&Entry> {
        let height = usize::try_from(height).ok()?;
        self.best_chain.get(height).map(|hash| &self.entries[hash])
    }

    /// The connected entry with this hash, on any branch.
    pub fn get(&self, hash: &BlockHash) -> Option<&Entry> {
        self.entries.get(hash)
    }

    pub fn is_best(&self, hash: &BlockHash) -> bool {
        self.entries
            .get(hash)
            .is_some_and(|entry| self.is_on_best_chain(entry))
    }

    /// The best-chain entry holding transaction `id`.
    pub fn confirming_block(&self, id: &TxId) -> Result<Option<&Entry>, Unreadable> {
        Ok(self
            .confirmed_height(id)?
            .and_then(|height| self.best_at(height)))
    }

    /// Number of connected blocks, on every branch.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always false: a tree holds at least its genesis block.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Number of blocks waiting for an ancestor.
    pub fn orphan_count(&self) -> usize {
        self.orphans.blocks.len()
    }

    /// Whether the block is connected or waiting in the orphan buffer.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.entries.contains_key(hash) || self.orphans.contains(hash)
    }

    /// The connection number of the block that connected last (0 when only genesis has).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// Every connected entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The blocks from height `from` up, at most `max_blocks` of them: at each height the
    /// best chain's block first, then at most `side_per_height` others in connection
    /// order. Costs what it returns, so side blocks can neither crowd out the best chain
    /// nor make the read expensive.
    pub fn window(&self, from: u64, max_blocks: usize, side_per_height: usize) -> Vec<&Entry> {
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let mut window = Vec::new();
        for (offset, hashes) in self.by_height.iter().skip(from).enumerate() {
            let best = self.best_chain.get(from + offset);
            let side = hashes
                .iter()
                .filter(|hash| Some(*hash) != best)
                .take(side_per_height);
            for hash in best.into_iter().chain(side) {
                if window.len() == max_blocks {
                    return window;
                }
                window.push(&self.entries[hash]);
            }
        }
        window
    }

    /// Checks every invariant in this module's documentation, describing the first one
    /// broken. It walks the whole tree and orphan buffer, so it is meant for tests and
    /// fuzzing, not for the node's hot path.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_entries()?;
        self.check_best_chain()?;
        self.check_no_post_twice_on_a_branch()?;
        self.orphans.check(&self.entries)
    }

    /// Parent links, heights, cumulative work, arrival order and children lists.
    fn check_entries(&self) -> Result<(), String> {
        let genesis = self.best_chain.first().ok_or("the best chain is empty")?;
        let mut seqs = HashSet::with_capacity(self.entries.len());
        let mut child_links = 0;
        for (hash, entry) in &self.entries {
            if entry.hash() != *hash {
                return Err(format!("entry {hash} holds block {}", entry.hash()));
            }
            if entry.seq >= self.next_seq || !seqs.insert(entry.seq) {
                return Err(format!(
                    "entry {hash} has a reused or future seq {}",
                    entry.seq
                ));
            }
            child_links += entry.children.len();
            for child in &entry.children {
                match self.entries.get(child) {
                    Some(child) if child.header().previous_hash == *hash => {}
                    _ => return Err(format!("entry {hash} lists {child}, not its child")),
                }
            }
            let own_work = pow::work(entry.header().difficulty);
            if hash == genesis {
                if entry.height() != 0 || entry.cumulative_work != own_work || entry.seq != 0 {
                    return Err(format!(
                        "genesis {hash} is not at height 0, seq 0, own work"
                    ));
                }
                continue;
            }
            let parent = self
                .parent_of(entry)
                .ok_or_else(|| format!("entry {hash} has no parent in the tree"))?;
            if Some(entry.height()) != parent.height().checked_add(1) {
                return Err(format!("entry {hash} does not sit one above its parent"));
            }
            if Some(entry.cumulative_work) != parent.cumulative_work.checked_add(own_work) {
                return Err(format!("entry {hash} has the wrong cumulative work"));
            }
            if entry.seq <= parent.seq {
                return Err(format!("entry {hash} connected before its parent"));
            }
            if parent
                .children
                .iter()
                .filter(|&child| child == hash)
                .count()
                != 1
            {
                return Err(format!("entry {hash} is not listed once by its parent"));
            }
        }
        // Each non-genesis entry is listed by its parent once, so any extra link is stale.
        if child_links != self.entries.len() - 1 {
            return Err(format!(
                "{child_links} child links for {} entries",
                self.entries.len()
            ));
        }
        self.check_height_index()?;
        let entry_bytes: usize = self.entries.values().map(Entry::encoded_len).sum();
        let best_bytes: usize = self
            .best_chain
            .iter()
            .map(|hash| self.entries[hash].encoded_len())
            .sum();
        if (entry_bytes, best_bytes) != (self.entry_bytes, self.best_bytes) {
            return Err(format!(
                "byte counts {}/{} where the entries hold {entry_bytes}/{best_bytes}",
                self.entry_bytes, self.best_bytes
            ));
        }
        Ok(())
    }

    /// `by_height` lists every entry once, at its height, in connection order.
    fn check_height_index(&self) -> Result<(), String> {
        let mut listed = 0;
        for (height, hashes) in self.by_height.iter().enumerate() {
            let mut last_seq = None;
            for hash in hashes {
                let entry = self
                    .entries
                    .get(hash)
                    .ok_or_else(|| format!("height index lists unknown {hash}"))?;
                if usize::try_from(entry.height()).ok() != Some(height) {
                    return Err(format!("height index lists {hash} at {height}"));
                }
                if last_seq.is_some_and(|seq| seq >= entry.seq) {
                    return Err(format!("height {height} is not in connection order"));
                }
                last_seq = Some(entry.seq);
                listed += 1;
            }
        }
        if listed != self.entries.len() {
            return Err(format!(
                "height index lists {listed} of {} entries",
                self.entries.len()
            ));
        }
        Ok(())
    }

    /// The best chain is a path from genesis to a most-work tip (the first such to
    /// connect), and `confirmed` indexes exactly its posts.
    fn check_best_chain(&self) -> Result<(), String> {
        let mut confirmed_posts = 0;
        for (height, hash) in self.best_chain.iter().enumerate() {
            let entry = self
                .entries
                .get(hash)
                .ok_or_else(|| format!("best chain block {hash} is not an entry"))?;
            if usize::try_from(entry.height()) != Ok(height) {
                return Err(format!("best chain block {hash} is not at height {height}"));
            }
            if let Some(previous) = height.checked_sub(1).map(|below| self.best_chain[below])
                && entry.header().previous_hash != previous
            {
                return Err(format!(
                    "best chain block {hash} does not extend {previous}"
                ));
            }
            let body = self.block(hash).map_err(|error| error.to_string())?;
            for tx in body.transactions() {
                confirmed_posts += 1;
                let confirmed = self
                    .confirmed_height(&tx.id())
                    .map_err(|error| error.to_string())?;
                if confirmed != Some(entry.height()) {
                    return Err(format!("post {} of {hash} is not confirmed there", tx.id()));
                }
            }
        }
        // With a source, memory holds only what is not durable yet: the check above asked
        // the source for the rest.
        if self.source.is_none() && confirmed_posts != self.confirmed.len() {
            return Err(format!(
                "{} posts confirmed but the best chain holds {confirmed_posts}",
                self.confirmed.len()
            ));
        }
        let tip = self.tip();
        if let Some(better) = self.entries.values().find(|entry| {
            (entry.cumulative_work, std::cmp::Reverse(entry.seq))
                > (tip.cumulative_work, std::cmp::Reverse(tip.seq))
        }) {
            return Err(format!(
                "tip {} is not the first of most work; {} is",
                tip.hash(),
                better.hash()
            ));
        }
        Ok(())
    }

    /// Walks every branch from genesis, keeping the posts of the current path in a set.
    fn check_no_post_twice_on_a_branch(&self) -> Result<(), String> {
        enum Visit {
            Enter(BlockHash),
            Leave(BlockHash),
        }
        let mut on_path = HashSet::new();
        let mut stack = vec![Visit::Enter(self.genesis().hash())];
        while let Some(visit) = stack.pop() {
            match visit {
                Visit::Enter(hash) => {
                    let entry = &self.entries[&hash];
                    let body = self.block(&hash).map_err(|error| error.to_string())?;
                    for tx in body.transactions() {
                        if !on_path.insert(tx.id()) {
                            return Err(format!(
                                "post {} is twice on the branch to {hash}",
                                tx.id()
                            ));
                        }
                    }
                    stack.push(Visit::Leave(hash));
                    stack.extend(entry.children.iter().copied().map(Visit::Enter));
                }
                Visit::Leave(hash) => {
                    let body = self.block(&hash).map_err(|error| error.to_string())?;
                    for tx in body.transactions() {
                        on_path.remove(&tx.id());
                    }
                }
            }
        }
        Ok(())
    }
}

/// Blocks whose parent is not connected yet, bounded by count and bytes (oldest dropped).
#[derive(Debug, Clone, Default)]
struct OrphanBuffer {
    blocks: HashMap<BlockHash, Block>,
    by_parent: HashMap<BlockHash, Vec<BlockHash>>,
    arrival: VecDeque<BlockHash>,
    bytes: usize,
}

impl OrphanBuffer {
    fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    fn insert(&mut self, block: Block) {
        let hash = block.hash();
        self.bytes += block.encoded_len();
        self.by_parent
            .entry(block.header().previous_hash)
            .or_default()
            .push(hash);
        self.blocks.insert(hash, block);
        self.arrival.push_back(hash);
        while self.blocks.len() > MAX_ORPHANS || self.bytes > MAX_ORPHAN_BYTES {
            match self.arrival.pop_front() {
                Some(oldest) => {
                    self.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Follows orphan parents up to the first hash that is not itself an orphan.
    fn root_parent(&self, mut parent: BlockHash) -> BlockHash {
        while let Some(orphan) = self.blocks.get(&parent) {
            parent = orphan.header().previous_hash;
        }
        parent
    }

    /// The most work on any path of waiting orphans below `hash` (0 if none wait).
    fn heaviest_descent(&self, hash: &BlockHash) -> u128 {
        // The buffer is bounded, so the walk is too; each orphan is visited once.
        let mut heaviest = 0;
        let mut stack = vec![(*hash, 0_u128)];
        while let Some((parent, work)) = stack.pop() {
            heaviest = heaviest.max(work);
            for child in self.by_parent.get(&parent).into_iter().flatten() {
                if let Some(block) = self.blocks.get(child) {
                    let below = work.saturating_add(pow::work(block.header().difficulty));
                    stack.push((*child, below));
                }
            }
        }
        heaviest
    }

    fn take_children(&mut self, parent: &BlockHash) -> Vec<Block> {
        let children = self.by_parent.remove(parent).unwrap_or_default();
        children
            .iter()
            .filter_map(|hash| self.remove(hash))
            .collect()
    }

    fn remove_descendants(&mut self, hash: &BlockHash) {
        let mut stack = vec![*hash];
        while let Some(parent) = stack.pop() {
            for child in self.by_parent.remove(&parent).unwrap_or_default() {
                self.remove(&child);
                stack.push(child);
            }
        }
    }

    /// The buffer's bounds, its byte count and its indexes agree with its blocks, and
    /// no orphan could have connected: neither it nor its parent is an entry.
    fn check(&self, entries: &HashMap<BlockHash, Entry>) -> Result<(), String> {
        if self.blocks.len() > MAX_ORPHANS || self.bytes > MAX_ORPHAN_BYTES {
            return Err(format!(
                "{} orphans of {} bytes exceed the bounds",
                self.blocks.len(),
                self.bytes
            ));
        }
        let bytes: usize = self.blocks.values().map(Block::encoded_len).sum();
        if bytes != self.bytes {
            return Err(format!(
                "orphans hold {bytes} bytes, counted {}",
                self.bytes
            ));
        }
        let queued: HashSet<_> = self.arrival.iter().collect();
        if queued.len() != self.arrival.len()
            || queued.len() != self.blocks.len()
            || !queued.iter().all(|hash| self.blocks.contains_key(hash))
        {
            return Err("the arrival queue does not list each orphan once".into());
        }
        let mut indexed: HashSet<&BlockHash> = HashSet::with_capacity(self.blocks.len());
        for (parent, children) in &self.by_parent {
            indexed.extend(children);
            let listed_right = |child: &BlockHash| {
                self.blocks
                    .get(child)
                    .is_some_and(|block| block.header().previous_hash == *parent)
            };
            if children.is_empty() || !children.iter().all(listed_right) {
                return Err(format!("orphans waiting for {parent} are listed wrongly"));
            }
        }
        let index_len: usize = self.by_parent.values().map(Vec::len).sum();
        if index_len != indexed.len() || indexed.len() != self.blocks.len() {
            return Err("the parent index does not list each orphan once".into());
        }
        for (hash, block) in &self.blocks {
            if block.hash() != *hash {
                return Err(format!("orphan {hash} holds block {}", block.hash()));
            }
            if entries.contains_key(hash) || entries.contains_key(&block.header().previous_hash) {
                return Err(format!("orphan {hash} or its parent is connected"));
            }
        }
        Ok(())
    }

    fn remove(&mut self, hash: &BlockHash) -> Option<Block> {
        let block = self.blocks.remove(hash)?;
        self.bytes -= block.encoded_len();
        self.arrival.retain(|queued| queued != hash);
        if let Some(siblings) = self.by_parent.get_mut(&block.header().previous_hash) {
            siblings.retain(|sibling| sibling != hash);
            if siblings.is_empty() {
                self.by_parent.remove(&block.header().previous_hash);
            }
        }
        Some(block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;
    use proptest::prelude::*;

    const NOW: u64 = u64::MAX / 2;

    fn params() -> ChainParams {
        ChainParams::new(0, false).expect("valid")
    }

    fn insert(tree: &mut BlockTree, block: &Block) -> InsertOutcome {
        let outcome = tree
            .insert(CheckedBlock::assume_checked(block.clone()), NOW)
            .expect("valid block");
        assert_eq!(tree.check_invariants(), Ok(()));
        outcome
    }

    fn hashes(blocks: &[Arc<Block>]) -> Vec<BlockHash> {
        blocks.iter().map(|b| b.hash()).collect()
    }

    /// A child of `parent` stamped `secs` after it, at `difficulty` (proof of work is a
    /// standalone check, so the tree takes it on trust here).
    fn timed_child(parent: &Block, secs: u64, difficulty: u32) -> CheckedBlock {
        let header = crate::BlockHeader {
            index: parent.header().index + 1,
            previous_hash: parent.hash(),
            merkle_root: crate::block::merkle_root(&[]),
            timestamp: parent.header().timestamp + secs,
            difficulty,
            nonce: 0,
        };
        CheckedBlock::assume_checked(Block::new(header, Vec::new()))
    }

    /// Extends the tip with blocks `secs` apart at whatever difficulty the tree requires.
    fn extend_every(tree: &mut BlockTree, blocks: usize, secs: u64) {
        for _ in 0..blocks {
            let child = timed_child(&tree.tip_block(), secs, tree.next_difficulty());
            tree.insert(child, NOW).expect("valid");
        }
    }

    fn retargeting(minimum: u32, interval: u64) -> ChainParams {
        ChainParams::new(minimum, false)
            .expect("valid")
            .with_retarget(retarget::Retarget {
                target_block_secs: 10,
                interval,
            })
            .expect("valid rule")
    }

    #[test]
    fn retargeting_follows_the_block_rate_and_every_node_enforces_it() {
        let mut tree = BlockTree::new(retargeting(3, 4));
        // Blocks 1-3 one second apart: the two intervals measured took 2 s instead of 20 s.
        extend_every(&mut tree, 3, 1);
        assert_eq!(tree.next_difficulty(), 3 + retarget::MAX_STEP_BITS);
        let tip = tree.tip_block();
        for wrong in [3, 4, 6] {
            assert_eq!(
                tree.insert(timed_child(&tip, 1, wrong), NOW),
                Err(BlockError::WrongDifficulty {
                    got: wrong,
                    required: 5
                })
            );
        }
        extend_every(&mut tree, 1, 1);
        assert_eq!(tree.tip().header().difficulty, 5);
        // Between retargets a block inherits its parent's difficulty.
        assert_eq!(tree.next_difficulty(), 5);
        let tip = tree.tip_block();
        assert!(matches!(
            tree.insert(timed_child(&tip, 10, 3), NOW),
            Err(BlockError::WrongDifficulty { required: 5, .. })
        ));
        // On target (4 intervals × 10 s) it stays; twice as slow removes a bit; far slower
        // removes at most two, and never goes below the network's starting difficulty.
        extend_every(&mut tree, 3, 10);
        assert_eq!(tree.next_difficulty(), 5);
        extend_every(&mut tree, 4, 20);
        assert_eq!(tree.next_difficulty(), 4);
        extend_every(&mut tree, 4, 1_000);
        assert_eq!(tree.next_difficulty(), 3);
        // Work follows the difficulty each block carries.
        let work: u128 = tree
            .best_chain_blocks(0, usize::MAX)
            .expect("held")
            .iter()
            .map(|block| pow::work(block.header().difficulty))
            .sum();
        assert_eq!(tree.tip().cumulative_work, work);
        tree.check_invariants().expect("consistent");
    }

    #[test]
    fn each_branch_retargets_from_its_own_timestamps() {
        let mut tree = BlockTree::new(retargeting(8, 2));
        extend_every(&mut tree, 2, 10);
        let fork_point = tree.tip_block();
        // Height 4 retargets over blocks 1→3: 11 s on one branch (ratio 20/11, one bit up),
        // 50 s on the other (one bit down, held at the floor).
        let fast = timed_child(&fork_point, 1, 8);
        let slow = timed_child(&fork_point, 40, 8);
        let (fast_block, slow_block) = (fast.block().clone(), slow.block().clone());
        tree.insert(fast, NOW).expect("valid");
        tree.insert(slow, NOW).expect("valid");
        let on_fast = timed_child(&fast_block, 1, 9);
        let on_slow = timed_child(&slow_block, 1, 8);
        assert!(tree.insert(on_fast, NOW).is_ok());
        assert!(tree.insert(on_slow, NOW).is_ok());
        assert!(matches!(
            tree.insert(timed_child(&slow_block, 2, 9), NOW),
            Err(BlockError::WrongDifficulty { required: 8, .. })
        ));
    }

    #[test]
    fn a_fixed_network_requires_its_difficulty_whatever_the_timestamps() {
        let mut tree = BlockTree::new(ChainParams::new(2, false).expect("valid"));
        for _ in 0..40 {
            assert_eq!(tree.next_difficulty(), 2);
            let child = timed_child(&tree.tip_block(), 1, 2);
            tree.insert(child, NOW).expect("valid");
        }
    }

    #[test]
    fn the_window_puts_the_best_chain_first_and_bounds_side_blocks_per_height() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let genesis = tree.genesis_block();
        // Height 1 gets eleven rivals; the first connected is the best chain's.
        let rivals: Vec<CheckedBlock> = (1..=11)
            .map(|secs| timed_child(&genesis, secs, 0))
            .collect();
        let rival_hashes: Vec<BlockHash> =
            rivals.iter().map(|rival| rival.block().hash()).collect();
        // More than a height keeps for new blocks, as an older store may hold.
        for rival in rivals {
            tree.insert_as(rival, Admission::Stored).expect("valid");
        }
        extend_every(&mut tree, 2, 1);
        assert_eq!(tree.check_invariants(), Ok(()));
        let heights_and_hashes = |window: Vec<&Entry>| -> Vec<(u64, BlockHash)> {
            window
                .iter()
                .map(|entry| (entry.height(), entry.hash()))
                .collect()
        };
        let best = |height: u64| tree.best_at(height).expect("best").hash();
        assert_eq!(
            heights_and_hashes(tree.window(0, 100, 2)),
            vec![
                (0, best(0)),
                (1, rival_hashes[0]),
                (1, rival_hashes[1]),
                (1, rival_hashes[2]),
                (2, best(2)),
                (3, best(3)),
            ]
        );
        assert_eq!(tree.window(0, 100, 100).len(), 14);
        assert_eq!(tree.window(0, 3, 100).len(), 3, "bounded in all");
        assert_eq!(
            heights_and_hashes(tree.window(2, 100, 2)),
            vec![(2, best(2)), (3, best(3))]
        );
        assert!(tree.window(4, 100, 2).is_empty());
        assert!(tree.window(u64::MAX, 100, 2).is_empty());
    }

    #[test]
    fn a_side_branch_far_behind_the_tip_is_not_kept_unless_what_comes_with_it_is_heavier() {
        let mut tree = BlockTree::new(params());
        let genesis = tree.genesis_block();
        extend_every(&mut tree, MAX_SIDE_LAG_BLOCKS as usize + 2, 1);
        let stale = timed_child(&genesis, 7, 0);
        assert!(matches!(
            tree.insert(stale.clone(), NOW),
            Err(BlockError::FarBehindBestChain { height: 1, .. })
        ));
        assert!(tree.get(&stale.block().hash()).is_none(), "not stored");
        // The same block opening a sync page that carries more work than the tip is kept.
        let tip_work = tree.tip().cumulative_work;
        let outcome = tree
            .insert_as(
                stale,
                Admission::New {
                    now: NOW,
                    work_ahead: tip_work,
                },
            )
            .expect("kept");
        assert!(matches!(outcome, InsertOutcome::SideBranch { .. }));
        assert_eq!(tree.check_invariants(), Ok(()));
    }

    #[test]
    fn a_height_keeps_a_bounded_number_of_rivals_but_always_the_heavier_branch() {
        let mut tree = BlockTree::new(params());
        let genesis = tree.genesis_block();
        extend_every(&mut tree, 1, 1);
        for secs in 2..=MAX_BLOCKS_PER_HEIGHT as u64 {
            tree.insert(timed_child(&genesis, secs, 0), NOW)
                .expect("room at height 1");
        }
        let one_too_many = timed_child(&genesis, 100, 0);
        assert_eq!(
            tree.insert(one_too_many.clone(), NOW)
                .map(|outcome| outcome.name()),
            Err(BlockError::TooManyAtHeight {
                height: 1,
                max: MAX_BLOCKS_PER_HEIGHT
            })
        );
        // Its child waiting in the orphan buffer makes its branch the heaviest: kept.
        let child = timed_child(one_too_many.block(), 1, 0);
        assert!(matches!(
            tree.insert(child.clone(), NOW),
            Ok(InsertOutcome::UnknownParent { .. })
        ));
        let outcome = tree
            .insert(one_too_many, NOW)
            .expect("heavier with its child");
        assert_eq!(outcome.name(), "reorganized");
        assert_eq!(tree.tip().hash(), child.block().hash());
        assert_eq!(tree.check_invariants(), Ok(()));
    }

    #[test]
    fn stored_blocks_are_not_held_to_todays_clock() {
        let mut tree = BlockTree::new(params());
        let genesis = tree.genesis_block();
        // At a clock of 0 every block after the 2026 genesis is far in the future.
        let new = Admission::New {
            now: 0,
            work_ahead: 0,
        };
        assert!(matches!(
            tree.insert_as(timed_child(&genesis, 1, 0), new),
            Err(BlockError::TimestampTooFar { .. })
        ));
        assert!(
            tree.insert_as(timed_child(&genesis, 1, 0), Admission::Stored)
                .is_ok()
        );
    }

    #[test]
    fn stored_blocks_are_kept_whatever_the_bounds() {
        let mut tree = BlockTree::new(params());
        let genesis = tree.genesis_block();
        extend_every(&mut tree, MAX_SIDE_LAG_BLOCKS as usize + 2, 1);
        let stale = timed_child(&genesis, 7, 0);
        assert!(tree.insert_as(stale, Admission::Stored).is_ok());
        assert_eq!(tree.check_invariants(), Ok(()));
    }

    #[test]
    fn a_child_of_the_tip_extends_the_chain() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let b1 = unmined_child(&p.genesis(), vec![], &p);
        assert_eq!(
            hashes(match &insert(&mut tree, &b1) {
                InsertOutcome::Extended { applied, .. } => applied,
                other => panic!("{other:?}"),
            }),
            vec![b1.hash()]
        );
        assert_eq!(tree.tip().hash(), b1.hash());
        assert_eq!(tree.best_chain_len(), 2);
        assert_eq!(insert(&mut tree, &b1), InsertOutcome::AlreadyKnown);
    }

    #[test]
    fn heavier_fork_triggers_reorg_and_equal_work_does_not() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let genesis = p.genesis();
        let a1 = unmined_child(&genesis, vec![unsigned_arc("a", "1", 1.0)], &p);
        let b1 = unmined_child(&genesis, vec![unsigned_arc("b", "1", 1.0)], &p);
        let b2 = unmined_child(&b1, vec![], &p);
        insert(&mut tree, &a1);
        // Equal work: first seen stays.
        assert!(matches!(
            insert(&mut tree, &b1),
            InsertOutcome::SideBranch { .. }
        ));
        assert_eq!(tree.tip().hash(), a1.hash());
        match insert(&mut tree, &b2) {
            InsertOutcome::Reorganized {
                reverted, applied, ..
            } => {
                assert_eq!(hashes(&reverted), vec![a1.hash()]);
                assert_eq!(hashes(&applied), vec![b1.hash(), b2.hash()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(tree.is_best(&b1.hash()));
        assert!(!tree.is_best(&a1.hash()));
        assert!(
            tree.confirming_block(&a1.transactions()[0].id())
                .expect("readable")
                .is_none()
        );
        assert_eq!(
            tree.confirming_block(&b1.transactions()[0].id())
                .expect("readable")
                .map(Entry::hash),
            Some(b1.hash())
        );
    }

    #[test]
    fn orphans_wait_for_their_parent_and_connect_in_one_go() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let b1 = unmined_child(&p.genesis(), vec![], &p);
        let b2 = unmined_child(&b1, vec![], &p);
        let b3 = unmined_child(&b2, vec![], &p);
        assert_eq!(
            insert(&mut tree, &b3),
            InsertOutcome::UnknownParent { missing: b2.hash() }
        );
        // b2 is buffered too, so the block still missing is b1.
        assert_eq!(
            insert(&mut tree, &b2),
            InsertOutcome::UnknownParent { missing: b1.hash() }
        );
        assert_eq!(insert(&mut tree, &b3), InsertOutcome::AlreadyKnown);
        match insert(&mut tree, &b1) {
            InsertOutcome::Extended { connected, applied } => {
                assert_eq!(hashes(&connected), vec![b1.hash(), b2.hash(), b3.hash()]);
                assert_eq!(hashes(&applied), hashes(&connected));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(tree.orphan_count(), 0);
    }

    #[test]
    fn an_invalid_orphan_is_dropped_with_its_descendants() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let b1 = unmined_child(&p.genesis(), vec![], &p);
        let mut bad = *unmined_child(&b1, vec![], &p).header();
        bad.index = 7;
        let bad = Block::new(bad, vec![]);
        let after_bad = unmined_child(&bad, vec![], &p);
        insert(&mut tree, &bad);
        insert(&mut tree, &after_bad);
        assert_eq!(tree.orphan_count(), 2);
        assert!(
            matches!(insert(&mut tree, &b1), InsertOutcome::Extended { ref connected, .. } if connected.len() == 1)
        );
        assert_eq!(tree.orphan_count(), 0);
        assert_eq!(tree.len(), 2);
    }

    #[test]
    fn contextual_errors_leave_the_tree_unchanged() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let genesis = p.genesis();
        let post = unsigned_arc("a", "1", 1.0);
        let b1 = unmined_child(&genesis, vec![post.clone()], &p);
        insert(&mut tree, &b1);

        let replay = unmined_child(&b1, vec![post.clone()], &p);
        assert_eq!(
            tree.insert(CheckedBlock::assume_checked(replay), NOW),
            Err(BlockError::TransactionAlreadyOnBranch { id: post.id() })
        );
        let mut stale = *unmined_child(&b1, vec![], &p).header();
        stale.timestamp = genesis.header().timestamp;
        assert!(matches!(
            tree.insert(CheckedBlock::assume_checked(Block::new(stale, vec![])), NOW),
            Err(BlockError::TimestampNotAfterMedian { .. })
        ));
        let future = unmined_child(&b1, vec![], &p);
        assert!(matches!(
            tree.insert(CheckedBlock::assume_checked(future), 0),
            Err(BlockError::TimestampTooFar { .. })
        ));
        assert_eq!(tree.len(), 2);
        assert_eq!(tree.tip().hash(), b1.hash());
    }

    #[test]
    fn a_post_may_appear_once_per_branch() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let genesis = p.genesis();
        let post = unsigned_arc("a", "1", 1.0);
        let a1 = unmined_child(&genesis, vec![post.clone()], &p);
        let b1 = unmined_child(&genesis, vec![], &p);
        let b2 = unmined_child(&b1, vec![post.clone()], &p);
        let b3_replay = unmined_child(&b2, vec![post.clone()], &p);
        insert(&mut tree, &a1);
        insert(&mut tree, &b1);
        // The same post on a competing branch is fine...
        assert!(matches!(
            insert(&mut tree, &b2),
            InsertOutcome::Reorganized { .. }
        ));
        // ...but not twice on one branch, even a side branch's own ancestors.
        assert_eq!(
            tree.insert(CheckedBlock::assume_checked(b3_replay), NOW),
            Err(BlockError::TransactionAlreadyOnBranch { id: post.id() })
        );
    }

    #[test]
    fn the_invariant_check_catches_each_kind_of_corruption() {
        let p = params();
        let mut tree = BlockTree::new(p.clone());
        let genesis = p.genesis();
        let b1 = unmined_child(&genesis, vec![unsigned_arc("a", "1", 1.0)], &p);
        let side = unmined_child(&genesis, vec![], &p);
        let orphan = unmined_child(&unmined_child(&b1, vec![], &p), vec![], &p);
        for block in [&b1, &side, &orphan] {
            insert(&mut tree, block);
        }
        let assert_caught = |what: &str, corrupt: fn(&mut BlockTree)| {
            let mut broken = tree.clone();
            corrupt(&mut broken);
            assert!(broken.check_invariants().is_err(), "{what}");
        };
        assert_caught("work", |t| {
            t.entries.values_mut().for_each(|e| e.cumulative_work += 1)
        });
        assert_caught("child link", |t| {
            t.entries.values_mut().for_each(|e| e.children.clear())
        });
        assert_caught("tip", |t| {
            t.best_chain.pop();
        });
        assert_caught("confirmed", |t| t.confirmed.clear());
        assert_caught("orphan bytes", |t| t.orphans.bytes += 1);
        assert_caught("orphan index", |t| t.orphans.by_parent.clear());
    }

    /// A random tree: block `i` extends one of the blocks before it.
    fn random_tree(parents: &[usize], p: &ChainParams) -> Vec<Block> {
        let mut blocks = vec![p.genesis()];
        for (i, &choice) in parents.iter().enumerate() {
            let parent = blocks[choice % blocks.len()].clone();
            let post = unsigned_arc("a", &i.to_string(), 1.0);
            blocks.push(unmined_child(&parent, vec![post], p));
        }
        blocks.remove(0);
        blocks
    }

    fn tree_in_any_order() -> impl Strategy<Value = (Vec<Block>, Vec<Block>)> {
        proptest::collection::vec(any::<usize>(), 1..40).prop_flat_map(|parents| {
            let blocks = random_tree(&parents, &params());
            Just(blocks.clone())
                .prop_shuffle()
                .prop_map(move |shuffled| (blocks.clone(), shuffled))
        })
    }

    /// A store of durable blocks and of the stored best chain's posts, as the shell's is,
    /// that can be made to lose a block.
    #[derive(Debug, Default)]
    struct StoredBodies {
        blocks: std::sync::Mutex<HashMap<BlockHash, Arc<Block>>>,
        confirmed: std::sync::Mutex<HashMap<TxId, u64>>,
    }

    impl StoredBodies {
        fn store(&self, blocks: &[Arc<Block>]) {
            let mut stored = self.blocks.lock().expect("lock");
            for block in blocks {
                stored.insert(block.hash(), block.clone());
            }
        }

        /// Moves the stored index as the store's commit does: reverted posts out, then
        /// applied ones in.
        fn commit(&self, outcome: &InsertOutcome) {
            self.store(outcome.connected());
            let (reverted, applied) = outcome.best_chain_change();
            let mut confirmed = self.confirmed.lock().expect("lock");
            for tx in reverted.iter().flat_map(|block| block.transactions()) {
                confirmed.remove(&tx.id());
            }
            for block in applied {
                for tx in block.transactions() {
                    confirmed.insert(tx.id(), block.header().index);
                }
            }
        }

        fn lose(&self, hash: &BlockHash) {
            self.blocks.lock().expect("lock").remove(hash);
        }
    }

    impl BlockSource for StoredBodies {
        fn block(&self, hash: &BlockHash) -> Option<Arc<Block>> {
            self.blocks.lock().expect("lock").get(hash).cloned()
        }

        fn confirmed_height(&self, id: &TxId) -> Result<Option<u64>, Unreadable> {
            Ok(self.confirmed.lock().expect("lock").get(id).copied())
        }
    }

    fn lean_tree(budget: usize) -> (BlockTree, Arc<StoredBodies>) {
        let stored = Arc::new(StoredBodies::default());
        let bodies = Bodies {
            source: stored.clone(),
            budget,
        };
        (BlockTree::with_bodies(params(), bodies), stored)
    }

    /// Inserts as the node does: what connected is stored, then marked durable.
    fn insert_durably(
        tree: &mut BlockTree,
        stored: &StoredBodies,
        block: &Block,
    ) -> Result<InsertOutcome, BlockError> {
        let outcome = tree.insert(CheckedBlock::assume_checked(block.clone()), NOW)?;
        stored.commit(&outcome);
        tree.mark_durable(tree.last_seq());
        Ok(outcome)
    }

    #[test]
    fn a_reorganization_needing_a_body_the_store_lost_is_refused_and_changes_nothing() {
        let (mut tree, stored) = lean_tree(0);
        let genesis = tree.genesis_block();
        let a1 = unmined_child(&genesis, vec![unsigned_arc("a", "1", 1.0)], &params());
        let a2 = unmined_child(&a1, vec![], &params());
        for block in [&a1, &a2] {
            insert_durably(&mut tree, &stored, block).expect("extends");
        }
        assert!(
            !tree.bodies.contains_key(&a1.hash()),
            "a durable body beyond the budget is dropped"
        );
        let b1 = unmined_child(&genesis, vec![], &params());
        let b2 = unmined_child(&b1, vec![], &params());
        let b3 = unmined_child(&b2, vec![unsigned_arc("a", "1", 1.0)], &params());
        for block in [&b1, &b2] {
            insert_durably(&mut tree, &stored, block).expect("side branch");
        }
        stored.lose(&a1.hash());
        let (tip, len) = (tree.tip().hash(), tree.len());
        assert_eq!(
            tree.insert(CheckedBlock::assume_checked(b3.clone()), NOW),
            Err(BlockError::StoredBlockUnreadable { hash: a1.hash() })
        );
        assert_eq!((tree.tip().hash(), tree.len()), (tip, len));
        // Once the store has it again, the same block reorganizes, and a1's post, which
        // b3 holds too, is confirmed on the new branch only.
        stored.store(&[Arc::new(a1.clone())]);
        let outcome = insert_durably(&mut tree, &stored, &b3).expect("reorganizes");
        assert!(
            matches!(outcome, InsertOutcome::Reorganized { ref reverted, .. } if reverted.len() == 2)
        );
        assert_eq!(
            tree.confirming_block(&b3.transactions()[0].id())
                .expect("readable")
                .map(Entry::hash),
            Some(b3.hash())
        );
        tree.check_invariants().expect("consistent");
    }

    /// Blocks on random parents, each with a post of its own or, where `repeat` says, the
    /// post of an earlier block: on the same branch that is refused, on another it is not.
    fn tree_with_repeated_posts() -> impl Strategy<Value = Vec<Block>> {
        proptest::collection::vec(
            (any::<usize>(), proptest::option::of(any::<usize>())),
            1..40,
        )
        .prop_map(|shape| {
            let p = params();
            let mut blocks = vec![p.genesis()];
            let mut posts: Vec<Arc<crate::tx::Transaction>> = Vec::new();
            for (i, (choice, repeat)) in shape.into_iter().enumerate() {
                let parent = blocks[choice % blocks.len()].clone();
                let post = match repeat {
                    Some(earlier) if !posts.is_empty() => posts[earlier % posts.len()].clone(),
                    _ => unsigned_arc("a", &i.to_string(), 1.0),
                };
                posts.push(post.clone());
                blocks.push(unmined_child(&parent, vec![post], &p));
            }
            blocks.remove(0);
            blocks
        })
        .prop_shuffle()
    }

    /// The index the store keeps of `tree`: its blocks in connection order.
    fn index_of(tree: &BlockTree) -> Vec<IndexedBlock> {
        let mut entries: Vec<_> = tree.entries().filter(|entry| entry.seq > 0).collect();
        entries.sort_by_key(|entry| entry.seq);
        entries
            .iter()
            .map(|entry| IndexedBlock::of(&tree.block(&entry.hash()).expect("held")))
            .collect()
    }

    #[test]
    fn an_index_with_a_header_that_breaks_a_rule_or_comes_before_its_parent_is_refused() {
        let (mut tree, stored) = lean_tree(0);
        let genesis = tree.genesis_block();
        let a1 = unmined_child(&genesis, vec![], &params());
        let a2 = unmined_child(&a1, vec![], &params());
        for block in [&a1, &a2] {
            insert_durably(&mut tree, &stored, block).expect("extends");
        }
        let bodies = || Bodies {
            source: stored.clone(),
            budget: 0,
        };
        let index = index_of(&tree);
        assert!(BlockTree::from_index(params(), bodies(), index.clone()).is_ok());
        let reversed: Vec<_> = index.iter().rev().cloned().collect();
        assert_eq!(
            BlockTree::from_index(params(), bodies(), reversed).map(|tree| tree.len()),
            Err(IndexError::UnknownParent {
                hash: a2.hash(),
                parent: a1.hash()
            })
        );
        let mut wrong_height = index.clone();
        wrong_height[1].header.index = 5;
        assert!(matches!(
            BlockTree::from_index(params(), bodies(), wrong_height),
            Err(IndexError::Invalid {
                source: BlockError::IndexMismatch { .. },
                ..
            })
        ));
        let twice = vec![index[0].clone(), index[0].clone()];
        assert_eq!(
            BlockTree::from_index(params(), bodies(), twice).map(|tree| tree.len()),
            Err(IndexError::Duplicate { hash: a1.hash() })
        );
    }

    proptest! {
        #[test]
        fn a_tree_rebuilt_from_its_index_is_the_tree_its_blocks_built(
            shuffled in tree_with_repeated_posts(),
        ) {
            let (mut tree, stored) = lean_tree(0);
            for block in &shuffled {
                let _ = insert_durably(&mut tree, &stored, block);
            }
            let bodies = Bodies { source: stored.clone(), budget: 0 };
            let rebuilt = BlockTree::from_index(params(), bodies, index_of(&tree)).expect("rebuilds");
            prop_assert_eq!(rebuilt.check_invariants(), Ok(()));
            prop_assert_eq!(&rebuilt.best_chain, &tree.best_chain);
            prop_assert_eq!(&rebuilt.by_height, &tree.by_height);
            prop_assert_eq!(rebuilt.len(), tree.len());
            prop_assert_eq!(rebuilt.side_bytes(), tree.side_bytes());
            prop_assert_eq!(rebuilt.last_seq(), tree.last_seq());
            for entry in tree.entries() {
                let again = rebuilt.get(&entry.hash()).expect("rebuilt");
                prop_assert_eq!((again.cumulative_work, again.seq), (entry.cumulative_work, entry.seq));
                prop_assert_eq!(&again.children, &entry.children);
            }
            prop_assert_eq!(rebuilt.held_body_bytes(), tree.held_body_bytes());
        }

        #[test]
        fn a_tree_that_drops_durable_bodies_decides_exactly_as_one_that_keeps_them(
            shuffled in tree_with_repeated_posts(),
            budget in prop_oneof![Just(0_usize), Just(1_000), Just(usize::MAX)],
        ) {
            let mut everything = BlockTree::new(params());
            let (mut lean, stored) = lean_tree(budget);
            for block in &shuffled {
                let expected = everything.insert(CheckedBlock::assume_checked(block.clone()), NOW);
                let outcome = insert_durably(&mut lean, &stored, block);
                prop_assert_eq!(&outcome, &expected);
                prop_assert_eq!(lean.check_invariants(), Ok(()));
                prop_assert_eq!(lean.tip().hash(), everything.tip().hash());
                // Held: every body off the best chain, genesis, the tip, and the newest
                // best-chain bodies within the budget.
                let tip_and_genesis = lean.tip().encoded_len() + lean.genesis().encoded_len();
                let held_best = lean.body_bytes - lean.side_bytes();
                prop_assert!(held_best <= budget.saturating_add(tip_and_genesis), "{held_best} held");
                for entry in lean.entries() {
                    if !lean.is_best(&entry.hash()) {
                        prop_assert!(lean.bodies.contains_key(&entry.hash()));
                    }
                }
                // Everything is durable: the store answers for every confirmed post.
                prop_assert!(lean.confirmed.is_empty() && lean.confirmed_changes.is_empty());
            }
            prop_assert_eq!(
                lean.best_chain_blocks(0, usize::MAX).expect("readable"),
                everything.best_chain_blocks(0, usize::MAX).expect("held")
            );
        }

        #[test]
        fn heaviest_branch_wins_whatever_order_blocks_arrive_in(
            (blocks, shuffled) in tree_in_any_order()
        ) {
            // Fork choice alone: the side-branch bounds are the next property's.
            let mut tree = BlockTree::new(params());
            for block in &shuffled {
                tree.insert_as(CheckedBlock::assume_checked(block.clone()), Admission::Stored)
                    .expect("valid block");
                prop_assert_eq!(tree.check_invariants(), Ok(()));
            }
            prop_assert_eq!(tree.len(), blocks.len() + 1);
            prop_assert_eq!(tree.orphan_count(), 0);
            let max_height = blocks.iter().map(|b| b.header().index).max().unwrap_or(0);
            prop_assert_eq!(tree.tip().height(), max_height);
            let max_work = tree.entries().map(|e| e.cumulative_work).max();
            prop_assert_eq!(Some(tree.tip().cumulative_work), max_work);
            let tallest: Vec<_> = blocks.iter().filter(|b| b.header().index == max_height).collect();
            if tallest.len() == 1 {
                prop_assert_eq!(tree.tip().hash(), tallest[0].hash());
            }
            // `confirmed` holds exactly the best chain's posts.
            for block in &blocks {
                let on_best = tree.is_best(&block.hash());
                let confirmed = tree.confirming_block(&block.transactions()[0].id()).expect("readable").is_some();
                prop_assert_eq!(on_best, confirmed);
            }
        }

        #[test]
        fn only_side_branch_bounds_refuse_and_a_sync_still_reaches_the_heaviest_branch(
            (blocks, shuffled) in tree_in_any_order()
        ) {
            let mut tree = BlockTree::new(params());
            for block in &shuffled {
                match tree.insert(CheckedBlock::assume_checked(block.clone()), NOW) {
                    Ok(_) => {}
                    Err(error) => prop_assert!(error.is_side_branch_bound(), "{error}"),
                }
                prop_assert_eq!(tree.check_invariants(), Ok(()));
            }
            // A sync hands over the heaviest branch in height order, each block with the
            // work that follows it: most work wins whatever the bounds refused before.
            let max_height = blocks.iter().map(|b| b.header().index).max().unwrap_or(0);
            if tree.tip().height() == max_height {
                return Ok(());
            }
            let heaviest_tip = blocks
                .iter()
                .find(|b| b.header().index == max_height)
                .expect("a tip");
            let by_hash: HashMap<BlockHash, &Block> = blocks.iter().map(|b| (b.hash(), b)).collect();
            let mut branch = vec![heaviest_tip];
            while let Some(parent) = by_hash.get(&branch[branch.len() - 1].header().previous_hash) {
                branch.push(parent);
            }
            branch.reverse();
            for (index, block) in branch.iter().enumerate() {
                let work_ahead = (branch.len() - index - 1) as u128;
                tree.insert_as(
                    CheckedBlock::assume_checked((*block).clone()),
                    Admission::New { now: NOW, work_ahead },
                )
                .expect("the heaviest branch is always kept");
            }
            prop_assert_eq!(tree.tip().height(), max_height);
            prop_assert_eq!(tree.check_invariants(), Ok(()));
        }
    }
}
