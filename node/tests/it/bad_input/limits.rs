//! Requests beyond what hyper's HTTP parser takes: a request line or a header block too long.

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{assert_still_takes_posts, node_with_history, snapshot};

/// hyper answers a request line or a header block beyond its limits itself, before any
/// handler runs, so these answers carry no JSON body; they must still change nothing.
#[tokio::test]
async fn requests_beyond_the_http_parsers_limits_are_refused_and_change_nothing() {
    let (node, _peer) = node_with_history().await;
    let before = snapshot(&node).await;
    // Longer than any URI the client library will send, so it goes out on a raw socket.
    let long_uri = format!(
        "POST /add_block?{} HTTP/1.1\r\nHost: node\r\nContent-Length: 2\r\n\r\n{{}}",
        "a".repeat(100_000)
    );
    let mut socket = tokio::net::TcpStream::connect(node.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    socket
        .write_all(long_uri.as_bytes())
        .await
        .expect("request sent");
    let mut status_line = [0u8; 12];
    socket
        .read_exact(&mut status_line)
        .await
        .expect("an answer");
    assert_eq!(&status_line, b"HTTP/1.1 414");

    let mut many_headers = node.http.post(node.url("/new_transaction"));
    for i in 0..200 {
        many_headers = many_headers.header(format!("x-filler-{i}"), "v");
    }
    let many_headers = many_headers
        .body(r#"{"author": "a", "content": "b"}"#)
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        many_headers.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(snapshot(&node).await, before);
    assert_still_takes_posts(&node).await;
}
