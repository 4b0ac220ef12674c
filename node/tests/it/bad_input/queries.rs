//! Requests aimed wrong: bad query strings, bad or unknown hashes and ids in paths, unknown
//! paths and wrong methods. Each gets the API's JSON error, not the framework's plain-text
//! default.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{Case, assert_all_refused_without_change, json_cases, node_with_history};

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const NOT_ALLOWED: StatusCode = StatusCode::METHOD_NOT_ALLOWED;

/// One request and its answer: name, method, path and query, body (sent without a
/// `Content-Type`, and not at all if empty), status, message.
type Request<'a> = (&'a str, Method, &'a str, &'a str, StatusCode, &'a str);

#[rustfmt::skip]
const REQUESTS: &[Request<'static>] = &[
    ("negative from", Method::GET, "/chain?from=-1", "", BAD, "from"),
    ("from is a word", Method::GET, "/chain?from=tip", "", BAD, "from"),
    ("from is a fraction", Method::GET, "/chain?from=1.5", "", BAD, "from"),
    ("from past u64", Method::GET, "/chain?from=18446744073709551616", "", BAD, "from"),
    ("from given twice", Method::GET, "/chain?from=1&from=2", "", BAD, "duplicate field `from`"),
    ("chain from invalid UTF-8", Method::GET, "/chain?from=%FF", "", BAD, "from"),
    ("limit is a word", Method::GET, "/chain?limit=abc", "", BAD, "limit"),
    ("negative limit", Method::GET, "/chain?limit=-5", "", BAD, "limit"),
    ("limit past u64", Method::GET, "/chain?limit=18446744073709551616", "", BAD, "limit"),
    ("limit over a page", Method::GET, "/chain?limit=100000", "", BAD, "limit 100000 is too large; at most 1000"),
    ("limit just over a page", Method::GET, "/chain?from=0&limit=1001", "", BAD, "limit 1001 is too large"),
    ("tree from a negative height", Method::GET, "/tree?from=-1", "", BAD, "from"),
    ("tree from past u64", Method::GET, "/tree?from=18446744073709551616", "", BAD, "number too large"),
    ("tree from a word", Method::GET, "/tree?from=top", "", BAD, "from"),
    ("posts before a word", Method::GET, "/posts?before=latest", "", BAD, "before: \"latest\" is not a cursor this node gave"),
    ("posts before a height alone", Method::GET, "/posts?before=7", "", BAD, "expected HEIGHT.POSITION"),
    ("posts before a signed height", Method::GET, "/posts?before=-7.0", "", BAD, "is not a cursor"),
    ("posts before a position past u32", Method::GET, "/posts?before=1.4294967296", "", BAD, "is not a cursor"),
    ("posts before a height past u64", Method::GET, "/posts?before=18446744073709551616.0", "", BAD, "is not a cursor"),
    ("posts limit 0", Method::GET, "/posts?limit=0", "", BAD, "limit 0 is out of range: 1 to 100"),
    ("posts limit over a page", Method::GET, "/posts?limit=101", "", BAD, "limit 101 is out of range"),
    ("posts by a name and a key", Method::GET, "/posts?author=a&key=0000000000000000000000000000000000000000000000000000000000000000", "", BAD, "not both"),
    ("posts by a key that is not hex", Method::GET, "/posts?key=alice", "", BAD, "key: expected 64 hexadecimal characters"),
    ("thread of an id that is not hex", Method::GET, "/posts/nothex/thread", "", BAD, "transaction id: expected 64 hexadecimal characters"),
    ("thread of an unknown post", Method::GET, "/posts/0000000000000000000000000000000000000000000000000000000000000000/thread", "", NOT_FOUND, "no pending or confirmed transaction 0000000000000000000000000000000000000000000000000000000000000000"),
    ("thread after a word", Method::GET, "/posts/0000000000000000000000000000000000000000000000000000000000000000/thread?after=first", "", BAD, "after: \"first\" is not a cursor this node gave"),
    ("thread limit 0", Method::GET, "/posts/0000000000000000000000000000000000000000000000000000000000000000/thread?limit=0", "", BAD, "limit 0 is out of range: 1 to 100"),
    ("thread limit over a page", Method::GET, "/posts/0000000000000000000000000000000000000000000000000000000000000000/thread?limit=101", "", BAD, "limit 101 is out of range"),
    ("thread of a post below its path", Method::GET, "/posts/0000000000000000000000000000000000000000000000000000000000000000/thread/more", "", NOT_FOUND, "no such endpoint"),
    ("posts by a key too long", Method::GET, "/posts?key=000000000000000000000000000000000000000000000000000000000000000000", "", BAD, "key: expected 64"),

    ("block hash not hex", Method::GET, "/blocks/nothex", "", BAD, "block hash: expected 64 hexadecimal characters"),
    ("block hash too short", Method::GET, "/blocks/abcd", "", BAD, "expected 64 hexadecimal characters"),
    ("block hash too long", Method::GET, "/blocks/00000000000000000000000000000000000000000000000000000000000000000", "", BAD, "expected 64 hexadecimal characters"),
    ("block hash with invalid UTF-8", Method::GET, "/blocks/%FF", "", BAD, "UTF-8"),
    ("transaction id not hex", Method::GET, "/transactions/nothex", "", BAD, "transaction id: expected 64 hexadecimal characters"),
    ("transaction id of 64 non-hex characters", Method::GET, "/transactions/gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg", "", BAD, "transaction id"),
    ("transaction id with invalid UTF-8", Method::GET, "/transactions/%FF%FE", "", BAD, "UTF-8"),
    ("unknown block", Method::GET, "/blocks/0000000000000000000000000000000000000000000000000000000000000000", "", NOT_FOUND, "no block 0000000000000000000000000000000000000000000000000000000000000000"),
    ("unknown transaction", Method::GET, "/transactions/0000000000000000000000000000000000000000000000000000000000000000", "", NOT_FOUND, "no pending or confirmed transaction 0000000000000000000000000000000000000000000000000000000000000000"),

    ("unknown path", Method::GET, "/nope", "", NOT_FOUND, "no such endpoint"),
    ("blocks without a hash", Method::GET, "/blocks/", "", NOT_FOUND, "no such endpoint"),
    ("path below a leaf", Method::GET, "/chain/1", "", NOT_FOUND, "no such endpoint"),
    ("POST to an unknown path", Method::POST, "/new_transactions", r#"{"author": "a", "content": "b"}"#, NOT_FOUND, "no such endpoint"),

    ("GET /new_transaction", Method::GET, "/new_transaction", "", NOT_ALLOWED, "method not allowed"),
    ("GET /add_block", Method::GET, "/add_block", "", NOT_ALLOWED, "method not allowed"),
    ("GET /register_node", Method::GET, "/register_node", "", NOT_ALLOWED, "method not allowed"),
    ("GET /register_with", Method::GET, "/register_with", "", NOT_ALLOWED, "method not allowed"),
    ("PUT /add_block", Method::PUT, "/add_block", "", NOT_ALLOWED, "method not allowed"),
    ("POST /mine", Method::POST, "/mine", "{}", NOT_ALLOWED, "method not allowed"),
    ("POST /chain", Method::POST, "/chain", "{}", NOT_ALLOWED, "method not allowed"),
    ("POST /metrics", Method::POST, "/metrics", "{}", NOT_ALLOWED, "method not allowed"),
    ("POST /nodes/resolve", Method::POST, "/nodes/resolve", "{}", NOT_ALLOWED, "method not allowed"),
    ("POST /peers", Method::POST, "/peers", r#"{"node_address": "http://127.0.0.1:9"}"#, NOT_ALLOWED, "method not allowed"),
    ("POST /status", Method::POST, "/status", "{}", NOT_ALLOWED, "method not allowed"),
    ("POST /pending_tx", Method::POST, "/pending_tx", "{}", NOT_ALLOWED, "method not allowed"),
    ("POST /posts", Method::POST, "/posts", "{}", NOT_ALLOWED, "method not allowed"),
    ("DELETE /chain", Method::DELETE, "/chain", "", NOT_ALLOWED, "method not allowed"),
    ("DELETE /peers", Method::DELETE, "/peers", "", NOT_ALLOWED, "method not allowed"),
    ("DELETE a transaction", Method::DELETE, "/transactions/0000000000000000000000000000000000000000000000000000000000000000", "", NOT_ALLOWED, "method not allowed"),
    ("PATCH a block", Method::PATCH, "/blocks/0000000000000000000000000000000000000000000000000000000000000000", "", NOT_ALLOWED, "method not allowed"),
];

fn request_cases(rows: &[Request]) -> Vec<Case> {
    rows.iter()
        .map(|(name, method, path, body, status, message)| Case {
            body: body.as_bytes().to_vec(),
            ..Case::request(name, method.clone(), path, *status, message)
        })
        .collect()
}

#[tokio::test]
async fn bad_queries_paths_and_methods_get_json_errors() {
    let (node, _peer) = node_with_history().await;
    let long_hash = format!("/blocks/{}", "ab".repeat(10_000));
    let cases: Vec<Case> = [
        request_cases(REQUESTS),
        request_cases(&[(
            "block hash of 20,000 characters",
            Method::GET,
            &long_hash,
            "",
            BAD,
            "expected 64 hexadecimal characters",
        )]),
        // The query is refused before the body is read: the address must not be added.
        json_cases(
            "/register_node?include_chain=maybe",
            BAD,
            &[(
                "include_chain that is not a boolean",
                json!({ "node_address": "http://127.0.0.1:9" }),
                "include_chain",
            )],
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_all_refused_without_change(&node, &cases).await;
}
