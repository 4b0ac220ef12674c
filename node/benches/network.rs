//! Network benchmarks with real nodes on loopback: how fast a new node syncs a long chain,
//! and how long a group of nodes takes to converge after joining.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use chainpost_node::chain::block::{BlockHeader, merkle_root};
use chainpost_node::chain::pow::Midstate;
use chainpost_node::chain::{Block, ChainParams, Transaction};
use chainpost_node::config::Config;
use chainpost_node::node::Node;
use chainpost_node::p2p::Network;
use chainpost_node::startup::Application;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio::runtime::Runtime;
use tokio::sync::oneshot;

const DIFFICULTY: u32 = 4;

struct Running {
    node: Arc<Node>,
    network: Arc<Network>,
    url: String,
    stop: oneshot::Sender<()>,
}

async fn spawn() -> Running {
    let app = Application::build(Config::ephemeral(DIFFICULTY))
        .await
        .expect("node builds");
    let (stop, stopped) = oneshot::channel();
    let running = Running {
        node: app.node(),
        network: app.network(),
        url: format!("http://{}", app.address()),
        stop,
    };
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    running
}

/// A chain of `length` blocks with one post each, stamped one second apart from genesis.
fn chain(params: &ChainParams, length: usize) -> Vec<(Block, chainpost_node::chain::BlockHash)> {
    let mut parent = params.genesis();
    let mut blocks = Vec::with_capacity(length);
    for height in 1..=length as u64 {
        let post = Arc::new(Transaction::new(
            "bench".into(),
            format!("post {height}"),
            (parent.header().timestamp + 1) as f64,
            None,
        ));
        let txs = vec![post];
        let mut header = BlockHeader {
            index: height,
            previous_hash: parent.hash(),
            merkle_root: merkle_root(&txs),
            timestamp: parent.header().timestamp + 1,
            difficulty: DIFFICULTY,
            nonce: 0,
        };
        header.nonce = Midstate::new(&header).search(0..u64::MAX).expect("easy");
        let block = Block::new(header, txs);
        parent = block.clone();
        let hash = block.hash();
        blocks.push((block, hash));
    }
    blocks
}

async fn tips_agree(nodes: &[&Running]) -> bool {
    let tips: Vec<_> = nodes
        .iter()
        .map(|n| n.node.with_chain(|c| c.tree().tip().hash()))
        .collect();
    tips.windows(2).all(|pair| pair[0] == pair[1])
}

async fn wait_converged(nodes: &[&Running]) {
    while !tips_agree(nodes).await {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn sync(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let length = 10_000;
    let source = runtime.block_on(async {
        let source = spawn().await;
        for page in chain(&params, length).chunks(1_000) {
            let submitted = source.node.submit_blocks(page.to_vec(), None).await;
            assert!(submitted.error.is_none());
        }
        source
    });
    let mut group = c.benchmark_group("network");
    group.sample_size(10);
    group.throughput(Throughput::Elements(length as u64));
    group.bench_function("sync_10000_blocks", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let fresh = spawn().await;
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
                    let _ = fresh.stop.send(());
                }
                total
            })
        })
    });
    group.finish();
}

fn convergence(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let params = ChainParams::new(DIFFICULTY, false).expect("params");
    let blocks = chain(&params, 20);
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
                            let _ = node.stop.send(());
                        }
                    }
                    total
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sync, convergence);
criterion_main!(benches);
