//! The JSON wire format of posts and blocks, shared by the HTTP API, peers and the store.
//!
//! Field names and shapes are the tutorial's (`index`, `transactions`, `timestamp`,
//! `previous_hash`, `nonce`, `hash`; `author`, `content`, `timestamp`), plus what a real
//! chain needs (`difficulty`, `merkle_root`, `public_key`, `signature`, `id`). JSON is only
//! the wire format: converting to the core types recomputes every hash from the canonical
//! binary encoding, and hashes a sender claims are checked, never trusted. Posts'
//! timestamps are JSON floats; `serde_json`'s `float_roundtrip` makes them parse back to the
//! exact same bits, so ids survive any round trip.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use chainpost_chain::block::{Block, BlockHeader};
use chainpost_chain::hash::{BlockHash, Hash256, TxId};
use chainpost_chain::tx::{PostKind, PostSignature, Transaction};
use chainpost_chain::{Handle, HandleError};

/// Why a JSON post or block cannot become a core value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A hex field has the wrong length or a non-hex character.
    #[error("field `{field}` must be {bytes} bytes as {} hexadecimal characters", bytes * 2)]
    BadHex {
        field: &'static str,
        /// The length the field must have, in bytes.
        bytes: usize,
    },
    /// Only one of `public_key` and `signature` is present.
    #[error("`public_key` and `signature` must be given together")]
    IncompleteSignature,
    /// A profile's `handle` is not one.
    #[error("field `handle`: {0}")]
    BadHandle(HandleError),
    /// Both `reply_to` and `handle` are present.
    #[error("a post is a reply (`reply_to`) or a profile (`handle`), not both")]
    ReplyAndProfile,
    /// The `id` sent does not match the post.
    #[error("transaction id {claimed} does not match the post, whose id is {computed}")]
    IdMismatch {
        /// The id the sender gave.
        claimed: String,
        /// The id of the post as received.
        computed: TxId,
    },
}

/// A post as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionJson {
    /// Who wrote the post.
    pub(crate) author: String,
    /// The text of the post.
    pub(crate) content: String,
    /// Seconds since the Unix epoch.
    pub(crate) timestamp: f64,
    /// Hex Ed25519 public key of a signed post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) public_key: Option<String>,
    /// Hex Ed25519 signature of a signed post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) signature: Option<String>,
    /// Hex id of the post this one replies to; absent on a post that replies to nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reply_to: Option<String>,
    /// The handle a profile claims (`author` is then the display name and `content` the
    /// bio); absent on every other post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) handle: Option<String>,
    /// The post's id; always sent, checked when received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

impl TransactionJson {
    pub fn from_transaction(tx: &Transaction) -> Self {
        TransactionJson {
            author: tx.author().to_owned(),
            content: tx.content().to_owned(),
            timestamp: tx.timestamp(),
            public_key: tx.signature().map(|s| hex::encode(s.public_key)),
            signature: tx.signature().map(|s| hex::encode(s.signature)),
            reply_to: tx.reply_to().map(ToString::to_string),
            handle: tx.profile_handle().map(ToString::to_string),
            id: Some(tx.id().to_string()),
        }
    }

    /// The post this JSON describes; its `id`, when given, must match.
    pub fn into_transaction(self) -> Result<Transaction, WireError> {
        let signature = signature_from_hex(self.public_key.as_deref(), self.signature.as_deref())?;
        let kind = post_kind(self.reply_to.as_deref(), self.handle.as_deref())?;
        let tx = Transaction::of_kind(self.author, self.content, self.timestamp, kind, signature);
        match self.id {
            Some(claimed) if claimed != tx.id().to_string() => Err(WireError::IdMismatch {
                claimed: truncated(&claimed),
                computed: tx.id(),
            }),
            _ => Ok(tx),
        }
    }
}

/// Decodes an optional key and signature pair from hex.
pub fn signature_from_hex(
    public_key: Option<&str>,
    signature: Option<&str>,
) -> Result<Option<PostSignature>, WireError> {
    match (public_key, signature) {
        (None, None) => Ok(None),
        (Some(public_key), Some(signature)) => Ok(Some(PostSignature {
            public_key: decode_hex("public_key", public_key)?,
            signature: decode_hex("signature", signature)?,
        })),
        _ => Err(WireError::IncompleteSignature),
    }
}

/// What a post is, from its optional `reply_to` (a hex id) and `handle`.
pub fn post_kind(reply_to: Option<&str>, handle: Option<&str>) -> Result<PostKind, WireError> {
    match (reply_to, handle) {
        (None, None) => Ok(PostKind::Post),
        (Some(hex), None) => Ok(PostKind::Reply(TxId(Hash256(decode_hex("reply_to", hex)?)))),
        (None, Some(handle)) => Handle::parse(handle)
            .map(PostKind::Profile)
            .map_err(WireError::BadHandle),
        (Some(_), Some(_)) => Err(WireError::ReplyAndProfile),
    }
}

/// A block as JSON: the tutorial's fields plus `difficulty` and `merkle_root`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockJson {
    /// Height of the block.
    pub index: u64,
    /// The block's posts.
    pub transactions: Vec<TransactionJson>,
    /// Seconds since the Unix epoch.
    pub(crate) timestamp: u64,
    /// Hex hash of the parent block.
    pub previous_hash: String,
    /// The proof-of-work nonce.
    pub(crate) nonce: u64,
    /// Hex hash of the header; checked against the header when received.
    pub hash: String,
    /// Leading zero bits the hash must have.
    pub(crate) difficulty: u32,
    /// Hex RFC 6962 merkle root of the post ids.
    pub(crate) merkle_root: String,
}

impl BlockJson {
    pub fn from_block(block: &Block) -> Self {
        let header = block.header();
        BlockJson {
            index: header.index,
            transactions: block
                .transactions()
                .iter()
                .map(|tx| TransactionJson::from_transaction(tx))
                .collect(),
            timestamp: header.timestamp,
            previous_hash: header.previous_hash.to_string(),
            nonce: header.nonce,
            hash: block.hash().to_string(),
            difficulty: header.difficulty,
            merkle_root: header.merkle_root.to_string(),
        }
    }

    /// The block this JSON describes, and the hash its sender claims for it. Whether the
    /// two agree is the first consensus check, left to validation.
    pub fn into_block(self) -> Result<(Block, BlockHash), WireError> {
        let claimed = BlockHash(Hash256(decode_hex("hash", &self.hash)?));
        let header = BlockHeader {
            index: self.index,
            previous_hash: BlockHash(Hash256(decode_hex("previous_hash", &self.previous_hash)?)),
            merkle_root: Hash256(decode_hex("merkle_root", &self.merkle_root)?),
            timestamp: self.timestamp,
            difficulty: self.difficulty,
            nonce: self.nonce,
        };
        let transactions = self
            .transactions
            .into_iter()
            .map(|tx| tx.into_transaction().map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((Block::new(header, transactions), claimed))
    }
}

fn decode_hex<const N: usize>(field: &'static str, text: &str) -> Result<[u8; N], WireError> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(text, &mut bytes).map_err(|_| WireError::BadHex { field, bytes: N })?;
    Ok(bytes)
}

fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_chain::block::merkle_root;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn arb_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex("(?s).{0,40}").expect("regex")
    }

    fn arb_tx() -> impl Strategy<Value = Transaction> {
        (
            arb_text(),
            arb_text(),
            any::<f64>(),
            any::<Option<[u8; 32]>>(),
            prop_oneof![
                Just(PostKind::Post),
                any::<[u8; 32]>().prop_map(|id| PostKind::Reply(TxId(Hash256(id)))),
                "[a-z0-9_]{1,30}"
                    .prop_map(|text| PostKind::Profile(Handle::parse(&text).expect("a handle"))),
            ],
        )
            .prop_map(|(author, content, timestamp, key, kind)| match key {
                Some(seed) => Transaction::signed_of_kind(
                    author,
                    content,
                    timestamp,
                    kind,
                    &SigningKey::from_bytes(&seed),
                ),
                None => Transaction::of_kind(author, content, timestamp, kind, None),
            })
    }

    fn arb_block() -> impl Strategy<Value = Block> {
        (
            proptest::collection::vec(arb_tx(), 0..5),
            any::<(u64, [u8; 32], u64, u32, u64)>(),
        )
            .prop_map(|(txs, (index, previous, timestamp, difficulty, nonce))| {
                let txs: Vec<_> = txs.into_iter().map(Arc::new).collect();
                let header = BlockHeader {
                    index,
                    previous_hash: BlockHash(Hash256(previous)),
                    merkle_root: merkle_root(&txs),
                    timestamp,
                    difficulty,
                    nonce,
                };
                Block::new(header, txs)
            })
    }

    proptest! {
        #[test]
        fn a_block_hashes_the_same_after_any_json_round_trip(block in arb_block()) {
            // NaN and infinities are not JSON; serde_json writes them as null, which the
            // reader rejects. Validation refuses such timestamps anyway.
            prop_assume!(block.transactions().iter().all(|tx| tx.timestamp().is_finite()));
            let text = serde_json::to_string(&BlockJson::from_block(&block)).expect("serializes");
            let parsed: BlockJson = serde_json::from_str(&text).expect("parses");
            let (decoded, claimed) = parsed.into_block().expect("decodes");
            prop_assert_eq!(claimed, block.hash());
            prop_assert_eq!(decoded.hash(), block.hash());
            prop_assert_eq!(merkle_root(decoded.transactions()), merkle_root(block.transactions()));
            for (a, b) in decoded.transactions().iter().zip(block.transactions()) {
                prop_assert_eq!(a.id(), b.id());
                prop_assert_eq!(a.timestamp().to_bits(), b.timestamp().to_bits());
                prop_assert_eq!(a.kind(), b.kind());
            }
        }

        #[test]
        fn any_change_to_any_block_field_is_detected(block in arb_block(), field in 0usize..8, bit in 0u32..8) {
            prop_assume!(block.transactions().iter().all(|tx| tx.timestamp().is_finite()));
            let original = BlockJson::from_block(&block);
            let mut tampered = original.clone();
            let flip_hex = |text: &mut String| {
                let mut bytes = hex::decode(&*text).expect("hex");
                bytes[0] ^= 1 << bit;
                *text = hex::encode(bytes);
            };
            match field {
                0 => tampered.index ^= 1 << bit,
                1 => tampered.timestamp ^= 1 << bit,
                2 => flip_hex(&mut tampered.previous_hash),
                3 => tampered.nonce ^= 1 << bit,
                4 => tampered.difficulty ^= 1 << bit,
                5 => flip_hex(&mut tampered.merkle_root),
                6 => flip_hex(&mut tampered.hash),
                _ => match tampered.transactions.first_mut() {
                    Some(tx) => {
                        tx.content.push('!');
                        tx.id = None;
                    }
                    None => tampered.index ^= 1 << bit,
                },
            }
            let (decoded, claimed) = tampered.into_block().expect("decodes");
            // Either the header no longer hashes to the claimed hash, or (for a post) the
            // merkle root no longer matches the posts.
            let detected = decoded.hash() != claimed
                || merkle_root(decoded.transactions()) != decoded.header().merkle_root;
            prop_assert!(detected);
        }

        #[test]
        fn any_change_to_a_post_changes_its_id(tx in arb_tx(), field in 0usize..5) {
            prop_assume!(tx.timestamp().is_finite());
            let mut json = TransactionJson::from_transaction(&tx);
            json.id = None;
            match field {
                0 => json.author.push('x'),
                1 => json.content.push('x'),
                2 if json.handle.is_none() => json.reply_to = match json.reply_to {
                    Some(_) => None,
                    None => Some(tx.id().to_string()),
                },
                3 if json.reply_to.is_none() => json.handle = match json.handle {
                    Some(_) => None,
                    None => Some("a_handle".into()),
                },
                _ => json.timestamp = if json.timestamp == 0.0 { 1.0 } else { json.timestamp * 2.0 + 1.0 },
            }
            prop_assert_ne!(json.into_transaction().expect("decodes").id(), tx.id());
        }
    }

    #[test]
    fn a_post_is_a_reply_or_a_profile_or_neither() {
        let id = "ab".repeat(32);
        assert_eq!(post_kind(None, None), Ok(PostKind::Post));
        assert!(matches!(post_kind(Some(&id), None), Ok(PostKind::Reply(_))));
        assert_eq!(
            post_kind(None, Some("alice")),
            Ok(PostKind::Profile(Handle::parse("alice").expect("a handle")))
        );
        assert_eq!(
            post_kind(Some(&id), Some("alice")),
            Err(WireError::ReplyAndProfile)
        );
        assert_eq!(
            post_kind(None, Some("Alice")),
            Err(WireError::BadHandle(HandleError::Character { found: 'A' }))
        );
        assert!(matches!(
            post_kind(Some("abc"), None),
            Err(WireError::BadHex { .. })
        ));
    }

    #[test]
    fn a_mismatched_id_is_rejected() {
        let tx = Transaction::new("a".into(), "b".into(), 1.0, None);
        let mut json = TransactionJson::from_transaction(&tx);
        json.content = "c".into();
        assert!(matches!(
            json.into_transaction(),
            Err(WireError::IdMismatch { .. })
        ));
    }

    #[test]
    fn bad_hex_and_half_signatures_are_rejected() {
        let mut json =
            TransactionJson::from_transaction(&Transaction::new("a".into(), "b".into(), 1.0, None));
        json.id = None;
        json.public_key = Some("00".repeat(32));
        assert_eq!(
            json.clone().into_transaction(),
            Err(WireError::IncompleteSignature)
        );
        json.signature = Some("zz".repeat(64));
        assert_eq!(
            json.into_transaction(),
            Err(WireError::BadHex {
                field: "signature",
                bytes: 64
            })
        );
    }
}
