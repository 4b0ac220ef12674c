//! The attack suite of the web app: what a stranger can try against it over raw sockets.

use std::time::Duration;

use chainpost_webapp::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestWeb, closed_port_url};

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
        .write_all(b"GET / HTTP/1.1\r\nHost: web\r\nAccept:")
        .await
        .expect("write");
    let mut missing_body = TcpStream::connect(&target).await.expect("connect");
    missing_body
        .write_all(
            b"POST /submit HTTP/1.1\r\nHost: web\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nauthor=",
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
