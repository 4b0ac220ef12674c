//! `POST /nodes`: a reader adds a node to the list the page reads from, and reads from it
//! at once; `POST /nodes/forget` drops the nodes the reader added. Only when readers may
//! add nodes (`--reader-nodes`): the web app then connects wherever a reader says.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
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

fn back_home(flash: &Flash) -> Response {
    (
        AppendHeaders([(SET_COOKIE, flash.set_cookie())]),
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
        return back_home(&Flash::error(format!(
            "That node address is {} bytes long; at most {MAX_URL_BYTES} are taken.",
            form.url.len()
        )));
    }
    let url = match NodeUrl::parse(&form.url) {
        Ok(url) => url,
        Err(reason) => return back_home(&Flash::error(format!("Not added: {reason}."))),
    };
    let layout = state.layout(&session, "", crate::views::Section::Posts);
    if let Some(index) = layout.index_of(url.as_str()) {
        let flash = Flash::info(format!("{url} is in the list already: reading from it."));
        return (
            AppendHeaders([
                (SET_COOKIE, chosen_node_cookie(index)),
                (SET_COOKIE, flash.set_cookie()),
            ]),
            Redirect::to("/"),
        )
            .into_response();
    }
    if session.added.len() >= MAX_READER_NODES {
        return back_home(&Flash::error(format!(
            "Not added: at most {MAX_READER_NODES} nodes can be added; forget the added ones first."
        )));
    }
    if let Err(error) = state.nodes.reader_node(url.clone()).status().await {
        return back_home(&Flash::error(format!(
            "Not added: {url} did not answer as a chainpost node. {}",
            banner(&error)
        )));
    }
    let mut added = session.added.clone();
    added.push(url.clone());
    let index = state.nodes.len() + added.len() - 1;
    let flash = Flash::success(format!("Added {url}: this page now reads from it."));
    (
        AppendHeaders([
            (SET_COOKIE, reader_nodes_cookie(&added)),
            (SET_COOKIE, chosen_node_cookie(index)),
            (SET_COOKIE, flash.set_cookie()),
        ]),
        Redirect::to("/"),
    )
        .into_response()
}

pub(crate) async fn forget_nodes(State(state): State<AppState>, session: Session) -> Response {
    if !state.reader_nodes {
        return refused(&state, &session);
    }
    let flash = Flash::info("The nodes you added are forgotten: reading from the first node.");
    (
        AppendHeaders([
            (SET_COOKIE, reader_nodes_cookie(&[])),
            (SET_COOKIE, chosen_node_cookie(0)),
            (SET_COOKIE, flash.set_cookie()),
        ]),
        Redirect::to("/"),
    )
        .into_response()
}
