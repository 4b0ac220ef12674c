//! `GET /profile?key=KEY`: the profile form for the browser's key (its script puts the key
//! in the address), filled with the key's current profile and saying whether the handle
//! it names is the key's. `POST /submit` takes the form, signed by that script.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use chainpost_chain::handle::MAX_HANDLE_LEN;

use crate::node_client::NodeError;
use crate::post::Author;
use crate::routes::state::{AppState, query_param};
use crate::session::Session;
use crate::views::{AuthorView, FormView, Page, ProfilePage, Section};

pub(crate) async fn profile(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let key = query_param(query.as_deref(), "key");
    session.showing_flash(profile_page(&state, &session, key.as_deref(), None).await)
}

/// The profile page of `key` (hex, as the address gave it), with `form` when a submission
/// is drawn again, or else the key's current profile in the form.
pub(crate) async fn profile_page(
    state: &AppState,
    session: &Session,
    key: Option<&str>,
    form: Option<FormView>,
) -> Response {
    let layout = state.layout(session, "Your profile", Section::Posts);
    let key = key.and_then(|key| match Author::parse(key) {
        Author::Key(key) => Some(key),
        _ => None,
    });
    let current = match key {
        Some(key) => {
            let hex_key = hex::encode(key);
            match state.node(session).profiles(&[hex_key.as_str()]).await {
                Ok(page) => page.profiles.into_iter().next(),
                Err(NodeError::EndpointMissing { .. }) => None,
                Err(error) => {
                    return state.unavailable_page(
                        session,
                        &error,
                        "Your profile is read from the node, which is not answering right now.",
                    );
                }
            }
        }
        None => None,
    };
    let form = form.unwrap_or_else(|| {
        current
            .as_ref()
            .map_or_else(FormView::empty, FormView::profile)
    });
    let view = key
        .zip(current.as_ref())
        .map(|(key, profile)| AuthorView::new(&Author::Key(key), None, Some(profile)));
    let page = ProfilePage {
        layout,
        flash: session.flash.clone(),
        form,
        current: view,
        max_handle: MAX_HANDLE_LEN,
    };
    (StatusCode::OK, Page(page)).into_response()
}
