//! Stale rate against block size at a fixed link bandwidth: the points of a sweep of post
//! rates, each run's blocks growing with its rate, and the delay model the links imply.
//!
//! # The delay model
//!
//! A capped link sends one message at a time at `B` bytes a second, so a block of `S`
//! bytes reaches a neighbour `d(S) = L + S / B` after it left its miner (latency `L`), plus
//! what it waits behind messages already on the link and what the nodes spend on it. In a
//! mesh every miner is one hop from every other, so `d(S)` is the delay the stale-rate
//! theory needs. Block `i`, mined by a node with share `s`, then meets a rival with
//! `P_i = 1 - exp(-(1 - s) · d(S_i) / T)`; a run's blocks are of many sizes (a block holds
//! the posts that arrived while its parent was mined), so the prediction is the mean of
//! `P_i` over the run's blocks, counted once per fork: `P / (1 + P)`.
//!
//! Beside that prediction from the links alone, each point has the prediction from the
//! run's measured mean delay, and the sweep fits `d = a + b · S` to every (block, node)
//! delay: `1 / b` is the bandwidth the nodes actually saw, `a` the latency and the nodes'
//! own time. Posts are relayed too, one copy per link and node as blocks are, so the links
//! carry about as many bytes of posts as of blocks; each point says how busy its links
//! were.
//!
//! **Boundary:** pure; the runs' records and results in, points out. Writing them is
//! `report`'s job.

pub mod report;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::analysis::Results;
use crate::record::RunRecord;
use crate::theory::{
    stale_probability_of_share, stale_rate_counting_each_fork_once, wilson_interval,
};

/// A block-size sweep: its links, a point per run, and the delay fit over all runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockSizeSweep {
    /// Bandwidth of every link, each way, in megabits per second.
    pub(crate) bandwidth_mbps: f64,
    /// One-way latency of every link, in milliseconds.
    pub(crate) latency_ms: f64,
    pub(crate) points: Vec<BlockSizePoint>,
    /// The least-squares line of every measured delay against its block's size; `None`
    /// with fewer than two sizes.
    pub(crate) delay_fit: Option<DelayFit>,
}

/// One run: its blocks' size, their delay measured and modelled, and their stale rate
/// measured and predicted both ways.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockSizePoint {
    /// Mean posts per second the run sent.
    pub(crate) posts_per_sec: f64,
    /// Blocks mined within the window whose size the run recorded.
    pub(crate) blocks_sized: usize,
    /// Their mean size, in bytes of JSON as gossiped.
    pub(crate) mean_block_bytes: f64,
    pub(crate) largest_block_bytes: usize,
    /// Mean measured propagation delay, in seconds.
    pub(crate) d_secs: f64,
    /// `L + mean(S) / B`: the delay the links alone give the mean block, in seconds.
    pub(crate) link_d_secs: f64,
    /// Observed network block interval, in seconds.
    pub(crate) t_secs: f64,
    /// Share of the links' capacity the run used: bytes carried over the capacity of every
    /// link, both ways, for the mining window; `None` in records without the count.
    pub(crate) link_utilisation: Option<f64>,
    pub(crate) measured_stale_rate: f64,
    pub(crate) stale_blocks: usize,
    pub(crate) mined_blocks: usize,
    /// 95% Wilson interval of the measured rate.
    pub(crate) ci_low: f64,
    pub(crate) ci_high: f64,
    /// `P / (1 + P)` with `P` the mean over the run's blocks of the rival chance at
    /// `d(S_i) = L + S_i / B`.
    pub(crate) predicted_from_links: f64,
    /// `P / (1 + P)` with `P` from the measured mean delay.
    pub(crate) predicted_from_measured_d: f64,
}

/// `delay = intercept + size / bandwidth`, fitted by least squares to every (block, node)
/// delay of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DelayFit {
    /// Delays fitted.
    pub(crate) delays: usize,
    /// The delay of an empty block, in seconds.
    pub(crate) intercept_secs: f64,
    /// Seconds each further kilobyte (1,000 bytes) adds.
    pub(crate) secs_per_kilobyte: f64,
    /// The bandwidth the slope implies, in megabits per second; `None` unless it rises.
    pub(crate) implied_bandwidth_mbps: Option<f64>,
}

/// Why runs make no block-size sweep.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum BlockSizeSweepError {
    #[error("no runs")]
    NoRuns,
    #[error("a run's links had no bandwidth, so block size does not set its delay")]
    NoBandwidth,
    #[error("the runs differ in link bandwidth or latency; a sweep varies the post rate only")]
    LinksDiffer,
}

impl BlockSizeSweep {
    /// The sweep of `runs`, a point per run that mined a block and saw one propagate (the
    /// others are left out), in their order.
    pub fn from_runs(runs: &[(RunRecord, Results)]) -> Result<Self, BlockSizeSweepError> {
        let (first, _) = runs.first().ok_or(BlockSizeSweepError::NoRuns)?;
        let bandwidth = first
            .link_bandwidth_bytes_per_sec
            .ok_or(BlockSizeSweepError::NoBandwidth)?;
        if runs.iter().any(|(record, _)| {
            record.link_bandwidth_bytes_per_sec != Some(bandwidth)
                || record.link_latency_ms != first.link_latency_ms
        }) {
            return Err(BlockSizeSweepError::LinksDiffer);
        }
        // Each run with its blocks' sizes by hash, built once for the points and the fit.
        let sized: Vec<(&RunRecord, &Results, HashMap<&str, usize>)> = runs
            .iter()
            .map(|(record, results)| (record, results, sizes(record)))
            .collect();
        let points = sized
            .iter()
            .filter_map(|(record, results, sizes)| point(record, results, sizes, bandwidth))
            .collect();
        Ok(BlockSizeSweep {
            bandwidth_mbps: bandwidth * 8.0 / 1e6,
            latency_ms: first.link_latency_ms,
            points,
            delay_fit: delay_fit(&sized),
        })
    }
}

impl BlockSizeSweep {
    /// A point per run that gave one.
    pub fn points(&self) -> &[BlockSizePoint] {
        &self.points
    }
}

/// The sizes of the run's blocks, by hash.
fn sizes(record: &RunRecord) -> HashMap<&str, usize> {
    record
        .block_sizes
        .iter()
        .map(|block| (block.hash.as_str(), block.bytes))
        .collect()
}

fn point(
    record: &RunRecord,
    results: &Results,
    sizes: &HashMap<&str, usize>,
    bandwidth: f64,
) -> Option<BlockSizePoint> {
    let t_secs = results.observed_block_interval_secs?;
    let measured_stale_rate = results.stale_rate?;
    let d_secs = results.propagation_delay_secs?.mean;
    let latency = record.link_latency_ms / 1000.0;
    let link_delay = |bytes: usize| latency + bytes as f64 / bandwidth;
    // (bytes, the miner's share) of every mined block whose size is known.
    let blocks: Vec<(usize, f64)> = results
        .rows
        .blocks
        .iter()
        .filter_map(|block| {
            let bytes = *sizes.get(block.hash.as_str())?;
            let share = record.hash_shares.get(block.miner).copied().unwrap_or(0.0);
            Some((bytes, share))
        })
        .collect();
    if blocks.is_empty() {
        return None;
    }
    let count = blocks.len() as f64;
    let mean_block_bytes = blocks.iter().map(|(bytes, _)| *bytes as f64).sum::<f64>() / count;
    let rival_chance = blocks
        .iter()
        .map(|&(bytes, share)| stale_probability_of_share(1.0 - share, link_delay(bytes) / t_secs))
        .sum::<f64>()
        / count;
    let measured_rival_chance = results.predicted_stale_rate?;
    let (ci_low, ci_high) = wilson_interval(results.stale_blocks, results.mined_blocks);
    let window = record.mining_stopped_at - record.mining_started_at;
    let capacity = 2.0 * record.links.len() as f64 * bandwidth * window;
    Some(BlockSizePoint {
        posts_per_sec: record.posts_per_sec.unwrap_or(0.0),
        blocks_sized: blocks.len(),
        mean_block_bytes,
        largest_block_bytes: blocks.iter().map(|(bytes, _)| *bytes).max().unwrap_or(0),
        d_secs,
        link_d_secs: latency + mean_block_bytes / bandwidth,
        t_secs,
        link_utilisation: record
            .link_bytes
            .filter(|_| capacity > 0.0)
            .map(|bytes| bytes as f64 / capacity),
        measured_stale_rate,
        stale_blocks: results.stale_blocks,
        mined_blocks: results.mined_blocks,
        ci_low,
        ci_high,
        predicted_from_links: stale_rate_counting_each_fork_once(rival_chance),
        predicted_from_measured_d: stale_rate_counting_each_fork_once(measured_rival_chance),
    })
}

/// Least squares of every (block, node) delay of every run against the block's size.
fn delay_fit(runs: &[(&RunRecord, &Results, HashMap<&str, usize>)]) -> Option<DelayFit> {
    let pairs: Vec<(f64, f64)> = runs
        .iter()
        .flat_map(|(_, results, sizes)| {
            results.rows.propagation.iter().filter_map(|row| {
                let bytes = *sizes.get(row.hash.as_str())?;
                Some((bytes as f64, row.delay_secs))
            })
        })
        .collect();
    if pairs.len() < 2 {
        return None;
    }
    let n = pairs.len() as f64;
    let mean_x = pairs.iter().map(|(x, _)| x).sum::<f64>() / n;
    let mean_y = pairs.iter().map(|(_, y)| y).sum::<f64>() / n;
    let sxx: f64 = pairs.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    let sxy: f64 = pairs.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let secs_per_byte = sxy / sxx;
    Some(DelayFit {
        delays: pairs.len(),
        intercept_secs: mean_y - secs_per_byte * mean_x,
        secs_per_kilobyte: secs_per_byte * 1000.0,
        implied_bandwidth_mbps: (secs_per_byte > 0.0).then(|| 8.0 / (secs_per_byte * 1e6)),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::analysis::analyze_events;
    use crate::events::{EventKind, NodeEvent};
    use crate::record::{BlockSize, ChainBlock};

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "{actual} is not {expected}"
        );
    }

    fn chain_block(hash: &str, height: u64) -> ChainBlock {
        ChainBlock {
            hash: hash.into(),
            height,
            post_ids: vec![],
        }
    }

    fn size(hash: &str, height: u64, bytes: usize) -> BlockSize {
        BlockSize {
            hash: hash.into(),
            height,
            posts: bytes / 1000,
            bytes,
        }
    }

    /// Two nodes on a 10,000-byte-a-second, 50 ms link mining from t=0 to t=40: A (1 kB)
    /// by node 0, B (3 kB) by node 1 on it, C (5 kB) by node 0 beside B, which goes
    /// stale. Each reaches the other node after 0.1 s plus 0.1 ms a byte.
    pub(crate) fn capped_run(posts_per_sec: f64) -> (RunRecord, Results) {
        let record = RunRecord {
            nodes: 2,
            hash_shares: vec![0.5, 0.5],
            target_block_interval_secs: 10.0,
            link_latency_ms: 50.0,
            link_loss: 0.0,
            link_bandwidth_bytes_per_sec: Some(10_000.0),
            posts_per_sec: Some(posts_per_sec),
            link_bytes: Some(8_000),
            regions: None,
            node_regions: vec![],
            topology: "mesh".into(),
            links: vec![(0, 1)],
            mining_started_at: 0.0,
            mining_stopped_at: 40.0,
            events: vec![],
            posts: vec![],
            final_tips: vec![],
            main_chain: vec![
                chain_block("G", 0),
                chain_block("A", 1),
                chain_block("B", 2),
            ],
            block_sizes: vec![
                size("A", 1, 1_000),
                size("B", 2, 3_000),
                size("C", 2, 5_000),
            ],
            settled_after_secs: Some(0.0),
        };
        let event = |node, at, kind| NodeEvent { node, at, kind };
        let mined = |hash: &str, height| EventKind::Mined {
            hash: hash.into(),
            height,
        };
        let connected = |hash: &str, height| EventKind::Connected {
            hash: hash.into(),
            height,
        };
        let events = [
            event(0, 10.0, mined("A", 1)),
            event(1, 10.2, connected("A", 1)),
            event(1, 20.0, mined("B", 2)),
            event(0, 20.4, connected("B", 2)),
            event(0, 30.0, mined("C", 2)),
            event(1, 30.6, connected("C", 2)),
        ];
        let results = analyze_events(&record, &events);
        (record, results)
    }

    #[test]
    fn a_point_carries_the_runs_sizes_delays_and_both_predictions() {
        let sweep = BlockSizeSweep::from_runs(&[capped_run(5.0)]).expect("a sweep");
        assert_close(sweep.bandwidth_mbps, 0.08);
        assert_eq!(sweep.latency_ms, 50.0);
        let [point] = sweep.points.as_slice() else {
            panic!("one point: {:?}", sweep.points);
        };
        assert_eq!(point.posts_per_sec, 5.0);
        assert_eq!((point.blocks_sized, point.largest_block_bytes), (3, 5_000));
        assert_close(point.mean_block_bytes, 3_000.0);
        assert_close(point.d_secs, 0.4);
        assert_close(point.link_d_secs, 0.05 + 0.3);
        let t = 40.0 / 3.0;
        assert_close(point.t_secs, t);
        // 8,000 bytes of 10,000 a second, both ways, for 40 seconds.
        assert_close(point.link_utilisation.expect("counted"), 0.01);
        assert_eq!((point.stale_blocks, point.mined_blocks), (1, 3));
        assert_close(point.measured_stale_rate, 1.0 / 3.0);
        let (low, high) = wilson_interval(1, 3);
        assert_eq!((point.ci_low, point.ci_high), (low, high));
        let rival = |d: f64| 1.0 - (-0.5 * d / t).exp();
        let from_links = (rival(0.15) + rival(0.35) + rival(0.55)) / 3.0;
        assert_close(point.predicted_from_links, from_links / (1.0 + from_links));
        assert_close(
            point.predicted_from_measured_d,
            rival(0.4) / (1.0 + rival(0.4)),
        );
    }

    #[test]
    fn the_delay_fit_recovers_the_links_bandwidth_and_latency_plus_overhead() {
        let sweep =
            BlockSizeSweep::from_runs(&[capped_run(5.0), capped_run(10.0)]).expect("a sweep");
        let fit = sweep.delay_fit.expect("three sizes");
        assert_eq!(fit.delays, 6);
        assert_close(fit.intercept_secs, 0.1);
        assert_close(fit.secs_per_kilobyte, 0.1);
        assert_close(fit.implied_bandwidth_mbps.expect("rises"), 0.08);
        assert_eq!(sweep.points.len(), 2);
    }

    #[test]
    fn runs_without_a_bandwidth_or_with_different_links_make_no_sweep() {
        assert_eq!(
            BlockSizeSweep::from_runs(&[]),
            Err(BlockSizeSweepError::NoRuns)
        );
        let (mut unlimited, results) = capped_run(5.0);
        unlimited.link_bandwidth_bytes_per_sec = None;
        assert_eq!(
            BlockSizeSweep::from_runs(&[(unlimited, results)]),
            Err(BlockSizeSweepError::NoBandwidth)
        );
        let (mut slower, results) = capped_run(10.0);
        slower.link_latency_ms = 100.0;
        assert_eq!(
            BlockSizeSweep::from_runs(&[capped_run(5.0), (slower, results)]),
            Err(BlockSizeSweepError::LinksDiffer)
        );
    }

    #[test]
    fn blocks_of_unknown_size_are_left_out_and_a_run_with_none_gives_no_point() {
        let (mut record, results) = capped_run(5.0);
        record.block_sizes.retain(|block| block.hash != "C");
        let sweep =
            BlockSizeSweep::from_runs(&[(record.clone(), results.clone())]).expect("a sweep");
        assert_eq!(sweep.points[0].blocks_sized, 2);
        assert_close(sweep.points[0].mean_block_bytes, 2_000.0);
        record.block_sizes.clear();
        let sweep = BlockSizeSweep::from_runs(&[(record, results)]).expect("a sweep");
        assert!(sweep.points.is_empty());
        assert_eq!(sweep.delay_fit, None);
    }
}
