//! Benchmarks of the functional core: proof-of-work hashing on one thread and on every
//! thread, and full block validation. `cargo bench -p node` runs them; criterion reports
//! throughput in hashes (or blocks) per second.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chainpost_chain::block::{BlockHeader, merkle_root};
use chainpost_chain::pow::Midstate;
use chainpost_chain::state::BlockTemplate;
use chainpost_chain::tree::CheckedBlock;
use chainpost_chain::{Block, BlockTree, ChainParams, Hash256, Transaction};
use chainpost_node::miner;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ed25519_dalek::SigningKey;

/// An unreachable difficulty, so a search always scans its whole range.
const NEVER: u32 = 64;
const NONCES: u64 = 1 << 20;

fn template() -> BlockHeader {
    BlockHeader {
        index: 1,
        previous_hash: chainpost_chain::BlockHash(Hash256([7; 32])),
        merkle_root: Hash256([9; 32]),
        timestamp: 1_767_225_601,
        difficulty: NEVER,
        nonce: 0,
    }
}

fn proof_of_work(c: &mut Criterion) {
    let mut group = c.benchmark_group("pow");
    group.throughput(Throughput::Elements(NONCES));
    let midstate = Midstate::new(&template());
    group.bench_function("sha256_compress_reference", |b| {
        let mut state = [0u32; 8];
        let block = [0x5au8; 64];
        b.iter(|| {
            for _ in 0..NONCES {
                sha2::block_api::compress256(&mut state, std::slice::from_ref(black_box(&block)));
            }
            state
        })
    });
    group.bench_function("one_thread", |b| {
        b.iter(|| midstate.search(black_box(0..NONCES)))
    });
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    group.bench_function(format!("all_threads_{threads}"), |b| {
        b.iter(|| {
            // Each call that returns false hands out exactly one chunk of 2^16 nonces.
            let chunks = AtomicU64::new(0);
            let run = miner::mine(
                BlockTemplate {
                    header: template(),
                    transactions: Vec::new(),
                },
                0,
                threads,
                None,
                &|| chunks.fetch_add(1, Ordering::Relaxed) >= NONCES >> 16,
            );
            assert_eq!(run.hashes, NONCES);
            run
        })
    });
    group.finish();
}

/// A chain of `blocks` mined blocks on genesis, each with `posts` signed posts.
fn signed_chain(params: &ChainParams, blocks: usize, posts: usize) -> Vec<Block> {
    let key = SigningKey::from_bytes(&[42; 32]);
    let mut chain = vec![params.genesis()];
    for height in 1..=blocks {
        let parent = &chain[height - 1];
        let txs: Vec<_> = (0..posts)
            .map(|i| {
                Arc::new(Transaction::signed(
                    "bench".into(),
                    format!("post {i} of block {height}"),
                    1_767_225_600.0 + height as f64,
                    &key,
                ))
            })
            .collect();
        let mut header = BlockHeader {
            index: height as u64,
            previous_hash: parent.hash(),
            merkle_root: merkle_root(&txs),
            timestamp: parent.header().timestamp + 1,
            difficulty: params.difficulty,
            nonce: 0,
        };
        header.nonce = Midstate::new(&header)
            .search(0..u64::MAX)
            .expect("low difficulty");
        chain.push(Block::new(header, txs));
    }
    chain.remove(0);
    chain
}

fn validation(c: &mut Criterion) {
    let params = ChainParams::new(8, true).expect("valid params");
    let mut group = c.benchmark_group("validation");
    for posts in [1, 10] {
        let chain = signed_chain(&params, 100, posts);
        group.throughput(Throughput::Elements(chain.len() as u64));
        group.bench_function(format!("blocks_of_{posts}_signed_posts"), |b| {
            b.iter(|| {
                let mut tree = BlockTree::new(params.clone());
                for block in &chain {
                    let checked = CheckedBlock::check(block.clone(), &block.hash(), &params)
                        .expect("valid block");
                    tree.insert(checked, u64::MAX).expect("connects");
                }
                tree
            })
        });
    }
    group.finish();
}

criterion_group!(benches, proof_of_work, validation);
criterion_main!(benches);
