//! The network of an attack run: the attacker's node (node 0, linked with nobody) beside a
//! mesh of honest nodes, and what the runner asks of them over HTTP.
//!
//! **Boundary:** talks to the nodes only through their public API.

use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use chainpost_chain::BlockHash;
use chainpost_wire::lenient::MineOutcome;
use chainpost_wire::{
    AddBlockResponse, BlockJson, BlockOutcome, ChainPage, ChainQuery, MAX_PAGE, Status,
};
use tokio::time::Instant;

use crate::cluster::{Cluster, ClusterError, MinerSpec, NetworkSpec};
use crate::proxy::LinkModel;
use crate::topology::Topology;

/// Block timestamps run ahead of the clock when blocks come faster than one a second
/// (each is at least the median of the last eleven plus one second, about one second per
/// six blocks), and the nodes refuse a block two hours ahead: one network takes at most
/// this many blocks, well inside that.
pub(crate) const MAX_BLOCKS_A_NETWORK: u64 = 30_000;

/// The attacker's node; the honest ones follow it.
pub(crate) const ATTACKER: usize = 0;
/// Longest any one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the honest nodes may take to share a block.
const AGREEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runner asks again while it waits for the nodes.
const POLL: Duration = Duration::from_millis(1);

/// Why an attack run failed.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// A network could not be brought up.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A node did not answer as asked.
    #[error("node {node} did not answer {what}: {reason}")]
    Node {
        node: usize,
        what: &'static str,
        reason: String,
    },
    /// A node did something the run cannot go on from.
    #[error("node {node}: {what}")]
    Unexpected { node: usize, what: String },
}

/// What an attack network is made of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    pub(crate) honest_nodes: usize,
    /// One-way latency of the honest nodes' links.
    pub(crate) latency_ms: f64,
    pub(crate) difficulty: u32,
    pub(crate) seed: u64,
}

/// A running attack network.
pub(crate) struct AttackNetwork {
    cluster: Cluster,
    apis: Vec<String>,
    pub(crate) http: reqwest::Client,
}

impl AttackNetwork {
    pub(crate) async fn start(
        shape: Shape,
        node_bin: &Path,
        log_dir: &Path,
    ) -> Result<Self, AttackError> {
        let spec = NetworkSpec {
            link: LinkModel {
                latency: Duration::from_secs_f64(shape.latency_ms / 1000.0),
                jitter: Duration::ZERO,
                loss: 0.0,
                bandwidth: None,
            },
            placement: None,
            seed: shape.seed,
            difficulty: shape.difficulty,
            sync_interval_secs: 5,
            retarget: None,
            // The runner decides who finds each block; the node finds it flat out.
            miners: vec![
                MinerSpec {
                    hash_rate: None,
                    simulated_mining_seed: None,
                };
                shape.honest_nodes + 1
            ],
        };
        let topology = Topology::apart_from_mesh(shape.honest_nodes);
        let cluster = Cluster::start(&spec, &topology, node_bin, log_dir).await?;
        let apis = cluster.api_urls();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Ok(AttackNetwork {
            cluster,
            apis,
            http,
        })
    }

    pub(crate) async fn stop(self) {
        self.cluster.stop().await;
    }

    /// The honest nodes.
    pub(crate) fn honest(&self) -> Range<usize> {
        ATTACKER + 1..self.apis.len()
    }

    /// `node`'s API, reached directly.
    pub(crate) fn api(&self, node: usize) -> &str {
        &self.apis[node]
    }

    pub(crate) async fn status(&self, node: usize) -> Result<Status, AttackError> {
        let request = self.http.get(format!("{}/status", self.apis[node]));
        answer(node, "GET /status", request).await
    }

    /// Asks `node` for one block; returns the node's tip after it.
    pub(crate) async fn mine(&self, node: usize) -> Result<BlockHash, AttackError> {
        let failed = |reason: String| AttackError::Node {
            node,
            what: "GET /mine",
            reason,
        };
        let response = self
            .http
            .get(format!("{}/mine", self.apis[node]))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| failed(error.to_string()))?;
        let text = response
            .text()
            .await
            .map_err(|error| failed(error.to_string()))?;
        match MineOutcome::read(&text) {
            MineOutcome::Mined { .. } => Ok(self.status(node).await?.tip),
            MineOutcome::NothingToMine => Err(failed(format!("it mined nothing: {text}"))),
        }
    }

    /// Waits until every one of `nodes` holds `block`, on whatever branch.
    pub(crate) async fn wait_until_known(
        &self,
        nodes: Range<usize>,
        block: BlockHash,
    ) -> Result<(), AttackError> {
        let deadline = Instant::now() + AGREEMENT_TIMEOUT;
        for node in nodes {
            loop {
                let response = self
                    .http
                    .get(format!("{}/blocks/{block}", self.apis[node]))
                    .send()
                    .await
                    .map_err(|error| AttackError::Node {
                        node,
                        what: "GET /blocks/{hash}",
                        reason: error.to_string(),
                    })?;
                if response.status().is_success() {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(AttackError::Unexpected {
                        node,
                        what: format!("has not heard of block {block} after {AGREEMENT_TIMEOUT:?}"),
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// Waits until every one of `nodes` has `tip` as its tip.
    pub(crate) async fn wait_for_tip(
        &self,
        nodes: Range<usize>,
        tip: BlockHash,
    ) -> Result<(), AttackError> {
        let deadline = Instant::now() + AGREEMENT_TIMEOUT;
        for node in nodes {
            while self.status(node).await?.tip != tip {
                if Instant::now() >= deadline {
                    return Err(AttackError::Unexpected {
                        node,
                        what: format!("not on the tip {tip} after {AGREEMENT_TIMEOUT:?}"),
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// `node`'s best-chain blocks at heights `from..=to`.
    pub(crate) async fn blocks(
        &self,
        node: usize,
        from: u64,
        to: u64,
    ) -> Result<Vec<BlockJson>, AttackError> {
        let mut blocks: Vec<BlockJson> = Vec::new();
        if from > to {
            return Ok(blocks);
        }
        while from + (blocks.len() as u64) <= to {
            let query = ChainQuery {
                from: Some(from + blocks.len() as u64),
                limit: Some(MAX_PAGE),
            };
            let request = self
                .http
                .get(format!("{}/chain", self.apis[node]))
                .query(&query);
            let page: ChainPage = answer(node, "GET /chain", request).await?;
            if page.chain.is_empty() {
                return Err(AttackError::Unexpected {
                    node,
                    what: format!("its chain ends below height {to}"),
                });
            }
            blocks.extend(page.chain);
        }
        blocks.truncate(usize::try_from(to + 1 - from).unwrap_or(usize::MAX));
        Ok(blocks)
    }

    pub(crate) async fn add_block(
        &self,
        node: usize,
        block: &BlockJson,
    ) -> Result<BlockOutcome, AttackError> {
        let request = self
            .http
            .post(format!("{}/add_block", self.apis[node]))
            .json(block);
        let added: AddBlockResponse = answer(node, "POST /add_block", request).await?;
        Ok(added.outcome)
    }

    /// Gives `node` the blocks of `from`'s best chain above `fork_height`, in order, and
    /// checks that it follows them to `from`'s tip.
    pub(crate) async fn hand_over(
        &self,
        from: usize,
        node: usize,
        fork_height: u64,
    ) -> Result<(), AttackError> {
        let source = self.status(from).await?;
        for block in self.blocks(from, fork_height + 1, source.height).await? {
            self.add_block(node, &block).await?;
        }
        let after = self.status(node).await?;
        if after.tip == source.tip {
            Ok(())
        } else {
            Err(AttackError::Unexpected {
                node,
                what: format!(
                    "given the chain up to {}, it stayed on {}",
                    source.tip, after.tip
                ),
            })
        }
    }
}

/// A successful answer's JSON body.
pub(crate) async fn answer<T: serde::de::DeserializeOwned>(
    node: usize,
    what: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<T, AttackError> {
    let failed = |reason: String| AttackError::Node { node, what, reason };
    let response = request
        .send()
        .await
        .map_err(|error| failed(error.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(failed(format!("answered {status}: {body}")));
    }
    response
        .json()
        .await
        .map_err(|error| failed(error.to_string()))
}
