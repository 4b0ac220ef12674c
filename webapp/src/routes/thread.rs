//! `GET /posts/{id}`: a post and its replies a page at a time (`?after=CURSOR`), with the
//! reply form.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use chainpost_chain::TxId;
use chainpost_wire::PostCursor;

use crate::routes::state::AppState;
use crate::routes::thread_page::thread_page;
use crate::session::Session;
use crate::views::FormView;

#[derive(Debug, Default, Deserialize)]
struct ThreadParams {
    after: Option<String>,
}

pub(crate) async fn thread(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    // Only an id goes into the node's URL: a path like `..%2Fmine` must not reach it.
    let Ok(id) = id.parse::<TxId>() else {
        return state.error_page(
            &session,
            StatusCode::NOT_FOUND,
            "Not a post id",
            "A post id is 64 hexadecimal digits (0-9, a-f).",
        );
    };
    let params: ThreadParams = query
        .as_deref()
        .and_then(|query| serde_urlencoded::from_str(query).ok())
        .unwrap_or_default();
    let after = match params.after.as_deref().map(str::parse::<PostCursor>) {
        None => None,
        Some(Ok(cursor)) => Some(cursor),
        Some(Err(_)) => {
            return state.error_page(
                &session,
                StatusCode::NOT_FOUND,
                "Not a place in this thread",
                "This page of replies is named by a cursor this site did not give. Start from \
                 the thread's first page.",
            );
        }
    };
    thread_page(&state, &session, id, after, FormView::reply(id)).await
}
