//! The web app's router, `app`: one file per page or action. What they share is in
//! `state` (`AppState`, the layout, the error page) and `status` (a node's status and live
//! fingerprint); the home page that `GET /` and a refused `POST /submit` both draw is
//! `home_page`, and the thread page that `GET /posts/{id}` and a refused reply both draw
//! is `thread_page`; the live feeds behind `/events` are `live`. Children import those, never
//! this module or a sibling route.
//!
//! **Boundary:** handlers ask the chosen node through [`crate::node_client`], shape the
//! answer with [`crate::views`] and never fail with a 500 because a node is down, slow or
//! odd: those become a banner on a working page. Only a template bug is a 500.

mod author;
mod events;
mod explorer;
mod home;
mod home_page;
pub(crate) mod live;
mod mine;
mod nodes;
mod profile;
mod resync;
mod search;
pub(crate) mod state;
mod status;
mod submit;
mod thread;
mod thread_page;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use chainpost_edge::cross_site::check_same_origin;

use crate::session::{Session, remember_node};
use state::AppState;

/// The web app: pages, actions, live updates and static files from `static_dir`.
pub(crate) fn app(state: AppState, static_dir: &std::path::Path) -> Router {
    let pages = Router::new()
        .route("/", get(home::home))
        .route("/submit", post(submit::submit))
        .route("/posts/{id}", get(thread::thread))
        .route("/authors", get(author::author_by_name))
        .route("/authors/{author}", get(author::author))
        .route("/search", get(search::search))
        .route("/profile", get(profile::profile))
        .route("/mine", post(mine::mine))
        .route("/nodes", post(nodes::add_node))
        .route("/nodes/forget", post(nodes::forget_nodes))
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
        return state.error_page(
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
    state.error_page(
        &session,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address. The posts are on the home page; blocks are in the explorer.",
    )
}
