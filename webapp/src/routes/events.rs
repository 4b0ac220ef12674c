//! `GET /events`: server-sent events that tell an open page when the chosen node changed,
//! from the node's shared live feed ([`crate::routes::live`]). A page refused a stream
//! (429 from an address with too many, 503 when all are taken) works without live
//! updates. Streams end when the app shuts down, so graceful shutdown never waits on them.

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::StreamExt;

use crate::routes::live::Refused;
use crate::routes::state::AppState;
use crate::session::Session;

/// The live stream of the session's node.
pub(crate) async fn events(
    State(state): State<AppState>,
    ConnectInfo(reader): ConnectInfo<SocketAddr>,
    session: Session,
) -> Response {
    let address = chainpost_edge::serve::address_group(reader);
    let fingerprints = match state.live.subscribe(session.node, address) {
        Ok(fingerprints) => fingerprints,
        Err(Refused::TooManyFromAddress) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "too many live pages are open from this address; this page works without live updates",
            )
                .into_response();
        }
        Err(Refused::TooMany) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "too many live pages are open; this page works without live updates",
            )
                .into_response();
        }
        Err(Refused::NoSuchNode) => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut shutdown = state.shutdown.clone();
    let stream = fingerprints
        .map(|fingerprint| Ok::<_, Infallible>(Event::default().event("status").data(fingerprint)))
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
