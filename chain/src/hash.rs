//! 32-byte SHA-256 digests and the two names they go by: block hashes and transaction ids.
//!
//! Distinct types keep a transaction id from ever being looked up as a block hash. Hex is
//! lowercase, as Python's `hexdigest()` prints it, so hashes read like the tutorial's.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A raw SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    /// The all-zero digest, used as the genesis block's parent.
    #[cfg(test)]
    pub(crate) const ZERO: Hash256 = Hash256([0; 32]);

    pub(crate) fn digest(bytes: &[u8]) -> Self {
        Hash256(Sha256::digest(bytes).into())
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Why a string is not a 32-byte hex digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 64 hexadecimal characters, got {0:?}")]
pub struct ParseHashError(String);

impl FromStr for Hash256 {
    type Err = ParseHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(s, &mut bytes).map_err(|_| ParseHashError(truncate(s)))?;
        Ok(Hash256(bytes))
    }
}

/// Error messages quote the offending input, but never more than a screenful of it.
fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_owned(),
    }
}

impl fmt::Display for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // On the stack: every id and hash in every JSON answer comes through here, and
        // `hex::encode` builds its String one char at a time.
        let mut text = [0u8; 64];
        hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

macro_rules! named_hash {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub Hash256);

        impl $name {
            pub fn as_bytes(&self) -> &[u8; 32] {
                self.0.as_bytes()
            }
        }

        impl FromStr for $name {
            type Err = ParseHashError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

named_hash!(
    /// The SHA-256 of a block's canonical header: the block's identity.
    BlockHash
);
named_hash!(
    /// The SHA-256 of a transaction's canonical encoding: the post's identity.
    TxId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_is_lowercase() {
        let hash = Hash256::digest(b"chainpost");
        let text = hash.to_string();
        assert_eq!(text.len(), 64);
        assert_eq!(text, text.to_lowercase());
        assert_eq!(text.parse::<Hash256>(), Ok(hash));
    }

    #[test]
    fn malformed_hex_is_rejected_with_the_input_quoted() {
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(65)] {
            let err = bad.parse::<BlockHash>().expect_err(bad);
            assert!(err.to_string().contains("64 hexadecimal"));
        }
        let long = "z".repeat(10_000);
        assert!(long.parse::<TxId>().expect_err("long").to_string().len() < 200);
    }
}
