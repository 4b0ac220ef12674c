//! The points of a latency sweep: per run, the measured stale rate next to what theory
//! predicts for it.
//!
//! Boundary: pure. The one place a run's [`Results`] meet the `theory` model as a
//! whole, so the theory knows nothing of the analysis that uses it.

use serde::{Deserialize, Serialize};

use crate::analysis::Results;
use crate::config::Swept;
use crate::record::RunRecord;
use crate::theory::{stale_rate_counting_each_fork_once, wilson_interval};

/// What `records` differ in: the latency, else the block interval, else the post rate; the
/// latency when nothing does.
pub fn swept_by(records: &[&RunRecord]) -> Swept {
    let differs = |value: &dyn Fn(&RunRecord) -> Option<f64>| {
        records
            .first()
            .is_some_and(|first| records.iter().any(|record| value(record) != value(first)))
    };
    if differs(&|record| Some(record.link_latency_ms)) {
        Swept::LatencyMs
    } else if differs(&|record| Some(record.target_block_interval_secs)) {
        Swept::BlockIntervalSecs
    } else if differs(&|record| record.posts_per_sec) {
        Swept::PostsPerSec
    } else {
        Swept::LatencyMs
    }
}

/// How a point of a d/T sweep of `swept` is named on its chart.
pub(crate) fn point_label(swept: Swept, point: &SweepPoint) -> String {
    match swept {
        Swept::BlockIntervalSecs => format!("T0 = {} s", point.block_interval_secs),
        Swept::LatencyMs | Swept::PostsPerSec => format!("{} ms", point.latency_ms),
    }
}

/// One run of a sweep of latency or block interval: the measured stale rate next to the
/// predicted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Injected one-way latency of every link, in milliseconds.
    pub(crate) latency_ms: f64,
    /// The block interval the hash rates were chosen for, in seconds.
    pub(crate) block_interval_secs: f64,
    /// Measured mean block propagation delay `d`, in seconds.
    pub(crate) d_secs: f64,
    /// Observed network block interval `T`, in seconds.
    pub(crate) t_secs: f64,
    pub(crate) d_over_t: f64,
    /// Stale blocks over mined blocks.
    pub(crate) measured_stale_rate: f64,
    /// Blocks mined that did not end on the main chain.
    pub(crate) stale_blocks: usize,
    pub(crate) mined_blocks: usize,
    /// The stale rate theory predicts for the run's hash shares and measured `d / T`.
    pub(crate) predicted_stale_rate: f64,
    /// The same prediction with each fork counted once: `P / (1 + P)`.
    pub(crate) predicted_each_fork_once: f64,
    /// Lower end of the 95% Wilson interval of the measured rate.
    pub(crate) ci_low: f64,
    /// Upper end of the 95% Wilson interval of the measured rate.
    pub(crate) ci_high: f64,
}

/// Why a run gives no sweep point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SweepPointError {
    /// The run mined no block, so it has neither a stale rate nor a block interval.
    #[error("the run mined no block")]
    NoBlocksMined,
    /// No node connected another's block, so the propagation delay is unknown.
    #[error("no block was seen to propagate, so the propagation delay is unknown")]
    NoPropagationObserved,
}

impl SweepPoint {
    pub fn from_run(record: &RunRecord, results: &Results) -> Result<Self, SweepPointError> {
        let (Some(measured_stale_rate), Some(t_secs)) =
            (results.stale_rate, results.observed_block_interval_secs)
        else {
            return Err(SweepPointError::NoBlocksMined);
        };
        let (Some(delay), Some(d_over_t), Some(predicted_stale_rate)) = (
            &results.propagation_delay_secs,
            results.d_over_t,
            results.predicted_stale_rate,
        ) else {
            return Err(SweepPointError::NoPropagationObserved);
        };
        let (ci_low, ci_high) = wilson_interval(results.stale_blocks, results.mined_blocks);
        Ok(Self {
            latency_ms: record.link_latency_ms,
            block_interval_secs: record.target_block_interval_secs,
            d_secs: delay.mean,
            t_secs,
            d_over_t,
            measured_stale_rate,
            stale_blocks: results.stale_blocks,
            mined_blocks: results.mined_blocks,
            predicted_stale_rate,
            predicted_each_fork_once: stale_rate_counting_each_fork_once(predicted_stale_rate),
            ci_low,
            ci_high,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::analyze_events;
    use crate::events::{EventKind, NodeEvent};
    use crate::theory::stale_probability;

    fn run(nodes: usize) -> RunRecord {
        RunRecord {
            nodes,
            hash_shares: vec![1.0 / nodes as f64; nodes],
            target_block_interval_secs: 10.0,
            link_latency_ms: 250.0,
            link_loss: 0.0,
            link_bandwidth_bytes_per_sec: None,
            posts_per_sec: None,
            link_bytes: None,
            regions: None,
            node_regions: vec![],
            topology: "mesh".into(),
            links: vec![],
            mining_started_at: 0.0,
            mining_stopped_at: 40.0,
            events: vec![],
            posts: vec![],
            final_tips: vec![],
            main_chain: vec![crate::record::ChainBlock {
                hash: "A".into(),
                height: 1,
                post_ids: vec![],
            }],
            block_sizes: vec![],
            settled_after_secs: None,
        }
    }

    fn event(node: usize, at: f64, kind: EventKind) -> NodeEvent {
        NodeEvent { node, at, kind }
    }

    fn mined(hash: &str) -> EventKind {
        let hash = hash.into();
        EventKind::Mined { hash, height: 1 }
    }

    fn connected(hash: &str) -> EventKind {
        let hash = hash.into();
        EventKind::Connected { hash, height: 1 }
    }

    #[test]
    fn a_sweep_point_carries_the_runs_measurements_and_prediction() {
        let record = run(2);
        // A and B compete at height 1; A wins. 2 blocks in 40 s: T = 20 s; d = 0.5 s.
        let events = [
            event(0, 10.0, mined("A")),
            event(1, 10.25, connected("A")),
            event(1, 10.125, mined("B")),
            event(0, 10.875, connected("B")),
        ];
        let results = analyze_events(&record, &events);
        let point = SweepPoint::from_run(&record, &results).expect("a point");
        let (ci_low, ci_high) = wilson_interval(1, 2);
        assert_eq!(
            point,
            SweepPoint {
                latency_ms: 250.0,
                block_interval_secs: 10.0,
                d_secs: 0.5,
                t_secs: 20.0,
                d_over_t: 0.025,
                measured_stale_rate: 0.5,
                stale_blocks: 1,
                mined_blocks: 2,
                predicted_stale_rate: stale_probability(2, 0.025),
                predicted_each_fork_once: stale_rate_counting_each_fork_once(stale_probability(
                    2, 0.025
                )),
                ci_low,
                ci_high,
            }
        );
    }

    #[test]
    fn a_sweep_is_of_what_differs_between_its_runs() {
        let base = run(2);
        let mut slower = run(2);
        slower.link_latency_ms = 500.0;
        let mut longer = run(2);
        longer.target_block_interval_secs = 20.0;
        let mut busier = run(2);
        busier.posts_per_sec = Some(10.0);
        assert_eq!(swept_by(&[&base, &slower]), Swept::LatencyMs);
        assert_eq!(swept_by(&[&base, &longer]), Swept::BlockIntervalSecs);
        assert_eq!(swept_by(&[&base, &busier]), Swept::PostsPerSec);
        assert_eq!(swept_by(&[&base, &base]), Swept::LatencyMs);
        assert_eq!(swept_by(&[]), Swept::LatencyMs);
    }

    #[test]
    fn a_run_without_blocks_or_propagation_gives_no_sweep_point() {
        let record = run(2);
        let results = analyze_events(&record, &[]);
        assert_eq!(
            SweepPoint::from_run(&record, &results),
            Err(SweepPointError::NoBlocksMined)
        );
        let results = analyze_events(&record, &[event(0, 10.0, mined("A"))]);
        assert_eq!(
            SweepPoint::from_run(&record, &results),
            Err(SweepPointError::NoPropagationObserved)
        );
    }
}
