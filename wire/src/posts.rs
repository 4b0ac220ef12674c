//! Posts: `POST /new_transaction` (its body and its answer), `GET /pending_tx` (its query;
//! it answers a list of [`crate::TransactionJson`]) and `GET /transactions/{id}`.

use chainpost_chain::{BlockHash, TxId};
use serde::{Deserialize, Serialize};

use crate::TransactionJson;

/// Most pending posts one answer of `/pending_tx` lists. The tutorial's bare `/pending_tx`
/// lists every pending post; here it lists the oldest this many, and `after` pages on, so
/// that no request costs memory or lock time in proportion to the whole mempool.
pub const MAX_PENDING_PAGE: usize = 1_000;

/// Body of `POST /new_transaction`: the tutorial's `author` and `content`, optionally
/// signed. A signed post carries the timestamp it signed; otherwise the node stamps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NewTransaction {
    /// Who wrote the post.
    pub author: String,
    /// The text of the post.
    pub content: String,
    /// The time a signed post signed, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Hex Ed25519 public key of a signed post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Hex Ed25519 signature of a signed post.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// The word `POST /new_transaction` answers with, as the tutorial's.
const CREATED: &str = "Success";

/// The answer of `POST /new_transaction` once the post is durably pending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Created {
    /// `Success`, the tutorial's answer.
    pub(crate) message: String,
    /// The post's id.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub id: TxId,
    /// The post's timestamp: the node's stamp on an unsigned post.
    pub(crate) timestamp: f64,
}

impl Created {
    pub fn new(id: TxId, timestamp: f64) -> Self {
        Created {
            message: CREATED.to_owned(),
            id,
            timestamp,
        }
    }
}

/// The query of `GET /pending_tx`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct PendingQuery {
    /// Posts to list (at most 1000, the default).
    pub limit: Option<usize>,
    /// The id of the last post of the previous page.
    // Text, not a `TxId`: the node names a malformed id in its own words.
    pub after: Option<String>,
}

/// Where a post is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostState {
    /// Waiting to be mined.
    Pending,
    /// In a block of the best chain.
    Confirmed,
}

/// `GET /transactions/{id}`: a post, pending or with the block that confirms it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TransactionStatus {
    /// The post.
    pub transaction: TransactionJson,
    /// `pending` or `confirmed`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: PostState,
    /// The block that confirms it; `null` while pending.
    pub block: Option<BlockRef>,
}

/// A block by height and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockRef {
    /// Height of the block.
    pub index: u64,
    /// Hash of the block.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub hash: BlockHash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_chain::{Hash256, Transaction};

    #[test]
    fn a_post_is_pending_with_a_null_block_or_confirmed_in_one() {
        let post =
            TransactionJson::from_transaction(&Transaction::new("a".into(), "b".into(), 1.0, None));
        let pending = TransactionStatus {
            transaction: post.clone(),
            status: PostState::Pending,
            block: None,
        };
        let text = serde_json::to_string(&pending).expect("serializes");
        assert!(
            text.ends_with(r#","status":"pending","block":null}"#),
            "{text}"
        );
        let confirmed = TransactionStatus {
            transaction: post,
            status: PostState::Confirmed,
            block: Some(BlockRef {
                index: 1,
                hash: BlockHash(Hash256([5; 32])),
            }),
        };
        let text = serde_json::to_string(&confirmed).expect("serializes");
        assert!(text.contains(r#""status":"confirmed""#), "{text}");
        assert_eq!(
            serde_json::from_str::<TransactionStatus>(&text).expect("parses"),
            confirmed
        );
    }

    #[test]
    fn an_unsigned_new_post_is_the_tutorials_two_fields() {
        let post = NewTransaction {
            author: "a".into(),
            content: "b".into(),
            timestamp: None,
            public_key: None,
            signature: None,
        };
        assert_eq!(
            serde_json::to_string(&post).expect("serializes"),
            r#"{"author":"a","content":"b"}"#
        );
    }
}
