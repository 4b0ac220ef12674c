//! `GET /posts/{id}`: a post and its replies a page at a time (`?after=CURSOR`), with the
//! reply form; a shown flash message is then forgotten.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use chainpost_chain::TxId;

use crate::routes::state::{AppState, cursor_param};
use crate::routes::thread_page::thread_page;
use crate::session::Session;
use crate::views::FormView;

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
    let after = match cursor_param(query.as_deref(), "after") {
        Ok(after) => after,
        Err(_) => {
            return state.error_page(
                &session,
                StatusCode::NOT_FOUND,
                "Not a place in this thread",
                "This page of replies is named by a cursor this site did not give. Start from \
                 the thread's first page.",
            );
        }
    };
    session.showing_flash(thread_page(&state, &session, id, after, FormView::reply(id)).await)
}
