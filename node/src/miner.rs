//! Proof of work on every core, off the async runtime, stoppable at any moment.
//!
//! The nonce space is handed out in chunks from a shared counter, so threads stay busy
//! whatever their speed, and each thread checks between chunks (a few milliseconds) whether
//! another found a nonce or the caller wants it to stop: a better tip arrived, the request
//! went away, or the node is shutting down.
//!
//! A search can be held to a hash rate. Research mode gives each node of a simulated
//! network a share of a small total rate, so the CPU is never the bottleneck and the block
//! interval is what the experiment chose; the hashing stays real.
//!
//! Simulated mining (`--simulated-mining-seed`, research mode) draws when the next block is
//! found from a seeded exponential distribution with the mean a search at the hash rate
//! would take, waits that long, then finds a nonce flat out: blocks are still real and
//! valid, but the discovery times are reproducible from the seed and cost no CPU.
//!
//! **Boundary:** `mine` blocks its calling thread until done; async callers run it inside
//! `tokio::task::spawn_blocking`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use chainpost_chain::block::{Block, BlockHeader};
use chainpost_chain::pow::Midstate;
use chainpost_chain::state::BlockTemplate;

/// Nonces a thread tries between two looks at the stop conditions.
const CHUNK: u64 = 1 << 16;

/// How a node mines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MiningOptions {
    pub(crate) threads: usize,
    /// Most hashes per second, all threads together; `None` searches flat out.
    pub(crate) hash_rate: Option<u64>,
    /// Mine blocks without posts when none are pending (research mode mines nonstop).
    pub(crate) empty_blocks: bool,
    /// Draw discovery times from this seed instead of hashing at `hash_rate`.
    pub(crate) simulated_seed: Option<u64>,
}

/// When simulated mining finds its next block: a seeded sequence of exponential waits.
/// Pure: the caller does the waiting.
#[derive(Debug)]
pub(crate) struct SimulatedDiscovery {
    rng: StdRng,
}

impl SimulatedDiscovery {
    pub(crate) fn new(seed: u64) -> Self {
        SimulatedDiscovery {
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// How long a search at `hash_rate` would take to find a block of `difficulty`, drawn
    /// from the exponential distribution with its mean, 2^difficulty / hash_rate seconds
    /// (a hash meets the difficulty with probability 2^-difficulty). Memoryless, so a wait
    /// cut short by a new tip is simply drawn again.
    pub(crate) fn next_wait(&mut self, difficulty: u32, hash_rate: u64) -> Duration {
        let mean = 2f64.powi(difficulty as i32) / hash_rate.max(1) as f64;
        // 1 - U lies in (0, 1], so its logarithm is finite.
        let uniform: f64 = self.rng.random();
        Duration::from_secs_f64(-(1.0 - uniform).ln() * mean)
    }
}

/// Sleeps `wait` in steps of a millisecond; false if `should_stop` said so first.
fn wait_unless_stopped(wait: Duration, should_stop: &(dyn Fn() -> bool + Sync)) -> bool {
    let until = Instant::now() + wait;
    loop {
        if should_stop() {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(1)));
    }
}

/// Holds one thread to its share of a hash rate, in chunks of about a millisecond, so a
/// stop is still noticed within a millisecond or so.
#[derive(Debug, Clone, Copy)]
struct Pace {
    hashes_per_sec: f64,
    chunk: u64,
}

impl Pace {
    fn new(hash_rate: u64, threads: usize) -> Self {
        let hashes_per_sec = (hash_rate as f64 / threads as f64).max(1.0);
        Pace {
            hashes_per_sec,
            chunk: ((hashes_per_sec / 1000.0) as u64).clamp(1, CHUNK),
        }
    }

    /// Sleeps until `hashes` are within this thread's budget since `started`.
    fn wait(&self, started: Instant, hashes: u64) {
        let due = Duration::from_secs_f64(hashes as f64 / self.hashes_per_sec);
        if let Some(ahead) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(ahead);
        }
    }
}

/// What a mining run produced.
#[derive(Debug)]
pub struct MiningRun {
    /// The mined block, unless the run was stopped first.
    pub(crate) block: Option<Block>,
    pub hashes: u64,
}

/// Simulated mining: waits `wait` (a draw of [`SimulatedDiscovery`]), then finds a nonce
/// flat out; no block if `should_stop` says so first.
pub(crate) fn mine_after(
    wait: Duration,
    template: BlockTemplate,
    first_nonce: u64,
    threads: usize,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> MiningRun {
    if !wait_unless_stopped(wait, should_stop) {
        return MiningRun {
            block: None,
            hashes: 0,
        };
    }
    mine(template, first_nonce, threads, None, should_stop)
}

/// Searches nonces for `template` from `first_nonce` on `threads` threads, at most
/// `hash_rate` hashes per second if given, until one meets the difficulty or `should_stop`
/// returns true.
///
/// Callers start at a random nonce: two miners with the same template (empty blocks on one
/// parent within one second carry no miner identity) would otherwise find the very same
/// block, and a race between them would be no fork at all.
pub fn mine(
    template: BlockTemplate,
    first_nonce: u64,
    threads: usize,
    hash_rate: Option<u64>,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> MiningRun {
    let threads = threads.max(1);
    let pace = hash_rate.map(|rate| Pace::new(rate, threads));
    let chunk_len = pace.map_or(CHUNK, |pace| pace.chunk);
    let midstate = Midstate::new(&template.header);
    let next_chunk = AtomicU64::new(0);
    let hashes = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let found = Mutex::new(None::<u64>);

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let started = Instant::now();
                let mut own_hashes = 0;
                while !done.load(Ordering::Relaxed) && !should_stop() {
                    let chunk = next_chunk.fetch_add(1, Ordering::Relaxed);
                    let Some(offset) = chunk.checked_mul(chunk_len) else {
                        break; // the whole 64-bit nonce space is spent
                    };
                    let start = first_nonce.wrapping_add(offset);
                    let result = midstate.search(start..start.saturating_add(chunk_len));
                    let tried = result.map_or(chunk_len, |nonce| nonce - start + 1);
                    hashes.fetch_add(tried, Ordering::Relaxed);
                    if let Some(nonce) = result {
                        let mut found = found.lock().unwrap_or_else(PoisonError::into_inner);
                        found.get_or_insert(nonce);
                        done.store(true, Ordering::Relaxed);
                    } else if let Some(pace) = pace {
                        own_hashes += tried;
                        pace.wait(started, own_hashes);
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
    use chainpost_chain::hash::{BlockHash, Hash256};
    use chainpost_chain::pow::meets_difficulty;

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
            let run = mine(template(14), 0, threads, None, &|| false);
            let block = run.block.expect("found");
            assert!(meets_difficulty(&block.hash(), 14));
            assert!(run.hashes > 0);
        }
    }

    #[test]
    fn stopping_ends_an_impossible_search() {
        let calls = AtomicU64::new(0);
        let run = mine(template(64), 0, 2, None, &|| {
            calls.fetch_add(1, Ordering::Relaxed) > 10
        });
        assert!(run.block.is_none());
        assert!(run.hashes >= CHUNK);
    }

    #[test]
    fn a_capped_search_keeps_to_its_hash_rate() {
        let started = Instant::now();
        let run = mine(template(64), 0, 2, Some(200_000), &|| {
            started.elapsed() >= Duration::from_millis(300)
        });
        let rate = run.hashes as f64 / started.elapsed().as_secs_f64();
        // Unthrottled, one core does millions. The cap allows one chunk of overshoot per
        // thread; the floor is loose because a busy machine may starve the threads.
        assert!(
            (20_000.0..=260_000.0).contains(&rate),
            "{rate:.0} hashes/s against a cap of 200,000"
        );
    }

    #[test]
    fn a_capped_search_still_finds_blocks() {
        let run = mine(template(8), 0, 1, Some(100_000), &|| false);
        assert!(meets_difficulty(&run.block.expect("found").hash(), 8));
    }

    #[test]
    fn searches_from_different_nonces_find_different_blocks() {
        let from = |first_nonce| {
            mine(template(10), first_nonce, 1, None, &|| false)
                .block
                .expect("found")
        };
        let (a, b) = (from(0), from(1 << 40));
        assert!(meets_difficulty(&a.hash(), 10) && meets_difficulty(&b.hash(), 10));
        assert!(b.header().nonce >= 1 << 40);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn simulated_discovery_is_the_seed_s_and_has_the_search_s_mean() {
        let draws = |seed| {
            let mut discovery = SimulatedDiscovery::new(seed);
            (0..20_000)
                .map(|_| discovery.next_wait(8, 1_000).as_secs_f64())
                .collect::<Vec<_>>()
        };
        let first = draws(7);
        assert_eq!(first, draws(7), "the same seed, the same waits");
        assert_ne!(first, draws(8));
        // Exponential with mean 256 / 1000 s: its standard deviation is the mean too.
        let expected = 256.0 / 1_000.0;
        let mean = first.iter().sum::<f64>() / first.len() as f64;
        let standard_error = expected / (first.len() as f64).sqrt();
        assert!(
            (mean - expected).abs() < 4.0 * standard_error,
            "mean {mean} against {expected}"
        );
        assert!(first.iter().all(|wait| wait.is_finite() && *wait >= 0.0));
    }

    #[test]
    fn a_simulated_search_waits_then_finds_a_valid_block_or_stops() {
        let run = mine_after(Duration::from_millis(5), template(8), 0, 2, &|| false);
        let block = run.block.expect("a block");
        assert!(chainpost_chain::pow::meets_difficulty(&block.hash(), 8));
        let run = mine_after(Duration::from_secs(3600), template(8), 0, 2, &|| true);
        assert!(run.block.is_none(), "a stop ends the wait");
    }
}
