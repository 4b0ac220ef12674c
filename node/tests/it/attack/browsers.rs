//! What a web page can make a visitor's browser do to a node: cross-site requests that
//! need no CORS preflight, and DNS rebinding through the Host header.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_requests_from_other_origins_change_nothing() {
    let node = TestNode::spawn(4).await;
    node.post("alice", "waiting").await;
    let post = json!({ "author": "mallory", "content": "forged" }).to_string();
    let http = reqwest::Client::new();
    let own_origin = node.base.clone();
    let refused = [
        ("origin", "http://evil.example"),
        ("origin", "null"),
        ("origin", "http://127.0.0.1:1"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ];
    for (header, value) in refused {
        let answer = http
            .post(node.url("/new_transaction"))
            .header("content-type", "text/plain")
            .header(header, value)
            .body(post.clone())
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), StatusCode::FORBIDDEN, "{header}: {value}");
        let body: serde_json::Value = answer.json().await.expect("JSON error");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("refused")),
            "{body}"
        );

        for path in ["/mine", "/nodes/resolve"] {
            let answer = http
                .get(node.url(path))
                .header(header, value)
                .send()
                .await
                .expect("answer");
            assert_eq!(
                answer.status(),
                StatusCode::FORBIDDEN,
                "{path} {header}: {value}"
            );
        }
        let answer = http
            .post(node.url("/register_with"))
            .header(header, value)
            .json(&json!({ "node_address": "http://127.0.0.1:9" }))
            .send()
            .await
            .expect("answer");
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    }
    assert_eq!(node.height().await, 0, "nothing was mined");
    assert_eq!(node.pending().await.as_array().map(Vec::len), Some(1));

    // Reads stay open to pages of any origin; the node's own pages and plain clients
    // (curl, Python, the tutorial's) change things as before.
    let read = http
        .get(node.url("/chain"))
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .expect("answer");
    assert_eq!(read.status(), StatusCode::OK);
    let same_origin = http
        .post(node.url("/new_transaction"))
        .header("origin", own_origin.as_str())
        .header("sec-fetch-site", "same-origin")
        .body(json!({ "author": "docs page", "content": "same origin" }).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(same_origin.status(), StatusCode::CREATED);
    node.post("curl", "no browser headers").await;
    assert!(node.mine().await.contains("is mined"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_on_loopback_answers_only_its_own_names() {
    let node = TestNode::spawn(4).await;
    let port = node.base.rsplit(':').next().expect("port").to_owned();
    let http = reqwest::Client::new();
    for (host, answered) in [
        (format!("evil.example:{port}"), false),
        (format!("127.0.0.1.nip.io:{port}"), false),
        (format!("localhost:{port}"), true),
        (format!("127.0.0.1:{port}"), true),
        (format!("[::1]:{port}"), true),
    ] {
        let answer = http
            .get(node.url("/status"))
            .header("host", host.as_str())
            .send()
            .await
            .expect("answer");
        let expected = if answered {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(answer.status(), expected, "Host: {host}");
    }

    let mut config = chainpost_node::config::Config::ephemeral(4);
    config.allowed_hosts = vec!["node.example".into()];
    let listed = TestNode::spawn_with(config).await;
    let answer = http
        .get(listed.url("/status"))
        .header("host", "node.example:8000")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), StatusCode::OK);
}
