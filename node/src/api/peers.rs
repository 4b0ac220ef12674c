//! Peers and consensus: `POST /register_node`, `POST /register_with`, `GET /nodes/resolve`
//! and `GET /peers`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use std::net::SocketAddr;

use super::AppState;
use super::chain_json::{ChainBlocks, ChainDocument};
use super::error::{ApiError, JsonBody, QueryParams};
use crate::node::Node;
use crate::p2p::{HandshakeError, Network, NetworkError, Source};
use chainpost_edge::serve::address_group;
use chainpost_wire::{ChainPage, ErrorBody, NodeAddress, REGISTERED, RegisterQuery, Resolved};

/// Add the caller as a peer; answers with the chain and the peers, as the tutorial.
#[utoipa::path(post, path = "/register_node", tag = "network", params(RegisterQuery), request_body = NodeAddress,
    responses((status = 200, description = "The chain (unless include_chain=false) and peers", body = ChainPage), (status = 400, description = "Malformed or invalid input", body = ErrorBody)))]
pub(crate) async fn register_node(
    State(state): State<AppState>,
    ConnectInfo(caller): ConnectInfo<SocketAddr>,
    QueryParams(query): QueryParams<RegisterQuery>,
    JsonBody(body): JsonBody<NodeAddress>,
) -> Result<ChainDocument, ApiError> {
    // A full peer set still shares its chain and peers, so newcomers can join others.
    let source = Source::Stranger(address_group(caller));
    if let Err(error) = state.network.add_peer(&body.node_address, source).await {
        return Err(ApiError::BadRequest(error.to_string()));
    }
    state.node.store().await_queued().await;
    let (length, blocks) = ChainBlocks::whole_chain(
        state.node.store().reader(),
        &state.heavy_reads,
        query.include_chain,
    )
    .await?;
    Ok(ChainDocument {
        length,
        blocks,
        peers: state
            .network
            .peers()
            .iter()
            .map(ToString::to_string)
            .collect(),
        heavy: state.heavy_reads.clone(),
    })
}

/// Register this node with another, learn its peers and adopt its chain if heavier.
#[utoipa::path(post, path = "/register_with", tag = "network", request_body = NodeAddress,
    responses((status = 200, description = "Registration successful", body = String, content_type = "text/plain"), (status = 400, description = "Malformed or invalid input", body = ErrorBody),
        (status = 502, description = "The other node is unreachable or faulty", body = ErrorBody),
        (status = 503, description = "Too many registrations in progress", body = ErrorBody)))]
pub(crate) async fn register_with(
    State(network): State<Arc<Network>>,
    JsonBody(body): JsonBody<NodeAddress>,
) -> Result<&'static str, ApiError> {
    match network.register_with(&body.node_address).await {
        Ok(_) => Ok(REGISTERED),
        Err(
            error @ (NetworkError::Peer(_) | NetworkError::Handshake(HandshakeError::Itself(_))),
        ) => Err(ApiError::BadRequest(error.to_string())),
        Err(NetworkError::Busy) => Err(ApiError::Busy(NetworkError::Busy.to_string())),
        Err(error) => Err(ApiError::BadGateway(error.to_string())),
    }
}

/// Consensus now: ask every peer and adopt the heaviest valid chain.
#[utoipa::path(get, path = "/nodes/resolve", tag = "network",
    responses((status = 200, description = "What consensus did", body = Resolved)))]
pub(crate) async fn resolve(
    State(node): State<Arc<Node>>,
    State(network): State<Arc<Network>>,
) -> (StatusCode, Json<Resolved>) {
    let report = network.resolve().await;
    let (height, tip) = node.with_chain(|chain| {
        let tip = chain.tree().tip();
        (tip.height(), tip.hash())
    });
    (
        StatusCode::OK,
        Json(Resolved::new(
            report.replaced,
            report.peers_consulted,
            report.blocks_added,
            height,
            tip,
        )),
    )
}

/// The peers of this node.
#[utoipa::path(get, path = "/peers", tag = "network",
    responses((status = 200, description = "Peer URLs", body = Vec<String>)))]
pub(crate) async fn list(State(network): State<Arc<Network>>) -> Json<Vec<String>> {
    Json(network.peers().iter().map(ToString::to_string).collect())
}
