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

/// Empty children of the block `parent` (JSON), each stamped `offset` seconds after it and
/// mined at `difficulty`: the side blocks anyone can make for little work.
pub(crate) fn side_children(
    parent: &Value,
    offsets: std::ops::Range<u64>,
    difficulty: u32,
) -> Vec<Value> {
    use chainpost_chain::block::{Block, BlockHeader, merkle_root};
    use chainpost_chain::pow::meets_difficulty;
    use chainpost_wire::BlockJson;
    let parent_hash = parent["hash"]
        .as_str()
        .expect("hash")
        .parse()
        .expect("hex hash");
    let parent_time = parent["timestamp"].as_u64().expect("timestamp");
    let parent_index = parent["index"].as_u64().expect("index");
    offsets
        .map(|offset| {
            let header = BlockHeader {
                index: parent_index + 1,
                previous_hash: parent_hash,
                merkle_root: merkle_root(&[]),
                timestamp: parent_time + offset,
                difficulty,
                nonce: 0,
            };
            let nonce = (0..)
                .find(|&nonce| {
                    meets_difficulty(&BlockHeader { nonce, ..header }.hash(), difficulty)
                })
                .expect("a nonce within reach");
            let block = Block::new(BlockHeader { nonce, ..header }, Vec::new());
            serde_json::to_value(BlockJson::from_block(&block)).expect("block JSON")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_blocks_never_crowd_the_best_chain_out_of_the_tree_view() {
    let node = TestNode::spawn(4).await;
    for index in 0..3 {
        node.post("alice", &format!("best {index}")).await;
        node.mine().await;
    }
    let genesis = node.chain().await["chain"][0].clone();
    for block in side_children(&genesis, 1..1_101, 4) {
        let status = node.add_block(&block).await.status();
        assert!(
            status == StatusCode::CREATED || status.is_client_error(),
            "a side block got {status}"
        );
    }
    let tip = node.tip().await;
    for path in ["/tree", "/tree?from=0"] {
        let tree = node.get_json(path).await;
        let blocks = tree["blocks"].as_array().expect("blocks");
        assert!(
            blocks.iter().any(|block| block["hash"] == tip.as_str()),
            "{path} leaves out the best tip"
        );
        for height in 0..=3 {
            let at_height: Vec<&Value> = blocks
                .iter()
                .filter(|block| block["index"] == height)
                .collect();
            assert_eq!(
                at_height
                    .iter()
                    .filter(|block| block["in_best_chain"] == true)
                    .count(),
                1,
                "{path}: the best chain's block at height {height}"
            );
            assert!(
                at_height.len() <= 9,
                "{path}: {} blocks at height {height}",
                at_height.len()
            );
        }
    }
}
