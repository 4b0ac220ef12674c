//! Peers that misbehave while a node registers with them (`POST /register_with`): they hang,
//! dribble, hang up, speak another protocol, redirect, or stream an answer without end.
//! Each is served from a raw socket, so that it can misbehave below HTTP.
//!
//! The node answers 502 Bad Gateway: the caller's request was fine, the remote it named
//! failed. It keeps serving meanwhile, and its chain, mempool and peers are as before.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{assert_error, assert_still_takes_posts, node_with_history, snapshot};
use crate::helpers::{Api, wait_until};

/// Most bytes the node reads of a peer's chain page (`PAGE_ANSWER_BYTES` in
/// `p2p/client.rs`).
const ANSWER_CAP: &str = "answer larger than 16777216 bytes";

/// How a hostile peer answers a request.
#[derive(Debug, Clone)]
enum Answer {
    /// 200 with this JSON body, as an honest node would.
    Json(String),
    /// Nothing at all, until the node hangs up.
    Never,
    /// A 200 head that promises a body, then one byte of it a second.
    Dribble,
    /// The connection closed without a word.
    HangUp,
    /// A greeting in another protocol.
    NotHttp,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 307 to the same path on another server.
    RedirectTo(String),
    /// A head declaring a terabyte of body, then the body, streamed.
    Huge,
    /// A chunked body that never ends, streamed.
    Endless,
}

/// A peer on a raw socket that answers each request as its script says.
struct HostilePeer {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl HostilePeer {
    /// Starts a peer that answers a request for `path` with `script(path)`.
    async fn start(script: impl Fn(&str) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let counted = requests.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let script = script.clone();
                let counted = counted.clone();
                tokio::spawn(async move {
                    if let Some(path) = read_request(&mut socket).await {
                        counted.fetch_add(1, Ordering::Relaxed);
                        answer(socket, script(&path)).await;
                    }
                });
            }
        });
        HostilePeer { url, requests }
    }

    /// A peer that answers every request the same way.
    async fn always(answer: Answer) -> Self {
        Self::start(move |_| answer.clone()).await
    }

    /// A peer on the network of `genesis` that passes the handshake, registers like an
    /// honest node and claims a chain heavier than any test's, so that the node goes on to
    /// download it, and then answers `/chain` with `chain_answer`.
    async fn claiming_a_heavier_chain(genesis: String, chain_answer: Answer) -> Self {
        Self::start(move |path| {
            if path.starts_with("/register_node") {
                Answer::Json(r#"{"length": 1, "chain": [], "peers": []}"#.into())
            } else if path.starts_with("/status") {
                Answer::Json(format!(
                    r#"{{"genesis": "{genesis}", "height": 1000000000, "tip": "abababababababababababababababababababababababababababababababab", "cumulative_work": 1000000000000000000000000000000}}"#,
                ))
            } else {
                chain_answer.clone()
            }
        })
        .await
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }
}

/// Reads one request's head and body; returns its path, or `None` if the node hung up.
async fn read_request(socket: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = socket.read(&mut buffer).await.ok().filter(|&n| n > 0)?;
        received.extend_from_slice(&buffer[..read]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let body_length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|length| length.trim().parse().ok())
        .unwrap_or(0);
    let mut unread = body_length.saturating_sub(received.len() - head_end);
    while unread > 0 {
        let read = socket.read(&mut buffer).await.ok().filter(|&n| n > 0)?;
        unread = unread.saturating_sub(read);
    }
    Some(path)
}

/// Answers as told; every write error means the node gave up, which ends the answer.
async fn answer(mut socket: TcpStream, answer: Answer) {
    const CLOSE: &str = "Connection: close\r\n";
    match answer {
        Answer::Json(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{CLOSE}\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        }
        Answer::Never => {
            // Returns once the node closes the connection.
            let _ = socket.read(&mut [0u8; 1]).await;
        }
        Answer::Dribble => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n{CLOSE}\r\n"
            );
            if socket.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut every_second = tokio::time::interval(Duration::from_secs(1));
            loop {
                every_second.tick().await;
                // Leading whitespace is valid JSON: the answer is only slow, never wrong.
                if socket.write_all(b" ").await.is_err() {
                    return;
                }
            }
        }
        Answer::HangUp => {}
        Answer::NotHttp => {
            let _ = socket.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await;
        }
        Answer::NotJson => {
            let body = "<html><body>It works!</body></html>";
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n{CLOSE}\r\n",
                body.len()
            );
            let _ = socket.write_all(format!("{head}{body}").as_bytes()).await;
        }
        Answer::RedirectTo(location) => {
            let head = format!(
                "HTTP/1.1 307 Temporary Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\n{CLOSE}\r\n"
            );
            let _ = socket.write_all(head.as_bytes()).await;
        }
        Answer::Huge => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{CLOSE}\r\n",
                1u64 << 40
            );
            let (start, repeated) = chain_without_end();
            if socket.write_all(head.as_bytes()).await.is_err()
                || socket.write_all(&start).await.is_err()
            {
                return;
            }
            while socket.write_all(&repeated).await.is_ok() {}
        }
        Answer::Endless => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n{CLOSE}\r\n"
            );
            let (start, repeated) = chain_without_end();
            let chunk =
                |data: &[u8]| [format!("{:x}\r\n", data.len()).as_bytes(), data, b"\r\n"].concat();
            let (start, repeated) = (chunk(&start), chunk(&repeated));
            if socket.write_all(head.as_bytes()).await.is_err()
                || socket.write_all(&start).await.is_err()
            {
                return;
            }
            while socket.write_all(&repeated).await.is_ok() {}
        }
    }
}

/// The start of a `/chain` answer claiming a billion blocks, and about 64 KiB of blocks
/// to repeat after it for as long as the reader reads: the peer never holds more in memory.
fn chain_without_end() -> (Vec<u8>, Vec<u8>) {
    let start = br#"{"length": 1000000000, "peers": [], "chain": ["#.to_vec();
    let zeros = "0".repeat(64);
    let block = json!({
        "index": 1, "transactions": [], "timestamp": 0, "previous_hash": zeros,
        "nonce": 0, "hash": zeros, "difficulty": 8, "merkle_root": zeros,
    });
    let block = format!("{block},");
    (start, block.repeat((64 << 10) / block.len()).into_bytes())
}

/// `POST /register_with` naming `peer`.
async fn register_with(node: &Api, peer: &str) -> reqwest::Response {
    node.post_json("/register_with", &json!({ "node_address": peer }))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_answer_a_registration_wrongly_get_a_502_and_change_nothing() {
    let (node, _peer) = node_with_history().await;
    let nobody_listens = {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        format!("http://{}", listener.local_addr().expect("address"))
    };
    let hangs_up = HostilePeer::always(Answer::HangUp).await;
    let not_http = HostilePeer::always(Answer::NotHttp).await;
    let not_json = HostilePeer::always(Answer::NotJson).await;
    let huge = HostilePeer::always(Answer::Huge).await;
    let endless = HostilePeer::always(Answer::Endless).await;
    let cases = [
        ("nobody listens", nobody_listens.as_str(), "is unreachable"),
        ("hangs up", hangs_up.url.as_str(), "is unreachable"),
        (
            "speaks another protocol",
            not_http.url.as_str(),
            "is unreachable",
        ),
        (
            "answers HTML",
            not_json.url.as_str(),
            "is not a chainpost node",
        ),
        (
            "declares a terabyte of answer",
            huge.url.as_str(),
            "is not a chainpost node",
        ),
        (
            "streams an answer without end",
            endless.url.as_str(),
            "is not a chainpost node",
        ),
    ];

    let before = snapshot(&node).await;
    for (name, peer, message) in cases {
        let response = register_with(&node, peer).await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{name}: {body}");
        assert!(
            body.contains(message) && body.contains(peer),
            "{name}: {body}"
        );
    }
    assert_eq!(snapshot(&node).await, before);
    assert_still_takes_posts(&node).await;
}

/// The node's client gives up after its request timeout (20 s): this test waits that long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_that_never_finish_answering_get_a_502_when_the_client_gives_up() {
    let (node, _peer) = node_with_history().await;
    let silent = HostilePeer::always(Answer::Never).await;
    let dribbling = HostilePeer::always(Answer::Dribble).await;
    let before = snapshot(&node).await;

    let registrations = [&silent, &dribbling].map(|peer| {
        let node = node.api.clone();
        let peer = peer.url.clone();
        tokio::spawn(async move {
            let response = register_with(&node, &peer).await;
            (
                peer,
                response.status(),
                response.text().await.expect("body"),
            )
        })
    });
    wait_until(
        "both peers are being asked",
        Duration::from_secs(30),
        || async { silent.requests() == 1 && dribbling.requests() == 1 },
    )
    .await;
    // The registrations are waiting on their peers; everyone else is served.
    assert_eq!(snapshot(&node).await, before);
    assert_still_takes_posts(&node).await;
    let before = snapshot(&node).await;

    for registration in registrations {
        let (peer, status, body) = registration.await.expect("registration task");
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{peer}: {body}");
        assert!(body.contains("is unreachable"), "{peer}: {body}");
    }
    assert_eq!(snapshot(&node).await, before);
    assert_still_takes_posts(&node).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_a_huge_or_endless_chain_gets_a_502_and_adds_no_block() {
    let (node, _peer) = node_with_history().await;
    let genesis = node.status().await["genesis"]
        .as_str()
        .expect("genesis")
        .to_owned();
    let huge = HostilePeer::claiming_a_heavier_chain(genesis.clone(), Answer::Huge).await;
    let endless = HostilePeer::claiming_a_heavier_chain(genesis, Answer::Endless).await;
    let before = snapshot(&node).await;
    for peer in [&huge, &endless] {
        assert_error(
            register_with(&node, &peer.url).await,
            StatusCode::BAD_GATEWAY,
            ANSWER_CAP,
        )
        .await;
        assert_eq!(
            peer.requests(),
            4,
            "handshake, registered, asked the tip, asked a page"
        );
    }
    // Peers included: a remote whose sync fails is not kept.
    assert_eq!(snapshot(&node).await, before);
    assert_still_takes_posts(&node).await;
}

/// Following a peer's redirect would let anyone who can call `/register_with` make the node
/// send requests to any address it can reach, and read back the start of the answer in the
/// error message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_redirect_the_node_elsewhere() {
    let (node, _peer) = node_with_history().await;
    let internal = HostilePeer::always(Answer::Json(r#"{"secret": "internal"}"#.into())).await;
    let target = internal.url.clone();
    let redirecting =
        HostilePeer::start(move |path| Answer::RedirectTo(format!("{target}{path}"))).await;
    let before = snapshot(&node).await;
    let response = register_with(&node, &redirecting.url).await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(internal.requests(), 0, "the node followed the redirect");
    assert_eq!(snapshot(&node).await, before);
}
