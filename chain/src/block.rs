//! Blocks and their canonical header.
//!
//! A block's hash is SHA-256 over a fixed 92-byte binary header, never over JSON text, so
//! it cannot depend on how a peer formats numbers or orders keys. The layout puts every
//! field that a miner keeps constant first and the nonce last:
//!
//! | bytes  | field                 |
//! |--------|-----------------------|
//! | 0..8   | index (u64 BE)        |
//! | 8..40  | previous_hash         |
//! | 40..72 | merkle_root           |
//! | 72..80 | timestamp (u64 BE, s) |
//! | 80..84 | difficulty (u32 BE)   |
//! | 84..92 | nonce (u64 BE)        |
//!
//! The first 64 bytes form one whole SHA-256 block, so a miner compresses them once (the
//! midstate) and each nonce then costs a single compression of the last block.
//!
//! The merkle root follows RFC 6962: leaves are `H(0x00 | txid)`, inner nodes
//! `H(0x01 | left | right)`, and an odd node is promoted unpaired. Unlike Bitcoin's tree
//! (which duplicates the odd node) two different transaction lists never share a root.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::hash::{BlockHash, Hash256};
use crate::tx::Transaction;

pub const HEADER_LEN: usize = 92;
pub(crate) const NONCE_OFFSET: usize = 84;

/// The hashed part of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockHeader {
    /// Height of the block: its parent's index plus one (genesis is 0).
    pub index: u64,
    pub previous_hash: BlockHash,
    /// RFC 6962 merkle root of the transaction ids.
    pub merkle_root: Hash256,
    /// When the block was mined, in whole seconds since the Unix epoch.
    pub timestamp: u64,
    /// Leading zero bits the block's hash must have.
    pub difficulty: u32,
    pub nonce: u64,
}

impl BlockHeader {
    /// The canonical bytes that are hashed.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&self.index.to_be_bytes());
        out[8..40].copy_from_slice(self.previous_hash.as_bytes());
        out[40..72].copy_from_slice(self.merkle_root.as_bytes());
        out[72..80].copy_from_slice(&self.timestamp.to_be_bytes());
        out[80..84].copy_from_slice(&self.difficulty.to_be_bytes());
        out[NONCE_OFFSET..HEADER_LEN].copy_from_slice(&self.nonce.to_be_bytes());
        out
    }

    /// SHA-256 of the canonical header.
    pub fn hash(&self) -> BlockHash {
        BlockHash(Hash256(Sha256::digest(self.encode()).into()))
    }
}

/// A header with its transactions. Sealed: the hash is computed once, at construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    header: BlockHeader,
    hash: BlockHash,
    transactions: Vec<Arc<Transaction>>,
}

impl Block {
    /// Seals a block, computing its hash. Validates nothing.
    pub fn new(header: BlockHeader, transactions: Vec<Arc<Transaction>>) -> Self {
        Block {
            hash: header.hash(),
            header,
            transactions,
        }
    }

    pub fn header(&self) -> &BlockHeader {
        &self.header
    }

    /// SHA-256 of the canonical header.
    pub fn hash(&self) -> BlockHash {
        self.hash
    }

    pub fn transactions(&self) -> &[Arc<Transaction>] {
        &self.transactions
    }

    /// Canonical size: the header and every transaction's canonical encoding.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + self
                .transactions
                .iter()
                .map(|tx| tx.encoded_len())
                .sum::<usize>()
    }
}

/// The RFC 6962 merkle root of the transactions' ids; SHA-256 of nothing when empty.
pub fn merkle_root(transactions: &[Arc<Transaction>]) -> Hash256 {
    if transactions.is_empty() {
        return Hash256::digest(&[]);
    }
    let mut level: Vec<Hash256> = transactions
        .iter()
        .map(|tx| {
            let mut leaf = [0u8; 33];
            leaf[1..].copy_from_slice(tx.id().as_bytes());
            Hash256::digest(&leaf)
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => {
                    let mut node = [0u8; 65];
                    node[0] = 1;
                    node[1..33].copy_from_slice(left.as_bytes());
                    node[33..].copy_from_slice(right.as_bytes());
                    Hash256::digest(&node)
                }
                [single] => *single,
                _ => unreachable!("chunks(2) yields one or two items"),
            })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(n: u32) -> Arc<Transaction> {
        Arc::new(Transaction::new("a".into(), n.to_string(), 1.0, None))
    }

    fn header() -> BlockHeader {
        BlockHeader {
            index: 1,
            previous_hash: BlockHash(Hash256([3; 32])),
            merkle_root: Hash256([4; 32]),
            timestamp: 5,
            difficulty: 6,
            nonce: 7,
        }
    }

    #[test]
    fn the_nonce_is_the_last_field_and_the_first_64_bytes_hold_no_nonce() {
        let a = header().encode();
        let b = BlockHeader {
            nonce: u64::MAX,
            ..header()
        }
        .encode();
        assert_eq!(a[..64], b[..64]);
        assert_eq!(a[..NONCE_OFFSET], b[..NONCE_OFFSET]);
        assert_eq!(&b[NONCE_OFFSET..], &u64::MAX.to_be_bytes());
    }

    #[test]
    fn every_header_field_changes_the_hash() {
        let base = header();
        let variants = [
            BlockHeader { index: 2, ..base },
            BlockHeader {
                previous_hash: BlockHash::default(),
                ..base
            },
            BlockHeader {
                merkle_root: Hash256::ZERO,
                ..base
            },
            BlockHeader {
                timestamp: 6,
                ..base
            },
            BlockHeader {
                difficulty: 7,
                ..base
            },
            BlockHeader { nonce: 8, ..base },
        ];
        for variant in variants {
            assert_ne!(variant.hash(), base.hash(), "{variant:?}");
        }
    }

    #[test]
    fn merkle_root_depends_on_membership_and_order() {
        let (a, b, c) = (tx(1), tx(2), tx(3));
        let abc = merkle_root(&[a.clone(), b.clone(), c.clone()]);
        assert_ne!(abc, merkle_root(&[b.clone(), a.clone(), c.clone()]));
        assert_ne!(abc, merkle_root(&[a.clone(), b.clone()]));
        // Bitcoin's tree gives [a, b, c] and [a, b, c, c] the same root; ours does not.
        assert_ne!(
            abc,
            merkle_root(&[a.clone(), b.clone(), c.clone(), c.clone()])
        );
        assert_ne!(merkle_root(std::slice::from_ref(&a)), merkle_root(&[]));
    }

    #[test]
    fn block_size_counts_header_and_transactions() {
        let txs = vec![tx(1), tx(22)];
        let expected = HEADER_LEN + txs[0].encoded_len() + txs[1].encoded_len();
        assert_eq!(Block::new(header(), txs).encoded_len(), expected);
    }
}
