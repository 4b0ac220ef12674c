//! A typed HTTP client for one node, with one method per endpoint the web app uses.
//!
//! It reads answers through the wire crate's tolerant shapes
//! ([`chainpost_wire::lenient`]), so a node built from the tutorial, which sends floats for
//! block timestamps, no post ids, no `difficulty`, maybe no block `hash`, and has no
//! `/status`, `/blocks` or `/tree`, is read too. Every failure becomes a [`NodeError`]
//! that says whether the node is unreachable, slow, refused the request or lacks the
//! endpoint, so pages can tell the reader what happened. It does not render anything and
//! keeps no state between calls.

use std::time::Duration;

use chainpost_chain::Handle;
use chainpost_chain::{BlockHash, TxId};
use chainpost_wire::lenient::{
    BlockDetail, ChainPage, HandleOwner, MineOutcome, NodeStatus, Post, PostStatus, PostsPage,
    ProfilesPage, Resolution, SearchResults, Thread, Tree,
};
use chainpost_wire::{
    ChainQuery, Created, ErrorBody, NO_SUCH_ENDPOINT, NewTransaction, PendingQuery, PostCursor,
    PostsQuery, ProfilesQuery, SearchQuery, ThreadQuery, TreeQuery, lenient,
};
use reqwest::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::NodeUrl;

/// Largest answer read from a node: far above a page of the largest blocks (2 MiB), far
/// below what would let one node's answer take the web app's memory.
const MAX_ANSWER_BYTES: usize = 16 << 20;
/// Largest error answer read: enough for any explanation.
const MAX_REFUSAL_BYTES: usize = 64 << 10;

/// Whose posts `GET /posts` lists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PostsOf<'a> {
    Everyone,
    /// The unsigned posts that give this name.
    Name(&'a str),
    /// The posts this Ed25519 key signed.
    Key([u8; 32]),
}

/// Why a call to a node failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NodeError {
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

#[derive(Debug, Clone)]
pub(crate) struct NodeClient {
    base: NodeUrl,
    http: reqwest::Client,
    timeout: Duration,
    mine_timeout: Duration,
}

impl NodeClient {
    /// A client for the node at `base`: `timeout` for every call but mining, which may
    /// take up to `mine_timeout`.
    pub(crate) fn new(
        base: NodeUrl,
        timeout: Duration,
        mine_timeout: Duration,
    ) -> reqwest::Result<Self> {
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

    /// The same client for the node at `base`.
    pub(crate) fn with_base(&self, base: NodeUrl) -> Self {
        NodeClient {
            base,
            ..self.clone()
        }
    }

    pub(crate) fn base(&self) -> &NodeUrl {
        &self.base
    }

    /// `GET /status`.
    pub(crate) async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.get_json("/status", &()).await
    }

    /// `GET /chain`: the whole best chain.
    pub(crate) async fn chain(&self) -> Result<ChainPage, NodeError> {
        self.get_json("/chain", &()).await
    }

    /// `GET /chain?from=H&limit=N`: one page of the best chain. A tutorial-style node
    /// ignores the query and sends the whole chain; callers must not assume the page size.
    pub(crate) async fn chain_page(&self, from: u64, limit: usize) -> Result<ChainPage, NodeError> {
        let query = ChainQuery {
            from: Some(from),
            limit: Some(limit),
        };
        self.get_json("/chain", &query).await
    }

    /// `GET /pending_tx?limit=N`: the oldest posts waiting to be mined. A tutorial-style
    /// node ignores the limit and sends all it has (within the answer's size cap), so
    /// callers must not assume at most `limit`.
    pub(crate) async fn pending(&self, limit: usize) -> Result<Vec<Post>, NodeError> {
        let query = PendingQuery {
            limit: Some(limit),
            after: None,
        };
        self.get_json("/pending_tx", &query).await
    }

    /// `POST /new_transaction`: the node's receipt, which a tutorial node does not give.
    pub(crate) async fn new_transaction(
        &self,
        post: &NewTransaction,
    ) -> Result<Option<Created>, NodeError> {
        let endpoint = "/new_transaction";
        let request = self.http.post(self.url(endpoint)).json(post);
        let response = self.send(endpoint, request, self.timeout).await?;
        let body = self.read_text(endpoint, response).await?;
        Ok(lenient::created(&body))
    }

    /// `GET /mine`: mines the pending posts; may take as long as the proof of work does.
    pub(crate) async fn mine(&self) -> Result<MineOutcome, NodeError> {
        let endpoint = "/mine";
        let request = self.http.get(self.url(endpoint));
        let response = self.send(endpoint, request, self.mine_timeout).await?;
        let text = self.read_text(endpoint, response).await?;
        Ok(MineOutcome::read(&text))
    }

    /// `GET /blocks/{hash}`.
    pub(crate) async fn block(&self, hash: &BlockHash) -> Result<BlockDetail, NodeError> {
        self.get_json(&format!("/blocks/{hash}"), &()).await
    }

    /// `GET /posts?before=C&limit=N`: a page of the best chain's posts (or one author's),
    /// newest first.
    pub(crate) async fn posts(
        &self,
        of: PostsOf<'_>,
        before: Option<PostCursor>,
        limit: usize,
    ) -> Result<PostsPage, NodeError> {
        let (author, key) = match of {
            PostsOf::Everyone => (None, None),
            PostsOf::Name(name) => (Some(name.to_owned()), None),
            PostsOf::Key(key) => (None, Some(hex::encode(key))),
        };
        let query = PostsQuery {
            author,
            key,
            before: before.map(|cursor| cursor.to_string()),
            limit: Some(limit),
        };
        self.get_json("/posts", &query).await
    }

    /// `GET /transactions/{id}`: a post, pending or in its block.
    pub(crate) async fn post_status(&self, id: &TxId) -> Result<PostStatus, NodeError> {
        self.get_json(&format!("/transactions/{id}"), &()).await
    }

    /// `GET /posts/{id}/thread?after=C`: the post and a page of its replies.
    pub(crate) async fn thread(
        &self,
        id: &TxId,
        after: Option<PostCursor>,
    ) -> Result<Thread, NodeError> {
        let query = ThreadQuery {
            after: after.map(|cursor| cursor.to_string()),
            limit: None,
        };
        self.get_json(&format!("/posts/{id}/thread"), &query).await
    }

    /// `GET /profiles?keys=K1,K2`: the latest profiles of up to
    /// [`chainpost_wire::MAX_PROFILE_KEYS`] keys (hex).
    pub(crate) async fn profiles(&self, keys: &[&str]) -> Result<ProfilesPage, NodeError> {
        let query = ProfilesQuery {
            keys: Some(keys.join(",")),
        };
        self.get_json("/profiles", &query).await
    }

    /// `GET /handles/{handle}`: the key that owns a handle.
    pub(crate) async fn handle_owner(&self, handle: &Handle) -> Result<HandleOwner, NodeError> {
        self.get_json(&format!("/handles/{handle}"), &()).await
    }

    /// `GET /search?q=WORDS&before=C`: a page of the confirmed posts having the words,
    /// newest first.
    pub(crate) async fn search(
        &self,
        words: &str,
        before: Option<PostCursor>,
        limit: usize,
    ) -> Result<SearchResults, NodeError> {
        let query = SearchQuery {
            q: Some(words.to_owned()),
            before: before.map(|cursor| cursor.to_string()),
            limit: Some(limit),
        };
        self.get_json("/search", &query).await
    }

    /// `GET /tree?from=H`.
    pub(crate) async fn tree(&self, from: Option<u64>) -> Result<Tree, NodeError> {
        self.get_json("/tree", &TreeQuery { from }).await
    }

    /// `GET /nodes/resolve`: asks the node to adopt the best chain among its peers.
    pub(crate) async fn resolve(&self) -> Result<Resolution, NodeError> {
        let endpoint = "/nodes/resolve";
        let request = self.http.get(self.url(endpoint));
        // Resolving fetches peers' chains: give it the mining budget, not the page one.
        let response = self.send(endpoint, request, self.mine_timeout).await?;
        let body = self.read_text(endpoint, response).await?;
        Ok(Resolution::read(&body))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        query: &impl Serialize,
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
        let json_message = serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|body| body.error);
        let endpoint_missing = match (&json_message, status) {
            (_, StatusCode::METHOD_NOT_ALLOWED) => true,
            (Some(message), StatusCode::NOT_FOUND) => message == NO_SUCH_ENDPOINT,
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

#[cfg(test)]
mod tests {
    use super::*;

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
