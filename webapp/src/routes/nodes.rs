//! `POST /nodes`: a reader adds a node to the list the page reads from, and reads from it
//! at once; `POST /nodes/forget` drops the nodes the reader added. Only when readers may
//! add nodes (`--reader-nodes`): the web app then connects wherever a reader says.

use axum::Form;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::config::NodeUrl;
use crate::routes::state::AppState;
use crate::session::{Flash, MAX_READER_NODES, Session, chosen_node_cookie, reader_nodes_cookie};
use crate::views::banner;

/// Longest node address a reader may add: four fit the cookie's bound.
const MAX_URL_BYTES: usize = 256;

#[derive(Debug, Deserialize)]
pub(crate) struct AddNode {
    url: String,
}

fn refused(state: &AppState, session: &Session) -> Response {
    state.error_page(
        session,
        StatusCode::FORBIDDEN,
        "Nodes cannot be added here",
        "This web app reads only the nodes it was started with (it runs with --reader-nodes off).",
    )
}

/// Back to the home page, setting `cookies` and then the cookie of `flash`.
fn back_home(flash: &Flash, cookies: Vec<HeaderValue>) -> Response {
    let cookies = cookies.into_iter().chain([flash.set_cookie()]);
    (
        AppendHeaders(cookies.map(|cookie| (SET_COOKIE, cookie))),
        Redirect::to("/"),
    )
        .into_response()
}

pub(crate) async fn add_node(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<AddNode>,
) -> Response {
    if !state.reader_nodes {
        return refused(&state, &session);
    }
    if form.url.len() > MAX_URL_BYTES {
        let flash = Flash::error(format!(
            "That node address is {} bytes long; at most {MAX_URL_BYTES} are taken.",
            form.url.len()
        ));
        return back_home(&flash, Vec::new());
    }
    let url = match NodeUrl::parse(&form.url) {
        Ok(url) => url,
        Err(reason) => {
            return back_home(&Flash::error(format!("Not added: {reason}.")), Vec::new());
        }
    };
    let known = state.node_urls(&session);
    if let Some(index) = known.iter().position(|known| known == url.as_str()) {
        let flash = Flash::info(format!("{url} is in the list already: reading from it."));
        return back_home(&flash, vec![chosen_node_cookie(index)]);
    }
    if session.added.len() >= MAX_READER_NODES {
        let flash = Flash::error(format!(
            "Not added: at most {MAX_READER_NODES} nodes can be added; forget the added ones first."
        ));
        return back_home(&flash, Vec::new());
    }
    if let Err(error) = state.nodes.reader_node(url.clone()).status().await {
        let flash = Flash::error(format!(
            "Not added: {url} did not answer as a chainpost node. {}",
            banner(&error)
        ));
        return back_home(&flash, Vec::new());
    }
    let mut added = session.added.clone();
    added.push(url.clone());
    let flash = Flash::success(format!("Added {url}: this page now reads from it."));
    // The new node is the last of the list.
    let cookies = vec![reader_nodes_cookie(&added), chosen_node_cookie(known.len())];
    back_home(&flash, cookies)
}

pub(crate) async fn forget_nodes(State(state): State<AppState>, session: Session) -> Response {
    if !state.reader_nodes {
        return refused(&state, &session);
    }
    let flash = Flash::info("The nodes you added are forgotten: reading from the first node.");
    back_home(
        &flash,
        vec![reader_nodes_cookie(&[]), chosen_node_cookie(0)],
    )
}
