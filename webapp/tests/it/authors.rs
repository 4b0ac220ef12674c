//! Author pages (`/authors/{author}`): a key's signed posts or a name's unsigned ones,
//! newest first, paged; every post card links to its author's page.

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;

use crate::helpers::{TestNode, TestWeb, articles, between};

/// Each post's content on the page, in page order.
fn contents(html: &str) -> Vec<String> {
    articles(html)
        .iter()
        .map(|post| {
            between(post, "<p class=\"content\">", "</p>")
                .expect("content")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_name_and_a_key_each_have_a_page_of_their_own_posts_linked_from_every_card() {
    let node = TestNode::spawn().await;
    let key = SigningKey::from_bytes(&[7; 32]);
    let key_hex = hex::encode(key.verifying_key().to_bytes());
    node.post("alice", "unsigned one").await;
    node.post("bob", "not alice").await;
    node.post_signed(&key, "alice", "signed, giving the name alice")
        .await;
    node.mine().await;
    node.post("alice", "unsigned two").await;
    node.post_signed(&key, "Alice K.", "signed under a new name")
        .await;
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, home) = web.page("/").await;
    for post in articles(&home) {
        let expected = if post.contains("badge-signed") {
            format!("<a class=\"author\" href=\"/authors/{key_hex}\">")
        } else if post.contains("not alice") {
            "<a class=\"author\" href=\"/authors/bob\">".to_owned()
        } else {
            "<a class=\"author\" href=\"/authors/alice\">".to_owned()
        };
        assert!(post.contains(&expected), "{expected} expected in {post}");
    }

    let (status, by_name) = web.page("/authors/alice").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contents(&by_name), ["unsigned two", "unsigned one"]);
    assert!(by_name.contains("<h1 class=\"author-title\">alice</h1>"));
    assert!(by_name.contains("Anyone can post under any name"));

    let (status, by_key) = web.page(&format!("/authors/{key_hex}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        contents(&by_key),
        ["signed under a new name", "signed, giving the name alice"]
    );
    assert!(
        by_key.contains("<h1 class=\"author-title\">Alice K.</h1>"),
        "named after its newest post: {by_key}"
    );
    assert!(by_key.contains(&format!("<code class=\"key-full\">{key_hex}</code>")));
    assert!(by_key.contains("2 confirmations") && by_key.contains("1 confirmation<"));

    let (status, nobody) = web.page(&format!("/authors/{}", "ab".repeat(32))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(nobody.contains("No confirmed posts yet"), "{nobody}");
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn any_name_has_an_address_that_leads_back_to_it() {
    let node = TestNode::spawn().await;
    let names = [
        "Zoë 山田",
        "a/b?c#d",
        "50% & more",
        "..",
        ".",
        "...",
        "<b>x</b>",
    ];
    for name in names {
        node.post(name, &format!("by {name}")).await;
    }
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let (_, home) = web.page("/").await;
    for post in articles(&home) {
        let href = between(post, "<a class=\"author\" href=\"", "\"").expect("an author link");
        let (status, page) = web.page(&href.replace("&#38;", "&")).await;
        assert_eq!(status, StatusCode::OK, "{href}");
        let shown = contents(&page);
        assert_eq!(shown.len(), 1, "{href}: {page}");
        assert!(post.contains(&shown[0]), "{href} lists {shown:?}");
    }
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn an_authors_page_pages_back_and_refuses_what_is_no_author_or_cursor() {
    let node = TestNode::spawn().await;
    for block in 0..3 {
        for n in 0..20 {
            node.post("carol", &format!("carol {}", block * 20 + n))
                .await;
        }
        node.post("dave", "in between").await;
        node.mine().await;
    }
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, first) = web.page("/authors/carol").await;
    assert_eq!(contents(&first).len(), 50);
    let older = between(&first, "id=\"older-posts\" href=\"", "\"").expect("an older page");
    assert!(older.starts_with("/authors/carol?before="), "{older}");
    let (_, second) = web.page(older).await;
    let expected: Vec<String> = (0..10).rev().map(|i| format!("carol {i}")).collect();
    assert_eq!(contents(&second), expected);
    assert!(!second.contains("id=\"older-posts\""));
    assert!(second.contains("<a id=\"newest-posts\" href=\"/authors/carol\">"));

    let too_long = "x".repeat(65);
    for (path, heading) in [
        ("/authors/%20", "No such author"),
        (too_long.as_str(), "No such author"),
        (
            "/authors/carol?before=yesterday",
            "Not a place in these posts",
        ),
    ] {
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/authors/{path}")
        };
        let (status, html) = web.page(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(html.contains(heading), "{path}: {html}");
    }
    web.stop().await;
    node.stop().await;
}
