//! `GET /search?q=`: the one search box. What it is given decides where it goes, as
//! mempool.space's box does: a height goes to that block, 64 hex digits to the block, the
//! post or the key they name (asked of the node in that order), `@handle` (or
//! `from:@handle`) to the page of the key that owns it, `from:NAME` to a name's posts.
//! Anything else is words: the node's full-text search lists the confirmed posts having
//! them all, newest first, a page at a time (`&before=CURSOR`), and offers the name's page.
//!
//! Only typed values (a height, a `BlockHash`, a `TxId`, a percent-encoded name) go into a
//! node's URL or a `Location`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use chainpost_chain::{BlockHash, Handle, TxId};

use chainpost_wire::PostCursor;
use chrono::Utc;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::names::Names;
use crate::node_client::NodeError;
use crate::post::Author;
use crate::routes::state::{AppState, check_confirmed, cursor_param, query_param};
use crate::routes::status::read_status;
use crate::session::Session;
use crate::views::{Page, SearchPage, Section, author_href, confirmed_posts};

/// Longest query read: far above any hash, id, key or name, and the node's own bound.
const MAX_QUERY_CHARS: usize = 200;
/// Posts on a page of results.
const SEARCH_PAGE: usize = 20;

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
    let Ok(before) = cursor_param(query.as_deref(), "before") else {
        return state.error_page(
            &session,
            StatusCode::NOT_FOUND,
            "Not a place in these results",
            "This page of results is named by a cursor this site did not give. Search again \
             from the first page.",
        );
    };
    match destination(&state, &session, asked).await {
        Ok(Some(location)) => Redirect::to(&location).into_response(),
        Ok(None) => results(&state, &session, asked, before).await,
        Err(error) => state.unavailable_page(
            &session,
            &error,
            "Searching asks the node what a hash names, and it is not answering right now.",
        ),
    }
}

/// The posts having the words `asked`, from `before` on.
async fn results(
    state: &AppState,
    session: &Session,
    asked: &str,
    before: Option<PostCursor>,
) -> Response {
    let mut page = SearchPage {
        layout: state.layout(session, "Search", Section::Posts),
        query: asked.to_owned(),
        name_page: (!asked.is_empty()).then(|| author_href(&Author::Name(asked.to_owned()))),
        posts: Vec::new(),
        problem: None,
        more: None,
        later_page: before.is_some(),
        indexed_below: None,
    };
    if asked.is_empty() {
        return Page(page).into_response();
    }
    let node = &state.node(session);
    let (found, status) = tokio::join!(node.search(asked, before, SEARCH_PAGE), read_status(node));
    let found = match found {
        Ok(found) => found,
        Err(NodeError::Rejected { status, message }) if status == StatusCode::BAD_REQUEST => {
            page.problem = Some(format!("The node cannot search for that: {message}."));
            return (StatusCode::BAD_REQUEST, Page(page)).into_response();
        }
        Err(NodeError::EndpointMissing { .. }) => {
            page.problem = Some(format!(
                "The node at {} cannot search posts by their words: it is not a chainpost \
                 node.",
                node.base()
            ));
            return Page(page).into_response();
        }
        Err(error) => {
            return state.unavailable_page(
                session,
                &error,
                "Searching asks the node, which is not answering right now.",
            );
        }
    };
    let more = found.next_cursor().map(|cursor| {
        format!(
            "/search?q={}&before={cursor}",
            utf8_percent_encode(asked, NON_ALPHANUMERIC)
        )
    });
    let indexed = found.indexed.as_ref().map(|block| block.index);
    let Some(posts) = check_confirmed(found.posts).await else {
        return state.error_page(
            session,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The results could not be shown. The error is in the web app's log.",
        );
    };
    let names = Names::of(node, posts.iter().map(|(_, post)| post)).await;
    let status = status.ok();
    let tip = status.as_ref().map_or(0, |status| status.height);
    page.indexed_below = indexed.filter(|&indexed| indexed < tip);
    page.posts = confirmed_posts(&posts, tip, &names, Utc::now());
    page.more = more;
    if let Some(status) = &status {
        page.layout.live = status.live_fingerprint();
    }
    Page(page).into_response()
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
    let node = &state.node(session);
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
