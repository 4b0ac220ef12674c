//! The mempool: posts waiting to be mined, in arrival order.
//!
//! **Invariants**
//! - No two entries share an id; `bytes` is the sum of the entries' canonical sizes.
//! - Admission is bounded by count and bytes; a full pool refuses with an error rather than
//!   dropping anything silently.
//! - Posts returned by a reorganization are re-admitted even beyond the bounds: a post the
//!   network once accepted is never lost to a reorg.
//!
//! Posts are kept by arrival number with an id index beside it, so that admitting,
//! removing and paging are each O(log n) whatever the pool holds: sealing a block costs
//! what the block holds, not what is pending.
//!
//! The mempool does not validate posts or know the chain; [`crate::state`] decides
//! what may enter and keeps it consistent with the best chain.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::block::Block;
use crate::hash::TxId;
use crate::tx::Transaction;

/// Why the mempool refused a post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The post is already waiting to be mined.
    #[error("transaction {id} is already pending")]
    Duplicate { id: TxId },
    /// The pool is at its count or byte limit.
    #[error("mempool full ({count} posts, {bytes} bytes pending); try again after the next block")]
    Full { count: usize, bytes: usize },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolLimits {
    pub max_count: usize,
    /// Most canonical bytes pending at once.
    pub(crate) max_bytes: usize,
}

impl Default for MempoolLimits {
    fn default() -> Self {
        MempoolLimits {
            max_count: 100_000,
            max_bytes: 64 << 20,
        }
    }
}

impl MempoolLimits {
    /// Room for `max_count` posts of the default average size, and never fewer bytes
    /// than the default, so that a small pool still takes the largest post.
    pub fn for_count(max_count: usize) -> Self {
        let default = MempoolLimits::default();
        let bytes_per_post = default.max_bytes / default.max_count;
        MempoolLimits {
            max_count,
            max_bytes: max_count
                .saturating_mul(bytes_per_post)
                .max(default.max_bytes),
        }
    }
}

/// A template looks at no more than this many blocks' worth of the oldest posts...
const SELECT_SCAN_BLOCKS: usize = 4;
/// ...and at least this many.
const SELECT_SCAN_MIN: usize = 4_096;

/// Posts waiting for a block, in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Mempool {
    by_arrival: BTreeMap<u64, Arc<Transaction>>,
    arrivals: HashMap<TxId, u64>,
    /// (the post replied to, the reply's arrival) for each pending reply.
    replies: BTreeSet<(TxId, u64)>,
    /// Arrivals of the posts a reorganization took out of the best chain, until they are
    /// confirmed again.
    returned: BTreeSet<u64>,
    next_arrival: u64,
    bytes: usize,
    limits: MempoolLimits,
}

impl Mempool {
    /// An empty pool with the given limits, its id index sized for them up front: growing
    /// a large map would stall every request waiting on the node's state.
    pub(crate) fn new(limits: MempoolLimits) -> Self {
        Mempool {
            by_arrival: BTreeMap::new(),
            arrivals: HashMap::with_capacity(limits.max_count),
            replies: BTreeSet::new(),
            returned: BTreeSet::new(),
            next_arrival: 0,
            bytes: 0,
            limits,
        }
    }

    /// Admits a post, unless it is already here or the pool is full.
    pub(crate) fn insert(&mut self, tx: Arc<Transaction>) -> Result<(), MempoolError> {
        if self.arrivals.contains_key(&tx.id()) {
            return Err(MempoolError::Duplicate { id: tx.id() });
        }
        if self.arrivals.len() >= self.limits.max_count
            || self.bytes + tx.encoded_len() > self.limits.max_bytes
        {
            return Err(MempoolError::Full {
                count: self.arrivals.len(),
                bytes: self.bytes,
            });
        }
        self.push(tx);
        Ok(())
    }

    /// Re-admits a post that a reorganization took out of the best chain, whatever the
    /// bounds, and marks it returned; false if it was already here.
    pub(crate) fn restore(&mut self, tx: Arc<Transaction>) -> bool {
        self.readmit(tx, true)
    }

    /// Re-admits a post that was pending when the node stopped, whatever the bounds; false
    /// if it is already here.
    pub(crate) fn reload(&mut self, tx: Arc<Transaction>) -> bool {
        self.readmit(tx, false)
    }

    fn readmit(&mut self, tx: Arc<Transaction>, returned: bool) -> bool {
        if self.arrivals.contains_key(&tx.id()) {
            return false;
        }
        if returned {
            self.returned.insert(self.next_arrival);
        }
        self.push(tx);
        true
    }

    fn push(&mut self, tx: Arc<Transaction>) {
        self.bytes += tx.encoded_len();
        self.arrivals.insert(tx.id(), self.next_arrival);
        if let Some(parent) = tx.reply_to() {
            self.replies.insert((*parent, self.next_arrival));
        }
        self.by_arrival.insert(self.next_arrival, tx);
        self.next_arrival += 1;
    }

    /// Removes the post that arrived `arrival`th from every index but `arrivals`.
    fn take(&mut self, arrival: u64) -> Option<Arc<Transaction>> {
        let tx = self.by_arrival.remove(&arrival)?;
        self.bytes -= tx.encoded_len();
        if let Some(parent) = tx.reply_to() {
            self.replies.remove(&(*parent, arrival));
        }
        self.returned.remove(&arrival);
        Some(tx)
    }

    /// Removes the posts of `blocks`; returns the ids that were pending. Costs
    /// O(posts in the blocks × log pending).
    pub(crate) fn remove_included(&mut self, blocks: &[Arc<Block>]) -> Vec<TxId> {
        let mut removed = Vec::new();
        for tx in blocks.iter().flat_map(|block| block.transactions()) {
            if let Some(arrival) = self.arrivals.remove(&tx.id())
                && let Some(tx) = self.take(arrival)
            {
                removed.push(tx.id());
            }
        }
        removed
    }

    /// Up to `limit` pending posts in arrival order, starting after the pending post
    /// `after` (from the oldest without it); `None` if `after` is not pending.
    pub fn page(&self, after: Option<&TxId>, limit: usize) -> Option<Vec<Arc<Transaction>>> {
        let start = match after {
            Some(id) => self.arrivals.get(id)?.saturating_add(1),
            None => 0,
        };
        Some(
            self.by_arrival
                .range(start..)
                .take(limit)
                .map(|(_, tx)| tx.clone())
                .collect(),
        )
    }

    /// Removes the newest posts while `forget` holds for them, stopping at the first it does
    /// not hold for; returns their ids, newest first.
    pub(crate) fn forget_newest_while(&mut self, forget: impl Fn(&TxId) -> bool) -> Vec<TxId> {
        let mut forgotten = Vec::new();
        while let Some((&arrival, tx)) = self.by_arrival.last_key_value() {
            let id = tx.id();
            if !forget(&id) {
                break;
            }
            self.take(arrival);
            self.arrivals.remove(&id);
            forgotten.push(id);
        }
        forgotten
    }

    pub(crate) fn limits(&self) -> MempoolLimits {
        self.limits
    }

    /// The oldest posts that `eligible` accepts and that fit in a block of at most
    /// `max_count` posts and `max_bytes`. Looks at no more than a few blocks' worth of
    /// the oldest posts, so a template costs O(block) however full the pool is.
    pub(crate) fn select(
        &self,
        max_count: usize,
        max_bytes: usize,
        eligible: impl Fn(&Transaction) -> bool,
    ) -> Vec<Arc<Transaction>> {
        let mut bytes = 0;
        let mut selected = Vec::new();
        let scan = max_count
            .saturating_mul(SELECT_SCAN_BLOCKS)
            .max(SELECT_SCAN_MIN);
        for tx in self
            .by_arrival
            .values()
            .take(scan)
            .filter(|tx| eligible(tx))
        {
            if selected.len() == max_count {
                break;
            }
            if bytes + tx.encoded_len() > max_bytes {
                continue;
            }
            bytes += tx.encoded_len();
            selected.push(tx.clone());
        }
        selected
    }

    /// Up to `limit` pending replies to `parent`, in arrival order.
    pub fn replies_to(&self, parent: &TxId, limit: usize) -> Vec<Arc<Transaction>> {
        self.replies
            .range((*parent, 0)..=(*parent, u64::MAX))
            .take(limit)
            .filter_map(|(_, arrival)| self.by_arrival.get(arrival).cloned())
            .collect()
    }

    /// How many pending posts reply to `parent`; O(those replies).
    pub fn reply_count(&self, parent: &TxId) -> usize {
        self.replies
            .range((*parent, 0)..=(*parent, u64::MAX))
            .count()
    }

    pub fn get(&self, id: &TxId) -> Option<&Arc<Transaction>> {
        self.by_arrival.get(self.arrivals.get(id)?)
    }

    /// Whether the pending post `id` is pending again because a reorganization took the
    /// block that confirmed it off the best chain. Not kept across a restart.
    pub fn was_returned(&self, id: &TxId) -> bool {
        self.arrivals
            .get(id)
            .is_some_and(|arrival| self.returned.contains(arrival))
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.arrivals.contains_key(id)
    }

    /// Pending posts in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Transaction>> {
        self.by_arrival.values()
    }

    pub fn len(&self) -> usize {
        self.arrivals.len()
    }

    pub fn is_empty(&self) -> bool {
        self.arrivals.is_empty()
    }

    /// Canonical bytes pending.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::*;

    fn pool(max_count: usize, max_bytes: usize) -> Mempool {
        Mempool::new(MempoolLimits {
            max_count,
            max_bytes,
        })
    }

    /// A pool with room for 10 holding `count` posts, and the posts in arrival order.
    fn holding(count: usize) -> (Mempool, Vec<Arc<Transaction>>) {
        let mut pool = pool(10, 10_000);
        let txs: Vec<_> = (0..count)
            .map(|i| unsigned_arc("a", &i.to_string(), 1.0))
            .collect();
        for tx in &txs {
            pool.insert(tx.clone()).expect("room");
        }
        (pool, txs)
    }

    #[test]
    fn duplicates_are_refused_by_id() {
        let mut pool = pool(10, 10_000);
        let tx = unsigned_arc("a", "1", 1.0);
        assert_eq!(pool.insert(tx.clone()), Ok(()));
        assert_eq!(
            pool.insert(Arc::new(unsigned("a", "1", 1.0))),
            Err(MempoolError::Duplicate { id: tx.id() })
        );
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn limits_for_a_count_scale_bytes_but_never_below_the_default() {
        let default = MempoolLimits::default();
        assert_eq!(MempoolLimits::for_count(default.max_count), default);
        assert_eq!(MempoolLimits::for_count(1).max_bytes, default.max_bytes);
        let large = MempoolLimits::for_count(4 * default.max_count);
        assert_eq!(large.max_count, 4 * default.max_count);
        let bytes_per_post = default.max_bytes / default.max_count;
        assert_eq!(large.max_bytes, large.max_count * bytes_per_post);
        assert_eq!(MempoolLimits::for_count(usize::MAX).max_bytes, usize::MAX);
    }

    #[test]
    fn filling_to_the_bound_never_grows_the_map() {
        let mut pool = pool(1_000, usize::MAX);
        let capacity = pool.arrivals.capacity();
        for i in 0..1_000 {
            pool.insert(unsigned_arc("a", &i.to_string(), 1.0))
                .expect("room");
        }
        assert_eq!(pool.arrivals.capacity(), capacity);
    }

    #[test]
    fn pages_follow_arrival_order_after_a_pending_post() {
        let (mut pool, txs) = holding(5);
        let ids = |page: Option<Vec<Arc<Transaction>>>| {
            page.expect("known cursor")
                .iter()
                .map(|tx| tx.id())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(pool.page(None, 2)), vec![txs[0].id(), txs[1].id()]);
        assert_eq!(
            ids(pool.page(Some(&txs[1].id()), 2)),
            vec![txs[2].id(), txs[3].id()]
        );
        assert_eq!(ids(pool.page(Some(&txs[4].id()), 2)), Vec::<TxId>::new());
        let p = crate::ChainParams::new(0, false).expect("valid");
        let block = Arc::new(unmined_child(&p.genesis(), vec![txs[2].clone()], &p));
        pool.remove_included(&[block]);
        assert_eq!(
            ids(pool.page(Some(&txs[1].id()), 2)),
            vec![txs[3].id(), txs[4].id()],
            "a removed post leaves no gap"
        );
        assert!(
            pool.page(Some(&txs[2].id()), 2).is_none(),
            "no longer pending"
        );
        assert!(pool.restore(txs[2].clone()));
        assert_eq!(
            ids(pool.page(Some(&txs[4].id()), 2)),
            vec![txs[2].id()],
            "a returned post arrives anew"
        );
    }

    #[test]
    fn a_returned_post_is_marked_until_it_leaves_and_a_reloaded_one_never() {
        let mut pool = pool(10, 10_000);
        let returned = unsigned_arc("a", "returned", 1.0);
        let reloaded = unsigned_arc("a", "reloaded", 1.0);
        let fresh = unsigned_arc("a", "fresh", 1.0);
        assert!(pool.restore(returned.clone()));
        assert!(pool.reload(reloaded.clone()));
        pool.insert(fresh.clone()).expect("room");
        assert!(pool.was_returned(&returned.id()));
        assert!(!pool.was_returned(&reloaded.id()));
        assert!(!pool.was_returned(&fresh.id()));
        assert!(!pool.reload(returned.clone()), "already pending");
        let p = crate::ChainParams::new(0, false).expect("valid");
        let block = Arc::new(unmined_child(&p.genesis(), vec![returned.clone()], &p));
        pool.remove_included(&[block]);
        assert!(!pool.was_returned(&returned.id()), "confirmed again");
        assert!(pool.returned.is_empty(), "no mark outlives its post");
        pool.insert(returned.clone()).expect("room");
        assert!(
            !pool.was_returned(&returned.id()),
            "submitted anew, not returned"
        );
        let forgotten = unsigned_arc("a", "forgotten", 1.0);
        assert!(pool.restore(forgotten.clone()));
        pool.forget_newest_while(|id| *id == forgotten.id());
        assert!(pool.returned.is_empty(), "forgetting a post drops its mark");
    }

    #[test]
    fn full_is_an_error_by_count_and_by_bytes() {
        let mut by_count = pool(1, 10_000);
        by_count.insert(unsigned_arc("a", "1", 1.0)).expect("room");
        assert!(matches!(
            by_count.insert(unsigned_arc("a", "2", 1.0)),
            Err(MempoolError::Full { count: 1, .. })
        ));
        let tx = unsigned_arc("a", "1", 1.0);
        let mut by_bytes = pool(10, tx.encoded_len());
        by_bytes.insert(tx).expect("room");
        assert!(matches!(
            by_bytes.insert(unsigned_arc("a", "2", 1.0)),
            Err(MempoolError::Full { count: 1, .. })
        ));
    }

    #[test]
    fn restore_ignores_bounds_but_not_duplicates() {
        let mut pool = pool(1, 10_000);
        let first = unsigned_arc("a", "1", 1.0);
        pool.insert(first.clone()).expect("room");
        assert!(pool.restore(unsigned_arc("a", "2", 1.0)));
        assert!(!pool.restore(first));
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn removal_keeps_arrival_order_and_byte_count() {
        let (mut pool, txs) = holding(4);
        let p = crate::ChainParams::new(0, false).expect("valid");
        let block = Arc::new(unmined_child(&p.genesis(), vec![txs[1].clone()], &p));
        assert_eq!(pool.remove_included(&[block]), vec![txs[1].id()]);
        let order: Vec<_> = pool.iter().map(|tx| tx.id()).collect();
        assert_eq!(order, vec![txs[0].id(), txs[2].id(), txs[3].id()]);
        let expected_bytes: usize = pool.iter().map(|tx| tx.encoded_len()).sum();
        assert_eq!(pool.bytes(), expected_bytes);
    }

    #[test]
    fn forgetting_the_newest_stops_at_the_first_kept_and_keeps_the_byte_count() {
        let (mut pool, txs) = holding(4);
        // txs[0] is unwanted too, but older than a wanted post: only the tail goes.
        let unwanted = [txs[0].id(), txs[2].id(), txs[3].id()];
        let forgotten = pool.forget_newest_while(|id| unwanted.contains(id));
        assert_eq!(forgotten, vec![txs[3].id(), txs[2].id()]);
        let left: Vec<_> = pool.iter().map(|tx| tx.id()).collect();
        assert_eq!(left, vec![txs[0].id(), txs[1].id()]);
        assert_eq!(pool.bytes(), txs[0].encoded_len() + txs[1].encoded_len());
    }

    #[test]
    fn selection_takes_the_oldest_that_fit() {
        let mut pool = pool(10, 10_000);
        let small = unsigned_arc("a", "1", 1.0);
        let big = unsigned_arc("a", &"x".repeat(500), 1.0);
        let small2 = unsigned_arc("a", "2", 1.0);
        for tx in [&small, &big, &small2] {
            pool.insert(tx.clone()).expect("room");
        }
        let ids = |txs: Vec<Arc<Transaction>>| txs.iter().map(|t| t.id()).collect::<Vec<_>>();
        assert_eq!(
            ids(pool.select(2, 10_000, |_| true)),
            vec![small.id(), big.id()]
        );
        let room = small.encoded_len() + small2.encoded_len();
        assert_eq!(
            ids(pool.select(10, room, |_| true)),
            vec![small.id(), small2.id()]
        );
    }

    #[test]
    fn pending_replies_are_listed_by_parent_until_they_leave_by_any_way() {
        let (mut pool, txs) = holding(2);
        let reply = |parent: &Arc<Transaction>, content: &str| {
            Arc::new(Transaction::with_reply_to(
                "b".into(),
                content.into(),
                1.0,
                Some(parent.id()),
                None,
            ))
        };
        let (first, second, other) = (
            reply(&txs[0], "1"),
            reply(&txs[0], "2"),
            reply(&txs[1], "3"),
        );
        for tx in [&first, &second, &other] {
            pool.insert(tx.clone()).expect("room");
        }
        let ids = |txs: Vec<Arc<Transaction>>| txs.iter().map(|t| t.id()).collect::<Vec<_>>();
        assert_eq!(
            ids(pool.replies_to(&txs[0].id(), 10)),
            vec![first.id(), second.id()]
        );
        assert_eq!(ids(pool.replies_to(&txs[0].id(), 1)), vec![first.id()]);
        assert_eq!(pool.reply_count(&txs[1].id()), 1);
        assert_eq!(pool.reply_count(&first.id()), 0);

        let p = crate::ChainParams::new(0, false).expect("valid");
        let block = Arc::new(unmined_child(&p.genesis(), vec![first.clone()], &p));
        pool.remove_included(&[block]);
        assert_eq!(ids(pool.replies_to(&txs[0].id(), 10)), vec![second.id()]);
        pool.forget_newest_while(|id| *id == other.id());
        assert_eq!(pool.reply_count(&txs[1].id()), 0);
        assert!(pool.restore(first.clone()));
        assert_eq!(
            ids(pool.replies_to(&txs[0].id(), 10)),
            vec![second.id(), first.id()],
            "a returned reply arrives anew"
        );
        assert_eq!(pool.replies.len(), 2, "no entry outlives its post");
    }
}
