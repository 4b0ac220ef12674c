//! What a selfish-mining run observed: handed from the runner to the analysis, and
//! written as `selfish.json` so that `experiment reanalyze` can redo the analysis.
//!
//! **Boundary** between the runner and the analysis.

use serde::{Deserialize, Serialize};

use super::config::{Arrival, SelfishConfig};

/// A whole selfish-mining run: one network per pool share and arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfishRecord {
    pub config: SelfishConfig,
    pub runs: Vec<PoolRun>,
    /// Wall-clock seconds the run took, networks' start-ups included.
    pub took_secs: f64,
}

/// One pool share and arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolRun {
    /// `α`.
    pub pool_share: f64,
    pub arrival: Arrival,
    /// Who found each block, in order: `P` the pool, `H` an honest node.
    pub finders: String,
    /// Honest blocks found while the pool had matched the public chain (a tie).
    pub tie_blocks: u64,
    /// Those of them built on the pool's block: `γ` is their share.
    pub tie_blocks_on_pool_side: u64,
    /// Who mined each block of the settled main chain (up to the last block every node
    /// shares, genesis left out), in height order: `P` the pool, `H` an honest node.
    pub main_chain: String,
    /// The settled height after each race, when every node was on one tip again: the
    /// run's regeneration points, from which the analysis draws its interval.
    pub settled_at: Vec<u64>,
}
