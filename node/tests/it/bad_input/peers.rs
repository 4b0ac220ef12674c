//! `POST /register_node` and `POST /register_with`: addresses a node must not store or
//! call, and bodies that name none. Peers that are reachable but misbehave are in
//! [`super::hostile_peers`].

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    BodyRow, Case, assert_all_refused_without_change, json_cases, node_with_history, oversized,
    raw_cases,
};

/// Addresses that are not the http(s) URL of another node. Rows: name, address, message.
#[rustfmt::skip]
const BAD_ADDRESSES: &[(&str, &str, &str)] = &[
    ("ftp scheme", "ftp://127.0.0.1:21", "http or https, not \"ftp\""),
    ("file scheme", "file:///etc/passwd", "not \"file\""),
    ("javascript scheme", "javascript:alert(1)", "not \"javascript\""),
    ("data scheme", "data:text/plain,hi", "not \"data\""),
    ("websocket scheme", "ws://127.0.0.1:1", "not \"ws\""),
    ("unix socket scheme", "http+unix://%2Ftmp%2Fsock", "not \"http+unix\""),
    ("user and password", "http://user:secret@127.0.0.1:1", "must not contain credentials"),
    ("user only", "http://user@127.0.0.1:1", "must not contain credentials"),
    ("query", "http://127.0.0.1:1/?q=1", "must not have a query"),
    ("fragment", "http://127.0.0.1:1/#top", "or fragment"),
    ("not a URL", "not a url", "is not a URL"),
    ("empty", "", "is not a URL"),
    ("scheme without host", "http://", "is not a URL"),
    ("port past 65535", "http://127.0.0.1:99999", "is not a URL"),
    ("unterminated IPv6 host", "http://[::1:80", "is not a URL"),
];

/// JSON bodies without a `node_address` string.
#[rustfmt::skip]
fn no_address() -> Vec<BodyRow<'static, Value>> {
    vec![
        ("address is a number", json!({ "node_address": 8000 }), "invalid type: integer"),
        ("address is null", json!({ "node_address": null }), "invalid type: null"),
        ("address is a list", json!({ "node_address": ["http://127.0.0.1:9"] }), "invalid type: sequence"),
        ("address is an object", json!({ "node_address": { "url": "http://127.0.0.1:9" } }), "invalid type: map"),
        ("address under another name", json!({ "address": "http://127.0.0.1:9" }), "missing field `node_address`"),
    ]
}

/// Bodies that are not JSON, sent without a `Content-Type`.
#[rustfmt::skip]
const UNREADABLE: &[BodyRow<&[u8]>] = &[
    ("invalid UTF-8 in the address", b"{\"node_address\": \"http://\xff\xfe:1\"}", "invalid unicode code point"),
    ("not JSON", b"node_address=http://127.0.0.1:9", "invalid JSON body"),
    ("empty body", b"", "request body is empty"),
];

#[tokio::test]
async fn bad_peer_addresses_and_registration_bodies_change_no_peer() {
    let (node, _peer) = node_with_history().await;
    let own = node.base.as_str();
    let own_in_capitals = format!("{}/", own.replacen("http", "HTTP", 1));
    #[rustfmt::skip]
    let own_addresses = [
        ("own address", own, "a node cannot be its own peer"),
        ("own address in capitals with a slash", own_in_capitals.as_str(), "a node cannot be its own peer"),
    ];
    let addresses: Vec<_> = BAD_ADDRESSES
        .iter()
        .chain(&own_addresses)
        .map(|&(name, address, message)| (name, json!({ "node_address": address }), message))
        .collect();
    let too_large = oversized(br#"{"node_address": "http://"#, b'a');
    let bad = StatusCode::BAD_REQUEST;

    let mut cases = Vec::new();
    for path in ["/register_node", "/register_with"] {
        let for_path: Vec<Case> = [
            json_cases(path, bad, &addresses),
            json_cases(path, bad, &no_address()),
            raw_cases(path, bad, UNREADABLE),
            raw_cases(
                path,
                StatusCode::PAYLOAD_TOO_LARGE,
                &[(
                    "body over the size limit",
                    &too_large,
                    "request body is too large",
                )],
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        // The same table runs against both endpoints, so names say which.
        cases.extend(for_path.into_iter().map(|case| Case {
            name: format!("{path}: {}", case.name),
            ..case
        }));
    }
    assert_all_refused_without_change(&node, &cases).await;
}

/// A peer address is stored, persisted and sent back in every `/chain` answer, so it must be
/// bounded: a host name can be no longer than 253 characters.
#[tokio::test]
async fn an_oversized_peer_address_is_refused() {
    let (node, _peer) = node_with_history().await;
    let huge_host = format!("http://{}.example:8000", "a".repeat(100_000));
    let cases = json_cases(
        "/register_node",
        StatusCode::BAD_REQUEST,
        &[(
            "a host name of 100,000 characters",
            json!({ "node_address": huge_host }),
            "peer address",
        )],
    );
    assert_all_refused_without_change(&node, &cases).await;
}
