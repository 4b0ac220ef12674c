//! `GET /status`: a chainpost node at a glance, and the identity a handshake checks.
//!
//! This is what a chainpost node sends, every field always present. Clients that meet
//! nodes they do not control read it through [`crate::lenient::NodeStatus`] instead.

use chainpost_chain::BlockHash;
use serde::{Deserialize, Serialize};

/// The answer to `GET /status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Status {
    /// Hash of the genesis block: which network this node is on.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub genesis: BlockHash,
    /// This run's random identity, by which a node recognizes itself in a handshake.
    pub node_id: String,
    /// Height of the best tip.
    pub height: u64,
    /// Blocks in the best chain (height + 1).
    pub length: u64,
    /// Hash of the best tip.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tip: BlockHash,
    /// Work of the best chain, genesis included.
    pub cumulative_work: u128,
    /// Leading zero bits the next block needs.
    pub difficulty: u32,
    /// Whether the network refuses unsigned posts.
    pub require_signatures: bool,
    /// Posts waiting to be mined.
    pub mempool_size: usize,
    /// Canonical bytes of the posts waiting to be mined.
    pub mempool_bytes: usize,
    /// Every block the node keeps, side branches included.
    pub blocks_known: usize,
    /// Blocks waiting for a missing ancestor.
    pub orphans: usize,
    /// Bytes of the blocks kept off the best chain (bounded).
    pub side_branch_bytes: usize,
    /// Peers the node talks to.
    pub peers: usize,
    /// Addresses heard of and waiting for a handshake (bounded).
    pub peer_candidates: usize,
    /// Whether the node is searching for a block right now.
    pub mining: bool,
}
