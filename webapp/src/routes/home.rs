//! `GET /` and `GET /?before=CURSOR`: the home page (see [`crate::routes::home_page`]),
//! after which a shown flash message is forgotten.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::routes::home_page::home_page;
use crate::routes::state::{AppState, cursor_param};
use crate::session::Session;
use crate::views::FormView;

pub(crate) async fn home(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let before = match cursor_param(query.as_deref(), "before") {
        Ok(before) => before,
        Err(_) => {
            return state.error_page(
                &session,
                StatusCode::NOT_FOUND,
                "Not a place in the feed",
                "This page of posts is named by a cursor this site did not give. Start from \
                 the newest posts on the home page.",
            );
        }
    };
    session.showing_flash(home_page(&state, &session, before, FormView::empty()).await)
}
