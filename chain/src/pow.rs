//! Proof of work: difficulty as leading zero bits, work per block, and the nonce search.
//!
//! The search hashes with a precomputed midstate: the header's first 64 bytes are
//! compressed once per template, and each nonce costs one SHA-256 compression of the
//! 28-byte tail plus its fixed padding. This module searches a given range on the calling
//! thread; spreading ranges over cores and stopping early is the shell's job
//! (the node's miner).

use std::ops::Range;

use sha2::block_api::compress256;

use crate::block::{BlockHeader, HEADER_LEN, NONCE_OFFSET};
use crate::hash::BlockHash;

/// The largest difficulty a network may be configured with. 2^64 hashes per block is far
/// beyond any CPU, and the bound keeps cumulative work comfortably inside a `u128`.
pub const MAX_DIFFICULTY: u32 = 64;

/// SHA-256's initial state (FIPS 180-4, 5.3.3).
const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The work a block of `difficulty` proves: the expected number of hashes, 2^difficulty.
pub fn work(difficulty: u32) -> u128 {
    1u128 << difficulty.min(127)
}

fn leading_zero_bits(hash: &BlockHash) -> u32 {
    let mut bits = 0;
    for byte in hash.as_bytes() {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    bits
}

/// Whether `hash` has at least `difficulty` leading zero bits.
pub fn meets_difficulty(hash: &BlockHash, difficulty: u32) -> bool {
    leading_zero_bits(hash) >= difficulty
}

/// A header with its first 64 bytes already compressed, ready to try nonces.
#[derive(Debug, Clone)]
pub struct Midstate {
    state: [u32; 8],
    tail: [u8; 64],
    difficulty: u32,
}

/// Where the nonce sits inside the padded second SHA-256 block.
const TAIL_NONCE_OFFSET: usize = NONCE_OFFSET - 64;

impl Midstate {
    /// Compresses the constant part of `header`; its nonce is ignored.
    pub fn new(header: &BlockHeader) -> Self {
        let encoded = header.encode();
        let mut first = [0u8; 64];
        first.copy_from_slice(&encoded[..64]);
        let mut state = SHA256_IV;
        compress256(&mut state, &[first]);

        let mut tail = [0u8; 64];
        tail[..HEADER_LEN - 64].copy_from_slice(&encoded[64..]);
        tail[HEADER_LEN - 64] = 0x80;
        let bit_len = (HEADER_LEN as u64) * 8;
        tail[56..].copy_from_slice(&bit_len.to_be_bytes());
        Midstate {
            state,
            tail,
            difficulty: header.difficulty,
        }
    }

    /// The block hash the header would have with `nonce`.
    #[cfg(test)]
    fn hash_with_nonce(&self, nonce: u64) -> BlockHash {
        let state = self.compress(&mut self.tail.clone(), nonce);
        let mut bytes = [0u8; 32];
        for (chunk, word) in bytes.chunks_exact_mut(4).zip(state) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        BlockHash(crate::hash::Hash256(bytes))
    }

    /// The first nonce in `nonces` whose hash meets the header's difficulty.
    pub fn search(&self, nonces: Range<u64>) -> Option<u64> {
        let mut tail = self.tail;
        let difficulty = self.difficulty;
        nonces
            .into_iter()
            .find(|&nonce| leading_zero_words(&self.compress(&mut tail, nonce)) >= difficulty)
    }

    fn compress(&self, tail: &mut [u8; 64], nonce: u64) -> [u32; 8] {
        tail[TAIL_NONCE_OFFSET..TAIL_NONCE_OFFSET + 8].copy_from_slice(&nonce.to_be_bytes());
        let mut state = self.state;
        compress256(&mut state, std::slice::from_ref(tail));
        state
    }
}

/// Leading zero bits of a digest still held as SHA-256 state words (big-endian words, so
/// the first word holds the first four bytes).
fn leading_zero_words(state: &[u32; 8]) -> u32 {
    let mut bits = 0;
    for word in state {
        bits += word.leading_zeros();
        if *word != 0 {
            break;
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash256;
    use proptest::prelude::*;

    fn header(nonce: u64, difficulty: u32) -> BlockHeader {
        BlockHeader {
            index: 9,
            previous_hash: BlockHash(Hash256([0xab; 32])),
            merkle_root: Hash256([0xcd; 32]),
            timestamp: 1_767_225_601,
            difficulty,
            nonce,
        }
    }

    proptest! {
        #[test]
        fn midstate_hash_equals_the_plain_header_hash(nonce: u64, index: u64, timestamp: u64) {
            let h = BlockHeader { index, timestamp, ..header(nonce, 4) };
            prop_assert_eq!(Midstate::new(&h).hash_with_nonce(nonce), h.hash());
        }
    }

    #[test]
    fn search_finds_a_nonce_that_meets_the_difficulty() {
        let template = header(0, 12);
        let nonce = Midstate::new(&template)
            .search(0..1 << 24)
            .expect("2^24 tries find 12 zero bits");
        let mined = BlockHeader { nonce, ..template };
        assert!(meets_difficulty(&mined.hash(), 12));
        // And it is the first one: no smaller nonce qualifies.
        for smaller in 0..nonce {
            assert!(!meets_difficulty(&header(smaller, 12).hash(), 12));
        }
    }

    #[test]
    fn search_gives_up_at_the_end_of_its_range() {
        assert_eq!(Midstate::new(&header(0, 64)).search(0..1000), None);
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        let mut bytes = [0xffu8; 32];
        assert_eq!(leading_zero_bits(&BlockHash(Hash256(bytes))), 0);
        bytes[0] = 0;
        bytes[1] = 0x0f;
        assert_eq!(leading_zero_bits(&BlockHash(Hash256(bytes))), 12);
        assert_eq!(leading_zero_bits(&BlockHash(Hash256([0; 32]))), 256);
        assert!(meets_difficulty(&BlockHash(Hash256(bytes)), 12));
        assert!(!meets_difficulty(&BlockHash(Hash256(bytes)), 13));
    }

    #[test]
    fn work_doubles_per_bit() {
        assert_eq!(work(0), 1);
        assert_eq!(work(16), 65_536);
        assert_eq!(work(64), 1 << 64);
    }
}
