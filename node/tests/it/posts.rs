//! `GET /posts`: the best chain's posts, newest first, all of them or one author's, paged
//! by cursor, read from the store's indexes; and they follow a reorganization.

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use serde_json::Value;

use chainpost_edge::clock::unix_now_f64 as now_f64;

use crate::helpers::{Api, TestNode, signed_post};

const DIFFICULTY: u32 = 8;

/// Every page of `query`, `limit` posts at a time: each post's content and block height.
async fn paged(api: &Api, query: &str, limit: usize) -> Vec<(String, u64)> {
    let mut seen = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let cursor = before
            .as_ref()
            .map(|cursor| format!("&before={cursor}"))
            .unwrap_or_default();
        let page = api
            .get_json(&format!("/posts?limit={limit}{query}{cursor}"))
            .await;
        let posts = page["posts"].as_array().expect("posts");
        assert!(posts.len() <= limit, "{page}");
        for post in posts {
            assert_eq!(post["status"], "confirmed", "{post}");
            seen.push((
                post["transaction"]["content"]
                    .as_str()
                    .expect("content")
                    .to_owned(),
                post["block"]["index"].as_u64().expect("height"),
            ));
        }
        match &page["next"] {
            Value::Null => return seen,
            Value::String(next) => before = Some(next.clone()),
            other => panic!("next is {other}"),
        }
    }
}

fn contents(posts: &[(String, u64)]) -> Vec<&str> {
    posts.iter().map(|(content, _)| content.as_str()).collect()
}

#[tokio::test]
async fn posts_page_newest_first_by_name_and_by_key() {
    let node = TestNode::spawn(DIFFICULTY).await;
    let key = SigningKey::from_bytes(&[3; 32]);
    let key_hex = hex::encode(key.verifying_key().to_bytes());
    let sign = |author: &str, content: &str| signed_post(&key, author, content, now_f64());
    node.post("alice", "a1").await;
    let signed = node
        .post_json("/new_transaction", &sign("alice", "k1"))
        .await;
    assert_eq!(signed.status(), StatusCode::CREATED);
    node.mine().await;
    node.post("bob", "b1").await;
    node.post("alice", "a2").await;
    node.mine().await;
    let signed = node
        .post_json("/new_transaction", &sign("someone else", "k2"))
        .await;
    assert_eq!(signed.status(), StatusCode::CREATED);
    node.post("alice", "a3").await;
    node.mine().await;
    node.post("alice", "pending, not listed").await;

    for limit in [1, 2, 100] {
        let all = paged(&node.api, "", limit).await;
        // Newest block first, and within a block from its last post to its first.
        let expected = [
            ("a3", 3),
            ("k2", 3),
            ("a2", 2),
            ("b1", 2),
            ("k1", 1),
            ("a1", 1),
        ];
        let expected: Vec<_> = expected
            .iter()
            .map(|(content, height)| ((*content).to_owned(), *height))
            .collect();
        assert_eq!(all, expected, "limit {limit}");

        let alice = paged(&node.api, "&author=alice", limit).await;
        assert_eq!(contents(&alice), ["a3", "a2", "a1"], "limit {limit}");

        let by_key = paged(&node.api, &format!("&key={key_hex}"), limit).await;
        assert_eq!(
            by_key,
            [("k2".to_owned(), 3), ("k1".to_owned(), 1)],
            "limit {limit}"
        );
    }
    // A signed post's name is not an author: "someone else" wrote nothing unsigned.
    assert!(
        paged(&node.api, "&author=someone%20else", 5)
            .await
            .is_empty()
    );
    let first = node.get_json("/posts").await;
    assert_eq!(first["posts"].as_array().map(Vec::len), Some(6));
    assert_eq!(first["next"], Value::Null);
}

#[tokio::test]
async fn an_authors_posts_follow_a_reorganization() {
    let (a, b) = (
        TestNode::spawn(DIFFICULTY).await,
        TestNode::spawn(DIFFICULTY).await,
    );
    a.post("alice", "only on a").await;
    a.mine().await;
    b.post("alice", "only on b").await;
    b.mine().await;
    // The tutorial's `/mine` mines nothing without pending posts.
    b.post("bob", "makes b heavier").await;
    b.mine().await;
    assert_eq!(
        contents(&paged(&a.api, "&author=alice", 10).await),
        ["only on a"]
    );

    let heavier = b.chain().await;
    for block in heavier["chain"].as_array().expect("chain").iter().skip(1) {
        let response = a.add_block(block).await;
        let status = response.status();
        assert!(status.is_success(), "{:?}", response.text().await);
    }
    assert_eq!(a.tip().await, b.tip().await);
    assert_eq!(
        paged(&a.api, "&author=alice", 10).await,
        [("only on b".to_owned(), 1)]
    );
    // The abandoned branch's post is pending again, so no longer listed as confirmed.
    let pending = a.pending().await;
    assert!(pending.to_string().contains("only on a"), "{pending}");
}
