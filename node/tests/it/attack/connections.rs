//! Holding connections: idle, half-sent headers, bodies that never arrive, and floods
//! beyond the open-files limit.

use std::net::SocketAddr;
use std::time::Duration;

use chainpost_node::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{ChildNode, TestNode};

/// Longest a test waits for the node to close a connection its timeouts should end.
const CLOSE_BOUND: Duration = Duration::from_secs(15);

fn address(node: &TestNode) -> SocketAddr {
    node.api
        .url("")
        .trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

/// Reads until the node closes the connection; `None` if it is still open after `bound`.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<Vec<u8>> {
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

async fn connect_from(source: [u8; 4], target: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((source, 0)))
        .expect("bind a loopback source address");
    socket.connect(target).await.expect("connect")
}

fn short_timeouts() -> Config {
    let mut config = Config::ephemeral(4);
    config.header_timeout = 1;
    config.body_timeout = 1;
    config
}

#[tokio::test]
async fn connections_that_send_nothing_half_their_headers_or_no_body_are_closed() {
    let node = TestNode::spawn_with(short_timeouts()).await;
    let target = address(&node);

    let mut idle = TcpStream::connect(target).await.expect("connect");
    let mut half_headers = TcpStream::connect(target).await.expect("connect");
    half_headers
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept:")
        .await
        .expect("write");
    let mut missing_body = TcpStream::connect(target).await.expect("connect");
    missing_body
        .write_all(
            b"POST /new_transaction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"author\":",
        )
        .await
        .expect("write");
    let mut kept_alive = TcpStream::connect(target).await.expect("connect");
    kept_alive
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");

    assert!(
        read_until_closed(&mut idle, CLOSE_BOUND).await.is_some(),
        "an idle connection stays open"
    );
    assert!(
        read_until_closed(&mut half_headers, CLOSE_BOUND)
            .await
            .is_some(),
        "a connection with half its headers stays open"
    );
    let answer = read_until_closed(&mut missing_body, CLOSE_BOUND)
        .await
        .expect("a request whose body never arrives stays open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "answered {answer:?}");
    assert!(answer.contains("did not arrive"), "answered {answer:?}");
    let answer = read_until_closed(&mut kept_alive, CLOSE_BOUND)
        .await
        .expect("an idle keep-alive connection stays open after its answer");
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));

    assert_eq!(node.status().await["height"], 0, "the node still answers");
    node.stop().await.expect("clean stop");
}

#[tokio::test]
async fn one_address_cannot_take_more_than_its_share_of_connections() {
    let mut config = Config::ephemeral(4);
    config.max_connections_per_address = 4;
    let node = TestNode::spawn_with(config).await;
    let target = address(&node);

    // Four requests in flight from 127.0.0.2, each waiting for its body: busy, not idle.
    let mut busy = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from([127, 0, 0, 2], target).await;
        stream
            .write_all(
                b"POST /new_transaction HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\n{",
            )
            .await
            .expect("write");
        busy.push(stream);
    }
    // Let the node see all four requests begin.
    crate::helpers::wait_until(
        "the node answers status",
        Duration::from_secs(10),
        || async { node.get("/status").await.status().is_success() },
    )
    .await;

    let mut fifth = connect_from([127, 0, 0, 2], target).await;
    let _ = fifth
        .write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut fifth, CLOSE_BOUND)
        .await
        .expect("the fifth connection from one address is closed");
    assert!(
        answer.is_empty(),
        "the fifth connection was served: {answer:?}"
    );

    // Another address is unaffected, and the four busy requests are still being served.
    assert_eq!(node.status().await["height"], 0);
    for stream in &mut busy {
        assert!(
            read_until_closed(stream, Duration::from_millis(200))
                .await
                .is_none(),
            "a busy connection was closed for a newcomer"
        );
    }
    // Shutdown lets requests in flight finish: end these rather than wait out their bodies.
    drop(busy);
    node.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_flood_of_idle_connections_beyond_the_open_files_limit_leaves_status_answering() {
    // The test itself holds the flood's sockets.
    rlimit::increase_nofile_limit(4096).expect("raise the test's open-files limit");
    let data = tempfile::tempdir().expect("temp dir");
    let node = ChildNode::start_with_open_files_limit(data.path(), 4, 1024, &[]);
    let target: SocketAddr = format!("127.0.0.1:{}", node.port())
        .parse()
        .expect("address");

    let mut flood = Vec::new();
    for _ in 0..1_100 {
        match TcpStream::connect(target).await {
            Ok(stream) => flood.push(stream),
            Err(error) => panic!("connect failed after {} connections: {error}", flood.len()),
        }
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    for path in ["/status", "/chain"] {
        let answer = client
            .get(node.url(path))
            .send()
            .await
            .unwrap_or_else(|error| panic!("{path} got no answer under the flood: {error}"));
        assert!(answer.status().is_success(), "{path}: {}", answer.status());
    }
    drop(flood);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_its_answer_is_cut_off() {
    let node = TestNode::spawn_with(short_timeouts()).await;
    let mut writers = Vec::new();
    for writer in 0..8 {
        let api = node.api.clone();
        writers.push(tokio::spawn(async move {
            for index in (writer..3_000).step_by(8) {
                api.post("bulk", &format!("{index:05} {}", "x".repeat(990)))
                    .await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    for _ in 0..3 {
        node.mine().await;
    }
    let whole = node.get("/chain").await.bytes().await.expect("chain").len();
    assert!(whole > 3_000_000, "a chain of {whole} bytes");

    // Asks for the whole chain through a tiny receive window, then reads nothing.
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("small window");
    let mut stalled = socket.connect(address(&node)).await.expect("connect");
    stalled
        .write_all(b"GET /chain HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    // Then, on a new connection, the node answers as ever: the stalled one ties up
    // nothing.
    assert_eq!(node.status().await["height"], 3);
    let received = read_until_closed_after(&mut stalled, Duration::from_secs(4), CLOSE_BOUND)
        .await
        .expect("the node closes the connection");
    assert!(
        received < whole,
        "a client that stopped reading got all {received} bytes"
    );
    node.stop().await.expect("clean stop");
}

/// Waits `pause` without reading, then reads until the node closes the connection.
async fn read_until_closed_after(
    stream: &mut TcpStream,
    pause: Duration,
    bound: Duration,
) -> Option<usize> {
    tokio::time::sleep(pause).await;
    read_until_closed(stream, bound)
        .await
        .map(|bytes| bytes.len())
}
