//! Whole-node figures with the real `node` binary, measured from outside as a user would:
//!
//! - `ingest`: accepted posts per second and their latency under `wrk`, while a second
//!   `wrk` reads `/chain` pages from the same node;
//! - `memory`: resident memory of a node holding 100,000 posts, pending or confirmed;
//! - `stream`: how much memory serving a long chain's full `/chain` takes.
//!
//! `cargo bench -p node --bench load [-- ingest|memory|stream]`. Needs `wrk` on the PATH
//! (Debian: `apt-get install wrk`).

#![allow(missing_docs)]
#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chainpost_node::chain::{Block, BlockHash, ChainParams};
use chainpost_node::config::Config;
use chainpost_node::wire::BlockJson;
use serde::Deserialize;
use serde_json::Value;
use support::{ChildNode, InProcessNode, Posts, chain, median};
use tokio::runtime::Runtime;

const DIFFICULTY: u32 = 8;
const DIFFICULTY_ARG: &str = "8";

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    let runs = |name: &str| wanted.is_empty() || wanted.iter().any(|w| name.contains(w.as_str()));
    let runtime = Runtime::new().expect("runtime");
    if runs("ingest") {
        ingest(&runtime);
    }
    if runs("memory") {
        memory(&runtime);
    }
    if runs("stream") {
        stream(&runtime);
    }
}

/// What `benches/wrk/report.lua`, the load scripts' `done` hook, prints.
#[derive(Debug, Deserialize)]
struct WrkResult {
    requests: u64,
    duration_us: u64,
    non_2xx: u64,
    socket_errors: u64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

impl WrkResult {
    fn ok_per_second(&self) -> f64 {
        (self.requests - self.non_2xx) as f64 / (self.duration_us as f64 / 1e6)
    }
}

fn wrk(connections: u32, seconds: u32, script: &str, url: &str, script_args: &[String]) -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("benches/wrk")
        .join(script);
    let mut command = Command::new("wrk");
    command
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(script)
        .arg(url)
        .arg("--")
        .args(script_args);
    command
}

fn run_wrk(mut command: Command) -> WrkResult {
    let output = command
        .output()
        .expect("wrk runs (Debian: apt-get install wrk)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("WRK_RESULT "))
        .unwrap_or_else(|| panic!("wrk printed no result: {stdout}"));
    serde_json::from_str(line).expect("wrk result JSON")
}

/// Posts blocks one by one through `/add_block`, as a peer pushing them would.
async fn push_blocks(url: &str, blocks: &[(Block, BlockHash)]) {
    let http = reqwest::Client::new();
    for (block, _) in blocks {
        let response = http
            .post(format!("{url}/add_block"))
            .json(&BlockJson::from_block(block))
            .send()
            .await
            .expect("add_block answers");
        assert!(response.status().is_success(), "block refused");
    }
}

fn mempool_size(runtime: &Runtime, url: &str) -> u64 {
    runtime.block_on(status(url))["mempool_size"]
        .as_u64()
        .expect("mempool_size")
}

async fn status(url: &str) -> Value {
    reqwest::get(format!("{url}/status"))
        .await
        .expect("status answers")
        .json()
        .await
        .expect("status JSON")
}

/// Posts per second through `POST /new_transaction` from 64 connections, while 2 more
/// connections read a random 100-block page of a 1,000-block chain every 20 ms each.
/// Three rounds on fresh nodes (stores on disk, as a user runs them); the median round is
/// reported.
///
/// wrk corrects its latencies for coordinated omission, so one stall of S ms adds samples
/// up to S ms for every connection: p99 stays under 10 ms only while stalls above 10 ms add
/// up to less than 1% of the round. Rounds last 10 s, long enough that one pause of the
/// virtual machine does not decide the figure, and each reports what a [`MachineProbe`]
/// saw, to tell the machine's stalls from the node's own.
fn ingest(runtime: &Runtime) {
    const CHAIN: usize = 1_000;
    const SECONDS: u32 = 10;
    const CONNECTIONS: u64 = 64;
    // Ten seconds of posts must fit in the mempool, or the round measures refusals.
    const MAX_PENDING: &str = "1000000";
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let seeded = tempfile::tempdir().expect("temp dir");
    {
        let node = ChildNode::start(seeded.path(), &["--difficulty", DIFFICULTY_ARG]);
        runtime.block_on(push_blocks(
            &node.url,
            &chain(&params, CHAIN, Posts::ONE_UNSIGNED),
        ));
    }
    let mut rounds = Vec::new();
    for round in 1..=3 {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::copy(
            seeded.path().join("chain.redb"),
            dir.path().join("chain.redb"),
        )
        .expect("copy the seeded chain");
        let node = ChildNode::start(
            dir.path(),
            &["--difficulty", DIFFICULTY_ARG, "--max-pending", MAX_PENDING],
        );
        // Past start-up (first connections, first pages of a new file), as a running node is.
        run_wrk(wrk(
            CONNECTIONS as u32,
            1,
            "post.lua",
            &format!("{}/new_transaction", node.url),
            &["warm-up".into()],
        ));
        let warmed_up = mempool_size(runtime, &node.url);
        let probe = MachineProbe::start(dir.path());
        let pages = wrk(
            2,
            SECONDS,
            "pages.lua",
            &node.url,
            &[CHAIN.to_string(), "100".into()],
        );
        // On its own thread, so both loads run at once.
        let pages = std::thread::spawn(move || run_wrk(pages));
        let posts = run_wrk(wrk(
            CONNECTIONS as u32,
            SECONDS,
            "post.lua",
            &format!("{}/new_transaction", node.url),
            &["measured".into()],
        ));
        let pages = pages.join().expect("the pages load finished");
        let stalls = probe.stop();
        let pending = mempool_size(runtime, &node.url) - warmed_up;
        assert_eq!(
            posts.socket_errors + pages.socket_errors,
            0,
            "socket errors"
        );
        assert_eq!(pages.non_2xx, 0, "a page request failed");
        // Every 201 is a pending post; each wrk run stops counting with up to one request
        // per connection still in flight, which the node may yet accept.
        let accepted = posts.requests - posts.non_2xx;
        assert!(
            (accepted..=accepted + 2 * CONNECTIONS).contains(&pending),
            "{accepted} accepted but {pending} pending"
        );
        println!(
            "ingest round {round}: {:.0} posts/s accepted (p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} refused) \
             while serving {:.0} pages/s (p99 {:.2} ms); \
             machine: longest pause {:.1} ms, slowest probe fdatasync {:.1} ms",
            posts.ok_per_second(),
            posts.p50_us as f64 / 1e3,
            posts.p99_us as f64 / 1e3,
            posts.max_us as f64 / 1e3,
            posts.non_2xx,
            pages.ok_per_second(),
            pages.p99_us as f64 / 1e3,
            stalls.pause.as_secs_f64() * 1e3,
            stalls.sync.as_secs_f64() * 1e3,
        );
        rounds.push((posts.ok_per_second(), posts.p99_us as f64 / 1e3));
    }
    println!(
        "ingest median: {:.0} posts/s, p99 {:.2} ms",
        median(rounds.iter().map(|r| r.0).collect()),
        median(rounds.iter().map(|r| r.1).collect()),
    );
}

/// Two threads that watch the machine while a round runs, to tell its stalls from the
/// node's: one sleeps 1 ms at a time and records how much longer it slept (the longest
/// time a runnable thread waited for a core); the other writes 4 KiB and `fdatasync`s it
/// every 10 ms in a file beside the node's store, and records the slowest sync.
struct MachineProbe {
    stop: Arc<AtomicBool>,
    pause: std::thread::JoinHandle<Duration>,
    sync: std::thread::JoinHandle<Duration>,
}

/// The longest stalls a [`MachineProbe`] saw.
struct Stalls {
    pause: Duration,
    sync: Duration,
}

impl MachineProbe {
    fn start(dir: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let pause = longest_until(stop.clone(), || {
            let asleep = Instant::now();
            std::thread::sleep(Duration::from_millis(1));
            asleep.elapsed().saturating_sub(Duration::from_millis(1))
        });
        let file = std::fs::File::create(dir.join("sync-probe")).expect("probe file");
        let sync = longest_until(stop.clone(), move || {
            use std::os::unix::fs::FileExt;
            let started = Instant::now();
            file.write_all_at(&[7; 4096], 0).expect("probe write");
            file.sync_data().expect("probe fdatasync");
            let took = started.elapsed();
            std::thread::sleep(Duration::from_millis(10));
            took
        });
        MachineProbe { stop, pause, sync }
    }

    fn stop(self) -> Stalls {
        self.stop.store(true, Ordering::Relaxed);
        Stalls {
            pause: self.pause.join().expect("the pause probe finished"),
            sync: self.sync.join().expect("the sync probe finished"),
        }
    }
}

/// Runs `measure` on a thread of its own until `stop` is set; the thread returns the
/// longest duration it measured.
fn longest_until(
    stop: Arc<AtomicBool>,
    mut measure: impl FnMut() -> Duration + Send + 'static,
) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let mut longest = Duration::ZERO;
        while !stop.load(Ordering::Relaxed) {
            longest = longest.max(measure());
        }
        longest
    })
}

/// Starts a child node that syncs from `seeder` and waits until it reaches `height`.
async fn synced_child(dir: &Path, seeder: &str, height: u64) -> ChildNode {
    let node = ChildNode::start(dir, &["--difficulty", DIFFICULTY_ARG, "--peer", seeder]);
    wait_for(&node.url, |status| {
        status["height"].as_u64() == Some(height)
    })
    .await;
    node
}

async fn wait_for(url: &str, done: impl Fn(&Value) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        if let Ok(response) = reqwest::get(format!("{url}/status")).await
            && let Ok(status) = response.json::<Value>().await
            && done(&status)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node never got there"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident memory with 100,000 posts: pending (filled through the API until the mempool
/// is full), and confirmed (100 blocks of 1,000 posts), each also after a restart, which
/// reads them back from disk.
fn memory(runtime: &Runtime) {
    const POSTS: u64 = 100_000;
    let pending_dir = tempfile::tempdir().expect("temp dir");
    let node = ChildNode::start(pending_dir.path(), &["--difficulty", DIFFICULTY_ARG]);
    println!("memory: idle node {:.1} MiB", node.memory_mib().resident);
    while runtime.block_on(status(&node.url))["mempool_size"].as_u64() < Some(POSTS) {
        let url = format!("{}/new_transaction", node.url);
        run_wrk(wrk(64, 2, "post.lua", &url, &[]));
    }
    let filled = node.memory_mib();
    node.stop();
    let node = ChildNode::start(pending_dir.path(), &["--difficulty", DIFFICULTY_ARG]);
    let pending = runtime.block_on(status(&node.url))["mempool_size"].as_u64();
    assert_eq!(pending, Some(POSTS));
    println!(
        "memory: {POSTS} pending posts: {:.1} MiB resident (peak {:.1}); after a restart {:.1} MiB",
        filled.resident,
        filled.peak,
        node.memory_mib().resident
    );
    drop(node);

    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let posts = Posts {
        per_block: 1_000,
        content_bytes: 40,
        signer: None,
    };
    let blocks = chain(&params, (POSTS / 1_000) as usize, posts);
    let confirmed_dir = tempfile::tempdir().expect("temp dir");
    let seeder = runtime.block_on(InProcessNode::holding(
        Config::ephemeral(DIFFICULTY),
        &blocks,
    ));
    let node = runtime.block_on(synced_child(
        confirmed_dir.path(),
        &seeder.url,
        POSTS / 1_000,
    ));
    let synced = node.memory_mib();
    node.stop();
    seeder.stop();
    let node = ChildNode::start(confirmed_dir.path(), &["--difficulty", DIFFICULTY_ARG]);
    let height = runtime.block_on(status(&node.url))["height"].as_u64();
    assert_eq!(
        height,
        Some(POSTS / 1_000),
        "the restarted node has every block"
    );
    println!(
        "memory: {POSTS} confirmed posts: {:.1} MiB resident after syncing them (peak {:.1}); \
         after a restart {:.1} MiB",
        synced.resident,
        synced.peak,
        node.memory_mib().resident
    );
}

/// Memory while serving the whole `/chain` of 10,000 blocks (ten 200-byte posts each):
/// the growth of the node's peak resident set against the size of the document sent.
fn stream(runtime: &Runtime) {
    const LENGTH: u64 = 10_000;
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let posts = Posts {
        per_block: 10,
        content_bytes: 200,
        signer: None,
    };
    let blocks = chain(&params, LENGTH as usize, posts);
    let dir = tempfile::tempdir().expect("temp dir");
    let seeder = runtime.block_on(InProcessNode::holding(
        Config::ephemeral(DIFFICULTY),
        &blocks,
    ));
    let node = runtime.block_on(synced_child(dir.path(), &seeder.url, LENGTH));
    seeder.stop();
    // Restart, so the peak left behind by syncing does not hide the one of serving.
    let node_dir = dir.path().to_owned();
    node.stop();
    let node = ChildNode::start(&node_dir, &["--difficulty", DIFFICULTY_ARG]);
    node.reset_peak_memory();
    let before = node.memory_mib();
    let bytes = runtime.block_on(async {
        let response = reqwest::get(format!("{}/chain", node.url))
            .await
            .expect("chain answers");
        let mut response = response;
        let mut bytes = 0usize;
        while let Some(chunk) = response.chunk().await.expect("chain body") {
            bytes += chunk.len();
        }
        bytes
    });
    let after = node.memory_mib();
    let document = bytes as f64 / (1 << 20) as f64;
    println!(
        "stream: full /chain of {LENGTH} blocks is {document:.1} MiB of JSON; the node's peak \
         resident set grew by {:.1} MiB ({:.1} → {:.1} MiB)",
        after.peak - before.resident,
        before.resident,
        after.peak
    );
}
