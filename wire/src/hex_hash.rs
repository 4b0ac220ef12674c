//! Hashes as the lowercase hex text every chainpost shape carries, decoded into the core's
//! typed hashes at the edge (`#[serde(with = "crate::hex_hash")]`).

use std::fmt::Display;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serializer};

pub(crate) fn serialize<H: Display, S: Serializer>(
    hash: &H,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(hash)
}

pub(crate) fn deserialize<'de, H, D>(deserializer: D) -> Result<H, D::Error>
where
    H: FromStr<Err: Display>,
    D: Deserializer<'de>,
{
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    text.parse().map_err(serde::de::Error::custom)
}
