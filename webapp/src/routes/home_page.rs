//! The home page: the post form, the node's status, pending posts and the chain's posts,
//! newest first, a page at a time back to genesis (`?before=CURSOR`, "Older posts").
//! `GET /` draws it, and `POST /submit` draws its first page again, with the form refilled,
//! when a post is refused.

use axum::http::StatusCode;
use chrono::Utc;

use chainpost_wire::PostCursor;
use chainpost_wire::lenient::{Post, PostStatus};

use crate::names::Names;
use crate::node_client::{NodeClient, NodeError, PostsOf};
use crate::post::CheckedPost;
use crate::routes::state::AppState;
use crate::routes::status::PENDING_SHOWN;
use crate::session::Session;
use crate::views::{
    BlockLink, FormView, HomePage, LIVE_DOWN, Page, Section, StatusView, banner, confirmed_posts,
    newest_first, pending_posts,
};

/// Confirmed posts on a page of the home feed.
pub(crate) const FEED_PAGE: usize = 50;
/// Most confirmed posts the home page lists from a node without `/posts` (tutorial-style),
/// which sends its whole chain at once.
const MAX_UNPAGED_POSTS: usize = 200;

/// What the home page shows of a node, signatures checked.
struct Feed {
    status: StatusView,
    /// The oldest few pending posts, oldest first; none on an older page.
    pending: Vec<CheckedPost>,
    /// The page's confirmed posts, newest first.
    confirmed: Vec<(BlockLink, CheckedPost)>,
    /// Where the next older page starts, when there is one.
    older: Option<PostCursor>,
    /// Whether older posts exist that only the explorer reaches (a node without `/posts`).
    more_in_explorer: bool,
    /// What the node calls the keys that signed them.
    names: Names,
}

/// The posts a page shows, before their signatures are checked.
struct Unchecked {
    pending: Vec<Post>,
    confirmed: Vec<(BlockLink, PostStatus)>,
    older: Option<PostCursor>,
    more_in_explorer: bool,
}

/// Reads the home page's data: `/status`, `/pending_tx` (on the first page) and a page of
/// `/posts` together. A node without `/status` (tutorial-style) gets its whole chain read
/// instead. The posts shown are then checked on a blocking thread, and their keys' profiles
/// asked for.
async fn fetch_feed(node: &NodeClient, before: Option<PostCursor>) -> Result<Feed, NodeError> {
    let first_page = before.is_none();
    let pending = async {
        if first_page {
            node.pending(PENDING_SHOWN).await
        } else {
            Ok(Vec::new())
        }
    };
    let (status, pending, page) = tokio::join!(
        node.status(),
        pending,
        node.posts(PostsOf::Everyone, before, FEED_PAGE)
    );
    let (status, unchecked) = match status {
        Ok(status) => {
            let page = page?;
            let older = page.next_cursor();
            // `/posts` lists confirmed posts only, each with its block.
            let confirmed = page
                .posts
                .into_iter()
                .filter_map(|status| Some((BlockLink::placed(status.block.as_ref()?), status)))
                .collect();
            let mut pending = pending?;
            pending.truncate(PENDING_SHOWN);
            (
                StatusView::new(&status),
                Unchecked {
                    pending,
                    confirmed,
                    older,
                    more_in_explorer: false,
                },
            )
        }
        Err(NodeError::EndpointMissing { .. }) => unpaged_feed(node, pending?).await?,
        Err(error) => return Err(error),
    };
    // Checking signatures is CPU work: keep it off the async executor.
    let Unchecked {
        pending,
        confirmed,
        older,
        more_in_explorer,
    } = unchecked;
    let checked = tokio::task::spawn_blocking(move || {
        let pending: Vec<CheckedPost> = pending.into_iter().map(CheckedPost::check).collect();
        let confirmed: Vec<(BlockLink, CheckedPost)> = confirmed
            .into_iter()
            .map(|(place, status)| (place, CheckedPost::check_placed(status).0))
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
    let names = Names::of(
        node,
        pending.iter().chain(confirmed.iter().map(|(_, post)| post)),
    )
    .await;
    Ok(Feed {
        status,
        pending,
        confirmed,
        older,
        more_in_explorer,
        names,
    })
}

/// The feed of a node without `/status` or `/posts`: its whole chain, of which the newest
/// posts are shown.
async fn unpaged_feed(
    node: &NodeClient,
    mut pending: Vec<Post>,
) -> Result<(StatusView, Unchecked), NodeError> {
    let chain = node.chain().await?;
    let status = StatusView::from_chain(chain.length, chain.chain.last(), pending.len() as u64);
    pending.truncate(PENDING_SHOWN);
    let newest = newest_first(&chain.chain, MAX_UNPAGED_POSTS + 1);
    let more_in_explorer = newest.len() > MAX_UNPAGED_POSTS;
    let confirmed = newest
        .into_iter()
        .take(MAX_UNPAGED_POSTS)
        .map(|(block, post)| {
            let status = PostStatus {
                transaction: post.clone(),
                block: None,
                returned: false,
                reply_count: None,
            };
            (BlockLink::to(block), status)
        })
        .collect();
    Ok((
        status,
        Unchecked {
            pending,
            confirmed,
            older: None,
            more_in_explorer,
        },
    ))
}

/// The home page for this session, from the newest posts or from `before`, with `form` as
/// the post form.
pub(crate) async fn home_page(
    state: &AppState,
    session: &Session,
    before: Option<PostCursor>,
    form: FormView,
) -> (StatusCode, Page<HomePage>) {
    let node = &state.node(session);
    let older_page = before.is_some();
    let mut layout = state.layout(
        session,
        if older_page { "Older posts" } else { "Posts" },
        Section::Posts,
    );
    if !older_page {
        layout.refresh = Some("/");
    }
    let flash = session.flash.clone();
    let feed = match fetch_feed(node, before).await {
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
                older: None,
                older_page,
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
        pending: pending_posts(&feed.pending, &feed.names, now),
        posts: confirmed_posts(&feed.confirmed, feed.status.height, &feed.names, now),
        status: Some(feed.status),
        older: feed.older.map(|cursor| format!("/?before={cursor}")),
        older_page,
        more_in_explorer: feed.more_in_explorer,
        node_ok: true,
    };
    (StatusCode::OK, Page(page))
}
