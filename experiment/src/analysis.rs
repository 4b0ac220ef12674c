//! Turns what a run observed (its record and its nodes' event streams) into results: blocks
//! mined and stale, reorganizations, block propagation delays, post confirmation latency,
//! the nodes' final agreement, and the stale rate theory predicts for the run.
//!
//! Boundary: [`analyze`] reads the event streams the record lists; everything else is pure, so every
//! number can be checked against a hand-built set of events. Writing files and charts is
//! `report`'s job.
//!
//! Definitions used throughout:
//! - A block counts as *mined* if a node reported mining it within the run's mining window
//!   (inclusive); the same hash mined by two nodes counts once, for whoever reported it first.
//! - A mined block is *stale* if it is not on the record's main chain.
//! - A block's *propagation delay* to another node is the time that node logged connecting
//!   it minus the time its miner logged mining it, once per (block, node) pair; all nodes
//!   share one clock. Nodes that never connected a block contribute no delay for it.
//! - A post's *confirmation latency* is the time the main-chain block carrying it was first
//!   seen anywhere (mined, or else connected) minus when the post was acknowledged.
//! - Percentiles are nearest-rank: the p-th percentile of `n` sorted values is the value at
//!   rank `ceil(p/100 · n)` (1-based, at least 1), so it is always an observed value.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::events::{EventKind, EventsError, NodeEvent, read_events};
use crate::record::{FinalTip, RunRecord};
use crate::theory::stale_probability_for_shares;

/// What a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    nodes: usize,
    /// Length of the mining window, in seconds.
    window_secs: f64,
    /// Distinct blocks mined within the mining window.
    pub mined_blocks: usize,
    /// Of those, blocks on the main chain.
    main_chain_blocks: usize,
    /// Of those, blocks not on the main chain.
    pub stale_blocks: usize,
    /// `stale_blocks / mined_blocks`; `None` if nothing was mined.
    pub stale_rate: Option<f64>,
    /// Times a node logged mining a block another node had already mined: miners with
    /// identical templates search the same nonces, and such twins are no fork at all.
    duplicate_mined: usize,
    /// Blocks mined per node, in node order.
    pub per_node: Vec<NodeBlocks>,
    /// Observed network block interval `T`: window length over blocks mined, in seconds.
    pub(crate) observed_block_interval_secs: Option<f64>,
    /// Reorganizations logged by all nodes over the whole run.
    pub(crate) reorg_count: usize,
    /// How many reorganizations reverted each depth, by increasing depth.
    pub(crate) reorg_depths: Vec<DepthCount>,
    /// Block propagation delay over every (block, other node) pair, in seconds; its mean is
    /// the `d` of the theory.
    pub(crate) propagation_delay_secs: Option<Summary>,
    /// Per block that every node connected, the time until the last of them had it, in
    /// seconds.
    reached_all_nodes_secs: Option<Summary>,
    blocks_not_reaching_all_nodes: usize,
    /// Mean propagation delay over observed block interval.
    pub d_over_t: Option<f64>,
    /// The stale rate theory predicts for this run's hash shares and measured `d / T`.
    pub predicted_stale_rate: Option<f64>,
    /// Post confirmation latency of the confirmed posts, in seconds.
    post_confirmation_secs: Option<Summary>,
    /// Posts carried by a main-chain block.
    pub posts_confirmed: usize,
    /// Posts not carried by any main-chain block.
    pub posts_unconfirmed: usize,
    agreement: Agreement,
    /// The per-item rows behind the numbers above, for the CSV files.
    #[serde(skip)]
    pub rows: Rows,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeBlocks {
    pub(crate) node: usize,
    /// The node's configured share of the hash power.
    pub(crate) hash_share: f64,
    /// Blocks it mined within the window.
    pub mined: usize,
    /// Of those, blocks on the main chain.
    pub(crate) main_chain: usize,
    /// Of those, stale blocks.
    stale: usize,
}

/// How many reorganizations reverted a given number of blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct DepthCount {
    /// Blocks reverted.
    pub(crate) depth: u64,
    /// Reorganizations of that depth.
    pub(crate) count: usize,
}

/// Summary statistics of a non-empty sample; percentiles are nearest-rank.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Summary {
    count: usize,
    pub(crate) mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

/// How far the nodes agreed on the best tip when the run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Agreement {
    /// The tip most nodes ended on (ties go to the higher, then the smaller hash).
    majority_tip: Option<FinalTip>,
    nodes_on_majority_tip: usize,
    /// Nodes on it over all nodes of the run.
    fraction_on_majority_tip: f64,
    all_agree: bool,
    /// Seconds from the end of mining until all nodes agreed, as the runner measured it.
    settled_after_secs: Option<f64>,
}

/// Per-item rows, one CSV file each.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Rows {
    /// Blocks mined within the window, by time mined.
    pub blocks: Vec<BlockRow>,
    /// Propagation delays of those blocks, by block then node.
    pub(crate) propagation: Vec<PropagationRow>,
    /// Reorganizations, by time.
    pub(crate) reorgs: Vec<ReorgRow>,
    /// Submitted posts, in submission order.
    pub(crate) posts: Vec<PostRow>,
}

/// A block mined within the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlockRow {
    /// Block hash, hex.
    pub(crate) hash: String,
    pub height: u64,
    pub(crate) miner: usize,
    /// When it was mined, in Unix seconds.
    pub mined_at: f64,
    pub on_main_chain: bool,
    /// Seconds until every other node had connected it; `None` if some never did.
    pub(crate) reached_all_after_secs: Option<f64>,
}

/// How long a block took to reach one other node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PropagationRow {
    /// Block hash, hex.
    pub(crate) hash: String,
    /// The node that connected it.
    pub(crate) node: usize,
    /// Its connection time there minus its mining time, in seconds.
    pub(crate) delay_secs: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct ReorgRow {
    pub(crate) node: usize,
    /// When, in Unix seconds.
    pub(crate) at: f64,
    /// Blocks reverted.
    pub(crate) depth: u64,
}

/// One submitted post and when it was confirmed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PostRow {
    pub(crate) id: String,
    /// The node it was submitted to.
    pub(crate) node: usize,
    /// When the node acknowledged it, in Unix seconds.
    pub(crate) submitted_at: f64,
    /// When the main-chain block carrying it was first seen; `None` if unconfirmed.
    pub(crate) confirmed_at: Option<f64>,
    /// `confirmed_at - submitted_at`.
    pub(crate) latency_secs: Option<f64>,
}

/// Reads the event streams the record lists and analyses the run.
pub fn analyze(record: &RunRecord) -> Result<Results, EventsError> {
    let mut events = Vec::new();
    for (node, path) in record.events.iter().enumerate() {
        events.extend(read_events(node, path)?);
    }
    Ok(analyze_events(record, &events))
}

/// Analyses a run from its record and its nodes' log events (in any order).
pub(crate) fn analyze_events(record: &RunRecord, events: &[NodeEvent]) -> Results {
    let mut events: Vec<&NodeEvent> = events.iter().collect();
    // Stable order by time, so "first" below means first on the shared clock.
    events.sort_by(|a, b| a.at.total_cmp(&b.at));

    let main_chain: HashSet<&str> = record
        .main_chain
        .iter()
        .map(|block| block.hash.as_str())
        .collect();
    let (mined, duplicate_mined) = mined_in_window(record, &events);
    let connected = first_connections(&events);

    let (propagation, blocks) =
        propagation_and_block_rows(record.nodes, &mined, &connected, &main_chain);
    let delays: Vec<f64> = propagation.iter().map(|row| row.delay_secs).collect();
    let reached_all: Vec<f64> = blocks
        .iter()
        .filter_map(|block| block.reached_all_after_secs)
        .collect();

    let stale_blocks = blocks.iter().filter(|block| !block.on_main_chain).count();
    let window_secs = record.mining_stopped_at - record.mining_started_at;
    let observed_block_interval_secs = ratio(window_secs, blocks.len());
    let propagation_delay_secs = summarize(&delays);
    let d_over_t = propagation_delay_secs
        .zip(observed_block_interval_secs)
        .map(|(delay, interval)| delay.mean / interval);

    let reorgs = reorg_rows(&events);
    let posts = post_rows(record, &events);
    let latencies: Vec<f64> = posts.iter().filter_map(|post| post.latency_secs).collect();

    Results {
        nodes: record.nodes,
        window_secs,
        mined_blocks: blocks.len(),
        main_chain_blocks: blocks.len() - stale_blocks,
        stale_blocks,
        stale_rate: ratio(stale_blocks as f64, blocks.len()),
        duplicate_mined,
        per_node: per_node(record, &blocks),
        observed_block_interval_secs,
        reorg_count: reorgs.len(),
        reorg_depths: depth_histogram(&reorgs),
        propagation_delay_secs,
        reached_all_nodes_secs: summarize(&reached_all),
        blocks_not_reaching_all_nodes: blocks.len() - reached_all.len(),
        d_over_t,
        predicted_stale_rate: d_over_t
            .map(|d_over_t| stale_probability_for_shares(&record.hash_shares, d_over_t)),
        posts_confirmed: latencies.len(),
        posts_unconfirmed: posts.len() - latencies.len(),
        post_confirmation_secs: summarize(&latencies),
        agreement: agreement(record),
        rows: Rows {
            blocks,
            propagation,
            reorgs,
            posts,
        },
    }
}

/// A block as its miner logged it.
struct Mined<'a> {
    hash: &'a str,
    height: u64,
    miner: usize,
    at: f64,
}

/// The distinct blocks mined within the window in time order, and how many mining events
/// repeated an already mined hash.
fn mined_in_window<'a>(record: &RunRecord, events: &[&'a NodeEvent]) -> (Vec<Mined<'a>>, usize) {
    let mut seen = HashSet::new();
    let mut mined = Vec::new();
    let mut duplicates = 0;
    for event in events {
        let EventKind::Mined { hash, height } = &event.kind else {
            continue;
        };
        if event.at < record.mining_started_at || event.at > record.mining_stopped_at {
            continue;
        }
        if !seen.insert(hash.as_str()) {
            duplicates += 1;
            continue;
        }
        mined.push(Mined {
            hash,
            height: *height,
            miner: event.node,
            at: event.at,
        });
    }
    (mined, duplicates)
}

/// When each node first connected each block, keyed by (hash, node).
fn first_connections<'a>(events: &[&'a NodeEvent]) -> HashMap<(&'a str, usize), f64> {
    let mut connected = HashMap::new();
    for event in events {
        if let EventKind::Connected { hash, .. } = &event.kind {
            // Events are in time order, so the first insert is the earliest.
            connected
                .entry((hash.as_str(), event.node))
                .or_insert(event.at);
        }
    }
    connected
}

fn propagation_and_block_rows(
    nodes: usize,
    mined: &[Mined<'_>],
    connected: &HashMap<(&str, usize), f64>,
    main_chain: &HashSet<&str>,
) -> (Vec<PropagationRow>, Vec<BlockRow>) {
    let mut propagation = Vec::new();
    let mut blocks = Vec::with_capacity(mined.len());
    for block in mined {
        // Stays Some(latest delay) only while every other node has it.
        let mut reached_all = Some(0.0_f64);
        for node in (0..nodes).filter(|&node| node != block.miner) {
            match connected.get(&(block.hash, node)) {
                Some(&at) => {
                    let delay_secs = at - block.at;
                    reached_all = reached_all.map(|latest| latest.max(delay_secs));
                    propagation.push(PropagationRow {
                        hash: block.hash.to_owned(),
                        node,
                        delay_secs,
                    });
                }
                None => reached_all = None,
            }
        }
        blocks.push(BlockRow {
            hash: block.hash.to_owned(),
            height: block.height,
            miner: block.miner,
            mined_at: block.at,
            on_main_chain: main_chain.contains(block.hash),
            reached_all_after_secs: reached_all,
        });
    }
    (propagation, blocks)
}

fn per_node(record: &RunRecord, blocks: &[BlockRow]) -> Vec<NodeBlocks> {
    let mut per_node: Vec<NodeBlocks> = (0..record.nodes)
        .map(|node| NodeBlocks {
            node,
            hash_share: record.hash_shares.get(node).copied().unwrap_or(0.0),
            mined: 0,
            main_chain: 0,
            stale: 0,
        })
        .collect();
    for block in blocks {
        // A miner index beyond the record's node count means a log was mislabelled; such a
        // block still counts in the totals but belongs to no node here.
        let Some(counts) = per_node.get_mut(block.miner) else {
            continue;
        };
        counts.mined += 1;
        if block.on_main_chain {
            counts.main_chain += 1;
        } else {
            counts.stale += 1;
        }
    }
    per_node
}

fn reorg_rows(events: &[&NodeEvent]) -> Vec<ReorgRow> {
    events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::Reorg { depth } => Some(ReorgRow {
                node: event.node,
                at: event.at,
                depth,
            }),
            _ => None,
        })
        .collect()
}

fn depth_histogram(reorgs: &[ReorgRow]) -> Vec<DepthCount> {
    let mut counts = std::collections::BTreeMap::new();
    for reorg in reorgs {
        *counts.entry(reorg.depth).or_insert(0) += 1;
    }
    counts
        .into_iter()
        .map(|(depth, count)| DepthCount { depth, count })
        .collect()
}

fn post_rows(record: &RunRecord, events: &[&NodeEvent]) -> Vec<PostRow> {
    // A block's first sighting is normally its mining; connection times stand in when the
    // miner's log lacks the line (a node killed before flushing it).
    let mut first_seen: HashMap<&str, f64> = HashMap::new();
    for event in events {
        let (EventKind::Mined { hash, .. } | EventKind::Connected { hash, .. }) = &event.kind
        else {
            continue;
        };
        first_seen.entry(hash.as_str()).or_insert(event.at);
    }
    let mut carrier: HashMap<&str, &str> = HashMap::new();
    for block in &record.main_chain {
        for id in &block.post_ids {
            carrier.insert(id.as_str(), block.hash.as_str());
        }
    }
    record
        .posts
        .iter()
        .map(|post| {
            let confirmed_at = carrier
                .get(post.id.as_str())
                .and_then(|hash| first_seen.get(hash))
                .copied();
            PostRow {
                id: post.id.clone(),
                node: post.node,
                submitted_at: post.submitted_at,
                confirmed_at,
                latency_secs: confirmed_at.map(|at| at - post.submitted_at),
            }
        })
        .collect()
}

fn agreement(record: &RunRecord) -> Agreement {
    let mut counts: HashMap<(&str, u64), usize> = HashMap::new();
    for tip in &record.final_tips {
        *counts.entry((tip.hash.as_str(), tip.height)).or_insert(0) += 1;
    }
    let majority = counts.into_iter().max_by(
        |((a_hash, a_height), a_count), ((b_hash, b_height), b_count)| {
            a_count
                .cmp(b_count)
                .then(a_height.cmp(b_height))
                .then(b_hash.cmp(a_hash))
        },
    );
    let nodes_on_majority_tip = majority.map_or(0, |(_, count)| count);
    Agreement {
        majority_tip: majority.map(|((hash, height), _)| FinalTip {
            hash: hash.to_owned(),
            height,
        }),
        nodes_on_majority_tip,
        fraction_on_majority_tip: ratio(nodes_on_majority_tip as f64, record.nodes).unwrap_or(0.0),
        all_agree: record.nodes > 0 && nodes_on_majority_tip == record.nodes,
        settled_after_secs: record.settled_after_secs,
    }
}

fn ratio(numerator: f64, denominator: usize) -> Option<f64> {
    (denominator > 0).then(|| numerator / denominator as f64)
}

/// Mean, nearest-rank percentiles and maximum of `values`; `None` if there are none.
fn summarize(values: &[f64]) -> Option<Summary> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = *sorted.last()?;
    Some(Summary {
        count: sorted.len(),
        mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        p50: nearest_rank(&sorted, 50),
        p90: nearest_rank(&sorted, 90),
        p99: nearest_rank(&sorted, 99),
        max,
    })
}

/// The nearest-rank `percent`-th percentile of non-empty ascending `sorted`.
fn nearest_rank(sorted: &[f64], percent: usize) -> f64 {
    // In integers, so no rounding error can push the rank past a whole number.
    let rank = (percent * sorted.len()).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ChainBlock, PostSubmission};

    fn mined(node: usize, at: f64, hash: &str, height: u64) -> NodeEvent {
        let hash = hash.to_owned();
        NodeEvent {
            node,
            at,
            kind: EventKind::Mined { hash, height },
        }
    }

    fn connected(node: usize, at: f64, hash: &str, height: u64) -> NodeEvent {
        let hash = hash.to_owned();
        NodeEvent {
            node,
            at,
            kind: EventKind::Connected { hash, height },
        }
    }

    fn reorg(node: usize, at: f64, depth: u64) -> NodeEvent {
        NodeEvent {
            node,
            at,
            kind: EventKind::Reorg { depth },
        }
    }

    fn chain_block(hash: &str, height: u64, post_ids: &[&str]) -> ChainBlock {
        ChainBlock {
            hash: hash.into(),
            height,
            post_ids: post_ids.iter().map(|&id| id.into()).collect(),
        }
    }

    fn post(id: &str, node: usize, submitted_at: f64) -> PostSubmission {
        PostSubmission {
            id: id.into(),
            node,
            submitted_at,
        }
    }

    fn tip(hash: &str, height: u64) -> FinalTip {
        FinalTip {
            hash: hash.into(),
            height,
        }
    }

    fn record(nodes: usize) -> RunRecord {
        RunRecord {
            nodes,
            hash_shares: vec![1.0 / nodes as f64; nodes],
            target_block_interval_secs: 25.0,
            link_latency_ms: 100.0,
            link_loss: 0.0,
            link_bandwidth_bytes_per_sec: None,
            posts_per_sec: None,
            link_bytes: None,
            regions: None,
            node_regions: vec![],
            topology: "mesh".into(),
            links: vec![],
            mining_started_at: 100.0,
            mining_stopped_at: 200.0,
            events: vec![],
            posts: vec![],
            final_tips: vec![],
            main_chain: vec![],
            block_sizes: vec![],
            settled_after_secs: Some(0.5),
        }
    }

    /// Two nodes mining from t=100 to t=200. Node 0 mines A; both mine a block at height 2
    /// (B by node 0, B' by node 1); node 1 builds C on B', so node 0 reorganizes and B goes
    /// stale. D comes after mining stopped, X before it started. Times are multiples of
    /// 1/8 s so every delay is exact in floating point.
    fn fork_run() -> (RunRecord, Vec<NodeEvent>) {
        let mut record = record(2);
        record.main_chain = vec![
            chain_block("G", 0, &[]),
            chain_block("A", 1, &[]),
            chain_block("B'", 2, &["p1"]),
            chain_block("C", 3, &["p2"]),
            chain_block("D", 4, &["p4"]),
        ];
        record.posts = vec![
            post("p1", 1, 140.0),
            post("p2", 0, 155.0),
            post("p3", 0, 145.0),
            post("p4", 1, 200.0),
        ];
        record.final_tips = vec![tip("D", 4), tip("D", 4)];
        let events = vec![
            mined(0, 90.0, "X", 1),
            mined(0, 110.0, "A", 1),
            connected(0, 110.0, "A", 1),
            connected(1, 110.25, "A", 1),
            mined(0, 150.0, "B", 2),
            connected(0, 150.0, "B", 2),
            mined(1, 150.125, "B'", 2),
            connected(1, 150.125, "B'", 2),
            connected(0, 150.25, "B'", 2),
            connected(1, 150.5, "B", 2),
            mined(1, 160.0, "C", 3),
            connected(1, 160.0, "C", 3),
            connected(0, 160.375, "C", 3),
            reorg(0, 160.375, 1),
            reorg(1, 170.0, 2),
            reorg(1, 180.0, 1),
            mined(0, 205.0, "D", 4),
            connected(0, 205.0, "D", 4),
            connected(1, 205.5, "D", 4),
        ];
        (record, events)
    }

    fn fork_results() -> Results {
        let (record, events) = fork_run();
        analyze_events(&record, &events)
    }

    #[test]
    fn only_blocks_mined_within_the_window_count_and_a_losing_fork_block_is_stale() {
        let results = fork_results();
        assert_eq!(results.window_secs, 100.0);
        assert_eq!(results.mined_blocks, 4);
        assert_eq!(results.main_chain_blocks, 3);
        assert_eq!(results.stale_blocks, 1);
        assert_eq!(results.stale_rate, Some(0.25));
        assert_eq!(results.duplicate_mined, 0);
        assert_eq!(results.observed_block_interval_secs, Some(25.0));
        let stale: Vec<&str> = results
            .rows
            .blocks
            .iter()
            .filter(|block| !block.on_main_chain)
            .map(|block| block.hash.as_str())
            .collect();
        assert_eq!(stale, ["B"]);
    }

    #[test]
    fn blocks_are_counted_per_miner() {
        let results = fork_results();
        let counts: Vec<_> = results
            .per_node
            .iter()
            .map(|node| {
                (
                    node.node,
                    node.hash_share,
                    node.mined,
                    node.main_chain,
                    node.stale,
                )
            })
            .collect();
        assert_eq!(counts, [(0, 0.5, 2, 1, 1), (1, 0.5, 2, 2, 0)]);
    }

    #[test]
    fn reorgs_of_all_nodes_are_counted_by_depth() {
        let results = fork_results();
        assert_eq!(results.reorg_count, 3);
        assert_eq!(
            results.reorg_depths,
            [
                DepthCount { depth: 1, count: 2 },
                DepthCount { depth: 2, count: 1 }
            ]
        );
        assert_eq!(
            results.rows.reorgs[0],
            ReorgRow {
                node: 0,
                at: 160.375,
                depth: 1
            }
        );
    }

    #[test]
    fn propagation_delay_is_connection_elsewhere_minus_mining_time() {
        let results = fork_results();
        let rows: Vec<_> = results
            .rows
            .propagation
            .iter()
            .map(|row| (row.hash.as_str(), row.node, row.delay_secs))
            .collect();
        assert_eq!(
            rows,
            [
                ("A", 1, 0.25),
                ("B", 1, 0.5),
                ("B'", 0, 0.125),
                ("C", 0, 0.375)
            ]
        );
        let expected = Summary {
            count: 4,
            mean: 0.3125,
            p50: 0.25,
            p90: 0.5,
            p99: 0.5,
            max: 0.5,
        };
        assert_eq!(results.propagation_delay_secs, Some(expected));
        // With two nodes, the last node to get a block is the only other one.
        assert_eq!(results.reached_all_nodes_secs, Some(expected));
        assert_eq!(results.blocks_not_reaching_all_nodes, 0);
    }

    #[test]
    fn theory_gets_the_measured_delay_and_observed_interval() {
        let results = fork_results();
        assert_eq!(results.d_over_t, Some(0.3125 / 25.0));
        let predicted = results.predicted_stale_rate.expect("a prediction");
        assert!((predicted - (1.0 - (-0.5_f64 * 0.0125).exp())).abs() < 1e-12);
    }

    #[test]
    fn posts_confirm_when_their_main_chain_block_is_mined() {
        let results = fork_results();
        let rows: Vec<_> = results
            .rows
            .posts
            .iter()
            .map(|post| (post.id.as_str(), post.confirmed_at, post.latency_secs))
            .collect();
        assert_eq!(
            rows,
            [
                ("p1", Some(150.125), Some(10.125)),
                ("p2", Some(160.0), Some(5.0)),
                // Only in the stale block B.
                ("p3", None, None),
                // D was mined after the window; the post is confirmed all the same.
                ("p4", Some(205.0), Some(5.0)),
            ]
        );
        assert_eq!(results.posts_confirmed, 3);
        assert_eq!(results.posts_unconfirmed, 1);
        assert_eq!(
            results.post_confirmation_secs,
            Some(Summary {
                count: 3,
                mean: 20.125 / 3.0,
                p50: 5.0,
                p90: 10.125,
                p99: 10.125,
                max: 10.125,
            })
        );
    }

    #[test]
    fn nodes_on_one_tip_all_agree() {
        let agreement = fork_results().agreement;
        assert_eq!(agreement.majority_tip, Some(tip("D", 4)));
        assert_eq!(agreement.nodes_on_majority_tip, 2);
        assert_eq!(agreement.fraction_on_majority_tip, 1.0);
        assert!(agreement.all_agree);
        assert_eq!(agreement.settled_after_secs, Some(0.5));
    }

    #[test]
    fn the_order_events_arrive_in_does_not_matter() {
        let (record, mut events) = fork_run();
        events.reverse();
        assert_eq!(analyze_events(&record, &events), fork_results());
    }

    #[test]
    fn a_split_network_reports_the_majority_and_disagreement() {
        let mut record = record(4);
        record.final_tips = vec![tip("Y", 5), tip("X", 5), tip("X", 5), tip("Z", 6)];
        record.settled_after_secs = None;
        let agreement = analyze_events(&record, &[]).agreement;
        assert_eq!(agreement.majority_tip, Some(tip("X", 5)));
        assert_eq!(agreement.nodes_on_majority_tip, 2);
        assert_eq!(agreement.fraction_on_majority_tip, 0.5);
        assert!(!agreement.all_agree);
        assert_eq!(agreement.settled_after_secs, None);
    }

    #[test]
    fn a_tie_goes_to_the_higher_tip() {
        let mut record = record(2);
        record.final_tips = vec![tip("low", 3), tip("high", 4)];
        let agreement = analyze_events(&record, &[]).agreement;
        assert_eq!(agreement.majority_tip, Some(tip("high", 4)));
        assert_eq!(agreement.fraction_on_majority_tip, 0.5);
    }

    #[test]
    fn a_node_without_a_final_tip_does_not_agree() {
        let mut record = record(3);
        record.final_tips = vec![tip("X", 5), tip("X", 5)];
        let agreement = analyze_events(&record, &[]).agreement;
        assert!(!agreement.all_agree);
        assert_eq!(agreement.fraction_on_majority_tip, 2.0 / 3.0);
    }

    #[test]
    fn a_block_some_node_never_got_has_no_time_to_reach_all() {
        let record = record(3);
        let events = [
            mined(0, 120.0, "A", 1),
            connected(1, 120.5, "A", 1),
            mined(2, 130.0, "B", 2),
            connected(0, 130.25, "B", 2),
            connected(1, 130.75, "B", 2),
        ];
        let results = analyze_events(&record, &events);
        let reached: Vec<_> = results
            .rows
            .blocks
            .iter()
            .map(|block| block.reached_all_after_secs)
            .collect();
        assert_eq!(reached, [None, Some(0.75)]);
        assert_eq!(results.blocks_not_reaching_all_nodes, 1);
        assert_eq!(
            results.propagation_delay_secs.map(|delay| delay.count),
            Some(3)
        );
        assert_eq!(
            results.reached_all_nodes_secs.map(|all| all.max),
            Some(0.75)
        );
    }

    #[test]
    fn a_block_two_nodes_mined_identically_counts_once_for_the_first() {
        let record = record(2);
        let events = [
            mined(0, 120.0, "A", 1),
            mined(1, 120.5, "A", 1),
            connected(0, 120.0, "A", 1),
            connected(1, 120.5, "A", 1),
        ];
        let results = analyze_events(&record, &events);
        assert_eq!(results.mined_blocks, 1);
        assert_eq!(results.duplicate_mined, 1);
        assert_eq!(results.per_node[0].mined, 1);
        assert_eq!(results.per_node[1].mined, 0);
    }

    #[test]
    fn repeated_connections_count_from_the_first() {
        let record = record(2);
        let events = [
            mined(0, 120.0, "A", 1),
            connected(1, 121.0, "A", 1),
            connected(1, 120.5, "A", 1),
        ];
        let results = analyze_events(&record, &events);
        assert_eq!(results.rows.propagation.len(), 1);
        assert_eq!(results.rows.propagation[0].delay_secs, 0.5);
    }

    #[test]
    fn a_post_whose_block_was_never_logged_as_mined_confirms_when_first_connected() {
        let mut record = record(2);
        record.main_chain = vec![chain_block("G", 0, &[]), chain_block("E", 1, &["p"])];
        record.posts = vec![post("p", 0, 150.0)];
        let events = [connected(1, 152.5, "E", 1), connected(0, 153.0, "E", 1)];
        let results = analyze_events(&record, &events);
        assert_eq!(results.rows.posts[0].latency_secs, Some(2.5));
        // Nothing logged as mined: no block counts, and none is stale.
        assert_eq!(results.mined_blocks, 0);
    }

    #[test]
    fn a_run_without_events_has_counts_of_zero_and_no_rates() {
        let mut record = record(2);
        record.posts = vec![post("p", 0, 150.0)];
        let results = analyze_events(&record, &[]);
        assert_eq!(results.mined_blocks, 0);
        assert_eq!(results.stale_rate, None);
        assert_eq!(results.observed_block_interval_secs, None);
        assert_eq!(results.propagation_delay_secs, None);
        assert_eq!(results.reached_all_nodes_secs, None);
        assert_eq!(results.d_over_t, None);
        assert_eq!(results.predicted_stale_rate, None);
        assert_eq!(results.post_confirmation_secs, None);
        assert_eq!(results.posts_unconfirmed, 1);
        assert_eq!(results.reorg_depths, []);
        assert_eq!(results.agreement.majority_tip, None);
        assert!(!results.agreement.all_agree);
    }

    #[test]
    fn a_lone_node_has_blocks_but_no_propagation() {
        let record = record(1);
        let results = analyze_events(&record, &[mined(0, 150.0, "A", 1)]);
        assert_eq!(results.mined_blocks, 1);
        assert_eq!(results.propagation_delay_secs, None);
        // With no one else to reach, it reached everyone at once.
        assert_eq!(results.rows.blocks[0].reached_all_after_secs, Some(0.0));
    }

    #[test]
    fn window_edges_are_inside_the_window() {
        let record = record(1);
        let events = [mined(0, 100.0, "A", 1), mined(0, 200.0, "B", 2)];
        assert_eq!(analyze_events(&record, &events).mined_blocks, 2);
    }

    #[test]
    fn nearest_rank_percentiles_are_observed_values() {
        let values: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        let summary = summarize(&values).expect("non-empty");
        assert_eq!(
            summary,
            Summary {
                count: 10,
                mean: 5.5,
                p50: 5.0,
                p90: 9.0,
                p99: 10.0,
                max: 10.0
            }
        );
        let one = summarize(&[3.5]).expect("non-empty");
        assert_eq!((one.p50, one.p90, one.p99, one.max), (3.5, 3.5, 3.5, 3.5));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        let summary = summarize(&hundred).expect("non-empty");
        assert_eq!((summary.p50, summary.p90, summary.p99), (50.0, 90.0, 99.0));
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn analyze_reads_the_event_streams_the_record_lists() {
        use chainpost_chain::{BlockHash, Hash256};
        use chainpost_wire::events::{ChainEvent, EventRecord};

        let dir = tempfile::tempdir().expect("temp dir");
        let hash = BlockHash(Hash256([0xaa; 32]));
        let stream = |events: &[(f64, ChainEvent)]| -> String {
            events
                .iter()
                .map(|&(at, event)| EventRecord::new(at, event).to_line())
                .collect()
        };
        // 2026-01-01T00:00:00Z and a minute later.
        let start = 1_767_225_600.0;
        let node0 = stream(&[
            (start + 10.0, ChainEvent::Mined { height: 1, hash }),
            (start + 10.001, ChainEvent::Connected { height: 1, hash }),
        ]);
        let node1 = stream(&[(start + 10.250, ChainEvent::Connected { height: 1, hash })]);
        let paths = [dir.path().join("0.events"), dir.path().join("1.events")];
        std::fs::write(&paths[0], node0).expect("write");
        std::fs::write(&paths[1], node1).expect("write");
        let mut record = record(2);
        record.mining_started_at = start;
        record.mining_stopped_at = start + 60.0;
        record.events = paths.to_vec();
        record.main_chain = vec![chain_block(&hash.to_string(), 1, &[])];

        let results = analyze(&record).expect("streams readable");
        assert_eq!(results.mined_blocks, 1);
        assert_eq!(results.stale_blocks, 0);
        let delay = results.propagation_delay_secs.expect("one delay").mean;
        assert!((delay - 0.25).abs() < 1e-6, "{delay}");
    }

    #[test]
    fn analyze_fails_on_a_missing_stream() {
        let mut record = record(1);
        record.events = vec!["/nonexistent/chainpost/0.events".into()];
        assert!(analyze(&record).is_err());
    }
}
