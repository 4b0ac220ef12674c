//! `GET /`: the home page (see [`crate::routes::home_page`]), after which a shown flash
//! message is forgotten.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Response};

use crate::routes::home_page::home_page;
use crate::routes::state::AppState;
use crate::session::{Flash, Session};
use crate::views::FormView;

pub(crate) async fn home(State(state): State<AppState>, session: Session) -> Response {
    let clear_flash = session.flash.is_some();
    let page = home_page(&state, &session, FormView::empty()).await;
    if clear_flash {
        (AppendHeaders([(SET_COOKIE, Flash::clear_cookie())]), page).into_response()
    } else {
        page.into_response()
    }
}
