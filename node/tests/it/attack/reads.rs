//! Reads that would cost the node memory or lock time in proportion to what it holds.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_tx_answers_at_most_a_page_and_pages_through_everything() {
    let node = TestNode::spawn(4).await;
    let posts = 2_500;
    let mut writers = Vec::new();
    for writer in 0..8 {
        let api = node.api.clone();
        writers.push(tokio::spawn(async move {
            for index in (writer..posts).step_by(8) {
                api.post("flood", &format!("post {index:05} {}", "x".repeat(200)))
                    .await;
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    assert_eq!(node.status().await["mempool_size"], posts);

    let bare = node.pending().await;
    let bare = bare.as_array().expect("the tutorial's JSON list");
    assert_eq!(bare.len(), 1_000, "a bare call lists the oldest 1,000");

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(id) => format!("/pending_tx?limit=300&after={id}"),
            None => "/pending_tx?limit=300".to_owned(),
        };
        let page: Vec<Value> = serde_json::from_value(node.get_json(&path).await).expect("list");
        assert!(page.len() <= 300);
        let Some(last) = page.last() else { break };
        after = Some(last["id"].as_str().expect("id").to_owned());
        seen.extend(
            page.iter()
                .map(|post| post["id"].as_str().expect("id").to_owned()),
        );
    }
    assert_eq!(seen.len(), posts, "every pending post, once");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), posts);
    let oldest: Vec<&str> = bare
        .iter()
        .map(|post| post["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        oldest,
        seen[..1_000].iter().map(String::as_str).collect::<Vec<_>>(),
        "oldest first"
    );

    assert_eq!(
        node.get("/pending_tx?limit=1001").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        node.get(&format!("/pending_tx?after={}", "ab".repeat(32)))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}
