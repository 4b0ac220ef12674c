//! What one run observed, before any analysis: the hand-off between the runner (which
//! starts nodes, drives them and collects) and the analysis (which turns it into results).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::regions::Regions;

/// Everything one run observed. Times are Unix seconds (f64) on the machine's clock, which
/// every node of the run shares.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    pub nodes: usize,
    /// Each node's share of the network's hash power (sums to 1).
    pub(crate) hash_shares: Vec<f64>,
    /// The network block interval the hash rates were chosen for, in seconds.
    pub target_block_interval_secs: f64,
    /// Injected one-way latency of every link, in milliseconds.
    pub link_latency_ms: f64,
    /// Injected loss probability of every link.
    pub(crate) link_loss: f64,
    /// Bytes per second each direction of a link carried; unlimited when `None` (and in
    /// records from before links had a bandwidth).
    #[serde(default)]
    pub(crate) link_bandwidth_bytes_per_sec: Option<f64>,
    /// Mean posts per second the runner sent (absent from older records).
    #[serde(default)]
    pub posts_per_sec: Option<f64>,
    /// Bytes the links carried in all, requests and answers (absent from older records).
    #[serde(default)]
    pub(crate) link_bytes: Option<u64>,
    /// The regions the nodes were placed in, if the run had any (then each link's latency
    /// is its ends' regions', not `link_latency_ms`).
    #[serde(default)]
    pub(crate) regions: Option<Regions>,
    /// The region of each node, in node order; empty without regions.
    #[serde(default)]
    pub node_regions: Vec<usize>,
    /// The topology's name as configured (`mesh`, `ring`, `random`).
    pub(crate) topology: String,
    /// The undirected links between node indices.
    pub links: Vec<(usize, usize)>,
    /// When mining began on every node.
    pub mining_started_at: f64,
    /// When mining stopped on every node.
    pub mining_stopped_at: f64,
    /// Per node, the file holding its event stream (`--events`).
    pub(crate) events: Vec<PathBuf>,
    /// Every post the run submitted.
    pub posts: Vec<PostSubmission>,
    /// Per node, its best tip once the run ended.
    pub final_tips: Vec<FinalTip>,
    /// The best chain (genesis first) of the tip most nodes ended on.
    pub main_chain: Vec<ChainBlock>,
    /// Every block above genesis some node held at the end, side blocks included, with
    /// its size (empty in older records).
    #[serde(default)]
    pub block_sizes: Vec<BlockSize>,
    /// Seconds from the end of mining until every node had the same tip; `None` if they
    /// still disagreed when the runner gave up waiting.
    pub settled_after_secs: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PostSubmission {
    /// The post's id, as the node answered it.
    pub id: String,
    /// Index of the node it was submitted to.
    pub(crate) node: usize,
    /// When the node acknowledged it (201).
    pub submitted_at: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FinalTip {
    /// Block hash, hex.
    pub hash: String,
    pub height: u64,
}

/// One block of the main chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainBlock {
    /// Block hash, hex.
    pub hash: String,
    pub height: u64,
    pub post_ids: Vec<String>,
}

/// How large one block is as the nodes send it to each other.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlockSize {
    /// Block hash, hex.
    pub hash: String,
    pub height: u64,
    pub posts: usize,
    /// Bytes of its JSON, the body of the `POST /add_block` that gossips it.
    pub bytes: usize,
}
