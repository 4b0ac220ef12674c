//! `GET /search?q=`: the one search box. What it is given decides where it goes, as
//! mempool.space's box does: a height goes to that block, 64 hex digits to the block, the
//! post or the key they name (asked of the node in that order), `@handle` (or
//! `from:@handle`) to the page of the key that owns it, `from:NAME` to a name's posts.
//! Anything else is words, and full-text search is not built yet: the page says so
//! and offers the name's page.
//!
//! Only typed values (a height, a `BlockHash`, a `TxId`, a percent-encoded name) go into a
//! node's URL or a `Location`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use chainpost_chain::{BlockHash, Handle, TxId};

use crate::node_client::NodeError;
use crate::post::Author;
use crate::routes::state::{AppState, query_param};
use crate::session::Session;
use crate::views::{Page, SearchPage, Section, author_href};

/// Longest query read: far above any hash, id, key or name.
const MAX_QUERY_CHARS: usize = 200;

pub(crate) async fn search(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let asked = query_param(query.as_deref(), "q").unwrap_or_default();
    let asked = asked.trim();
    if asked.chars().count() > MAX_QUERY_CHARS {
        return state.error_page(
            &session,
            StatusCode::BAD_REQUEST,
            "Search too long",
            &format!("A search is at most {MAX_QUERY_CHARS} characters."),
        );
    }
    match destination(&state, &session, asked).await {
        Ok(Some(location)) => Redirect::to(&location).into_response(),
        Ok(None) => {
            let layout = state.layout(&session, "Search", Section::Posts);
            let name = (!asked.is_empty()).then(|| author_href(&Author::Name(asked.to_owned())));
            Page(SearchPage {
                layout,
                query: asked.to_owned(),
                name_page: name,
            })
            .into_response()
        }
        Err(error) => state.unavailable_page(
            &session,
            &error,
            "Searching asks the node what a hash names, and it is not answering right now.",
        ),
    }
}

/// Where `asked` leads, if it names something: `None` for words.
async fn destination(
    state: &AppState,
    session: &Session,
    asked: &str,
) -> Result<Option<String>, NodeError> {
    let from = asked.strip_prefix("from:").map(str::trim);
    if let Some(handle) = from.unwrap_or(asked).strip_prefix('@')
        && let Ok(handle) = Handle::parse(&handle.to_ascii_lowercase())
    {
        return Ok(Some(author_href(&Author::Handle(handle))));
    }
    if let Some(name) = from {
        return Ok((!name.is_empty()).then(|| author_href(&Author::Name(name.to_owned()))));
    }
    if !asked.is_empty() && asked.len() <= 20 && asked.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(asked
            .parse::<u64>()
            .ok()
            .map(|height| format!("/height/{height}")));
    }
    let lower = asked.to_ascii_lowercase();
    let (Ok(hash), Ok(id)) = (lower.parse::<BlockHash>(), lower.parse::<TxId>()) else {
        return Ok(None);
    };
    let node = state.node(session);
    match node.block(&hash).await {
        Ok(_) => return Ok(Some(format!("/blocks/{hash}"))),
        Err(error) if is_absent(&error) => {}
        Err(error) => return Err(error),
    }
    match node.post_status(&id).await {
        Ok(_) => return Ok(Some(format!("/posts/{id}"))),
        Err(error) if is_absent(&error) => {}
        Err(error) => return Err(error),
    }
    // Neither a block nor a post here: 64 hex digits are then read as a signing key.
    Ok(Some(author_href(&Author::parse(&lower))))
}

/// Whether the node answered that it has no such thing (or no way to look it up).
fn is_absent(error: &NodeError) -> bool {
    matches!(error, NodeError::EndpointMissing { .. })
        || matches!(error, NodeError::Rejected { status, .. } if *status == StatusCode::NOT_FOUND)
}
