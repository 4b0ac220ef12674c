//! The tutorial's curl flow works unchanged, and the extra read endpoints agree with it.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestNode, posts_in_chain};

#[tokio::test]
async fn tutorial_flow_post_mine_and_read_back() {
    let node = TestNode::spawn(8).await;

    let genesis = node.chain().await;
    assert_eq!(genesis["length"], 1);
    assert_eq!(genesis["chain"][0]["index"], 0);
    assert_eq!(genesis["peers"], json!([]));

    let response = node.new_transaction("alice", "Some thoughts").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON");
    let id = created["id"].as_str().expect("id").to_owned();

    let pending = node.pending().await;
    assert_eq!(pending.as_array().map(Vec::len), Some(1));
    assert_eq!(pending[0]["author"], "alice");
    assert_eq!(pending[0]["content"], "Some thoughts");
    assert!(pending[0]["timestamp"].as_f64().is_some());

    assert_eq!(node.mine().await, "Block #1 is mined.");
    assert_eq!(node.mine().await, "No transactions to mine");
    assert_eq!(node.pending().await, json!([]));

    let chain = node.chain().await;
    assert_eq!(chain["length"], 2);
    let block = &chain["chain"][1];
    for field in [
        "index",
        "transactions",
        "timestamp",
        "previous_hash",
        "nonce",
        "hash",
        "difficulty",
        "merkle_root",
    ] {
        assert!(!block[field].is_null(), "block field {field}");
    }
    assert_eq!(block["previous_hash"], chain["chain"][0]["hash"]);
    assert!(
        block["hash"].as_str().expect("hash").starts_with("00"),
        "8 bits of work"
    );
    let posts = posts_in_chain(&chain);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].0, 1);
    assert_eq!(posts[0].1["id"], id.as_str());

    let lookup = node.get_json(&format!("/transactions/{id}")).await;
    assert_eq!(lookup["status"], "confirmed");
    assert_eq!(lookup["block"]["index"], 1);
    assert_eq!(lookup["block"]["hash"], block["hash"]);

    let detail = node
        .get_json(&format!(
            "/blocks/{}",
            block["hash"].as_str().expect("hash")
        ))
        .await;
    assert_eq!(detail["in_best_chain"], true);
    assert_eq!(detail["index"], 1);
    assert_eq!(
        detail["cumulative_work"], 512,
        "genesis and block 1 at 2^8 each"
    );

    let status = node.status().await;
    assert_eq!(status["height"], 1);
    assert_eq!(status["tip"], block["hash"]);
    assert_eq!(status["difficulty"], 8);
    assert_eq!(status["mempool_size"], 0);
    assert_eq!(status["peers"], 0);
}

#[tokio::test]
async fn a_body_without_content_type_is_still_json() {
    let node = TestNode::spawn(8).await;
    let response = node
        .post_raw(
            "/new_transaction",
            r#"{"author": "bob", "content": "no header"}"#,
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let pending = node.pending().await;
    assert_eq!(pending[0]["author"], "bob");
}

#[tokio::test]
async fn chain_pages_from_a_height_and_keep_the_full_length() {
    let node = TestNode::spawn(4).await;
    for i in 0..5 {
        node.post("carol", &format!("post {i}")).await;
        node.mine().await;
    }
    let full = node.chain().await;
    assert_eq!(full["length"], 6);
    let page = node.get_json("/chain?from=2&limit=3").await;
    assert_eq!(page["length"], 6);
    let indexes: Vec<_> = page["chain"]
        .as_array()
        .expect("array")
        .iter()
        .map(|b| b["index"].as_u64().expect("index"))
        .collect();
    assert_eq!(indexes, vec![2, 3, 4]);
    assert_eq!(page["chain"][0], full["chain"][2]);
    let past_the_end = node.get_json("/chain?from=100").await;
    assert_eq!(past_the_end["chain"], json!([]));
}

#[tokio::test]
async fn pending_posts_are_found_by_id() {
    let node = TestNode::spawn(8).await;
    let id = node.post("dave", "waiting").await;
    let lookup = node.get_json(&format!("/transactions/{id}")).await;
    assert_eq!(lookup["status"], "pending");
    assert_eq!(lookup["block"], Value::Null);
    assert_eq!(lookup["transaction"]["content"], "waiting");
    let missing = node
        .get(&format!("/transactions/{}", "ab".repeat(32)))
        .await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_count_mined_blocks_and_mirror_the_chain() {
    let node = TestNode::spawn(8).await;
    node.post("erin", "measured").await;
    node.mine().await;
    let response = node.get("/metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.expect("text");
    for expected in [
        "chainpost_height 1\n",
        "chainpost_cumulative_work 512.0\n",
        "chainpost_mempool_size 0\n",
        "chainpost_peers 0\n",
        "chainpost_blocks_accepted_total{reason=\"extended\"} 1\n",
        "chainpost_reorgs_total 0\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let hash_rate = text
        .lines()
        .find_map(|line| line.strip_prefix("chainpost_hash_rate "))
        .and_then(|value| value.parse::<f64>().ok())
        .expect("hash rate");
    assert!(hash_rate > 0.0);

    let mut forged = node.chain().await["chain"][1].clone();
    forged["nonce"] = json!(forged["nonce"].as_u64().expect("nonce") + 1);
    node.add_block(&forged).await;
    let text = node.get("/metrics").await.text().await.expect("text");
    assert!(
        text.contains("chainpost_blocks_rejected_total{reason=\"hash_mismatch\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_full_mempool_refuses_with_503_until_a_block_makes_room() {
    let mut config = chainpost_node::config::Config::ephemeral(8);
    config.max_pending = 2;
    let node = TestNode::spawn_with(config).await;
    node.post("fay", "one").await;
    node.post("fay", "two").await;
    let refused = node.new_transaction("fay", "three").await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|error| error.contains("mempool full")),
        "{body}"
    );
    node.mine().await;
    node.post("fay", "three").await;
}
