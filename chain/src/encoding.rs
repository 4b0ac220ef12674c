//! The compact binary form of blocks and posts, for storage: the canonical encodings that
//! are hashed, read back.
//!
//! A post is its canonical encoding ([`Transaction::canonical_bytes`]); a block is its
//! 92-byte canonical header, a `u32` count of posts, and each post as a `u32` length and
//! its canonical encoding (integers big-endian, as in the canonical encodings). Decoding
//! rebuilds the sealed types, so every id and hash is computed afresh from the bytes; a
//! caller compares them with what it looked the value up by. Decoding trusts nothing:
//! every length is checked against the bytes that remain before anything is allocated,
//! and trailing bytes are refused.

use std::sync::Arc;

use crate::block::{Block, BlockHeader, HEADER_LEN};
use crate::handle::{Handle, HandleError};
use crate::hash::{Hash256, TxId};
use crate::tree::IndexedBlock;
use crate::tx::{PROFILE_TAG, PostKind, PostSignature, REPLY_TAG, TX_DOMAIN, Transaction};

/// Why bytes are not a stored block or post.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{what} ends after {at} bytes")]
    Truncated { what: &'static str, at: usize },
    #[error("a post does not start with the post encoding's domain")]
    NotAPost,
    #[error("a post's {0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("a post's signature flag is {0}, not 0 or 1")]
    SignatureFlag(u8),
    #[error(
        "a post's field after its signature has tag {0}; only 1 (the post it replies to) and 2 (the handle a profile claims) exist"
    )]
    UnknownField(u8),
    #[error("a profile's handle is not one: {0}")]
    BadHandle(HandleError),
    #[error("{0} bytes follow the end of a {1}")]
    Trailing(usize, &'static str),
    #[error("a block of {count} posts has none at position {position}")]
    NoSuchPost { position: usize, count: usize },
}

/// A block in its stored form.
pub fn encode_block(block: &Block) -> Vec<u8> {
    let mut out = Vec::with_capacity(block.encoded_len() + 4 + 4 * block.transactions().len());
    out.extend_from_slice(&block.header().encode());
    out.extend_from_slice(&len_u32(block.transactions().len()).to_be_bytes());
    for tx in block.transactions() {
        let bytes = tx.canonical_bytes();
        out.extend_from_slice(&len_u32(bytes.len()).to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    out
}

/// Reads a block written by [`encode_block`].
pub fn decode_block(bytes: &[u8]) -> Result<Block, DecodeError> {
    let mut reader = Reader::new(bytes, "a block");
    let header = decode_header(reader.take(HEADER_LEN)?);
    let count = reader.u32()? as usize;
    // Each post takes at least its length prefix: a count the bytes cannot hold is refused
    // before anything is allocated for it.
    if count > reader.remaining() / 4 {
        return Err(reader.truncated());
    }
    let mut transactions = Vec::with_capacity(count);
    for _ in 0..count {
        let len = reader.u32()? as usize;
        transactions.push(Arc::new(decode_transaction(reader.take(len)?)?));
    }
    reader.finish()?;
    Ok(Block::new(header, transactions))
}

/// A block's entry in the stored block index: its 92-byte canonical header, then its
/// encoded size and post count as `u32`s.
pub fn encode_indexed(indexed: &IndexedBlock) -> Vec<u8> {
    let mut out = Vec::with_capacity(INDEXED_LEN);
    out.extend_from_slice(&indexed.header.encode());
    out.extend_from_slice(&len_u32(indexed.encoded_len).to_be_bytes());
    out.extend_from_slice(&len_u32(indexed.transaction_count).to_be_bytes());
    out
}

/// Bytes of an entry of the stored block index.
const INDEXED_LEN: usize = HEADER_LEN + 8;

/// Reads an entry written by [`encode_indexed`].
pub fn decode_indexed(bytes: &[u8]) -> Result<IndexedBlock, DecodeError> {
    let mut reader = Reader::new(bytes, "a block index entry");
    let header = decode_header(reader.take(HEADER_LEN)?);
    let encoded_len = reader.u32()? as usize;
    let transaction_count = reader.u32()? as usize;
    reader.finish()?;
    Ok(IndexedBlock {
        header,
        encoded_len,
        transaction_count,
    })
}

/// Reads the post at `position` of a block written by [`encode_block`], skipping the others
/// by their lengths (so looking one post up decodes one post). A position past the block's
/// posts is [`DecodeError::NoSuchPost`].
pub fn decode_transaction_at(block: &[u8], position: usize) -> Result<Transaction, DecodeError> {
    let mut reader = Reader::new(block, "a block");
    reader.take(HEADER_LEN)?;
    let count = reader.u32()? as usize;
    if position >= count {
        return Err(DecodeError::NoSuchPost { position, count });
    }
    for _ in 0..position {
        let len = reader.u32()? as usize;
        reader.take(len)?;
    }
    let len = reader.u32()? as usize;
    decode_transaction(reader.take(len)?)
}

/// The canonical size ([`Block::encoded_len`]) of a block written by [`encode_block`],
/// read from its framing alone: no post is decoded, no hash computed.
pub fn stored_block_encoded_len(block: &[u8]) -> Result<usize, DecodeError> {
    let mut reader = Reader::new(block, "a block");
    reader.take(HEADER_LEN)?;
    let count = reader.u32()? as usize;
    let mut posts = 0usize;
    for _ in 0..count {
        let len = reader.u32()? as usize;
        reader.take(len)?;
        posts += len;
    }
    reader.finish()?;
    Ok(HEADER_LEN + posts)
}

/// Reads a post's canonical encoding.
pub fn decode_transaction(bytes: &[u8]) -> Result<Transaction, DecodeError> {
    let mut reader = Reader::new(bytes, "a post");
    if reader.take(TX_DOMAIN.len()).ok() != Some(TX_DOMAIN) {
        return Err(DecodeError::NotAPost);
    }
    let author = reader.text("author")?;
    let content = reader.text("content")?;
    let timestamp = f64::from_bits(u64::from_be_bytes(reader.array()?));
    let signature = match reader.byte()? {
        0 => None,
        1 => Some(PostSignature {
            public_key: reader.array()?,
            signature: reader.array()?,
        }),
        flag => return Err(DecodeError::SignatureFlag(flag)),
    };
    let kind = match reader.remaining() {
        0 => PostKind::Post,
        _ => match reader.byte()? {
            REPLY_TAG => PostKind::Reply(TxId(Hash256(reader.array()?))),
            PROFILE_TAG => {
                let len = usize::from(reader.byte()?);
                let text = std::str::from_utf8(reader.take(len)?)
                    .map_err(|_| DecodeError::NotUtf8("handle"))?;
                PostKind::Profile(Handle::parse(text).map_err(DecodeError::BadHandle)?)
            }
            tag => return Err(DecodeError::UnknownField(tag)),
        },
    };
    reader.finish()?;
    Ok(Transaction::of_kind(
        author, content, timestamp, kind, signature,
    ))
}

fn decode_header(bytes: &[u8]) -> BlockHeader {
    let word = |range: std::ops::Range<usize>| -> [u8; 8] {
        let mut out = [0; 8];
        out.copy_from_slice(&bytes[range]);
        out
    };
    let hash = |range: std::ops::Range<usize>| -> Hash256 {
        let mut out = [0; 32];
        out.copy_from_slice(&bytes[range]);
        Hash256(out)
    };
    let mut difficulty = [0; 4];
    difficulty.copy_from_slice(&bytes[80..84]);
    BlockHeader {
        index: u64::from_be_bytes(word(0..8)),
        previous_hash: crate::hash::BlockHash(hash(8..40)),
        merkle_root: hash(40..72),
        timestamp: u64::from_be_bytes(word(72..80)),
        difficulty: u32::from_be_bytes(difficulty),
        nonce: u64::from_be_bytes(word(84..HEADER_LEN)),
    }
}

/// Lengths of what a valid block holds fit a `u32` by far; saturating keeps encoding total.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { bytes, at: 0, what }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn truncated(&self) -> DecodeError {
        DecodeError::Truncated {
            what: self.what,
            at: self.bytes.len(),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if len > self.remaining() {
            return Err(self.truncated());
        }
        let taken = &self.bytes[self.at..self.at + len];
        self.at += len;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn text(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8(field))
    }

    fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::Trailing(extra, self.what)),
        }
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;
    use crate::block::merkle_root;
    use crate::hash::BlockHash;

    fn arb_tx() -> impl Strategy<Value = Transaction> {
        (
            ".{0,20}",
            ".{0,60}",
            any::<f64>(),
            proptest::option::of(any::<[u8; 32]>()),
            arb_kind(),
        )
            .prop_map(|(author, content, timestamp, key, kind)| match key {
                None => Transaction::of_kind(author, content, timestamp, kind, None),
                Some(seed) => Transaction::signed_of_kind(
                    author,
                    content,
                    timestamp,
                    kind,
                    &SigningKey::from_bytes(&seed),
                ),
            })
    }

    fn arb_kind() -> impl Strategy<Value = PostKind> {
        prop_oneof![
            Just(PostKind::Post),
            any::<[u8; 32]>().prop_map(|id| PostKind::Reply(TxId(Hash256(id)))),
            "[a-z0-9_]{1,30}"
                .prop_map(|text| PostKind::Profile(Handle::parse(&text).expect("a handle"))),
        ]
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        (
            proptest::collection::vec(arb_tx(), 0..6),
            any::<(u64, [u8; 32], u64, u32, u64)>(),
        )
            .prop_map(|(txs, (index, previous, timestamp, difficulty, nonce))| {
                let transactions: Vec<_> = txs.into_iter().map(Arc::new).collect();
                let header = BlockHeader {
                    index,
                    previous_hash: BlockHash(Hash256(previous)),
                    merkle_root: merkle_root(&transactions),
                    timestamp,
                    difficulty,
                    nonce,
                };
                Block::new(header, transactions)
            })
    }

    proptest! {
        #[test]
        fn every_block_reads_back_as_it_was_with_the_same_hash_and_ids(block in arb_block()) {
            let read = decode_block(&encode_block(&block)).expect("decodes");
            prop_assert_eq!(read.hash(), block.hash());
            prop_assert_eq!(read.header(), block.header());
            let ids = |block: &Block| block.transactions().iter().map(|tx| tx.id()).collect::<Vec<_>>();
            prop_assert_eq!(ids(&read), ids(&block));
            for (read, tx) in read.transactions().iter().zip(block.transactions()) {
                prop_assert_eq!(read.timestamp().to_bits(), tx.timestamp().to_bits());
                prop_assert_eq!(read.signature(), tx.signature());
                prop_assert_eq!(read.kind(), tx.kind());
            }
        }

        #[test]
        fn the_stored_size_is_the_canonical_size_and_a_cut_block_has_none(block in arb_block(), cut in 0usize..64) {
            let bytes = encode_block(&block);
            prop_assert_eq!(stored_block_encoded_len(&bytes), Ok(block.encoded_len()));
            let cut = bytes.len().saturating_sub(cut + 1);
            prop_assert!(stored_block_encoded_len(&bytes[..cut]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(stored_block_encoded_len(&longer).is_err());
        }

        #[test]
        fn an_index_entry_reads_back_as_it_was_and_refuses_any_other_length(block in arb_block(), cut in 0..INDEXED_LEN) {
            let indexed = IndexedBlock::of(&block);
            let bytes = encode_indexed(&indexed);
            prop_assert_eq!(bytes.len(), INDEXED_LEN);
            prop_assert_eq!(decode_indexed(&bytes), Ok(indexed));
            prop_assert!(decode_indexed(&bytes[..cut]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(decode_indexed(&longer).is_err());
        }

        #[test]
        fn each_post_of_a_block_reads_back_alone_at_its_position(block in arb_block()) {
            let bytes = encode_block(&block);
            for (position, tx) in block.transactions().iter().enumerate() {
                let read = decode_transaction_at(&bytes, position).expect("decodes");
                prop_assert_eq!(read.id(), tx.id());
            }
            let count = block.transactions().len();
            prop_assert_eq!(
                decode_transaction_at(&bytes, count).map(|tx| tx.id()),
                Err(DecodeError::NoSuchPost { position: count, count })
            );
        }

        #[test]
        fn every_cut_short_or_extended_block_is_refused(block in arb_block(), cut in any::<prop::sample::Index>(), extra in 1..8_usize) {
            let bytes = encode_block(&block);
            let cut = cut.index(bytes.len());
            prop_assert!(decode_block(&bytes[..cut]).is_err());
            let mut longer = bytes.clone();
            longer.extend(std::iter::repeat_n(0, extra));
            prop_assert!(decode_block(&longer).is_err());
        }

        #[test]
        fn any_bytes_decode_or_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_block(&bytes);
            let _ = decode_transaction(&bytes);
            let _ = decode_transaction_at(&bytes, 1);
        }
    }

    #[test]
    fn a_post_count_the_bytes_cannot_hold_is_refused_before_allocating() {
        let mut bytes = vec![0; HEADER_LEN];
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_block(&bytes),
            Err(DecodeError::Truncated { .. })
        ));
    }

    #[test]
    fn bad_posts_say_why() {
        let post = Transaction::new("a".into(), "b".into(), 1.0, None).canonical_bytes();
        let mut wrong_domain = post.clone();
        wrong_domain[0] ^= 1;
        assert_eq!(
            decode_transaction(&wrong_domain),
            Err(DecodeError::NotAPost)
        );
        let mut bad_flag = post.clone();
        *bad_flag.last_mut().expect("flag") = 2;
        assert_eq!(
            decode_transaction(&bad_flag),
            Err(DecodeError::SignatureFlag(2))
        );
        let mut not_utf8 = post.clone();
        not_utf8[TX_DOMAIN.len() + 4] = 0xff;
        assert_eq!(
            decode_transaction(&not_utf8),
            Err(DecodeError::NotUtf8("author"))
        );
        let mut unknown_field = post.clone();
        unknown_field.extend_from_slice(&[3; 33]);
        assert_eq!(
            decode_transaction(&unknown_field),
            Err(DecodeError::UnknownField(3))
        );
        let with_handle = |handle: &[u8]| {
            let mut bytes = post.clone();
            bytes.push(PROFILE_TAG);
            bytes.push(u8::try_from(handle.len()).expect("short"));
            bytes.extend_from_slice(handle);
            decode_transaction(&bytes)
        };
        assert!(with_handle(b"alice").is_ok());
        assert_eq!(
            with_handle(b"Alice"),
            Err(DecodeError::BadHandle(HandleError::Character {
                found: 'A'
            }))
        );
        assert_eq!(
            with_handle(b""),
            Err(DecodeError::BadHandle(HandleError::Empty))
        );
        assert_eq!(
            with_handle(&[b'a'; 31]),
            Err(DecodeError::BadHandle(HandleError::TooLong { len: 31 }))
        );
        assert_eq!(with_handle(&[0xff]), Err(DecodeError::NotUtf8("handle")));
        let mut short_handle = post.clone();
        short_handle.extend_from_slice(&[PROFILE_TAG, 5, b'a']);
        assert!(matches!(
            decode_transaction(&short_handle),
            Err(DecodeError::Truncated { .. })
        ));
        let mut short_reply = post.clone();
        short_reply.extend_from_slice(&[REPLY_TAG; 32]);
        assert!(matches!(
            decode_transaction(&short_reply),
            Err(DecodeError::Truncated { .. })
        ));
        let mut long_reply = post;
        long_reply.extend_from_slice(&[REPLY_TAG; 34]);
        assert!(matches!(
            decode_transaction(&long_reply),
            Err(DecodeError::Trailing(1, _))
        ));
    }
}
