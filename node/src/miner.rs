//! Proof of work on every core, off the async runtime, stoppable at any moment.
//!
//! The nonce space is handed out in chunks from a shared counter, so threads stay busy
//! whatever their speed, and each thread checks between chunks (a few milliseconds) whether
//! another found a nonce or the caller wants it to stop: a better tip arrived, the request
//! went away, or the node is shutting down.
//!
//! **Boundary:** `mine` blocks its calling thread until done; async callers run it inside
//! `tokio::task::spawn_blocking`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::chain::block::{Block, BlockHeader};
use crate::chain::pow::Midstate;
use crate::chain::state::BlockTemplate;

/// Nonces a thread tries between two looks at the stop conditions.
const CHUNK: u64 = 1 << 16;

/// What a mining run produced.
#[derive(Debug)]
pub struct MiningRun {
    /// The mined block, unless the run was stopped first.
    pub block: Option<Block>,
    /// How many hashes were computed.
    pub hashes: u64,
}

/// Searches nonces for `template` on `threads` threads until one meets the difficulty or
/// `should_stop` returns true.
pub fn mine(
    template: BlockTemplate,
    threads: usize,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> MiningRun {
    let midstate = Midstate::new(&template.header);
    let next_chunk = AtomicU64::new(0);
    let hashes = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let found = Mutex::new(None::<u64>);

    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) && !should_stop() {
                    let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                    let Some(start) = chunk.checked_mul(CHUNK) else {
                        break; // the whole 64-bit nonce space is spent
                    };
                    let result = midstate.search(start..start.saturating_add(CHUNK));
                    match result {
                        Some(nonce) => {
                            hashes.fetch_add(nonce - start + 1, Ordering::Relaxed);
                            let mut found = found.lock().unwrap_or_else(PoisonError::into_inner);
                            found.get_or_insert(nonce);
                            done.store(true, Ordering::Relaxed);
                        }
                        None => {
                            hashes.fetch_add(CHUNK, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });

    let nonce = found.into_inner().unwrap_or_else(PoisonError::into_inner);
    MiningRun {
        block: nonce.map(|nonce| {
            let header = BlockHeader {
                nonce,
                ..template.header
            };
            Block::new(header, template.transactions)
        }),
        hashes: hashes.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::hash::{BlockHash, Hash256};
    use crate::chain::pow::meets_difficulty;

    fn template(difficulty: u32) -> BlockTemplate {
        BlockTemplate {
            header: BlockHeader {
                index: 1,
                previous_hash: BlockHash(Hash256([1; 32])),
                merkle_root: Hash256([2; 32]),
                timestamp: 3,
                difficulty,
                nonce: 0,
            },
            transactions: Vec::new(),
        }
    }

    #[test]
    fn every_thread_count_finds_a_valid_block() {
        for threads in [1, 2, 4] {
            let run = mine(template(14), threads, &|| false);
            let block = run.block.expect("found");
            assert!(meets_difficulty(&block.hash(), 14));
            assert!(run.hashes > 0);
        }
    }

    #[test]
    fn stopping_ends_an_impossible_search() {
        let calls = AtomicU64::new(0);
        let run = mine(template(64), 2, &|| {
            calls.fetch_add(1, Ordering::Relaxed) > 10
        });
        assert!(run.block.is_none());
        assert!(run.hashes >= CHUNK);
    }
}
