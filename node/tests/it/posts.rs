//! `GET /posts`: the best chain's posts, newest first, all of them or one author's, paged
//! by cursor, read from the store's indexes; and they follow a reorganization. Threads
//! (`GET /posts/{id}/thread`): replies in chain order, then the pending ones.

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use chainpost_edge::clock::unix_now_f64 as now_f64;

use crate::helpers::{Api, TestNode, signed_post, signed_reply};

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
async fn an_authors_posts_follow_a_reorganization_and_the_abandoned_post_is_returned() {
    let (a, b) = (
        TestNode::spawn(DIFFICULTY).await,
        TestNode::spawn(DIFFICULTY).await,
    );
    let abandoned = a.post("alice", "only on a").await;
    a.mine().await;
    let fresh = a.post("carol", "sent after the block").await;
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
    // The abandoned branch's post is pending again, so no longer listed as confirmed, and
    // says why; a post that was only ever pending does not.
    let pending = a.pending().await;
    let returned: Vec<(&str, bool)> = pending
        .as_array()
        .expect("a list")
        .iter()
        .map(|post| {
            (
                post["content"].as_str().expect("content"),
                post["returned"] == true,
            )
        })
        .collect();
    assert_eq!(
        returned,
        [("sent after the block", false), ("only on a", true)],
        "{pending}"
    );
    let status = a.get_json(&format!("/transactions/{abandoned}")).await;
    assert_eq!(
        (&status["status"], &status["returned"]),
        (&json!("pending"), &json!(true))
    );
    let status = a.get_json(&format!("/transactions/{fresh}")).await;
    assert_eq!(status["returned"], Value::Null, "{status}");

    // Confirmed again, it is an ordinary confirmed post.
    a.mine().await;
    let status = a.get_json(&format!("/transactions/{abandoned}")).await;
    assert_eq!(status["status"], "confirmed");
    assert_eq!(status["returned"], Value::Null, "{status}");
}

/// Every page of the thread of `id`, `limit` replies at a time: each reply's content and
/// state, and the post the thread is of.
async fn thread(api: &Api, id: &str, limit: usize) -> (Value, Vec<(String, String)>) {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let cursor = after
            .as_ref()
            .map(|cursor| format!("&after={cursor}"))
            .unwrap_or_default();
        let page = api
            .get_json(&format!("/posts/{id}/thread?limit={limit}{cursor}"))
            .await;
        let replies = page["replies"].as_array().expect("replies");
        for reply in replies {
            assert_eq!(reply["transaction"]["reply_to"], id, "{reply}");
            seen.push((
                reply["transaction"]["content"]
                    .as_str()
                    .expect("content")
                    .to_owned(),
                reply["status"].as_str().expect("status").to_owned(),
            ));
        }
        match &page["next"] {
            Value::Null => return (page["post"].clone(), seen),
            Value::String(next) => {
                assert!(replies.len() == limit, "{page}");
                after = Some(next.clone());
            }
            other => panic!("next is {other}"),
        }
    }
}

async fn reply(node: &TestNode, author: &str, content: &str, parent: &str) -> String {
    let response = node
        .post_json(
            "/new_transaction",
            &serde_json::json!({ "author": author, "content": content, "reply_to": parent }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("JSON body");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_thread_lists_confirmed_replies_in_chain_order_then_pending_ones() {
    let node = TestNode::spawn(DIFFICULTY).await;
    let key = SigningKey::from_bytes(&[3; 32]);
    let root = node.post("alice", "root").await;
    let r1 = reply(&node, "bob", "r1", &root).await;
    node.mine().await;
    let signed = node
        .post_json(
            "/new_transaction",
            &signed_reply(&key, "carol", "r2", now_f64(), Some(&root)),
        )
        .await;
    assert_eq!(signed.status(), StatusCode::CREATED);
    reply(&node, "dave", "to r1", &r1).await;
    node.post("erin", "not a reply").await;
    node.mine().await;
    reply(&node, "frank", "r3, pending", &root).await;

    let expected = [
        ("r1", "confirmed"),
        ("r2", "confirmed"),
        ("r3, pending", "pending"),
    ]
    .map(|(content, state)| (content.to_owned(), state.to_owned()));
    for limit in [1, 2, 100] {
        let (post, replies) = thread(&node.api, &root, limit).await;
        assert_eq!(post["transaction"]["id"], root.as_str());
        assert_eq!(post["status"], "confirmed");
        assert_eq!(replies, expected, "limit {limit}");
    }
    // Counts: the replies in the best chain, wherever a post is listed.
    let count = |status: &Value| status["reply_count"].as_u64();
    let top_level = node.get_json(&format!("/transactions/{root}")).await;
    assert_eq!(count(&top_level), Some(2), "r3 is pending: {top_level}");
    let page = node.get_json("/posts?limit=100").await;
    let counts: Vec<(String, Option<u64>)> = page["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .map(|post| {
            let content = post["transaction"]["content"].as_str().expect("content");
            (content.to_owned(), count(post))
        })
        .collect();
    let of = |content: &str| {
        counts
            .iter()
            .find(|(shown, _)| shown == content)
            .and_then(|(_, count)| *count)
    };
    assert_eq!(
        (of("root"), of("r1"), of("r2")),
        (Some(2), Some(1), Some(0))
    );
    let (post, replies) = thread(&node.api, &r1, 5).await;
    assert_eq!(count(&post), Some(1));
    assert_eq!(post["transaction"]["reply_to"], root.as_str());
    assert_eq!(replies, [("to r1".to_owned(), "confirmed".to_owned())]);

    // Replies travel in blocks as any field does, and a post that replies to nothing
    // keeps the tutorial's shape.
    let chain = node.chain().await.to_string();
    assert!(
        chain.contains(&format!(r#""reply_to":"{root}""#)),
        "{chain}"
    );
    let top_level = node.get_json(&format!("/transactions/{root}")).await;
    assert!(
        top_level["transaction"].get("reply_to").is_none(),
        "{top_level}"
    );
    // A thread of a pending post: its replies may already be confirmed or pending.
    let pending_root = node.post("gina", "pending root").await;
    reply(&node, "hal", "to a pending post", &pending_root).await;
    let (post, replies) = thread(&node.api, &pending_root, 5).await;
    assert_eq!(post["status"], "pending");
    assert_eq!(count(&post), Some(0), "its reply is pending");
    assert_eq!(
        replies,
        [("to a pending post".to_owned(), "pending".to_owned())]
    );
}
