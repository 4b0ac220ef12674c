//! One run, start to finish: bring the network up, mine and post for the configured time,
//! wait for the nodes to agree, collect what they ended with, and bring it down.
//!
//! Mining is driven by the runner, so it starts and stops at the same moment on every
//! node: one task per node loops on `GET /mine` (each call mines one block) and is
//! aborted at the end, which drops the connection and stops the node's search. Posts
//! arrive as a Poisson process (exponential gaps, seeded) at `posts_per_sec`, each to a
//! seeded random node. Afterwards, nodes left split between tips of equal work are
//! decided as the network would decide them: by mining one more block.
//!
//! **Boundary:** produces the [`RunRecord`]; it does not read node events or compute
//! results (the analysis does).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chainpost_chain::BlockHash;
use chainpost_edge::clock::unix_now_f64;
use chainpost_wire::{
    BlockDetail, ChainPage, ChainQuery, Created, MAX_PAGE, NewTransaction, Status, TreeQuery,
    TreeView,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cluster::{Cluster, ClusterError, MinerSpec, NetworkSpec};
use crate::config::ExperimentConfig;
use crate::proxy::LinkModel;
use crate::record::{BlockSize, ChainBlock, FinalTip, PostSubmission, RunRecord};
use crate::regions::Placement;

/// Longest any single request of the runner (other than `/mine`) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the runner asks the nodes for their tips while waiting for agreement.
const SETTLE_POLL: Duration = Duration::from_millis(150);
/// Random stream of the post schedule; links use streams `from << 32 | to`, which never
/// reach this one.
const POST_STREAM: u64 = u64::MAX;
/// Attempts at reading a consistent main chain from a node that is still reorganizing.
const CHAIN_ATTEMPTS: usize = 3;

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The network could not be brought up.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// A node exited while the run needed it.
    #[error("node {node} exited during the run ({status}); see its log {log}")]
    NodeDied {
        /// The node.
        node: usize,
        /// How it ended.
        status: String,
        /// Its log file.
        log: PathBuf,
    },
    /// A node did not answer what the runner asked at the end of the run.
    #[error("node {node} did not answer {what}: {reason}")]
    Node {
        /// The node.
        node: usize,
        /// What was asked.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A total rate this close to what one core hashes leaves the nodes CPU-bound: each then
/// gets what the scheduler gives it, whatever share it was configured with.
const CPU_BOUND_HASHES_PER_SEC: u64 = 2_000_000;
/// Below this, rounding to whole hashes per second distorts a node's share.
const COARSE_HASHES_PER_SEC: u64 = 100;

/// Warns when the nodes cannot mine at the rates the run records (and the prediction uses).
fn warn_of_unfaithful_hash_rates(config: &ExperimentConfig) {
    let rates: Vec<u64> = (0..config.nodes)
        .map(|node| config.hash_rate(node))
        .collect();
    let total: u64 = rates.iter().sum();
    if total > CPU_BOUND_HASHES_PER_SEC {
        tracing::warn!(
            total,
            "the network's hash rate approaches what a core computes, so the nodes' real shares \
             may differ from the configured ones; lower difficulty or raise block_interval_secs"
        );
    }
    if rates.iter().any(|&rate| rate < COARSE_HASHES_PER_SEC) {
        tracing::warn!(
            "a node mines fewer than {COARSE_HASHES_PER_SEC} hashes per second, so rounding \
             distorts its share; raise difficulty or lower block_interval_secs"
        );
    }
}

/// Runs the experiment `config` describes with the `node_bin` executable; node logs and
/// event streams go to `config.out_dir/logs`, which the record names by absolute path.
pub async fn run(config: &ExperimentConfig, node_bin: &Path) -> Result<RunRecord, RunError> {
    let topology = config.topology.build(config.nodes, config.seed);
    tracing::info!(
        nodes = config.nodes,
        topology = config.topology.name(),
        links = topology.links().len(),
        latency_ms = config.latency_ms,
        "starting the network"
    );
    warn_of_unfaithful_hash_rates(config);
    let began = Instant::now();
    // The record names the event streams by absolute path, so it can be read from anywhere.
    let out_dir = std::fs::create_dir_all(&config.out_dir)
        .and_then(|()| std::fs::canonicalize(&config.out_dir))
        .map_err(|source| RunError::Write {
            path: config.out_dir.clone(),
            source,
        })?;
    let log_dir = out_dir.join("logs");
    let placement = config.placement();
    let network = network(config, placement.clone());
    let mut cluster = Cluster::start(&network, &topology, node_bin, &log_dir).await?;
    tracing::info!(
        secs = began.elapsed().as_secs_f64(),
        "every node is linked with its neighbours"
    );
    let apis = cluster.api_urls();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();

    tracing::info!(secs = config.duration_secs, "mining");
    let mining_started_at = unix_now_f64();
    let mut miners = JoinSet::new();
    for api in &apis {
        miners.spawn(mine_forever(http.clone(), api.clone()));
    }
    let deadline = Instant::now() + Duration::from_secs_f64(config.duration_secs);
    let posting = post_until(config, &http, &apis, deadline);
    let in_flight = tokio::select! {
        in_flight = posting => in_flight,
        (node, status) = cluster.first_exit() => {
            return Err(RunError::NodeDied {
                node,
                status: status.map_or_else(|error| error.to_string(), |status| status.to_string()),
                log: cluster.logs().swap_remove(node),
            });
        }
    };
    miners.abort_all();
    let mining_stopped_at = unix_now_f64();
    let posts = collect_posts(in_flight).await;
    tracing::info!(posts = posts.len(), "mining stopped");

    let settled_after_secs = settle(&http, &apis, config).await;
    match settled_after_secs {
        Some(secs) => tracing::info!(secs, "every node is on the same tip"),
        None => tracing::warn!(
            secs = config.settle_timeout_secs,
            "the nodes still disagree; giving up waiting"
        ),
    }
    for node in cluster.unlinked_nodes(&topology).await {
        tracing::warn!(
            node,
            "the node's peers no longer match the topology: it dropped a link during the run"
        );
    }
    let final_tips = final_tips(&http, &apis).await?;
    let main_chain = main_chain(&http, &apis, &final_tips).await?;
    let block_sizes = block_sizes(&http, &apis).await?;
    tracing::info!(
        height = main_chain.last().map_or(0, |block| block.height),
        blocks = block_sizes.len(),
        "main chain and block sizes collected"
    );
    let mut link_bytes = 0;
    for (node, relay) in cluster.relays().iter().enumerate() {
        let counts = relay.counts();
        let bytes = counts.bytes.load(std::sync::atomic::Ordering::Relaxed);
        link_bytes += bytes;
        tracing::info!(
            node,
            forwarded = counts.forwarded.load(std::sync::atomic::Ordering::Relaxed),
            lost = counts.lost.load(std::sync::atomic::Ordering::Relaxed),
            refused = counts.refused.load(std::sync::atomic::Ordering::Relaxed),
            bytes,
            "relay"
        );
    }
    let events = cluster.event_streams();
    cluster.stop().await;

    Ok(RunRecord {
        nodes: config.nodes,
        hash_shares: config.hash_shares.clone(),
        target_block_interval_secs: config.block_interval_secs,
        link_latency_ms: config.latency_ms,
        link_loss: config.loss,
        link_bandwidth_bytes_per_sec: config.bandwidth_bytes_per_sec(),
        posts_per_sec: Some(config.posts_per_sec),
        link_bytes: Some(link_bytes),
        regions: placement
            .as_ref()
            .map(|placement| placement.regions.clone()),
        node_regions: placement
            .map(|placement| placement.region_of)
            .unwrap_or_default(),
        topology: config.topology.name().to_owned(),
        links: topology.links().to_vec(),
        mining_started_at,
        mining_stopped_at,
        events,
        posts,
        final_tips,
        main_chain,
        block_sizes,
        settled_after_secs,
    })
}

/// The nodes and links of `config`'s run, its nodes placed as `placement` says.
fn network(config: &ExperimentConfig, placement: Option<Placement>) -> NetworkSpec {
    NetworkSpec {
        link: LinkModel {
            latency: Duration::from_secs_f64(config.latency_ms / 1000.0),
            jitter: Duration::from_secs_f64(config.jitter_ms / 1000.0),
            loss: config.loss,
            bandwidth: config.bandwidth_bytes_per_sec(),
        },
        placement,
        seed: config.seed,
        difficulty: config.difficulty,
        sync_interval_secs: config.sync_interval_secs,
        retarget: config.retarget,
        miners: (0..config.nodes)
            .map(|node| MinerSpec {
                hash_rate: Some(config.hash_rate(node)),
                simulated_mining_seed: config.simulated_mining_seed(node),
            })
            .collect(),
    }
}

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), RunError> {
    let write_error = |source| RunError::Write {
        path: path.to_owned(),
        source,
    };
    let text = serde_json::to_vec_pretty(value).map_err(|error| write_error(error.into()))?;
    std::fs::write(path, text).map_err(write_error)
}

/// Asks `api` to mine, block after block, until the task is aborted.
async fn mine_forever(http: reqwest::Client, api: String) {
    let url = format!("{api}/mine");
    loop {
        // No timeout: a block takes as long as proof of work takes.
        let outcome = match http.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                response.text().await.map(drop).map_err(|e| e.to_string())
            }
            Ok(response) => Err(format!("answered {}", response.status())),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = outcome {
            tracing::warn!(%api, %error, "mining request failed");
            // Keeps a node that refuses from being asked in a tight loop.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Submits posts until `deadline`; returns the submissions still in flight or done.
async fn post_until(
    config: &ExperimentConfig,
    http: &reqwest::Client,
    apis: &[String],
    deadline: Instant,
) -> JoinSet<Option<PostSubmission>> {
    let mut submissions = JoinSet::new();
    if config.posts_per_sec <= 0.0 {
        tokio::time::sleep_until(deadline).await;
        return submissions;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(POST_STREAM);
    let mut at = Instant::now();
    for number in 0u64.. {
        // Exponential gaps make arrivals a Poisson process; 1 - u is in (0, 1].
        let gap = -(1.0 - rng.random::<f64>()).ln() / config.posts_per_sec;
        at += Duration::from_secs_f64(gap);
        if at >= deadline {
            break;
        }
        let node = rng.random_range(0..apis.len());
        tokio::time::sleep_until(at).await;
        let post = NewTransaction {
            author: "experiment".to_owned(),
            content: post_content(number, config.seed, config.post_chars),
            timestamp: None,
            public_key: None,
            signature: None,
            reply_to: None,
            handle: None,
        };
        let request = http
            .post(format!("{}/new_transaction", apis[node]))
            .timeout(REQUEST_TIMEOUT)
            .json(&post);
        submissions.spawn(submit(request, node));
    }
    tokio::time::sleep_until(deadline).await;
    submissions
}

/// The content of post `number`: its number and the run's seed, padded to `chars`
/// characters when given (validation leaves room for the text).
fn post_content(number: u64, seed: u64, chars: Option<usize>) -> String {
    let mut content = format!("post {number} of the run with seed {seed}");
    if let Some(chars) = chars {
        let padding = chars.saturating_sub(content.len());
        content.extend(std::iter::repeat_n('.', padding));
    }
    content
}

async fn submit(request: reqwest::RequestBuilder, node: usize) -> Option<PostSubmission> {
    let outcome = match request.send().await {
        Ok(response) if response.status() == reqwest::StatusCode::CREATED => response
            .json::<Created>()
            .await
            .map_err(|error| error.to_string()),
        Ok(response) => Err(format!("answered {}", response.status())),
        Err(error) => Err(error.to_string()),
    };
    match outcome {
        Ok(created) => Some(PostSubmission {
            id: created.id.to_string(),
            node,
            submitted_at: unix_now_f64(),
        }),
        Err(error) => {
            tracing::warn!(node, %error, "post not accepted");
            None
        }
    }
}

/// The acknowledged posts, in the order they were acknowledged.
async fn collect_posts(mut in_flight: JoinSet<Option<PostSubmission>>) -> Vec<PostSubmission> {
    let mut posts = Vec::new();
    while let Some(done) = in_flight.join_next().await {
        if let Ok(Some(post)) = done {
            posts.push(post);
        }
    }
    posts.sort_by(|a, b| a.submitted_at.total_cmp(&b.submitted_at));
    posts
}

async fn status(http: &reqwest::Client, api: &str) -> Result<Status, String> {
    get_json(http.get(format!("{api}/status"))).await
}

/// The error of `node` not answering `what`, from the reason.
fn unanswered(node: usize, what: &'static str) -> impl FnOnce(String) -> RunError {
    move |reason| RunError::Node { node, what, reason }
}

/// A successful answer's JSON body, or why there is none.
async fn get_json<T: serde::de::DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<T, String> {
    let response = request
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|error| error.to_string())?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    response.json().await.map_err(|error| error.to_string())
}

/// Waits until every node reports the same tip and none is mining (a search that has not
/// yet noticed its request was dropped could still add a block); the seconds that took, or
/// `None` after `settle_timeout_secs`.
///
/// Nodes split between tips of equal work never agree on their own once mining stops: each
/// keeps the tip it saw first. When the tips stop changing for a sync interval (plus a
/// round trip), every node mines again until one block is found, as the network's next
/// block would have decided the split; that block lies outside the mining window, so the
/// analysis does not count it.
async fn settle(http: &reqwest::Client, apis: &[String], config: &ExperimentConfig) -> Option<f64> {
    let began = Instant::now();
    let deadline = began + Duration::from_secs_f64(config.settle_timeout_secs);
    let round_trip =
        Duration::from_secs_f64(2.0 * (config.longest_latency_ms() + config.jitter_ms) / 1000.0);
    let quiet = Duration::from_secs(config.sync_interval_secs) + round_trip;
    let mut last_tips = Vec::new();
    let mut unchanged_since = Instant::now();
    loop {
        let statuses: Vec<Option<Status>> =
            futures_util::future::join_all(apis.iter().map(|api| status(http, api)))
                .await
                .into_iter()
                .map(Result::ok)
                .collect();
        let tips: Vec<Option<BlockHash>> = statuses
            .iter()
            .map(|status| status.as_ref().map(|status| status.tip))
            .collect();
        let searching = statuses
            .iter()
            .any(|status| status.as_ref().is_none_or(|status| status.mining));
        let agreed =
            tips.first().is_some_and(Option::is_some) && tips.iter().all(|tip| *tip == tips[0]);
        if agreed && !searching {
            return Some(began.elapsed().as_secs_f64());
        }
        if Instant::now() >= deadline {
            return None;
        }
        if tips != last_tips {
            last_tips = tips;
            unchanged_since = Instant::now();
        } else if !agreed && !searching && unchanged_since.elapsed() >= quiet {
            tracing::info!("the nodes are split between tips; mining one more block to decide");
            mine_one_block(http, apis, deadline).await;
            unchanged_since = Instant::now();
        }
        tokio::time::sleep(SETTLE_POLL).await;
    }
}

/// Lets every node mine until one of them has mined a block (or `deadline` passes).
async fn mine_one_block(http: &reqwest::Client, apis: &[String], deadline: Instant) {
    let mut miners = JoinSet::new();
    for api in apis {
        let request = http.get(format!("{api}/mine"));
        miners.spawn(async move { request.send().await?.error_for_status()?.text().await });
    }
    let first_block = async {
        // A node that fails to answer does not decide anything; wait for the others.
        while let Some(done) = miners.join_next().await {
            if let Ok(Ok(_)) = done {
                return;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, first_block).await;
    // Dropping the other requests stops their searches.
    miners.abort_all();
}

async fn final_tips(http: &reqwest::Client, apis: &[String]) -> Result<Vec<FinalTip>, RunError> {
    let mut tips = Vec::with_capacity(apis.len());
    for (node, api) in apis.iter().enumerate() {
        let status = status(http, api)
            .await
            .map_err(unanswered(node, "GET /status"))?;
        tips.push(FinalTip {
            hash: status.tip.to_string(),
            height: status.height,
        });
    }
    Ok(tips)
}

/// Every block above genesis any node holds, side blocks included, by height then hash,
/// each with its size as gossip sends it (the JSON of its `POST /add_block`).
async fn block_sizes(http: &reqwest::Client, apis: &[String]) -> Result<Vec<BlockSize>, RunError> {
    // Hash → (the node that holds it, height, posts).
    let mut held: HashMap<String, (usize, u64, usize)> = HashMap::new();
    for (node, api) in apis.iter().enumerate() {
        let mut from = 0;
        loop {
            let query = TreeQuery { from: Some(from) };
            let page: TreeView = get_json(http.get(format!("{api}/tree")).query(&query))
                .await
                .map_err(unanswered(node, "GET /tree"))?;
            let full = page.blocks.len() >= MAX_PAGE;
            let top = page.blocks.iter().map(|block| block.index).max();
            for block in page.blocks.into_iter().filter(|block| block.index > 0) {
                held.entry(block.hash.to_string()).or_insert((
                    node,
                    block.index,
                    block.transactions,
                ));
            }
            // A full page may have cut the blocks of its top height short: read it again.
            match top {
                Some(top) if full && top > from => from = top,
                _ => break,
            }
        }
    }
    let mut sizes = Vec::with_capacity(held.len());
    for (hash, (node, height, posts)) in held {
        let detail: BlockDetail = get_json(http.get(format!("{}/blocks/{hash}", apis[node])))
            .await
            .map_err(unanswered(node, "GET /blocks/{hash}"))?;
        let bytes = serde_json::to_vec(&detail.block).map_or(0, |json| json.len());
        sizes.push(BlockSize {
            hash,
            height,
            posts,
            bytes,
        });
    }
    sizes.sort_by(|a, b| (a.height, &a.hash).cmp(&(b.height, &b.hash)));
    Ok(sizes)
}

/// The tip most nodes ended on (ties: the higher, then the smaller hash) and one node on it.
fn majority_tip(tips: &[FinalTip]) -> Option<(&FinalTip, usize)> {
    let mut counts: HashMap<(u64, &str), usize> = HashMap::new();
    for tip in tips {
        *counts.entry((tip.height, &tip.hash)).or_default() += 1;
    }
    let ((height, hash), _) = counts.into_iter().max_by(|(a, a_count), (b, b_count)| {
        a_count.cmp(b_count).then(a.0.cmp(&b.0)).then(b.1.cmp(a.1))
    })?;
    let node = tips
        .iter()
        .position(|tip| tip.height == height && tip.hash == hash)?;
    Some((&tips[node], node))
}

/// The best chain of the majority tip, read page by page from a node on that tip.
async fn main_chain(
    http: &reqwest::Client,
    apis: &[String],
    tips: &[FinalTip],
) -> Result<Vec<ChainBlock>, RunError> {
    let Some((tip, node)) = majority_tip(tips) else {
        return Ok(Vec::new());
    };
    let mut last_reason = String::new();
    for _ in 0..CHAIN_ATTEMPTS {
        match read_chain(http, &apis[node], tip).await {
            Ok(chain) => return Ok(chain),
            // The node moved to another tip between pages (it had not settled).
            Err(reason) => last_reason = reason,
        }
    }
    Err(unanswered(node, "GET /chain with the main chain")(
        last_reason,
    ))
}

async fn read_chain(
    http: &reqwest::Client,
    api: &str,
    tip: &FinalTip,
) -> Result<Vec<ChainBlock>, String> {
    let mut chain: Vec<ChainBlock> = Vec::new();
    while chain.len() as u64 <= tip.height {
        let from = chain.len();
        let query = ChainQuery {
            from: Some(from as u64),
            limit: Some(MAX_PAGE),
        };
        let page: ChainPage = get_json(http.get(format!("{api}/chain")).query(&query)).await?;
        if page.chain.is_empty() {
            return Err(format!("the chain ends below height {from}"));
        }
        for block in page.chain {
            let expected_parent = chain.last().map(|parent| parent.hash.as_str());
            if block.index != chain.len() as u64
                || expected_parent.is_some_and(|parent| parent != block.previous_hash)
            {
                return Err(format!(
                    "block {} does not follow the page before",
                    block.hash
                ));
            }
            chain.push(ChainBlock {
                hash: block.hash,
                height: block.index,
                post_ids: block
                    .transactions
                    .into_iter()
                    .filter_map(|tx| tx.id)
                    .collect(),
            });
        }
    }
    chain.truncate(
        usize::try_from(tip.height)
            .unwrap_or(usize::MAX)
            .saturating_add(1),
    );
    match chain.last() {
        Some(last) if last.hash == tip.hash => Ok(chain),
        _ => Err(format!("the chain no longer ends at {}", tip.hash)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tip(hash: &str, height: u64) -> FinalTip {
        FinalTip {
            hash: hash.into(),
            height,
        }
    }

    #[test]
    fn posts_are_padded_to_their_length_and_stay_distinct() {
        assert_eq!(post_content(7, 3, None), "post 7 of the run with seed 3");
        let padded = post_content(7, 3, Some(100));
        assert_eq!(padded.chars().count(), 100);
        assert!(padded.starts_with("post 7 of the run with seed 3."));
        assert_ne!(post_content(8, 3, Some(100)), padded);
    }

    #[test]
    fn the_main_chain_is_the_tip_most_nodes_have() {
        let tips = [tip("b", 5), tip("a", 6), tip("b", 5)];
        assert_eq!(majority_tip(&tips), Some((&tips[0], 0)));
    }

    #[test]
    fn a_tie_goes_to_the_higher_tip_then_the_smaller_hash() {
        let tips = [tip("b", 5), tip("a", 6)];
        assert_eq!(majority_tip(&tips), Some((&tips[1], 1)));
        let tips = [tip("d", 6), tip("c", 6)];
        assert_eq!(majority_tip(&tips), Some((&tips[1], 1)));
        assert_eq!(majority_tip(&[]), None);
    }
}
