//! Reading and extending the chain: `GET /chain` (whole or paged, also the answer of
//! `POST /register_node`), `GET /blocks/{hash}`, `GET /tree` and `POST /add_block`'s
//! answer.

use chainpost_chain::BlockHash;
use serde::{Deserialize, Serialize};

use crate::BlockJson;

/// Most blocks one page of `/chain` holds.
pub const MAX_PAGE: usize = 1_000;

/// Most canonical bytes of blocks one page of `/chain` holds (its JSON may be up to six
/// times larger). Two maximal blocks: a page stays a bounded piece of work for the server
/// and for a syncing peer, which holds the page as text, as JSON values and as blocks at
/// once.
pub const MAX_PAGE_BYTES: usize = 2 << 20;

/// The query of `GET /chain`: without either field, the whole chain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct ChainQuery {
    /// First height of the page.
    pub from: Option<u64>,
    /// Most blocks in the page (at most 1,000).
    pub limit: Option<usize>,
}

/// The tutorial's `/chain` document, which `/register_node` answers too: `length` is the
/// whole best chain's length even when `chain` is one page of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainPage {
    /// Blocks in the whole best chain.
    pub length: u64,
    /// The blocks sent, lowest first.
    pub chain: Vec<BlockJson>,
    /// The node's peers (always written; a reader does without them).
    #[serde(default)]
    pub peers: Vec<String>,
}

impl ChainPage {
    /// The document's JSON up to its first block, for a server that streams the blocks
    /// (comma-separated [`BlockJson`]) between this and [`ChainPage::json_after_blocks`].
    pub fn json_before_blocks(length: u64) -> String {
        format!(r#"{{"length":{length},"chain":["#)
    }

    /// The document's JSON after its last block.
    pub fn json_after_blocks(peers: &[String]) -> Vec<u8> {
        let mut tail = b"],\"peers\":".to_vec();
        serde_json::to_writer(&mut tail, peers).unwrap_or_else(|_| {
            unreachable!("a list of strings always serializes");
        });
        tail.push(b'}');
        tail
    }
}

/// `GET /blocks/{hash}`: a block on any branch, with its place in the tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockDetail {
    /// The block itself.
    #[serde(flatten)]
    pub block: BlockJson,
    /// Whether it is on the best chain.
    pub in_best_chain: bool,
    /// Work from genesis to this block, both included.
    pub cumulative_work: u128,
    /// Hashes of the blocks built on it.
    #[serde(with = "crate::hex_hash::list")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub children: Vec<BlockHash>,
}

/// The query of `GET /tree`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct TreeQuery {
    /// Lowest height shown; defaults to 50 below the tip.
    pub from: Option<u64>,
}

/// `GET /tree`: known blocks from a height up, side branches included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeView {
    /// Hash of the best tip.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tip: BlockHash,
    /// Lowest height shown.
    pub from: u64,
    /// The blocks: by height, at each the best chain's first.
    pub blocks: Vec<TreeBlock>,
}

/// One block of the tree view: enough to draw it and its branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeBlock {
    /// Hash of the block.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: BlockHash,
    /// Height of the block.
    pub index: u64,
    /// Hash of its parent.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub previous_hash: BlockHash,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// How many posts it holds.
    pub transactions: usize,
    /// Work from genesis to this block, both included.
    pub cumulative_work: u128,
    /// Whether it is on the best chain.
    pub in_best_chain: bool,
}

/// What became of a block sent to `POST /add_block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockOutcome {
    /// It extends the best chain.
    Extended,
    /// It completes a heavier branch, which became the best chain.
    Reorganized,
    /// It is kept on a side branch.
    SideBranch,
    AlreadyKnown,
    /// It waits for its missing ancestor.
    UnknownParent,
}

/// The answer of `POST /add_block` when the block is not refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AddBlockResponse {
    /// What happened, in words.
    pub message: String,
    /// What happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub outcome: BlockOutcome,
    /// The ancestor the block waits for (`unknown_parent` only).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::hex_hash::option"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub missing: Option<BlockHash>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_chain::ChainParams;

    #[test]
    fn a_streamed_chain_document_is_the_chain_page_serde_writes() {
        let genesis = BlockJson::from_block(&ChainParams::new(0, false).expect("valid").genesis());
        for blocks in [0, 1, 3] {
            let page = ChainPage {
                length: 7,
                chain: vec![genesis.clone(); blocks],
                peers: vec!["http://127.0.0.1:9".into(), "http://\"odd\"".into()],
            };
            let body: Vec<String> = page
                .chain
                .iter()
                .map(|block| serde_json::to_string(block).expect("serializes"))
                .collect();
            let mut streamed = ChainPage::json_before_blocks(page.length).into_bytes();
            streamed.extend_from_slice(body.join(",").as_bytes());
            streamed.extend(ChainPage::json_after_blocks(&page.peers));
            assert_eq!(
                String::from_utf8(streamed).expect("utf-8"),
                serde_json::to_string(&page).expect("serializes"),
                "{blocks} blocks"
            );
        }
    }

    #[test]
    fn outcomes_are_written_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&BlockOutcome::UnknownParent).expect("serializes"),
            r#""unknown_parent""#
        );
    }
}
