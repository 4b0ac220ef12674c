//! The HTTP API: the tutorial's endpoints, unchanged for its clients, plus paging, lookups
//! and status.
//!
//! **Boundary:** handlers parse, call the [`Node`], and shape JSON; they hold no state and
//! make no decisions of their own. Errors become responses only in [`error`].

mod blocks;
mod chain;
pub mod error;
mod mining;
mod transactions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use tower_http::trace::TraceLayer;

use crate::node::Node;

/// Largest request body accepted: a full block with room to spare.
pub const MAX_BODY_BYTES: usize = 4 << 20;

/// Shared state of every handler.
pub type AppState = Arc<Node>;

/// The node's HTTP API.
pub fn router(node: AppState) -> Router {
    Router::new()
        .route("/new_transaction", post(transactions::new_transaction))
        .route("/pending_tx", get(transactions::pending))
        .route("/transactions/{id}", get(transactions::by_id))
        .route("/chain", get(chain::chain))
        .route("/blocks/{hash}", get(chain::block_by_hash))
        .route("/tree", get(chain::tree))
        .route("/status", get(chain::status))
        .route("/mine", get(mining::mine))
        .route("/add_block", post(blocks::add_block))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TraceLayer::new_for_http())
        .with_state(node)
}

async fn not_found() -> Response {
    error::error_response(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error::error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
