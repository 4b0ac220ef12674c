//! Transactions: the posts of the chain, and their canonical binary encoding.
//!
//! A transaction is sealed: its id is computed once, from the canonical encoding, when it is
//! built, and its fields cannot change afterwards. Building one validates nothing; the
//! rules live in [`crate::validation`] so that every failure has its own error.
//!
//! Canonical encoding (all integers big-endian):
//! `"chainpost/tx/v1\0" | u32 len | author | u32 len | content | f64 bits timestamp | 0`
//! or the same ending in `1 | public key (32) | signature (64)`.
//! The signature covers `"chainpost/post/v1\0" | author | content | timestamp | public key`
//! in the same field encoding, so a signed post can be checked by anyone, byte for byte.

use ed25519_dalek::{Signer, SigningKey};

use crate::hash::{Hash256, TxId};

pub(crate) const TX_DOMAIN: &[u8] = b"chainpost/tx/v1\0";
const SIGNING_DOMAIN: &[u8] = b"chainpost/post/v1\0";

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
    /// Seals a post from its fields, computing its id.
    pub fn new(
        author: String,
        content: String,
        timestamp: f64,
        signature: Option<PostSignature>,
    ) -> Self {
        let encoded = encode(&author, &content, timestamp, signature.as_ref());
        Transaction {
            id: TxId(Hash256::digest(&encoded)),
            encoded_len: encoded.len(),
            author,
            content,
            timestamp,
            signature,
        }
    }

    pub fn signed(author: String, content: String, timestamp: f64, key: &SigningKey) -> Self {
        let public_key = key.verifying_key().to_bytes();
        let message = Self::signing_message(&author, &content, timestamp, &public_key);
        let signature = key.sign(&message).to_bytes();
        Self::new(
            author,
            content,
            timestamp,
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
        public_key: &[u8; 32],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + author.len() + content.len() + 48);
        out.extend_from_slice(SIGNING_DOMAIN);
        encode_fields(&mut out, author, content, timestamp);
        out.extend_from_slice(public_key);
        out
    }

    /// The canonical encoding whose SHA-256 is the id.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        encode(
            &self.author,
            &self.content,
            self.timestamp,
            self.signature.as_ref(),
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
) -> Vec<u8> {
    let mut out = Vec::with_capacity(TX_DOMAIN.len() + author.len() + content.len() + 120);
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
    out
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
        let message = Transaction::signing_message("alice", "hi", 10.0, &signed.public_key);
        assert!(
            key.verifying_key()
                .verify_strict(
                    &message,
                    &ed25519_dalek::Signature::from_bytes(&signed.signature)
                )
                .is_ok()
        );
    }
}
