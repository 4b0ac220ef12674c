//! A typed HTTP client for the other nodes' APIs, with short timeouts and capped bodies.
//!
//! **Boundary:** speaks JSON to peers and hands back wire types; it trusts nothing it
//! receives (every block still goes through full validation in the node).

use std::time::Duration;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::p2p::peers::PeerUrl;
use crate::wire::{BlockJson, TransactionJson};

/// Header naming the sending node, so a receiver can ask it first for missing ancestors.
pub const PEER_HEADER: &str = "x-chainpost-peer";

/// Largest response accepted from a peer: a full page of full blocks.
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// Why talking to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The peer could not be reached or did not answer in time.
    #[error("peer {peer} is unreachable: {reason}")]
    Unreachable {
        /// The peer.
        peer: PeerUrl,
        /// What went wrong.
        reason: String,
    },
    /// The peer answered with an error status.
    #[error("peer {peer} answered {status}: {body}")]
    Status {
        /// The peer.
        peer: PeerUrl,
        /// The status it answered.
        status: StatusCode,
        /// The start of its answer.
        body: String,
    },
    /// The peer's answer is not what its API promises.
    #[error("peer {peer} sent a malformed answer: {reason}")]
    Malformed {
        /// The peer.
        peer: PeerUrl,
        /// What is wrong with it.
        reason: String,
    },
}

impl ClientError {
    /// Whether the failure says the peer is down (rather than that it disagrees).
    pub fn is_unreachable(&self) -> bool {
        // 503 is a node saying "not now" (mempool full, shutting down): it is up.
        matches!(self, ClientError::Unreachable { .. })
            || matches!(self, ClientError::Status { status, .. }
                if *status == StatusCode::BAD_GATEWAY || *status == StatusCode::GATEWAY_TIMEOUT)
    }
}

/// A peer's view of its chain, from its `/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct PeerStatus {
    /// Height of its best tip.
    pub height: u64,
    /// Hash of its best tip.
    pub tip: String,
    /// Cumulative work of its best chain.
    pub cumulative_work: u128,
}

/// One page of a peer's `/chain`.
#[derive(Debug, Clone, Deserialize)]
pub struct ChainPage {
    /// Length of its whole best chain.
    pub length: u64,
    /// The blocks of the page.
    pub chain: Vec<BlockJson>,
    /// Its peers.
    #[serde(default)]
    pub peers: Vec<String>,
}

/// HTTP client for other nodes.
#[derive(Debug, Clone)]
pub struct PeerClient {
    http: reqwest::Client,
    own: PeerUrl,
}

impl PeerClient {
    /// A client that introduces itself as `own`.
    pub fn new(own: PeerUrl) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(20))
            .pool_idle_timeout(Duration::from_secs(30))
            // A peer is an address we chose; following its redirects would let whoever
            // names a peer send this node's requests anywhere it can reach.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        PeerClient { http, own }
    }

    /// `GET /status`.
    pub async fn status(&self, peer: &PeerUrl) -> Result<PeerStatus, ClientError> {
        self.get_json(peer, &peer.join("/status")).await
    }

    /// `GET /chain?from=..&limit=..`.
    pub async fn chain_page(
        &self,
        peer: &PeerUrl,
        from: u64,
        limit: usize,
    ) -> Result<ChainPage, ClientError> {
        self.get_json(
            peer,
            &peer.join(&format!("/chain?from={from}&limit={limit}")),
        )
        .await
    }

    /// `POST /register_node` with this node's address; returns the peer's peers.
    pub async fn register(&self, peer: &PeerUrl) -> Result<Vec<String>, ClientError> {
        let request = self
            .http
            .post(peer.join("/register_node?include_chain=false"))
            .json(&serde_json::json!({ "node_address": self.own.as_str() }));
        let page: ChainPage = self.send_json(peer, request).await?;
        Ok(page.peers)
    }

    /// `POST /add_block`.
    pub async fn announce_block(
        &self,
        peer: &PeerUrl,
        block: &BlockJson,
    ) -> Result<(), ClientError> {
        let request = self.http.post(peer.join("/add_block")).json(block);
        self.send_accepting(peer, request, &[]).await
    }

    /// `POST /new_transaction` with every field, so the peer computes the same id.
    pub async fn forward_transaction(
        &self,
        peer: &PeerUrl,
        tx: &TransactionJson,
    ) -> Result<(), ClientError> {
        let request = self.http.post(peer.join("/new_transaction")).json(tx);
        // 409: the peer has it already, which is what we wanted.
        self.send_accepting(peer, request, &[StatusCode::CONFLICT])
            .await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        peer: &PeerUrl,
        url: &str,
    ) -> Result<T, ClientError> {
        self.send_json(peer, self.http.get(url)).await
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        peer: &PeerUrl,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = self.send(peer, request).await?;
        let status = response.status();
        let body = read_capped(peer, response).await?;
        if !status.is_success() {
            return Err(status_error(peer, status, &body));
        }
        serde_json::from_slice(&body).map_err(|error| ClientError::Malformed {
            peer: peer.clone(),
            reason: error.to_string(),
        })
    }

    async fn send_accepting(
        &self,
        peer: &PeerUrl,
        request: reqwest::RequestBuilder,
        also_fine: &[StatusCode],
    ) -> Result<(), ClientError> {
        let response = self.send(peer, request).await?;
        let status = response.status();
        if status.is_success() || also_fine.contains(&status) {
            return Ok(());
        }
        let body = read_capped(peer, response).await.unwrap_or_default();
        Err(status_error(peer, status, &body))
    }

    async fn send(
        &self,
        peer: &PeerUrl,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ClientError> {
        request
            .header(PEER_HEADER, self.own.as_str())
            .send()
            .await
            .map_err(|error| ClientError::Unreachable {
                peer: peer.clone(),
                reason: error.to_string(),
            })
    }
}

fn status_error(peer: &PeerUrl, status: StatusCode, body: &[u8]) -> ClientError {
    ClientError::Status {
        peer: peer.clone(),
        status,
        body: String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
    }
}

/// Reads a body, refusing to buffer more than `MAX_RESPONSE_BYTES` of it.
async fn read_capped(
    peer: &PeerUrl,
    mut response: reqwest::Response,
) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(ClientError::Malformed {
                        peer: peer.clone(),
                        reason: format!("answer larger than {MAX_RESPONSE_BYTES} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => {
                return Err(ClientError::Unreachable {
                    peer: peer.clone(),
                    reason: error.to_string(),
                });
            }
        }
    }
}
