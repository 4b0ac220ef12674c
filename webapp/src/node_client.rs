//! A typed HTTP client for one node, with one method per endpoint the web app uses.
//!
//! Owns the node's wire shapes as the web app reads them, deliberately lenient: a node
//! built from the tutorial sends floats for block timestamps, no post ids, no
//! `difficulty`, maybe no block `hash`, and has no `/status`, `/blocks` or `/tree`. Every
//! failure becomes a [`NodeError`] that says whether the node is unreachable, slow,
//! refused the request or lacks the endpoint, so pages can tell the reader what happened.
//! It does not render anything and keeps no state between calls.

use std::time::Duration;

use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::NodeUrl;

/// Largest answer read from a node: far above a page of the largest blocks (2 MiB), far
/// below what would let one node's answer take the web app's memory.
const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Largest error answer read: enough for any explanation.
const MAX_REFUSAL_BYTES: usize = 64 << 10;

/// Why a call to a node failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// No connection could be made, or it broke before an answer came.
    #[error("cannot reach the node at {node}: {reason}")]
    Unreachable {
        /// The node's base URL.
        node: String,
        /// What went wrong, for the reader and the log.
        reason: String,
    },
    /// The node did not answer in time.
    #[error("the node at {node} did not answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The node's base URL.
        node: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// The node does not offer this endpoint (an older or tutorial-style node).
    #[error("the node at {node} does not offer {endpoint}")]
    EndpointMissing {
        /// The node's base URL.
        node: String,
        /// The path that is missing.
        endpoint: String,
    },
    /// The node refused the request; `message` is its own explanation.
    #[error("the node refused the request ({status}): {message}")]
    Rejected {
        /// The HTTP status the node answered with.
        status: StatusCode,
        /// The node's `{"error"}` text, or the start of its body.
        message: String,
    },
    /// The node answered something we cannot read.
    #[error("the node's answer to {endpoint} could not be read: {reason}")]
    BadResponse {
        /// The path that was asked.
        endpoint: String,
        /// What was wrong with the answer.
        reason: String,
    },
}

impl NodeError {
    /// True when the node could not be talked to at all (down, slow or unreadable), as
    /// opposed to answering "no".
    pub fn is_node_down(&self) -> bool {
        matches!(
            self,
            NodeError::Unreachable { .. }
                | NodeError::Timeout { .. }
                | NodeError::BadResponse { .. }
        )
    }
}

/// A post as a node sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// Who wrote it (self-declared unless signed).
    #[serde(default)]
    pub author: String,
    /// The text.
    #[serde(default)]
    pub content: String,
    /// Seconds since the Unix epoch; absent or odd in some tutorial-style nodes.
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// The post's id (chainpost nodes only).
    #[serde(default)]
    pub id: Option<String>,
    /// Hex Ed25519 public key of a signed post.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Hex Ed25519 signature of a signed post.
    #[serde(default)]
    pub signature: Option<String>,
}

/// A block as `/chain` sends it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Block {
    /// Height; the genesis block is 0.
    pub index: u64,
    /// The block's posts.
    #[serde(default)]
    pub transactions: Vec<Post>,
    /// Seconds since the Unix epoch (an integer from chainpost, a float from the tutorial).
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// Hex hash of the parent block.
    #[serde(default)]
    pub previous_hash: String,
    /// The proof-of-work nonce, kept as the node wrote it.
    #[serde(default)]
    pub nonce: Option<serde_json::Number>,
    /// Hex hash of the block, when the node sends it.
    #[serde(default)]
    pub hash: Option<String>,
    /// Leading zero bits the hash needs (chainpost only).
    #[serde(default)]
    pub difficulty: Option<u32>,
    /// Hex merkle root of the post ids (chainpost only).
    #[serde(default)]
    pub merkle_root: Option<String>,
}

/// The tutorial's `/chain` answer (one page of it for chainpost nodes).
#[derive(Debug, Clone, Deserialize)]
pub struct ChainPage {
    /// Length of the whole best chain.
    pub length: u64,
    /// The blocks of this page, lowest first.
    pub chain: Vec<Block>,
}

/// A peer count, whether a node sends a number or a list of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerCount(pub u64);

impl<'de> Deserialize<'de> for PeerCount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Peers {
            Count(u64),
            List(Vec<serde_json::Value>),
        }
        Ok(match Peers::deserialize(deserializer)? {
            Peers::Count(count) => PeerCount(count),
            Peers::List(list) => PeerCount(list.len() as u64),
        })
    }
}

/// A chainpost node's `/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct NodeStatus {
    /// Height of the best tip.
    pub height: u64,
    /// Blocks in the best chain (height + 1).
    pub length: u64,
    /// Hex hash of the best tip.
    pub tip: String,
    /// Leading zero bits a block needs.
    #[serde(default)]
    pub difficulty: Option<u32>,
    /// Whether the network refuses unsigned posts.
    #[serde(default)]
    pub require_signatures: bool,
    /// Posts waiting to be mined.
    #[serde(default)]
    pub mempool_size: u64,
    /// Every block the node knows, side branches included.
    #[serde(default)]
    pub blocks_known: Option<u64>,
    /// Peers the node talks to.
    #[serde(default)]
    pub peers: PeerCount,
    /// Whether the node is searching for a block right now.
    #[serde(default)]
    pub mining: bool,
}

/// `/blocks/{hash}`: a block on any branch, with its place in the tree.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockDetail {
    /// The block's own fields.
    #[serde(flatten)]
    pub block: Block,
    /// Whether it is on the best chain.
    #[serde(default)]
    pub in_best_chain: Option<bool>,
    /// Total work from genesis to this block.
    #[serde(default)]
    pub cumulative_work: Option<u128>,
    /// Hashes of the blocks built on it.
    #[serde(default)]
    pub children: Vec<String>,
}

/// One block of `/tree`.
#[derive(Debug, Clone, Deserialize)]
pub struct TreeBlock {
    /// Hex hash.
    pub hash: String,
    /// Height.
    pub index: u64,
    /// Hex hash of the parent.
    pub previous_hash: String,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// How many posts it holds.
    #[serde(default)]
    pub transactions: u64,
    /// Total work from genesis to it.
    #[serde(default)]
    pub cumulative_work: Option<u128>,
    /// Whether it is on the best chain.
    pub in_best_chain: bool,
}

/// `/tree`: every known block from some height up, side branches included.
#[derive(Debug, Clone, Deserialize)]
pub struct Tree {
    /// Hex hash of the best tip.
    pub tip: String,
    /// Lowest height shown.
    #[serde(default)]
    pub from: u64,
    /// The blocks, by height then arrival.
    pub blocks: Vec<TreeBlock>,
}

/// Where a post is, per `/transactions/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct TransactionStatus {
    /// The post.
    pub transaction: Post,
    /// `pending` or `confirmed`.
    pub status: String,
    /// The confirming block, when confirmed.
    #[serde(default)]
    pub block: Option<BlockRef>,
}

/// A block by height and hash.
#[derive(Debug, Clone, Deserialize)]
pub struct BlockRef {
    /// Height.
    pub index: u64,
    /// Hex hash.
    pub hash: String,
}

/// The body of `POST /new_transaction`: the tutorial's two fields, optionally signed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewTransaction {
    /// Who wrote the post.
    pub author: String,
    /// The text.
    pub content: String,
    /// The signed timestamp (signed posts only; the node stamps unsigned ones).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Hex Ed25519 public key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Hex Ed25519 signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// What the node said to a new post.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Accepted {
    /// The post's id (chainpost nodes only; the tutorial answers plain "Success").
    #[serde(default)]
    pub id: Option<String>,
}

/// What `GET /nodes/resolve` reported; every field is optional, as nodes differ.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Resolution {
    /// Whether the node switched to a peer's chain.
    #[serde(default)]
    pub replaced: Option<bool>,
    /// How many peers it asked.
    #[serde(default)]
    pub peers_consulted: Option<u64>,
    /// How many blocks it took from them.
    #[serde(default)]
    pub blocks_added: Option<u64>,
    /// Its height afterwards.
    #[serde(default)]
    pub height: Option<u64>,
}

/// What `GET /mine` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MineOutcome {
    /// A block was mined; its height when the node said it.
    Mined {
        /// Height of the new block, parsed from "Block #N is mined.".
        index: Option<u64>,
    },
    /// The mempool was empty.
    NothingToMine,
}

/// A client for one node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    base: NodeUrl,
    http: reqwest::Client,
    timeout: Duration,
    mine_timeout: Duration,
}

impl NodeClient {
    /// A client for the node at `base`: `timeout` for every call but mining, which may
    /// take up to `mine_timeout`.
    pub fn new(base: NodeUrl, timeout: Duration, mine_timeout: Duration) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            // A node that does not even accept the connection quickly is down for the
            // reader's purposes; fail fast so the page can say so.
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .user_agent(concat!("chainpost-webapp/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(NodeClient {
            base,
            http,
            timeout,
            mine_timeout,
        })
    }

    /// The node's base URL.
    pub fn base(&self) -> &NodeUrl {
        &self.base
    }

    /// `GET /status`.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.get_json("/status", &[]).await
    }

    /// `GET /chain`: the whole best chain.
    pub async fn chain(&self) -> Result<ChainPage, NodeError> {
        self.get_json("/chain", &[]).await
    }

    /// `GET /chain?from=H&limit=N`: one page of the best chain. A tutorial-style node
    /// ignores the query and sends the whole chain; callers must not assume the page size.
    pub async fn chain_page(&self, from: u64, limit: u64) -> Result<ChainPage, NodeError> {
        let query = [("from", from.to_string()), ("limit", limit.to_string())];
        self.get_json("/chain", &query).await
    }

    /// `GET /pending_tx?limit=N`: the oldest posts waiting to be mined. A tutorial-style
    /// node ignores the limit and sends all it has (within the answer's size cap), so
    /// callers must not assume at most `limit`.
    pub async fn pending(&self, limit: usize) -> Result<Vec<Post>, NodeError> {
        self.get_json("/pending_tx", &[("limit", limit.to_string())])
            .await
    }

    /// `POST /new_transaction`.
    pub async fn new_transaction(&self, post: &NewTransaction) -> Result<Accepted, NodeError> {
        let endpoint = "/new_transaction";
        let request = self.http.post(self.url(endpoint)).json(post);
        let response = self.send(endpoint, request, self.timeout).await?;
        let body = self.read_text(endpoint, response).await?;
        // The tutorial answers a bare "Success"; only chainpost sends JSON with the id.
        Ok(serde_json::from_str(&body).unwrap_or_default())
    }

    /// `GET /mine`: mines the pending posts; may take as long as the proof of work does.
    pub async fn mine(&self) -> Result<MineOutcome, NodeError> {
        let endpoint = "/mine";
        let request = self.http.get(self.url(endpoint));
        let response = self.send(endpoint, request, self.mine_timeout).await?;
        let text = self.read_text(endpoint, response).await?;
        Ok(parse_mine_answer(&text))
    }

    /// `GET /blocks/{hash}`: `hash` must already be checked to be hexadecimal.
    pub async fn block(&self, hash: &str) -> Result<BlockDetail, NodeError> {
        self.get_json(&format!("/blocks/{hash}"), &[]).await
    }

    /// `GET /tree?from=H`.
    pub async fn tree(&self, from: Option<u64>) -> Result<Tree, NodeError> {
        match from {
            Some(from) => self.get_json("/tree", &[("from", from.to_string())]).await,
            None => self.get_json("/tree", &[]).await,
        }
    }

    /// `GET /transactions/{id}`: `id` must already be checked to be hexadecimal.
    pub async fn transaction(&self, id: &str) -> Result<TransactionStatus, NodeError> {
        self.get_json(&format!("/transactions/{id}"), &[]).await
    }

    /// `GET /nodes/resolve`: asks the node to adopt the best chain among its peers.
    pub async fn resolve(&self) -> Result<Resolution, NodeError> {
        let endpoint = "/nodes/resolve";
        let request = self.http.get(self.url(endpoint));
        // Resolving fetches peers' chains: give it the mining budget, not the page one.
        let response = self.send(endpoint, request, self.mine_timeout).await?;
        let body = self.read_text(endpoint, response).await?;
        // Other nodes may answer in plain text: then nothing is known but success.
        Ok(serde_json::from_str(&body).unwrap_or_default())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &[(&str, String)],
    ) -> Result<T, NodeError> {
        let request = self.http.get(self.url(endpoint)).query(query);
        let response = self.send(endpoint, request, self.timeout).await?;
        let body = self.read_text(endpoint, response).await?;
        serde_json::from_str(&body).map_err(|error| NodeError::BadResponse {
            endpoint: endpoint.to_owned(),
            reason: error.to_string(),
        })
    }

    async fn send(
        &self,
        endpoint: &str,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, NodeError> {
        let response = request
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| self.transport_error(error, timeout))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = self
            .read_capped(endpoint, response, MAX_REFUSAL_BYTES)
            .await
            .unwrap_or_default();
        Err(self.refusal(endpoint, status, &body))
    }

    async fn read_text(
        &self,
        endpoint: &str,
        response: reqwest::Response,
    ) -> Result<String, NodeError> {
        self.read_capped(endpoint, response, MAX_ANSWER_BYTES).await
    }

    /// Reads an answer as text, refusing to buffer more than `cap` bytes of it.
    async fn read_capped(
        &self,
        endpoint: &str,
        mut response: reqwest::Response,
        cap: usize,
    ) -> Result<String, NodeError> {
        let too_large = || NodeError::BadResponse {
            endpoint: endpoint.to_owned(),
            reason: format!("the answer is larger than {cap} bytes"),
        };
        if response
            .content_length()
            .is_some_and(|length| length > cap as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        return Err(too_large());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Ok(String::from_utf8_lossy(&body).into_owned()),
                Err(error) if error.is_timeout() => {
                    return Err(self.transport_error(error, self.timeout));
                }
                Err(error) => {
                    return Err(NodeError::BadResponse {
                        endpoint: endpoint.to_owned(),
                        reason: error.to_string(),
                    });
                }
            }
        }
    }

    fn transport_error(&self, error: reqwest::Error, timeout: Duration) -> NodeError {
        let node = self.base.to_string();
        if error.is_timeout() {
            return NodeError::Timeout { node, timeout };
        }
        let reason = if error.is_connect() {
            "connection refused or no route to it".to_owned()
        } else {
            // reqwest's Display is terse ("error sending request"); the source says why.
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reason = format!("{reason}: {cause}");
                source = cause.source();
            }
            reason
        };
        NodeError::Unreachable { node, reason }
    }

    /// Turns a non-2xx answer into an error. A 404 is "no such thing" when the node says
    /// so in its JSON error shape, and "no such endpoint" otherwise (a tutorial node's
    /// HTML page, or chainpost's own fallback).
    fn refusal(&self, endpoint: &str, status: StatusCode, body: &str) -> NodeError {
        #[derive(Deserialize)]
        struct ErrorBody {
            error: String,
        }
        let json_message = serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|body| body.error);
        let endpoint_missing = match (&json_message, status) {
            (_, StatusCode::METHOD_NOT_ALLOWED) => true,
            (Some(message), StatusCode::NOT_FOUND) => message == "no such endpoint",
            // Flask and most frameworks answer an unknown path with an HTML page; the
            // tutorial's own "Invalid transaction data" 404 is plain text and a refusal.
            (None, StatusCode::NOT_FOUND) => {
                let body = body.trim_start();
                body.is_empty() || body.starts_with('<')
            }
            _ => false,
        };
        if endpoint_missing {
            return NodeError::EndpointMissing {
                node: self.base.to_string(),
                endpoint: endpoint.to_owned(),
            };
        }
        let message = json_message.unwrap_or_else(|| {
            let text: String = body.trim().chars().take(200).collect();
            if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("no reason given")
                    .to_owned()
            } else {
                text
            }
        });
        NodeError::Rejected { status, message }
    }
}

/// Reads the tutorial's `/mine` sentences: "Block #N is mined." or "No transactions to
/// mine". Anything else from a 2xx answer counts as a mined block of unknown height.
fn parse_mine_answer(text: &str) -> MineOutcome {
    let text = text.trim();
    if text.starts_with("No transactions") {
        return MineOutcome::NothingToMine;
    }
    let index = text
        .strip_prefix("Block #")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok());
    MineOutcome::Mined { index }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorial_mine_answers_are_understood() {
        assert_eq!(
            parse_mine_answer("Block #12 is mined."),
            MineOutcome::Mined { index: Some(12) }
        );
        assert_eq!(
            parse_mine_answer("No transactions to mine"),
            MineOutcome::NothingToMine
        );
        assert_eq!(
            parse_mine_answer("done"),
            MineOutcome::Mined { index: None }
        );
    }

    #[test]
    fn a_tutorial_chain_with_float_timestamps_and_no_ids_parses() {
        let text = r#"{"length": 2, "chain": [
            {"index": 0, "transactions": [], "timestamp": 0, "previous_hash": "0",
             "nonce": 0, "hash": "ab"},
            {"index": 1, "transactions": [{"author": "a", "content": "b", "timestamp": 1.5}],
             "timestamp": 1700000000.25, "previous_hash": "ab", "nonce": 77}
        ], "peers": []}"#;
        let page: ChainPage = serde_json::from_str(text).expect("parses");
        assert_eq!(page.chain[1].timestamp, Some(1_700_000_000.25));
        assert_eq!(page.chain[1].hash, None);
        assert_eq!(page.chain[1].transactions[0].id, None);
    }

    #[test]
    fn peers_may_be_a_count_or_a_list() {
        let count: PeerCount = serde_json::from_str("3").expect("count");
        let list: PeerCount = serde_json::from_str(r#"["http://a", "http://b"]"#).expect("list");
        assert_eq!((count, list), (PeerCount(3), PeerCount(2)));
    }

    #[test]
    fn a_404_is_a_missing_endpoint_unless_the_node_names_what_is_missing() {
        let client = NodeClient::new(
            NodeUrl::parse("http://127.0.0.1:1").expect("url"),
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .expect("client");
        let missing = client.refusal("/tree", StatusCode::NOT_FOUND, "<html>Not Found</html>");
        assert!(matches!(missing, NodeError::EndpointMissing { .. }));
        let fallback = client.refusal(
            "/tree",
            StatusCode::NOT_FOUND,
            r#"{"error":"no such endpoint"}"#,
        );
        assert!(matches!(fallback, NodeError::EndpointMissing { .. }));
        let unknown = client.refusal(
            "/blocks/00",
            StatusCode::NOT_FOUND,
            r#"{"error":"no block 00"}"#,
        );
        assert!(
            matches!(unknown, NodeError::Rejected { status, ref message } if status == StatusCode::NOT_FOUND && message == "no block 00")
        );
    }
}
