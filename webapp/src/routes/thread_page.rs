//! The thread page: a post and its replies, those confirmed in chain order and then those
//! pending. `GET /posts/{id}` draws it, and `POST /submit` draws it again, with the form
//! refilled, when a reply is refused.
//!
//! A tutorial-style node keeps no threads: its posts have no ids to reply to, so this page
//! is never linked for them, and asked anyway it says so.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use chainpost_chain::TxId;
use chainpost_wire::PostCursor;
use chainpost_wire::lenient::{BlockPlace, Thread};

use crate::names::Names;
use crate::node_client::NodeError;
use crate::post::CheckedPost;
use crate::routes::state::AppState;
use crate::routes::status::read_status;
use crate::session::Session;
use crate::views::{FormView, LIVE_DOWN, Page, PostView, Section, StatusView, ThreadPage, short};

/// The thread of `id` for this session from `after` on, with `form` as the reply form.
pub(crate) async fn thread_page(
    state: &AppState,
    session: &Session,
    id: TxId,
    after: Option<PostCursor>,
    form: FormView,
) -> Response {
    let node = &state.node(session);
    let (thread, status) = tokio::join!(node.thread(&id, after), read_status(node));
    let thread = match thread {
        Ok(thread) => thread,
        Err(NodeError::Rejected { status, .. }) if status == StatusCode::NOT_FOUND => {
            return state.error_page(
                session,
                StatusCode::NOT_FOUND,
                "Unknown post",
                &format!(
                    "The node at {} knows no post {}, pending or confirmed. It may live on \
                     another node; pick another node above.",
                    node.base(),
                    short(&id.to_string())
                ),
            );
        }
        Err(NodeError::EndpointMissing { .. }) => {
            return state.error_page(
                session,
                StatusCode::NOT_FOUND,
                "No threads on this node",
                &format!(
                    "The node at {} keeps no threads: it is not a chainpost node.",
                    node.base()
                ),
            );
        }
        Err(error) => {
            return state.unavailable_page(
                session,
                &error,
                "The thread is read from the node, which is not answering right now.",
            );
        }
    };
    let next = thread.next_cursor();
    let (post, replies) = match check(thread).await {
        Some(checked) => checked,
        None => {
            return state.error_page(
                session,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The thread could not be shown. The error is in the web app's log.",
            );
        }
    };
    let mut layout = state.layout(session, "Thread", Section::Posts);
    let status = status.ok();
    layout.live = status
        .as_ref()
        .map_or_else(|| LIVE_DOWN.to_owned(), StatusView::live_fingerprint);
    let tip = status.as_ref().map(|status| status.height);
    let names = Names::of(
        &state.node(session),
        std::iter::once(&post.0).chain(replies.iter().map(|(post, _)| post)),
    )
    .await;
    let now = Utc::now();
    let view = |(post, block): &Checked| {
        let view = PostView::placed(post, block.as_ref(), now).named(&names);
        match tip {
            Some(tip) => view.under_tip(tip),
            None => view,
        }
    };
    Page(ThreadPage {
        layout,
        flash: session.flash.clone(),
        form,
        post: view(&post),
        replies: replies.iter().map(view).collect(),
        more: next.map(|cursor| format!("/posts/{id}?after={cursor}")),
        later_page: after.is_some(),
    })
    .into_response()
}

/// A post with its signature checked, and the block that confirms it.
type Checked = (CheckedPost, Option<BlockPlace>);

/// The thread's posts with their signatures checked, off the async executor: checking is
/// CPU work.
async fn check(thread: Thread) -> Option<(Checked, Vec<Checked>)> {
    let checked = tokio::task::spawn_blocking(move || {
        (
            CheckedPost::check_placed(thread.post),
            thread
                .replies
                .into_iter()
                .map(CheckedPost::check_placed)
                .collect(),
        )
    })
    .await;
    match checked {
        Ok(checked) => Some(checked),
        Err(error) => {
            tracing::error!(%error, "checking a thread's posts failed");
            None
        }
    }
}
