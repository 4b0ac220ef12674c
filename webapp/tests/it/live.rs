//! Live updates: the event stream tells open pages when the node changed, and ends when
//! the web app shuts down.

use std::time::Duration;

use crate::helpers::{TestNode, TestWeb};

/// Reads server-sent events from `/events` one `data:` line at a time.
struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    async fn open(web: &TestWeb) -> Self {
        let response = reqwest::get(web.url("/events"))
            .await
            .expect("stream opens");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "server-sent events"
        );
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The data of the next `status` event, or `None` when the stream ended.
    async fn next_status(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let event: String = self.buffer.drain(..end + 2).collect();
                if event.lines().any(|line| line == "event: status") {
                    let data = event.lines().find_map(|line| line.strip_prefix("data: "));
                    return data.map(str::to_owned);
                }
                continue;
            }
            let chunk = self.response.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn the_event_stream_announces_a_new_post_and_a_new_block() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut events = EventStream::open(&web).await;
    let within = Duration::from_secs(10);

    let first = tokio::time::timeout(within, events.next_status())
        .await
        .expect("in time");
    assert_eq!(
        first.as_deref().map(|f| f.split(':').next()),
        Some(Some("0"))
    );

    node.post("alice", "news").await;
    let after_post = tokio::time::timeout(within, events.next_status())
        .await
        .expect("in time");
    assert!(
        after_post.as_deref().is_some_and(|f| f.ends_with(":1")),
        "{after_post:?}"
    );

    node.mine().await;
    let after_block = tokio::time::timeout(within, events.next_status())
        .await
        .expect("in time");
    assert!(
        after_block
            .as_deref()
            .is_some_and(|f| f.starts_with("1:") && f.ends_with(":0")),
        "{after_block:?}"
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn shutting_down_ends_open_event_streams_so_the_web_app_stops() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut events = EventStream::open(&web).await;
    assert!(events.next_status().await.is_some());

    tokio::time::timeout(Duration::from_secs(10), web.stop())
        .await
        .expect("graceful shutdown does not wait on the open stream");
    let rest = tokio::time::timeout(Duration::from_secs(10), events.next_status())
        .await
        .expect("the stream ends");
    assert_eq!(rest, None);
    node.stop().await;
}
