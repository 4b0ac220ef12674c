//! Holding up sync: a peer that claims more work and then serves it a block at a time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Api, TestNode, serve_app, wait_until};

/// A peer that passes the handshake and claims `source`'s heavier chain, then answers each
/// `/chain` page after `delay` with a single block of it; also returns the number of pages
/// it has been asked for.
async fn trickling_peer(source: &Api, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let mut status = source.status().await;
    status["node_id"] = json!("trickler");
    let chain: Vec<Value> = source.chain().await["chain"]
        .as_array()
        .expect("chain")
        .clone();
    let app = axum::Router::new()
        .route("/status", get(move || async move { Json(status) }))
        .route(
            "/chain",
            get(
                move |query: axum::extract::Query<std::collections::HashMap<String, String>>| {
                    let chain = chain.clone();
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        tokio::time::sleep(delay).await;
                        let from: usize =
                            query.get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
                        let page: Vec<Value> = chain.iter().skip(from).take(1).cloned().collect();
                        Json(json!({ "length": chain.len(), "chain": page, "peers": [] }))
                    }
                },
            ),
        )
        .route(
            "/register_node",
            post(|| async { Json(json!({ "length": 0, "chain": [], "peers": [] })) }),
        );
    (serve_app(app).await, asked)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_peer_is_cut_off_and_never_holds_up_joining_others() {
    let source = TestNode::spawn(4).await;
    for index in 0..5 {
        source.post("source", &format!("block {index}")).await;
        source.mine().await;
    }
    let (trickler, pages_asked) = trickling_peer(&source, Duration::from_secs(4)).await;
    let honest = TestNode::spawn(4).await;
    honest.post("honest", "one block").await;
    honest.mine().await;
    let victim = TestNode::spawn(4).await;

    let registering = {
        let victim = victim.api.clone();
        let trickler = trickler.clone();
        tokio::spawn(async move {
            let answer = victim
                .post_json("/register_with", &json!({ "node_address": trickler }))
                .await;
            (answer.status(), answer.text().await.expect("body"))
        })
    };
    // While the trickler is being synced with, joining an honest node goes through.
    wait_until(
        "the trickler is asked for a page",
        Duration::from_secs(20),
        || async { pages_asked.load(Ordering::SeqCst) > 0 },
    )
    .await;
    victim.register_with(&honest).await;
    assert_eq!(victim.height().await, 1, "synced with the honest node");
    assert!(
        !registering.is_finished(),
        "joining the honest node waited for the trickler's sync"
    );

    let (status, body) = registering.await.expect("registration task");
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("is stalling"), "{body}");
    assert!(!victim.peers().await.contains(&trickler));
}
