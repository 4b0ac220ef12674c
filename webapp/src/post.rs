//! Posts as the web app handles them: the form a person submits, checked into the body of
//! `POST /new_transaction`, and the Ed25519 check that marks a listed post as verified.
//!
//! The signing message is the node's own (`Transaction::signing_message` from the node's
//! core), so the two can never disagree; `static/app.js` builds the same bytes in the
//! browser, which the browser tests check against a real node. Nothing here talks to a node.

use chainpost_chain::params::{MAX_AUTHOR_CHARS, MAX_CONTENT_CHARS};
use chainpost_chain::{Handle, Transaction, TxId};
use chainpost_wire::lenient::{BlockPlace, Post, PostStatus};
use chainpost_wire::{NewTransaction, post_kind};
use ed25519_dalek::{Signature, VerifyingKey};
use serde::Deserialize;

/// The fields of the post form, as typed. The signature fields are filled in by the
/// page's script; without JavaScript they arrive empty and the post goes unsigned.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct PostForm {
    #[serde(default)]
    pub(crate) author: String,
    #[serde(default)]
    pub(crate) content: String,
    /// The signed timestamp, seconds since the epoch as JavaScript printed it.
    #[serde(default)]
    timestamp: String,
    /// Hex Ed25519 public key.
    #[serde(default)]
    public_key: String,
    /// Hex Ed25519 signature.
    #[serde(default)]
    signature: String,
    /// Hex id of the post this one answers; empty for a post that starts a thread.
    #[serde(default)]
    pub(crate) reply_to: String,
    /// The handle a profile claims; empty for every other post. The profile form sends
    /// it, with the display name as `author` and the bio as `content`.
    #[serde(default)]
    pub(crate) handle: String,
}

/// An author as the web app names one: a signing key, the handle a key owns, or a name
/// that unsigned posts give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Author {
    Key([u8; 32]),
    Handle(Handle),
    Name(String),
}

impl Author {
    /// The author an address names: 64 hex digits are a key, `@` and a handle a handle,
    /// anything else a name.
    pub(crate) fn parse(text: &str) -> Self {
        let mut key = [0u8; 32];
        if text.len() == 64 && hex::decode_to_slice(text, &mut key).is_ok() {
            return Author::Key(key);
        }
        match text.strip_prefix('@').map(Handle::parse) {
            Some(Ok(handle)) => Author::Handle(handle),
            _ => Author::Name(text.to_owned()),
        }
    }
}

/// What is wrong with a submitted form, field by field, for display next to the form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct FormErrors {
    pub(crate) author: Option<String>,
    pub(crate) content: Option<String>,
    pub(crate) handle: Option<String>,
    /// About the post as a whole (signature, or the node's refusal).
    pub(crate) general: Option<String>,
}

impl FormErrors {
    pub(crate) fn general(message: impl Into<String>) -> Self {
        FormErrors {
            general: Some(message.into()),
            ..FormErrors::default()
        }
    }

    fn is_empty(&self) -> bool {
        self.author.is_none()
            && self.content.is_none()
            && self.handle.is_none()
            && self.general.is_none()
    }
}

impl PostForm {
    /// The form with line breaks as a browser's script sees them. Browsers send a
    /// textarea's line breaks as CRLF but sign (and show) `textarea.value` with LF, so
    /// signatures only verify once CRLF and lone CR become LF.
    pub(crate) fn normalized(self) -> Self {
        PostForm {
            author: normalize_newlines(&self.author),
            content: normalize_newlines(&self.content),
            handle: self.handle.trim().to_owned(),
            ..self
        }
    }

    /// The key the browser's script signed with, as sent (empty if it did not sign).
    pub(crate) fn signing_key(&self) -> &str {
        self.public_key.trim()
    }

    /// Whether this is the profile form.
    pub(crate) fn is_profile(&self) -> bool {
        !self.handle.is_empty()
    }

    /// The post to send to the node, or what the person must fix. Field rules are the
    /// node's, so most mistakes are caught before a round trip.
    pub(crate) fn to_new_transaction(&self) -> Result<NewTransaction, FormErrors> {
        let profile = self.is_profile();
        let mut errors = FormErrors {
            author: text_problem("author", &self.author, MAX_AUTHOR_CHARS),
            // A profile's content is its bio, which may be left empty.
            content: text_problem("content", &self.content, MAX_CONTENT_CHARS)
                .filter(|_| !(profile && self.content.trim().is_empty())),
            handle: match Handle::parse(&self.handle) {
                Err(problem) if profile => Some(format!("{problem}.")),
                _ => None,
            },
            general: None,
        };
        if errors.author.is_none() && self.author.chars().any(char::is_control) {
            errors.author = Some("The author must be a single line of text.".into());
        }
        let signed = match self.signed_fields() {
            Ok(signed) => signed,
            Err(problem) => {
                errors.general = Some(problem);
                None
            }
        };
        let reply_to = match self.reply_to() {
            Ok(reply_to) => reply_to,
            Err(problem) => {
                errors.general = Some(problem);
                None
            }
        };
        if profile && signed.is_none() && errors.general.is_none() {
            errors.general = Some(
                "A profile must be signed by your key, and this browser did not sign it: \
                 signing needs JavaScript and a secure address (https, or localhost)."
                    .into(),
            );
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let (timestamp, public_key, signature) = match signed {
            Some((timestamp, public_key, signature)) => {
                (Some(timestamp), Some(public_key), Some(signature))
            }
            None => (None, None, None),
        };
        Ok(NewTransaction {
            author: self.author.clone(),
            content: self.content.clone(),
            timestamp,
            public_key,
            signature,
            reply_to: reply_to.map(|id| id.to_string()),
            handle: profile.then(|| self.handle.clone()),
        })
    }

    /// The post this one answers, if any.
    pub(crate) fn reply_to(&self) -> Result<Option<TxId>, String> {
        match self.reply_to.trim() {
            "" => Ok(None),
            id => id.parse().map(Some).map_err(|_| {
                "The post you are answering is not named by a post id; go back to it and reply \
                 again."
                    .to_owned()
            }),
        }
    }

    /// The timestamp, key and signature when all three are given, none when none is.
    fn signed_fields(&self) -> Result<Option<(f64, String, String)>, String> {
        let fields = [&self.timestamp, &self.public_key, &self.signature];
        if fields.iter().all(|field| field.trim().is_empty()) {
            return Ok(None);
        }
        if fields.iter().any(|field| field.trim().is_empty()) {
            return Err(
                "The post's signature is incomplete; reload the page and try again.".into(),
            );
        }
        let timestamp = self
            .timestamp
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|t| t.is_finite() && *t >= 0.0)
            .ok_or("The post's signed time is not a valid time; reload the page and try again.")?;
        let public_key = self.public_key.trim().to_ascii_lowercase();
        let signature = self.signature.trim().to_ascii_lowercase();
        if !is_hex_of_len(&public_key, 32) || !is_hex_of_len(&signature, 64) {
            return Err(
                "The post's key or signature is malformed; reload the page and try again.".into(),
            );
        }
        Ok(Some((timestamp, public_key, signature)))
    }
}

fn text_problem(field: &str, text: &str, max_chars: usize) -> Option<String> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        Some(format!("Please write the {field}."))
    } else if chars > max_chars {
        Some(format!(
            "The {field} is {chars} characters long; at most {max_chars} fit in a block."
        ))
    } else {
        None
    }
}

fn normalize_newlines(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

fn is_hex_of_len(text: &str, bytes: usize) -> bool {
    text.len() == bytes * 2 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether a listed post's signature holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Authorship {
    /// No key and signature: anyone could have written it under that name.
    Unsigned,
    /// Signed by the holder of this hex public key.
    Verified {
        /// Hex Ed25519 public key.
        public_key: String,
    },
    /// Carries a key and signature that do not match; a chainpost node never accepts
    /// these, a tutorial-style node might.
    Invalid,
}

/// A post as a node listed it, with its signature checked. Only [`CheckedPost::check`]
/// makes one, so the views, which do no crypto, never show a badge nobody checked.
#[derive(Debug, Clone)]
pub(crate) struct CheckedPost {
    post: Post,
    authorship: Authorship,
    /// How many replies the node counts for it, when it says.
    reply_count: Option<u64>,
}

impl CheckedPost {
    /// Checks `post`'s signature. CPU-bound: callers check a page's posts on a blocking
    /// thread, where they fetched them.
    pub(crate) fn check(post: Post) -> Self {
        let authorship = authorship(&post);
        CheckedPost {
            post,
            authorship,
            reply_count: None,
        }
    }

    /// Checks a post as `/posts` or a thread lists it, keeping where it is: in its block,
    /// or pending (and whether a reorganization put it back).
    pub(crate) fn check_placed(status: PostStatus) -> (Self, Option<BlockPlace>) {
        let mut post = status.transaction;
        post.returned = status.returned;
        let checked = CheckedPost {
            reply_count: status.reply_count,
            ..CheckedPost::check(post)
        };
        (checked, status.block)
    }

    pub(crate) fn reply_count(&self) -> Option<u64> {
        self.reply_count
    }

    pub(crate) fn post(&self) -> &Post {
        &self.post
    }

    pub(crate) fn authorship(&self) -> &Authorship {
        &self.authorship
    }
}

/// Checks a post's signature as the node does (strict Ed25519 verification).
fn authorship(post: &Post) -> Authorship {
    let (Some(key_hex), Some(signature_hex)) = (&post.public_key, &post.signature) else {
        return Authorship::Unsigned;
    };
    let mut key = [0u8; 32];
    let mut signature = [0u8; 64];
    let decoded = hex::decode_to_slice(key_hex, &mut key).is_ok()
        && hex::decode_to_slice(signature_hex, &mut signature).is_ok();
    let kind = post_kind(post.reply_to.as_deref(), post.handle.as_deref());
    let (true, Some(timestamp), Ok(kind)) = (decoded, post.timestamp, kind) else {
        return Authorship::Invalid;
    };
    let Ok(verifying_key) = VerifyingKey::from_bytes(&key) else {
        return Authorship::Invalid;
    };
    let message = Transaction::signing_message(&post.author, &post.content, timestamp, &kind, &key);
    match verifying_key.verify_strict(&message, &Signature::from_bytes(&signature)) {
        Ok(()) => Authorship::Verified {
            public_key: key_hex.to_ascii_lowercase(),
        },
        Err(_) => Authorship::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(author: &str, content: &str) -> PostForm {
        PostForm {
            author: author.into(),
            content: content.into(),
            ..PostForm::default()
        }
    }

    #[test]
    fn an_empty_author_is_reported_on_the_author_field() {
        let errors = form("  ", "hello")
            .to_new_transaction()
            .expect_err("refused");
        assert!(errors.author.is_some());
        assert_eq!((errors.content, errors.general), (None, None));
    }

    #[test]
    fn a_profile_needs_a_handle_and_a_signature_but_no_bio() {
        let profile = |handle: &str, signed: bool| PostForm {
            handle: handle.into(),
            timestamp: if signed { "1.5".into() } else { String::new() },
            public_key: if signed {
                "ab".repeat(32)
            } else {
                String::new()
            },
            signature: if signed {
                "cd".repeat(64)
            } else {
                String::new()
            },
            ..form("Alice", "")
        };
        let sent = profile("alice", true)
            .normalized()
            .to_new_transaction()
            .expect("a signed profile with an empty bio");
        assert_eq!(sent.handle.as_deref(), Some("alice"));
        assert_eq!(sent.content, "");
        let unsigned = profile("alice", false)
            .to_new_transaction()
            .expect_err("refused");
        assert!(
            unsigned
                .general
                .is_some_and(|problem| problem.contains("must be signed"))
        );
        let bad = profile("Alice", true)
            .to_new_transaction()
            .expect_err("refused");
        assert!(bad.handle.is_some_and(|problem| problem.contains("a-z")));
        let padded = profile(" alice ", true).normalized();
        assert!(padded.is_profile());
        assert_eq!(
            padded
                .to_new_transaction()
                .expect("trimmed")
                .handle
                .as_deref(),
            Some("alice")
        );
        // A post is no profile, and still needs its content.
        let post = form("Alice", "").to_new_transaction().expect_err("refused");
        assert!(post.content.is_some());
        assert_eq!(post.handle, None);
    }

    #[test]
    fn too_long_content_says_how_long_it_is() {
        let errors = form("a", &"x".repeat(1001))
            .to_new_transaction()
            .expect_err("refused");
        assert!(errors.content.is_some_and(|m| m.contains("1001")));
    }

    #[test]
    fn a_half_signed_form_is_refused() {
        let mut half = form("a", "b");
        half.public_key = "00".repeat(32);
        let errors = half.to_new_transaction().expect_err("refused");
        assert!(errors.general.is_some());
    }

    #[test]
    fn browser_line_breaks_become_line_feeds() {
        let normalized = form("a", "one\r\ntwo\rthree").normalized();
        assert_eq!(normalized.content, "one\ntwo\nthree");
    }

    #[test]
    fn an_unsigned_form_becomes_an_unsigned_post() {
        let post = form("alice", "hi").to_new_transaction().expect("valid");
        assert_eq!(post.timestamp, None);
        assert_eq!(post.signature, None);
    }

    #[test]
    fn a_tampered_signature_is_not_verified() {
        let post = Post {
            author: "a".into(),
            content: "b".into(),
            timestamp: Some(1.0),
            id: None,
            public_key: Some("11".repeat(32)),
            signature: Some("22".repeat(64)),
            reply_to: None,
            handle: None,
            returned: false,
        };
        assert_eq!(authorship(&post), Authorship::Invalid);
        let unsigned = Post {
            public_key: None,
            signature: None,
            ..post
        };
        assert_eq!(authorship(&unsigned), Authorship::Unsigned);
    }

    #[test]
    fn a_signed_reply_is_verified_only_in_the_thread_it_signed() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
        let parent = Transaction::new("a".into(), "first".into(), 1.0, None).id();
        let reply = Transaction::signed_reply("b".into(), "second".into(), 2.0, Some(parent), &key);
        let signed = reply.signature().expect("signed");
        let post = Post {
            author: "b".into(),
            content: "second".into(),
            timestamp: Some(2.0),
            id: Some(reply.id().to_string()),
            public_key: Some(hex::encode(signed.public_key)),
            signature: Some(hex::encode(signed.signature)),
            reply_to: Some(parent.to_string()),
            handle: None,
            returned: false,
        };
        assert!(matches!(authorship(&post), Authorship::Verified { .. }));
        for reply_to in [None, Some(reply.id().to_string()), Some("zz".into())] {
            let moved = Post {
                reply_to,
                ..post.clone()
            };
            assert_eq!(authorship(&moved), Authorship::Invalid);
        }
    }
}
