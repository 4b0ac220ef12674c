//! What a reader waits for: each page of the web app, timed from outside as a browser asks
//! for it, with a node on disk holding many confirmed posts (`PAGES_POSTS`, default
//! 1,000,000, in blocks of 1,000, every post by `bench` so the author page walks the
//! author index's longest range; each post names one of 1,000 topics, so a topic is in
//! one post of 1,000). One request at a time, 300 of each at random places: the home
//! page, an older page of the feed, the author's page at a random cursor, a thread, a
//! search for a block hash (which asks the node what it names), and full-text searches:
//! a word every post has (also from a random place, as a later page), a topic, and both,
//! through the web app and from the node's `/search` itself. Building the search index is timed too.
//!
//! `PAGES_POSTS=1000000 cargo bench -p webapp --bench pages`.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::sync::Arc;
use std::time::Instant;

use chainpost_chain::block::{BlockHeader, merkle_root};
use chainpost_chain::pow::Midstate;
use chainpost_chain::{Block, BlockHash, ChainParams, Transaction};
use chainpost_node::startup::Application as NodeApplication;
use chainpost_webapp::config::{Config as WebConfig, NodeUrl};
use chainpost_webapp::startup::Application as WebApplication;
use tokio::runtime::Runtime;

const DIFFICULTY: u32 = 8;
const POSTS_PER_BLOCK: usize = 1_000;
const TOPICS: u64 = 1_000;

fn main() {
    let posts: usize = std::env::var("PAGES_POSTS")
        .ok()
        .and_then(|posts| posts.parse().ok())
        .unwrap_or(1_000_000);
    let length = (posts / POSTS_PER_BLOCK).max(1);
    let runtime = Runtime::new().expect("runtime");
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let blocks = chain(&params, length);
    let dir = tempfile::tempdir().expect("temp dir");
    let (node_url, web_url) = runtime.block_on(async {
        let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
        config.in_memory = false;
        config.data_dir = Some(dir.path().to_owned());
        let node = NodeApplication::build(config).await.expect("node builds");
        let node_url = format!("http://{}", node.address());
        let chain_state = node.node();
        tokio::spawn(node.run_until(std::future::pending::<()>()));
        let loading = Instant::now();
        for page in blocks.chunks(500) {
            let submitted = chain_state.submit_blocks(page.to_vec(), None).await;
            assert!(submitted.error.is_none(), "the generated chain is valid");
        }
        println!(
            "pages: the node took {} posts in {length} blocks in {:.1} s",
            length * POSTS_PER_BLOCK,
            loading.elapsed().as_secs_f64()
        );
        let indexing = Instant::now();
        let tip = chain_state.summary().tip.to_string();
        let client = reqwest::Client::new();
        loop {
            let answer: serde_json::Value = client
                .get(format!("{node_url}/search?q=forty&limit=1"))
                .send()
                .await
                .expect("answers")
                .json()
                .await
                .expect("JSON");
            if answer["indexed"]["hash"] == tip.as_str() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        println!(
            "pages: the search index reached the tip {:.1} s later; {} MB on disk",
            indexing.elapsed().as_secs_f64(),
            dir_bytes(&dir.path().join("search")) / 1_000_000
        );
        let web = WebApplication::build(WebConfig::ephemeral(vec![
            NodeUrl::parse(&node_url).expect("URL"),
        ]))
        .await
        .expect("web app builds");
        let web_url = format!("http://{}", web.address());
        tokio::spawn(web.run_until(std::future::pending::<()>()));
        (node_url, web_url)
    });
    let client = reqwest::Client::new();
    let mut random = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move |bound: u64| {
        random ^= random << 13;
        random ^= random >> 7;
        random ^= random << 17;
        random % bound
    };
    let timed_at = |base: &str, path: String| {
        let sent = Instant::now();
        let status = runtime.block_on(async {
            let response = client
                .get(format!("{base}{path}"))
                .send()
                .await
                .expect("answers");
            let status = response.status();
            response.bytes().await.expect("a body");
            status
        });
        // The search answers with a redirect to the block it found.
        assert!(
            status.is_success() || status.is_redirection(),
            "{path}: {status}"
        );
        sent.elapsed().as_secs_f64() * 1e3
    };
    let timed = |path: String| timed_at(&web_url, path);
    let length = length as u64;
    let (mut home, mut older, mut author, mut thread, mut search) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut common, mut topic, mut both, mut node_common, mut node_topic) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut deep = Vec::new();
    for _ in 0..300 {
        let chosen = next(TOPICS);
        common.push(timed("/search?q=forty".to_owned()));
        topic.push(timed(format!("/search?q=topic{chosen}")));
        both.push(timed(format!("/search?q=forty+topic{chosen}")));
        node_common.push(timed_at(&node_url, "/search?q=forty".to_owned()));
        node_topic.push(timed_at(&node_url, format!("/search?q=topic{chosen}")));
        let before = format!("{}.{}", next(length) + 1, next(POSTS_PER_BLOCK as u64));
        deep.push(timed(format!("/search?q=forty&before={before}")));
        home.push(timed("/".to_owned()));
        let before = format!("{}.{}", next(length) + 1, next(POSTS_PER_BLOCK as u64));
        older.push(timed(format!("/?before={before}")));
        author.push(timed(format!("/authors/bench?before={before}")));
        let (block, hash) = &blocks[usize::try_from(next(length)).expect("fits")];
        let post = &block.transactions()[usize::try_from(next(1_000)).expect("fits")];
        thread.push(timed(format!("/posts/{}", post.id())));
        search.push(timed(format!("/search?q={hash}")));
    }
    let report = |name: &str, figures: Vec<f64>| {
        println!(
            "pages: {} confirmed posts: {name}: p50 {:.2} ms, p99 {:.2} ms",
            length as usize * POSTS_PER_BLOCK,
            percentile(figures.clone(), 0.5),
            percentile(figures, 0.99)
        );
    };
    report("home page (/)", home);
    report("older feed page (/?before=C)", older);
    report("author page (/authors/bench?before=C)", author);
    report("thread (/posts/{id})", thread);
    report("search for a block hash (/search?q=HASH)", search);
    report("search for a word in every post (/search?q=forty)", common);
    report(
        "search for a word in 1 post of 1,000 (/search?q=topicN)",
        topic,
    );
    report("search for both (/search?q=forty+topicN)", both);
    report(
        "a later page of a word in every post (/search?q=forty&before=C)",
        deep,
    );
    report("node: /search?q=forty", node_common);
    report("node: /search?q=topicN", node_topic);
}

/// Bytes of the files under `dir`.
fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => dir_bytes(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// A valid chain of `length` blocks of [`POSTS_PER_BLOCK`] unsigned posts by `bench`,
/// stamped one second apart.
fn chain(params: &ChainParams, length: usize) -> Vec<(Block, BlockHash)> {
    let mut parent = params.genesis();
    let mut blocks = Vec::with_capacity(length);
    for height in 1..=length as u64 {
        let timestamp = parent.header().timestamp + 1;
        let txs: Vec<_> = (0..POSTS_PER_BLOCK)
            .map(|i| {
                let topic = (height * POSTS_PER_BLOCK as u64 + i as u64 * 7) % TOPICS;
                let content = format!("post {height}.{i}: forty bytes of text about topic{topic}");
                Arc::new(Transaction::new(
                    "bench".to_owned(),
                    content,
                    timestamp as f64,
                    None,
                ))
            })
            .collect();
        let mut header = BlockHeader {
            index: height,
            previous_hash: parent.hash(),
            merkle_root: merkle_root(&txs),
            timestamp,
            difficulty: params.difficulty,
            nonce: 0,
        };
        header.nonce = Midstate::new(&header)
            .search(0..u64::MAX)
            .expect("a low difficulty always has a nonce");
        let block = Block::new(header, txs);
        parent = block.clone();
        let hash = block.hash();
        blocks.push((block, hash));
    }
    blocks
}

/// The value below which `fraction` of `figures` lie (nearest rank).
fn percentile(mut figures: Vec<f64>, fraction: f64) -> f64 {
    figures.sort_by(f64::total_cmp);
    let rank = ((figures.len() as f64 * fraction).ceil() as usize).clamp(1, figures.len());
    figures[rank - 1]
}
