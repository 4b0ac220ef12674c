//! The HTTP contract of chainpost: the JSON every node, peer, web app and research run
//! exchanges, defined once. Decoding here is lenient where the tutorial's nodes differ;
//! converting to the core's types recomputes every hash, so nothing a sender claims is
//! trusted.

mod blocks;
pub mod events;
mod hex_hash;

pub use blocks::{BlockJson, TransactionJson, WireError, signature_from_hex};

/// Header naming the sending node, so a receiver can ask it first for missing ancestors.
pub const PEER_HEADER: &str = "x-chainpost-peer";
