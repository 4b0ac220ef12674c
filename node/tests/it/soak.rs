//! Load: three peered nodes, each mining continuously, under continuous posting for
//! `CHAINPOST_SOAK_SECS` seconds (60 by default). Afterwards no acknowledged post is
//! missing from any node's chain, the three agree, memory grew no faster than the chain
//! explains, and each node's runtime has about the tasks it had when idle.
//!
//! Figures (posts per second, blocks, memory, tasks) are printed for quoting a longer run:
//! `CHAINPOST_SOAK_SECS=300 cargo test -p node --test it soak -- --nocapture`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Api, ChildNode, posts_in_chain, wait_until};

const DIFFICULTY: u32 = 12;
/// Writers per node, each on its own connection.
const WRITERS_PER_NODE: usize = 2;
/// Guards waits on other processes against hangs only.
const PATIENCE: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_under_continuous_load_lose_no_post_and_leak_neither_memory_nor_tasks() {
    let duration = Duration::from_secs(
        std::env::var("CHAINPOST_SOAK_SECS")
            .ok()
            .and_then(|secs| secs.parse().ok())
            .unwrap_or(60),
    );
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("temp dir"))
        .collect();
    let flags = ["--mine", "--mining-threads", "1"];
    let first = ChildNode::start_with(dirs[0].path(), DIFFICULTY, &flags).0;
    let first_address = first.base.clone();
    let joined = [&flags[..], &["--peer", &first_address]].concat();
    let nodes = [
        first,
        ChildNode::start_with(dirs[1].path(), DIFFICULTY, &joined).0,
        ChildNode::start_with(dirs[2].path(), DIFFICULTY, &joined).0,
    ];
    for node in &nodes {
        wait_until("every node knows the other two", PATIENCE, || async {
            node.peers().await.len() == 2
        })
        .await;
    }
    let idle = task_counts(&nodes).await;

    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for (index, node) in nodes.iter().enumerate() {
        for writer in 0..WRITERS_PER_NODE {
            // A client of its own, dropped when the writer ends, so its connections close.
            let api = Api::new(node.base.clone());
            let author = format!("node {index} writer {writer}");
            writers.push(tokio::spawn(write_while(
                api,
                author,
                writing.clone(),
                acknowledged.clone(),
            )));
        }
    }
    let started = Instant::now();
    let warm_up = (duration / 5).max(Duration::from_secs(5));
    let mut samples = Vec::new();
    let mut every_second = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < duration {
        every_second.tick().await;
        samples.push(Sample {
            at: started.elapsed(),
            rss: nodes.each(|node| rss_bytes(node.pid())),
            posts: acknowledged.lock().expect("lock").len(),
        });
    }
    writing.store(false, Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("writer task");
    }
    let posted = acknowledged.lock().expect("lock").len();
    let load_seconds = started.elapsed().as_secs_f64();

    let tip = settle(&nodes, &acknowledged).await;
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let mut chains = Vec::new();
    for node in &nodes {
        let chain = node.chain().await;
        let confirmed: HashSet<String> = posts_in_chain(&chain)
            .into_iter()
            .map(|(_, tx)| tx["id"].as_str().expect("id").to_owned())
            .collect();
        let lost: Vec<_> = acknowledged.difference(&confirmed).collect();
        assert!(
            lost.is_empty(),
            "{}: {} acknowledged posts lost: {lost:?}",
            node.base,
            lost.len()
        );
        chains.push(chain["chain"].clone());
    }
    assert!(
        chains.windows(2).all(|pair| pair[0] == pair[1]),
        "the nodes agree on one chain"
    );

    let warm = samples
        .iter()
        .find(|sample| sample.at >= warm_up)
        .expect("the run outlasts its warm-up");
    let last = samples.last().expect("samples");
    let height = nodes[0].height().await;
    let settled_rss = nodes.each(|node| rss_bytes(node.pid()));
    eprintln!(
        "soak: {load_seconds:.0} s, {posted} posts ({:.0}/s) on 3 nodes, height {height}, tip {tip}",
        posted as f64 / load_seconds
    );
    eprintln!(
        "soak: RSS MiB at {:.0} s {:?}, at {:.0} s {:?}, settled {:?}",
        warm.at.as_secs_f64(),
        mib(&warm.rss),
        last.at.as_secs_f64(),
        mib(&last.rss),
        mib(&settled_rss),
    );
    let posts_since_warm = last.posts - warm.posts;
    for (node, (before, after)) in nodes.iter().zip(warm.rss.iter().zip(&last.rss)) {
        let growth = after.saturating_sub(*before);
        let allowed = MEMORY_NOISE + SEARCH_WRITER_MEMORY + posts_since_warm * MEMORY_PER_POST;
        assert!(
            growth <= allowed,
            "{}: RSS grew {growth} bytes over {posts_since_warm} posts after the warm-up; \
             the chain explains at most {allowed}",
            node.base
        );
    }

    // Peers keep the connections gossip opened until their pools' idle timeout, each with
    // a task on both ends; every other task must be gone with the load.
    for (node, idle) in nodes.iter().zip(&idle) {
        wait_until("the load's tasks are gone", PATIENCE, || async {
            TaskCount::of(node).await.beyond_connections() <= idle.beyond_connections() + TASK_SLACK
        })
        .await;
    }
    eprintln!(
        "soak: runtime tasks / open sockets when idle {:?}, after the load {:?}",
        idle.map(|count| (count.tasks, count.sockets)),
        task_counts(&nodes)
            .await
            .map(|count| (count.tasks, count.sockets)),
    );
}

/// RSS a node may gain after its warm-up whatever the load (allocator arenas settling).
const MEMORY_NOISE: usize = 8 << 20;
/// RSS the search index's writer may take, whenever it first needs it: it buffers up to
/// 15 MB of documents (tantivy's least budget, `search.rs`), whatever the chain's length.
const SEARCH_WRITER_MEMORY: usize = 15_000_000;
/// RSS a node may gain per post acknowledged by the network after the warm-up. Every post
/// stays in memory in the block tree and its index, and redb caches the pages of a file
/// that grows with the chain: debug builds measured about 2.4 KiB per post.
const MEMORY_PER_POST: usize = 4 << 10;
/// Tasks not driving a connection that a node may have beyond its idle count once the
/// load is over (a sync or a gossip retry that happens to run).
const TASK_SLACK: i64 = 4;

/// One reading of the three nodes' memory.
struct Sample {
    at: Duration,
    rss: [usize; 3],
    posts: usize,
}

trait EachNode {
    fn each<T>(&self, read: impl Fn(&ChildNode) -> T) -> [T; 3];
}

impl EachNode for [ChildNode; 3] {
    fn each<T>(&self, read: impl Fn(&ChildNode) -> T) -> [T; 3] {
        [read(&self[0]), read(&self[1]), read(&self[2])]
    }
}

/// Posts as `author` while `writing` holds; records every acknowledged post.
async fn write_while(
    api: Api,
    author: String,
    writing: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<HashSet<String>>>,
) {
    for i in 0.. {
        if !writing.load(Ordering::Relaxed) {
            return;
        }
        let response = api.new_transaction(&author, &format!("post {i}")).await;
        let status = response.status();
        let body: Value = response.json().await.expect("JSON answer");
        assert_eq!(status, StatusCode::CREATED, "{author}: {body}");
        let id = body["id"].as_str().expect("id").to_owned();
        acknowledged.lock().expect("lock").insert(id);
    }
}

/// Waits until every node has mined what it holds and all are on one tip; returns it.
/// Two nodes that mined the same height at once can each keep their own tip while
/// nothing is left to mine, so a post to the first node breaks such a tie.
async fn settle(nodes: &[ChildNode; 3], acknowledged: &Mutex<HashSet<String>>) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut last_nudge = Instant::now();
    loop {
        let mut statuses = Vec::new();
        for node in nodes {
            statuses.push(node.status().await);
        }
        let quiet = statuses
            .iter()
            .all(|status| status["mempool_size"] == 0 && status["mining"] == false);
        let tips: HashSet<&str> = statuses
            .iter()
            .filter_map(|status| status["tip"].as_str())
            .collect();
        if quiet && tips.len() == 1 {
            return tips.into_iter().next().expect("one tip").to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the nodes did not settle: {statuses:?}"
        );
        if quiet && last_nudge.elapsed() > Duration::from_secs(2) {
            let id = nodes[0].post("settle", "breaks a tie").await;
            acknowledged.lock().expect("lock").insert(id);
            last_nudge = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A node's tasks, and its open sockets: every HTTP connection, served or pooled for
/// calling a peer, has a task that drives it.
#[derive(Debug, Clone, Copy)]
struct TaskCount {
    tasks: i64,
    sockets: i64,
}

impl TaskCount {
    /// Reads the `chainpost_runtime_tasks` gauge over a connection that is not kept, then
    /// counts the process's sockets.
    async fn of(node: &ChildNode) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client builds");
        let text = http
            .get(node.url("/metrics"))
            .send()
            .await
            .expect("metrics answered")
            .text()
            .await
            .expect("metrics text");
        let tasks = text
            .lines()
            .find_map(|line| line.strip_prefix("chainpost_runtime_tasks "))
            .and_then(|count| count.trim().parse().ok())
            .expect("the runtime task gauge");
        let sockets = std::fs::read_dir(format!("/proc/{}/fd", node.pid()))
            .expect("the node's descriptors")
            .filter_map(Result::ok)
            .filter(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
            })
            .count() as i64;
        TaskCount { tasks, sockets }
    }

    /// Tasks that are not driving a connection (give or take the listener's socket).
    fn beyond_connections(&self) -> i64 {
        self.tasks - self.sockets
    }
}

async fn task_counts(nodes: &[ChildNode; 3]) -> [TaskCount; 3] {
    let mut counts = [TaskCount {
        tasks: 0,
        sockets: 0,
    }; 3];
    for (count, node) in counts.iter_mut().zip(nodes) {
        *count = TaskCount::of(node).await;
    }
    counts
}

/// A process's resident memory, from `/proc/<pid>/status`.
fn rss_bytes(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: usize = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib << 10
}

fn mib(bytes: &[usize; 3]) -> [usize; 3] {
    bytes.map(|bytes| bytes >> 20)
}
