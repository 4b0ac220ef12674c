//! Consensus rules as free functions: is this post valid, is this block valid.
//!
//! Cheap checks run first, so a forged block costs one header hash to reject, never a
//! signature check. The rules that need the block's place in the tree (parent, height,
//! median time, duplicates on the branch) take that context as arguments; the tree
//! ([`crate::tree`]) supplies it. Every failure is its own error variant, carrying
//! what a caller needs to report or act on it.

use std::collections::HashSet;

use ed25519_dalek::{Signature, VerifyingKey};

use crate::block::{Block, BlockHeader, merkle_root};
use crate::hash::{BlockHash, Hash256, TxId};
use crate::params::ChainParams;
use crate::pow;
use crate::pow::MAX_DIFFICULTY;
use crate::tx::Transaction;

/// Why a post is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TxError {
    /// The author is empty or only whitespace.
    #[error("author must not be empty")]
    EmptyAuthor,
    #[error("author is {chars} characters long; the limit is {max}")]
    AuthorTooLong { chars: usize, max: usize },
    /// The author contains a control character (newline, tab, NUL...).
    #[error("author must not contain control characters")]
    ControlCharacterInAuthor,
    /// The author contains an invisible or direction-changing character, which would let
    /// one name pass for another. Node policy for new posts, not a rule of blocks.
    #[error("author must not contain invisible or text-direction characters (found {found:?})")]
    InvisibleCharacterInAuthor {
        /// The first such character.
        found: char,
    },
    /// The content is empty or only whitespace.
    #[error("content must not be empty")]
    EmptyContent,
    #[error("content is {chars} characters long; the limit is {max}")]
    ContentTooLong { chars: usize, max: usize },
    /// The timestamp is negative, NaN or infinite.
    #[error("timestamp {got} is not a non-negative number of seconds since the epoch")]
    InvalidTimestamp { got: f64 },
    /// The timestamp is later than the reference time allows.
    #[error("timestamp {got} is too far in the future; the latest accepted is {max}")]
    TimestampTooFar { got: f64, max: u64 },
    /// The timestamp is earlier than the mempool accepts.
    #[error("timestamp {got} is too far in the past; the earliest accepted is {min}")]
    TimestampTooOld { got: f64, min: u64 },
    /// The network requires signatures and the post has none.
    #[error("this network requires signed posts; the post has no signature")]
    MissingSignature,
    /// The public key is not a valid Ed25519 point.
    #[error("public key is not a valid Ed25519 public key")]
    InvalidPublicKey,
    /// The public key is a small-order point that would verify forged signatures.
    #[error("public key is a weak (small-order) Ed25519 key")]
    WeakPublicKey,
    #[error("signature does not match the post and public key")]
    BadSignature,
    /// A profile claims a handle for a key; without a signature there is no key.
    #[error("a profile must be signed: it claims a handle for the key that signs it")]
    UnsignedProfile,
}

/// Why a block is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BlockError {
    /// The hash the sender claims is not the hash of the header it sent.
    #[error("block hash {claimed} does not match its header, which hashes to {computed}")]
    HashMismatch {
        /// The hash the sender gave.
        claimed: BlockHash,
        /// The hash of the header as received.
        computed: BlockHash,
    },
    /// The block declares a difficulty other than the one its place in the chain requires.
    #[error("block declares difficulty {got}; this network requires {required}")]
    WrongDifficulty { got: u32, required: u32 },
    /// The block declares a difficulty no block of this retargeting network can carry.
    #[error("block declares difficulty {got}; this network's blocks carry {min} to {max}")]
    DifficultyOutOfRange {
        got: u32,
        /// The network's starting and lowest difficulty.
        min: u32,
        /// The highest difficulty any network allows.
        max: u32,
    },
    /// The hash does not have the leading zero bits the difficulty demands.
    #[error("block hash {hash} does not meet difficulty {difficulty} (insufficient proof of work)")]
    InsufficientWork { hash: BlockHash, difficulty: u32 },
    /// The index is not the parent's index plus one.
    #[error("block index {got} does not follow its parent; expected {expected}")]
    IndexMismatch { got: u64, expected: u64 },
    /// The timestamp is not after the median of the previous blocks.
    #[error("block timestamp {got} is not after the median {median} of the previous blocks")]
    TimestampNotAfterMedian { got: u64, median: u64 },
    /// The timestamp is too far ahead of this node's clock.
    #[error("block timestamp {got} is too far in the future; the latest accepted is {max}")]
    TimestampTooFar { got: u64, max: u64 },
    #[error("block holds {count} transactions; the limit is {max}")]
    TooManyTransactions { count: usize, max: usize },
    #[error("block is {bytes} bytes; the limit is {max}")]
    TooLarge {
        /// Canonical size of the block.
        bytes: usize,
        max: usize,
    },
    /// The merkle root in the header is not the root of the transactions.
    #[error("merkle root {claimed} does not match the transactions, whose root is {computed}")]
    MerkleRootMismatch {
        /// The root in the header.
        claimed: Hash256,
        /// The root of the transactions as received.
        computed: Hash256,
    },
    #[error("transaction {id} appears more than once in the block")]
    DuplicateTransaction { id: TxId },
    /// The post is already in an ancestor of the block.
    #[error("transaction {id} is already in the chain this block extends")]
    TransactionAlreadyOnBranch { id: TxId },
    /// A side block whose branch is too far behind the best chain to become best.
    #[error(
        "block #{height} is on a branch {behind} blocks' work behind the best chain; side branches more than {max} behind are not kept"
    )]
    FarBehindBestChain {
        height: u64,
        /// How far behind, in blocks of the next block's difficulty.
        behind: u128,
        max: u64,
    },
    /// Height `height` already holds as many competing blocks as are kept.
    #[error(
        "height {height} already holds {max} competing blocks; no more side blocks are kept there"
    )]
    TooManyAtHeight { height: u64, max: usize },
    /// Side branches already fill their storage.
    #[error("side branches already hold {max} bytes; no more side blocks are kept")]
    SideBranchesFull {
        /// The bound, in bytes.
        max: usize,
    },
    #[error("transaction {id} is invalid: {source}")]
    InvalidTransaction { id: TxId, source: TxError },
    /// Judging the block needs the body of stored block `hash`, which this node's store
    /// could not give back: a fault of this node, not of the block.
    #[error("stored block {hash} could not be read back, so the block cannot be judged")]
    StoredBlockUnreadable { hash: BlockHash },
    /// Judging the block needs this node's index of confirmed posts, which its store could
    /// not read.
    #[error("the index of confirmed posts could not be read, so the block cannot be judged")]
    ConfirmedIndexUnreadable,
}

impl BlockError {
    /// A short, stable name of the broken rule, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            BlockError::HashMismatch { .. } => "hash_mismatch",
            BlockError::WrongDifficulty { .. } => "wrong_difficulty",
            BlockError::DifficultyOutOfRange { .. } => "difficulty_out_of_range",
            BlockError::InsufficientWork { .. } => "insufficient_work",
            BlockError::IndexMismatch { .. } => "index_mismatch",
            BlockError::TimestampNotAfterMedian { .. } => "timestamp_not_after_median",
            BlockError::TimestampTooFar { .. } => "timestamp_too_far",
            BlockError::TooManyTransactions { .. } => "too_many_transactions",
            BlockError::TooLarge { .. } => "too_large",
            BlockError::MerkleRootMismatch { .. } => "merkle_root_mismatch",
            BlockError::DuplicateTransaction { .. } => "duplicate_transaction",
            BlockError::TransactionAlreadyOnBranch { .. } => "transaction_already_on_branch",
            BlockError::FarBehindBestChain { .. } => "far_behind_best_chain",
            BlockError::TooManyAtHeight { .. } => "too_many_at_height",
            BlockError::SideBranchesFull { .. } => "side_branches_full",
            BlockError::InvalidTransaction { .. } => "invalid_transaction",
            BlockError::StoredBlockUnreadable { .. } => "stored_block_unreadable",
            BlockError::ConfirmedIndexUnreadable => "confirmed_index_unreadable",
        }
    }

    /// Whether the block is invalid whoever looks at it, so its sender is faulty. A block
    /// too far in the future may only reflect clocks that disagree; a side block this node
    /// does not keep may be valid and honestly sent.
    pub fn is_peer_fault(&self) -> bool {
        !matches!(
            self,
            BlockError::TimestampTooFar { .. }
                | BlockError::FarBehindBestChain { .. }
                | BlockError::TooManyAtHeight { .. }
                | BlockError::SideBranchesFull { .. }
                | BlockError::StoredBlockUnreadable { .. }
                | BlockError::ConfirmedIndexUnreadable
        )
    }

    /// Whether this node, not the block, is at fault: its store failed it.
    pub fn is_local_failure(&self) -> bool {
        matches!(
            self,
            BlockError::StoredBlockUnreadable { .. } | BlockError::ConfirmedIndexUnreadable
        )
    }

    /// Whether the block was valid but not kept, by the tree's bounds on side branches.
    pub fn is_side_branch_bound(&self) -> bool {
        matches!(
            self,
            BlockError::FarBehindBestChain { .. }
                | BlockError::TooManyAtHeight { .. }
                | BlockError::SideBranchesFull { .. }
        )
    }
}

/// Checks a post on its own: field limits, timestamp sanity and signature.
pub fn validate_transaction(tx: &Transaction, params: &ChainParams) -> Result<(), TxError> {
    let author_chars = tx.author().chars().count();
    if tx.author().trim().is_empty() {
        return Err(TxError::EmptyAuthor);
    }
    if author_chars > params.max_author_chars {
        return Err(TxError::AuthorTooLong {
            chars: author_chars,
            max: params.max_author_chars,
        });
    }
    if tx.author().chars().any(char::is_control) {
        return Err(TxError::ControlCharacterInAuthor);
    }
    let content_chars = tx.content().chars().count();
    // A profile's content is its bio, which may be left empty.
    if tx.content().trim().is_empty() && tx.profile_handle().is_none() {
        return Err(TxError::EmptyContent);
    }
    if content_chars > params.max_content_chars {
        return Err(TxError::ContentTooLong {
            chars: content_chars,
            max: params.max_content_chars,
        });
    }
    let timestamp = tx.timestamp();
    if !timestamp.is_finite() || timestamp.is_sign_negative() {
        return Err(TxError::InvalidTimestamp { got: timestamp });
    }
    match tx.signature() {
        None if tx.profile_handle().is_some() => Err(TxError::UnsignedProfile),
        None if params.require_signatures => Err(TxError::MissingSignature),
        None => Ok(()),
        Some(signed) => {
            let key = VerifyingKey::from_bytes(&signed.public_key)
                .map_err(|_| TxError::InvalidPublicKey)?;
            if key.is_weak() {
                return Err(TxError::WeakPublicKey);
            }
            let message = Transaction::signing_message(
                tx.author(),
                tx.content(),
                timestamp,
                tx.kind(),
                &signed.public_key,
            );
            // Strict verification rejects malleable signatures and non-canonical points,
            // so a post's id cannot be changed by re-encoding its signature.
            key.verify_strict(&message, &Signature::from_bytes(&signed.signature))
                .map_err(|_| TxError::BadSignature)
        }
    }
}

/// Node policy for posts it admits (not a rule of blocks, so chains that already hold
/// such names stay valid): no Unicode format characters (zero-width spaces and joiners,
/// bidirectional overrides and isolates, invisible operators, tags, the byte-order mark)
/// and no line or paragraph separators in the author, so that no name can pose as
/// another that looks the same.
pub(crate) fn validate_transaction_policy(tx: &Transaction) -> Result<(), TxError> {
    match tx
        .author()
        .chars()
        .find(|&c| is_invisible_or_directional(c))
    {
        Some(found) => Err(TxError::InvisibleCharacterInAuthor { found }),
        None => Ok(()),
    }
}

/// Unicode's format characters (general category Cf) and the two separators (Zl, Zp).
fn is_invisible_or_directional(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Checks that a post's timestamp lies within the allowed drift of `now`, as the mempool
/// requires of newly submitted posts.
pub(crate) fn validate_transaction_time(
    tx: &Transaction,
    now: u64,
    params: &ChainParams,
) -> Result<(), TxError> {
    let max = now.saturating_add(params.max_future_drift_secs);
    let min = now.saturating_sub(params.max_future_drift_secs);
    if tx.timestamp() > max as f64 {
        return Err(TxError::TimestampTooFar {
            got: tx.timestamp(),
            max,
        });
    }
    if tx.timestamp() < min as f64 {
        return Err(TxError::TimestampTooOld {
            got: tx.timestamp(),
            min,
        });
    }
    Ok(())
}

/// Checks everything about a block that needs no other block: claimed hash, difficulty,
/// proof of work, size, merkle root, duplicates within it and each post (signatures last,
/// as they are the dearest check).
pub(crate) fn validate_block_standalone(
    block: &Block,
    claimed_hash: &BlockHash,
    params: &ChainParams,
) -> Result<(), BlockError> {
    let header = block.header();
    if *claimed_hash != block.hash() {
        return Err(BlockError::HashMismatch {
            claimed: *claimed_hash,
            computed: block.hash(),
        });
    }
    // The exact difficulty of a retargeting network depends on ancestors (checked in
    // context); the floor alone already makes every block cost real work.
    if params.retarget.is_none() && header.difficulty != params.difficulty {
        return Err(BlockError::WrongDifficulty {
            got: header.difficulty,
            required: params.difficulty,
        });
    }
    if !(params.difficulty..=MAX_DIFFICULTY).contains(&header.difficulty) {
        return Err(BlockError::DifficultyOutOfRange {
            got: header.difficulty,
            min: params.difficulty,
            max: MAX_DIFFICULTY,
        });
    }
    if !pow::meets_difficulty(&block.hash(), header.difficulty) {
        return Err(BlockError::InsufficientWork {
            hash: block.hash(),
            difficulty: header.difficulty,
        });
    }
    let count = block.transactions().len();
    if count > params.max_block_transactions {
        return Err(BlockError::TooManyTransactions {
            count,
            max: params.max_block_transactions,
        });
    }
    let bytes = block.encoded_len();
    if bytes > params.max_block_bytes {
        return Err(BlockError::TooLarge {
            bytes,
            max: params.max_block_bytes,
        });
    }
    let computed = merkle_root(block.transactions());
    if computed != header.merkle_root {
        return Err(BlockError::MerkleRootMismatch {
            claimed: header.merkle_root,
            computed,
        });
    }
    let mut seen = HashSet::with_capacity(count);
    for tx in block.transactions() {
        if !seen.insert(tx.id()) {
            return Err(BlockError::DuplicateTransaction { id: tx.id() });
        }
    }
    let latest_post = header
        .timestamp
        .saturating_add(params.max_future_drift_secs);
    for tx in block.transactions() {
        let invalid = |source| BlockError::InvalidTransaction {
            id: tx.id(),
            source,
        };
        if tx.timestamp() > latest_post as f64 {
            return Err(invalid(TxError::TimestampTooFar {
                got: tx.timestamp(),
                max: latest_post,
            }));
        }
        validate_transaction(tx, params).map_err(invalid)?;
    }
    Ok(())
}

/// Checks a header against its place in the tree: height, the difficulty its ancestors
/// require, median time and, when `now` is given, the clock (a block this node stored
/// met the clock when it arrived, and is not held to today's).
pub(crate) fn validate_header_in_context(
    header: &BlockHeader,
    parent_index: u64,
    median_time_past: u64,
    required_difficulty: u32,
    now: Option<u64>,
    params: &ChainParams,
) -> Result<(), BlockError> {
    let expected = parent_index.saturating_add(1);
    if header.index != expected {
        return Err(BlockError::IndexMismatch {
            got: header.index,
            expected,
        });
    }
    if header.difficulty != required_difficulty {
        return Err(BlockError::WrongDifficulty {
            got: header.difficulty,
            required: required_difficulty,
        });
    }
    if header.timestamp <= median_time_past {
        return Err(BlockError::TimestampNotAfterMedian {
            got: header.timestamp,
            median: median_time_past,
        });
    }
    if let Some(now) = now {
        let max = now.saturating_add(params.max_future_drift_secs);
        if header.timestamp > max {
            return Err(BlockError::TimestampTooFar {
                got: header.timestamp,
                max,
            });
        }
    }
    Ok(())
}

/// The median of a set of timestamps (the upper median for an even count).
pub(crate) fn median(mut timestamps: Vec<u64>) -> u64 {
    timestamps.sort_unstable();
    timestamps.get(timestamps.len() / 2).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Handle;
    use crate::test_support::*;
    use crate::tx::PostKind;
    use ed25519_dalek::SigningKey;

    fn params() -> ChainParams {
        ChainParams::new(4, false).expect("valid")
    }

    #[test]
    fn names_that_could_pose_as_others_are_refused_for_new_posts_but_not_in_blocks() {
        let params = ChainParams::new(0, false).expect("valid");
        for (author, found) in [
            ("ali\u{200B}ce", '\u{200B}'),
            ("\u{202E}ecila", '\u{202E}'),
            ("a\u{2066}b\u{2069}", '\u{2066}'),
            ("bob\u{FEFF}", '\u{FEFF}'),
            ("eve\u{E0041}", '\u{E0041}'),
            ("soft\u{00AD}hyphen", '\u{00AD}'),
            ("line\u{2028}break", '\u{2028}'),
        ] {
            let tx = unsigned(author, "hello", 1.0);
            assert_eq!(
                validate_transaction_policy(&tx),
                Err(TxError::InvisibleCharacterInAuthor { found }),
                "{author:?}"
            );
            assert_eq!(
                validate_transaction(&tx, &params),
                Ok(()),
                "blocks may hold {author:?}"
            );
        }
        for author in ["alice", "Zoë 山田", "<b>x</b>", "o'brien"] {
            assert_eq!(
                validate_transaction_policy(&unsigned(author, "hi", 1.0)),
                Ok(())
            );
        }
    }

    #[test]
    fn a_valid_unsigned_post_passes_unless_signatures_are_required() {
        let tx = unsigned("alice", "hello", 100.0);
        assert_eq!(validate_transaction(&tx, &params()), Ok(()));
        let strict = ChainParams::new(4, true).expect("valid");
        assert_eq!(
            validate_transaction(&tx, &strict),
            Err(TxError::MissingSignature)
        );
    }

    #[test]
    fn field_rules_each_have_their_own_error() {
        let p = params();
        let long = "x".repeat(p.max_content_chars + 1);
        let cases = [
            (unsigned(" ", "c", 1.0), TxError::EmptyAuthor),
            (
                unsigned(&"a".repeat(65), "c", 1.0),
                TxError::AuthorTooLong { chars: 65, max: 64 },
            ),
            (
                unsigned("a\nb", "c", 1.0),
                TxError::ControlCharacterInAuthor,
            ),
            (unsigned("a", "", 1.0), TxError::EmptyContent),
            (
                unsigned("a", &long, 1.0),
                TxError::ContentTooLong {
                    chars: p.max_content_chars + 1,
                    max: p.max_content_chars,
                },
            ),
            (
                unsigned("a", "c", -1.0),
                TxError::InvalidTimestamp { got: -1.0 },
            ),
        ];
        for (tx, expected) in cases {
            assert_eq!(validate_transaction(&tx, &p), Err(expected));
        }
        let nan = unsigned("a", "c", f64::NAN);
        assert!(matches!(
            validate_transaction(&nan, &p),
            Err(TxError::InvalidTimestamp { .. })
        ));
    }

    #[test]
    fn a_profile_must_be_signed_and_may_have_an_empty_bio() {
        let p = params();
        let key = SigningKey::from_bytes(&[1; 32]);
        let alice = || PostKind::Profile(Handle::parse("alice").expect("a handle"));
        let profile = Transaction::signed_of_kind("Alice".into(), "".into(), 5.0, alice(), &key);
        assert_eq!(validate_transaction(&profile, &p), Ok(()));
        let unsigned_profile =
            Transaction::of_kind("Alice".into(), "bio".into(), 5.0, alice(), None);
        assert_eq!(
            validate_transaction(&unsigned_profile, &p),
            Err(TxError::UnsignedProfile)
        );
        let claimed_elsewhere = Transaction::of_kind(
            "Alice".into(),
            "".into(),
            5.0,
            PostKind::Profile(Handle::parse("alicf").expect("a handle")),
            profile.signature().copied(),
        );
        assert_eq!(
            validate_transaction(&claimed_elsewhere, &p),
            Err(TxError::BadSignature)
        );
        let empty_post = Transaction::signed("Alice".into(), " ".into(), 5.0, &key);
        assert_eq!(
            validate_transaction(&empty_post, &p),
            Err(TxError::EmptyContent)
        );
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        let p = params();
        let emoji = "\u{1F600}".repeat(p.max_author_chars);
        assert_eq!(
            validate_transaction(&unsigned(&emoji, "c", 1.0), &p),
            Ok(())
        );
    }

    #[test]
    fn signatures_are_verified_and_tampering_is_caught() {
        let p = ChainParams::new(4, true).expect("valid");
        let key = SigningKey::from_bytes(&[1; 32]);
        let good = Transaction::signed("alice".into(), "hi".into(), 5.0, &key);
        assert_eq!(validate_transaction(&good, &p), Ok(()));

        let signed = *good.signature().expect("signed");
        let forged = Transaction::new("mallory".into(), "hi".into(), 5.0, Some(signed));
        assert_eq!(
            validate_transaction(&forged, &p),
            Err(TxError::BadSignature)
        );

        let mut bad_sig = signed;
        bad_sig.signature[0] ^= 1;
        let tx = Transaction::new("alice".into(), "hi".into(), 5.0, Some(bad_sig));
        assert_eq!(validate_transaction(&tx, &p), Err(TxError::BadSignature));

        // The identity point is a small-order ("weak") key.
        let mut weak = signed;
        weak.public_key = [0; 32];
        weak.public_key[0] = 1;
        let tx = Transaction::new("alice".into(), "hi".into(), 5.0, Some(weak));
        assert_eq!(validate_transaction(&tx, &p), Err(TxError::WeakPublicKey));

        // y = 2 is not on the curve: the point does not decompress.
        let mut off_curve = signed;
        off_curve.public_key = [0; 32];
        off_curve.public_key[0] = 2;
        let tx = Transaction::new("alice".into(), "hi".into(), 5.0, Some(off_curve));
        assert_eq!(
            validate_transaction(&tx, &p),
            Err(TxError::InvalidPublicKey)
        );
    }

    #[test]
    fn mempool_time_window_is_symmetric_around_now() {
        let p = params();
        let now = 1_000_000;
        let drift = p.max_future_drift_secs;
        let at = |t: f64| validate_transaction_time(&unsigned("a", "c", t), now, &p);
        assert_eq!(at(now as f64), Ok(()));
        assert_eq!(at((now + drift) as f64), Ok(()));
        assert!(matches!(
            at((now + drift) as f64 + 0.5),
            Err(TxError::TimestampTooFar { .. })
        ));
        assert!(matches!(
            at((now - drift) as f64 - 0.5),
            Err(TxError::TimestampTooOld { .. })
        ));
    }

    #[test]
    fn standalone_checks_reject_each_kind_of_tampering() {
        let p = params();
        let genesis = p.genesis();
        let txs = vec![unsigned_arc("a", "1", 1.0), unsigned_arc("a", "2", 2.0)];
        let block = mine_child(&genesis, txs.clone(), &p);
        assert_eq!(validate_block_standalone(&block, &block.hash(), &p), Ok(()));

        let other = BlockHash(Hash256([9; 32]));
        assert!(matches!(
            validate_block_standalone(&block, &other, &p),
            Err(BlockError::HashMismatch { .. })
        ));

        let mut wrong_difficulty = *block.header();
        wrong_difficulty.difficulty = 0;
        let b = Block::new(wrong_difficulty, txs.clone());
        assert!(matches!(
            validate_block_standalone(&b, &b.hash(), &p),
            Err(BlockError::WrongDifficulty {
                got: 0,
                required: 4
            })
        ));

        // A retargeting network takes any difficulty from its floor up (the exact one is
        // checked in context), but still checks the work against what the header claims.
        let retargeting = p
            .clone()
            .with_retarget(crate::retarget::Retarget {
                target_block_secs: 10,
                interval: 10,
            })
            .expect("valid rule");
        assert!(matches!(
            validate_block_standalone(&b, &b.hash(), &retargeting),
            Err(BlockError::DifficultyOutOfRange {
                got: 0,
                min: 4,
                max: MAX_DIFFICULTY
            })
        ));
        let mut harder = *block.header();
        harder.difficulty = 6;
        harder.nonce = pow::Midstate::new(&harder)
            .search(0..u64::MAX)
            .expect("6 bits are quick to find");
        let harder = Block::new(harder, txs.clone());
        assert_eq!(
            validate_block_standalone(&harder, &harder.hash(), &retargeting),
            Ok(())
        );
        assert!(matches!(
            validate_block_standalone(&harder, &harder.hash(), &p),
            Err(BlockError::WrongDifficulty { got: 6, .. })
        ));
        let mut overclaimed = *block.header();
        overclaimed.difficulty = MAX_DIFFICULTY;
        let overclaimed = Block::new(overclaimed, txs.clone());
        assert!(matches!(
            validate_block_standalone(&overclaimed, &overclaimed.hash(), &retargeting),
            Err(BlockError::InsufficientWork { .. })
        ));

        let unmined = unmined_child(&genesis, txs.clone(), &p);
        assert!(matches!(
            validate_block_standalone(&unmined, &unmined.hash(), &p),
            Err(BlockError::InsufficientWork { .. })
        ));

        let swapped = mine_with_root(
            &genesis,
            txs.iter().rev().cloned().collect(),
            block.header().merkle_root,
            &p,
        );
        assert!(matches!(
            validate_block_standalone(&swapped, &swapped.hash(), &p),
            Err(BlockError::MerkleRootMismatch { .. })
        ));

        let doubled = mine_child(&genesis, vec![txs[0].clone(), txs[0].clone()], &p);
        assert_eq!(
            validate_block_standalone(&doubled, &doubled.hash(), &p),
            Err(BlockError::DuplicateTransaction { id: txs[0].id() })
        );

        let bad_post = unsigned_arc("", "c", 1.0);
        let b = mine_child(&genesis, vec![bad_post.clone()], &p);
        assert_eq!(
            validate_block_standalone(&b, &b.hash(), &p),
            Err(BlockError::InvalidTransaction {
                id: bad_post.id(),
                source: TxError::EmptyAuthor
            })
        );

        let from_future = unsigned_arc("a", "c", 4_000_000_000.0);
        let b = mine_child(&genesis, vec![from_future], &p);
        assert!(matches!(
            validate_block_standalone(&b, &b.hash(), &p),
            Err(BlockError::InvalidTransaction {
                source: TxError::TimestampTooFar { .. },
                ..
            })
        ));
    }

    #[test]
    fn size_limits_are_enforced() {
        let mut p = params();
        p.max_block_transactions = 1;
        let genesis = p.genesis();
        let txs = vec![unsigned_arc("a", "1", 1.0), unsigned_arc("a", "2", 2.0)];
        let b = mine_child(&genesis, txs.clone(), &p);
        assert_eq!(
            validate_block_standalone(&b, &b.hash(), &p),
            Err(BlockError::TooManyTransactions { count: 2, max: 1 })
        );
        let mut p = params();
        p.max_block_bytes = 100;
        let b = mine_child(&genesis, txs, &p);
        assert!(matches!(
            validate_block_standalone(&b, &b.hash(), &p),
            Err(BlockError::TooLarge { max: 100, .. })
        ));
    }

    #[test]
    fn context_checks_height_difficulty_median_time_and_clock() {
        let p = params();
        let header = |index, timestamp| BlockHeader {
            index,
            previous_hash: BlockHash::default(),
            merkle_root: Hash256::ZERO,
            timestamp,
            difficulty: 4,
            nonce: 0,
        };
        let now = 10_000;
        assert_eq!(
            validate_header_in_context(&header(5, 101), 4, 100, 4, Some(now), &p),
            Ok(())
        );
        assert_eq!(
            validate_header_in_context(&header(6, 101), 4, 100, 4, Some(now), &p),
            Err(BlockError::IndexMismatch {
                got: 6,
                expected: 5
            })
        );
        assert_eq!(
            validate_header_in_context(&header(5, 100), 4, 100, 4, Some(now), &p),
            Err(BlockError::TimestampNotAfterMedian {
                got: 100,
                median: 100
            })
        );
        let max = now + p.max_future_drift_secs;
        assert_eq!(
            validate_header_in_context(&header(5, max), 4, 100, 4, Some(now), &p),
            Ok(())
        );
        assert_eq!(
            validate_header_in_context(&header(5, max + 1), 4, 100, 4, Some(now), &p),
            Err(BlockError::TimestampTooFar { got: max + 1, max })
        );
        assert_eq!(
            validate_header_in_context(&header(5, 101), 4, 100, 5, Some(now), &p),
            Err(BlockError::WrongDifficulty {
                got: 4,
                required: 5
            })
        );
    }

    #[test]
    fn median_takes_the_middle_value() {
        assert_eq!(median(vec![5, 1, 3]), 3);
        assert_eq!(median(vec![4, 1, 3, 2]), 3);
        assert_eq!(median(vec![7]), 7);
    }
}
