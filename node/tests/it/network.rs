//! Many nodes: joining, gossip, sync of missing blocks, convergence after a partition, and
//! refusing what faulty peers serve.

use std::collections::HashSet;
use std::time::Duration;

use axum::Json;
use axum::routing::{get, post};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Api, TestNode, converged, posts_in_chain, serve_app, wait_until};

const DIFFICULTY: u32 = 6;
/// Generous bound on waiting for gossip on loopback; guards against hangs only.
const PATIENCE: Duration = Duration::from_secs(60);

fn contents(chain: &Value) -> HashSet<String> {
    posts_in_chain(chain)
        .into_iter()
        .map(|(_, tx)| tx["content"].as_str().expect("content").to_owned())
        .collect()
}

async fn chain_has(node: &Api, content: &str) -> bool {
    contents(&node.chain().await).contains(content)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_sent_to_one_node_and_mined_on_another_reaches_all_three() {
    let (n1, n2, n3) = tokio::join!(
        TestNode::spawn(DIFFICULTY),
        TestNode::spawn(DIFFICULTY),
        TestNode::spawn(DIFFICULTY)
    );
    n2.register_with(&n1).await;
    n3.register_with(&n1).await;
    assert_eq!(n1.peers().await.len(), 2);
    wait_until("n2 and n3 know each other", PATIENCE, || async {
        n2.peers().await.contains(&n3.base) && n3.peers().await.contains(&n2.base)
    })
    .await;

    let id = n1.post("alice", "travels far").await;
    wait_until("the post reaches n2's mempool", PATIENCE, || async {
        n2.pending()
            .await
            .as_array()
            .is_some_and(|p| p.iter().any(|t| t["id"] == id.as_str()))
    })
    .await;
    assert_eq!(n2.mine().await, "Block #1 is mined.");

    converged(&[&n1, &n2, &n3], PATIENCE).await;
    for node in [&n1, &n2, &n3] {
        assert!(chain_has(node, "travels far").await);
        assert_eq!(
            node.pending().await,
            json!([]),
            "mined posts leave every mempool"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_groups_converge_on_the_heaviest_branch_and_keep_every_post() {
    let (a, b, c, d) = tokio::join!(
        TestNode::spawn(DIFFICULTY),
        TestNode::spawn(DIFFICULTY),
        TestNode::spawn(DIFFICULTY),
        TestNode::spawn(DIFFICULTY)
    );
    // Two groups that do not know each other.
    b.register_with(&a).await;
    d.register_with(&c).await;

    a.post("left", "left 1").await;
    a.mine().await;
    for i in 1..=2 {
        c.post("right", &format!("right {i}")).await;
        c.mine().await;
    }
    let left_tip = converged(&[&a, &b], PATIENCE).await;
    let right_tip = converged(&[&c, &d], PATIENCE).await;
    assert_ne!(left_tip, right_tip);

    // The partition heals: one link is enough.
    b.register_with(&c).await;
    let tip = converged(&[&a, &b, &c, &d], PATIENCE).await;
    assert_eq!(tip, right_tip, "the branch with more work wins");

    // The left post was in an abandoned block: it is pending again, and the next
    // mining round puts it on the common chain.
    wait_until("the abandoned post is pending on a", PATIENCE, || async {
        a.pending().await.as_array().is_some_and(|p| !p.is_empty())
    })
    .await;
    assert_eq!(a.mine().await, "Block #3 is mined.");
    converged(&[&a, &b, &c, &d], PATIENCE).await;
    let expected: HashSet<String> = ["left 1", "right 1", "right 2"].map(String::from).into();
    for node in [&a, &b, &c, &d] {
        assert_eq!(contents(&node.chain().await), expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_down_catches_up_from_its_remembered_peers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = TestNode::spawn(DIFFICULTY).await;
    let b = TestNode::spawn_persistent(DIFFICULTY, dir.path()).await;
    b.register_with(&a).await;
    b.stop().await.expect("clean stop");

    for i in 0..3 {
        a.post("alice", &format!("while b was down {i}")).await;
        a.mine().await;
    }
    // No --peer: b finds a in its stored peer list.
    let b = TestNode::spawn_persistent(DIFFICULTY, dir.path()).await;
    let tip = converged(&[&a, &b], PATIENCE).await;
    assert_eq!(tip, a.tip().await);
    assert_eq!(b.height().await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_syncs_a_thousand_blocks() {
    let a = TestNode::spawn(1).await;
    for i in 0..1000 {
        a.post("miner", &format!("block {i}")).await;
        a.mine().await;
    }
    let late = TestNode::spawn(1).await;
    late.register_with(&a).await;
    assert_eq!(late.height().await, 1000);
    assert_eq!(late.chain().await, a_chain_without_peers(&a).await);
}

/// `a`'s chain as a node that has `a` as its only peer reports it.
async fn a_chain_without_peers(a: &Api) -> Value {
    let mut chain = a.chain().await;
    chain["peers"] = json!([a.base]);
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_whose_parent_is_missing_is_connected_after_fetching_its_ancestors() {
    let a = TestNode::spawn(DIFFICULTY).await;
    let b = TestNode::spawn(DIFFICULTY).await;
    for i in 0..3 {
        a.post("alice", &format!("ancestor {i}")).await;
        a.mine().await;
    }
    let tip_block = a.chain().await["chain"][3].clone();
    // b knows a, but a does not know b, so nothing reaches b by gossip.
    let response = b
        .post_json("/register_node", &json!({ "node_address": a.base }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(b.height().await, 0);
    let response = b
        .http
        .post(b.url("/add_block"))
        .header("x-chainpost-peer", a.base.as_str())
        .json(&tip_block)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    converged(&[&a, &b], PATIENCE).await;
    assert_eq!(b.height().await, 3);
}

/// Asserts that `/register_with` the faulty peer at `address` answers 502 with an error
/// naming `reason`.
async fn assert_registration_fails(node: &Api, address: &str, reason: &str) {
    let response = node
        .post_json("/register_with", &json!({ "node_address": address }))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let body: Value = response.json().await.expect("JSON");
    let message = body["error"].as_str().expect("message");
    assert!(message.contains(reason), "{body}");
}

/// A peer that serves whatever chain the test gives it and claims whatever work it likes.
async fn fake_peer(height: u64, cumulative_work: u128, chain: Vec<Value>) -> String {
    fake_peer_paging(height, cumulative_work, chain, true).await
}

/// Like `fake_peer`; when `honest_paging` is false every page is the chain's first 500
/// blocks, whatever height was asked for.
async fn fake_peer_paging(
    height: u64,
    cumulative_work: u128,
    chain: Vec<Value>,
    honest_paging: bool,
) -> String {
    let status = json!({
        "genesis": chain[0]["hash"],
        "height": height,
        "tip": chain.last().map(|b| b["hash"].clone()),
        "cumulative_work": cumulative_work,
    });
    let length = chain.len();
    let app = axum::Router::new()
        .route("/status", get(move || async move { Json(status) }))
        .route(
            "/chain",
            get(
                move |query: axum::extract::Query<std::collections::HashMap<String, String>>| {
                    let chain = chain.clone();
                    async move {
                        let from: usize = if honest_paging {
                            query.get("from").and_then(|f| f.parse().ok()).unwrap_or(0)
                        } else {
                            1
                        };
                        let page: Vec<Value> = chain.iter().skip(from).take(500).cloned().collect();
                        Json(json!({ "length": length, "chain": page, "peers": [] }))
                    }
                },
            ),
        )
        .route(
            "/register_node",
            post(|| async { Json(json!({ "length": 0, "chain": [], "peers": [] })) }),
        );
    serve_app(app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_serving_an_invalid_or_lighter_chain_changes_nothing_and_is_dropped() {
    let honest = TestNode::spawn(DIFFICULTY).await;
    for i in 0..6 {
        honest.post("honest", &format!("block {i}")).await;
        honest.mine().await;
    }
    let victim = TestNode::spawn(DIFFICULTY).await;
    for i in 0..3 {
        victim.post("victim", &format!("own block {i}")).await;
        victim.mine().await;
    }
    let before = (
        victim.chain().await,
        victim.pending().await,
        victim.tip().await,
    );

    // Longer and heavier, but block 4 has a forged post.
    let mut forged = honest.chain().await["chain"]
        .as_array()
        .expect("chain")
        .clone();
    forged[4]["transactions"][0]["content"] = json!("forged");
    forged[4]["transactions"][0]
        .as_object_mut()
        .expect("post")
        .remove("id");
    let liar = fake_peer(6, 7 * 64, forged).await;
    assert_registration_fails(&victim, &liar, "invalid block").await;
    assert!(
        !victim.peers().await.contains(&liar),
        "the faulty peer is dropped"
    );

    // Claims less work than ours: nothing is even downloaded.
    let honest_chain = honest.chain().await["chain"]
        .as_array()
        .expect("chain")
        .clone();
    let lighter = fake_peer(2, 3 * 64, honest_chain[..3].to_vec()).await;
    victim.register_with(&Api::new(lighter)).await;

    let after = (
        victim.chain().await,
        victim.pending().await,
        victim.tip().await,
    );
    assert_eq!(after.1, before.1);
    assert_eq!(after.2, before.2);
    assert_eq!(after.0["chain"], before.0["chain"]);
    assert_eq!(
        victim.status().await["blocks_known"],
        4 + 3,
        "only the valid, equal-work prefix was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_adopts_a_heavier_chain_that_gossip_never_brought() {
    let (c, d) = tokio::join!(TestNode::spawn(DIFFICULTY), TestNode::spawn(DIFFICULTY));
    // c knows d, but d does not know c, so d's blocks never reach c by gossip.
    let response = c
        .post_json("/register_node", &json!({ "node_address": d.base }))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(d.peers().await.is_empty());
    for i in 0..2 {
        d.post("dora", &format!("unheard {i}")).await;
        d.mine().await;
    }
    assert_eq!(c.height().await, 0);

    let resolved = c.get_json("/nodes/resolve").await;
    assert_eq!(resolved["message"], "Our chain was replaced");
    assert_eq!(resolved["blocks_added"], 2);
    assert_eq!(c.tip().await, d.tip().await);

    let again = c.get_json("/nodes/resolve").await;
    assert_eq!(again["message"], "Our chain is authoritative");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mining_node_mines_pending_posts_without_being_asked() {
    let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    config.mine = true;
    let miner = TestNode::spawn_with(config).await;
    let listener = TestNode::spawn(DIFFICULTY).await;
    listener.register_with(&miner).await;
    listener.post("erin", "mine me").await;
    wait_until(
        "the post is mined and reaches the listener",
        PATIENCE,
        || async { chain_has(&listener, "mine me").await },
    )
    .await;
    assert_eq!(miner.pending().await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_full_peer_set_still_lets_newcomers_sync() {
    let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    config.max_peers = 2;
    let hub = TestNode::spawn_with(config).await;
    hub.post("hub", "already here").await;
    hub.mine().await;
    let first = TestNode::spawn(DIFFICULTY).await;
    let second = TestNode::spawn(DIFFICULTY).await;
    first.register_with(&hub).await;
    second.register_with(&hub).await;
    assert_eq!(hub.peers().await.len(), 2);
    let newcomer = TestNode::spawn(DIFFICULTY).await;
    newcomer.register_with(&hub).await;
    assert_eq!(newcomer.tip().await, hub.tip().await);
    assert!(
        !hub.peers().await.contains(&newcomer.base),
        "the bound holds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_serves_the_same_page_forever_is_cut_off() {
    let honest = TestNode::spawn(DIFFICULTY).await;
    for i in 0..3 {
        honest.post("honest", &format!("block {i}")).await;
        honest.mine().await;
    }
    let chain = honest.chain().await["chain"]
        .as_array()
        .expect("chain")
        .clone();
    // Claims a towering chain, but every page it serves is blocks 1..3 again.
    let staller = fake_peer_paging(1_000_000, u128::from(u64::MAX), chain, false).await;
    let victim = TestNode::spawn(DIFFICULTY).await;
    assert_registration_fails(&victim, &staller, "inconsistently").await;
    // The valid blocks it did serve are kept, the staller is not, and the node is free for
    // other work (consensus answers rather than waiting for a sync that never ends).
    assert_eq!(victim.height().await, 3);
    assert_eq!(
        victim.get_json("/nodes/resolve").await["peers_consulted"],
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_peer_discovery_a_node_links_only_with_whom_it_joined() {
    let (hub, known_to_hub) =
        tokio::join!(TestNode::spawn(DIFFICULTY), TestNode::spawn(DIFFICULTY));
    known_to_hub.register_with(&hub).await;
    let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    config.no_peer_discovery = true;
    let fixed = TestNode::spawn_with(config).await;
    fixed.register_with(&hub).await;
    assert_eq!(fixed.peers().await, vec![hub.base.clone()]);

    // (A discovering node introduces itself to the hub's peers, `fixed` among them, which
    // then links with it: registering with a node is always allowed.)
    let discovering = TestNode::spawn(DIFFICULTY).await;
    discovering.register_with(&hub).await;
    let mut learned = discovering.peers().await;
    learned.sort();
    let mut expected = vec![
        hub.base.clone(),
        known_to_hub.base.clone(),
        fixed.base.clone(),
    ];
    expected.sort();
    assert_eq!(
        learned, expected,
        "the default still adopts the hub's peers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_mines_empty_blocks_mines_nonstop_and_peers_accept_them() {
    let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    config.mine = true;
    config.mine_empty_blocks = true;
    config.hash_rate = Some(50_000);
    let miner = TestNode::spawn_with(config).await;
    let listener = TestNode::spawn(DIFFICULTY).await;
    listener.register_with(&miner).await;
    wait_until("empty blocks reach the listener", PATIENCE, || async {
        listener.height().await >= 3
    })
    .await;
    let chain = listener.chain().await;
    assert!(posts_in_chain(&chain).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_retries_when_the_sync_after_registering_is_lost() {
    // A gateway in front of a real node that loses the second /status asked through it:
    // the handshake and the registration went through, the sync that follows did not.
    let remote = TestNode::spawn(DIFFICULTY).await;
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let upstream = remote.base.clone();
    let forward = move |path: &'static str| {
        let upstream = upstream.clone();
        let asked = asked.clone();
        move |body: axum::body::Bytes| async move {
            if path == "/status" && asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 1 {
                return (StatusCode::GATEWAY_TIMEOUT, String::new());
            }
            let client = reqwest::Client::new();
            let request = if path == "/status" {
                client.get(format!("{upstream}{path}"))
            } else {
                client
                    .post(format!("{upstream}{path}?include_chain=false"))
                    .header("content-type", "application/json")
                    .body(body)
            };
            let answer = request.send().await.expect("upstream answers");
            (answer.status(), answer.text().await.expect("body"))
        }
    };
    let gateway = axum::Router::new()
        .route("/status", get(forward("/status")))
        .route("/register_node", post(forward("/register_node")));
    let gateway_url = serve_app(gateway).await;

    let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    config.peers = vec![gateway_url.clone()];
    let joiner = TestNode::spawn_with(config).await;
    wait_until(
        "the joiner retries and keeps the peer",
        PATIENCE,
        || async { joiner.peers().await == vec![gateway_url.clone()] },
    )
    .await;
}

/// A gateway in front of `upstream` that holds every forwarded post for `post_delay` and
/// counts the posts it has delivered; everything else passes straight through.
async fn slow_post_gateway(
    upstream: String,
    post_delay: Duration,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let delivered = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = delivered.clone();
    let forward = move |request: axum::extract::Request| {
        let (upstream, counter) = (upstream.clone(), counter.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, 16 << 20).await.expect("body");
            let is_post = parts.uri.path() == "/new_transaction";
            if is_post {
                tokio::time::sleep(post_delay).await;
            }
            let url = format!("{upstream}{}", parts.uri);
            let answer = reqwest::Client::new()
                .request(parts.method, url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .expect("upstream answers");
            if is_post {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            (answer.status(), answer.bytes().await.expect("body"))
        }
    };
    let gateway = axum::Router::new().fallback(forward);
    (serve_app(gateway).await, delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_post_gossip_never_holds_up_a_block() {
    let (sender, receiver) = tokio::join!(TestNode::spawn(DIFFICULTY), TestNode::spawn(DIFFICULTY));
    let (gateway, posts_delivered) =
        slow_post_gateway(receiver.base.clone(), Duration::from_secs(2)).await;
    sender.register_with(&Api::new(gateway)).await;
    // Far more posts than post sends may be in flight at once: their gossip queues up.
    for i in 0..40 {
        sender.post("flood", &format!("post {i}")).await;
    }
    sender.mine().await;
    wait_until("the block reaches the receiver", PATIENCE, || async {
        receiver.height().await == 1
    })
    .await;
    // Had the block waited behind the posts, at least two waves of 16 would be through.
    let delivered = posts_delivered.load(std::sync::atomic::Ordering::SeqCst);
    assert!(delivered < 16, "the block waited for {delivered} posts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_finds_its_peers_through_a_dns_seed_and_they_learn_of_it() {
    let a = TestNode::spawn(DIFFICULTY).await;
    let port = a.api.base.rsplit(':').next().expect("a port").to_owned();
    let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    // localhost resolves to 127.0.0.1, where `a` listens, and may also give ::1, where
    // nothing does; a name that does not resolve at all is asked beside it.
    config.seed_dns = [
        "no-such-seed.invalid".to_owned(),
        format!("localhost:{port}"),
    ]
    .iter()
    .map(|seed| seed.parse().expect("a seed name"))
    .collect();
    let b = TestNode::spawn_with(config).await;
    let expected_a = format!("http://127.0.0.1:{port}");
    wait_until("b takes a from the seed as a peer", PATIENCE, || async {
        b.peers().await.contains(&expected_a)
    })
    .await;
    wait_until("a learns of b", PATIENCE, || async {
        a.peers().await.contains(&b.api.base)
    })
    .await;

    a.post("alice", "found through DNS").await;
    a.mine().await;
    let tip = converged(&[&a, &b], PATIENCE).await;
    assert_eq!(tip, a.tip().await);
}

/// A node that reorganizes on gossip shows its new tip on `/status` only once the store's
/// readers show what the tip holds: the post the abandoned block held is pending at once.
/// The summary used to be published before the commit, and a reader that saw the new tip
/// could still read the post as confirmed in the abandoned block.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tip_learnt_by_gossip_is_shown_only_with_what_it_holds() {
    let dirs = [(); 2].map(|()| tempfile::tempdir().expect("temp dir"));
    let (a, b) = tokio::join!(
        TestNode::spawn_persistent(DIFFICULTY, dirs[0].path()),
        TestNode::spawn_persistent(DIFFICULTY, dirs[1].path())
    );
    let mut rival_config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
    rival_config.mine_empty_blocks = true;
    // Linked with nobody: it builds the branch that takes the post's block away.
    let rival = TestNode::spawn_with(rival_config).await;
    b.register_with(&a).await;
    for round in 0..15 {
        converged(&[&a, &b, &rival], PATIENCE).await;
        let id = a.post("payer", &format!("payment {round}")).await;
        a.mine().await;
        let confirming = a.tip().await;
        wait_until("b follows a", PATIENCE, || async {
            b.tip().await == confirming
        })
        .await;
        let fork_height = rival.height().await;
        rival.mine().await;
        rival.mine().await;
        for block in rival.chain().await["chain"].as_array().expect("chain") {
            if block["index"].as_u64() > Some(fork_height) {
                a.add_block(block).await;
            }
        }
        let rival_tip = rival.tip().await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while b.tip().await != rival_tip {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: b never reorganized"
            );
        }
        let seen = b.get_json(&format!("/transactions/{id}")).await;
        assert_eq!(
            seen["status"], "pending",
            "round {round}: b shows the rival tip but reads the post as {seen}"
        );
    }
}
