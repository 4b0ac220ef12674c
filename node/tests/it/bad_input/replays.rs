//! `POST /new_transaction` of a post the node already holds, pending or confirmed: a 409
//! however the copy is spelled, since a post is known by its content, not by its bytes.

use chainpost_node::config::Config;
use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    Case, DIFFICULTY, assert_all_refused_without_change, json_cases, now_f64, peered, raw_cases,
};
use crate::helpers::signed_post;

const PATH: &str = "/new_transaction";

#[tokio::test]
async fn replayed_posts_are_refused_however_they_are_spelled() {
    let (node, _peer) = peered(Config::ephemeral(DIFFICULTY)).await;
    let key = SigningKey::from_bytes(&[3; 32]);
    let confirmed_signed = signed_post(&key, "carol", "confirmed, signed", now_f64());
    let confirmed_unsigned =
        json!({ "author": "dave", "content": "confirmed, unsigned", "timestamp": now_f64() });
    for post in [&confirmed_signed, &confirmed_unsigned] {
        let response = node.post_json(PATH, post).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    assert_eq!(node.mine().await, "Block #1 is mined.");
    let pending_signed = signed_post(&key, "carol", "pending, signed", now_f64());
    let pending_unsigned =
        json!({ "author": "erin", "content": "pending, unsigned", "timestamp": now_f64() });
    let mut pending_id = String::new();
    for post in [&pending_signed, &pending_unsigned] {
        let response = node.post_json(PATH, post).await;
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
    let pending_unsigned_message = format!("transaction {pending_id} is already pending");

    #[rustfmt::skip]
    let as_json = [
        ("pending signed post, replayed", pending_signed.clone(), "is already pending"),
        ("pending signed post as /pending_tx lists it", pending_as_listed, "is already pending"),
        ("pending unsigned post with its timestamp", pending_unsigned, &pending_unsigned_message),
        ("confirmed signed post, replayed", confirmed_signed, "is already in block #1"),
        ("confirmed signed post as /chain lists it", confirmed_as_listed, "is already in block #1"),
        ("confirmed unsigned post with its timestamp", confirmed_unsigned, "is already in block #1"),
    ];
    #[rustfmt::skip]
    let as_raw_text = [
        ("pending signed post without a Content-Type", pending_signed.to_string(), "is already pending"),
        ("pending signed post, fields reordered and spaced", reordered_and_spaced, "is already pending"),
    ];
    let cases: Vec<Case> = [
        json_cases(PATH, StatusCode::CONFLICT, &as_json),
        raw_cases(PATH, StatusCode::CONFLICT, &as_raw_text),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_all_refused_without_change(&node, &cases).await;
}
