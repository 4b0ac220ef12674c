//! `POST /resync`: asks the node to adopt the best chain among its peers (the node's
//! `GET /nodes/resolve`, the tutorial's consensus) and tells the outcome: whether the
//! node moved to another chain, already had the best one, has no peers to ask, or does
//! not offer resolving at all.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};

use crate::node_client::NodeError;
use crate::routes::state::AppState;
use crate::routes::status::read_status;
use crate::session::{Flash, Session};
use crate::views::{StatusView, banner};
use chainpost_wire::lenient::Resolution;

pub(crate) async fn resync(State(state): State<AppState>, session: Session) -> Response {
    let node = &state.node(&session);
    let before = read_status(node).await.ok();
    let flash = match node.resolve().await {
        Ok(resolution) => {
            let after = read_status(node).await.ok();
            resolved(&resolution, before.as_ref(), after.as_ref())
        }
        Err(NodeError::EndpointMissing { .. }) => Flash::info(
            "Resync is not available on this node yet: it does not offer /nodes/resolve.",
        ),
        Err(NodeError::Rejected { message, .. }) => {
            Flash::error(format!("The node could not resync: {message}"))
        }
        Err(error) => {
            tracing::warn!(node = %node.base(), %error, "resync request failed");
            Flash::error(format!("Resync was not requested. {}", banner(&error)))
        }
    };
    (
        AppendHeaders([(SET_COOKIE, flash.set_cookie())]),
        Redirect::to("/"),
    )
        .into_response()
}

/// The outcome in words, from the node's report where it gave one, else from comparing
/// its status before and after.
fn resolved(
    resolution: &Resolution,
    before: Option<&StatusView>,
    after: Option<&StatusView>,
) -> Flash {
    let height = resolution
        .height
        .or(after.map(|status| status.height))
        .map_or_else(String::new, |height| format!(" (block #{height})"));
    let moved = resolution.replaced.or_else(|| match (before, after) {
        (Some(before), Some(after)) => Some(before.tip != after.tip),
        _ => None,
    });
    match (moved, resolution.peers_consulted) {
        (Some(true), _) => {
            let added = match resolution.blocks_added {
                Some(1) => " It took 1 block from them.".to_owned(),
                Some(blocks) => format!(" It took {blocks} blocks from them."),
                None => String::new(),
            };
            Flash::success(format!(
                "Resynced: the node switched to a better chain from its peers{height}.{added}"
            ))
        }
        (Some(false), Some(0)) => Flash::info(format!(
            "Nothing to resync with: this node has no peers yet, so it keeps its chain{height}."
        )),
        (Some(false), Some(1)) => Flash::info(format!(
            "Resynced with 1 peer: the node already had the best chain{height}."
        )),
        (Some(false), Some(peers)) => Flash::info(format!(
            "Resynced with {peers} peers: the node already had the best chain{height}."
        )),
        (Some(false), None) => Flash::info(format!(
            "Resynced: the node already had the best chain among its peers{height}."
        )),
        (None, _) => Flash::success("Resync requested: the node asked its peers for their chains."),
    }
}
