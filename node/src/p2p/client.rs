//! A typed HTTP client for the other nodes' APIs, with short timeouts and capped bodies.
//!
//! **Boundary:** speaks JSON to peers and hands back wire types; it trusts nothing it
//! receives (every block still goes through full validation in the node).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use crate::p2p::peers::is_public;
use crate::peer_url::PeerUrl;
use chainpost_wire::lenient::PeerStatus;
use chainpost_wire::{
    BlockJson, ChainPage, ChainQuery, NodeAddress, PEER_HEADER, RegisterQuery, TransactionJson,
};

/// Longest a handshake may take, connecting included.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest `/status` answer read: a few hundred bytes are honest.
const STATUS_ANSWER_BYTES: usize = 64 << 10;
/// Largest `/register_node` answer read (peers only): room for far more peers than kept.
const REGISTER_ANSWER_BYTES: usize = 1 << 20;
/// Largest `/chain` page read: a page holds about 2 MiB of blocks, which JSON spells in at
/// most six bytes each only for control characters; honest pages stay far below.
const PAGE_ANSWER_BYTES: usize = 16 << 20;

/// Why talking to a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The peer could not be reached or did not answer in time.
    #[error("peer {peer} is unreachable: {reason}")]
    Unreachable { peer: PeerUrl, reason: String },
    /// The peer answered with an error status. Its body is never kept: an address that
    /// is not a chainpost node may be an internal service, and whoever named it must not
    /// read its answers through this node.
    #[error("peer {peer} answered HTTP {status}")]
    Status { peer: PeerUrl, status: StatusCode },
    /// The peer's answer is not what its API promises.
    #[error("peer {peer} sent a malformed answer: {reason}")]
    Malformed { peer: PeerUrl, reason: String },
}

impl ClientError {
    /// Whether the failure says the peer is down (rather than that it disagrees).
    pub(crate) fn is_unreachable(&self) -> bool {
        // 503 is a node saying "not now" (mempool full, shutting down): it is up.
        matches!(self, ClientError::Unreachable { .. })
            || matches!(self, ClientError::Status { status, .. }
                if *status == StatusCode::BAD_GATEWAY || *status == StatusCode::GATEWAY_TIMEOUT)
    }
}

/// HTTP client for other nodes.
#[derive(Debug, Clone)]
pub(crate) struct PeerClient {
    http: reqwest::Client,
    own: PeerUrl,
}

impl PeerClient {
    /// A client that introduces itself as `own`; with `public_only`, host names that
    /// resolve to private, loopback or link-local addresses are never connected to.
    pub(crate) fn new(own: PeerUrl, public_only: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(20))
            .pool_idle_timeout(Duration::from_secs(30))
            // A peer is an address we chose; following its redirects would let whoever
            // names a peer send this node's requests anywhere it can reach.
            .redirect(reqwest::redirect::Policy::none());
        if public_only {
            builder = builder.dns_resolver(Arc::new(PublicOnlyResolver));
        }
        PeerClient {
            http: builder.build().unwrap_or_default(),
            own,
        }
    }

    /// `GET /status`.
    pub(crate) async fn status(&self, peer: &PeerUrl) -> Result<PeerStatus, ClientError> {
        let request = self.http.get(peer.join("/status"));
        Ok(self.read_json(peer, request, STATUS_ANSWER_BYTES).await?.0)
    }

    /// `GET /status` with the handshake's short deadline: a stranger's address gets
    /// little of this node's time.
    pub(crate) async fn handshake_status(&self, peer: &PeerUrl) -> Result<PeerStatus, ClientError> {
        let request = self
            .http
            .get(peer.join("/status"))
            .timeout(HANDSHAKE_TIMEOUT);
        Ok(self.read_json(peer, request, STATUS_ANSWER_BYTES).await?.0)
    }

    /// `GET /chain?from=..&limit=..`, with the size of the answer in bytes.
    pub(crate) async fn chain_page(
        &self,
        peer: &PeerUrl,
        from: u64,
        limit: usize,
    ) -> Result<(ChainPage, usize), ClientError> {
        let query = ChainQuery {
            from: Some(from),
            limit: Some(limit),
        };
        let request = self.http.get(peer.join("/chain")).query(&query);
        self.read_json(peer, request, PAGE_ANSWER_BYTES).await
    }

    /// `POST /register_node` with this node's address; returns the peer's peers.
    pub(crate) async fn register(&self, peer: &PeerUrl) -> Result<Vec<String>, ClientError> {
        let request = self
            .http
            .post(peer.join("/register_node"))
            .query(&RegisterQuery {
                include_chain: false,
            })
            .json(&NodeAddress {
                node_address: self.own.as_str().to_owned(),
            });
        let (page, _): (ChainPage, _) =
            self.read_json(peer, request, REGISTER_ANSWER_BYTES).await?;
        Ok(page.peers)
    }

    /// `POST /add_block`.
    pub(crate) async fn announce_block(
        &self,
        peer: &PeerUrl,
        block: &BlockJson,
    ) -> Result<(), ClientError> {
        let request = self.http.post(peer.join("/add_block")).json(block);
        // 409: valid, but a side block the peer does not keep; its business.
        self.send_accepting(peer, request, &[StatusCode::CONFLICT])
            .await
    }

    /// `POST /new_transaction` with every field, so the peer computes the same id.
    pub(crate) async fn forward_transaction(
        &self,
        peer: &PeerUrl,
        tx: &TransactionJson,
    ) -> Result<(), ClientError> {
        let request = self.http.post(peer.join("/new_transaction")).json(tx);
        // 409: the peer has it already, which is what we wanted.
        self.send_accepting(peer, request, &[StatusCode::CONFLICT])
            .await
    }

    /// Sends `request` and reads its answer as JSON, at most `cap` bytes of it; also says
    /// how many bytes it was.
    async fn read_json<T: DeserializeOwned>(
        &self,
        peer: &PeerUrl,
        request: reqwest::RequestBuilder,
        cap: usize,
    ) -> Result<(T, usize), ClientError> {
        let response = self.send(peer, request).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(ClientError::Status {
                peer: peer.clone(),
                status,
            });
        }
        let body = read_capped(peer, response, cap).await?;
        let parsed = serde_json::from_slice(&body).map_err(|error| ClientError::Malformed {
            peer: peer.clone(),
            reason: error.to_string(),
        })?;
        Ok((parsed, body.len()))
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
        Err(ClientError::Status {
            peer: peer.clone(),
            status,
        })
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
                reason: with_causes(&error),
            })
    }
}

/// An error with the causes it wraps ("error sending request: dns error: …"): reqwest's
/// own message stops at the first.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}

/// Resolves host names as the system does, keeping only public addresses.
struct PublicOnlyResolver;

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let public: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| is_public(address.ip()))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            let addresses: Addrs = Box::new(public.into_iter());
            Ok(addresses)
        })
    }
}

/// Reads a body, refusing to buffer more than `cap` bytes of it.
async fn read_capped(
    peer: &PeerUrl,
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > cap {
                    return Err(ClientError::Malformed {
                        peer: peer.clone(),
                        reason: format!("answer larger than {cap} bytes"),
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(error) => {
                return Err(ClientError::Unreachable {
                    peer: peer.clone(),
                    reason: with_causes(&error),
                });
            }
        }
    }
}
