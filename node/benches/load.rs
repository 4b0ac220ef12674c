//! Whole-node figures with the real `node` binary, measured from outside as a user would:
//!
//! - `ingest`: accepted posts per second and their latency under `wrk`, while a second
//!   `wrk` reads `/chain` pages from the same node;
//! - `memory`: resident memory of a node holding 100,000 posts, pending or confirmed;
//! - `history`: memory, restart time, store size and read latencies of a node holding
//!   100,000 and 1,000,000 confirmed posts (`HISTORY_POSTS=N,M,...` for other sizes,
//!   `HISTORY_BLOCK_CACHE_MIB` for the syncing node's `--block-cache-mib`, `HISTORY_KEEP=1`
//!   to keep each store and print where it is, for profiling a start-up);
//! - `stream`: how much memory serving a long chain's full `/chain` takes;
//! - `propagation`: how long a mined block takes to reach a peer by gossip, with and
//!   without 1,000 junk registrations (addresses that are no chainpost node) beforehand;
//! - `read_load`: post latency alone and while four clients loop on the heaviest reads;
//! - `mine_pending`: how long `GET /mine` takes with 100,000 and 1,000,000 posts pending
//!   (`MINE_PENDING=N,M,...` for other sizes), and post latency meanwhile;
//! - `sustained`: a `--mine` node under a post load for 60 s (`SUSTAINED_SECONDS`):
//!   posts confirmed per second against the bare-axum ceiling, and the drain after.
//!
//! `cargo bench -p node --bench load [-- ingest|memory|history|stream|propagation|read_load|mine_pending|sustained]`.
//! Needs `wrk` on the PATH (Debian: `apt-get install wrk`).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chainpost_chain::{Block, BlockHash, ChainParams};
use chainpost_node::config::Config;
use chainpost_node::p2p::peers::MAX_CANDIDATES_PER_SOURCE;
use chainpost_wire::BlockJson;
use serde::Deserialize;
use serde_json::Value;
use support::{
    CeilingServer, ChildNode, InProcessNode, Posts, chain, chain_on, median, percentile,
};
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
    if runs("history") {
        history(&runtime);
    }
    if runs("stream") {
        stream(&runtime);
    }
    if runs("propagation") {
        propagation(&runtime);
    }
    if runs("read_load") {
        read_load(&runtime);
    }
    if runs("mine_pending") {
        mine_pending(&runtime);
    }
    if runs("sustained") {
        sustained(&runtime);
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
        let ceiling = ceiling_round(CONNECTIONS as u32, SECONDS);
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
        println!(
            "ingest round {round} ceiling (bare axum, same posts, no readers): {:.0} posts/s \
             (p99 {:.2} ms); the node: {:.2} of it",
            ceiling.ok_per_second(),
            ceiling.p99_us as f64 / 1e3,
            posts.ok_per_second() / ceiling.ok_per_second(),
        );
        rounds.push((
            posts.ok_per_second(),
            posts.p99_us as f64 / 1e3,
            ceiling.ok_per_second(),
        ));
    }
    println!(
        "ingest median: {:.0} posts/s, p99 {:.2} ms; ceiling {:.0} posts/s; ratio {:.2} (target ≥ 0.7)",
        median(rounds.iter().map(|r| r.0).collect()),
        median(rounds.iter().map(|r| r.1).collect()),
        median(rounds.iter().map(|r| r.2).collect()),
        median(rounds.iter().map(|r| r.0 / r.2).collect()),
    );
}

/// One round of the same post load against [`CeilingServer`]: what the machine, HTTP
/// and JSON allow before the node does any work of its own.
fn ceiling_round(connections: u32, seconds: u32) -> WrkResult {
    let ceiling = CeilingServer::start();
    let url = format!("{}/new_transaction", ceiling.url);
    run_wrk(wrk(connections, 1, "post.lua", &url, &["warm-up".into()]));
    let posts = run_wrk(wrk(
        connections,
        seconds,
        "post.lua",
        &url,
        &["measured".into()],
    ));
    assert_eq!(posts.socket_errors, 0, "socket errors");
    assert_eq!(posts.non_2xx, 0, "the ceiling refused a post");
    posts
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

/// Starts a child node (with `args` besides) that syncs from `seeder` and waits until it
/// reaches `height`.
async fn synced_child(dir: &Path, seeder: &str, height: u64, args: &[&str]) -> ChildNode {
    let mut all_args = vec!["--difficulty", DIFFICULTY_ARG, "--peer", seeder];
    all_args.extend_from_slice(args);
    let node = ChildNode::start(dir, &all_args);
    wait_for(&node.url, |status| {
        status["height"].as_u64() == Some(height)
    })
    .await;
    node
}

/// Waits until the node's search index has indexed the block at `height` (it answers 503
/// while it opens).
async fn search_indexed(url: &str, height: u64) {
    wait_until(&format!("{url}/search?q=bench&limit=1"), |results| {
        results["indexed"]["index"].as_u64() >= Some(height)
    })
    .await;
}

async fn wait_for(url: &str, done: impl Fn(&Value) -> bool) {
    wait_until(&format!("{url}/status"), done).await;
}

/// Polls the JSON at `address` until `done` says so.
async fn wait_until(address: &str, done: impl Fn(&Value) -> bool) {
    // Syncing 10,000,000 posts takes many minutes; the bound only turns a hang into a failure.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3_600);
    loop {
        if let Ok(response) = reqwest::get(address).await
            && let Ok(answer) = response.json::<Value>().await
            && done(&answer)
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{address} never got there"
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
        &[],
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

/// How a node's memory, restart and reads depend on its history: for each size, a child
/// node syncs that many confirmed posts (blocks of 1,000) from an in-process node into its
/// store, is restarted, and answers 300 each of `/chain?from=H&limit=100`,
/// `/blocks/{hash}` and `/transactions/{id}` at random places, one at a time.
fn history(runtime: &Runtime) {
    let sizes = sizes_from_env("HISTORY_POSTS", &[100_000, 1_000_000]);
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    for posts in sizes {
        let length = posts / 1_000;
        let blocks = chain(
            &params,
            usize::try_from(length).expect("fits"),
            Posts {
                per_block: 1_000,
                content_bytes: 40,
                signer: None,
            },
        );
        let mut dir = tempfile::tempdir().expect("temp dir");
        if std::env::var_os("HISTORY_KEEP").is_some() {
            dir.disable_cleanup(true);
            println!(
                "history: {posts} posts: the store is kept in {}",
                dir.path().display()
            );
        }
        let seeder = runtime.block_on(InProcessNode::holding(
            Config::ephemeral(DIFFICULTY),
            &blocks,
        ));
        let synced_at = Instant::now();
        let cache_args: Vec<String> = std::env::var("HISTORY_BLOCK_CACHE_MIB")
            .map(|mib| vec!["--block-cache-mib".to_owned(), mib])
            .unwrap_or_default();
        let cache_args: Vec<&str> = cache_args.iter().map(String::as_str).collect();
        let node = runtime.block_on(synced_child(dir.path(), &seeder.url, length, &cache_args));
        let sync = synced_at.elapsed();
        let synced = node.memory_mib();
        // At rest: the search index, which follows the store, has every block too.
        let search_caught_up = Instant::now();
        runtime.block_on(search_indexed(&node.url, length));
        let search_caught_up = search_caught_up.elapsed();
        let at_rest = node.memory_mib();
        node.stop();
        seeder.stop();
        let store_bytes = std::fs::metadata(dir.path().join("chain.redb"))
            .expect("the store")
            .len();
        let restarting = Instant::now();
        let node = ChildNode::start(dir.path(), &["--difficulty", DIFFICULTY_ARG]);
        let restart = restarting.elapsed();
        let restarted = node.memory_mib();

        let client = reqwest::Client::new();
        let mut random = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: u64| {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            random % bound
        };
        let timed = |path: String| {
            let sent = Instant::now();
            let status = runtime.block_on(async {
                let response = client
                    .get(format!("{}{path}", node.url))
                    .send()
                    .await
                    .expect("answers");
                let status = response.status();
                response.bytes().await.expect("a body");
                status
            });
            assert!(status.is_success(), "{path}: {status}");
            sent.elapsed().as_secs_f64() * 1e3
        };
        let (mut pages, mut by_hash, mut by_id) = (Vec::new(), Vec::new(), Vec::new());
        let (mut feed, mut by_author) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            pages.push(timed(format!("/chain?from={}&limit=100", next(length) + 1)));
            let (block, _) = &blocks[usize::try_from(next(length)).expect("fits")];
            by_hash.push(timed(format!("/blocks/{}", block.hash())));
            let post = &block.transactions()[usize::try_from(next(1_000)).expect("fits")];
            by_id.push(timed(format!("/transactions/{}", post.id())));
            let before = format!("{}.{}", next(length) + 1, next(1_000));
            feed.push(timed(format!("/posts?limit=20&before={before}")));
            // Every generated post is by `bench`: the author index's longest range.
            by_author.push(timed(format!(
                "/posts?author=bench&limit=20&before={before}"
            )));
        }
        println!(
            "history: {posts} confirmed posts: synced in {:.1} s; store {:.0} MB; resident \
             {:.1} MiB after syncing (peak {:.1}; {:.1} of it mapped files), {:.1} MiB once \
             the search index had every block too ({:.1} s later; {:.1} mapped), {:.1} MiB after \
             a restart of {:.2} s ({:.1} mapped); p99 of \
             /chain?from=H&limit=100 {:.2} ms, /blocks/{{hash}} {:.2} ms, \
             /transactions/{{id}} {:.2} ms, /posts?before=C {:.2} ms, /posts?author=A&before=C {:.2} ms",
            sync.as_secs_f64(),
            store_bytes as f64 / 1e6,
            synced.resident,
            synced.peak,
            synced.file_backed,
            at_rest.resident,
            search_caught_up.as_secs_f64(),
            at_rest.file_backed,
            restarted.resident,
            restart.as_secs_f64(),
            restarted.file_backed,
            percentile(pages, 0.99),
            percentile(by_hash, 0.99),
            percentile(by_id, 0.99),
            percentile(feed, 0.99),
            percentile(by_author, 0.99),
        );
    }
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
    let node = runtime.block_on(synced_child(dir.path(), &seeder.url, LENGTH, &[]));
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

/// Posts `count` distinct posts to the node at `url`, 32 at a time, each accepted.
async fn fill_mempool(url: &str, count: u64) {
    use futures_util::StreamExt as _;
    let http = reqwest::Client::new();
    let accepted = futures_util::stream::iter(0..count)
        .map(|i| {
            let http = http.clone();
            async move {
                let post =
                    serde_json::json!({"author": "bench", "content": format!("pending {i}")});
                http.post(format!("{url}/new_transaction"))
                    .json(&post)
                    .send()
                    .await
                    .is_ok_and(|response| response.status().is_success())
            }
        })
        .buffer_unordered(32)
        .filter(|accepted| std::future::ready(*accepted))
        .count()
        .await;
    assert_eq!(accepted as u64, count, "every post accepted");
}

/// How busy the machine is, for the reader to tell its noise from the node's: the load
/// average over a minute and, where the kernel reports it, the share of the last 10 s in
/// which some runnable task waited for a core (`/proc/pressure/cpu`).
fn machine_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?").to_owned();
    let pressure = std::fs::read_to_string("/proc/pressure/cpu")
        .ok()
        .and_then(|text| {
            let some = text.lines().next()?.to_owned();
            let avg10 = some
                .split_whitespace()
                .find_map(|f| f.strip_prefix("avg10="))?;
            Some(format!(", CPU pressure {avg10}%"))
        })
        .unwrap_or_default();
    format!("load average {load}{pressure}")
}

/// Blocks timed per round of `propagation`.
const PROPAGATED_BLOCKS: usize = 30;

/// How fast a mined block reaches a peer by gossip alone, and whether junk registrations
/// slow it. Each round is a fresh pair of nodes, A and its peer B: 30 blocks mined on A
/// (`GET /mine` on one post each), each timed from A's answer until B's `/status` shows
/// it. Every other round, A first gets 1,000 `POST /register_node` naming addresses that
/// are no chainpost node: closed loopback ports, and 16 listeners that accept and never
/// answer, each of which holds one of A's handshakes for the whole handshake timeout.
/// Three rounds of each kind, alternating; each round is reported, then the medians.
///
/// B's `--sync-interval` is a day, so only A's gossip brings it blocks. A's is one second,
/// so the candidates junk leaves in A's table are handshaken while the blocks are mined
/// (the pair without junk runs the same rounds, with nothing to try).
fn propagation(runtime: &Runtime) {
    const JUNK: usize = 1_000;
    const HANGING: usize = 16;
    const ROUNDS: usize = 3;
    println!("propagation: machine before: {}", machine_load());
    let (mut quiet, mut junk) = (Vec::new(), Vec::new());
    // Alternating, so that a slow spell of the machine does not land on one side only, and
    // the spread between rounds of one kind shows what noise is.
    for round in 1..=ROUNDS {
        for (name, junk_count, rounds) in
            [("no junk", 0, &mut quiet), ("after junk", JUNK, &mut junk)]
        {
            let spread = propagation_round(runtime, junk_count, HANGING);
            println!(
                "propagation round {round}, {name}: {PROPAGATED_BLOCKS} blocks A → B: \
                 p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                spread.p50, spread.p99, spread.max
            );
            rounds.push(spread);
        }
    }
    let medians = |rounds: &[Spread]| {
        (
            median(rounds.iter().map(|r| r.p50).collect()),
            median(rounds.iter().map(|r| r.p99).collect()),
            median(rounds.iter().map(|r| r.max).collect()),
        )
    };
    let (quiet, junk) = (medians(&quiet), medians(&junk));
    for (name, (p50, p99, max)) in [("no junk", quiet), ("after junk", junk)] {
        println!(
            "propagation median of {ROUNDS} rounds, {name}: p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms"
        );
    }
    println!(
        "propagation ratio after junk / no junk: p50 {:.2}×, p99 {:.2}×",
        junk.0 / quiet.0,
        junk.1 / quiet.1
    );
}

/// The spread of some timings, in milliseconds.
struct Spread {
    count: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

impl Spread {
    fn of(timings: &[Duration]) -> Self {
        let millis: Vec<f64> = timings.iter().map(|t| t.as_secs_f64() * 1e3).collect();
        Spread {
            count: millis.len(),
            p50: percentile(millis.clone(), 0.5),
            p99: percentile(millis.clone(), 0.99),
            max: percentile(millis, 1.0),
        }
    }
}

/// One pair of fresh nodes: B joins A, A takes `junk` registrations (`hanging` of them at
/// listeners that never answer), then [`PROPAGATED_BLOCKS`] blocks are mined on A and
/// timed until B has them.
fn propagation_round(runtime: &Runtime, junk: usize, hanging: usize) -> Spread {
    let (a_dir, b_dir) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let a = ChildNode::start(
        a_dir.path(),
        &["--difficulty", DIFFICULTY_ARG, "--sync-interval", "1"],
    );
    let b = ChildNode::start(
        b_dir.path(),
        &[
            "--difficulty",
            DIFFICULTY_ARG,
            "--sync-interval",
            "86400",
            "--peer",
            &a.url,
        ],
    );
    // B registers with A before the junk, as a peer that was there first: junk never
    // displaces peers, and that is not what this measures.
    runtime.block_on(wait_for(&a.url, |status| status["peers"] == 1));
    runtime.block_on(wait_for(&b.url, |status| status["peers"] == 1));
    // The silent listeners stay up while the blocks are mined: A may still be
    // handshaking them from its candidate table.
    let _silent = (junk > 0).then(|| runtime.block_on(register_junk(&a.url, junk, hanging)));
    if junk > 0 {
        let peers = runtime.block_on(status(&a.url))["peers"].as_u64();
        assert_eq!(peers, Some(1), "no junk address became a peer");
    }
    let http = reqwest::Client::new();
    let mut probe = KeepAlive::connect(&b.url);
    let mut timings = Vec::with_capacity(PROPAGATED_BLOCKS);
    for block in 1..=PROPAGATED_BLOCKS {
        let posted = runtime.block_on(
            http.post(format!("{}/new_transaction", a.url))
                .json(&serde_json::json!({"author": "bench", "content": format!("post {block}")}))
                .send(),
        );
        assert!(
            posted.expect("A answers").status().is_success(),
            "post refused"
        );
        // Once B holds the post, its gossip is over, and the block travels alone.
        runtime.block_on(wait_for(&b.url, |status| status["mempool_size"] == 1));
        let answer = runtime.block_on(async {
            let response = http
                .get(format!("{}/mine", a.url))
                .send()
                .await
                .expect("A answers /mine");
            response.text().await.expect("the /mine answer")
        });
        let mined_at = Instant::now();
        let index: u64 = answer
            .strip_prefix("Block #")
            .and_then(|rest| rest.strip_suffix(" is mined."))
            .and_then(|index| index.parse().ok())
            .unwrap_or_else(|| panic!("A did not mine: {answer}"));
        probe.wait_for_height(index);
        timings.push(mined_at.elapsed());
    }
    let (a_tip, b_tip) = (
        runtime.block_on(status(&a.url))["tip"].clone(),
        runtime.block_on(status(&b.url))["tip"].clone(),
    );
    assert_eq!(a_tip, b_tip, "B ends on A's tip");
    Spread::of(&timings)
}

/// Sends `count` registrations at `url` for distinct addresses that are no chainpost
/// node, 32 at a time: `hanging` at listeners that accept and never answer (spread
/// through the rest), the others at closed loopback ports. Waits for every answer; the
/// listeners last as long as what it returns.
async fn register_junk(url: &str, count: usize, hanging: usize) -> SilentListeners {
    use futures_util::StreamExt as _;
    let mut listeners = Vec::with_capacity(hanging);
    let mut hanging_addresses = Vec::with_capacity(hanging);
    for _ in 0..hanging {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback listener");
        hanging_addresses.push(format!(
            "http://{}",
            listener.local_addr().expect("its address")
        ));
        listeners.push(tokio::spawn(async move {
            // Holds every connection open, unanswered, until the task is aborted.
            let mut held = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                held.push(connection);
            }
        }));
    }
    // Ports the system just handed out and took back: nothing listens there. One at a
    // time, as a thousand open listeners could exceed the open-files limit.
    let mut closed = std::collections::BTreeSet::new();
    while closed.len() < count - hanging {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        closed.insert(format!(
            "http://{}",
            listener.local_addr().expect("its address")
        ));
    }
    let every = count / hanging.max(1);
    let mut addresses: Vec<String> = closed.into_iter().collect();
    for (i, address) in hanging_addresses.into_iter().enumerate() {
        addresses.insert(i * every, address);
    }
    let http = reqwest::Client::new();
    let started = Instant::now();
    let statuses: Vec<u16> = futures_util::stream::iter(addresses)
        .map(|address| {
            let http = http.clone();
            async move {
                http.post(format!("{url}/register_node"))
                    .json(&serde_json::json!({ "node_address": address }))
                    .send()
                    .await
                    .expect("A answers /register_node")
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let refused = statuses.iter().filter(|status| **status == 400).count();
    let kept = statuses.iter().filter(|status| **status == 200).count();
    assert_eq!(
        refused + kept,
        count,
        "every registration answered 200 or 400"
    );
    println!(
        "propagation: {count} junk registrations ({hanging} at listeners that never answer) \
         answered in {:.1} s: {refused} refused after a failed handshake, {kept} accepted \
         for later (A's candidate table keeps {MAX_CANDIDATES_PER_SOURCE} per source)",
        started.elapsed().as_secs_f64()
    );
    SilentListeners(listeners)
}

/// Listeners that accept connections and never answer; they close when this is dropped.
struct SilentListeners(Vec<tokio::task::JoinHandle<()>>);

impl Drop for SilentListeners {
    fn drop(&mut self) {
        for listener in &self.0 {
            listener.abort();
        }
    }
}

/// One keep-alive HTTP/1.1 connection to a node, on a plain socket, used from the
/// benchmark's own thread: requests one at a time, timed without a runtime's timers or
/// scheduling in between.
struct KeepAlive {
    connection: BufReader<TcpStream>,
    host: String,
}

impl KeepAlive {
    fn connect(url: &str) -> Self {
        let host = url.strip_prefix("http://").expect("an http:// node URL");
        let stream = TcpStream::connect(host).expect("the node accepts a connection");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        KeepAlive {
            connection: BufReader::new(stream),
            host: host.to_owned(),
        }
    }

    /// Sends one request and reads its whole answer: the status and the body.
    fn request(&mut self, method: &str, path: &str, json: Option<&Value>) -> (u16, Vec<u8>) {
        let body = json.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.connection
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send a request");
        let mut line = String::new();
        self.connection.read_line(&mut line).expect("a status line");
        let status = line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP/1.1 status line: {line}"));
        let mut length = None;
        loop {
            line.clear();
            self.connection.read_line(&mut line).expect("a header");
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("a Content-Length (these answers are not streamed)")];
        self.connection.read_exact(&mut body).expect("the body");
        (status, body)
    }

    /// The height of the node's tip, from its `/status`.
    fn height(&mut self) -> u64 {
        let (status, body) = self.request("GET", "/status", None);
        assert_eq!(status, 200, "/status answers");
        let status: Value = serde_json::from_slice(&body).expect("status JSON");
        status["height"].as_u64().expect("height")
    }

    /// Asks every 250 µs until the node's tip reaches `height`: `wait_for`'s 50 ms (or
    /// tokio's 1 ms timer) would round away a propagation of a few hundred microseconds.
    fn wait_for_height(&mut self, height: u64) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.height() < height {
            assert!(Instant::now() < deadline, "the block never arrived");
            std::thread::sleep(Duration::from_micros(250));
        }
    }

    /// Posts one after another for `duration`, each as soon as the last is answered; the
    /// latency of each (all must be accepted).
    fn post_for(&mut self, duration: Duration, tag: &str) -> Vec<Duration> {
        let started = Instant::now();
        self.post_while(tag, || started.elapsed() < duration)
    }

    /// Posts one after another while `going` holds; the latency of each (all must be
    /// accepted).
    fn post_while(&mut self, tag: &str, going: impl Fn() -> bool) -> Vec<Duration> {
        let mut latencies = Vec::new();
        while going() {
            let post = serde_json::json!({
                "author": "bench",
                "content": format!("{tag} post {}", latencies.len()),
            });
            let sent = Instant::now();
            let (status, body) = self.request("POST", "/new_transaction", Some(&post));
            latencies.push(sent.elapsed());
            assert_eq!(
                status,
                201,
                "post refused: {}",
                String::from_utf8_lossy(&body)
            );
        }
        latencies
    }
}

/// Post latency with and without heavy readers: one client posting sequentially for 10 s
/// (each post sent when the last is answered), first alone, then while 4 wrk connections
/// loop without pause on `GET /tree?from=0`, `GET /pending_tx` and
/// `GET /chain?from=0&limit=1000` in turn. The node (store on disk) holds 5,000 blocks of
/// four 200-byte posts, a 500-block side branch forked 600 blocks below the tip and
/// 20,000 pending posts.
///
/// `/chain` pages are about 1 MiB of JSON; `/tree` from 0 shows 1,000 blocks, best and side
/// ones at each height; `/pending_tx` lists the oldest 1,000 pending posts. Each post's own
/// latency is timed, not wrk's: for one connection wrk's correction for coordinated
/// omission (see `ingest`) would count one stall as many slow posts.
fn read_load(runtime: &Runtime) {
    const LENGTH: usize = 5_000;
    const SIDE_BRANCH: usize = 500;
    const PENDING: u64 = 20_000;
    const SECONDS: u64 = 10;
    const READERS: u32 = 4;
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let best = chain(
        &params,
        LENGTH,
        Posts {
            per_block: 4,
            content_bytes: 200,
            signer: None,
        },
    );
    // Other posts than the best chain's, so other blocks: a lighter branch beside it, forked
    // close enough to the tip for the node to keep it.
    let fork_point = best[LENGTH - SIDE_BRANCH - 100].0.clone();
    let side = chain_on(
        &params,
        fork_point,
        SIDE_BRANCH,
        Posts {
            per_block: 1,
            content_bytes: 1,
            signer: None,
        },
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let seeder = runtime.block_on(InProcessNode::holding(Config::ephemeral(DIFFICULTY), &best));
    let node = runtime.block_on(synced_child(
        dir.path(),
        &seeder.url,
        LENGTH as u64,
        // Room for the measured posts; no sync rounds with the seeder once it is gone.
        &["--max-pending", "1000000", "--sync-interval", "86400"],
    ));
    seeder.stop();
    runtime.block_on(push_blocks(&node.url, &side));
    runtime.block_on(fill_mempool(&node.url, PENDING));
    let pending = mempool_size(runtime, &node.url);
    let machine = machine_load();
    let mut poster = KeepAlive::connect(&node.url);
    poster.post_for(Duration::from_secs(1), "warm-up");

    let unloaded = Spread::of(&poster.post_for(Duration::from_secs(SECONDS), "alone"));
    let readers = wrk(
        READERS,
        SECONDS as u32 + 2,
        "reads.lua",
        &node.url,
        &read_load_paths(),
    );
    let readers = std::thread::spawn(move || run_wrk(readers));
    // The readers are connected and busy before the posts start, and stay until after.
    std::thread::sleep(Duration::from_secs(1));
    let loaded = Spread::of(&poster.post_for(Duration::from_secs(SECONDS), "loaded"));
    let reads = readers.join().expect("the readers finished");
    assert_eq!(reads.socket_errors, 0, "socket errors");
    assert_eq!(reads.non_2xx, 0, "a read failed");
    println!(
        "read_load: {LENGTH} blocks, a {SIDE_BRANCH}-block side branch, {pending} pending posts; \
         machine before: {machine}"
    );
    for (name, posts) in [
        ("unloaded".to_owned(), &unloaded),
        (format!("with {READERS} readers"), &loaded),
    ] {
        println!(
            "read_load {name}: {} posts, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
            posts.count, posts.p50, posts.p99, posts.max
        );
    }
    println!(
        "read_load readers: {:.0} reads/s (wrk: p50 {:.1} ms, p99 {:.1} ms)",
        reads.ok_per_second(),
        reads.p50_us as f64 / 1e3,
        reads.p99_us as f64 / 1e3,
    );
    println!(
        "read_load ratio loaded / unloaded post p99: {:.2}× (target ≤ 2×)",
        loaded.p99 / unloaded.p99
    );
}

/// Sealing a block with a full mempool: a fresh node (store on disk) takes `pending` posts
/// from `wrk`, then one client posts back to back, first for 3 s alone and then while
/// another mines 10 blocks of 1,000 posts with `GET /mine`, one after another. Reports each
/// `/mine`'s time and the posts' latency in both phases.
fn mine_pending(runtime: &Runtime) {
    const MINES: usize = 10;
    let sizes = sizes_from_env("MINE_PENDING", &[100_000, 1_000_000]);
    for pending in sizes {
        let dir = tempfile::tempdir().expect("temp dir");
        // The node's bound is 1,000,000; below it there must be room for the measured posts.
        const MAX_PENDING: u64 = 1_000_000;
        const ROOM: u64 = 15_000;
        let pending = pending.min(MAX_PENDING - ROOM);
        let max_pending = MAX_PENDING.to_string();
        let node = ChildNode::start(
            dir.path(),
            &[
                "--difficulty",
                DIFFICULTY_ARG,
                "--max-pending",
                &max_pending,
            ],
        );
        let url = format!("{}/new_transaction", node.url);
        // Fast bursts of `wrk` while far from the mark (each may overshoot by a second's
        // posts), then the rest one by one.
        let mut burst = 0;
        while mempool_size(runtime, &node.url) + 150_000 < pending {
            burst += 1;
            let filled = run_wrk(wrk(64, 1, "post.lua", &url, &[format!("fill {burst}")]));
            assert_eq!(filled.socket_errors, 0, "socket errors");
        }
        let rest = pending.saturating_sub(mempool_size(runtime, &node.url));
        runtime.block_on(fill_mempool(&node.url, rest));
        let held = mempool_size(runtime, &node.url);
        let mut poster = KeepAlive::connect(&node.url);
        poster.post_for(Duration::from_secs(1), "warm-up");
        let alone = Spread::of(&poster.post_for(Duration::from_secs(3), "alone"));
        let mining = Arc::new(AtomicBool::new(true));
        let miner = std::thread::spawn({
            let (url, mining) = (node.url.clone(), mining.clone());
            move || {
                let mut miner = KeepAlive::connect(&url);
                let mut took = Vec::new();
                for _ in 0..MINES {
                    let started = Instant::now();
                    let (status, body) = miner.request("GET", "/mine", None);
                    took.push(started.elapsed());
                    let answer = String::from_utf8_lossy(&body);
                    assert!(status == 200 && answer.ends_with("is mined."), "{answer}");
                }
                mining.store(false, Ordering::Relaxed);
                took
            }
        });
        let meanwhile =
            Spread::of(&poster.post_while("meanwhile", || mining.load(Ordering::Relaxed)));
        let mines = Spread::of(&miner.join().expect("the miner finished"));
        let left = mempool_size(runtime, &node.url);
        println!(
            "mine_pending {held} pending: {MINES} × /mine of 1,000 posts: p50 {:.1} ms, max {:.1} ms \
             (target < 50 ms); {left} pending after",
            mines.p50, mines.max
        );
        for (name, posts) in [("alone", &alone), ("while mining", &meanwhile)] {
            println!(
                "mine_pending {held} pending, posts {name}: {} posts, p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms",
                posts.count, posts.p50, posts.p99, posts.max
            );
        }
    }
}

/// A `--mine` node under a continuous post load: `wrk` (64 connections) posts for
/// `SUSTAINED_SECONDS` (60 by default) while the node mines; posts confirmed per second
/// in that time (accepted less what is still pending at its end) against the ceiling
/// measured just before, the posts' latency, and how long the mempool takes to drain
/// once the load stops.
fn sustained(runtime: &Runtime) {
    const CONNECTIONS: u32 = 64;
    let seconds: u32 = std::env::var("SUSTAINED_SECONDS")
        .ok()
        .map(|seconds| seconds.parse().expect("SUSTAINED_SECONDS: a number"))
        .unwrap_or(60);
    let ceiling = ceiling_round(CONNECTIONS, 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let node = ChildNode::start(
        dir.path(),
        &[
            "--difficulty",
            DIFFICULTY_ARG,
            "--mine",
            "--max-pending",
            "1000000",
        ],
    );
    let url = format!("{}/new_transaction", node.url);
    run_wrk(wrk(CONNECTIONS, 1, "post.lua", &url, &["warm-up".into()]));
    runtime.block_on(wait_for(&node.url, |status| status["mempool_size"] == 0));
    let height_before = runtime.block_on(status(&node.url))["height"]
        .as_u64()
        .expect("height");
    let posts = run_wrk(wrk(
        CONNECTIONS,
        seconds,
        "post.lua",
        &url,
        &["measured".into()],
    ));
    let pending_at_end = mempool_size(runtime, &node.url);
    let stopped = Instant::now();
    runtime.block_on(wait_for(&node.url, |status| status["mempool_size"] == 0));
    let drained = stopped.elapsed();
    let height_after = runtime.block_on(status(&node.url))["height"]
        .as_u64()
        .expect("height");
    assert_eq!(posts.socket_errors, 0, "socket errors");
    let accepted = posts.requests - posts.non_2xx;
    let confirmed = accepted.saturating_sub(pending_at_end);
    let confirmed_per_second = confirmed as f64 / (posts.duration_us as f64 / 1e6);
    println!(
        "sustained {seconds} s with --mine: {:.0} posts/s accepted (p50 {:.2} ms, p99 {:.2} ms, \
         max {:.1} ms, {} refused), {confirmed_per_second:.0} posts/s confirmed in {} blocks; \
         {pending_at_end} pending at the end, drained in {:.2} s",
        posts.ok_per_second(),
        posts.p50_us as f64 / 1e3,
        posts.p99_us as f64 / 1e3,
        posts.max_us as f64 / 1e3,
        posts.non_2xx,
        height_after - height_before,
        drained.as_secs_f64(),
    );
    println!(
        "sustained: ceiling {:.0} posts/s; confirmed / ceiling {:.2} (target ≥ 0.5)",
        ceiling.ok_per_second(),
        confirmed_per_second / ceiling.ok_per_second(),
    );
}

/// What `read_load`'s readers read, in turn: the heaviest reads, or `READ_LOAD_PATHS`
/// (comma-separated), to tell which of them costs the posts.
fn read_load_paths() -> Vec<String> {
    std::env::var("READ_LOAD_PATHS")
        .map(|paths| paths.split(',').map(str::to_owned).collect())
        .unwrap_or_else(|_| {
            ["/tree?from=0", "/pending_tx", "/chain?from=0&limit=1000"]
                .map(str::to_owned)
                .to_vec()
        })
}

/// The comma-separated numbers in the environment variable `name`, or `default`.
fn sizes_from_env(name: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(name).map_or_else(
        |_| default.to_vec(),
        |sizes| {
            sizes
                .split(',')
                .map(|size| {
                    size.trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{name}: numbers, not {size:?}"))
                })
                .collect()
        },
    )
}
