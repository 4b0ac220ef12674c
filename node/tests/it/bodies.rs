//! Block bodies live on disk: a node keeps in memory only the newest of its durable
//! best-chain blocks (`--block-cache-mib`), and reads older ones back when a
//! reorganization needs them.

use std::collections::HashSet;

use chainpost_node::config::Config;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Api, TestNode};

const DIFFICULTY: u32 = 8;
const DEPTH: usize = 100;

async fn held_body_bytes(api: &Api) -> u64 {
    let text = api.get("/metrics").await.text().await.expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix("chainpost_block_bodies_held_bytes "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no held-bytes gauge in {text}"))
}

fn ids(posts: &Value) -> HashSet<String> {
    posts
        .as_array()
        .expect("array")
        .iter()
        .map(|tx| tx["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A node whose block cache holds nothing: every durable best-chain body but the tip's
/// is on disk only.
fn without_block_cache(dir: &std::path::Path) -> Config {
    let mut config = Config::ephemeral(DIFFICULTY);
    config.in_memory = false;
    config.data_dir = Some(dir.to_path_buf());
    config.block_cache_bytes = 0;
    config
}

#[tokio::test]
async fn a_reorganization_100_deep_restores_exactly_the_abandoned_posts_from_disk() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (node, rival) = tokio::join!(
        TestNode::spawn_with(without_block_cache(dir.path())),
        TestNode::spawn(DIFFICULTY)
    );
    let mut abandoned = HashSet::new();
    for i in 0..DEPTH {
        abandoned.insert(node.post("alice", &format!("abandoned {i}")).await);
        node.mine().await;
    }
    for i in 0..=DEPTH {
        rival.post("bob", &format!("kept {i}")).await;
        rival.mine().await;
    }
    let chain_bytes = node.get("/chain").await.bytes().await.expect("body").len();
    let held = held_body_bytes(&node).await;
    assert!(
        (held as usize) * 20 < chain_bytes,
        "{held} bytes of bodies held for a chain of {chain_bytes} bytes of JSON"
    );

    // The rival's blocks, oldest first: side blocks until the last outweighs the chain.
    let rival_chain = rival.chain().await;
    let blocks = rival_chain["chain"].as_array().expect("chain");
    for (height, block) in blocks.iter().enumerate().skip(1) {
        let response = node.add_block(block).await;
        let status = response.status();
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(status, StatusCode::CREATED, "block {height}: {answer}");
        let expected = if height <= DEPTH {
            "side_branch"
        } else {
            "reorganized"
        };
        assert_eq!(answer["outcome"], expected, "block {height}");
    }
    assert_eq!(node.chain().await["chain"], rival_chain["chain"]);
    assert_eq!(
        ids(&node.pending().await),
        abandoned,
        "exactly the abandoned posts are pending"
    );

    // And so it stays after a restart, which replays the reorganization from disk.
    node.stop().await.expect("stops");
    let node = TestNode::spawn_with(without_block_cache(dir.path())).await;
    assert_eq!(node.chain().await["chain"], rival_chain["chain"]);
    assert_eq!(ids(&node.pending().await), abandoned);
    assert_eq!(node.mine().await, format!("Block #{} is mined.", DEPTH + 2));
    assert!(node.pending().await.as_array().expect("array").is_empty());
}
