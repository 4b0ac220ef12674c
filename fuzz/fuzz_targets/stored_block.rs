//! A block as the store keeps it: bytes → `encoding::decode_block`, one post of it →
//! `encoding::decode_transaction_at`, its size from the framing alone →
//! `encoding::stored_block_encoded_len`, and the same bytes as an entry of the block
//! index → `encoding::decode_indexed`. A store file is input like any other: it may be damaged or
//! planted.
//!
//! Any input may be refused; none may panic. A block that decodes is the only reading of
//! its bytes: encoding it again gives them back, so its hash and post ids are the ones the
//! bytes carry; each of its posts read alone is the post the whole block holds there; and
//! its size read from the framing is its canonical size.

#![no_main]

use chainpost_chain::encoding::{
    decode_block, decode_indexed, decode_transaction_at, encode_block, encode_indexed,
    stored_block_encoded_len,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(indexed) = decode_indexed(bytes) {
        assert_eq!(
            encode_indexed(&indexed),
            bytes,
            "the index encoding is not unique"
        );
    }
    let first = decode_transaction_at(bytes, 0);
    let size = stored_block_encoded_len(bytes);
    if let Ok(block) = decode_block(bytes) {
        assert_eq!(size, Ok(block.encoded_len()), "the framing's size differs");
        assert_eq!(encode_block(&block), bytes, "the encoding is not unique");
        for (position, tx) in block.transactions().iter().enumerate() {
            let alone = decode_transaction_at(bytes, position).expect("a post of a block");
            assert_eq!(alone.id(), tx.id(), "post {position} read alone differs");
        }
        if block.transactions().is_empty() {
            assert!(first.is_err());
        }
    }
});
