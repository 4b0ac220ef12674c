//! The block explorer: `GET /blocks/{hash}` (one block: header, posts, parent and
//! children), `GET /height/{index}` (a best-chain block by height) and `GET /tree` (every
//! known block by height, side branches in lanes of their own).
//!
//! A tutorial-style node has only `/chain`: the explorer then finds blocks in it and
//! draws the best chain alone.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use crate::names::Names;
use crate::node_client::{NodeClient, NodeError};
use crate::post::CheckedPost;
use crate::routes::state::AppState;
use crate::routes::status::live_fingerprint;
use crate::session::Session;
use crate::views::{
    BlockLink, BlockPage, BlockView, ErrorPage, LIVE_DOWN, Layout, Page, PostView, Section,
    TreePage, banner, short, tree_rows,
};
use chainpost_chain::BlockHash;
use chainpost_wire::lenient::{Block, BlockDetail, Tree, TreeBlock};

pub(crate) async fn block(
    State(state): State<AppState>,
    session: Session,
    Path(hash): Path<String>,
) -> Response {
    // Only a hash goes into the node's URL: a path like `..%2Fmine` must not reach it.
    let Ok(hash) = hash.parse::<BlockHash>() else {
        return state.error_page(
            &session,
            StatusCode::NOT_FOUND,
            "Not a block hash",
            "A block hash is written in hexadecimal digits (0-9, a-f).",
        );
    };
    let node = &state.node(&session);
    match find_block(node, &hash).await {
        Ok(Some(detail)) => block_page(&state, &session, detail).await,
        Ok(None) => unknown_block(&state, &session, &hash),
        Err(error) => node_down(&state, &session, &error),
    }
}

pub(crate) async fn block_at_height(
    State(state): State<AppState>,
    session: Session,
    Path(index): Path<String>,
) -> Response {
    let Ok(index) = index.parse::<u64>() else {
        return state.error_page(
            &session,
            StatusCode::NOT_FOUND,
            "Not a height",
            "A block height is a whole number: 0 for the genesis block, 1 for the next, ...",
        );
    };
    let node = &state.node(&session);
    let page = match node.chain_page(index, 1).await {
        Ok(page) => page,
        Err(error) => return node_down(&state, &session, &error),
    };
    // A tutorial-style node ignores the paging and sends the whole chain.
    let Some(block) = page.chain.into_iter().find(|block| block.index == index) else {
        return state.error_page(
            &session,
            StatusCode::NOT_FOUND,
            "No block at that height",
            &format!(
                "The node's chain has {} blocks, so there is no block #{index} yet.",
                page.length
            ),
        );
    };
    match block.hash.as_deref().map(str::parse::<BlockHash>) {
        Some(Ok(hash)) => Redirect::to(&format!("/blocks/{hash}")).into_response(),
        // Only one of our hashes goes into a Location header (other text may hold CR/LF).
        Some(Err(_)) => node_down(
            &state,
            &session,
            &NodeError::BadResponse {
                endpoint: "/chain".into(),
                reason: "a block hash that is not 64 hexadecimal digits".into(),
            },
        ),
        None => {
            let detail = BlockDetail {
                block,
                in_best_chain: Some(true),
                cumulative_work: None,
                children: Vec::new(),
            };
            block_page(&state, &session, detail).await
        }
    }
}

/// The block with `hash`, from `/blocks/{hash}` or, for a node without it, from `/chain`.
async fn find_block(node: &NodeClient, hash: &BlockHash) -> Result<Option<BlockDetail>, NodeError> {
    match node.block(hash).await {
        Ok(detail) => Ok(Some(detail)),
        Err(NodeError::Rejected { status, .. }) if status == StatusCode::NOT_FOUND => Ok(None),
        Err(NodeError::EndpointMissing { .. }) => {
            let chain = node.chain().await?.chain;
            let position = chain.iter().position(|block| {
                block
                    .hash
                    .as_deref()
                    .is_some_and(|text| text.parse().as_ref() == Ok(hash))
            });
            Ok(position.map(|position| BlockDetail {
                block: chain[position].clone(),
                in_best_chain: Some(true),
                cumulative_work: None,
                children: chain
                    .get(position + 1)
                    .and_then(|next| next.hash.clone())
                    .into_iter()
                    .collect(),
            }))
        }
        Err(error) => Err(error),
    }
}

async fn block_page(state: &AppState, session: &Session, detail: BlockDetail) -> Response {
    // Checking signatures is CPU work: keep it off the async executor.
    let checked = tokio::task::spawn_blocking(move || {
        let posts: Vec<CheckedPost> = detail
            .block
            .transactions
            .iter()
            .cloned()
            .map(CheckedPost::check)
            .collect();
        (detail, posts)
    })
    .await;
    let (detail, posts) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            tracing::error!(%error, "building the block page failed");
            return state.error_page(
                session,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The block could not be shown. The error is in the web app's log.",
            );
        }
    };
    let names = Names::of(&state.node(session), &posts).await;
    let now = Utc::now();
    let block = BlockView::new(&detail, now);
    let link = BlockLink::to(&detail.block);
    let posts: Vec<PostView> = posts
        .iter()
        .map(|post| PostView::new(post, Some(link.clone()), now).named(&names))
        .collect();
    let title = format!("Block #{}", block.index);
    let mut layout = state.layout(session, &title, Section::Explorer);
    layout.live = live_fingerprint(&state.node(session)).await;
    Page(BlockPage {
        layout,
        block,
        posts,
    })
    .into_response()
}

fn unknown_block(state: &AppState, session: &Session, hash: &BlockHash) -> Response {
    let node = &state.node(session);
    state.error_page(
        session,
        StatusCode::NOT_FOUND,
        "Unknown block",
        &format!(
            "The node at {} does not know block {}. It may live on another node; pick another \
             node above, or go back to the block tree.",
            node.base(),
            short(&hash.to_string())
        ),
    )
}

/// A page for a node that could not be read: the banner, on a page that reloads itself
/// when the node is back.
fn node_down(state: &AppState, session: &Session, error: &NodeError) -> Response {
    tracing::warn!(node = %state.node(session).base(), %error, "cannot read the node for the explorer");
    let mut layout = state.layout(session, "Node unavailable", Section::Explorer);
    layout.banner = Some(banner(error));
    layout.live = LIVE_DOWN.to_owned();
    Page(ErrorPage {
        layout,
        heading: "The node is not available".to_owned(),
        message: "The explorer reads blocks from the node, which is not answering right now."
            .to_owned(),
    })
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
struct TreeQuery {
    from: Option<String>,
}

pub(crate) async fn tree(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let query: TreeQuery = query
        .as_deref()
        .and_then(|query| serde_urlencoded::from_str(query).ok())
        .unwrap_or_default();
    let from = query.from.and_then(|from| from.trim().parse::<u64>().ok());
    let node = &state.node(&session);
    let mut layout = state.layout(&session, "Block tree", Section::Explorer);
    let (tree, best_chain_only) = match node.tree(from).await {
        Ok(tree) => (tree, false),
        Err(NodeError::EndpointMissing { .. }) => match node.chain().await {
            Ok(chain) => (tree_of_best_chain(chain.chain), true),
            Err(error) => return tree_unavailable(layout, &error),
        },
        Err(error) => return tree_unavailable(layout, &error),
    };
    layout.live = live_fingerprint(node).await;
    let side_blocks = tree
        .blocks
        .iter()
        .filter(|block| !block.in_best_chain)
        .count();
    let rows = tree_rows(&tree, Utc::now());
    let lanes = rows.first().map_or(1, |row| row.cells.len());
    Page(TreePage {
        layout,
        rows,
        lanes,
        side_blocks,
        best_chain_only,
    })
    .into_response()
}

fn tree_unavailable(mut layout: Layout, error: &NodeError) -> Response {
    tracing::warn!(%error, "cannot read the node's block tree");
    layout.banner = Some(banner(error));
    layout.live = LIVE_DOWN.to_owned();
    Page(TreePage {
        layout,
        rows: Vec::new(),
        lanes: 1,
        side_blocks: 0,
        best_chain_only: false,
    })
    .into_response()
}

/// The tree of a node that only offers `/chain`: its best chain, nothing else.
fn tree_of_best_chain(chain: Vec<Block>) -> Tree {
    let tip = chain
        .last()
        .and_then(|block| block.hash.clone())
        .unwrap_or_default();
    let blocks = chain
        .into_iter()
        .map(|block| TreeBlock {
            hash: block.hash.unwrap_or_default(),
            index: block.index,
            previous_hash: block.previous_hash,
            timestamp: block.timestamp,
            transactions: block.transactions.len() as u64,
            cumulative_work: None,
            in_best_chain: true,
        })
        .collect();
    Tree {
        tip,
        from: 0,
        blocks,
    }
}
