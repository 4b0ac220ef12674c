//! The double-spend race on real nodes: an attacker node kept apart from a mesh of honest
//! nodes, a post paid to the honest network, and trials of the race for each attacker
//! share `q` and confirmation count `z`.
//!
//! **The runner is the clock.** In a race between hash shares `q` and `1 − q`, each next
//! block is the attacker's with probability `q`, independently of the ones before (two
//! Poisson processes); that sequence is all the theory is about. So the runner draws each
//! block's finder from the run's seed and asks that node's `GET /mine` for one block, then
//! waits until the honest nodes share it. Everything else is the nodes': blocks, their
//! validation, which branch each node follows when the attacker publishes, the reverted
//! post's return to the mempool. Propagation and the attacker's reaction time are left out
//! on purpose, as in the theory; a trial costs milliseconds, and one seed gives one run.
//!
//! A trial: every node on one tip; the post is sent to every honest node (one id), so the
//! first honest block confirms it and the attacker (linked to nobody) never sees it. The
//! race then runs as [`Race`] says. Publishing posts the attacker's unseen blocks, in
//! order, to the merchant's node through `POST /add_block`, and its answer for the last
//! says what the node did: `reorganized` (the post's block is off the chain: rewritten)
//! or `side_branch` (it kept its own). After a give-up the runner hands the attacker the
//! honest chain the same way, so the next trial starts from one tip again.
//!
//! **Boundary:** produces the [`AttackRecord`]; it computes no result.

use std::path::Path;
use std::time::Duration;

use chainpost_chain::BlockHash;
use chainpost_edge::clock::unix_now_f64;
use chainpost_wire::lenient::MineOutcome;
use chainpost_wire::{
    AddBlockResponse, BlockJson, BlockOutcome, ChainPage, ChainQuery, Created, MAX_PAGE,
    NewTransaction, PostState, Status, TransactionStatus,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::config::{AttackConfig, MAX_BLOCKS_A_NETWORK};
use super::race::{Finder, Move, Outcome, Race};
use super::record::{AttackRecord, TrialRecord};
use crate::cluster::{Cluster, ClusterError, MinerSpec, NetworkSpec};
use crate::proxy::LinkModel;
use crate::topology::Topology;

/// The attacker's node; the honest ones follow it.
const ATTACKER: usize = 0;
/// The honest node the merchant uses, and the one the attacker publishes to.
const MERCHANT: usize = 1;
/// Longest any one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest the honest nodes may take to share a block.
const AGREEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runner asks the honest nodes for their tips while they share a block.
const AGREEMENT_POLL: Duration = Duration::from_millis(1);

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
    /// A node did something the race cannot go on from.
    #[error("node {node}: {what}")]
    Unexpected { node: usize, what: String },
}

/// Runs every trial `config` asks for with the `node_bin` executable; node logs go to
/// `config.out_dir/logs`, one directory per share and confirmation count.
pub async fn run(config: &AttackConfig, node_bin: &Path) -> Result<AttackRecord, AttackError> {
    let began = Instant::now();
    let log_dir = config.out_dir.join("logs");
    let mut trials = Vec::new();
    for (share_index, &share) in config.attacker_shares.iter().enumerate() {
        for &confirmations in &config.confirmations {
            // Each cell has its own random stream, so it does not depend on the others.
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(((share_index as u64) << 32) | u64::from(confirmations));
            let cell_logs = log_dir.join(format!("q{share}-z{confirmations}"));
            let mut network = Network::start(config, node_bin, &cell_logs).await?;
            let mut rewritten = 0;
            for number in 0..config.trials {
                if network.status(MERCHANT).await?.height >= MAX_BLOCKS_A_NETWORK {
                    network.cluster.stop().await;
                    network = Network::start(config, node_bin, &cell_logs).await?;
                }
                let trial = network
                    .trial(
                        share,
                        confirmations,
                        config.give_up_behind,
                        number,
                        &mut rng,
                    )
                    .await?;
                rewritten += usize::from(trial.outcome == Outcome::Rewritten);
                trials.push(trial);
            }
            network.cluster.stop().await;
            tracing::info!(
                q = share,
                z = confirmations,
                trials = config.trials,
                rewritten,
                secs = began.elapsed().as_secs_f64(),
                "cell done"
            );
        }
    }
    Ok(AttackRecord {
        config: config.clone(),
        trials,
        took_secs: began.elapsed().as_secs_f64(),
    })
}

/// The attacker (node 0, linked with nobody) and the honest mesh.
struct Network {
    cluster: Cluster,
    apis: Vec<String>,
    http: reqwest::Client,
}

impl Network {
    async fn start(
        config: &AttackConfig,
        node_bin: &Path,
        log_dir: &Path,
    ) -> Result<Self, AttackError> {
        let spec = NetworkSpec {
            link: LinkModel {
                latency: Duration::from_secs_f64(config.latency_ms / 1000.0),
                jitter: Duration::ZERO,
                loss: 0.0,
            },
            seed: config.seed,
            difficulty: config.difficulty,
            sync_interval_secs: 5,
            retarget: None,
            // The runner decides who finds each block; the node finds it flat out.
            miners: vec![
                MinerSpec {
                    hash_rate: None,
                    simulated_mining_seed: None,
                };
                config.honest_nodes + 1
            ],
        };
        let topology = Topology::apart_from_mesh(config.honest_nodes);
        let cluster = Cluster::start(&spec, &topology, node_bin, log_dir).await?;
        let apis = cluster.api_urls();
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_default();
        Ok(Network {
            cluster,
            apis,
            http,
        })
    }

    fn honest(&self) -> std::ops::Range<usize> {
        MERCHANT..self.apis.len()
    }

    async fn trial(
        &self,
        share: f64,
        confirmations: u32,
        give_up_behind: u32,
        number: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<TrialRecord, AttackError> {
        let fork = self.status(MERCHANT).await?;
        let post = self.pay(share, confirmations, number).await?;
        let mut race = Race::new(confirmations, give_up_behind);
        let mut finders = String::new();
        let mut ties_kept = 0;
        let mut shown_up_to = fork.height;
        loop {
            let finder = if rng.random_bool(share) {
                Finder::Attacker
            } else {
                Finder::Honest
            };
            finders.push(finder.letter());
            match finder {
                Finder::Attacker => self.mine(ATTACKER).await?,
                Finder::Honest => {
                    let miner = rng.random_range(self.honest());
                    self.mine(miner).await?;
                    let tip = self.status(miner).await?.tip;
                    self.wait_for_honest_tip(tip).await?;
                    if !finders[..finders.len() - 1].contains('H') {
                        self.check_confirmed_at(&post, fork.height + 1).await?;
                    }
                }
            }
            match race.found(finder) {
                Move::Mine => {}
                Move::GiveUp => {
                    self.hand_the_attacker_the_honest_chain(fork.height).await?;
                    return Ok(TrialRecord {
                        attacker_share: share,
                        confirmations,
                        finders,
                        outcome: Outcome::GaveUp,
                        ties_kept,
                        reverted: 0,
                        post_kept: true,
                    });
                }
                Move::Publish => {
                    let (outcome, tip) = self.publish(shown_up_to).await?;
                    shown_up_to = tip.1;
                    if outcome == BlockOutcome::Reorganized {
                        self.wait_for_honest_tip(tip.0).await?;
                        return Ok(TrialRecord {
                            attacker_share: share,
                            confirmations,
                            reverted: finders.matches('H').count() as u64,
                            finders,
                            outcome: Outcome::Rewritten,
                            ties_kept,
                            post_kept: self.pending_everywhere(&post).await?,
                        });
                    }
                    ties_kept += 1;
                    race.shown();
                }
            }
        }
    }

    /// Sends the trial's post to every honest node (the same post, so one id) and returns
    /// its id, in hex. Each holds it pending before the first honest block is mined.
    async fn pay(
        &self,
        share: f64,
        confirmations: u32,
        number: usize,
    ) -> Result<String, AttackError> {
        let post = NewTransaction {
            author: "merchant".to_owned(),
            content: format!("payment {number} of the race at q = {share}, z = {confirmations}"),
            timestamp: Some(unix_now_f64()),
            public_key: None,
            signature: None,
            reply_to: None,
            handle: None,
        };
        // The merchant's node hears of it first; the others may already have it by
        // gossip, which they answer with 409.
        let mut id = None;
        for node in self.honest() {
            let response = self
                .http
                .post(format!("{}/new_transaction", self.apis[node]))
                .json(&post)
                .send()
                .await;
            let failed = |reason: String| AttackError::Node {
                node,
                what: "POST /new_transaction",
                reason,
            };
            let response = response.map_err(|error| failed(error.to_string()))?;
            match response.status() {
                reqwest::StatusCode::CREATED => {
                    let created: Created = response
                        .json()
                        .await
                        .map_err(|error| failed(error.to_string()))?;
                    id.get_or_insert(created.id.to_string());
                }
                reqwest::StatusCode::CONFLICT if id.is_some() => {}
                status => {
                    let body = response.text().await.unwrap_or_default();
                    return Err(failed(format!("answered {status}: {body}")));
                }
            }
        }
        id.ok_or_else(|| AttackError::Unexpected {
            node: MERCHANT,
            what: "no honest node took the post".to_owned(),
        })
    }

    async fn status(&self, node: usize) -> Result<Status, AttackError> {
        let request = self.http.get(format!("{}/status", self.apis[node]));
        answer(node, "GET /status", request).await
    }

    /// Asks `node` for one block.
    async fn mine(&self, node: usize) -> Result<(), AttackError> {
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
            MineOutcome::Mined { .. } => Ok(()),
            MineOutcome::NothingToMine => Err(failed(format!("it mined nothing: {text}"))),
        }
    }

    /// Waits until every honest node's tip is `tip`.
    async fn wait_for_honest_tip(&self, tip: BlockHash) -> Result<(), AttackError> {
        let deadline = Instant::now() + AGREEMENT_TIMEOUT;
        for node in self.honest() {
            while self.status(node).await?.tip != tip {
                if Instant::now() >= deadline {
                    return Err(AttackError::Unexpected {
                        node,
                        what: format!("not on the honest tip {tip} after {AGREEMENT_TIMEOUT:?}"),
                    });
                }
                tokio::time::sleep(AGREEMENT_POLL).await;
            }
        }
        Ok(())
    }

    /// Checks that the first honest block, at `height`, confirms the trial's post.
    async fn check_confirmed_at(&self, post: &str, height: u64) -> Result<(), AttackError> {
        let found = self.post_state(MERCHANT, post).await?;
        match found.block {
            Some(block) if found.status == PostState::Confirmed && block.index == height => Ok(()),
            _ => Err(AttackError::Unexpected {
                node: MERCHANT,
                what: format!("the first honest block, at {height}, does not confirm the post"),
            }),
        }
    }

    async fn post_state(&self, node: usize, post: &str) -> Result<TransactionStatus, AttackError> {
        let request = self
            .http
            .get(format!("{}/transactions/{post}", self.apis[node]));
        answer(node, "GET /transactions/{id}", request).await
    }

    /// Whether every honest node holds `post` as pending again. A node that took the
    /// branch by gossip may show its new tip on `/status` a moment before its store has
    /// committed the change that `/transactions` reads, so each gets a while.
    async fn pending_everywhere(&self, post: &str) -> Result<bool, AttackError> {
        let deadline = Instant::now() + AGREEMENT_TIMEOUT;
        for node in self.honest() {
            while self.post_state(node, post).await?.status != PostState::Pending {
                if Instant::now() >= deadline {
                    return Ok(false);
                }
                tokio::time::sleep(AGREEMENT_POLL).await;
            }
        }
        Ok(true)
    }

    /// Posts the attacker's blocks above `shown_up_to` to the merchant's node, in order;
    /// returns what the node said of the last, and the attacker's tip (hash, height).
    async fn publish(
        &self,
        shown_up_to: u64,
    ) -> Result<(BlockOutcome, (BlockHash, u64)), AttackError> {
        let tip = self.status(ATTACKER).await?;
        let blocks = self.blocks(ATTACKER, shown_up_to + 1, tip.height).await?;
        let mut outcomes = Vec::with_capacity(blocks.len());
        for block in &blocks {
            outcomes.push(self.add_block(MERCHANT, block).await?);
        }
        // A branch two or more ahead wins at the block that makes it heavier; the ones
        // after extend it.
        let took_it = outcomes
            .iter()
            .position(|outcome| *outcome == BlockOutcome::Reorganized)
            .is_some_and(|at| {
                outcomes[at + 1..]
                    .iter()
                    .all(|outcome| *outcome == BlockOutcome::Extended)
            });
        let kept_its_own = !outcomes.is_empty()
            && outcomes
                .iter()
                .all(|outcome| *outcome == BlockOutcome::SideBranch);
        match (took_it, kept_its_own) {
            (true, _) => Ok((BlockOutcome::Reorganized, (tip.tip, tip.height))),
            (_, true) => Ok((BlockOutcome::SideBranch, (tip.tip, tip.height))),
            _ => Err(AttackError::Unexpected {
                node: MERCHANT,
                what: format!(
                    "the attacker's blocks {} to {} were taken as {outcomes:?}",
                    shown_up_to + 1,
                    tip.height
                ),
            }),
        }
    }

    /// Gives the attacker the honest blocks above `fork_height`, in order, and checks that
    /// it follows them.
    async fn hand_the_attacker_the_honest_chain(
        &self,
        fork_height: u64,
    ) -> Result<(), AttackError> {
        let honest = self.status(MERCHANT).await?;
        for block in self
            .blocks(MERCHANT, fork_height + 1, honest.height)
            .await?
        {
            self.add_block(ATTACKER, &block).await?;
        }
        let attacker = self.status(ATTACKER).await?;
        if attacker.tip == honest.tip {
            Ok(())
        } else {
            Err(AttackError::Unexpected {
                node: ATTACKER,
                what: format!(
                    "given the honest chain to {}, it stayed on {}",
                    honest.tip, attacker.tip
                ),
            })
        }
    }

    /// `node`'s best-chain blocks at heights `from..=to`.
    async fn blocks(&self, node: usize, from: u64, to: u64) -> Result<Vec<BlockJson>, AttackError> {
        let mut blocks: Vec<BlockJson> = Vec::new();
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

    async fn add_block(&self, node: usize, block: &BlockJson) -> Result<BlockOutcome, AttackError> {
        let request = self
            .http
            .post(format!("{}/add_block", self.apis[node]))
            .json(block);
        let added: AddBlockResponse = answer(node, "POST /add_block", request).await?;
        Ok(added.outcome)
    }
}

/// A successful answer's JSON body.
async fn answer<T: serde::de::DeserializeOwned>(
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
