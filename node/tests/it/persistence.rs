//! Durability: every acknowledged post and block survives `kill -9` at any moment, and a
//! restart rebuilds the same tip.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainpost_node::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Api, ChildNode, TestNode, posts_in_chain, wait_until};

const DIFFICULTY: u32 = 8;
/// Low enough that both nodes mine a block every few posts.
const CRASH_DIFFICULTY: u32 = 10;

fn ids(values: impl IntoIterator<Item = Value>) -> HashSet<String> {
    values
        .into_iter()
        .map(|tx| tx["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Checks that a `/chain` answer links up from genesis and counts its blocks right.
fn assert_links_up_from_genesis(chain: &Value) {
    let blocks = chain["chain"].as_array().expect("array");
    assert_eq!(chain["length"].as_u64(), Some(blocks.len() as u64));
    assert_eq!(blocks[0]["index"], 0);
    for pair in blocks.windows(2) {
        assert_eq!(pair[1]["previous_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["index"].as_u64(),
            pair[0]["index"].as_u64().map(|i| i + 1)
        );
    }
}

/// Checks that the chain links up from genesis and that `/status` agrees with it.
async fn assert_consistent(node: &ChildNode) -> Value {
    let chain = node.chain().await;
    assert_links_up_from_genesis(&chain);
    let blocks = chain["chain"].as_array().expect("array");
    let status = node.status().await;
    assert_eq!(status["tip"], blocks[blocks.len() - 1]["hash"]);
    chain
}

#[tokio::test]
async fn a_restart_after_kill_9_has_every_block_and_pending_post() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = ChildNode::start(dir.path(), DIFFICULTY);
    for i in 0..6 {
        node.post("alice", &format!("mined {i}")).await;
        if i % 2 == 1 {
            node.mine().await;
        }
    }
    node.post("alice", "still pending").await;
    let chain_before = node.chain().await;
    let pending_before = node.pending().await;
    node.kill_9();

    let node = ChildNode::start(dir.path(), DIFFICULTY);
    assert_eq!(node.chain().await, chain_before);
    assert_eq!(node.pending().await, pending_before);
    assert_consistent(&node).await;
    // The restarted node keeps working on top of what it restored.
    assert_eq!(node.mine().await, "Block #4 is mined.");
}

/// Rounds of the crash test; each ends in a `kill -9`.
const CRASH_ROUNDS: u32 = 20;
/// A round's load runs for a random time up to this long before the kill.
const LONGEST_ROUND_MS: u64 = 1_500;
/// The seed when `CHAINPOST_CRASH_SEED` does not give one.
const DEFAULT_CRASH_SEED: u64 = 20_260_101;
/// Guards waits on another process against hangs only.
const PATIENCE: Duration = Duration::from_secs(60);

/// SplitMix64: a few lines of deterministic randomness, so that a seed replays a run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

/// What the crashing node has acknowledged.
#[derive(Debug, Default, Clone)]
struct Acknowledged {
    /// Posts it answered 201.
    posts: HashSet<String>,
    /// Blocks it showed as its tip before answering a later post 201. The node commits
    /// changes in the order it makes them, so that post's commit made the block durable.
    blocks: HashSet<String>,
}

type Shared = Arc<Mutex<Acknowledged>>;

/// The node under test: mining continuously, joined to `relay`, on `port` when free (so
/// the relay keeps reaching it at the address it knows).
fn start_crashing_node(dir: &Path, port: u16, relay: &str) -> ChildNode {
    let flags = ["--mine", "--mining-threads", "1", "--peer", relay];
    let launched = ChildNode::launch(dir, CRASH_DIFFICULTY, port, &flags).or_else(|log| {
        eprintln!("port {port} was taken ({log:?}); restarting on a free one");
        ChildNode::launch(dir, CRASH_DIFFICULTY, 0, &flags)
    });
    launched.expect("the node restarts").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_posts_and_blocks_survive_kill_9_while_mining_and_gossiping() {
    let seed = std::env::var("CHAINPOST_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(DEFAULT_CRASH_SEED);
    eprintln!("crash test seed {seed}; CHAINPOST_CRASH_SEED={seed} replays it");
    let mut random = SplitMix64(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    // A second node that gossips its own posts and blocks to the crashing one.
    let relay = TestNode::spawn_with(Config {
        mine: true,
        mining_threads: Some(1),
        ..Config::ephemeral(CRASH_DIFFICULTY)
    })
    .await;
    let acknowledged = Shared::default();
    let mut port = 0;
    for round in 0..CRASH_ROUNDS {
        let node = start_crashing_node(dir.path(), port, &relay.base);
        port = node.port();
        let before = acknowledged.lock().expect("lock").clone();
        assert_everything_acknowledged_is_back(&node, &before, round).await;

        let relay_writing = Arc::new(AtomicBool::new(true));
        let mut load = Vec::new();
        for writer in 0..3 {
            let author = format!("round {round} writer {writer}");
            load.push(tokio::spawn(post_until_killed(
                node.api.clone(),
                author,
                acknowledged.clone(),
            )));
        }
        load.push(tokio::spawn(observe_tips_until_killed(
            node.api.clone(),
            round,
            acknowledged.clone(),
        )));
        load.push(tokio::spawn(post_to_relay(
            relay.api.clone(),
            round,
            relay_writing.clone(),
        )));
        // The kill must land at an arbitrary moment, not after any event: a timer is the
        // point here.
        tokio::time::sleep(Duration::from_millis(random.below(LONGEST_ROUND_MS))).await;
        node.kill_9();
        relay_writing.store(false, Ordering::Relaxed);
        for task in load {
            task.await.expect("load task");
        }
    }
    let node = start_crashing_node(dir.path(), port, &relay.base);
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert_everything_acknowledged_is_back(&node, &acknowledged, CRASH_ROUNDS).await;
    let status = node.status().await;
    eprintln!(
        "crash test: {CRASH_ROUNDS} kills; {} posts and {} blocks acknowledged, all back; height {}, {} blocks known",
        acknowledged.posts.len(),
        acknowledged.blocks.len(),
        status["height"],
        status["blocks_known"],
    );
    assert!(
        acknowledged.posts.len() >= CRASH_ROUNDS as usize && !acknowledged.blocks.is_empty(),
        "the load acknowledged almost nothing: the test proved nothing"
    );
}

/// Posts as `author` until the node stops answering; records every 201.
async fn post_until_killed(node: Api, author: String, acknowledged: Shared) {
    for i in 0.. {
        let Some(id) = post_once(&node, &author, &format!("post {i}")).await else {
            return;
        };
        acknowledged.lock().expect("lock").posts.insert(id);
    }
}

/// Reads the tip, then posts; once the post is acknowledged, so is the tip read before it.
async fn observe_tips_until_killed(node: Api, round: u32, acknowledged: Shared) {
    for i in 0.. {
        let Ok(response) = node.http.get(node.url("/status")).send().await else {
            return;
        };
        let Ok(status) = response.json::<Value>().await else {
            return;
        };
        let tip = status["tip"].as_str().expect("tip").to_owned();
        let Some(id) = post_once(
            &node,
            &format!("round {round} observer"),
            &format!("mark {i}"),
        )
        .await
        else {
            return;
        };
        let mut acknowledged = acknowledged.lock().expect("lock");
        acknowledged.posts.insert(id);
        acknowledged.blocks.insert(tip);
    }
}

/// Posts to the relay, which gossips them on, while `writing` holds.
async fn post_to_relay(relay: Api, round: u32, writing: Arc<AtomicBool>) {
    for i in 0.. {
        if !writing.load(Ordering::Relaxed) {
            return;
        }
        post_once(
            &relay,
            &format!("round {round} relayed"),
            &format!("post {i}"),
        )
        .await
        .expect("the relay is never killed");
    }
}

/// One post; its id if acknowledged, `None` if the node went away before answering. Any
/// answer but 201 to a valid post fails the test.
async fn post_once(node: &Api, author: &str, content: &str) -> Option<String> {
    let response = node
        .http
        .post(node.url("/new_transaction"))
        .json(&json!({ "author": author, "content": content }))
        .send()
        .await
        .ok()?;
    let status = response.status();
    let body = response.bytes().await.ok()?;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a valid post was refused: {}",
        String::from_utf8_lossy(&body)
    );
    let created: Value = serde_json::from_slice(&body).expect("JSON answer");
    Some(created["id"].as_str().expect("id").to_owned())
}

/// After a restart: every acknowledged post is pending or confirmed, every acknowledged
/// block is known, the chain links up from genesis, `/status` agrees with `/chain`, and no
/// known block has more work than the tip. The node is already mining and syncing again,
/// so each check reads one consistent answer or re-reads until two answers agree.
async fn assert_everything_acknowledged_is_back(
    node: &ChildNode,
    acknowledged: &Acknowledged,
    round: u32,
) {
    let chain = node.chain().await;
    assert_links_up_from_genesis(&chain);
    let blocks = chain["chain"].as_array().expect("array");
    let mut present = ids(posts_in_chain(&chain).into_iter().map(|(_, tx)| tx));
    present.extend(ids(node.pending().await.as_array().expect("array").clone()));
    for id in acknowledged.posts.difference(&present) {
        // Mined between the two reads above: ask about it alone.
        let response = node.get(&format!("/transactions/{id}")).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "after kill {round}: acknowledged post {id} is lost"
        );
    }
    let on_best_chain: HashSet<&str> = blocks.iter().filter_map(|b| b["hash"].as_str()).collect();
    for hash in &acknowledged.blocks {
        if !on_best_chain.contains(hash.as_str()) {
            let response = node.get(&format!("/blocks/{hash}")).await;
            assert_eq!(
                response.status(),
                StatusCode::OK,
                "after kill {round}: acknowledged block {hash} is lost"
            );
        }
    }
    wait_until(
        "/status and /chain describe the same tip",
        PATIENCE,
        || async {
            let status = node.status().await;
            let chain = node.chain().await;
            let blocks = chain["chain"].as_array().expect("array");
            let last = &blocks[blocks.len() - 1];
            let settled =
                node.status().await["tip"] == status["tip"] && status["tip"] == last["hash"];
            if settled {
                assert_eq!(status["height"], last["index"], "after kill {round}");
                assert_eq!(status["length"].as_u64(), Some(blocks.len() as u64));
            }
            settled
        },
    )
    .await;
    let height = node.height().await;
    let tree = node.get_json(&format!("/tree?from={height}")).await;
    let work_of = |block: &Value| block["cumulative_work"].as_u64().expect("work");
    let tree_blocks = tree["blocks"].as_array().expect("array");
    let tip = tree_blocks
        .iter()
        .find(|block| block["hash"] == tree["tip"])
        .expect("the tip is in the tree");
    assert!(
        tree_blocks
            .iter()
            .all(|block| work_of(block) <= work_of(tip)),
        "after kill {round}: a known block has more work than the tip: {tree}"
    );
}
#[tokio::test]
async fn sigterm_shuts_down_cleanly_and_keeps_the_chain() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = ChildNode::start(dir.path(), DIFFICULTY);
    node.post("bob", "before SIGTERM").await;
    node.mine().await;
    let chain_before = node.chain().await;
    assert!(node.terminate().success());
    let node = ChildNode::start(dir.path(), DIFFICULTY);
    assert_eq!(node.chain().await, chain_before);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (node, lines) = ChildNode::start_with(dir.path(), DIFFICULTY, &["--log-format", "json"]);
    assert!(lines.len() >= 2, "{lines:?}");
    for line in &lines {
        let entry: Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(
            entry["level"].is_string() && entry["fields"].is_object(),
            "{line}"
        );
    }
    assert_eq!(node.status().await["height"], 0);
}

/// A data directory holding a copy of the fixture store `name` (under `tests/fixtures`),
/// with the `GET /chain` and `GET /pending_tx` its node answered when it was made.
fn data_directory_of(name: &str) -> (tempfile::TempDir, Value, Value) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let read_json = |name: &str| -> Value {
        serde_json::from_slice(&std::fs::read(fixture.join(name)).expect("fixture file"))
            .expect("fixture JSON")
    };
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(fixture.join("chain.redb"), dir.path().join("chain.redb")).expect("copied");
    (dir, read_json("chain.json"), read_json("pending.json"))
}

/// A data directory written by 7470ebd, the last release that stored the API's JSON (see
/// `tests/fixtures/store-7470ebd/README.md`), is upgraded in place to the binary form: the
/// node serves the same chain and pending posts, byte for byte, before and after a restart.
#[tokio::test]
async fn a_data_directory_of_the_json_release_is_upgraded_and_serves_the_same_chain() {
    let (dir, chain, pending) = data_directory_of("store-7470ebd");

    for run in ["upgrading", "after the upgrade"] {
        let node = TestNode::spawn_persistent(DIFFICULTY, dir.path()).await;
        assert_eq!(node.api.chain().await["chain"], chain["chain"], "{run}");
        assert_eq!(node.api.pending().await, pending, "{run}");
        node.stop().await.expect("stops");
    }
}

/// A data directory written by babd85d (schema version 2; see
/// `tests/fixtures/store-babd85d/README.md`) gains the author index in place: the node
/// serves the same chain and pending posts, and each author's posts, before and after a
/// restart.
#[tokio::test]
async fn a_data_directory_of_schema_2_is_upgraded_and_lists_each_authors_posts() {
    let (dir, chain, pending) = data_directory_of("store-babd85d");
    let signed = &chain["chain"][1]["transactions"][1];
    assert_eq!(signed["author"], "Zoë");
    let key = signed["public_key"].as_str().expect("a signed post");

    for run in ["upgrading", "after the upgrade"] {
        let node = TestNode::spawn_persistent(DIFFICULTY, dir.path()).await;
        assert_eq!(node.api.chain().await["chain"], chain["chain"], "{run}");
        assert_eq!(node.api.pending().await, pending, "{run}");
        let by_key = node.api.get_json(&format!("/posts?key={key}")).await;
        assert_eq!(by_key["posts"][0]["transaction"], *signed, "{run}");
        assert_eq!(by_key["posts"].as_array().map(Vec::len), Some(1), "{run}");
        let by_bob = node.api.get_json("/posts?author=bob").await;
        assert_eq!(
            by_bob["posts"][0]["transaction"], chain["chain"][2]["transactions"][0],
            "{run}"
        );
        node.stop().await.expect("stops");
    }
}
