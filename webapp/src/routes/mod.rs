//! The web app's router: one file per page or action, sharing [`WebState`].
//!
//! **Boundary:** handlers ask the chosen node through [`NodeClient`], shape the answer
//! with [`crate::views`] and never fail with a 500 because a node is down, slow or odd:
//! those become a banner on a working page. Only a template bug is a 500.

pub mod events;
mod explorer;
mod home;
mod mine;
mod resync;
mod submit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use chainpost_edge::cross_site::{AllowedHosts, check_same_origin};

use crate::node_client::{NodeClient, NodeError};
use crate::session::{Session, remember_node};
use crate::views::{ErrorPage, Layout, Page, Section};

/// Shared state of every handler.
pub type AppState = Arc<WebState>;

/// The configured nodes; never empty.
#[derive(Debug, Clone)]
pub struct Nodes(Vec<NodeClient>);

impl Nodes {
    /// The nodes, or `None` when there are none.
    pub fn new(nodes: Vec<NodeClient>) -> Option<Self> {
        (!nodes.is_empty()).then_some(Nodes(nodes))
    }

    /// Node `index`, or the first when there is no such node.
    pub fn get(&self, index: usize) -> &NodeClient {
        // `Nodes::new` refuses an empty list, so index 0 exists.
        self.0.get(index).unwrap_or(&self.0[0])
    }

    /// How many nodes there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false; for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Their base URLs, in order.
    pub fn urls(&self) -> Vec<String> {
        self.0.iter().map(|node| node.base().to_string()).collect()
    }
}

/// What handlers share.
#[derive(Debug)]
pub struct WebState {
    /// The nodes the reader can switch between.
    pub nodes: Nodes,
    /// How often live pages ask the node for changes.
    pub poll_interval: Duration,
    /// Turns true when the app is shutting down, so endless streams end.
    pub shutdown: watch::Receiver<bool>,
    /// Each node's latest status fingerprint, polled once for every live page.
    pub live: events::LiveFeeds,
    /// The host names the web app answers to.
    pub allowed_hosts: AllowedHosts,
}

impl WebState {
    /// The node this session reads from and posts to.
    pub fn node(&self, session: &Session) -> &NodeClient {
        self.nodes.get(session.node)
    }

    /// The layout of a page titled `title` for this session.
    pub fn layout(&self, session: &Session, title: &str, section: Section) -> Layout {
        Layout::new(title, section, &self.nodes.urls(), session.node)
    }
}

/// The web app: pages, actions, live updates and static files from `static_dir`.
pub fn app(state: AppState, static_dir: &std::path::Path) -> Router {
    let pages = Router::new()
        .route("/", get(home::home))
        .route("/submit", post(submit::submit))
        .route("/mine", post(mine::mine))
        .route("/resync", post(resync::resync))
        .route("/events", get(events::events))
        .route("/tree", get(explorer::tree))
        .route("/blocks/{hash}", get(explorer::block))
        .route("/height/{index}", get(explorer::block_at_height))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), remember_node))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            refuse_cross_site_actions,
        ))
        // Pages change with the chain: never show a stale copy from the cache.
        .layer(SetResponseHeaderLayer::if_not_present(
            CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .merge(pages)
        .nest_service("/static", ServeDir::new(static_dir))
        // No inline script or style anywhere: even markup that slipped past escaping
        // could not run.
        .layer(SetResponseHeaderLayer::overriding(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Refuses requests to a host name the web app does not answer to (DNS rebinding), and
/// form posts sent by pages of other origins (posting, mining and resyncing on a visitor's
/// behalf); the session cookies are `SameSite=Lax` as well.
async fn refuse_cross_site_actions(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: Session,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    if let Err(refused) = state.allowed_hosts.check(request.headers()) {
        tracing::info!(%refused, "request for another host name refused");
        return (StatusCode::FORBIDDEN, refused.to_string()).into_response();
    }
    let reads = matches!(
        *request.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !reads && let Err(refused) = check_same_origin(request.headers()) {
        tracing::info!(%refused, path = %request.uri().path(), "cross-site action refused");
        return error_page(
            &state,
            &session,
            StatusCode::FORBIDDEN,
            "Not from this page",
            "This action came from a page of another site, so it was not carried out. \
             Use the forms on this site's own pages.",
        );
    }
    next.run(request).await
}

async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    session: Session,
) -> Response {
    error_page(
        &state,
        &session,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address. The posts are on the home page; blocks are in the explorer.",
    )
}

/// A page that explains a failure, with `status`.
fn error_page(
    state: &WebState,
    session: &Session,
    status: StatusCode,
    heading: &str,
    message: &str,
) -> Response {
    let page = ErrorPage {
        layout: state.layout(session, heading, Section::Posts),
        heading: heading.to_owned(),
        message: message.to_owned(),
    };
    (status, Page(page)).into_response()
}

/// The banner for a node that could not be read, in the reader's terms.
fn banner(error: &NodeError) -> String {
    match error {
        NodeError::Unreachable { node, .. } => format!(
            "The node at {node} is not answering; it may be down. Nothing can be read or \
             posted until it is back. This page will update by itself."
        ),
        NodeError::Timeout { node, timeout } => format!(
            "The node at {node} is too slow: it did not answer within {:.1} s. It may be busy \
             or overloaded. This page will update by itself.",
            timeout.as_secs_f64()
        ),
        NodeError::BadResponse { .. } => {
            "The node answered something this web app cannot read. Is the address that of a \
             chainpost or tutorial node?"
                .to_owned()
        }
        NodeError::EndpointMissing { node, endpoint } => {
            format!("The node at {node} does not offer {endpoint}.")
        }
        NodeError::Rejected { message, .. } => format!("The node refused: {message}"),
    }
}
