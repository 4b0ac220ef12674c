//! Posts: `POST /new_transaction` (its body and its answer), `GET /pending_tx` (its query;
//! it answers a list of [`crate::TransactionJson`]), `GET /transactions/{id}` and
//! `GET /posts` (the best chain's posts, newest first, by cursor).

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
    /// Hex id of the post this one replies to (covered by the signature of a signed post).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The handle a signed profile claims (covered by its signature); `author` is then the
    /// display name and `content` the bio, which may be empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
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

/// A pending post as `GET /pending_tx` lists it: the post's fields, and `returned` when
/// it is pending again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PendingTransaction {
    #[serde(flatten)]
    pub transaction: TransactionJson,
    /// Present, and true, while a reorganization has put the post back to pending: the
    /// block that confirmed it left the best chain. Not kept across a restart of the node.
    #[serde(default, skip_serializing_if = "is_false")]
    pub returned: bool,
}

fn is_false(value: &bool) -> bool {
    !value
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
    /// Present, and true, while a reorganization has put the post back to pending (see
    /// [`PendingTransaction`]).
    #[serde(default, skip_serializing_if = "is_false")]
    pub returned: bool,
    /// How many posts of the best chain reply to it (its pending replies are in its
    /// thread, not counted here: counting them would read the mempool under the chain
    /// lock, which post listings never take).
    #[serde(default)]
    pub reply_count: u64,
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

/// Most posts one answer of `GET /posts` lists, and how many it lists unasked.
pub const MAX_POSTS_PAGE: usize = 100;
pub const DEFAULT_POSTS_PAGE: usize = 20;

/// The query of `GET /posts`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct PostsQuery {
    /// Only the unsigned posts that give this name as their author.
    pub author: Option<String>,
    /// Only the posts signed by this Ed25519 key (64 hex characters), whatever name they give.
    pub key: Option<String>,
    /// The `next` of the previous page: only posts older than it.
    // Text: the node names a malformed cursor in its own words.
    pub before: Option<String>,
    /// Posts to list (default 20, at most 100).
    pub limit: Option<usize>,
}

/// A place in the best chain's posts, `HEIGHT.POSITION`: the posts before it are those of
/// lower blocks, and those earlier in its block. It stays valid as blocks are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PostCursor {
    pub height: u64,
    pub position: u32,
}

impl std::fmt::Display for PostCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.height, self.position)
    }
}

/// Why a cursor was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a cursor this node gave: expected HEIGHT.POSITION, two decimal numbers")]
pub struct BadCursor(String);

impl std::str::FromStr for PostCursor {
    type Err = BadCursor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadCursor(text.chars().take(80).collect());
        let (height, position) = text.split_once('.').ok_or_else(bad)?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(height) || !digits(position) {
            return Err(bad());
        }
        Ok(PostCursor {
            height: height.parse().map_err(|_| bad())?,
            position: position.parse().map_err(|_| bad())?,
        })
    }
}

/// `GET /posts`: a page of the best chain's posts, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostsPage {
    /// Each post with the block that confirms it.
    pub posts: Vec<TransactionStatus>,
    /// The `before` of the next older page; `null` at the oldest post.
    pub next: Option<String>,
}

/// The query of `GET /posts/{id}/thread`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct ThreadQuery {
    /// The `next` of the previous page: only replies confirmed after it.
    // Text: the node names a malformed cursor in its own words.
    pub after: Option<String>,
    /// Replies to list (default 20, at most 100).
    pub limit: Option<usize>,
}

/// `GET /posts/{id}/thread`: a post and a page of the replies to it, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Thread {
    /// The post replied to, pending or confirmed.
    pub post: TransactionStatus,
    /// Its confirmed replies in chain order; on the last page (`next` null), then up to
    /// `limit` of its pending replies in the order they arrived.
    pub replies: Vec<TransactionStatus>,
    /// The `after` of the next page; `null` on the last.
    pub next: Option<String>,
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
            returned: false,
            reply_count: 0,
        };
        let text = serde_json::to_string(&pending).expect("serializes");
        assert!(
            text.ends_with(r#","status":"pending","block":null,"reply_count":0}"#),
            "{text}"
        );
        let confirmed = TransactionStatus {
            transaction: post,
            status: PostState::Confirmed,
            block: Some(BlockRef {
                index: 1,
                hash: BlockHash(Hash256([5; 32])),
            }),
            returned: false,
            reply_count: 0,
        };
        let text = serde_json::to_string(&confirmed).expect("serializes");
        assert!(text.contains(r#""status":"confirmed""#), "{text}");
        assert_eq!(
            serde_json::from_str::<TransactionStatus>(&text).expect("parses"),
            confirmed
        );
    }

    #[test]
    fn a_pending_post_lists_as_the_tutorials_and_says_returned_only_when_it_is() {
        let post =
            TransactionJson::from_transaction(&Transaction::new("a".into(), "b".into(), 1.0, None));
        let fresh = PendingTransaction {
            transaction: post.clone(),
            returned: false,
        };
        assert_eq!(
            serde_json::to_value(&fresh).expect("serializes"),
            serde_json::to_value(&post).expect("serializes"),
            "a tutorial client sees the post's fields and nothing else"
        );
        let returned = PendingTransaction {
            transaction: post,
            returned: true,
        };
        let text = serde_json::to_string(&returned).expect("serializes");
        assert!(text.ends_with(r#","returned":true}"#), "{text}");
        assert_eq!(
            serde_json::from_str::<PendingTransaction>(&text).expect("parses"),
            returned
        );
    }

    #[test]
    fn cursors_read_back_what_they_print_and_nothing_else() {
        let cursor = PostCursor {
            height: u64::MAX,
            position: u32::MAX,
        };
        assert_eq!(cursor.to_string().parse::<PostCursor>(), Ok(cursor));
        assert_eq!(
            "7.0".parse::<PostCursor>(),
            Ok(PostCursor {
                height: 7,
                position: 0
            })
        );
        let too_far = format!("1.{}", u64::from(u32::MAX) + 1);
        let bad = [
            "",
            ".",
            "7",
            "7.",
            ".0",
            "+7.0",
            "7.-1",
            "7.0.0",
            "7,0",
            " 7.0",
            "0x7.0",
            "18446744073709551616.0",
            &too_far,
            "٧.0",
        ];
        for text in bad {
            assert!(text.parse::<PostCursor>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn an_unsigned_new_post_is_the_tutorials_two_fields() {
        let post = NewTransaction {
            author: "a".into(),
            content: "b".into(),
            timestamp: None,
            public_key: None,
            signature: None,
            reply_to: None,
            handle: None,
        };
        assert_eq!(
            serde_json::to_string(&post).expect("serializes"),
            r#"{"author":"a","content":"b"}"#
        );
    }
}
