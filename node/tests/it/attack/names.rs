//! Posing as someone else with a name that looks the same.

use reqwest::StatusCode;

use crate::helpers::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_with_invisible_or_direction_characters_are_refused() {
    let node = TestNode::spawn(4).await;
    for author in [
        "ali\u{200B}ce",
        "\u{202E}ecila",
        "bob\u{FEFF}",
        "a\u{2066}b",
    ] {
        let answer = node.new_transaction(author, "who am I").await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{author:?}");
        let body: serde_json::Value = answer.json().await.expect("JSON");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("invisible")),
            "{body}"
        );
    }
    assert_eq!(node.status().await["mempool_size"], 0);
    node.post("Zoë 山田", "a real name").await;
}
