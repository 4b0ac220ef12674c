//! Chain parameters: the rules every node of one network must share.
//!
//! Two nodes built from equal parameters derive the same genesis block, so they can talk;
//! nodes with different parameters have different genesis hashes and never mix chains.
//! Parameters are a value passed to whoever needs them, never a global.

use crate::chain::block::{Block, BlockHeader};
use crate::chain::hash::BlockHash;

/// The largest difficulty a network may be configured with. 2^64 hashes per block is far
/// beyond any CPU, and the bound keeps cumulative work comfortably inside a `u128`.
pub const MAX_DIFFICULTY: u32 = 64;

/// 2026-01-01T00:00:00Z: the genesis timestamp. Fixed, so every node derives the same
/// genesis block (the tutorial stamps its genesis with the wall clock, so no two nodes ever
/// agree on it).
pub const GENESIS_TIMESTAMP: u64 = 1_767_225_600;

/// The consensus rules of one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParams {
    /// Required leading zero bits of every block hash (the tutorial's "00" is 8 bits).
    pub difficulty: u32,
    /// When set, posts without a valid Ed25519 signature are invalid.
    pub require_signatures: bool,
    /// Most characters in a post's author.
    pub max_author_chars: usize,
    /// Most characters in a post's content.
    pub max_content_chars: usize,
    /// Most transactions in one block.
    pub max_block_transactions: usize,
    /// Most bytes of canonical encoding in one block (header and transactions).
    pub max_block_bytes: usize,
    /// How far, in seconds, a block or post may be stamped ahead of the validating clock.
    pub max_future_drift_secs: u64,
    /// How many ancestors form the median a new block's timestamp must exceed.
    pub median_time_span: usize,
}

/// Why a set of chain parameters cannot form a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The difficulty is beyond [`MAX_DIFFICULTY`].
    #[error("difficulty {0} is above the maximum of {MAX_DIFFICULTY} bits")]
    DifficultyTooHigh(u32),
}

impl ChainParams {
    /// Parameters with the given difficulty and the default limits.
    pub fn new(difficulty: u32, require_signatures: bool) -> Result<Self, ParamsError> {
        if difficulty > MAX_DIFFICULTY {
            return Err(ParamsError::DifficultyTooHigh(difficulty));
        }
        Ok(ChainParams {
            difficulty,
            require_signatures,
            max_author_chars: 64,
            max_content_chars: 1_000,
            max_block_transactions: 1_000,
            max_block_bytes: 1 << 20,
            max_future_drift_secs: 2 * 60 * 60,
            median_time_span: 11,
        })
    }

    /// The network's first block. It carries no proof of work: it is the trust anchor,
    /// compiled into every node rather than received from anyone.
    pub fn genesis(&self) -> Block {
        let header = BlockHeader {
            index: 0,
            previous_hash: BlockHash::default(),
            merkle_root: crate::chain::block::merkle_root(&[]),
            timestamp: GENESIS_TIMESTAMP,
            difficulty: self.difficulty,
            // The genesis carries no proof of work, so its nonce is free to encode the
            // signature rule: networks with different rules never share a genesis.
            nonce: u64::from(self.require_signatures),
        };
        Block::new(header, Vec::new())
    }

    /// The difficulty a block on top of `parent_height` must carry. Fixed for now; the
    /// seam where retargeting will plug in.
    pub fn required_difficulty(&self, _parent_height: u64) -> u32 {
        self.difficulty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_is_deterministic_and_depends_on_difficulty() {
        let a = ChainParams::new(16, false).expect("valid");
        let b = ChainParams::new(16, false).expect("valid");
        let c = ChainParams::new(8, false).expect("valid");
        assert_eq!(a.genesis().hash(), b.genesis().hash());
        assert_ne!(a.genesis().hash(), c.genesis().hash());
        let strict = ChainParams::new(16, true).expect("valid");
        assert_ne!(a.genesis().hash(), strict.genesis().hash());
        assert_eq!(a.genesis().header().index, 0);
        assert!(a.genesis().transactions().is_empty());
    }

    #[test]
    fn difficulty_above_the_maximum_is_refused() {
        assert_eq!(
            ChainParams::new(MAX_DIFFICULTY + 1, false),
            Err(ParamsError::DifficultyTooHigh(MAX_DIFFICULTY + 1))
        );
        assert!(ChainParams::new(MAX_DIFFICULTY, false).is_ok());
    }
}
