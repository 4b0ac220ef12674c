//! `GET /search?q=`: full-text search over the best chain's posts, from a tantivy index
//! that follows the chain on its own thread: every word must match (text, author's name,
//! handle; any case, accents folded), newest first, paged; a reorganization takes the
//! abandoned branch's posts out of it; a missing or broken index is rebuilt from the store.

use std::time::Duration;

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use serde_json::Value;

use chainpost_edge::clock::unix_now_f64 as now_f64;

use crate::helpers::{Api, ChildNode, TestNode, signed_profile, wait_until};

const DIFFICULTY: u32 = 8;

/// Waits until the node's search index is open (503 until then) and has reached its tip.
async fn indexed(api: &Api) {
    let tip = api.tip().await;
    wait_until(
        "the search index reaches the tip",
        Duration::from_secs(30),
        || async {
            let response = api.get("/search?q=anything").await;
            if response.status() == StatusCode::SERVICE_UNAVAILABLE {
                return false;
            }
            assert_eq!(response.status(), StatusCode::OK);
            let answer: Value = response.json().await.expect("JSON");
            answer["indexed"]["hash"] == tip.as_str()
        },
    )
    .await;
}

/// The content of every post found for `words`, newest first, `limit` a page.
async fn found(api: &Api, words: &str, limit: usize) -> Vec<String> {
    let mut contents = Vec::new();
    let mut before = String::new();
    loop {
        let page = api
            .get_json(&format!("/search?q={words}&limit={limit}{before}"))
            .await;
        let posts = page["posts"].as_array().expect("posts");
        assert!(posts.len() <= limit, "{page}");
        for post in posts {
            assert_eq!(post["status"], "confirmed", "{post}");
            contents.push(
                post["transaction"]["content"]
                    .as_str()
                    .expect("text")
                    .to_owned(),
            );
        }
        match page["next"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => return contents,
        }
    }
}

#[tokio::test]
async fn every_word_must_match_in_text_name_or_handle_newest_first_and_paged() {
    let node = TestNode::spawn(DIFFICULTY).await;
    node.post("Zoë", "Rust and blockchains").await;
    node.post("bob", "I like RUST, and tea").await;
    node.mine().await;
    node.post("carol", "tea at five").await;
    node.post("dave", "rust never sleeps").await;
    let key = SigningKey::from_bytes(&[31; 32]);
    node.post_json(
        "/new_transaction",
        &signed_profile(&key, "Alice", "writes about tea", now_f64(), "teapot"),
    )
    .await;
    node.mine().await;
    node.post("erin", "rust, still pending").await;
    indexed(&node).await;

    assert_eq!(
        found(&node, "rust", 10).await,
        [
            "rust never sleeps",
            "I like RUST, and tea",
            "Rust and blockchains"
        ]
    );
    for limit in [1, 2] {
        assert_eq!(
            found(&node, "rust", limit).await,
            [
                "rust never sleeps",
                "I like RUST, and tea",
                "Rust and blockchains"
            ],
            "limit {limit}"
        );
    }
    assert_eq!(
        found(&node, "Rust%20TEA", 10).await,
        ["I like RUST, and tea"]
    );
    assert_eq!(
        found(&node, "zoe", 10).await,
        ["Rust and blockchains"],
        "by name, accent folded"
    );
    assert_eq!(
        found(&node, "teapot", 10).await,
        ["writes about tea"],
        "by handle"
    );
    assert_eq!(found(&node, "coffee", 10).await, Vec::<String>::new());
    let page = node.get_json("/search?q=tea").await;
    assert_eq!(page["indexed"]["index"], 2);
}

#[tokio::test]
async fn pages_stay_newest_first_across_the_index_segments_of_many_blocks() {
    let node = TestNode::spawn(DIFFICULTY).await;
    let mut expected = Vec::new();
    // A block a commit of the index: each is a segment of its own until tantivy merges.
    for block in 0..12 {
        for post in 0..(block % 4 + 1) {
            let content = format!("common word, block {block} post {post}");
            node.post("alice", &content).await;
            expected.push(content);
        }
        node.post("bob", "another word").await;
        node.mine().await;
        indexed(&node).await;
    }
    // Within a block, positions are the mempool's order of arrival.
    expected.reverse();
    for limit in [1, 2, 3, 5, 100] {
        assert_eq!(
            found(&node, "common", limit).await,
            expected,
            "limit {limit}"
        );
    }
}

#[tokio::test]
async fn bad_searches_are_refused_with_a_reason() {
    let node = TestNode::spawn(DIFFICULTY).await;
    let many = (0..9)
        .map(|i| format!("w{i}"))
        .collect::<Vec<_>>()
        .join("+");
    for (query, says) in [
        ("", "needs a word"),
        ("q=", "needs a word"),
        ("q=%21%3F", "needs a word"),
        (&format!("q={many}") as &str, "at most 8"),
        (&format!("q={}", "a".repeat(201)), "at most 200"),
        ("q=rust&before=yesterday", "before"),
        ("q=rust&limit=0", "limit"),
        ("q=rust&limit=101", "limit"),
    ] {
        let response = node.get(&format!("/search?{query}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = response.json().await.expect("JSON");
        let error = body["error"].as_str().expect("error");
        assert!(error.contains(says), "{query}: {error}");
    }
}

#[tokio::test]
async fn a_reorganization_takes_the_abandoned_branchs_posts_out_of_search() {
    let (a, b) = (
        TestNode::spawn(DIFFICULTY).await,
        TestNode::spawn(DIFFICULTY).await,
    );
    a.post("alice", "searchable on branch a").await;
    a.mine().await;
    indexed(&a).await;
    assert_eq!(
        found(&a, "searchable", 10).await,
        ["searchable on branch a"]
    );
    b.post("bob", "searchable on branch b").await;
    b.mine().await;
    b.post("bob", "makes b heavier").await;
    b.mine().await;
    let heavier = b.chain().await;
    for block in heavier["chain"].as_array().expect("chain").iter().skip(1) {
        assert!(a.add_block(block).await.status().is_success());
    }
    indexed(&a).await;
    assert_eq!(
        found(&a, "searchable", 10).await,
        ["searchable on branch b"]
    );
    // Mined again on the new branch, the returned post is found again, at its new place.
    a.mine().await;
    indexed(&a).await;
    assert_eq!(
        found(&a, "searchable", 10).await,
        ["searchable on branch a", "searchable on branch b"]
    );
}

#[tokio::test]
async fn an_index_removed_or_broken_is_rebuilt_from_the_chain_at_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let node = ChildNode::start(dir.path(), DIFFICULTY);
        node.post("alice", "kept in the chain").await;
        node.mine().await;
        indexed(&node).await;
        assert_eq!(found(&node, "kept", 10).await, ["kept in the chain"]);
        node.terminate();
    }
    let index = dir.path().join("search");
    assert!(
        index.join("meta.json").is_file(),
        "the index lives beside the store"
    );
    std::fs::remove_dir_all(&index).expect("removed");
    {
        let node = ChildNode::start(dir.path(), DIFFICULTY);
        indexed(&node).await;
        assert_eq!(found(&node, "kept", 10).await, ["kept in the chain"]);
        node.post("bob", "kept after the rebuild").await;
        node.mine().await;
        indexed(&node).await;
        node.terminate();
    }
    std::fs::write(index.join("meta.json"), b"{ not tantivy's").expect("broken");
    let node = ChildNode::start(dir.path(), DIFFICULTY);
    indexed(&node).await;
    assert_eq!(
        found(&node, "kept", 10).await,
        ["kept after the rebuild", "kept in the chain"]
    );
}
