//! Builders of posts and blocks on demand, for the tests and benchmarks of this crate and
//! the crates above it. Always compiled: behind a feature that only tests turn on, it
//! gave `cargo test` and `cargo build` two different builds of every crate above this one.

use std::sync::Arc;

use crate::block::{Block, BlockHeader, merkle_root};
use crate::hash::Hash256;
use crate::params::ChainParams;
use crate::pow::Midstate;
use crate::tx::Transaction;

/// An unsigned post, as tutorial clients send them.
pub fn unsigned(author: &str, content: &str, timestamp: f64) -> Transaction {
    Transaction::new(author.into(), content.into(), timestamp, None)
}

/// [`unsigned`], shared as blocks and the mempool hold posts.
pub fn unsigned_arc(author: &str, content: &str, timestamp: f64) -> Arc<Transaction> {
    Arc::new(unsigned(author, content, timestamp))
}

/// A child of `parent` with the right root but nonce 0 (valid only at difficulty 0).
pub fn unmined_child(parent: &Block, txs: Vec<Arc<Transaction>>, p: &ChainParams) -> Block {
    let root = merkle_root(&txs);
    Block::new(child_header(parent, root, p), txs)
}

/// A child of `parent` whose proof of work meets the network's difficulty.
pub fn mine_child(parent: &Block, txs: Vec<Arc<Transaction>>, p: &ChainParams) -> Block {
    let root = merkle_root(&txs);
    mine_with_root(parent, txs, root, p)
}

/// A mined child of `parent` whose header carries `root`, whatever its transactions.
pub fn mine_with_root(
    parent: &Block,
    txs: Vec<Arc<Transaction>>,
    root: Hash256,
    p: &ChainParams,
) -> Block {
    let mut header = child_header(parent, root, p);
    header.nonce = Midstate::new(&header)
        .search(0..u64::MAX)
        .expect("low test difficulty");
    Block::new(header, txs)
}

fn child_header(parent: &Block, merkle_root: Hash256, p: &ChainParams) -> BlockHeader {
    BlockHeader {
        index: parent.header().index + 1,
        previous_hash: parent.hash(),
        merkle_root,
        timestamp: parent.header().timestamp + 1,
        difficulty: p.difficulty,
        nonce: 0,
    }
}
