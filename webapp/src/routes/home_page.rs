//! The home page: the post form, the node's status, pending posts and the chain's posts,
//! newest first. `GET /` draws it, and `POST /submit` draws it again, with the form
//! refilled, when a post is refused.

use axum::http::StatusCode;
use chrono::Utc;

use crate::node_client::{NodeClient, NodeError};
use crate::post::CheckedPost;
use crate::routes::state::AppState;
use crate::routes::status::PENDING_SHOWN;
use crate::session::Session;
use crate::views::{
    BlockLink, FormView, HomePage, LIVE_DOWN, Page, Section, StatusView, banner, confirmed_posts,
    newest_first, pending_posts,
};

/// How many of the latest blocks the home page reads.
const RECENT_BLOCKS: usize = 50;
/// Most confirmed posts the home page lists.
const MAX_POSTS: usize = 200;

/// What the home page shows of a node, signatures checked.
struct Feed {
    status: StatusView,
    /// The oldest few pending posts, oldest first.
    pending: Vec<CheckedPost>,
    /// The newest confirmed posts, newest first.
    confirmed: Vec<(BlockLink, CheckedPost)>,
    /// Whether older blocks exist than those read.
    more_in_explorer: bool,
}

/// Reads the home page's data: `/status` and `/pending_tx` together, then the latest
/// blocks. A node without `/status` (tutorial-style) gets its whole chain read instead.
/// The posts shown are then checked on a blocking thread.
async fn fetch_feed(node: &NodeClient) -> Result<Feed, NodeError> {
    let (status, pending) = tokio::join!(node.status(), node.pending(PENDING_SHOWN));
    let status = match status {
        Ok(status) => Some(status),
        Err(NodeError::EndpointMissing { .. }) => None,
        Err(error) => return Err(error),
    };
    let mut pending = pending?;
    let chain = match &status {
        Some(status) => {
            let from = status.length().saturating_sub(RECENT_BLOCKS as u64);
            node.chain_page(from, RECENT_BLOCKS).await?
        }
        None => node.chain().await?,
    };
    let status = match &status {
        Some(status) => StatusView::new(status),
        None => StatusView::from_chain(chain.length, chain.chain.last(), pending.len() as u64),
    };
    let first_shown = chain.chain.first().map_or(0, |block| block.index);
    pending.truncate(PENDING_SHOWN);
    // Checking signatures is CPU work: keep it off the async executor.
    let checked = tokio::task::spawn_blocking(move || {
        let pending: Vec<CheckedPost> = pending.into_iter().map(CheckedPost::check).collect();
        let confirmed: Vec<(BlockLink, CheckedPost)> = newest_first(&chain.chain, MAX_POSTS)
            .into_iter()
            .map(|(block, post)| (BlockLink::to(block), CheckedPost::check(post.clone())))
            .collect();
        (pending, confirmed)
    })
    .await;
    let (pending, confirmed) = match checked {
        Ok(checked) => checked,
        Err(error) => {
            tracing::error!(%error, "building the post list failed");
            (Vec::new(), Vec::new())
        }
    };
    Ok(Feed {
        status,
        pending,
        confirmed,
        more_in_explorer: first_shown > 0,
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
    layout.refresh = Some("/");
    let flash = session.flash.clone();
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
    layout.live = feed.status.live_fingerprint();
    let now = Utc::now();
    let page = HomePage {
        layout,
        flash,
        form,
        pending_count: feed.status.pending,
        status: Some(feed.status),
        pending: pending_posts(&feed.pending, now),
        posts: confirmed_posts(&feed.confirmed, now),
        more_in_explorer: feed.more_in_explorer,
        node_ok: true,
    };
    (StatusCode::OK, Page(page))
}
