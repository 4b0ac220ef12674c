//! `POST /new_transaction`: bodies that are not a post, posts that break a rule, and
//! signatures that do not hold. Replays of good posts are in [`super::replays`].

use chainpost_node::config::Config;
use ed25519_dalek::{SigningKey, VerifyingKey};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    BodyRow, Case, DIFFICULTY, THREE_HOURS, assert_all_refused_without_change, json_cases,
    node_with_history, now_f64, now_secs, oversized, peered, raw_cases,
};
use crate::helpers::signed_post;

const PATH: &str = "/new_transaction";

/// Bodies serde cannot read as a post, sent as raw bytes without a `Content-Type`, as the
/// tutorial's clients send them.
#[rustfmt::skip]
const UNREADABLE: &[BodyRow<&[u8]>] = &[
    ("malformed JSON", br#"{"author": "a", "content": }"#, "invalid JSON body"),
    ("truncated JSON", br#"{"author": "a", "content": "b""#, "EOF"),
    ("empty body", b"", "request body is empty"),
    ("whitespace-only body", b"  \n ", "EOF"),
    ("trailing garbage", br#"{"author": "a", "content": "b"} x"#, "trailing characters"),
    ("single-quoted JSON", b"{'author': 'a', 'content': 'b'}", "key must be a string"),
    ("form encoding", b"author=a&content=b", "expected value"),
    ("duplicate field", br#"{"author": "a", "author": "b", "content": "c"}"#, "duplicate field `author`"),
    ("timestamp 1e400 overflows f64", br#"{"author": "a", "content": "b", "timestamp": 1e400}"#, "number out of range"),
    ("timestamp NaN", br#"{"author": "a", "content": "b", "timestamp": NaN}"#, "expected value"),
    ("timestamp -1e400 overflows f64", br#"{"author": "a", "content": "b", "timestamp": -1e400}"#, "number out of range"),
    ("invalid UTF-8 inside a string", b"{\"author\": \"mal\xff\xfelory\", \"content\": \"hello\"}", "invalid unicode code point"),
    ("invalid UTF-8 outside strings", b"\xc3\x28{\"author\": \"a\", \"content\": \"b\"}", "expected value"),
    ("overlong UTF-8 encoding of '/'", b"{\"author\": \"\xc0\xaf\", \"content\": \"b\"}", "invalid unicode code point"),
    ("UTF-8 encoding of a surrogate", b"{\"author\": \"\xed\xa0\x80\", \"content\": \"b\"}", "invalid unicode code point"),
    ("lone surrogate escape", br#"{"author": "\ud800", "content": "b"}"#, "hex escape"),
    ("high surrogate escape followed by a letter", br#"{"author": "\ud800\u0041", "content": "b"}"#, "lone leading surrogate"),
];

/// Malformed bodies whose `Content-Type` claims something else: the label must not change
/// how the body is read. Rows: name, `Content-Type`, body, message.
#[rustfmt::skip]
const MISLABELLED: &[(&str, &str, &[u8], &str)] = &[
    ("malformed JSON labelled text/plain", "text/plain", b"{author}", "key must be a string"),
    ("malformed JSON labelled form data", "application/x-www-form-urlencoded", b"author=a", "expected value"),
];

/// JSON that is not an object with both fields.
#[rustfmt::skip]
fn not_a_post() -> Vec<BodyRow<'static, Value>> {
    vec![
        ("empty array", json!([]), "expected a JSON object, got an array"),
        ("number", json!(42), "expected a JSON object, got a number"),
        ("string", json!("hello"), "expected a JSON object, got a string"),
        ("null", Value::Null, "expected a JSON object, got null"),
        ("empty object", json!({}), "missing field `author`"),
        ("missing author", json!({ "content": "hello" }), "missing field `author`"),
        ("missing content", json!({ "author": "mallory" }), "missing field `content`"),
    ]
}

/// A good post with one field set to a bad value. Rows: name, field, value, message.
#[rustfmt::skip]
fn one_field_wrong(now: u64) -> Vec<(&'static str, &'static str, Value, &'static str)> {
    let own_public_key = hex::encode(key().verifying_key().to_bytes());
    vec![
        ("author is a number", "author", json!(5), "invalid type: integer `5`, expected a string"),
        ("author is null", "author", Value::Null, "invalid type: null, expected a string"),
        ("author is an object", "author", json!({ "name": "m" }), "invalid type: map, expected a string"),
        ("author is an array", "author", json!(["m"]), "invalid type: sequence, expected a string"),
        ("content is a number", "content", json!(1.5), "invalid type: floating point `1.5`, expected a string"),
        ("content is null", "content", Value::Null, "invalid type: null, expected a string"),
        ("content is an object", "content", json!({}), "invalid type: map, expected a string"),
        ("content is a boolean", "content", json!(true), "invalid type: boolean `true`, expected a string"),
        ("empty author", "author", json!(""), "author must not be empty"),
        ("whitespace-only author", "author", json!("   "), "author must not be empty"),
        ("empty content", "content", json!(""), "content must not be empty"),
        ("whitespace-only content", "content", json!(" \n\t "), "content must not be empty"),
        ("author of 65 characters", "author", json!("a".repeat(65)), "author is 65 characters long; the limit is 64"),
        ("author of 65 multi-byte characters", "author", json!("\u{e9}".repeat(65)), "author is 65 characters long"),
        ("content of 1001 characters", "content", json!("c".repeat(1001)), "content is 1001 characters long; the limit is 1000"),
        ("author of a million characters", "author", json!("a".repeat(1_000_000)), "author is 1000000 characters long"),
        ("content of a million characters", "content", json!("c".repeat(1_000_000)), "content is 1000000 characters long"),
        ("author with a newline", "author", json!("mal\nlory"), "control characters"),
        ("author with a NUL", "author", json!("mal\u{0}lory"), "control characters"),
        ("author with an escape", "author", json!("\u{1b}[31mred"), "control characters"),
        ("timestamp is a string", "timestamp", json!("now"), "invalid type: string \"now\", expected f64"),
        ("timestamp is an object", "timestamp", json!({}), "invalid type: map, expected f64"),
        ("negative timestamp", "timestamp", json!(-1.0), "not a non-negative number"),
        ("timestamp -0.0", "timestamp", json!(-0.0), "not a non-negative number"),
        ("timestamp three hours ahead", "timestamp", json!(now + THREE_HOURS), "too far in the future"),
        ("timestamp 1e308", "timestamp", json!(1e308), "too far in the future"),
        ("timestamp the largest float", "timestamp", json!(f64::MAX), "too far in the future"),
        ("timestamp zero", "timestamp", json!(0), "too far in the past"),
        ("timestamp 5e-324, the smallest float", "timestamp", json!(5e-324), "too far in the past"),
        ("timestamp 1000", "timestamp", json!(1000.0), "too far in the past"),
        ("timestamp three hours ago", "timestamp", json!(now - THREE_HOURS), "too far in the past"),
        ("public key without signature", "public_key", json!(own_public_key), "`public_key` and `signature` must be given together"),
        ("signature without public key", "signature", json!("00".repeat(64)), "`public_key` and `signature` must be given together"),
        ("reply_to not hex", "reply_to", json!("zz".repeat(32)), "field `reply_to` must be 32 bytes as 64 hexadecimal characters"),
        ("reply_to of 31 bytes", "reply_to", json!("ab".repeat(31)), "field `reply_to` must be 32 bytes"),
        ("reply_to is a number", "reply_to", json!(5), "invalid type: integer `5`, expected a string"),
    ]
}

/// A post whose public key or signature cannot even be checked. Rows: name, public key,
/// signature (both hex), message.
#[rustfmt::skip]
fn unusable_keys() -> Vec<(&'static str, String, String, &'static str)> {
    let own_public_key = hex::encode(key().verifying_key().to_bytes());
    let zeros = "00".repeat(64);
    vec![
        ("non-hex public key", "zz".repeat(32), zeros.clone(), "field `public_key` must be 32 bytes as 64 hexadecimal characters"),
        ("public key of 31 bytes", "ab".repeat(31), zeros.clone(), "field `public_key` must be 32 bytes"),
        ("signature of 63 bytes", own_public_key, "00".repeat(63), "field `signature` must be 64 bytes as 128 hexadecimal characters"),
        ("public key off the curve", hex::encode(not_a_curve_point()), zeros, "not a valid Ed25519 public key"),
    ]
}

/// Posts signed by a client and spoiled afterwards, or signed over bad content: the
/// signature must be checked against the post as sent, and a good signature must not
/// excuse a bad post.
#[rustfmt::skip]
const SPOILED_SIGNED: &[BodyRow<fn() -> Value>] = &[
    ("signature over other content", || with(signed("original"), "content", json!("altered after signing")), "signature does not match the post and public key"),
    ("signature by another key", || with(signed("hello"), "public_key", json!(hex::encode(other_key().verifying_key().to_bytes()))), "signature does not match"),
    ("non-canonical signature", || with(signed("hello"), "signature", json!("ff".repeat(64))), "signature does not match"),
    ("signed post moved into a thread", || with(signed("hello"), "reply_to", json!("11".repeat(32))), "signature does not match"),
    ("signed post without timestamp", || without(signed("hello"), "timestamp"), "must include the `timestamp` it signed"),
    ("signed post with an empty author", || signed_post(&key(), "", "hello", now_f64()), "author must not be empty"),
    ("signed, stamped three hours ago", || signed_post(&key(), "mallory", "hello", now_f64() - THREE_HOURS as f64), "too far in the past"),
];

/// The encodings of the eight points of small order, and non-canonical encodings of some
/// of them. Under such a key a forged signature verifies, unless weak keys are refused.
#[rustfmt::skip]
pub(super) const WEAK_PUBLIC_KEYS: [(&str, &str); 12] = [
    ("the identity", "0100000000000000000000000000000000000000000000000000000000000000"),
    ("order 2", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ("order 4", "0000000000000000000000000000000000000000000000000000000000000000"),
    ("order 4, the other sign", "0000000000000000000000000000000000000000000000000000000000000080"),
    ("order 8", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    ("order 8, the other sign", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    ("order 8, a second point", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    ("order 8, a second point, the other sign", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    ("the identity with the sign bit set (non-canonical)", "0100000000000000000000000000000000000000000000000000000000000080"),
    ("the identity as y = p + 1 (non-canonical)", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ("order 4 as y = p (non-canonical)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ("order 4 as y = p with the sign bit set (non-canonical)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
];

/// R = the identity and S = 0: with cofactored verification this "signs" anything under
/// every key of small order.
pub(super) const SIGNATURE_FORGED_FOR_WEAK_KEYS: &str = "0100000000000000000000000000000000000000000000000000000000000000\
     0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn malformed_posts_get_a_clear_400_and_change_nothing() {
    let (node, _peer) = node_with_history().await;
    let now = now_secs();
    let bad = StatusCode::BAD_REQUEST;
    let one_field_wrong: Vec<_> = one_field_wrong(now)
        .into_iter()
        .map(|(name, field, value, message)| (name, with(post(), field, value), message))
        .collect();
    let unusable_keys: Vec<_> = unusable_keys()
        .into_iter()
        .map(|(name, public_key, signature, message)| {
            (name, keyed(now, &public_key, &signature), message)
        })
        .collect();
    let spoiled_signed: Vec<_> = SPOILED_SIGNED
        .iter()
        .map(|&(name, build, message)| (name, build(), message))
        .collect();
    let weak_keys = WEAK_PUBLIC_KEYS.iter().map(|(kind, public_key)| {
        Case::json(
            &format!("weak public key: {kind}"),
            PATH,
            &keyed(now, public_key, SIGNATURE_FORGED_FOR_WEAK_KEYS),
            "public key is a weak (small-order) Ed25519 key",
        )
    });
    let mislabelled = MISLABELLED
        .iter()
        .map(|&(name, content_type, body, message)| {
            Case::raw(name, PATH, body, message).with_content_type(content_type)
        });
    let cases: Vec<Case> = [
        raw_cases(PATH, bad, UNREADABLE),
        raw_cases(
            PATH,
            bad,
            &[(
                "deeply nested, unterminated arrays",
                deeply_nested(),
                "EOF while parsing a list",
            )],
        ),
        raw_cases(
            PATH,
            StatusCode::PAYLOAD_TOO_LARGE,
            &[(
                "body over the size limit",
                oversized(br#"{"author": "mallory", "content": ""#, b'x'),
                "request body is too large",
            )],
        ),
        mislabelled.collect(),
        json_cases(PATH, bad, &not_a_post()),
        json_cases(PATH, bad, &one_field_wrong),
        json_cases(PATH, bad, &unusable_keys),
        weak_keys.collect(),
        json_cases(PATH, bad, &spoiled_signed),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_all_refused_without_change(&node, &cases).await;
}

#[tokio::test]
async fn a_signature_requiring_node_refuses_unsigned_posts_and_takes_signed_ones() {
    let (node, _peer) = peered(Config {
        require_signatures: true,
        ..Config::ephemeral(DIFFICULTY)
    })
    .await;
    let key = SigningKey::from_bytes(&[5; 32]);
    let forged = with(
        signed_post(&key, "erin", "signed", now_f64()),
        "author",
        json!("someone else"),
    );
    #[rustfmt::skip]
    let rows = [
        ("unsigned post", json!({ "author": "erin", "content": "unsigned" }), "this network requires signed posts; the post has no signature"),
        ("unsigned post with a timestamp", json!({ "author": "erin", "content": "unsigned", "timestamp": now_f64() }), "requires signed posts"),
        ("signed by erin, claimed by another", forged, "signature does not match"),
    ];
    let cases = json_cases(PATH, StatusCode::BAD_REQUEST, &rows);
    assert_all_refused_without_change(&node, &cases).await;

    let signed = signed_post(&key, "erin", "signed", now_f64());
    let response = node.post_json(PATH, &signed).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.expect("JSON body");
    let listed = node
        .get_json(&format!(
            "/transactions/{}",
            created["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(listed["status"], "pending", "{listed}");
    assert_eq!(listed["transaction"]["public_key"], signed["public_key"]);
    assert_eq!(listed["transaction"]["signature"], signed["signature"]);
}

/// The key the spoiled posts are signed with.
fn key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[8; 32])
}

/// A post by mallory with `content`, signed with [`key`] now.
fn signed(content: &str) -> Value {
    signed_post(&key(), "mallory", content, now_f64())
}

/// The unsigned post every one-field case starts from.
fn post() -> Value {
    json!({ "author": "mallory", "content": "hello" })
}

fn with(mut post: Value, field: &str, value: Value) -> Value {
    post[field] = value;
    post
}

fn without(mut post: Value, field: &str) -> Value {
    post.as_object_mut().expect("object").remove(field);
    post
}

/// A post stamped `now` with this public key and signature, both hex.
fn keyed(now: u64, public_key: &str, signature: &str) -> Value {
    json!({ "author": "m", "content": "c", "timestamp": now, "public_key": public_key, "signature": signature })
}

/// Unknown fields are skipped, however deep: the skipping must not overflow the stack.
fn deeply_nested() -> Vec<u8> {
    format!(
        r#"{{"author": "a", "content": "b", "extra": {}"#,
        "[".repeat(100_000)
    )
    .into_bytes()
}

/// A 32-byte encoding that is not a point of the curve at all.
fn not_a_curve_point() -> [u8; 32] {
    (2u8..=255)
        .map(|first| {
            let mut bytes = [0u8; 32];
            bytes[0] = first;
            bytes
        })
        .find(|bytes| VerifyingKey::from_bytes(bytes).is_err())
        .expect("about half of all encodings are not on the curve")
}
