//! Names that belong to keys, as the web app shows them: `✓ @handle` only on the posts of
//! the key that owns the handle, a display name with the key's fingerprint for any other
//! signed post, handle pages, the profile form, and the search box's `@handle`.

use ed25519_dalek::SigningKey;
use reqwest::StatusCode;
use reqwest::header::LOCATION;

use crate::helpers::{Cookies, TestNode, TestWeb, articles};

fn card_of<'a>(html: &'a str, content: &str) -> &'a str {
    articles(html)
        .into_iter()
        .find(|post| post.contains(&format!("<p class=\"content\">{content}</p>")))
        .unwrap_or_else(|| panic!("a card for {content:?} in {html}"))
}

#[tokio::test]
async fn only_the_key_that_owns_a_handle_shows_it_with_a_check() {
    let node = TestNode::spawn().await;
    let (alice, mallory) = (
        SigningKey::from_bytes(&[21; 32]),
        SigningKey::from_bytes(&[22; 32]),
    );
    let mallory_hex = hex::encode(mallory.verifying_key().to_bytes());
    node.post_profile(&alice, "Alice Liddell", "Down the rabbit hole", "alice")
        .await;
    node.mine().await;
    node.post_profile(&mallory, "Alice", "the real one", "alice")
        .await;
    node.post_signed(&alice, "alice", "a post by the owner")
        .await;
    node.post_signed(&mallory, "alice", "a post by an impostor")
        .await;
    node.post("alice", "an unsigned post").await;
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (status, home) = web.page("/").await;
    assert_eq!(status, StatusCode::OK);
    let owner = card_of(&home, "a post by the owner");
    assert!(owner.contains("✓ @alice</span>"), "{owner}");
    assert!(
        owner.contains("<a class=\"author\" href=\"/authors/@alice\">Alice Liddell</a>"),
        "{owner}"
    );
    let impostor = card_of(&home, "a post by an impostor");
    assert!(!impostor.contains("badge-verified"), "{impostor}");
    assert!(!impostor.contains("@alice</span>"), "{impostor}");
    assert!(impostor.contains("badge-signed"), "{impostor}");
    assert!(
        impostor.contains(&format!(
            "<a class=\"author\" href=\"/authors/{mallory_hex}\">Alice</a>"
        )),
        "named by its own profile, linked to its key: {impostor}"
    );
    assert!(
        impostor.contains(&format!(
            "<code class=\"fingerprint\">{}</code>",
            &mallory_hex[..8]
        )),
        "{impostor}"
    );
    let unsigned = card_of(&home, "an unsigned post");
    assert!(unsigned.contains("badge-unverified"), "{unsigned}");
    let claim = card_of(&home, "the real one");
    assert!(
        claim.contains("claiming <a href=\"/authors/@alice\">@alice</a>"),
        "{claim}"
    );

    // The handle's page is its owner's, named by the owner's profile.
    let (status, page) = web.page("/authors/@alice").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("<title>Alice Liddell (@alice)"), "{page}");
    assert!(page.contains("Down the rabbit hole"), "{page}");
    assert!(page.contains("a post by the owner"), "{page}");
    assert!(!page.contains("a post by an impostor"), "{page}");

    // The second claimant's page says the handle is another key's.
    let (status, page) = web.page(&format!("/authors/{mallory_hex}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"claim-lost\""), "{page}");
    assert!(!page.contains("id=\"author-handle\""), "{page}");

    let (status, page) = web.page("/authors/@nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("Nobody holds @nobody"), "{page}");

    // A name that starts with `@` is a name, reached through the query.
    let (status, _) = web.page("/authors?name=%40alice").await;
    assert_eq!(status, StatusCode::OK);

    for asked in ["%40alice", "from%3A%40alice", "%40Alice"] {
        let response = web
            .get(&format!("/search?q={asked}"), &Cookies::default())
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{asked}");
        assert_eq!(
            response
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok()),
            Some("/authors/@alice"),
            "{asked}"
        );
    }
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_profile_form_shows_the_keys_profile_and_refuses_an_unsigned_or_bad_claim() {
    let node = TestNode::spawn().await;
    let (alice, mallory) = (
        SigningKey::from_bytes(&[23; 32]),
        SigningKey::from_bytes(&[24; 32]),
    );
    node.post_profile(&alice, "Alice Liddell", "bio", "alice")
        .await;
    node.mine().await;
    node.post_profile(&mallory, "Mal", "", "alice").await;
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let page_of = |key: &SigningKey| {
        format!(
            "/profile?key={}",
            hex::encode(key.verifying_key().to_bytes())
        )
    };

    let (status, page) = web.page(&page_of(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"owned-handle\""), "{page}");
    assert!(
        page.contains("name=\"handle\" type=\"text\" value=\"alice\""),
        "{page}"
    );
    assert!(page.contains("value=\"Alice Liddell\""), "{page}");

    let (_, page) = web.page(&page_of(&mallory)).await;
    assert!(page.contains("id=\"claim-lost\""), "{page}");
    assert!(!page.contains("id=\"owned-handle\""), "{page}");

    let (status, page) = web.page("/profile").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"profile-form\""), "{page}");

    // Without the browser's script nothing signs, and a profile must be signed.
    let cookies = Cookies::default();
    let unsigned = web
        .post_form(
            "/submit",
            &[("author", "Bob"), ("content", ""), ("handle", "bob")],
            &cookies,
        )
        .await;
    assert_eq!(unsigned.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = unsigned.text().await.expect("HTML");
    assert!(page.contains("id=\"profile-form\""), "drawn again: {page}");
    assert!(page.contains("A profile must be signed"), "{page}");

    let bad = web
        .post_form(
            "/submit",
            &[("author", "Bob"), ("content", "hi"), ("handle", "Bob!")],
            &cookies,
        )
        .await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = bad.text().await.expect("HTML");
    assert!(page.contains("id=\"handle-error\""), "{page}");
    assert!(node.pending().await.is_empty());
    web.stop().await;
    node.stop().await;
}
