//! Prometheus metrics of one node, served at `GET /metrics` in the OpenMetrics text format.
//!
//! Counters and histograms are updated where things happen (block acceptance, mining,
//! gossip); gauges that mirror the chain state (height, work, mempool, peers) are read from
//! the state when scraped, so they can never drift from it, and so is the runtime's count
//! of alive tasks.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// The label of a counter split by one word (an outcome, a reason, a kind).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Reason {
    pub(crate) reason: String,
}

/// The label of gossip counters: what was sent.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct Kind {
    /// `block` or `transaction`.
    pub(crate) kind: String,
}

/// Every metric of a node.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Height of the best tip.
    pub(crate) height: Gauge,
    /// Cumulative work of the best chain (a float: work can exceed 2^63).
    pub(crate) cumulative_work: Gauge<f64, AtomicU64>,
    /// Posts pending.
    pub(crate) mempool_size: Gauge,
    /// Bytes of block bodies the chain state holds in memory (side branches, the newest
    /// best-chain blocks up to `--block-cache-mib`, blocks not yet durable).
    pub(crate) block_bodies_held_bytes: Gauge,
    pub(crate) peers: Gauge,
    /// Blocks accepted, by what they did (extended, reorganized, side_branch, ...).
    pub(crate) blocks_accepted: Family<Reason, Counter>,
    /// Blocks refused, by the rule they broke.
    pub(crate) blocks_rejected: Family<Reason, Counter>,
    pub(crate) reorgs: Counter,
    /// Blocks abandoned per reorganization.
    pub(crate) reorg_depth: Histogram,
    /// Hash rate of the last mining run, in hashes per second.
    pub(crate) hash_rate: Gauge<f64, AtomicU64>,
    /// Gossip messages delivered to a peer.
    pub(crate) gossip_sent: Family<Kind, Counter>,
    /// Gossip messages that could not be delivered after every retry.
    pub(crate) gossip_failed: Family<Kind, Counter>,
    /// Tasks alive on the async runtime, read at each scrape: a count that keeps growing
    /// under a steady load is a task leak.
    pub(crate) runtime_tasks: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("chainpost");
        let metrics = Metrics {
            height: Gauge::default(),
            cumulative_work: Gauge::default(),
            mempool_size: Gauge::default(),
            block_bodies_held_bytes: Gauge::default(),
            peers: Gauge::default(),
            blocks_accepted: Family::default(),
            blocks_rejected: Family::default(),
            reorgs: Counter::default(),
            reorg_depth: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
            hash_rate: Gauge::default(),
            gossip_sent: Family::default(),
            gossip_failed: Family::default(),
            runtime_tasks: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("height", "Height of the best tip", metrics.height.clone());
        registry.register(
            "cumulative_work",
            "Cumulative proof of work of the best chain, in expected hashes",
            metrics.cumulative_work.clone(),
        );
        registry.register(
            "mempool_size",
            "Posts waiting to be mined",
            metrics.mempool_size.clone(),
        );
        registry.register(
            "block_bodies_held_bytes",
            "Bytes of block bodies held in memory; the rest are read from the store",
            metrics.block_bodies_held_bytes.clone(),
        );
        registry.register("peers", "Known peers", metrics.peers.clone());
        registry.register(
            "blocks_accepted",
            "Blocks accepted, by outcome",
            metrics.blocks_accepted.clone(),
        );
        registry.register(
            "blocks_rejected",
            "Blocks refused, by the rule they broke",
            metrics.blocks_rejected.clone(),
        );
        registry.register(
            "reorgs",
            "Reorganizations of the best chain",
            metrics.reorgs.clone(),
        );
        registry.register(
            "reorg_depth",
            "Blocks abandoned per reorganization",
            metrics.reorg_depth.clone(),
        );
        registry.register(
            "hash_rate",
            "Hashes per second of the last mining run",
            metrics.hash_rate.clone(),
        );
        registry.register(
            "gossip_sent",
            "Gossip messages delivered to peers",
            metrics.gossip_sent.clone(),
        );
        registry.register(
            "gossip_failed",
            "Gossip messages not delivered after every retry",
            metrics.gossip_failed.clone(),
        );
        registry.register(
            "runtime_tasks",
            "Tasks alive on the node's async runtime",
            metrics.runtime_tasks.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// Counts one more of `family` under `label`.
    pub(crate) fn count(family: &Family<Reason, Counter>, label: &str) {
        family
            .get_or_create(&Reason {
                reason: label.to_owned(),
            })
            .inc();
    }

    /// Counts one gossip message of `kind`, delivered or not.
    pub(crate) fn count_gossip(&self, kind: &str, delivered: bool) {
        let family = if delivered {
            &self.gossip_sent
        } else {
            &self.gossip_failed
        };
        family
            .get_or_create(&Kind {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text of every metric; called on the runtime, whose task count it
    /// reads.
    pub(crate) fn encode(&self) -> String {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.runtime_tasks
                .set(i64::try_from(runtime.metrics().num_alive_tasks()).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_metric_with_the_prefix() {
        let metrics = Metrics::default();
        metrics.height.set(7);
        Metrics::count(&metrics.blocks_rejected, "insufficient_work");
        metrics.count_gossip("block", false);
        let text = metrics.encode();
        assert!(text.contains("chainpost_height 7"), "{text}");
        assert!(
            text.contains("chainpost_blocks_rejected_total{reason=\"insufficient_work\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("chainpost_gossip_failed_total{kind=\"block\"} 1"),
            "{text}"
        );
        assert!(text.contains("chainpost_reorg_depth_bucket"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn counts_the_tasks_alive_on_the_runtime() {
        let metrics = Metrics::default();
        let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let waiting = tokio::spawn(stopped);
        assert!(
            metrics.encode().contains("chainpost_runtime_tasks 1"),
            "the waiting task is counted"
        );
        waiting.abort();
        let _ = waiting.await;
        assert!(metrics.encode().contains("chainpost_runtime_tasks 0"));
    }
}
