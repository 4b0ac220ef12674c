//! Network benchmarks with real nodes on loopback: how fast a new node syncs a long chain,
//! and how long a group of nodes takes to converge after joining.

mod support;

// The node binary's allocator: without it, the heap left fragmented by building a
// 100,000-block chain in this process makes glibc's malloc, not the node, the figure.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use chainpost_chain::ChainParams;
use chainpost_node::config::Config;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;
use support::{InProcessNode, Posts, chain};
use tokio::runtime::Runtime;

const DIFFICULTY: u32 = 4;

async fn spawn() -> InProcessNode {
    InProcessNode::start(Config::ephemeral(DIFFICULTY)).await
}

async fn tips_agree(nodes: &[&InProcessNode]) -> bool {
    let tips: Vec<_> = nodes
        .iter()
        .map(|n| n.node.with_chain(|c| c.tree().tip().hash()))
        .collect();
    tips.windows(2).all(|pair| pair[0] == pair[1])
}

async fn wait_converged(nodes: &[&InProcessNode]) {
    while !tips_agree(nodes).await {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A new node joins one holding a 10,000-block chain and syncs it: every block checked
/// in full (signatures across all cores) and stored. Unsigned in memory shows the
/// protocol's cost; signed to disk is what a user's node does.
fn sync(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let length = 10_000;
    let author = SigningKey::from_bytes(&[7; 32]);
    let signed = Posts {
        signer: Some(&author),
        ..Posts::ONE_UNSIGNED
    };
    let mut group = c.benchmark_group("network");
    group.sample_size(10);
    group.throughput(Throughput::Elements(length as u64));
    for (name, posts, on_disk) in [
        ("sync_10000_blocks", Posts::ONE_UNSIGNED, false),
        ("sync_10000_signed_blocks_to_disk", signed, true),
    ] {
        let blocks = chain(&params, length, posts);
        let source = runtime.block_on(InProcessNode::holding(
            Config::ephemeral(DIFFICULTY),
            &blocks,
        ));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dir = tempfile::tempdir().expect("temp dir");
                        let config = Config {
                            in_memory: !on_disk,
                            data_dir: Some(dir.path().to_owned()),
                            ..Config::ephemeral(DIFFICULTY)
                        };
                        let fresh = InProcessNode::start(config).await;
                        let started = Instant::now();
                        fresh
                            .network
                            .register_with(&source.url)
                            .await
                            .expect("syncs");
                        total += started.elapsed();
                        assert_eq!(
                            fresh.node.with_chain(|c| c.tree().tip().height()),
                            length as u64
                        );
                        fresh.stop();
                    }
                    total
                })
            })
        });
        source.stop();
    }
    group.finish();
}

fn convergence(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let blocks = chain(&params, 20, Posts::ONE_UNSIGNED);
    let mut group = c.benchmark_group("network");
    group.sample_size(10);
    for size in [3usize, 10] {
        group.bench_function(format!("converge_after_join_{size}_nodes"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut nodes = Vec::new();
                        for _ in 0..size {
                            nodes.push(spawn().await);
                        }
                        // The first node has a 20-block chain; the others join it at once.
                        let submitted = nodes[0].node.submit_blocks(blocks.clone(), None).await;
                        assert!(submitted.error.is_none());
                        let started = Instant::now();
                        let joins: Vec<_> = nodes[1..]
                            .iter()
                            .map(|n| {
                                let network = n.network.clone();
                                let url = nodes[0].url.clone();
                                tokio::spawn(async move { network.register_with(&url).await })
                            })
                            .collect();
                        for join in joins {
                            join.await.expect("task").expect("joins");
                        }
                        wait_converged(&nodes.iter().collect::<Vec<_>>()).await;
                        total += started.elapsed();
                        for node in nodes {
                            node.stop();
                        }
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

/// One `GET /chain?from=H&limit=100` page from a 100-block and a 100,000-block chain:
/// answering must cost the same, whatever the chain's length.
fn chain_page(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let http = reqwest::Client::new();
    let mut group = c.benchmark_group("api");
    for length in [100usize, 100_000] {
        let blocks = chain(&params, length, Posts::ONE_UNSIGNED);
        let node = runtime.block_on(InProcessNode::holding(
            Config::ephemeral(DIFFICULTY),
            &blocks,
        ));
        // The last 100 blocks: the page a reader polling the tip asks for.
        let url = format!("{}/chain?from={}&limit=100", node.url, length - 99);
        group.bench_function(format!("chain_page_of_100_at_length_{length}"), |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let page = http.get(&url).send().await.expect("answers");
                    assert!(page.status().is_success());
                    page.bytes().await.expect("body")
                })
            })
        });
        node.stop();
    }
    group.finish();
}

criterion_group!(benches, sync, convergence, chain_page);
criterion_main!(benches);
