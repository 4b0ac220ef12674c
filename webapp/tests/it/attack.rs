//! The attack suite of the web app: what a stranger can try against it over raw sockets.

use std::time::Duration;

use chainpost_webapp::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use reqwest::StatusCode;

use crate::helpers::{TestNode, TestWeb, articles, between, closed_port_url};

/// Longest a test waits for the web app to close a connection its timeouts should end.
const CLOSE_BOUND: Duration = Duration::from_secs(15);

async fn closed_within(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(bound, async {
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(count) => received.extend_from_slice(&buffer[..count]),
            }
        }
    })
    .await;
    read.ok().map(|()| received)
}

#[tokio::test]
async fn idle_and_half_sent_connections_are_closed() {
    let mut config = Config::ephemeral(vec![closed_port_url()]);
    config.header_timeout = Duration::from_secs(1);
    config.body_timeout = Duration::from_secs(1);
    let web = TestWeb::spawn_with(config).await;
    let target = web.base.trim_start_matches("http://").to_owned();

    let mut idle = TcpStream::connect(&target).await.expect("connect");
    let mut half_headers = TcpStream::connect(&target).await.expect("connect");
    half_headers
        .write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept:")
        .await
        .expect("write");
    let mut missing_body = TcpStream::connect(&target).await.expect("connect");
    missing_body
        .write_all(
            b"POST /submit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nauthor=",
        )
        .await
        .expect("write");

    for (what, stream) in [
        ("an idle connection", &mut idle),
        ("a connection with half its headers", &mut half_headers),
        ("a form whose body never arrives", &mut missing_body),
    ] {
        assert!(
            closed_within(stream, CLOSE_BOUND).await.is_some(),
            "{what} stays open"
        );
    }
    let (status, _) = web.page("/").await;
    assert!(status.is_success(), "the web app still answers");
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_page_shows_the_oldest_pending_posts_and_counts_them_all() {
    let node = TestNode::spawn().await;
    for index in 0..120 {
        node.post("flood", &format!("pending {index}")).await;
    }
    let web = TestWeb::spawn(vec![node.url()]).await;
    let (status, html) = web.page("/").await;
    assert_eq!(status, StatusCode::OK);
    let pending =
        between(&html, "id=\"live-pending\"", "id=\"live-posts\"").expect("pending section");
    assert!(
        pending.contains("<span class=\"count\">120</span>"),
        "{pending}"
    );
    assert_eq!(
        articles(pending).len(),
        50,
        "only the oldest 50 are rendered"
    );
    assert!(
        pending.contains("pending 0<") || pending.contains("pending 0\n"),
        "the oldest is shown"
    );
    assert!(!pending.contains("pending 119"), "the newest is not");
    assert!(pending.contains("70 more are waiting"), "{pending}");
    web.stop().await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_answer_beyond_the_size_cap_is_refused_not_buffered() {
    // A node whose pending list is 40 MiB: without a cap, each page view would hold it.
    let huge = format!(
        "[{}]",
        vec![r#"{"author":"a","content":"x","timestamp":1.0}"#; 900_000].join(",")
    );
    let app = axum::Router::new()
        .route(
            "/status",
            axum::routing::get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    axum::Json(serde_json::json!({"error": "no such endpoint"})),
                )
            }),
        )
        .route(
            "/chain",
            axum::routing::get(|| async {
                axum::Json(serde_json::json!({"length": 0, "chain": [], "peers": []}))
            }),
        )
        .route(
            "/pending_tx",
            axum::routing::get(move || async move { huge.clone() }),
        );
    let node = fake_node(app).await;

    let web = TestWeb::spawn(vec![node]).await;
    let (status, html) = web.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("answered something this web app cannot read"),
        "the oversized answer shows as a banner"
    );
    web.stop().await;
}

/// Serves `app` on a free loopback port: a node that answers as the test says.
async fn fake_node(app: axum::Router) -> chainpost_webapp::config::NodeUrl {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    chainpost_webapp::config::NodeUrl::parse(&format!("http://{address}")).expect("url")
}

/// A node whose status changes at every ask, counting the asks.
async fn ever_changing_node() -> (
    chainpost_webapp::config::NodeUrl,
    std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let asked = std::sync::Arc::new(AtomicU64::new(0));
    let counter = asked.clone();
    let app = axum::Router::new().route(
        "/status",
        axum::routing::get(move || {
            let height = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                axum::Json(serde_json::json!({
                    "height": height, "length": height + 1, "tip": "ab".repeat(32),
                }))
            }
        }),
    );
    let url = fake_node(app).await;
    (url, asked)
}

/// As many live streams as one address may hold, all open.
async fn open_a_full_share_of_streams(
    http: &reqwest::Client,
    web: &TestWeb,
) -> Vec<reqwest::Response> {
    let mut streams = Vec::new();
    for _ in 0..chainpost_webapp::MAX_LIVE_STREAMS_PER_ADDRESS {
        let response = http.get(web.url("/events")).send().await.expect("stream");
        assert_eq!(response.status(), StatusCode::OK);
        streams.push(response);
    }
    streams
}

/// Reads `events` server-sent events from an open `/events` answer.
async fn read_events(response: &mut reqwest::Response, events: usize) {
    let mut text = String::new();
    while text.matches("event: status").count() < events {
        let chunk = response
            .chunk()
            .await
            .expect("stream")
            .expect("stream open");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_live_pages_share_one_poll_of_the_node() {
    use std::sync::atomic::Ordering;
    let (node, asked) = ever_changing_node().await;
    let web = TestWeb::spawn(vec![node]).await;
    let http = reqwest::Client::new();
    let mut streams = open_a_full_share_of_streams(&http, &web).await;
    let before = asked.load(Ordering::SeqCst);
    // Every poll changes the status, so each poll is one event on every stream.
    for stream in &mut streams {
        read_events(stream, 5).await;
    }
    let polls = asked.load(Ordering::SeqCst) - before;
    assert!(
        polls <= 10,
        "16 pages that each saw 5 changes cost the node {polls} status requests"
    );
    drop(streams);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_hash_with_line_breaks_from_a_node_gives_a_page_not_a_500() {
    let app = axum::Router::new().route(
        "/chain",
        axum::routing::get(|| async {
            axum::Json(serde_json::json!({
                "length": 2,
                "chain": [{
                    "index": 1, "transactions": [], "timestamp": 1.0, "previous_hash": "00",
                    "nonce": 0, "hash": "ab\r\nSet-Cookie: node=1",
                }],
                "peers": [],
            }))
        }),
    );
    let node = fake_node(app).await;
    let web = TestWeb::spawn(vec![node]).await;
    let (status, html) = web.page("/height/1").await;
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        html.contains("answered something this web app cannot read"),
        "{html}"
    );
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_a_bounded_number_of_live_streams() {
    let (node, _) = ever_changing_node().await;
    let web = TestWeb::spawn(vec![node]).await;
    let http = reqwest::Client::new();
    let mut streams = open_a_full_share_of_streams(&http, &web).await;
    let refused = http.get(web.url("/events")).send().await.expect("answer");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    drop(streams.pop());
    // The slot comes back once the web app sees the stream end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let again = http.get(web.url("/events")).send().await.expect("answer");
        if again.status() == StatusCode::OK {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(streams);
    web.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_app_on_loopback_answers_only_its_own_names() {
    let web = TestWeb::spawn(vec![closed_port_url()]).await;
    let port = web.base.rsplit(':').next().expect("port").to_owned();
    let http = reqwest::Client::new();
    for (host, answered) in [
        (format!("rebound.example:{port}"), false),
        (format!("localhost:{port}"), true),
        (format!("127.0.0.1:{port}"), true),
    ] {
        let answer = http
            .get(web.url("/"))
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
    web.stop().await;
}
