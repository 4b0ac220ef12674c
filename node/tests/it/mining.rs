//! Mining off the runtime: the API keeps answering during a hard search, concurrent
//! requests share one search, and a search stops when nobody needs it any more.

use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{TestNode, wait_until};

/// Far beyond what a test can mine: a search at this difficulty only ends by being stopped.
const HARD: u32 = 48;
/// How long a stopped search may take to notice, generously; it guards against hangs and
/// measures nothing.
const STOP_GUARD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_answers_while_mining_a_hard_block() {
    let node = TestNode::spawn(HARD).await;
    node.post("alice", "hard to mine").await;
    let miner = tokio::spawn({
        let api = node.api.clone();
        async move { api.get("/mine").await.status() }
    });
    wait_until("the search is running", STOP_GUARD, || async {
        node.status().await["mining"] == true
    })
    .await;

    for i in 0..20 {
        assert_eq!(node.status().await["mining"], true);
        assert_eq!(node.chain().await["length"], 1);
        node.post("bob", &format!("while mining {i}")).await;
    }
    assert_eq!(node.pending().await.as_array().map(Vec::len), Some(21));
    assert!(!miner.is_finished());

    // Shutting down stops the search, answers the miner, and lets the server exit.
    tokio::time::timeout(STOP_GUARD, node.stop())
        .await
        .expect("the search stops on shutdown")
        .expect("server exits cleanly");
    let status = miner.await.expect("mining request task");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_mining_request_stops_its_search() {
    let node = TestNode::spawn(HARD).await;
    node.post("alice", "nobody waits for this").await;
    let miner = tokio::spawn({
        let api = node.api.clone();
        async move { api.get("/mine").await }
    });
    wait_until("the search is running", STOP_GUARD, || async {
        node.status().await["mining"] == true
    })
    .await;
    miner.abort();
    wait_until("the search stops", STOP_GUARD, || async {
        node.status().await["mining"] == false
    })
    .await;
    assert_eq!(node.pending().await.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_mining_requests_mine_each_post_once() {
    let node = TestNode::spawn(12).await;
    node.post("carol", "only one block needed").await;
    let (first, second) = tokio::join!(node.mine(), node.mine());
    let mut answers = [first, second];
    answers.sort();
    assert_eq!(answers, ["Block #1 is mined.", "No transactions to mine"]);
    assert_eq!(node.chain().await["length"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mine_makes_an_empty_block_only_where_empty_blocks_are_allowed() {
    let plain = TestNode::spawn(4).await;
    assert_eq!(plain.mine().await, "No transactions to mine");
    assert_eq!(plain.height().await, 0);

    let mut config = chainpost_node::config::Config::ephemeral(4);
    config.mine_empty_blocks = true;
    let empty = TestNode::spawn_with(config).await;
    empty.mine().await;
    assert_eq!(empty.height().await, 1);
    assert_eq!(
        empty.chain().await["chain"][1]["transactions"],
        serde_json::json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retargeting_raises_the_difficulty_of_fast_blocks_and_peers_enforce_it() {
    let retargeting = || {
        let mut config = chainpost_node::config::Config::ephemeral(4);
        config.mine_empty_blocks = true;
        config.target_block_time = Some(10);
        config.retarget_interval = 4;
        config
    };
    let miner = TestNode::spawn_with(retargeting()).await;
    for _ in 0..12 {
        miner.mine().await;
    }
    let chain = miner.chain().await;
    let difficulties: Vec<u64> = chain["chain"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|block| block["difficulty"].as_u64().expect("difficulty"))
        .collect();
    // Blocks seconds apart where 10 s was the target: each retarget (heights 4, 8, 12)
    // raises the difficulty by the most a step allows, two bits.
    assert_eq!(difficulties, [4, 4, 4, 4, 6, 6, 6, 6, 8, 8, 8, 8, 10]);
    assert_eq!(
        miner.status().await["difficulty"],
        10,
        "/status says what the next block needs, not the floor"
    );

    // A node with the same rules checks every difficulty and takes the chain; a node with
    // a fixed difficulty is another network altogether.
    let follower = TestNode::spawn_with(retargeting()).await;
    follower.register_with(&miner).await;
    assert_eq!(follower.tip().await, miner.tip().await);
    let fixed = TestNode::spawn(4).await;
    let refused = fixed
        .post_json(
            "/register_with",
            &serde_json::json!({"node_address": miner.base}),
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(fixed.height().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_mining_makes_real_blocks_that_a_hashing_node_accepts() {
    let mut config = chainpost_node::config::Config::ephemeral(8);
    // 2^8 hashes a block at 2,000 hashes a second: a block every 0.128 s on average.
    config.hash_rate = Some(2_000);
    config.simulated_mining_seed = Some(42);
    config.mine = true;
    config.mine_empty_blocks = true;
    let simulated = TestNode::spawn_with(config).await;
    let follower = TestNode::spawn(8).await;
    follower.register_with(&simulated).await;
    wait_until(
        "the follower takes 5 simulated blocks",
        Duration::from_secs(60),
        || async { follower.height().await >= 5 },
    )
    .await;
    let chain = follower.chain().await;
    for block in chain["chain"].as_array().expect("blocks").iter().skip(1) {
        let hash = block["hash"].as_str().expect("hash");
        assert!(
            hash.starts_with("00"),
            "{hash} carries 8 bits of proof of work"
        );
    }
}
