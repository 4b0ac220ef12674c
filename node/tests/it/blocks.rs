//! Blocks from elsewhere: accepted, stored on a side branch, reorganized, or held until
//! their ancestors arrive. No post is lost on the way.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Api, TestNode, posts_in_chain};

async fn block_at(api: &Api, height: usize) -> Value {
    api.chain().await["chain"][height].clone()
}

async fn add(api: &Api, block: &Value) -> (StatusCode, Value) {
    let response = api.add_block(block).await;
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn a_block_mined_elsewhere_extends_the_chain() {
    let miner = TestNode::spawn(8).await;
    let follower = TestNode::spawn(8).await;
    miner.post("alice", "from the miner").await;
    miner.mine().await;

    let block = block_at(&miner, 1).await;
    let (status, body) = add(&follower, &block).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["outcome"], "extended");
    assert_eq!(follower.chain().await, miner.chain().await);

    let (status, body) = add(&follower, &block).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["outcome"], "already_known");
}

#[tokio::test]
async fn a_heavier_branch_reorganizes_and_returns_abandoned_posts_to_the_mempool() {
    let (a, b, observer) = tokio::join!(TestNode::spawn(8), TestNode::spawn(8), TestNode::spawn(8));
    let lost_id = a.post("alice", "on the short branch").await;
    a.mine().await;
    b.post("bob", "first on the long branch").await;
    b.mine().await;
    b.post("bob", "second on the long branch").await;
    b.mine().await;

    let (status, body) = add(&observer, &block_at(&a, 1).await).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::CREATED, Some("extended"))
    );
    let (status, body) = add(&observer, &block_at(&b, 1).await).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::CREATED, Some("side_branch"))
    );
    assert_eq!(
        observer.status().await["tip"],
        block_at(&a, 1).await["hash"],
        "first seen wins a tie"
    );
    let (status, body) = add(&observer, &block_at(&b, 2).await).await;
    assert_eq!(
        (status, body["outcome"].as_str()),
        (StatusCode::CREATED, Some("reorganized"))
    );

    assert_eq!(observer.chain().await["chain"], b.chain().await["chain"]);
    let tree = observer.get_json("/tree").await;
    let shape: Vec<(u64, bool)> = tree["blocks"]
        .as_array()
        .expect("blocks")
        .iter()
        .map(|b| {
            (
                b["index"].as_u64().expect("index"),
                b["in_best_chain"] == true,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [(0, true), (1, true), (1, false), (2, true)],
        "the abandoned block stays as a side branch, after the best chain's at its height"
    );
    assert_eq!(tree["tip"], block_at(&b, 2).await["hash"]);
    let pending = observer.pending().await;
    assert_eq!(
        pending[0]["id"],
        lost_id.as_str(),
        "the abandoned post is pending again"
    );
    let lookup = observer.get_json(&format!("/transactions/{lost_id}")).await;
    assert_eq!(lookup["status"], "pending", "{lookup}");
    let abandoned = block_at(&a, 1).await;
    let detail = observer
        .get_json(&format!(
            "/blocks/{}",
            abandoned["hash"].as_str().expect("hash")
        ))
        .await;
    assert_eq!(detail["in_best_chain"], false);
    assert_eq!(
        (&detail["hash"], &detail["transactions"]),
        (&abandoned["hash"], &abandoned["transactions"]),
        "the abandoned block is still served"
    );

    // Mining it again puts it back on the (new) best chain.
    assert_eq!(observer.mine().await, "Block #3 is mined.");
    let lookup = observer.get_json(&format!("/transactions/{lost_id}")).await;
    assert_eq!(
        (lookup["status"].as_str(), lookup["block"]["index"].as_u64()),
        (Some("confirmed"), Some(3)),
        "{lookup}"
    );
    let posts = posts_in_chain(&observer.chain().await);
    assert!(
        posts
            .iter()
            .any(|(index, tx)| *index == 3 && tx["id"] == lost_id.as_str())
    );
    assert_eq!(posts.len(), 3);
}

#[tokio::test]
async fn a_block_with_an_unknown_parent_waits_for_it_and_then_connects() {
    let miner = TestNode::spawn(8).await;
    let follower = TestNode::spawn(8).await;
    for i in 0..2 {
        miner.post("carol", &format!("post {i}")).await;
        miner.mine().await;
    }
    let (first, second) = (block_at(&miner, 1).await, block_at(&miner, 2).await);

    let (status, body) = add(&follower, &second).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["missing"], first["hash"]);
    assert_eq!(
        follower.status().await["height"],
        0,
        "an orphan does not move the tip"
    );
    assert_eq!(follower.status().await["orphans"], 1);

    let (status, _) = add(&follower, &first).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(follower.chain().await, miner.chain().await);
    assert_eq!(follower.status().await["orphans"], 0);
}

#[tokio::test]
async fn a_block_of_another_network_is_refused() {
    let easy = TestNode::spawn(4).await;
    let hard = TestNode::spawn(8).await;
    easy.post("dave", "wrong network").await;
    easy.mine().await;
    let (status, body) = add(&hard, &block_at(&easy, 1).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]
            .as_str()
            .expect("message")
            .contains("difficulty"),
        "{body}"
    );
    assert_eq!(hard.status().await["blocks_known"], 1);
}

#[tokio::test]
async fn a_nonce_beyond_what_a_javascript_number_holds_is_written_with_every_digit() {
    use chainpost_chain::block::{Block, BlockHeader, merkle_root};
    use chainpost_chain::pow::meets_difficulty;
    use chainpost_wire::BlockJson;

    let node = TestNode::spawn(8).await;
    let genesis = block_at(&node, 0).await;
    let header = BlockHeader {
        index: 1,
        previous_hash: genesis["hash"]
            .as_str()
            .expect("hash")
            .parse()
            .expect("hex"),
        merkle_root: merkle_root(&[]),
        timestamp: genesis["timestamp"].as_u64().expect("timestamp") + 1,
        difficulty: 8,
        nonce: 0,
    };
    let nonce = ((1u64 << 60) + 1..)
        .find(|&nonce| meets_difficulty(&BlockHeader { nonce, ..header }.hash(), 8))
        .expect("a nonce within reach");
    assert_ne!(
        nonce as f64 as u64, nonce,
        "a double cannot hold this nonce"
    );
    let block = Block::new(BlockHeader { nonce, ..header }, Vec::new());
    let json = serde_json::to_value(BlockJson::from_block(&block)).expect("block JSON");
    let (status, body) = add(&node, &json).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let exact = format!("\"nonce\":{nonce}");
    for path in ["/chain".to_owned(), format!("/blocks/{}", block.hash())] {
        let text = node.get(&path).await.text().await.expect("a body");
        assert!(
            text.contains(&exact),
            "{path} does not write {exact}: {text}"
        );
    }
}
