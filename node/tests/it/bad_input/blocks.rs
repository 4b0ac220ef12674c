//! `POST /add_block`: a valid block from another node, spoiled one way at a time, must be
//! refused by the rule it breaks; the untouched block is then accepted, which shows the
//! spoiling, not the block, caused each refusal.

use chainpost_chain::block::merkle_root;
use chainpost_chain::params::GENESIS_TIMESTAMP;
use chainpost_chain::pow::meets_difficulty;
use chainpost_chain::{Block, BlockHeader};
use chainpost_node::config::Config;
use chainpost_wire::BlockJson;
use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::posts::{SIGNATURE_FORGED_FOR_WEAK_KEYS, WEAK_PUBLIC_KEYS};
use super::{
    BodyRow, Case, DIFFICULTY, THREE_HOURS, assert_all_refused_without_change, json_cases, now_f64,
    now_secs, oversized, peered, raw_cases,
};
use crate::helpers::{TestNode, signed_post};

const PATH: &str = "/add_block";

const HEADER_MISMATCH: &str = "does not match its header";

/// A change to a block. Rows: name, change, message.
type Tampering = (&'static str, fn(&mut Value), &'static str);

/// Changes sent as they are: the block no longer decodes, or its fields no longer hash to
/// the hash it claims.
#[rustfmt::skip]
const SENT_AS_CHANGED: &[Tampering] = &[
    ("missing hash", |b| remove(b, "hash"), "missing field `hash`"),
    ("missing merkle root", |b| remove(b, "merkle_root"), "missing field `merkle_root`"),
    ("missing difficulty", |b| remove(b, "difficulty"), "missing field `difficulty`"),
    ("missing transactions", |b| remove(b, "transactions"), "missing field `transactions`"),
    ("post missing its author", |b| remove(first_post(b), "author"), "missing field `author`"),
    ("negative index", |b| b["index"] = json!(-1), "invalid value: integer `-1`, expected u64"),
    ("index as a string", |b| b["index"] = json!("1"), "invalid type: string \"1\", expected u64"),
    ("index past u64", |b| b["index"] = json!(18_446_744_073_709_551_616_f64), "expected u64"),
    ("fractional nonce", |b| b["nonce"] = json!(1.5), "invalid type: floating point `1.5`, expected u64"),
    ("negative nonce", |b| b["nonce"] = json!(-1), "invalid value: integer `-1`, expected u64"),
    ("nonce past u64", |b| b["nonce"] = json!(1e30), "expected u64"),
    ("negative timestamp", |b| b["timestamp"] = json!(-5), "expected u64"),
    ("difficulty past u32", |b| b["difficulty"] = json!(4_294_967_296_u64), "expected u32"),
    ("transactions as an object", |b| b["transactions"] = json!({}), "invalid type: map, expected a sequence"),
    ("a post that is a number", |b| b["transactions"] = json!([42]), "invalid type: integer `42`"),
    ("hash not hex", |b| b["hash"] = json!("nothex"), "field `hash` must be 32 bytes as 64 hexadecimal characters"),
    ("hash of a million characters", |b| b["hash"] = json!("0".repeat(1_000_000)), "field `hash` must be 32 bytes"),
    ("previous hash too short", |b| b["previous_hash"] = json!("00".repeat(31)), "field `previous_hash` must be 32 bytes"),
    ("merkle root with a non-hex character", |b| b["merkle_root"] = json!(format!("g{}", "0".repeat(63))), "field `merkle_root` must be 32 bytes"),
    ("post with a public key but no signature", |b| remove(signed_post_of(b), "signature"), "`public_key` and `signature` must be given together"),
    ("index changed", |b| b["index"] = json!(2), HEADER_MISMATCH),
    ("timestamp changed", |b| b["timestamp"] = json!(now_secs() + 1), HEADER_MISMATCH),
    ("nonce changed", |b| b["nonce"] = json!(b["nonce"].as_u64().expect("nonce") + 1), HEADER_MISMATCH),
    ("previous hash changed", |b| flip_first_hex_digit(&mut b["previous_hash"]), HEADER_MISMATCH),
    ("merkle root changed", |b| flip_first_hex_digit(&mut b["merkle_root"]), HEADER_MISMATCH),
    ("hash changed", |b| flip_first_hex_digit(&mut b["hash"]), HEADER_MISMATCH),
    ("difficulty 9, hash unchanged", |b| b["difficulty"] = json!(9), HEADER_MISMATCH),
    ("post content changed, id dropped", |b| forge(first_post(b), "content", json!("rewritten history")), "merkle root"),
    ("post content changed, id kept", |b| first_post(b)["content"] = json!("rewritten history"), "does not match the post"),
    ("post dropped", |b| { transactions(b).pop(); }, "merkle root"),
    ("post duplicated", duplicate_first_post, "merkle root"),
];

/// Changes to the header, then the hash it really has, but no new proof of work.
#[rustfmt::skip]
const REHASHED: &[Tampering] = &[
    ("difficulty 0, hash recomputed", |b| b["difficulty"] = json!(0), "block declares difficulty 0; this network requires 8"),
    ("nonce without proof of work, hash recomputed", |b| b["nonce"] = json!(failing_nonce(b)), "insufficient proof of work"),
];

/// Changes a dishonest miner makes and then re-mines, so the block gets past the header
/// checks to the rule it breaks.
#[rustfmt::skip]
const REMINED: &[Tampering] = &[
    ("difficulty 9, re-mined", |b| b["difficulty"] = json!(9), "block declares difficulty 9; this network requires 8"),
    ("index 2 on genesis, re-mined", |b| b["index"] = json!(2), "block index 2 does not follow its parent; expected 1"),
    ("index the largest u64, re-mined", |b| b["index"] = json!(u64::MAX), "does not follow its parent; expected 1"),
    // Without posts: the posts, stamped now, would be "too far in the future" of such an
    // old block, and that check comes first.
    ("timestamp equal to genesis, re-mined", |b| { b["timestamp"] = json!(GENESIS_TIMESTAMP); b["transactions"] = json!([]); }, "is not after the median"),
    ("timestamp zero, re-mined", |b| { b["timestamp"] = json!(0); b["transactions"] = json!([]); }, "block timestamp 0 is not after the median"),
    ("timestamp three hours ahead, re-mined", |b| b["timestamp"] = json!(now_secs() + THREE_HOURS), "too far in the future"),
    ("timestamp the largest u64, re-mined", |b| b["timestamp"] = json!(u64::MAX), "too far in the future"),
    ("post duplicated, re-mined", duplicate_first_post, "appears more than once in the block"),
    ("signed post altered, re-mined", |b| forge(signed_post_of(b), "content", json!("words never signed")), "signature does not match the post and public key"),
    ("post signed under a weak key, re-mined", sign_under_a_weak_key, "is invalid: public key is a weak (small-order) Ed25519 key"),
    ("post with an empty author, re-mined", |b| forge(first_post(b), "author", json!(" ")), "is invalid: author must not be empty"),
    ("post with a negative timestamp, re-mined", |b| forge(first_post(b), "timestamp", json!(-1.0)), "is invalid: timestamp -1 is not a non-negative number"),
    ("post stamped three hours after the block, re-mined", |b| { let later = timestamp(b) + THREE_HOURS; forge(first_post(b), "timestamp", json!(later)); }, "is invalid: timestamp"),
    ("1,001 posts, re-mined", |b| b["transactions"] = json!(unsigned_posts(1_001, "one too many")), "block holds 1001 transactions; the limit is 1000"),
    ("over a megabyte of posts, re-mined", |b| b["transactions"] = json!(unsigned_posts(600, &"\u{e9}".repeat(990))), "bytes; the limit is 1048576"),
];

/// Bodies that are not a block at all.
#[rustfmt::skip]
fn not_a_block() -> Vec<BodyRow<'static, Value>> {
    vec![
        ("empty object", json!({}), "missing field `index`"),
        ("a number", json!(7), "expected a JSON object, got a number"),
        ("an empty array", json!([]), "expected a JSON object, got an array"),
    ]
}

/// Bodies that are not JSON, sent without a `Content-Type`.
#[rustfmt::skip]
const UNREADABLE: &[BodyRow<&[u8]>] = &[
    ("malformed JSON", br#"{"index": 1, "#, "invalid JSON body"),
    ("empty body", b"", "request body is empty"),
];

/// The first post's author spelled, between its quotes, in bytes no JSON string may hold.
/// Rows: name, spelling, message.
#[rustfmt::skip]
const UNREADABLE_AUTHORS: &[BodyRow<&[u8]>] = &[
    ("invalid UTF-8 in a post's author", b"\xff\xfe", "invalid unicode code point"),
    ("lone surrogate in a post's author", br"\udc00", "lone"),
];

/// Once the block is accepted: blocks that resemble it or build on it.
#[rustfmt::skip]
const SENT_AS_CHANGED_AFTER_ACCEPTANCE: &[Tampering] = &[
    // Same header as the accepted block, so the same hash: the body must still be checked,
    // not waved through as "already known".
    ("a known header with a rewritten post", |b| forge(first_post(b), "content", json!("rewritten history")), "merkle root"),
];

#[rustfmt::skip]
const REMINED_AFTER_ACCEPTANCE: &[Tampering] = &[
    ("a block replaying a confirmed post", next_height_replaying_the_first_post, "is already in the chain this block extends"),
];

#[tokio::test]
async fn malformed_and_tampered_blocks_are_refused_by_the_rule_they_break() {
    let block = block_mined_elsewhere().await;
    let (node, _peer) = node_with_history_at_genesis().await;
    let bad = StatusCode::BAD_REQUEST;
    let unreadable_authors: Vec<_> = UNREADABLE_AUTHORS
        .iter()
        .map(|&(name, spelled, message)| (name, with_first_author(&block, spelled), message))
        .collect();
    let cases: Vec<Case> = [
        raw_cases(PATH, bad, UNREADABLE),
        raw_cases(
            PATH,
            StatusCode::PAYLOAD_TOO_LARGE,
            &[(
                "body over the size limit",
                oversized(br#"{"index": 1, "transactions": [], "hash": ""#, b'0'),
                "request body is too large",
            )],
        ),
        json_cases(PATH, bad, &not_a_block()),
        raw_cases(PATH, bad, &unreadable_authors),
        tampered_cases(&block, Value::clone, SENT_AS_CHANGED),
        tampered_cases(&block, rehashed, REHASHED),
        tampered_cases(&block, remined, REMINED),
    ]
    .into_iter()
    .flatten()
    .collect();
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

    let after_acceptance: Vec<Case> = [
        tampered_cases(&block, Value::clone, SENT_AS_CHANGED_AFTER_ACCEPTANCE),
        tampered_cases(&block, remined, REMINED_AFTER_ACCEPTANCE),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_all_refused_without_change(&node, &after_acceptance).await;
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
    let message = "expected a JSON object, got an array";
    let cases: Vec<Case> = [
        json_cases(
            "/new_transaction",
            StatusCode::BAD_REQUEST,
            &[(
                "a post as an array of author and content",
                json!(["mallory", "hello"]),
                message,
            )],
        ),
        json_cases(
            PATH,
            StatusCode::BAD_REQUEST,
            &[("a block as an array of its fields", block_as_array, message)],
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_all_refused_without_change(&node, &cases).await;
}

/// One case per row: `block` changed as the row says, then `seal`ed (sent as is, rehashed
/// or re-mined), to be answered 400.
fn tampered_cases(block: &Value, seal: fn(&Value) -> Value, rows: &[Tampering]) -> Vec<Case> {
    rows.iter()
        .map(|&(name, change, message)| {
            let mut changed = block.clone();
            change(&mut changed);
            Case::json(name, PATH, &seal(&changed), message)
        })
        .collect()
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

/// A peered node with nothing but a pending post: blocks from elsewhere build on its
/// genesis.
async fn node_with_history_at_genesis() -> (TestNode, TestNode) {
    let (node, peer) = peered(Config::ephemeral(DIFFICULTY)).await;
    node.post("dave", "pending while blocks arrive").await;
    (node, peer)
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

/// The first nonce after the block's own whose header hash misses the difficulty.
fn failing_nonce(block: &Value) -> u64 {
    let header = *decode_block(block).header();
    (header.nonce + 1..)
        .find(|&nonce| {
            let candidate = BlockHeader { nonce, ..header };
            !meets_difficulty(&candidate.hash(), header.difficulty)
        })
        .expect("most nonces fail")
}

fn flip_first_hex_digit(text: &mut Value) {
    let hex = text.as_str().expect("hex string");
    let flipped = if hex.starts_with('0') { "1" } else { "0" };
    *text = json!(format!("{flipped}{}", &hex[1..]));
}

fn remove(value: &mut Value, field: &str) {
    value.as_object_mut().expect("object").remove(field);
}

/// Sets a post's field and drops its id, as a forger would: the node checks an id it is
/// given against the post, so keeping the old one would be caught before the rule tested.
fn forge(post: &mut Value, field: &str, value: Value) {
    post[field] = value;
    remove(post, "id");
}

fn transactions(block: &mut Value) -> &mut Vec<Value> {
    block["transactions"]
        .as_array_mut()
        .expect("transactions array")
}

fn first_post(block: &mut Value) -> &mut Value {
    &mut transactions(block)[0]
}

fn signed_post_of(block: &mut Value) -> &mut Value {
    transactions(block)
        .iter_mut()
        .find(|tx| tx.get("signature").is_some())
        .expect("the block holds a signed post")
}

fn timestamp(block: &Value) -> u64 {
    block["timestamp"].as_u64().expect("timestamp")
}

fn duplicate_first_post(block: &mut Value) {
    let first = block["transactions"][0].clone();
    transactions(block).push(first);
}

fn sign_under_a_weak_key(block: &mut Value) {
    let post = signed_post_of(block);
    post["public_key"] = json!(WEAK_PUBLIC_KEYS[0].1);
    forge(post, "signature", json!(SIGNATURE_FORGED_FOR_WEAK_KEYS));
}

/// A block on top of `block` holding a copy of its first post.
fn next_height_replaying_the_first_post(block: &mut Value) {
    block["index"] = json!(2);
    block["previous_hash"] = block["hash"].clone();
    block["timestamp"] = json!(timestamp(block) + 1);
    let first = block["transactions"][0].clone();
    block["transactions"] = json!([first]);
}

fn unsigned_posts(count: usize, content: &str) -> Vec<Value> {
    let now = now_secs();
    (0..count)
        .map(|i| json!({ "author": "filler", "content": format!("{content} {i}"), "timestamp": now }))
        .collect()
}

/// `block` as JSON text, with the first post's author replaced by `spelled` between quotes.
fn with_first_author(block: &Value, spelled: &[u8]) -> Vec<u8> {
    let author = block["transactions"][0]["author"].to_string();
    let text = block.to_string();
    let (before, after) = text.split_once(&author).expect("the author is in the text");
    [before.as_bytes(), b"\"", spelled, b"\"", after.as_bytes()].concat()
}
