//! A block as the store keeps it: bytes → `encoding::decode_block`. A store file is input
//! like any other: it may be damaged or planted.
//!
//! Any input may be refused; none may panic. A block that decodes is the only reading of
//! its bytes: encoding it again gives them back, so its hash and post ids are the ones the
//! bytes carry.

#![no_main]

use chainpost_chain::encoding::{decode_block, encode_block};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(block) = decode_block(bytes) {
        assert_eq!(encode_block(&block), bytes, "the encoding is not unique");
    }
});
