//! Bad input of every kind: a 4xx with a JSON message, nothing changes, and the node keeps
//! serving. Peers that misbehave while a node talks to them are in [`hostile_peers`].

mod hostile_peers;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chainpost_chain::block::merkle_root;
use chainpost_chain::pow::meets_difficulty;
use chainpost_chain::{Block, BlockHeader};
use chainpost_node::api::MAX_BODY_BYTES;
use chainpost_node::config::Config;
use chainpost_wire::BlockJson;
use ed25519_dalek::{SigningKey, VerifyingKey};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Api, TestNode, signed_post};

/// The difficulty of every node here: cheap to mine, and shared so that nodes agree on
/// genesis and can exchange blocks.
const DIFFICULTY: u32 = 8;

/// Seconds the node lets a post's timestamp drift from its clock; three hours is beyond it.
const THREE_HOURS: u64 = 3 * 60 * 60;

/// One bad request and the answer it must get.
struct Case {
    name: String,
    method: Method,
    path: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    status: StatusCode,
    message: String,
}

impl Case {
    /// A request without a body.
    fn request(name: &str, method: Method, path: &str, status: StatusCode, message: &str) -> Self {
        Case {
            name: name.to_owned(),
            method,
            path: path.to_owned(),
            body: Vec::new(),
            content_type: None,
            status,
            message: message.to_owned(),
        }
    }

    /// A POST of raw bytes with no `Content-Type`, as the tutorial's peers send.
    fn raw(name: &str, path: &str, body: impl Into<Vec<u8>>, message: &str) -> Self {
        Case {
            body: body.into(),
            ..Case::request(name, Method::POST, path, StatusCode::BAD_REQUEST, message)
        }
    }

    /// A POST of a JSON value, labelled `application/json`.
    fn json(name: &str, path: &str, body: &Value, message: &str) -> Self {
        Case {
            content_type: Some("application/json"),
            ..Case::raw(name, path, body.to_string(), message)
        }
    }

    fn with_status(self, status: StatusCode) -> Self {
        Case { status, ..self }
    }

    fn with_content_type(self, content_type: &'static str) -> Self {
        Case {
            content_type: Some(content_type),
            ..self
        }
    }
}

/// What a client can observe of a node's state; bad input must leave all of it alone.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: Vec<(&'static str, Value)>,
    pending: Value,
    chain: Value,
    peers: Vec<String>,
}

async fn snapshot(api: &Api) -> Snapshot {
    let status = api.status().await;
    Snapshot {
        status: [
            "height",
            "length",
            "tip",
            "cumulative_work",
            "mempool_size",
            "mempool_bytes",
            "blocks_known",
            "orphans",
            "side_branch_bytes",
            "peer_candidates",
        ]
        .into_iter()
        .map(|field| (field, status[field].clone()))
        .collect(),
        pending: api.pending().await,
        chain: api.chain().await,
        peers: api.peers().await,
    }
}

/// Checks an answer has `status` and a body of exactly `{"error": "..."}` whose message
/// contains `message`; says what differs otherwise.
fn check_error(
    got_status: StatusCode,
    content_type: Option<&str>,
    body: &[u8],
    status: StatusCode,
    message: &str,
) -> Result<(), String> {
    let text = String::from_utf8_lossy(body);
    let shown: String = text.chars().take(300).collect();
    if got_status != status {
        return Err(format!(
            "expected {status}, got {got_status} with body {shown}"
        ));
    }
    if !content_type.is_some_and(|value| value.starts_with("application/json")) {
        return Err(format!(
            "Content-Type is {content_type:?}, not JSON; body {shown}"
        ));
    }
    let parsed: Value = serde_json::from_slice(body)
        .map_err(|error| format!("body is not JSON ({error}): {shown}"))?;
    let error = match parsed.as_object() {
        Some(object) if object.len() == 1 => object.get("error").and_then(Value::as_str),
        _ => None,
    };
    match error {
        Some(error) if error.contains(message) => Ok(()),
        Some(error) => Err(format!("message {error:?} does not mention {message:?}")),
        None => Err(format!("body is not {{\"error\": \"...\"}}: {shown}")),
    }
}

/// Asserts a response is the JSON error described, for the focused tests.
async fn assert_error(response: Response, status: StatusCode, message: &str) {
    let got_status = response.status();
    let content_type = header_text(&response);
    let body = response.bytes().await.expect("response body");
    if let Err(problem) = check_error(got_status, content_type.as_deref(), &body, status, message) {
        panic!("{problem}");
    }
}

fn header_text(response: &Response) -> Option<String> {
    response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// Sends every case and returns one line per case that was not answered as expected, so
/// a run reports all of them rather than the first.
async fn failed_cases(api: &Api, cases: &[Case]) -> Vec<String> {
    let mut names = HashSet::new();
    for case in cases {
        assert!(
            names.insert(&case.name),
            "case name {:?} is used twice",
            case.name
        );
    }
    let mut failures = Vec::new();
    for case in cases {
        let mut request = api.http.request(case.method.clone(), api.url(&case.path));
        if let Some(content_type) = case.content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        if !case.body.is_empty() {
            request = request.body(case.body.clone());
        }
        let outcome = match request.send().await {
            Ok(response) => {
                let status = response.status();
                let content_type = header_text(&response);
                match response.bytes().await {
                    Ok(body) => check_error(
                        status,
                        content_type.as_deref(),
                        &body,
                        case.status,
                        &case.message,
                    ),
                    Err(error) => Err(format!("reading the body failed: {error}")),
                }
            }
            Err(error) => Err(format!("request failed: {error}")),
        };
        if let Err(problem) = outcome {
            failures.push(format!(
                "{} ({} {}): {problem}",
                case.name, case.method, case.path
            ));
        }
    }
    failures
}

/// Runs the cases against a node and asserts each gets its error, none changes its chain,
/// mempool or peers, and the node still takes a post afterwards.
async fn assert_all_refused_without_change(api: &Api, cases: &[Case]) {
    let before = snapshot(api).await;
    let failures = failed_cases(api, cases).await;
    let after = snapshot(api).await;
    assert!(
        failures.is_empty(),
        "{} of {} bad requests were not answered as expected:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(after, before, "bad requests changed the node's state");
    assert_still_takes_posts(api).await;
}

/// Asserts the node still does its job: reading its state proves it answers, and a fresh
/// post (signed, so that signature-requiring nodes take it too) proves it still writes.
async fn assert_still_takes_posts(api: &Api) {
    static CHECKS: AtomicUsize = AtomicUsize::new(0);
    let check = CHECKS.fetch_add(1, Ordering::Relaxed);
    let key = SigningKey::from_bytes(&[42; 32]);
    let post = signed_post(&key, "after", &format!("still serving {check}"), now_f64());
    let response = api.post_json("/new_transaction", &post).await;
    let status = response.status();
    let body = response.text().await.expect("response body");
    assert_eq!(
        status,
        StatusCode::CREATED,
        "a valid post was refused: {body}"
    );
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs_f64()
}

/// A node started with `config` and registered with a peer of the same network, so "nothing
/// changed" covers a peer list that bad input could grow or shrink. The peer is returned
/// with it: it must keep running while the node is checked.
async fn peered(config: Config) -> (TestNode, TestNode) {
    let (node, peer) = tokio::join!(
        TestNode::spawn_with(config.clone()),
        TestNode::spawn_with(config)
    );
    node.register_with(&peer).await;
    (node, peer)
}

/// A peered node with one mined block and one pending post, so "nothing changed" compares
/// something more than genesis.
async fn node_with_history() -> (TestNode, TestNode) {
    let (node, peer) = peered(Config::ephemeral(DIFFICULTY)).await;
    node.post("alice", "mined before the bad input").await;
    node.mine().await;
    node.post("bob", "pending during the bad input").await;
    (node, peer)
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

/// `{"author", "content"}` with one field replaced.
fn post_with(field: &str, value: Value) -> Value {
    let mut body = json!({ "author": "mallory", "content": "hello" });
    body[field] = value;
    body
}

#[tokio::test]
async fn malformed_posts_get_a_clear_400_and_change_nothing() {
    let (node, _peer) = node_with_history().await;
    let key = SigningKey::from_bytes(&[7; 32]);
    let other_key = SigningKey::from_bytes(&[8; 32]);
    let now = now_secs();
    let path = "/new_transaction";

    let mut wrong_signature = signed_post(&key, "mallory", "original", now_f64());
    wrong_signature["content"] = json!("altered after signing");
    let mut someone_elses_key = signed_post(&key, "mallory", "hello", now_f64());
    someone_elses_key["public_key"] = json!(hex::encode(other_key.verifying_key().to_bytes()));
    let mut signed_without_timestamp = signed_post(&key, "mallory", "hello", now_f64());
    signed_without_timestamp
        .as_object_mut()
        .expect("object")
        .remove("timestamp");
    let signed_three_hours_ago =
        signed_post(&key, "mallory", "hello", now_f64() - THREE_HOURS as f64);
    let mut non_canonical_signature = signed_post(&key, "mallory", "hello", now_f64());
    non_canonical_signature["signature"] = json!("ff".repeat(64));
    let signed_with_bad_author = signed_post(&key, "", "hello", now_f64());
    let mut invalid_utf8_in_string = br#"{"author": "mal"#.to_vec();
    invalid_utf8_in_string.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8_in_string.extend_from_slice(br#"lory", "content": "hello"}"#);
    let mut invalid_utf8_outside = vec![0xc3, 0x28];
    invalid_utf8_outside.extend_from_slice(br#"{"author": "a", "content": "b"}"#);
    let mut oversized = br#"{"author": "mallory", "content": ""#.to_vec();
    oversized.resize(MAX_BODY_BYTES + 1, b'x');
    // Unknown fields are skipped, however deep: the skipping must not overflow the stack.
    let deeply_nested = format!(
        r#"{{"author": "a", "content": "b", "extra": {}"#,
        "[".repeat(100_000)
    );

    let mut cases = vec![
        Case::raw(
            "malformed JSON",
            path,
            r#"{"author": "a", "content": }"#,
            "invalid JSON body",
        ),
        Case::raw(
            "truncated JSON",
            path,
            r#"{"author": "a", "content": "b""#,
            "EOF",
        ),
        Case::raw("empty body", path, "", "request body is empty"),
        Case::raw("whitespace-only body", path, "  \n ", "EOF"),
        Case::raw(
            "trailing garbage",
            path,
            r#"{"author": "a", "content": "b"} x"#,
            "trailing characters",
        ),
        Case::raw(
            "single-quoted JSON",
            path,
            "{'author': 'a', 'content': 'b'}",
            "key must be a string",
        ),
        Case::raw(
            "form encoding",
            path,
            "author=a&content=b",
            "expected value",
        ),
        Case::raw(
            "duplicate field",
            path,
            r#"{"author": "a", "author": "b", "content": "c"}"#,
            "duplicate field `author`",
        ),
        Case::raw(
            "deeply nested, unterminated arrays",
            path,
            deeply_nested,
            "EOF while parsing a list",
        ),
        Case::json(
            "empty array",
            path,
            &json!([]),
            "expected a JSON object, got an array",
        ),
        Case::json(
            "number",
            path,
            &json!(42),
            "expected a JSON object, got a number",
        ),
        Case::json(
            "string",
            path,
            &json!("hello"),
            "expected a JSON object, got a string",
        ),
        Case::json(
            "null",
            path,
            &Value::Null,
            "expected a JSON object, got null",
        ),
        Case::json("empty object", path, &json!({}), "missing field `author`"),
        Case::json(
            "missing author",
            path,
            &json!({ "content": "hello" }),
            "missing field `author`",
        ),
        Case::json(
            "missing content",
            path,
            &json!({ "author": "mallory" }),
            "missing field `content`",
        ),
        Case::json(
            "author is a number",
            path,
            &post_with("author", json!(5)),
            "invalid type: integer `5`, expected a string",
        ),
        Case::json(
            "author is null",
            path,
            &post_with("author", Value::Null),
            "invalid type: null, expected a string",
        ),
        Case::json(
            "author is an object",
            path,
            &post_with("author", json!({ "name": "m" })),
            "invalid type: map, expected a string",
        ),
        Case::json(
            "author is an array",
            path,
            &post_with("author", json!(["m"])),
            "invalid type: sequence, expected a string",
        ),
        Case::json(
            "content is a number",
            path,
            &post_with("content", json!(1.5)),
            "invalid type: floating point `1.5`, expected a string",
        ),
        Case::json(
            "content is null",
            path,
            &post_with("content", Value::Null),
            "invalid type: null, expected a string",
        ),
        Case::json(
            "content is an object",
            path,
            &post_with("content", json!({})),
            "invalid type: map, expected a string",
        ),
        Case::json(
            "content is a boolean",
            path,
            &post_with("content", json!(true)),
            "invalid type: boolean `true`, expected a string",
        ),
        Case::json(
            "empty author",
            path,
            &post_with("author", json!("")),
            "author must not be empty",
        ),
        Case::json(
            "whitespace-only author",
            path,
            &post_with("author", json!("   ")),
            "author must not be empty",
        ),
        Case::json(
            "empty content",
            path,
            &post_with("content", json!("")),
            "content must not be empty",
        ),
        Case::json(
            "whitespace-only content",
            path,
            &post_with("content", json!(" \n\t ")),
            "content must not be empty",
        ),
        Case::json(
            "author of 65 characters",
            path,
            &post_with("author", json!("a".repeat(65))),
            "author is 65 characters long; the limit is 64",
        ),
        Case::json(
            "author of 65 multi-byte characters",
            path,
            &post_with("author", json!("\u{e9}".repeat(65))),
            "author is 65 characters long",
        ),
        Case::json(
            "content of 1001 characters",
            path,
            &post_with("content", json!("c".repeat(1001))),
            "content is 1001 characters long; the limit is 1000",
        ),
        Case::json(
            "author with a newline",
            path,
            &post_with("author", json!("mal\nlory")),
            "control characters",
        ),
        Case::json(
            "author with a NUL",
            path,
            &post_with("author", json!("mal\u{0}lory")),
            "control characters",
        ),
        Case::json(
            "author with an escape",
            path,
            &post_with("author", json!("\u{1b}[31mred")),
            "control characters",
        ),
        Case::json(
            "timestamp is a string",
            path,
            &post_with("timestamp", json!("now")),
            "invalid type: string \"now\", expected f64",
        ),
        Case::json(
            "timestamp is an object",
            path,
            &post_with("timestamp", json!({})),
            "invalid type: map, expected f64",
        ),
        Case::json(
            "negative timestamp",
            path,
            &post_with("timestamp", json!(-1.0)),
            "not a non-negative number",
        ),
        Case::json(
            "timestamp three hours ahead",
            path,
            &post_with("timestamp", json!(now + THREE_HOURS)),
            "too far in the future",
        ),
        Case::json(
            "timestamp 1e308",
            path,
            &post_with("timestamp", json!(1e308)),
            "too far in the future",
        ),
        Case::json(
            "timestamp zero",
            path,
            &post_with("timestamp", json!(0)),
            "too far in the past",
        ),
        Case::json(
            "timestamp 1000",
            path,
            &post_with("timestamp", json!(1000.0)),
            "too far in the past",
        ),
        Case::json(
            "timestamp three hours ago",
            path,
            &post_with("timestamp", json!(now - THREE_HOURS)),
            "too far in the past",
        ),
        Case::raw(
            "timestamp 1e400 overflows f64",
            path,
            r#"{"author": "a", "content": "b", "timestamp": 1e400}"#,
            "number out of range",
        ),
        Case::raw(
            "timestamp NaN",
            path,
            r#"{"author": "a", "content": "b", "timestamp": NaN}"#,
            "expected value",
        ),
        Case::raw(
            "timestamp -1e400 overflows f64",
            path,
            r#"{"author": "a", "content": "b", "timestamp": -1e400}"#,
            "number out of range",
        ),
        Case::raw(
            "invalid UTF-8 inside a string",
            path,
            invalid_utf8_in_string,
            "invalid unicode code point",
        ),
        Case::raw(
            "invalid UTF-8 outside strings",
            path,
            invalid_utf8_outside,
            "expected value",
        ),
        Case::json(
            "public key without signature",
            path,
            &post_with(
                "public_key",
                json!(hex::encode(key.verifying_key().to_bytes())),
            ),
            "`public_key` and `signature` must be given together",
        ),
        Case::json(
            "signature without public key",
            path,
            &post_with("signature", json!("00".repeat(64))),
            "`public_key` and `signature` must be given together",
        ),
        Case::json(
            "non-hex public key",
            path,
            &json!({ "author": "m", "content": "c", "timestamp": now, "public_key": "zz".repeat(32), "signature": "00".repeat(64) }),
            "field `public_key` must be 32 bytes as 64 hexadecimal characters",
        ),
        Case::json(
            "public key of 31 bytes",
            path,
            &json!({ "author": "m", "content": "c", "timestamp": now, "public_key": "ab".repeat(31), "signature": "00".repeat(64) }),
            "field `public_key` must be 32 bytes",
        ),
        Case::json(
            "signature of 63 bytes",
            path,
            &json!({ "author": "m", "content": "c", "timestamp": now, "public_key": hex::encode(key.verifying_key().to_bytes()), "signature": "00".repeat(63) }),
            "field `signature` must be 64 bytes as 128 hexadecimal characters",
        ),
        Case::json(
            "signature over other content",
            path,
            &wrong_signature,
            "signature does not match the post and public key",
        ),
        Case::json(
            "signature by another key",
            path,
            &someone_elses_key,
            "signature does not match",
        ),
        Case::json(
            "non-canonical signature",
            path,
            &non_canonical_signature,
            "signature does not match",
        ),
        Case::json(
            "signed post without timestamp",
            path,
            &signed_without_timestamp,
            "must include the `timestamp` it signed",
        ),
        Case::json(
            "signed post with an empty author",
            path,
            &signed_with_bad_author,
            "author must not be empty",
        ),
        Case::json(
            "public key off the curve",
            path,
            &json!({ "author": "m", "content": "c", "timestamp": now, "public_key": hex::encode(not_a_curve_point()), "signature": "00".repeat(64) }),
            "not a valid Ed25519 public key",
        ),
        Case::raw(
            "body over the size limit",
            path,
            oversized,
            "request body is too large",
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        Case::raw(
            "malformed JSON labelled text/plain",
            path,
            "{author}",
            "key must be a string",
        )
        .with_content_type("text/plain"),
        Case::raw(
            "malformed JSON labelled form data",
            path,
            "author=a",
            "expected value",
        )
        .with_content_type("application/x-www-form-urlencoded"),
        Case::json(
            "signed, stamped three hours ago",
            path,
            &signed_three_hours_ago,
            "too far in the past",
        ),
        Case::json(
            "timestamp -0.0",
            path,
            &post_with("timestamp", json!(-0.0)),
            "not a non-negative number",
        ),
        Case::json(
            "timestamp 5e-324, the smallest float",
            path,
            &post_with("timestamp", json!(5e-324)),
            "too far in the past",
        ),
        Case::json(
            "timestamp the largest float",
            path,
            &post_with("timestamp", json!(f64::MAX)),
            "too far in the future",
        ),
        Case::raw(
            "overlong UTF-8 encoding of '/'",
            path,
            b"{\"author\": \"\xc0\xaf\", \"content\": \"b\"}".to_vec(),
            "invalid unicode code point",
        ),
        Case::raw(
            "UTF-8 encoding of a surrogate",
            path,
            b"{\"author\": \"\xed\xa0\x80\", \"content\": \"b\"}".to_vec(),
            "invalid unicode code point",
        ),
        Case::raw(
            "lone surrogate escape",
            path,
            r#"{"author": "\ud800", "content": "b"}"#,
            "hex escape",
        ),
        Case::raw(
            "high surrogate escape followed by a letter",
            path,
            r#"{"author": "\ud800\u0041", "content": "b"}"#,
            "lone leading surrogate",
        ),
        Case::json(
            "author of a million characters",
            path,
            &post_with("author", json!("a".repeat(1_000_000))),
            "author is 1000000 characters long",
        ),
        Case::json(
            "content of a million characters",
            path,
            &post_with("content", json!("c".repeat(1_000_000))),
            "content is 1000000 characters long",
        ),
    ];
    cases.extend(WEAK_PUBLIC_KEYS.iter().map(|(kind, public_key)| {
        Case::json(
            &format!("weak public key: {kind}"),
            path,
            &json!({ "author": "m", "content": "c", "timestamp": now, "public_key": public_key, "signature": SIGNATURE_FORGED_FOR_WEAK_KEYS }),
            "public key is a weak (small-order) Ed25519 key",
        )
    }));
    assert!(cases.len() >= 60, "{} cases", cases.len());
    assert_all_refused_without_change(&node, &cases).await;
}

/// The encodings of the eight points of small order, and non-canonical encodings of some
/// of them. Under such a key a forged signature verifies, unless weak keys are refused.
const WEAK_PUBLIC_KEYS: [(&str, &str); 12] = [
    (
        "the identity",
        "0100000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "order 2",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "order 4",
        "0000000000000000000000000000000000000000000000000000000000000000",
    ),
    (
        "order 4, the other sign",
        "0000000000000000000000000000000000000000000000000000000000000080",
    ),
    (
        "order 8",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    ),
    (
        "order 8, the other sign",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    ),
    (
        "order 8, a second point",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    ),
    (
        "order 8, a second point, the other sign",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    ),
    (
        "the identity with the sign bit set (non-canonical)",
        "0100000000000000000000000000000000000000000000000000000000000080",
    ),
    (
        "the identity as y = p + 1 (non-canonical)",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "order 4 as y = p (non-canonical)",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ),
    (
        "order 4 as y = p with the sign bit set (non-canonical)",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ),
];

/// R = the identity and S = 0: with cofactored verification this "signs" anything under
/// every key of small order.
const SIGNATURE_FORGED_FOR_WEAK_KEYS: &str = "0100000000000000000000000000000000000000000000000000000000000000\
     0000000000000000000000000000000000000000000000000000000000000000";

#[tokio::test]
async fn replayed_posts_are_refused_however_they_are_spelled() {
    let (node, _peer) = peered(Config::ephemeral(DIFFICULTY)).await;
    let key = SigningKey::from_bytes(&[3; 32]);
    let confirmed_signed = signed_post(&key, "carol", "confirmed, signed", now_f64());
    let confirmed_unsigned =
        json!({ "author": "dave", "content": "confirmed, unsigned", "timestamp": now_f64() });
    for post in [&confirmed_signed, &confirmed_unsigned] {
        let response = node.post_json("/new_transaction", post).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(node.mine().await, "Block #1 is mined.");
    let pending_signed = signed_post(&key, "carol", "pending, signed", now_f64());
    let pending_unsigned =
        json!({ "author": "erin", "content": "pending, unsigned", "timestamp": now_f64() });
    let mut pending_id = String::new();
    for post in [&pending_signed, &pending_unsigned] {
        let response = node.post_json("/new_transaction", post).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let created: Value = response.json().await.expect("JSON body");
        pending_id = created["id"].as_str().expect("id").to_owned();
    }
    let listed = |list: &Value, content: &str| {
        list.as_array()
            .expect("array")
            .iter()
            .find(|tx| tx["content"] == content)
            .cloned()
            .expect("the post is listed")
    };
    let pending_as_listed = listed(&node.pending().await, "pending, signed");
    let confirmed_as_listed = listed(
        &node.chain().await["chain"][1]["transactions"],
        "confirmed, signed",
    );
    let field = |name: &str| pending_signed[name].to_string();
    let reordered_and_spaced = format!(
        "\n {{ \"signature\" : {}, \"timestamp\":{},\t\"public_key\": {}, \"content\": {}, \"author\": {} }}\n",
        field("signature"),
        field("timestamp"),
        field("public_key"),
        field("content"),
        field("author")
    );
    let path = "/new_transaction";
    let conflict = |case: Case| case.with_status(StatusCode::CONFLICT);
    let cases = vec![
        conflict(Case::json(
            "pending signed post, replayed",
            path,
            &pending_signed,
            "is already pending",
        )),
        conflict(Case::raw(
            "pending signed post without a Content-Type",
            path,
            pending_signed.to_string(),
            "is already pending",
        )),
        conflict(Case::raw(
            "pending signed post, fields reordered and spaced",
            path,
            reordered_and_spaced,
            "is already pending",
        )),
        conflict(Case::json(
            "pending signed post as /pending_tx lists it",
            path,
            &pending_as_listed,
            "is already pending",
        )),
        conflict(Case::json(
            "pending unsigned post with its timestamp",
            path,
            &pending_unsigned,
            &format!("transaction {pending_id} is already pending"),
        )),
        conflict(Case::json(
            "confirmed signed post, replayed",
            path,
            &confirmed_signed,
            "is already in block #1",
        )),
        conflict(Case::json(
            "confirmed signed post as /chain lists it",
            path,
            &confirmed_as_listed,
            "is already in block #1",
        )),
        conflict(Case::json(
            "confirmed unsigned post with its timestamp",
            path,
            &confirmed_unsigned,
            "is already in block #1",
        )),
    ];
    assert_all_refused_without_change(&node, &cases).await;
}

#[tokio::test]
async fn bad_peer_addresses_and_registration_bodies_change_no_peer() {
    let (node, _peer) = node_with_history().await;
    let own = node.base.as_str();
    let own_in_capitals = format!("{}/", own.replacen("http", "HTTP", 1));
    let mut oversized = br#"{"node_address": "http://"#.to_vec();
    oversized.resize(MAX_BODY_BYTES + 1, b'a');
    let mut invalid_utf8 = br#"{"node_address": "http://"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#":1"}"#);

    let mut cases = Vec::new();
    for path in ["/register_node", "/register_with"] {
        let address = |name: &str, address: &str, message: &str| {
            Case::json(
                &format!("{path}: {name}"),
                path,
                &json!({ "node_address": address }),
                message,
            )
        };
        let body = |name: &str, body: &Value, message: &str| {
            Case::json(&format!("{path}: {name}"), path, body, message)
        };
        cases.extend([
            address(
                "ftp scheme",
                "ftp://127.0.0.1:21",
                "http or https, not \"ftp\"",
            ),
            address("file scheme", "file:///etc/passwd", "not \"file\""),
            address(
                "javascript scheme",
                "javascript:alert(1)",
                "not \"javascript\"",
            ),
            address("data scheme", "data:text/plain,hi", "not \"data\""),
            address("websocket scheme", "ws://127.0.0.1:1", "not \"ws\""),
            address(
                "unix socket scheme",
                "http+unix://%2Ftmp%2Fsock",
                "not \"http+unix\"",
            ),
            address(
                "user and password",
                "http://user:secret@127.0.0.1:1",
                "must not contain credentials",
            ),
            address(
                "user only",
                "http://user@127.0.0.1:1",
                "must not contain credentials",
            ),
            address("query", "http://127.0.0.1:1/?q=1", "must not have a query"),
            address("fragment", "http://127.0.0.1:1/#top", "or fragment"),
            address("not a URL", "not a url", "is not a URL"),
            address("empty", "", "is not a URL"),
            address("scheme without host", "http://", "is not a URL"),
            address("port past 65535", "http://127.0.0.1:99999", "is not a URL"),
            address("unterminated IPv6 host", "http://[::1:80", "is not a URL"),
            address("own address", own, "a node cannot be its own peer"),
            address(
                "own address in capitals with a slash",
                &own_in_capitals,
                "a node cannot be its own peer",
            ),
            body(
                "address is a number",
                &json!({ "node_address": 8000 }),
                "invalid type: integer",
            ),
            body(
                "address is null",
                &json!({ "node_address": null }),
                "invalid type: null",
            ),
            body(
                "address is a list",
                &json!({ "node_address": ["http://127.0.0.1:9"] }),
                "invalid type: sequence",
            ),
            body(
                "address is an object",
                &json!({ "node_address": { "url": "http://127.0.0.1:9" } }),
                "invalid type: map",
            ),
            body(
                "address under another name",
                &json!({ "address": "http://127.0.0.1:9" }),
                "missing field `node_address`",
            ),
            Case::raw(
                &format!("{path}: invalid UTF-8 in the address"),
                path,
                invalid_utf8.clone(),
                "invalid unicode code point",
            ),
            Case::raw(
                &format!("{path}: not JSON"),
                path,
                "node_address=http://127.0.0.1:9",
                "invalid JSON body",
            ),
            Case::raw(
                &format!("{path}: empty body"),
                path,
                "",
                "request body is empty",
            ),
            Case::raw(
                &format!("{path}: body over the size limit"),
                path,
                oversized.clone(),
                "request body is too large",
            )
            .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        ]);
    }
    assert_all_refused_without_change(&node, &cases).await;
}

/// hyper answers a request line or a header block beyond its limits itself, before any
/// handler runs, so these answers carry no JSON body; they must still change nothing.
#[tokio::test]
async fn requests_beyond_the_http_parsers_limits_are_refused_and_change_nothing() {
    let (node, _peer) = node_with_history().await;
    let before = snapshot(&node).await;
    // Longer than any URI the client library will send, so it goes out on a raw socket.
    let long_uri = format!(
        "POST /add_block?{} HTTP/1.1\r\nHost: node\r\nContent-Length: 2\r\n\r\n{{}}",
        "a".repeat(100_000)
    );
    let mut socket = tokio::net::TcpStream::connect(node.base.trim_start_matches("http://"))
        .await
        .expect("connect");
    socket
        .write_all(long_uri.as_bytes())
        .await
        .expect("request sent");
    let mut status_line = [0u8; 12];
    socket
        .read_exact(&mut status_line)
        .await
        .expect("an answer");
    assert_eq!(&status_line, b"HTTP/1.1 414");

    let mut many_headers = node.http.post(node.url("/new_transaction"));
    for i in 0..200 {
        many_headers = many_headers.header(format!("x-filler-{i}"), "v");
    }
    let many_headers = many_headers
        .body(r#"{"author": "a", "content": "b"}"#)
        .send()
        .await
        .expect("request sent");
    assert_eq!(
        many_headers.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    assert_eq!(snapshot(&node).await, before);
    assert_still_takes_posts(&node).await;
}

/// A peer address is stored, persisted and sent back in every `/chain` answer, so it must be
/// bounded: a host name can be no longer than 253 characters.
#[tokio::test]
async fn an_oversized_peer_address_is_refused() {
    let (node, _peer) = node_with_history().await;
    let huge_host = format!("http://{}.example:8000", "a".repeat(100_000));
    let cases = vec![Case::json(
        "a host name of 100,000 characters",
        "/register_node",
        &json!({ "node_address": huge_host }),
        "peer address",
    )];
    assert_all_refused_without_change(&node, &cases).await;
}

#[tokio::test]
async fn bad_queries_paths_and_methods_get_json_errors() {
    let (node, _peer) = node_with_history().await;
    let zeros = "0".repeat(64);
    let get = |name: &str, path: &str, status: StatusCode, message: &str| {
        Case::request(name, Method::GET, path, status, message)
    };
    let bad = StatusCode::BAD_REQUEST;
    let cases = vec![
        get("negative from", "/chain?from=-1", bad, "from"),
        get("from is a word", "/chain?from=tip", bad, "from"),
        get("from is a fraction", "/chain?from=1.5", bad, "from"),
        get(
            "from past u64",
            "/chain?from=18446744073709551616",
            bad,
            "from",
        ),
        get("limit is a word", "/chain?limit=abc", bad, "limit"),
        get("negative limit", "/chain?limit=-5", bad, "limit"),
        get(
            "limit over a page",
            "/chain?limit=100000",
            bad,
            "limit 100000 is too large; at most 1000",
        ),
        get(
            "limit just over a page",
            "/chain?from=0&limit=1001",
            bad,
            "limit 1001 is too large",
        ),
        get(
            "from given twice",
            "/chain?from=1&from=2",
            bad,
            "duplicate field `from`",
        ),
        get(
            "block hash not hex",
            "/blocks/nothex",
            bad,
            "block hash: expected 64 hexadecimal characters",
        ),
        get(
            "block hash too short",
            "/blocks/abcd",
            bad,
            "expected 64 hexadecimal characters",
        ),
        get(
            "block hash too long",
            &format!("/blocks/{zeros}0"),
            bad,
            "expected 64 hexadecimal characters",
        ),
        get("block hash with invalid UTF-8", "/blocks/%FF", bad, "UTF-8"),
        get(
            "transaction id not hex",
            "/transactions/nothex",
            bad,
            "transaction id: expected 64 hexadecimal characters",
        ),
        get(
            "transaction id of 64 non-hex characters",
            &format!("/transactions/{}", "g".repeat(64)),
            bad,
            "transaction id",
        ),
        get(
            "unknown block",
            &format!("/blocks/{zeros}"),
            StatusCode::NOT_FOUND,
            &format!("no block {zeros}"),
        ),
        get(
            "unknown transaction",
            &format!("/transactions/{zeros}"),
            StatusCode::NOT_FOUND,
            &format!("no pending or confirmed transaction {zeros}"),
        ),
        get(
            "unknown path",
            "/nope",
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
        get(
            "blocks without a hash",
            "/blocks/",
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
        get(
            "path below a leaf",
            "/chain/1",
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
        Case::raw(
            "POST to an unknown path",
            "/new_transactions",
            r#"{"author": "a", "content": "b"}"#,
            "no such endpoint",
        )
        .with_status(StatusCode::NOT_FOUND),
        Case::request(
            "DELETE /chain",
            Method::DELETE,
            "/chain",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        get(
            "GET /new_transaction",
            "/new_transaction",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        get(
            "GET /add_block",
            "/add_block",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        Case::raw("POST /mine", "/mine", "{}", "method not allowed")
            .with_status(StatusCode::METHOD_NOT_ALLOWED),
        Case::raw("POST /chain", "/chain", "{}", "method not allowed")
            .with_status(StatusCode::METHOD_NOT_ALLOWED),
        Case::request(
            "PUT /add_block",
            Method::PUT,
            "/add_block",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        Case::request(
            "DELETE a transaction",
            Method::DELETE,
            &format!("/transactions/{zeros}"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        get("tree from a negative height", "/tree?from=-1", bad, "from"),
        get(
            "tree from past u64",
            "/tree?from=18446744073709551616",
            bad,
            "number too large",
        ),
        get("tree from a word", "/tree?from=top", bad, "from"),
        get("chain from invalid UTF-8", "/chain?from=%FF", bad, "from"),
        get(
            "limit past u64",
            "/chain?limit=18446744073709551616",
            bad,
            "limit",
        ),
        get(
            "transaction id with invalid UTF-8",
            "/transactions/%FF%FE",
            bad,
            "UTF-8",
        ),
        get(
            "block hash of 20,000 characters",
            &format!("/blocks/{}", "ab".repeat(10_000)),
            bad,
            "expected 64 hexadecimal characters",
        ),
        // The query is refused before the body is read: the address must not be added.
        Case::json(
            "include_chain that is not a boolean",
            "/register_node?include_chain=maybe",
            &json!({ "node_address": "http://127.0.0.1:9" }),
            "include_chain",
        ),
        Case::raw("POST /metrics", "/metrics", "{}", "method not allowed")
            .with_status(StatusCode::METHOD_NOT_ALLOWED),
        Case::raw(
            "POST /nodes/resolve",
            "/nodes/resolve",
            "{}",
            "method not allowed",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED),
        Case::raw(
            "POST /peers",
            "/peers",
            r#"{"node_address": "http://127.0.0.1:9"}"#,
            "method not allowed",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED),
        Case::raw("POST /status", "/status", "{}", "method not allowed")
            .with_status(StatusCode::METHOD_NOT_ALLOWED),
        Case::raw(
            "POST /pending_tx",
            "/pending_tx",
            "{}",
            "method not allowed",
        )
        .with_status(StatusCode::METHOD_NOT_ALLOWED),
        get(
            "GET /register_node",
            "/register_node",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        get(
            "GET /register_with",
            "/register_with",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        Case::request(
            "DELETE /peers",
            Method::DELETE,
            "/peers",
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
        Case::request(
            "PATCH a block",
            Method::PATCH,
            &format!("/blocks/{zeros}"),
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed",
        ),
    ];
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
    let mut forged = signed_post(&key, "erin", "signed", now_f64());
    forged["author"] = json!("someone else");
    let cases = vec![
        Case::json(
            "unsigned post",
            "/new_transaction",
            &json!({ "author": "erin", "content": "unsigned" }),
            "this network requires signed posts; the post has no signature",
        ),
        Case::json(
            "unsigned post with a timestamp",
            "/new_transaction",
            &json!({ "author": "erin", "content": "unsigned", "timestamp": now_f64() }),
            "requires signed posts",
        ),
        Case::json(
            "signed by erin, claimed by another",
            "/new_transaction",
            &forged,
            "signature does not match",
        ),
    ];
    assert_all_refused_without_change(&node, &cases).await;

    let signed = signed_post(&key, "erin", "signed", now_f64());
    let response = node.post_json("/new_transaction", &signed).await;
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

/// A valid block from another node of the same network: two unsigned posts and a signed
/// one on top of genesis.
async fn block_mined_elsewhere() -> Value {
    let miner = TestNode::spawn(DIFFICULTY).await;
    miner.post("alice", "first").await;
    miner.post("bob", "second").await;
    let key = SigningKey::from_bytes(&[9; 32]);
    let signed = signed_post(&key, "carol", "third, signed", now_f64());
    let response = miner.post_json("/new_transaction", &signed).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(miner.mine().await, "Block #1 is mined.");
    let block = miner.chain().await["chain"][1].clone();
    assert_eq!(block["transactions"].as_array().map(Vec::len), Some(3));
    block
}

fn decode_block(block: &Value) -> Block {
    let json: BlockJson = serde_json::from_value(block.clone()).expect("block JSON parses");
    json.into_block().expect("block decodes").0
}

/// `block` with `header`'s fields and the hash `header` really has.
fn with_header(block: &Value, header: &BlockHeader) -> Value {
    let mut out = block.clone();
    out["index"] = json!(header.index);
    out["previous_hash"] = json!(header.previous_hash.to_string());
    out["merkle_root"] = json!(header.merkle_root.to_string());
    out["timestamp"] = json!(header.timestamp);
    out["difficulty"] = json!(header.difficulty);
    out["nonce"] = json!(header.nonce);
    out["hash"] = json!(header.hash().to_string());
    out
}

/// Claims the true hash of the header as sent, without redoing the proof of work.
fn rehashed(block: &Value) -> Value {
    with_header(block, decode_block(block).header())
}

/// What a dishonest miner does after tampering: recompute the merkle root and redo the
/// proof of work, so the block gets past the header checks to the rule it breaks.
fn remined(block: &Value) -> Value {
    let decoded = decode_block(block);
    let mut header = *decoded.header();
    header.merkle_root = merkle_root(decoded.transactions());
    header.nonce = (0..)
        .find(|&nonce| {
            let candidate = BlockHeader { nonce, ..header };
            meets_difficulty(&candidate.hash(), header.difficulty)
        })
        .expect("a nonce within reach");
    with_header(block, &header)
}

/// `block` after `change`.
fn tampered(block: &Value, change: impl FnOnce(&mut Value)) -> Value {
    let mut out = block.clone();
    change(&mut out);
    out
}

fn flip_first_hex_digit(text: &Value) -> Value {
    let text = text.as_str().expect("hex string");
    let flipped = if text.starts_with('0') { "1" } else { "0" };
    json!(format!("{flipped}{}", &text[1..]))
}

fn without(value: &Value, field: &str) -> Value {
    let mut out = value.clone();
    out.as_object_mut().expect("object").remove(field);
    out
}

fn transactions(block: &mut Value) -> &mut Vec<Value> {
    block["transactions"]
        .as_array_mut()
        .expect("transactions array")
}

fn index_of_signed(block: &Value) -> usize {
    block["transactions"]
        .as_array()
        .expect("transactions array")
        .iter()
        .position(|tx| tx.get("signature").is_some())
        .expect("the block holds a signed post")
}

#[tokio::test]
async fn malformed_and_tampered_blocks_are_refused_by_the_rule_they_break() {
    let block = block_mined_elsewhere().await;
    let (node, _peer) = node_with_history_at_genesis().await;
    let now = now_secs();
    let path = "/add_block";
    let header_mismatch = "does not match its header";
    let genesis_timestamp = chainpost_chain::params::GENESIS_TIMESTAMP;
    let signed = index_of_signed(&block);
    let mut oversized_block = br#"{"index": 1, "transactions": [], "hash": ""#.to_vec();
    oversized_block.resize(MAX_BODY_BYTES + 1, b'0');
    let author = block["transactions"][0]["author"].to_string();
    let block_text = block.to_string();
    let with_first_author = |spelled: &[u8]| {
        let (before, after) = block_text
            .split_once(&author)
            .expect("the author is in the text");
        [before.as_bytes(), b"\"", spelled, b"\"", after.as_bytes()].concat()
    };
    let unsigned_posts = |count: usize, content: &str| {
        (0..count)
            .map(|i| json!({ "author": "filler", "content": format!("{content} {i}"), "timestamp": now }))
            .collect::<Vec<_>>()
    };

    let insufficient_work = {
        let mut header = *decode_block(&block).header();
        header.nonce = (header.nonce + 1..)
            .find(|&nonce| {
                let candidate = BlockHeader { nonce, ..header };
                !meets_difficulty(&candidate.hash(), header.difficulty)
            })
            .expect("most nonces fail");
        with_header(&block, &header)
    };

    let cases = vec![
        Case::raw(
            "malformed JSON",
            path,
            r#"{"index": 1, "#,
            "invalid JSON body",
        ),
        Case::raw("empty body", path, "", "request body is empty"),
        Case::json("empty object", path, &json!({}), "missing field `index`"),
        Case::raw(
            "body over the size limit",
            path,
            oversized_block,
            "request body is too large",
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE),
        Case::json(
            "a number",
            path,
            &json!(7),
            "expected a JSON object, got a number",
        ),
        Case::json(
            "an empty array",
            path,
            &json!([]),
            "expected a JSON object, got an array",
        ),
        Case::json(
            "missing hash",
            path,
            &without(&block, "hash"),
            "missing field `hash`",
        ),
        Case::json(
            "missing merkle root",
            path,
            &without(&block, "merkle_root"),
            "missing field `merkle_root`",
        ),
        Case::json(
            "missing difficulty",
            path,
            &without(&block, "difficulty"),
            "missing field `difficulty`",
        ),
        Case::json(
            "missing transactions",
            path,
            &without(&block, "transactions"),
            "missing field `transactions`",
        ),
        Case::json(
            "post missing its author",
            path,
            &tampered(&block, |b| {
                transactions(b)[0] = without(&b["transactions"][0], "author")
            }),
            "missing field `author`",
        ),
        Case::json(
            "negative index",
            path,
            &tampered(&block, |b| b["index"] = json!(-1)),
            "invalid value: integer `-1`, expected u64",
        ),
        Case::json(
            "index as a string",
            path,
            &tampered(&block, |b| b["index"] = json!("1")),
            "invalid type: string \"1\", expected u64",
        ),
        Case::json(
            "fractional nonce",
            path,
            &tampered(&block, |b| b["nonce"] = json!(1.5)),
            "invalid type: floating point `1.5`, expected u64",
        ),
        Case::json(
            "negative timestamp",
            path,
            &tampered(&block, |b| b["timestamp"] = json!(-5)),
            "expected u64",
        ),
        Case::json(
            "difficulty past u32",
            path,
            &tampered(&block, |b| b["difficulty"] = json!(4_294_967_296_u64)),
            "expected u32",
        ),
        Case::json(
            "transactions as an object",
            path,
            &tampered(&block, |b| b["transactions"] = json!({})),
            "invalid type: map, expected a sequence",
        ),
        Case::json(
            "a post that is a number",
            path,
            &tampered(&block, |b| b["transactions"] = json!([42])),
            "invalid type: integer `42`",
        ),
        Case::json(
            "hash not hex",
            path,
            &tampered(&block, |b| b["hash"] = json!("nothex")),
            "field `hash` must be 32 bytes as 64 hexadecimal characters",
        ),
        Case::json(
            "previous hash too short",
            path,
            &tampered(&block, |b| b["previous_hash"] = json!("00".repeat(31))),
            "field `previous_hash` must be 32 bytes",
        ),
        Case::json(
            "merkle root with a non-hex character",
            path,
            &tampered(&block, |b| {
                b["merkle_root"] = json!(format!("g{}", "0".repeat(63)))
            }),
            "field `merkle_root` must be 32 bytes",
        ),
        Case::json(
            "post with a public key but no signature",
            path,
            &tampered(&block, |b| {
                let tx = &mut transactions(b)[signed];
                *tx = without(tx, "signature");
            }),
            "`public_key` and `signature` must be given together",
        ),
        Case::json(
            "index changed",
            path,
            &tampered(&block, |b| b["index"] = json!(2)),
            header_mismatch,
        ),
        Case::json(
            "timestamp changed",
            path,
            &tampered(&block, |b| b["timestamp"] = json!(now + 1)),
            header_mismatch,
        ),
        Case::json(
            "nonce changed",
            path,
            &tampered(&block, |b| {
                b["nonce"] = json!(b["nonce"].as_u64().expect("nonce") + 1)
            }),
            header_mismatch,
        ),
        Case::json(
            "previous hash changed",
            path,
            &tampered(&block, |b| {
                b["previous_hash"] = flip_first_hex_digit(&b["previous_hash"])
            }),
            header_mismatch,
        ),
        Case::json(
            "merkle root changed",
            path,
            &tampered(&block, |b| {
                b["merkle_root"] = flip_first_hex_digit(&b["merkle_root"])
            }),
            header_mismatch,
        ),
        Case::json(
            "hash changed",
            path,
            &tampered(&block, |b| b["hash"] = flip_first_hex_digit(&b["hash"])),
            header_mismatch,
        ),
        Case::json(
            "difficulty 9, hash unchanged",
            path,
            &tampered(&block, |b| b["difficulty"] = json!(9)),
            header_mismatch,
        ),
        Case::json(
            "difficulty 0, hash recomputed",
            path,
            &rehashed(&tampered(&block, |b| b["difficulty"] = json!(0))),
            "block declares difficulty 0; this network requires 8",
        ),
        Case::json(
            "difficulty 9, re-mined",
            path,
            &remined(&tampered(&block, |b| b["difficulty"] = json!(9))),
            "block declares difficulty 9; this network requires 8",
        ),
        Case::json(
            "nonce without proof of work, hash recomputed",
            path,
            &insufficient_work,
            "insufficient proof of work",
        ),
        Case::json(
            "post content changed, id dropped",
            path,
            &tampered(&block, |b| {
                let tx = &mut transactions(b)[0];
                tx["content"] = json!("rewritten history");
                *tx = without(tx, "id");
            }),
            "merkle root",
        ),
        Case::json(
            "post content changed, id kept",
            path,
            &tampered(&block, |b| {
                transactions(b)[0]["content"] = json!("rewritten history")
            }),
            "does not match the post",
        ),
        Case::json(
            "post dropped",
            path,
            &tampered(&block, |b| {
                transactions(b).pop();
            }),
            "merkle root",
        ),
        Case::json(
            "post duplicated",
            path,
            &tampered(&block, |b| {
                let first = b["transactions"][0].clone();
                transactions(b).push(first);
            }),
            "merkle root",
        ),
        Case::json(
            "post duplicated, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                let first = b["transactions"][0].clone();
                transactions(b).push(first);
            })),
            "appears more than once in the block",
        ),
        Case::json(
            "signed post altered, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                let tx = &mut transactions(b)[signed];
                tx["content"] = json!("words never signed");
                *tx = without(tx, "id");
            })),
            "signature does not match the post and public key",
        ),
        Case::json(
            "post with an empty author, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                let tx = &mut transactions(b)[0];
                tx["author"] = json!(" ");
                *tx = without(tx, "id");
            })),
            "is invalid: author must not be empty",
        ),
        Case::json(
            "post stamped three hours after the block, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                let later = b["timestamp"].as_u64().expect("timestamp") + THREE_HOURS;
                let tx = &mut transactions(b)[0];
                tx["timestamp"] = json!(later);
                *tx = without(tx, "id");
            })),
            "is invalid: timestamp",
        ),
        Case::json(
            "index 2 on genesis, re-mined",
            path,
            &remined(&tampered(&block, |b| b["index"] = json!(2))),
            "block index 2 does not follow its parent; expected 1",
        ),
        Case::json(
            "timestamp equal to genesis, re-mined",
            path,
            // Without posts: the posts, stamped now, would be "too far in the future" of
            // such an old block, and that check comes first.
            &remined(&tampered(&block, |b| {
                b["timestamp"] = json!(genesis_timestamp);
                b["transactions"] = json!([]);
            })),
            "is not after the median",
        ),
        Case::json(
            "timestamp three hours ahead, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                b["timestamp"] = json!(now + THREE_HOURS)
            })),
            "too far in the future",
        ),
        Case::json(
            "timestamp the largest u64, re-mined",
            path,
            &remined(&tampered(&block, |b| b["timestamp"] = json!(u64::MAX))),
            "too far in the future",
        ),
        Case::json(
            "timestamp zero, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                b["timestamp"] = json!(0);
                b["transactions"] = json!([]);
            })),
            "block timestamp 0 is not after the median",
        ),
        Case::json(
            "index the largest u64, re-mined",
            path,
            &remined(&tampered(&block, |b| b["index"] = json!(u64::MAX))),
            "does not follow its parent; expected 1",
        ),
        Case::json(
            "index past u64",
            path,
            &tampered(&block, |b| {
                b["index"] = json!(18_446_744_073_709_551_616_f64)
            }),
            "expected u64",
        ),
        Case::json(
            "nonce past u64",
            path,
            &tampered(&block, |b| b["nonce"] = json!(1e30)),
            "expected u64",
        ),
        Case::json(
            "negative nonce",
            path,
            &tampered(&block, |b| b["nonce"] = json!(-1)),
            "invalid value: integer `-1`, expected u64",
        ),
        Case::json(
            "hash of a million characters",
            path,
            &tampered(&block, |b| b["hash"] = json!("0".repeat(1_000_000))),
            "field `hash` must be 32 bytes",
        ),
        Case::raw(
            "invalid UTF-8 in a post's author",
            path,
            with_first_author(&[0xff, 0xfe]),
            "invalid unicode code point",
        ),
        Case::raw(
            "lone surrogate in a post's author",
            path,
            with_first_author(br"\udc00"),
            "lone",
        ),
        Case::json(
            "post signed under a weak key, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                let tx = &mut transactions(b)[signed];
                tx["public_key"] = json!(WEAK_PUBLIC_KEYS[0].1);
                tx["signature"] = json!(SIGNATURE_FORGED_FOR_WEAK_KEYS);
                *tx = without(tx, "id");
            })),
            "is invalid: public key is a weak (small-order) Ed25519 key",
        ),
        Case::json(
            "post with a negative timestamp, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                let tx = &mut transactions(b)[0];
                tx["timestamp"] = json!(-1.0);
                *tx = without(tx, "id");
            })),
            "is invalid: timestamp -1 is not a non-negative number",
        ),
        Case::json(
            "1,001 posts, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                b["transactions"] = json!(unsigned_posts(1_001, "one too many"))
            })),
            "block holds 1001 transactions; the limit is 1000",
        ),
        Case::json(
            "over a megabyte of posts, re-mined",
            path,
            &remined(&tampered(&block, |b| {
                b["transactions"] = json!(unsigned_posts(600, &"\u{e9}".repeat(990)))
            })),
            "bytes; the limit is 1048576",
        ),
    ];
    assert_all_refused_without_change(&node, &cases).await;

    // The untouched block is fine: the tampering, not the block, caused every 400.
    let accepted = node.add_block(&block).await;
    assert_eq!(accepted.status(), StatusCode::CREATED);
    let accepted: Value = accepted.json().await.expect("JSON body");
    assert_eq!(accepted["outcome"], "extended");
    let replay = node.add_block(&block).await;
    assert_eq!(replay.status(), StatusCode::OK);
    let replay: Value = replay.json().await.expect("JSON body");
    assert_eq!(replay["outcome"], "already_known");
    assert_eq!(replay["message"], "Block already known");

    let next_height_replaying_a_post = remined(&tampered(&block, |b| {
        b["index"] = json!(2);
        b["previous_hash"] = b["hash"].clone();
        b["timestamp"] = json!(b["timestamp"].as_u64().expect("timestamp") + 1);
        let first = b["transactions"][0].clone();
        b["transactions"] = json!([first]);
    }));
    let after_acceptance = vec![
        // Same header as the accepted block, so the same hash: the body must still be
        // checked, not waved through as "already known".
        Case::json(
            "a known header with a rewritten post",
            path,
            &tampered(&block, |b| {
                let tx = &mut transactions(b)[0];
                tx["content"] = json!("rewritten history");
                *tx = without(tx, "id");
            }),
            "merkle root",
        ),
        Case::json(
            "a block replaying a confirmed post",
            path,
            &next_height_replaying_a_post,
            "is already in the chain this block extends",
        ),
    ];
    assert_all_refused_without_change(&node, &after_acceptance).await;
}

/// A peered node with nothing but a pending post: blocks from elsewhere build on its
/// genesis.
async fn node_with_history_at_genesis() -> (TestNode, TestNode) {
    let (node, peer) = peered(Config::ephemeral(DIFFICULTY)).await;
    node.post("dave", "pending while blocks arrive").await;
    (node, peer)
}

/// serde's derived `Deserialize` also reads a struct from a sequence of its fields in
/// order; the API documents objects only, so an array must be refused, not taken as one.
#[tokio::test]
async fn json_arrays_are_not_taken_for_objects() {
    let block = block_mined_elsewhere().await;
    let (node, _peer) = peered(Config::ephemeral(DIFFICULTY)).await;
    let block_as_array = json!([
        block["index"],
        block["transactions"],
        block["timestamp"],
        block["previous_hash"],
        block["nonce"],
        block["hash"],
        block["difficulty"],
        block["merkle_root"],
    ]);
    let cases = vec![
        Case::json(
            "a post as an array of author and content",
            "/new_transaction",
            &json!(["mallory", "hello"]),
            "expected a JSON object, got an array",
        ),
        Case::json(
            "a block as an array of its fields",
            "/add_block",
            &block_as_array,
            "expected a JSON object, got an array",
        ),
    ];
    assert_all_refused_without_change(&node, &cases).await;
}
