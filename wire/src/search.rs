//! `GET /search?q=`: full-text search over the best chain's posts, newest first.

use serde::{Deserialize, Serialize};

use crate::{BlockRef, TransactionStatus};

/// The query of `GET /search`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct SearchQuery {
    /// Words every post found has, in its text, its author's name or its handle (any
    /// case, accents folded; at most 8 words, 200 characters).
    pub q: Option<String>,
    /// The `next` of the previous page: only posts older than it.
    // Text: the node names a malformed cursor in its own words.
    pub before: Option<String>,
    /// Posts to list (default 20, at most 100).
    pub limit: Option<usize>,
}

/// The answer of `GET /search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResults {
    /// Confirmed posts having every word, newest first.
    pub posts: Vec<TransactionStatus>,
    /// The cursor of the next page (`before`); `null` on the last.
    pub next: Option<String>,
    /// The best-chain block the search index had reached: posts in blocks above it are
    /// not found yet (the index follows the chain a moment behind).
    pub indexed: BlockRef,
}
