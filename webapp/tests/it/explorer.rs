//! The explorer: a page per block with its parent and children, and the block tree with
//! side branches shown apart.

use reqwest::StatusCode;

use crate::helpers::{TestNode, TestWeb, articles, between, fork_and_reorganize};

#[tokio::test]
async fn a_block_page_shows_its_header_posts_parent_and_children() {
    let node = TestNode::spawn().await;
    node.post("alice", "in block one").await;
    node.mine().await;
    node.post("bob", "in block two").await;
    node.mine().await;
    let blocks = node.blocks().await;
    let hash = |i: usize| blocks[i]["hash"].as_str().expect("hash").to_owned();
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (status, html) = web.page(&format!("/blocks/{}", hash(1))).await;

    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Block #1</h1>"));
    assert!(html.contains("badge-best"), "on the best chain");
    assert!(html.contains(&format!("id=\"block-hash\">{}<", hash(1))));
    assert!(
        html.contains("id=\"parent-link\"")
            && html.contains(&format!("href=\"/blocks/{}\"", hash(0)))
    );
    assert!(
        html.contains(&format!(
            "href=\"/blocks/{}\" class=\"child-link\"",
            hash(2)
        )),
        "{html}"
    );
    assert!(html.contains(&blocks[1]["merkle_root"].as_str().expect("root").to_string()));
    assert!(html.contains(&blocks[1]["nonce"].to_string()));
    assert!(html.contains("8 bits"));
    let posts = articles(&html);
    assert_eq!(posts.len(), 1);
    assert!(posts[0].contains("in block one"));
    assert!(
        !posts[0].contains("post-pending"),
        "a block's posts are not pending"
    );

    let (_, genesis) = web.page(&format!("/blocks/{}", hash(0))).await;
    assert!(genesis.contains("none: this is the genesis block"));
    let (_, tip) = web.page(&format!("/blocks/{}", hash(2))).await;
    assert!(tip.contains("none yet: this is the tip of the best chain"));

    let by_height = web.get("/height/2", &Default::default()).await;
    assert_eq!(by_height.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        by_height.headers()["location"],
        format!("/blocks/{}", hash(2)).as_str()
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_tree_shows_a_fork_with_the_abandoned_block_on_a_side_branch_after_a_reorganization() {
    let node = TestNode::spawn().await;
    let other = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, before) = web.page("/tree").await;
    assert!(before.contains("no side branches"));

    let abandoned = fork_and_reorganize(&node, &other).await;
    let (status, html) = web.page("/tree").await;

    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("1 block on a side branch"), "{html}");
    let side = between(&html, "class=\"tree-block is-side", "</a>").expect("a side-branch block");
    assert!(
        side.contains(&format!("href=\"/blocks/{abandoned}\"")),
        "{side}"
    );
    assert!(side.contains("branches off"), "{side}");
    assert_eq!(
        html.matches("class=\"tree-block is-best").count(),
        3,
        "genesis and the two winning blocks"
    );
    assert!(
        html.contains("badge-fork"),
        "the genesis block is a fork point"
    );
    assert!(
        html.contains("Side branch</div>"),
        "a lane for the side branch"
    );

    let (_, side_page) = web.page(&format!("/blocks/{abandoned}")).await;
    assert!(
        side_page.contains("badge-side"),
        "the block page says it is off the best chain"
    );
    assert!(side_page.contains("a post on the branch that loses"));
    // No post is lost: the abandoned block's post is pending again, and shown so.
    let (_, home) = web.page("/").await;
    let pending = between(&home, "id=\"live-pending\"", "</section>").expect("pending");
    assert!(pending.contains("a post on the branch that loses"));
    web.stop().await;
    node.stop().await;
    other.stop().await;
}
