//! `GET /search?q=`: the posts of the best chain having every word, newest first, from the
//! search index; each hit is read back from the store and checked to be where the index
//! saw it, so a search never shows a post the chain no longer has there.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use chainpost_wire::{BlockRef, ErrorBody, SearchQuery, SearchResults};

use super::HeavyReads;
use super::error::{ApiError, QueryParams};
use super::transactions::{confirmed_status, cursor, page_limit, place};
use crate::node::Node;
use crate::search::{SearchError, SearchIndex};

/// Search the best chain's posts by their words.
///
/// A post is found by the words of its text, its author's name and (a profile) its
/// handle, in any case and with accents folded; every word must be there. Posts come
/// newest first; page on with `before` set to the answer's `next`. The index follows the
/// chain a moment behind: `indexed` says how far it had got.
#[utoipa::path(get, path = "/search", tag = "posts", params(SearchQuery),
    responses((status = 200, description = "Posts having every word, newest first", body = SearchResults),
        (status = 400, description = "No words, too many, too long, or a malformed cursor or limit", body = ErrorBody),
        (status = 503, description = "The index is still opening (just after a start), or storage failed", body = ErrorBody)))]
pub(crate) async fn search(
    State(node): State<Arc<Node>>,
    State(index): State<Arc<SearchIndex>>,
    State(heavy): State<HeavyReads>,
    QueryParams(query): QueryParams<SearchQuery>,
) -> Result<Json<SearchResults>, ApiError> {
    let limit = page_limit(query.limit)?;
    let before = place("before", query.before.as_deref())?;
    let words = query.q.unwrap_or_default();
    // A word many posts have costs time in proportion to an index segment: searches run a
    // few at a time, as large reads do, so they cannot take every core from posting. The
    // hits are read back from the store in the same blocking task.
    let reader = node.store().reader();
    let (hits, posts) = heavy
        .run(move || {
            let hits = index.search(&words, before, limit)?;
            let posts = reader.posts_at(&hits.places)?;
            Ok::<_, SearchError>((hits, posts))
        })
        .await??;
    Ok(Json(SearchResults {
        posts: posts.iter().map(confirmed_status).collect(),
        next: hits.next.map(cursor),
        indexed: BlockRef {
            index: hits.indexed.height,
            hash: hits.indexed.hash,
        },
    }))
}
