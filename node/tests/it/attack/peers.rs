//! Taking over the peer table: junk and self-registrations, addresses that are not
//! chainpost nodes (internal services), other networks, private addresses, and peers that
//! pass the handshake and then hang or turn into something else.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::routing::get;
use chainpost_node::config::Config;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Api, TestNode, serve_app, wait_until};

const DIFFICULTY: u32 = 4;
const PATIENCE: Duration = Duration::from_secs(20);

/// An internal service that must never be reachable through a node: it records every
/// request and answers each with a 404 whose body is a secret.
async fn internal_service() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let log = log.clone();
        async move {
            log.lock()
                .expect("log")
                .push(format!("{} {}", request.method(), request.uri().path()));
            (StatusCode::NOT_FOUND, "SECRET-INTERNAL-BODY")
        }
    });
    (serve_app(app).await, seen)
}

/// How a fake peer behaves once it has passed the handshake.
const HANGS_BUT_ITS_STATUS: u8 = 0;
const HANGS_ENTIRELY: u8 = 1;
const ANSWERS_404: u8 = 2;

/// A stranger's node that passes the handshake (it copies a real node's network) and then
/// behaves as `behaviour` says: it never answers anything but `/status`, never answers at
/// all, or answers 404 to everything.
async fn fake_peer(genesis: &str, behaviour: Arc<AtomicU8>) -> String {
    let status = json!({
        "genesis": genesis,
        "node_id": hex::encode(rand::random::<[u8; 16]>()),
        "height": 0,
        "tip": genesis,
        "cumulative_work": 1,
    });
    let status_behaviour = behaviour.clone();
    let app = axum::Router::new()
        .route(
            "/status",
            get(move || {
                let status = status.clone();
                let behaviour = status_behaviour.clone();
                async move {
                    match behaviour.load(Ordering::SeqCst) {
                        HANGS_BUT_ITS_STATUS => Ok(Json(status)),
                        HANGS_ENTIRELY => std::future::pending().await,
                        _ => Err(StatusCode::NOT_FOUND),
                    }
                }
            }),
        )
        .fallback(move || {
            let behaviour = behaviour.clone();
            async move {
                if behaviour.load(Ordering::SeqCst) != ANSWERS_404 {
                    std::future::pending::<()>().await;
                }
                StatusCode::NOT_FOUND
            }
        });
    serve_app(app).await
}

async fn genesis_of(node: &Api) -> String {
    node.get_json("/chain?from=0&limit=1").await["chain"][0]["hash"]
        .as_str()
        .expect("the chain starts with its genesis")
        .to_owned()
}

async fn register_node(node: &Api, address: &str) -> (StatusCode, Value) {
    let response = node
        .post_json("/register_node", &json!({ "node_address": address }))
        .await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn register_with(node: &Api, address: &str) -> (StatusCode, String) {
    let response = node
        .post_json("/register_with", &json!({ "node_address": address }))
        .await;
    let status = response.status();
    (status, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_self_registrations_never_become_peers_nor_reach_newcomers() {
    let victim = TestNode::spawn(DIFFICULTY).await;
    let port = victim.base.rsplit(':').next().expect("port").to_owned();
    for index in 0..40 {
        let (status, body) = register_node(&victim, &format!("{}/p{index:02}", victim.base)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("no path")),
            "{body}"
        );
    }
    for itself in [
        victim.base.clone(),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://2130706433:{port}"),
        format!("http://localhost:{port}"),
        format!("http://127.0.0.3:{port}"),
    ] {
        let (status, body) = register_node(&victim, &itself).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{itself}: {body}");
    }
    assert!(
        victim.peers().await.is_empty(),
        "{:?}",
        victim.peers().await
    );

    let honest = TestNode::spawn(DIFFICULTY).await;
    honest.register_with(&victim).await;
    assert_eq!(victim.peers().await, vec![honest.base.clone()]);
    assert_eq!(
        honest.peers().await,
        vec![victim.base.clone()],
        "no junk passed on"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_is_not_a_chainpost_node_gets_one_handshake_and_is_never_echoed() {
    let victim = TestNode::spawn(DIFFICULTY).await;
    let (internal, seen) = internal_service().await;
    let port = internal.rsplit(':').next().expect("port").to_owned();

    for spelling in [internal.clone(), format!("http://2130706433:{port}")] {
        let (status, body) = register_with(&victim, &spelling).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert!(body.contains("is not a chainpost node: HTTP 404"), "{body}");
        assert!(
            !body.contains("SECRET"),
            "the internal answer was echoed: {body}"
        );
    }
    let (status, body) = register_with(&victim, &format!("{internal}/admin")).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a path is refused before any call: {body}"
    );
    let (status, body) = register_node(&victim, &internal).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(!body.to_string().contains("SECRET"), "{body}");

    // Posts and blocks never go there.
    victim.post("alice", "not for the internal service").await;
    victim.mine().await;
    assert!(victim.peers().await.is_empty());
    assert_eq!(
        *seen.lock().expect("log"),
        vec!["GET /status"; 3],
        "only handshakes reached the internal service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_network_is_never_a_peer() {
    let victim = TestNode::spawn(DIFFICULTY).await;
    let other = TestNode::spawn(DIFFICULTY + 1).await;
    let (status, body) = register_node(&victim, &other.base).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("another network")),
        "{body}"
    );
    let (status, body) = register_with(&victim, &other.base).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("another network"), "{body}");
    assert!(victim.peers().await.is_empty());
    assert!(
        other.peers().await.is_empty(),
        "nothing was sent before the handshake"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_node_refuses_private_peers_and_calls_none_of_them() {
    let mut config = Config::ephemeral(DIFFICULTY);
    config.public_peers_only = true;
    let public = TestNode::spawn_with(config).await;
    let (internal, seen) = internal_service().await;
    let port = internal.rsplit(':').next().expect("port").to_owned();

    let (status, body) = register_with(&public, &internal).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not public"), "{body}");
    let (status, body) = register_node(&public, &format!("http://[::ffff:127.0.0.1]:{port}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // A name that resolves to loopback is refused when it is resolved.
    let (status, body) = register_with(&public, &format!("http://localhost:{port}")).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("no public address"), "{body}");
    assert!(
        seen.lock().expect("log").is_empty(),
        "a private address was called"
    );
    assert!(public.peers().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_hang_never_delay_block_gossip_to_the_others() {
    let victim = TestNode::spawn(DIFFICULTY).await;
    let genesis = genesis_of(&victim).await;
    let behaviour = Arc::new(AtomicU8::new(HANGS_BUT_ITS_STATUS));
    for _ in 0..24 {
        let hanging = fake_peer(&genesis, behaviour.clone()).await;
        let (status, body) = register_node(&victim, &hanging).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // The honest peer hears of blocks only by gossip: its periodic sync is far away.
    let mut config = Config::ephemeral(DIFFICULTY);
    config.sync_interval = 3_600;
    let honest = TestNode::spawn_with(config).await;
    honest.register_with(&victim).await;
    assert_eq!(victim.peers().await.len(), 25);

    for block in 1..=6_u64 {
        victim.post("alice", &format!("block {block}")).await;
        victim.mine().await;
        wait_until(
            &format!("block {block} reaches the honest peer"),
            Duration::from_secs(10),
            || async { honest.height().await == block },
        )
        .await;
    }

    // Peers that stop answering at all cost consensus one short deadline, not one each.
    behaviour.store(HANGS_ENTIRELY, Ordering::SeqCst);
    let resolved = reqwest::Client::new()
        .get(victim.url("/nodes/resolve"))
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .expect("/nodes/resolve answers despite 24 silent peers");
    assert_eq!(resolved.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_stops_being_a_chainpost_node_is_dropped() {
    let mut config = Config::ephemeral(DIFFICULTY);
    config.sync_interval = 1;
    let victim = TestNode::spawn_with(config).await;
    let behaviour = Arc::new(AtomicU8::new(HANGS_BUT_ITS_STATUS));
    let turncoat = fake_peer(&genesis_of(&victim).await, behaviour.clone()).await;
    let (status, body) = register_node(&victim, &turncoat).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(victim.peers().await, vec![turncoat.clone()]);

    behaviour.store(ANSWERS_404, Ordering::SeqCst);
    wait_until("the turncoat is dropped", PATIENCE, || async {
        victim.peers().await.is_empty()
    })
    .await;
}
