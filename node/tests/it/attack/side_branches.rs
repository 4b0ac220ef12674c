//! Storing and relaying blocks that cannot become best: cheap forks of old blocks.

use reqwest::StatusCode;
use serde_json::Value;

use super::reads::side_children;
use crate::helpers::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_blocks_are_bounded_per_height_and_never_relayed() {
    let victim = TestNode::spawn(4).await;
    let mut config = chainpost_node::config::Config::ephemeral(4);
    config.sync_interval = 3_600;
    let peer = TestNode::spawn_with(config).await;
    peer.register_with(&victim).await;
    for index in 0..2 {
        victim.post("alice", &format!("best {index}")).await;
        victim.mine().await;
    }
    crate::helpers::converged(&[&victim, &peer], std::time::Duration::from_secs(20)).await;

    let genesis = victim.chain().await["chain"][0].clone();
    let mut kept = 0;
    let mut refused = Vec::new();
    for block in side_children(&genesis, 1..151, 4) {
        let answer = victim.add_block(&block).await;
        match answer.status() {
            StatusCode::CREATED => kept += 1,
            status => {
                assert_eq!(status, StatusCode::CONFLICT, "valid, not kept: no fault");
                let body: Value = answer.json().await.expect("JSON");
                refused.push(body["error"].as_str().expect("message").to_owned());
            }
        }
    }
    assert_eq!(
        kept, 7,
        "height 1 keeps 8 blocks, the best chain's among them"
    );
    assert_eq!(refused.len(), 143);
    assert!(
        refused
            .iter()
            .all(|error| error.contains("already holds 8 competing blocks")),
        "{refused:?}"
    );
    assert_eq!(victim.status().await["blocks_known"], 3 + 7);

    // The peer heard of none of them; a block that extends the chain still gets through.
    victim.post("alice", "best 2").await;
    victim.mine().await;
    crate::helpers::converged(&[&victim, &peer], std::time::Duration::from_secs(20)).await;
    assert_eq!(
        peer.status().await["blocks_known"],
        4,
        "no side block was relayed"
    );
}
