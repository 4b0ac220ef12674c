//! The HTTP API: the tutorial's endpoints, unchanged for its clients, plus paging, lookups
//! and status.
//!
//! **Boundary:** handlers parse, call the [`Node`], and shape JSON; they hold no state and
//! make no decisions of their own. Errors become responses only in `error`.

mod blocks;
mod chain;
mod chain_json;
mod docs;
pub(crate) mod error;
mod heavy;
mod mining;
mod peers;
mod profiles;
mod search;
mod transactions;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::FromRef;
use axum::http::HeaderMap;

use axum::extract::Request;
use axum::http::Method;
use axum::middleware::{self, Next};

use crate::node::{Node, NodeError, Origin};
use crate::p2p::Network;
use crate::peer_url::PeerUrl;
use crate::search::SearchIndex;
use crate::store::{Reader, StoreError};
use chainpost_edge::cross_site::{self, AllowedHosts};
use chainpost_wire::{NO_SUCH_ENDPOINT, PEER_HEADER};
use error::ApiError;
pub(crate) use heavy::HeavyReads;

/// Largest request body accepted. A block may hold 1 MiB of canonical bytes, and JSON can
/// spell each byte of a post in up to six (`\u0001`), so a maximal valid block needs room.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// Shared state of every handler: the node and its place in the network.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) node: Arc<Node>,
    /// Its peers, gossip and sync.
    pub(crate) network: Arc<Network>,
    /// The host names it answers to.
    pub(crate) allowed_hosts: Arc<AllowedHosts>,
    /// The limit on large answers encoded at once.
    pub(crate) heavy_reads: HeavyReads,
    /// Full-text search over the best chain's posts.
    pub(crate) search: Arc<SearchIndex>,
}

impl FromRef<AppState> for Arc<SearchIndex> {
    fn from_ref(state: &AppState) -> Self {
        state.search.clone()
    }
}

impl FromRef<AppState> for HeavyReads {
    fn from_ref(state: &AppState) -> Self {
        state.heavy_reads.clone()
    }
}

impl FromRef<AppState> for Arc<Node> {
    fn from_ref(state: &AppState) -> Self {
        state.node.clone()
    }
}

impl FromRef<AppState> for Arc<Network> {
    fn from_ref(state: &AppState) -> Self {
        state.network.clone()
    }
}

/// Runs `read` on the store's committed chain, on a blocking thread: reads decode what they
/// return, every hash and id recomputed.
async fn read_store<T: Send + 'static>(
    node: &Node,
    read: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let reader = node.store().reader();
    let read = tokio::task::spawn_blocking(move || read(&reader))
        .await
        .map_err(NodeError::from)?;
    Ok(read.map_err(NodeError::Storage)?)
}

/// The peer a request says it comes from (set by chainpost nodes when they gossip); a
/// header that names no peer address is no origin.
fn origin(headers: &HeaderMap) -> Origin {
    headers
        .get(PEER_HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| PeerUrl::parse(text).ok())
}

/// The node's HTTP API, with its OpenAPI description at `/openapi.json` and `/docs`.
pub(crate) fn router(state: AppState) -> Router {
    let (router, description) = documented_routes().split_for_parts();
    let description = Arc::new(description);
    router
        .route(
            "/openapi.json",
            get({
                let description = description.clone();
                move || docs::openapi_json(description)
            }),
        )
        .route("/docs", get(move || docs::page(description)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            state.allowed_hosts.clone(),
            refuse_browser_attacks,
        ))
        // Failures that matter are logged where they happen (`error.rs`), with their cause.
        .layer(TraceLayer::new_for_http().on_failure(DefaultOnFailure::new().level(Level::DEBUG)))
        .with_state(state)
}

/// Every endpoint, each registered together with its OpenAPI description, so the
/// description cannot miss a route.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(transactions::new_transaction))
        .routes(routes!(transactions::pending))
        .routes(routes!(transactions::by_id))
        .routes(routes!(transactions::posts))
        .routes(routes!(transactions::thread))
        .routes(routes!(profiles::profiles))
        .routes(routes!(profiles::profile_of_key))
        .routes(routes!(profiles::handle_owner))
        .routes(routes!(search::search))
        .routes(routes!(chain::chain))
        .routes(routes!(chain::block_by_hash))
        .routes(routes!(chain::tree))
        .routes(routes!(chain::status))
        .routes(routes!(mining::mine))
        .routes(routes!(blocks::add_block))
        .routes(routes!(peers::register_node))
        .routes(routes!(peers::register_with))
        .routes(routes!(peers::resolve))
        .routes(routes!(peers::list))
        .routes(routes!(metrics))
}

/// Metrics in the OpenMetrics text format, for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text", body = String,
        content_type = "application/openmetrics-text")))]
async fn metrics(State(state): State<AppState>) -> Response {
    let node = &state.node;
    let metrics = node.metrics();
    let summary = node.summary();
    metrics
        .height
        .set(i64::try_from(summary.height).unwrap_or(i64::MAX));
    metrics.cumulative_work.set(summary.cumulative_work as f64);
    metrics
        .mempool_size
        .set(i64::try_from(summary.mempool_size).unwrap_or(i64::MAX));
    metrics
        .block_bodies_held_bytes
        .set(i64::try_from(summary.held_body_bytes).unwrap_or(i64::MAX));
    metrics
        .peers
        .set(i64::try_from(state.network.peers().len()).unwrap_or(i64::MAX));
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
        .into_response()
}

/// Refuses requests to a host name this node does not answer to (DNS rebinding), and
/// browser requests from other origins to any endpoint that changes something: every
/// POST, and the tutorial's `GET /mine` and `GET /nodes/resolve`. Reads stay open to
/// every origin; they are public anyway.
async fn refuse_browser_attacks(
    State(allowed_hosts): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(refused) = allowed_hosts.check(request.headers()) {
        return error::error_response(StatusCode::FORBIDDEN, refused.to_string());
    }
    let changes_something = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || matches!(request.uri().path(), "/mine" | "/nodes/resolve");
    if changes_something && let Err(refused) = cross_site::check_same_origin(request.headers()) {
        return error::error_response(StatusCode::FORBIDDEN, refused.to_string());
    }
    next.run(request).await
}

async fn not_found() -> Response {
    error::error_response(StatusCode::NOT_FOUND, NO_SUCH_ENDPOINT)
}

async fn method_not_allowed() -> Response {
    error::error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}
