//! Transactions: the posts of the chain, and their canonical binary encoding.
//!
//! A transaction is sealed: its id is computed once, from the canonical encoding, when it is
//! built, and its fields cannot change afterwards. Building one validates nothing; the
//! rules live in [`crate::validation`] so that every failure has its own error.
//!
//! Canonical encoding (all integers big-endian):
//! `"chainpost/tx/v1\0" | u32 len | author | u32 len | content | f64 bits timestamp | 0`
//! or the same ending in `1 | public key (32) | signature (64)`; then, by the post's
//! [`PostKind`], nothing (a post), `1 | the id of the post it replies to (32)` (a reply) or
//! `2 | u8 len | handle` (a profile).
//! The signature covers `"chainpost/post/v1\0" | author | content | timestamp | public key`
//! in the same field encoding, and the kind's bytes after it, so a signed post can be
//! checked by anyone, byte for byte, a signed reply cannot be moved to another thread and
//! a profile cannot be made to claim another handle.
//!
//! A plain post encodes exactly as before replies and profiles existed, so every id and
//! signature made then is unchanged. What a reply names is only an id: the post it
//! answers may be pending, on another branch or never seen, as a Nostr reply may name
//! an event its relay does not hold.

use ed25519_dalek::{Signer, SigningKey};

use crate::handle::Handle;
use crate::hash::{Hash256, TxId};

pub(crate) const TX_DOMAIN: &[u8] = b"chainpost/tx/v1\0";
const SIGNING_DOMAIN: &[u8] = b"chainpost/post/v1\0";
/// The tag after the signature of a reply; the id it replies to follows.
pub(crate) const REPLY_TAG: u8 = 1;
/// The tag after the signature of a profile; the handle it claims follows.
pub(crate) const PROFILE_TAG: u8 = 2;

/// What a post is besides its text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PostKind {
    /// A post of its own.
    #[default]
    Post,
    /// A reply to the post with this id.
    Reply(TxId),
    /// A key's profile (as Nostr's kind-0 event): the post's author is the display name,
    /// its content the bio, and it claims the handle. Only a signed post can be one
    /// ([`crate::validation::validate_transaction`]); a key's latest confirmed profile
    /// is the one that counts, and a handle belongs to the key whose claim confirmed first.
    Profile(Handle),
}

impl From<Option<TxId>> for PostKind {
    fn from(reply_to: Option<TxId>) -> Self {
        reply_to.map_or(PostKind::Post, PostKind::Reply)
    }
}

/// An Ed25519 public key and the signature it made over a post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostSignature {
    /// The author's Ed25519 public key.
    pub public_key: [u8; 32],
    /// The signature over [`Transaction::signing_message`].
    pub signature: [u8; 64],
}

/// A post: who wrote what, and when.
#[derive(Debug, Clone)]
pub struct Transaction {
    author: String,
    content: String,
    timestamp: f64,
    signature: Option<PostSignature>,
    kind: PostKind,
    id: TxId,
    encoded_len: usize,
}

impl PartialEq for Transaction {
    /// Equal ids mean equal canonical encodings, which mean equal fields.
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Transaction {}

impl Transaction {
    /// Seals a post that replies to nothing from its fields, computing its id.
    pub fn new(
        author: String,
        content: String,
        timestamp: f64,
        signature: Option<PostSignature>,
    ) -> Self {
        Self::with_reply_to(author, content, timestamp, None, signature)
    }

    /// Seals a post from its fields, a reply if `reply_to` names a post, computing its id.
    pub fn with_reply_to(
        author: String,
        content: String,
        timestamp: f64,
        reply_to: Option<TxId>,
        signature: Option<PostSignature>,
    ) -> Self {
        Self::of_kind(author, content, timestamp, reply_to.into(), signature)
    }

    /// Seals a post of any kind from its fields, computing its id.
    pub fn of_kind(
        author: String,
        content: String,
        timestamp: f64,
        kind: PostKind,
        signature: Option<PostSignature>,
    ) -> Self {
        let encoded = encode(&author, &content, timestamp, signature.as_ref(), &kind);
        Transaction {
            id: TxId(Hash256::digest(&encoded)),
            encoded_len: encoded.len(),
            author,
            content,
            timestamp,
            signature,
            kind,
        }
    }

    /// A post that replies to nothing, signed with `key`.
    pub fn signed(author: String, content: String, timestamp: f64, key: &SigningKey) -> Self {
        Self::signed_of_kind(author, content, timestamp, PostKind::Post, key)
    }

    /// A post signed with `key`, a reply if `reply_to` names a post.
    pub fn signed_reply(
        author: String,
        content: String,
        timestamp: f64,
        reply_to: Option<TxId>,
        key: &SigningKey,
    ) -> Self {
        Self::signed_of_kind(author, content, timestamp, reply_to.into(), key)
    }

    /// A post of any kind signed with `key`.
    pub fn signed_of_kind(
        author: String,
        content: String,
        timestamp: f64,
        kind: PostKind,
        key: &SigningKey,
    ) -> Self {
        let public_key = key.verifying_key().to_bytes();
        let message = Self::signing_message(&author, &content, timestamp, &kind, &public_key);
        let signature = key.sign(&message).to_bytes();
        Self::of_kind(
            author,
            content,
            timestamp,
            kind,
            Some(PostSignature {
                public_key,
                signature,
            }),
        )
    }

    /// The bytes an author signs: every field but the signature, under a domain tag.
    pub fn signing_message(
        author: &str,
        content: &str,
        timestamp: f64,
        kind: &PostKind,
        public_key: &[u8; 32],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + author.len() + content.len() + 81);
        out.extend_from_slice(SIGNING_DOMAIN);
        encode_fields(&mut out, author, content, timestamp);
        out.extend_from_slice(public_key);
        encode_kind(&mut out, kind);
        out
    }

    /// The canonical encoding whose SHA-256 is the id.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        encode(
            &self.author,
            &self.content,
            self.timestamp,
            self.signature.as_ref(),
            &self.kind,
        )
    }

    /// Who wrote the post (self-declared unless signed).
    pub fn author(&self) -> &str {
        &self.author
    }

    pub fn content(&self) -> &str {
        &self.content
    }

    /// When the post was made, in seconds since the Unix epoch.
    pub fn timestamp(&self) -> f64 {
        self.timestamp
    }

    pub fn signature(&self) -> Option<&PostSignature> {
        self.signature.as_ref()
    }

    /// What the post is besides its text.
    pub fn kind(&self) -> &PostKind {
        &self.kind
    }

    /// The post this one replies to, if it is a reply.
    pub fn reply_to(&self) -> Option<&TxId> {
        match &self.kind {
            PostKind::Reply(parent) => Some(parent),
            _ => None,
        }
    }

    /// The handle this post claims, if it is a profile.
    pub fn profile_handle(&self) -> Option<&Handle> {
        match &self.kind {
            PostKind::Profile(handle) => Some(handle),
            _ => None,
        }
    }

    /// The post's identity: SHA-256 of the canonical encoding.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// Length in bytes of the canonical encoding; what the post costs in a block.
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }
}

fn encode_fields(out: &mut Vec<u8>, author: &str, content: &str, timestamp: f64) {
    for text in [author, content] {
        // Lengths beyond u32 never pass validation; saturating keeps encoding total.
        let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(text.as_bytes());
    }
    out.extend_from_slice(&timestamp.to_bits().to_be_bytes());
}

fn encode(
    author: &str,
    content: &str,
    timestamp: f64,
    signature: Option<&PostSignature>,
    kind: &PostKind,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(TX_DOMAIN.len() + author.len() + content.len() + 153);
    out.extend_from_slice(TX_DOMAIN);
    encode_fields(&mut out, author, content, timestamp);
    match signature {
        None => out.push(0),
        Some(signed) => {
            out.push(1);
            out.extend_from_slice(&signed.public_key);
            out.extend_from_slice(&signed.signature);
        }
    }
    encode_kind(&mut out, kind);
    out
}

fn encode_kind(out: &mut Vec<u8>, kind: &PostKind) {
    match kind {
        PostKind::Post => {}
        PostKind::Reply(parent) => {
            out.push(REPLY_TAG);
            out.extend_from_slice(parent.as_bytes());
        }
        PostKind::Profile(handle) => {
            out.push(PROFILE_TAG);
            // A handle is at most 30 bytes (`Handle::parse`), so its length fits a byte.
            out.push(u8::try_from(handle.as_str().len()).unwrap_or(u8::MAX));
            out.extend_from_slice(handle.as_str().as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(author: &str, content: &str, timestamp: f64) -> Transaction {
        Transaction::new(author.into(), content.into(), timestamp, None)
    }

    #[test]
    fn id_is_the_hash_of_the_canonical_encoding() {
        let tx = post("alice", "hello", 1.5);
        assert_eq!(tx.id(), TxId(Hash256::digest(&tx.canonical_bytes())));
        assert_eq!(tx.encoded_len(), tx.canonical_bytes().len());
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        // Without length prefixes these two would encode the same bytes.
        assert_ne!(post("ab", "c", 1.0).id(), post("a", "bc", 1.0).id());
    }

    #[test]
    fn every_field_changes_the_id() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let base = Transaction::signed("alice".into(), "hi".into(), 10.0, &key);
        let other_key = SigningKey::from_bytes(&[8; 32]);
        let variants = [
            Transaction::signed("alicf".into(), "hi".into(), 10.0, &key),
            Transaction::signed("alice".into(), "hj".into(), 10.0, &key),
            Transaction::signed("alice".into(), "hi".into(), 10.5, &key),
            Transaction::signed("alice".into(), "hi".into(), 10.0, &other_key),
            Transaction::signed_reply("alice".into(), "hi".into(), 10.0, Some(base.id()), &key),
            post("alice", "hi", 10.0),
        ];
        for variant in variants {
            assert_ne!(variant.id(), base.id());
        }
    }

    #[test]
    fn the_signing_message_excludes_the_signature_but_binds_the_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let tx = Transaction::signed("alice".into(), "hi".into(), 10.0, &key);
        let signed = tx.signature().expect("signed");
        let message =
            Transaction::signing_message("alice", "hi", 10.0, &PostKind::Post, &signed.public_key);
        assert!(
            key.verifying_key()
                .verify_strict(
                    &message,
                    &ed25519_dalek::Signature::from_bytes(&signed.signature)
                )
                .is_ok()
        );
    }

    /// Pinned by an encoder outside this crate (Python's hashlib over the layout in the
    /// module comment), so that replies cannot have changed what a post without one is.
    #[test]
    fn a_post_that_replies_to_nothing_keeps_the_encoding_and_id_it_had_before_replies() {
        let tx = post("alice", "hello", 1.5);
        let mut expected = b"chainpost/tx/v1\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 5]);
        expected.extend_from_slice(b"alice");
        expected.extend_from_slice(&[0, 0, 0, 5]);
        expected.extend_from_slice(b"hello");
        expected.extend_from_slice(&1.5f64.to_bits().to_be_bytes());
        expected.push(0);
        assert_eq!(tx.canonical_bytes(), expected);
        assert_eq!(tx.id().to_string(), PINNED_ID);
    }

    const PINNED_ID: &str = "d20669ec25d25f4085e4ab0c4101acb6b463bdc95b445aa64dcc6069dd10f311";

    #[test]
    fn a_reply_names_its_parent_after_the_signature_and_the_signature_covers_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let parent = post("alice", "hello", 1.5).id();
        let other = post("bob", "hello", 1.5).id();
        let reply = Transaction::signed_reply("carol".into(), "hi".into(), 2.0, Some(parent), &key);
        assert_eq!(reply.reply_to(), Some(&parent));
        let bytes = reply.canonical_bytes();
        assert_eq!(bytes[bytes.len() - 33], REPLY_TAG);
        assert_eq!(&bytes[bytes.len() - 32..], parent.as_bytes());
        assert_eq!(reply.encoded_len(), bytes.len());
        let top_level = Transaction::signed("carol".into(), "hi".into(), 2.0, &key);
        assert_eq!(top_level.encoded_len() + 33, reply.encoded_len());
        assert_ne!(top_level.id(), reply.id());

        let signed = reply.signature().expect("signed");
        let verifies = |reply_to: Option<&TxId>| {
            let kind = PostKind::from(reply_to.copied());
            let message =
                Transaction::signing_message("carol", "hi", 2.0, &kind, &signed.public_key);
            key.verifying_key()
                .verify_strict(
                    &message,
                    &ed25519_dalek::Signature::from_bytes(&signed.signature),
                )
                .is_ok()
        };
        assert!(verifies(Some(&parent)));
        assert!(!verifies(Some(&other)), "moved to another thread");
        assert!(!verifies(None), "taken out of its thread");
    }

    #[test]
    fn a_profile_names_its_handle_after_the_signature_and_the_signature_covers_it() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let handle = |text: &str| Handle::parse(text).expect("a handle");
        let profile = Transaction::signed_of_kind(
            "Alice A.".into(),
            "I write things".into(),
            2.0,
            PostKind::Profile(handle("alice")),
            &key,
        );
        assert_eq!(profile.profile_handle(), Some(&handle("alice")));
        assert_eq!(profile.reply_to(), None);
        let bytes = profile.canonical_bytes();
        assert_eq!(&bytes[bytes.len() - 7..], b"\x02\x05alice");
        assert_eq!(profile.encoded_len(), bytes.len());
        let plain = Transaction::signed("Alice A.".into(), "I write things".into(), 2.0, &key);
        assert_eq!(plain.encoded_len() + 7, profile.encoded_len());

        let signed = profile.signature().expect("signed");
        let verifies = |kind: PostKind| {
            let message = Transaction::signing_message(
                "Alice A.",
                "I write things",
                2.0,
                &kind,
                &signed.public_key,
            );
            key.verifying_key()
                .verify_strict(
                    &message,
                    &ed25519_dalek::Signature::from_bytes(&signed.signature),
                )
                .is_ok()
        };
        assert!(verifies(PostKind::Profile(handle("alice"))));
        assert!(
            !verifies(PostKind::Profile(handle("alicf"))),
            "another handle"
        );
        assert!(!verifies(PostKind::Post), "no longer a profile");
    }
}
