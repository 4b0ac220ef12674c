//! Durability: every acknowledged post and block survives `kill -9` at any moment, and a
//! restart rebuilds the same tip.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ChildNode, posts_in_chain};

const DIFFICULTY: u32 = 8;

fn ids(values: impl IntoIterator<Item = Value>) -> HashSet<String> {
    values
        .into_iter()
        .map(|tx| tx["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Checks that the chain links up from genesis and that `/status` agrees with it.
async fn assert_consistent(node: &ChildNode) -> Value {
    let chain = node.chain().await;
    let blocks = chain["chain"].as_array().expect("array");
    assert_eq!(chain["length"].as_u64(), Some(blocks.len() as u64));
    for pair in blocks.windows(2) {
        assert_eq!(pair[1]["previous_hash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["index"].as_u64(),
            pair[0]["index"].as_u64().map(|i| i + 1)
        );
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_acknowledged_under_load_survive_kill_9_at_any_moment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let acknowledged: Arc<Mutex<HashSet<String>>> = Arc::default();
    for round in 0..5u32 {
        let node = ChildNode::start(dir.path(), DIFFICULTY);
        let chain = assert_consistent(&node).await;
        let present: HashSet<String> = ids(posts_in_chain(&chain).into_iter().map(|(_, tx)| tx))
            .union(&ids(node
                .pending()
                .await
                .as_array()
                .expect("array")
                .clone()))
            .cloned()
            .collect();
        let missing: Vec<_> = acknowledged
            .lock()
            .expect("lock")
            .difference(&present)
            .cloned()
            .collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged posts lost: {missing:?}"
        );

        // Writers and a miner run concurrently; the kill lands after a number of
        // acknowledgements that differs each round, mid-flight for the others.
        let kill_after = 10 + 7 * round as usize;
        let (enough, mut enough_rx) = tokio::sync::watch::channel(false);
        let mut writers = Vec::new();
        for writer in 0..4 {
            let api = node.api.clone();
            let acknowledged = acknowledged.clone();
            let enough = enough.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let body = json!({ "author": format!("writer{writer}"), "content": format!("round {round} post {i}") });
                    let Ok(response) = api.http.post(api.url("/new_transaction")).json(&body).send().await else {
                        return;
                    };
                    if response.status() != StatusCode::CREATED {
                        return;
                    }
                    let Ok(created) = response.json::<Value>().await else { return };
                    let mut acked = acknowledged.lock().expect("lock");
                    acked.insert(created["id"].as_str().expect("id").to_owned());
                    if acked.len() >= kill_after * (round as usize + 1) {
                        let _ = enough.send(true);
                    }
                }
            }));
        }
        let miner = {
            let api = node.api.clone();
            tokio::spawn(
                async move { while api.http.get(api.url("/mine")).send().await.is_ok() {} },
            )
        };
        enough_rx
            .wait_for(|done| *done)
            .await
            .expect("writers signal");
        node.kill_9();
        for writer in writers {
            writer.await.expect("writer task");
        }
        miner.await.expect("miner task");
    }
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
