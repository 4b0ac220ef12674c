//! Reading the chain: `GET /chain` (whole or paged), `GET /blocks/{hash}`, `GET /status`.

use axum::Json;
use axum::extract::State;

use std::sync::Arc;

use super::chain_json::{ChainBlocks, ChainDocument};
use super::error::{ApiError, PathParam, QueryParams};
use super::heavy::HeavyReads;
use super::read_store;
use crate::node::{Node, NodeError};
use crate::p2p::Network;
use axum::response::Response;
use chainpost_chain::BlockHash;
use chainpost_wire::{
    BlockDetail, BlockJson, ChainPage, ChainQuery, ErrorBody, MAX_PAGE, MAX_PAGE_BYTES, Status,
    TreeBlock, TreeQuery, TreeView,
};

/// The best chain, as the tutorial's `/chain`; paged with `from` and `limit`.
///
/// `length` is always the whole chain's length. Without `from` and `limit` the whole chain
/// is returned; a page holds at most 1,000 blocks and 2 MiB of them.
#[utoipa::path(get, path = "/chain", tag = "chain", params(ChainQuery),
    responses((status = 200, description = "The chain or a page of it", body = ChainPage), (status = 400, description = "Malformed or invalid input", body = ErrorBody)))]
pub(crate) async fn chain(
    State(node): State<Arc<Node>>,
    State(network): State<Arc<Network>>,
    State(heavy): State<HeavyReads>,
    QueryParams(query): QueryParams<ChainQuery>,
) -> Result<ChainDocument, ApiError> {
    let limit = match query.limit {
        Some(limit) if limit > MAX_PAGE => {
            return Err(ApiError::BadRequest(format!(
                "limit {limit} is too large; at most {MAX_PAGE} blocks per page"
            )));
        }
        Some(limit) => limit,
        None if query.from.is_some() => MAX_PAGE,
        None => usize::MAX,
    };
    let paged = query.from.is_some() || query.limit.is_some();
    let peers = network.peers().iter().map(ToString::to_string).collect();
    // Read from a snapshot of the last commit, on a blocking thread: never under the lock.
    node.store().await_queued().await;
    let reader = node.store().reader();
    if !paged {
        let (length, blocks) = ChainBlocks::whole_chain(reader, &heavy, true).await?;
        return Ok(ChainDocument {
            length,
            blocks,
            peers,
            heavy,
        });
    }
    let from = query.from.unwrap_or(0);
    // A page stops early rather than grow past what a client can take in one answer; it
    // always holds at least one block, so paging always advances.
    // The page is measured in one snapshot; its blocks are read and encoded a chunk at a
    // time as they are sent, so no one read holds a core for the whole page.
    let read = reader.clone();
    let page = heavy
        .run(move || read.best_chain_page(from, limit, MAX_PAGE_BYTES))
        .await?
        .map_err(NodeError::Storage)?;
    Ok(ChainDocument {
        length: page.length,
        blocks: ChainBlocks {
            reader,
            hashes: page.hashes,
        },
        peers,
        heavy,
    })
}

/// A block on any branch, with its place in the tree.
#[utoipa::path(get, path = "/blocks/{hash}", tag = "chain",
    params(("hash" = String, Path, description = "Block hash (64 hex characters)")),
    responses((status = 200, description = "The block", body = BlockDetail), (status = 400, description = "Malformed or invalid input", body = ErrorBody),
        (status = 404, description = "Unknown block", body = ErrorBody)))]
pub(crate) async fn block_by_hash(
    State(node): State<Arc<Node>>,
    PathParam(hash): PathParam,
) -> Result<Json<BlockDetail>, ApiError> {
    let hash: BlockHash = hash
        .parse()
        .map_err(|error| ApiError::BadRequest(format!("block hash: {error}")))?;
    // The block's place in the tree is in memory (O(1) under the lock); its body is read
    // from disk, off the lock. A block the tree holds may be a commit ahead of the disk.
    let placed = node.with_chain(|chain| {
        let tree = chain.tree();
        tree.get(&hash).map(|entry| {
            (
                tree.is_best(&hash),
                entry.cumulative_work,
                entry.children.clone(),
            )
        })
    });
    let (in_best_chain, cumulative_work, children) =
        placed.ok_or_else(|| ApiError::NotFound(format!("no block {hash}")))?;
    let block = match read_store(&node, move |reader| reader.block(&hash)).await? {
        Some(block) => block,
        None => {
            node.store().await_queued().await;
            read_store(&node, move |reader| reader.block(&hash))
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("no block {hash}")))?
        }
    };
    Ok(Json(BlockDetail {
        block: BlockJson::from_block(&block),
        in_best_chain,
        cumulative_work,
        children,
    }))
}

/// How many heights below the tip `/tree` shows by default.
const DEFAULT_TREE_DEPTH: u64 = 50;
/// Side blocks `/tree` shows per height, beside the best chain's.
pub(crate) const TREE_SIDE_BLOCKS_PER_HEIGHT: usize = 8;

/// Known blocks from a height up, side branches included: at each height the best chain's
/// block, then at most 8 others; at most `MAX_PAGE` blocks in all.
#[utoipa::path(get, path = "/tree", tag = "chain", params(TreeQuery),
    responses((status = 200, description = "Blocks by height", body = TreeView), (status = 400, description = "Malformed or invalid input", body = ErrorBody)))]
pub(crate) async fn tree(
    State(node): State<Arc<Node>>,
    State(heavy): State<HeavyReads>,
    QueryParams(query): QueryParams<TreeQuery>,
) -> Result<Response, ApiError> {
    // Under the lock, only a page's handles are copied (`BlockTree::window` costs what it
    // returns); text is made after.
    let (tip, from, window) = node.with_chain(|chain| {
        let tree = chain.tree();
        let tip = tree.tip();
        let from = query
            .from
            .unwrap_or_else(|| tip.height().saturating_sub(DEFAULT_TREE_DEPTH));
        let window: Vec<TreeBlock> = tree
            .window(from, MAX_PAGE, TREE_SIDE_BLOCKS_PER_HEIGHT)
            .into_iter()
            .map(|entry| TreeBlock {
                hash: entry.hash(),
                index: entry.height(),
                previous_hash: entry.header().previous_hash,
                timestamp: entry.header().timestamp,
                transactions: entry.transaction_count(),
                cumulative_work: entry.cumulative_work,
                in_best_chain: tree.is_best(&entry.hash()),
            })
            .collect();
        (tip.hash(), from, window)
    });
    heavy
        .json(move || TreeView {
            tip,
            from,
            blocks: window,
        })
        .await
}

/// The node at a glance: tip, work, difficulty, mempool, peers, mining.
#[utoipa::path(get, path = "/status", tag = "chain",
    responses((status = 200, description = "Status", body = Status)))]
pub(crate) async fn status(
    State(node): State<Arc<Node>>,
    State(network): State<Arc<Network>>,
) -> Json<Status> {
    let peers = network.peers().len();
    let peer_candidates = network.candidate_count();
    let mining = node.is_mining();
    let node_id = network.node_id().to_owned();
    // The summary the last change published: never waits for the chain lock.
    let summary = node.summary();
    Json(Status {
        genesis: summary.genesis,
        node_id,
        height: summary.height,
        length: summary.length,
        tip: summary.tip,
        cumulative_work: summary.cumulative_work,
        // What the next block needs, which on a retargeting network is not the floor.
        difficulty: summary.next_difficulty,
        require_signatures: node.params().require_signatures,
        mempool_size: summary.mempool_size,
        mempool_bytes: summary.mempool_bytes,
        blocks_known: summary.blocks_known,
        orphans: summary.orphans,
        side_branch_bytes: summary.side_branch_bytes,
        peers,
        peer_candidates,
        mining,
    })
}
