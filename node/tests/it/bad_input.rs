//! Bad input of every kind: a 4xx with a JSON message, nothing changes, and the node keeps
//! serving. The cases are tables, one module per endpoint; this module runs them, comparing
//! the node's [`Snapshot`] before and after. Peers that misbehave while a node talks to them
//! are in [`hostile_peers`]; answers hyper gives before any handler runs are in [`limits`].

mod blocks;
mod hostile_peers;
mod limits;
mod peers;
mod posts;
mod queries;
mod replays;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chainpost_node::api::MAX_BODY_BYTES;
use chainpost_node::config::Config;
use ed25519_dalek::SigningKey;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

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

/// A table row: a case's name, the body it sends, and a fragment of the error message it
/// must get.
type BodyRow<'a, B> = (&'a str, B, &'a str);

/// POSTs of raw bytes to `path` with no `Content-Type`, each to be answered `status`.
fn raw_cases<B: AsRef<[u8]>>(path: &str, status: StatusCode, rows: &[BodyRow<B>]) -> Vec<Case> {
    rows.iter()
        .map(|(name, body, message)| {
            Case::raw(name, path, body.as_ref(), message).with_status(status)
        })
        .collect()
}

/// POSTs of JSON values to `path`, labelled `application/json`, each to be answered `status`.
fn json_cases(path: &str, status: StatusCode, rows: &[BodyRow<Value>]) -> Vec<Case> {
    rows.iter()
        .map(|(name, body, message)| Case::json(name, path, body, message).with_status(status))
        .collect()
}

/// A body one byte over the limit: `prefix`, padded with `filler`. The prefix makes it the
/// start of a plausible request, so only its size is wrong.
fn oversized(prefix: &[u8], filler: u8) -> Vec<u8> {
    let mut body = prefix.to_vec();
    body.resize(MAX_BODY_BYTES + 1, filler);
    body
}
