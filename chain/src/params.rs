//! Chain parameters: the rules every node of one network must share.
//!
//! Two nodes built from equal parameters derive the same genesis block, so they can talk;
//! nodes with different parameters have different genesis hashes and never mix chains.
//! Parameters are a value passed to whoever needs them, never a global.

use crate::block::{Block, BlockHeader};
use crate::hash::BlockHash;
use crate::pow::MAX_DIFFICULTY;
use crate::retarget::{self, Retarget};

/// 2026-01-01T00:00:00Z: the genesis timestamp. Fixed, so every node derives the same
/// genesis block (the tutorial stamps its genesis with the wall clock, so no two nodes ever
/// agree on it).
pub const GENESIS_TIMESTAMP: u64 = 1_767_225_600;

/// Most characters in a post's author under [`ChainParams::new`]'s limits.
pub const MAX_AUTHOR_CHARS: usize = 64;

/// Most characters in a post's content under [`ChainParams::new`]'s limits.
pub const MAX_CONTENT_CHARS: usize = 1_000;

/// The consensus rules of one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainParams {
    /// Required leading zero bits of every block hash (the tutorial's "00" is 8 bits); with
    /// retargeting, the difficulty the chain starts at and never goes below.
    pub difficulty: u32,
    /// How the difficulty follows the hash rate; `None` keeps it fixed.
    pub retarget: Option<Retarget>,
    /// When set, posts without a valid Ed25519 signature are invalid.
    pub require_signatures: bool,
    /// Most characters in a post's author.
    pub(crate) max_author_chars: usize,
    /// Most characters in a post's content.
    pub(crate) max_content_chars: usize,
    pub(crate) max_block_transactions: usize,
    /// Most bytes of canonical encoding in one block (header and transactions).
    pub max_block_bytes: usize,
    /// How far, in seconds, a block or post may be stamped ahead of the validating clock.
    pub max_future_drift_secs: u64,
    /// How many ancestors form the median a new block's timestamp must exceed.
    pub(crate) median_time_span: usize,
}

/// Why a set of chain parameters cannot form a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// The difficulty is beyond [`MAX_DIFFICULTY`].
    #[error("difficulty {0} is above the maximum of {MAX_DIFFICULTY} bits")]
    DifficultyTooHigh(u32),
    /// The retarget interval is outside what the network supports.
    #[error(
        "retarget interval {0} is outside {min}..={max} blocks",
        min = retarget::MIN_INTERVAL,
        max = retarget::MAX_INTERVAL
    )]
    RetargetInterval(u64),
    /// The target block time is outside what the network supports.
    #[error(
        "target block time {0} s is outside 1..={max} s",
        max = retarget::MAX_TARGET_SECS
    )]
    TargetBlockTime(u64),
}

impl ChainParams {
    /// Parameters with the given difficulty and the default limits.
    pub fn new(difficulty: u32, require_signatures: bool) -> Result<Self, ParamsError> {
        if difficulty > MAX_DIFFICULTY {
            return Err(ParamsError::DifficultyTooHigh(difficulty));
        }
        Ok(ChainParams {
            difficulty,
            retarget: None,
            require_signatures,
            max_author_chars: MAX_AUTHOR_CHARS,
            max_content_chars: MAX_CONTENT_CHARS,
            max_block_transactions: 1_000,
            max_block_bytes: 1 << 20,
            max_future_drift_secs: 2 * 60 * 60,
            median_time_span: 11,
        })
    }

    pub fn with_retarget(self, rule: Retarget) -> Result<Self, ParamsError> {
        if !(retarget::MIN_INTERVAL..=retarget::MAX_INTERVAL).contains(&rule.interval) {
            return Err(ParamsError::RetargetInterval(rule.interval));
        }
        if !(1..=retarget::MAX_TARGET_SECS).contains(&rule.target_block_secs) {
            return Err(ParamsError::TargetBlockTime(rule.target_block_secs));
        }
        Ok(ChainParams {
            retarget: Some(rule),
            ..self
        })
    }

    /// The network's first block. It carries no proof of work: it is the trust anchor,
    /// compiled into every node rather than received from anyone.
    pub fn genesis(&self) -> Block {
        let header = BlockHeader {
            index: 0,
            previous_hash: BlockHash::default(),
            merkle_root: crate::block::merkle_root(&[]),
            timestamp: GENESIS_TIMESTAMP,
            difficulty: self.difficulty,
            nonce: self.genesis_nonce(),
        };
        Block::new(header, Vec::new())
    }

    /// The genesis carries no proof of work, so its nonce is free to encode the rules its
    /// header does not: networks with different rules never share a genesis. Bit 0 is the
    /// signature rule, bits 1-16 the retarget interval and bits 17-63 the target block time
    /// (both zero for a fixed difficulty, so fixed networks keep the genesis they had).
    fn genesis_nonce(&self) -> u64 {
        let (interval, target) = self
            .retarget
            .map_or((0, 0), |rule| (rule.interval, rule.target_block_secs));
        u64::from(self.require_signatures) | interval << 1 | target << 17
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

    fn rule(target_block_secs: u64, interval: u64) -> Retarget {
        Retarget {
            target_block_secs,
            interval,
        }
    }

    #[test]
    fn every_retarget_rule_has_its_own_genesis() {
        let fixed = ChainParams::new(16, false).expect("valid");
        let genesis = |rule| {
            fixed
                .clone()
                .with_retarget(rule)
                .expect("valid rule")
                .genesis()
                .hash()
        };
        let hashes = [
            fixed.genesis().hash(),
            genesis(rule(10, 20)),
            genesis(rule(10, 21)),
            genesis(rule(11, 20)),
            genesis(rule(retarget::MAX_TARGET_SECS, retarget::MAX_INTERVAL)),
            genesis(rule(1, retarget::MIN_INTERVAL)),
        ];
        let distinct: std::collections::HashSet<_> = hashes.iter().collect();
        assert_eq!(distinct.len(), hashes.len());
        // The fixed-difficulty genesis is the one every earlier node derived.
        assert_eq!(fixed.genesis().header().nonce, 0);
    }

    #[test]
    fn retarget_rules_outside_the_bounds_are_refused() {
        let fixed = ChainParams::new(16, false).expect("valid");
        assert_eq!(
            fixed.clone().with_retarget(rule(10, 1)),
            Err(ParamsError::RetargetInterval(1))
        );
        assert_eq!(
            fixed
                .clone()
                .with_retarget(rule(10, retarget::MAX_INTERVAL + 1)),
            Err(ParamsError::RetargetInterval(retarget::MAX_INTERVAL + 1))
        );
        assert_eq!(
            fixed.clone().with_retarget(rule(0, 20)),
            Err(ParamsError::TargetBlockTime(0))
        );
        assert_eq!(
            fixed.with_retarget(rule(retarget::MAX_TARGET_SECS + 1, 20)),
            Err(ParamsError::TargetBlockTime(retarget::MAX_TARGET_SECS + 1))
        );
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
