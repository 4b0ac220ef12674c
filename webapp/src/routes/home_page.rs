//! The home page: the post form, the node's status, pending posts and the chain's posts,
//! newest first. `GET /` draws it, and `POST /submit` draws it again, with the form
//! refilled, when a post is refused.

use axum::http::StatusCode;
use chrono::Utc;

use crate::node_client::{NodeClient, NodeError};
use crate::routes::state::AppState;
use crate::routes::status::PENDING_SHOWN;
use crate::session::Session;
use crate::views::{
    FlashView, FormView, HomePage, LIVE_DOWN, Page, Section, StatusView, banner, confirmed_posts,
    pending_posts,
};
use chainpost_wire::lenient::{ChainPage, NodeStatus, Post};

/// How many of the latest blocks the home page reads.
const RECENT_BLOCKS: usize = 50;
/// Most confirmed posts the home page lists.
const MAX_POSTS: usize = 200;

/// What the home page shows of a node.
struct Feed {
    status: Option<NodeStatus>,
    pending: Vec<Post>,
    chain: ChainPage,
}

/// Reads the home page's data: `/status` and `/pending_tx` together, then the latest
/// blocks. A node without `/status` (tutorial-style) gets its whole chain read instead.
async fn fetch_feed(node: &NodeClient) -> Result<Feed, NodeError> {
    let (status, pending) = tokio::join!(node.status(), node.pending(PENDING_SHOWN));
    let status = match status {
        Ok(status) => Some(status),
        Err(NodeError::EndpointMissing { .. }) => None,
        Err(error) => return Err(error),
    };
    let pending = pending?;
    let chain = match &status {
        Some(status) => {
            let from = status.length().saturating_sub(RECENT_BLOCKS as u64);
            node.chain_page(from, RECENT_BLOCKS).await?
        }
        None => node.chain().await?,
    };
    Ok(Feed {
        status,
        pending,
        chain,
    })
}

/// The home page for this session, with `form` as the post form.
pub(crate) async fn home_page(
    state: &AppState,
    session: &Session,
    form: FormView,
) -> (StatusCode, Page<HomePage>) {
    let node = state.node(session);
    let mut layout = state.layout(session, "Posts", Section::Posts);
    layout.refresh = "/".to_owned();
    let flash = session.flash.clone().map(FlashView::from);
    let feed = match fetch_feed(node).await {
        Ok(feed) => feed,
        Err(error) => {
            tracing::warn!(node = %node.base(), %error, "cannot read the node for the home page");
            layout.banner = Some(banner(&error));
            layout.live = LIVE_DOWN.to_owned();
            let page = HomePage {
                layout,
                flash,
                form,
                status: None,
                pending: Vec::new(),
                pending_count: 0,
                posts: Vec::new(),
                more_in_explorer: false,
                node_ok: false,
            };
            // The page works (the form is there, it updates itself when the node is back);
            // the node's state is what is unavailable, not this page.
            return (StatusCode::OK, Page(page));
        }
    };
    let status = match &feed.status {
        Some(status) => StatusView::new(status),
        None => StatusView::from_chain(
            feed.chain.length,
            feed.chain.chain.last(),
            feed.pending.len() as u64,
        ),
    };
    let pending_count = status.pending;
    let mut shown_pending = feed.pending;
    shown_pending.truncate(PENDING_SHOWN);
    layout.live = status.live_fingerprint();
    let first_shown = feed.chain.chain.first().map_or(0, |block| block.index);
    let more_in_explorer = first_shown > 0;
    // Checking signatures is CPU work: keep it off the async executor.
    let now = Utc::now();
    let views = tokio::task::spawn_blocking(move || {
        (
            pending_posts(&shown_pending, now),
            confirmed_posts(&feed.chain.chain, now, MAX_POSTS),
        )
    })
    .await;
    let (pending, posts) = match views {
        Ok(views) => views,
        Err(error) => {
            tracing::error!(%error, "building the post list failed");
            (Vec::new(), Vec::new())
        }
    };
    let page = HomePage {
        layout,
        flash,
        form,
        status: Some(status),
        pending,
        pending_count,
        posts,
        more_in_explorer,
        node_ok: true,
    };
    (StatusCode::OK, Page(page))
}
