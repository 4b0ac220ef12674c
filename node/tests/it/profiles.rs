//! Profiles and handles over HTTP: a signed profile claims a handle once mined, a second
//! key claiming it does not own it, the latest profile a key signed is the one shown, and
//! malformed or unsigned claims are refused with a reason.

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use chainpost_edge::clock::unix_now_f64 as now_f64;

use crate::helpers::{Api, TestNode, signed_post, signed_profile};

const DIFFICULTY: u32 = 8;

async fn created(api: &Api, body: &Value) -> String {
    let response = api.post_json("/new_transaction", body).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{body}");
    let answer: Value = response.json().await.expect("JSON");
    answer["id"].as_str().expect("an id").to_owned()
}

async fn refused(api: &Api, path: &str, body: Option<&Value>) -> (StatusCode, String) {
    let response = match body {
        Some(body) => api.post_json(path, body).await,
        None => api.get(path).await,
    };
    let status = response.status();
    let answer: Value = response.json().await.expect("a JSON error");
    (status, answer["error"].as_str().expect("error").to_owned())
}

fn key_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

#[tokio::test]
async fn a_handle_is_the_first_confirmed_claims_and_the_latest_profile_is_shown() {
    let node = TestNode::spawn(DIFFICULTY).await;
    let (alice, mallory) = (
        SigningKey::from_bytes(&[11; 32]),
        SigningKey::from_bytes(&[12; 32]),
    );
    let claim = created(
        &node,
        &signed_profile(&alice, "Alice", "I write", now_f64(), "alice"),
    )
    .await;
    // Pending claims own nothing.
    let (status, _) = refused(&node, "/handles/alice", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    node.mine().await;
    let owner = node.get_json("/handles/alice").await;
    assert_eq!(owner["owner"], key_hex(&alice));
    assert_eq!(owner["claim"]["transaction"]["id"], claim.as_str());
    assert_eq!(owner["claim"]["transaction"]["handle"], "alice");
    assert_eq!(owner["profile"]["handle_owned"], true);

    // A second key claims it, and the owner renames itself (an empty bio is allowed).
    let late = created(
        &node,
        &signed_profile(&mallory, "Alice (real)", "trust me", now_f64(), "alice"),
    )
    .await;
    let renamed = created(
        &node,
        &signed_profile(&alice, "Alice Liddell", "", now_f64() + 0.5, "alice"),
    )
    .await;
    node.mine().await;
    let owner = node.get_json("/handles/alice").await;
    assert_eq!(owner["owner"], key_hex(&alice));
    assert_eq!(owner["claim"]["transaction"]["id"], claim.as_str());
    assert_eq!(
        owner["profile"]["post"]["transaction"]["id"],
        renamed.as_str()
    );
    assert_eq!(owner["profile"]["display_name"], "Alice Liddell");
    assert_eq!(owner["profile"]["bio"], "");

    let impostor = node
        .get_json(&format!("/profiles/{}", key_hex(&mallory)))
        .await;
    assert_eq!(impostor["handle"], "alice");
    assert_eq!(impostor["handle_owned"], false);
    assert_eq!(impostor["display_name"], "Alice (real)");
    assert_eq!(impostor["post"]["transaction"]["id"], late.as_str());

    // Several at once, in the order asked, keys without a profile left out.
    let nobody = key_hex(&SigningKey::from_bytes(&[13; 32]));
    let page = node
        .get_json(&format!(
            "/profiles?keys={},{nobody},{}",
            key_hex(&mallory),
            key_hex(&alice)
        ))
        .await;
    let shown: Vec<_> = page["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|profile| {
            (
                profile["display_name"].as_str().expect("name").to_owned(),
                profile["handle_owned"].as_bool().expect("owned"),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("Alice (real)".to_owned(), false),
            ("Alice Liddell".to_owned(), true)
        ]
    );
    assert_eq!(
        node.get_json("/profiles?keys=").await,
        json!({"profiles": []})
    );

    // A profile is a post too: listed with its handle, under its key.
    let by_key = node
        .get_json(&format!("/posts?key={}", key_hex(&alice)))
        .await;
    assert_eq!(by_key["posts"][0]["transaction"]["handle"], "alice");
}

#[tokio::test]
async fn bad_profiles_and_lookups_are_refused_with_a_reason() {
    let node = TestNode::spawn(DIFFICULTY).await;
    let key = SigningKey::from_bytes(&[14; 32]);

    let unsigned = json!({"author": "Alice", "content": "bio", "handle": "alice"});
    let (status, error) = refused(&node, "/new_transaction", Some(&unsigned)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.contains("must be signed"), "{error}");

    let mut both = signed_profile(&key, "Alice", "bio", now_f64(), "alice");
    both["reply_to"] = json!("ab".repeat(32));
    let (status, error) = refused(&node, "/new_transaction", Some(&both)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.contains("not both"), "{error}");

    let mut bad_handle = signed_post(&key, "Alice", "bio", now_f64());
    bad_handle["handle"] = json!("Alice");
    let (status, error) = refused(&node, "/new_transaction", Some(&bad_handle)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.contains("only a-z, 0-9 and _"), "{error}");

    // A handle the signature does not cover.
    let mut moved = signed_profile(&key, "Alice", "bio", now_f64(), "alice");
    moved["handle"] = json!("alicf");
    let (status, error) = refused(&node, "/new_transaction", Some(&moved)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error.contains("signature"), "{error}");

    for (path, expected, says) in [
        ("/handles/Alice", StatusCode::BAD_REQUEST, "handle"),
        (
            &format!("/handles/{}", "a".repeat(31)) as &str,
            StatusCode::BAD_REQUEST,
            "at most 30",
        ),
        ("/handles/nobody", StatusCode::NOT_FOUND, "@nobody"),
        ("/profiles/abc", StatusCode::BAD_REQUEST, "key"),
        (
            &format!("/profiles/{}", key_hex(&key)),
            StatusCode::NOT_FOUND,
            "no confirmed profile",
        ),
        ("/profiles?keys=abc", StatusCode::BAD_REQUEST, "key abc"),
        (
            &format!("/profiles?keys={}", vec![key_hex(&key); 101].join(",")),
            StatusCode::BAD_REQUEST,
            "at most 100",
        ),
    ] {
        let (status, error) = refused(&node, path, None).await;
        assert_eq!(status, expected, "{path}: {error}");
        assert!(error.contains(says), "{path}: {error}");
    }
    // The bound itself is taken.
    let hundred = node
        .get_json(&format!(
            "/profiles?keys={}",
            vec![key_hex(&key); 100].join(",")
        ))
        .await;
    assert_eq!(hundred, json!({"profiles": []}));
}
