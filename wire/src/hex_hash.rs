//! Serde for the core's hash types (`BlockHash`, `TxId`) as the hex text the shapes carry
//! them in: `#[serde(with = "crate::hex_hash")]`, and `option` and `list` for the
//! `Option` and `Vec` of one.
//!
//! The core has no serde, so its types cannot implement it; the text is the core's own
//! `Display` and `FromStr`. A hash that does not parse fails the whole answer, so nothing
//! past the wire handles a hash that is not one.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value written as its `Display` text and read with its `FromStr`.
struct Hex<T>(T);

impl<T: fmt::Display> Serialize for Hex<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Straight into the output: no String per hash.
        serializer.collect_str(&self.0)
    }
}

impl<'de, T> Deserialize<'de> for Hex<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_str(HexVisitor(PhantomData))
            .map(Hex)
    }
}

struct HexVisitor<T>(PhantomData<T>);

impl<T> Visitor<'_> for HexVisitor<T>
where
    T: FromStr,
    T::Err: fmt::Display,
{
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a hash as 64 hexadecimal characters")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

pub(crate) fn serialize<T: fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    Hex(value).serialize(serializer)
}

pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: fmt::Display,
    D: Deserializer<'de>,
{
    Hex::deserialize(deserializer).map(|hex| hex.0)
}

/// An optional hash; pair with `#[serde(default)]` where it may be absent.
pub(crate) mod option {
    use super::*;

    pub(crate) fn serialize<T: fmt::Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().map(Hex).serialize(serializer)
    }

    pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        Option::<Hex<T>>::deserialize(deserializer).map(|hex| hex.map(|hex| hex.0))
    }
}

pub(crate) mod list {
    use super::*;

    pub(crate) fn serialize<T: fmt::Display, S: Serializer>(
        values: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(values.iter().map(Hex))
    }

    pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<Vec<T>, D::Error>
    where
        T: FromStr,
        T::Err: fmt::Display,
        D: Deserializer<'de>,
    {
        Vec::<Hex<T>>::deserialize(deserializer)
            .map(|hexes| hexes.into_iter().map(|hex| hex.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use chainpost_chain::{BlockHash, Hash256};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Shape {
        #[serde(with = "crate::hex_hash")]
        one: BlockHash,
        #[serde(default, with = "crate::hex_hash::option")]
        maybe: Option<BlockHash>,
        #[serde(with = "crate::hex_hash::list")]
        many: Vec<BlockHash>,
    }

    #[test]
    fn hashes_are_written_as_their_hex_and_read_back() {
        let hash = BlockHash(Hash256([0xab; 32]));
        let shape = Shape {
            one: hash,
            maybe: Some(hash),
            many: vec![hash, BlockHash::default()],
        };
        let text = serde_json::to_string(&shape).expect("serializes");
        let hex = "ab".repeat(32);
        let zeros = "0".repeat(64);
        assert_eq!(
            text,
            format!(r#"{{"one":"{hex}","maybe":"{hex}","many":["{hex}","{zeros}"]}}"#)
        );
        assert_eq!(serde_json::from_str::<Shape>(&text).expect("parses"), shape);
    }

    #[test]
    fn an_absent_optional_hash_is_none_and_a_malformed_hash_fails() {
        let hex = "ab".repeat(32);
        let absent: Shape =
            serde_json::from_str(&format!(r#"{{"one":"{hex}","many":[]}}"#)).expect("parses");
        assert_eq!(absent.maybe, None);
        let error =
            serde_json::from_str::<Shape>(r#"{"one":"zz","many":[]}"#).expect_err("not a hash");
        assert!(error.to_string().contains("64 hexadecimal"), "{error}");
    }
}
