//! Posting, mining and resyncing through the web app's forms, as the tutorial's web
//! application does it, with signed posts on top.

use ed25519_dalek::{Signer, SigningKey};
use reqwest::StatusCode;

use crate::helpers::{Cookies, TestNode, TestWeb, articles, between};

#[tokio::test]
async fn a_submitted_post_redirects_home_where_it_shows_as_pending() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut cookies = Cookies::default();

    let response = web
        .post_form(
            "/submit",
            &[
                ("author", "alice"),
                ("content", "Some thoughts that alice wants to share"),
            ],
            &cookies,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = web.follow(response, &mut cookies).await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("is waiting to be mined"),
        "a flash message: {html}"
    );
    let pending = between(&html, "id=\"live-pending\"", "</section>").expect("pending section");
    let posts = articles(pending);
    assert_eq!(posts.len(), 1, "{pending}");
    assert!(posts[0].contains("Some thoughts that alice wants to share"));
    assert!(posts[0].contains("post-pending") && posts[0].contains(">pending<"));
    assert_eq!(node.pending().await.len(), 1);
    assert_eq!(
        cookies.get("flash"),
        None,
        "the flash message is shown once"
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn requesting_to_mine_tells_which_block_was_mined_and_lists_the_post_in_it() {
    let node = TestNode::spawn().await;
    node.post("alice", "to be mined").await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut cookies = Cookies::default();

    let response = web.post_form("/mine", &[], &cookies).await;
    let (status, html) = web.follow(response, &mut cookies).await;

    assert_eq!(status, StatusCode::OK);
    let flash = between(&html, "id=\"flash\">", "</div>").expect("a flash message");
    assert_eq!(
        flash,
        "Block #1 is mined: the pending posts are now in the chain."
    );
    assert!(
        !html.contains("Block #1 is mined."),
        "not the node's raw answer"
    );
    let posts = articles(&html);
    assert_eq!(posts.len(), 1);
    assert!(posts[0].contains("to be mined") && posts[0].contains("data-block=\"1\""));
    assert!(node.pending().await.is_empty());
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn requesting_to_mine_with_nothing_pending_says_there_is_nothing_to_mine() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut cookies = Cookies::default();

    let response = web.post_form("/mine", &[], &cookies).await;
    let (_, html) = web.follow(response, &mut cookies).await;

    assert!(html.contains("flash flash-info"), "{html}");
    assert!(html.contains("Nothing to mine: no posts are waiting."));
    assert_eq!(node.blocks().await.len(), 1);
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_post_without_an_author_is_refused_next_to_the_form_keeping_the_text() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let response = web
        .post_form(
            "/submit",
            &[("author", "   "), ("content", "words worth keeping <3")],
            &Cookies::default(),
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("HTML");
    let author_field = between(&html, "<label for=\"author\">", "<label for=\"content\">")
        .expect("the author field");
    assert!(
        author_field
            .contains("class=\"field-error\" id=\"author-error\">Please write the author.<"),
        "the message is next to the author field: {author_field}"
    );
    assert!(author_field.contains("aria-invalid=\"true\""));
    assert!(
        html.contains(">words worth keeping &#60;3</textarea>"),
        "the content is kept as typed (and escaped): {html}"
    );
    assert!(node.pending().await.is_empty(), "nothing was posted");
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn content_over_the_limit_is_refused_before_it_reaches_the_node() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let long = "x".repeat(1_001);

    let response = web
        .post_form(
            "/submit",
            &[("author", "alice"), ("content", &long)],
            &Cookies::default(),
        )
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("HTML");
    assert!(html.contains("The content is 1001 characters long; at most 1000 fit in a block."));
    assert!(node.pending().await.is_empty());
    web.stop().await;
    node.stop().await;
}

fn signed_fields(
    key: &SigningKey,
    author: &str,
    content: &str,
    timestamp: f64,
) -> [(String, String); 5] {
    let public_key = key.verifying_key().to_bytes();
    let message = chainpost_chain::Transaction::signing_message(
        author,
        content,
        timestamp,
        &chainpost_chain::PostKind::Post,
        &public_key,
    );
    [
        ("author".into(), author.into()),
        ("content".into(), content.into()),
        ("timestamp".into(), timestamp.to_string()),
        ("public_key".into(), hex::encode(public_key)),
        (
            "signature".into(),
            hex::encode(key.sign(&message).to_bytes()),
        ),
    ]
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

#[tokio::test]
async fn a_signed_post_is_forwarded_with_its_signature_and_shown_with_its_key() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let key = SigningKey::from_bytes(&[42u8; 32]);
    // A browser sends a textarea's line breaks as CRLF but signs the LF text.
    let fields = signed_fields(&key, "alice", "signed\nover two lines", now());
    let mut sent: Vec<(&str, String)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    sent[1].1 = "signed\r\nover two lines".into();
    let form: Vec<(&str, &str)> = sent.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut cookies = Cookies::default();

    let response = web.post_form("/submit", &form, &cookies).await;
    let (_, html) = web.follow(response, &mut cookies).await;

    let fingerprint = &hex::encode(key.verifying_key().to_bytes())[..8];
    assert!(
        html.contains(&format!("It is signed with your key {fingerprint}.")),
        "{html}"
    );
    let posts = articles(&html);
    assert_eq!(posts.len(), 1);
    assert!(posts[0].contains("badge-signed"), "{}", posts[0]);
    assert!(
        !posts[0].contains("verified"),
        "a key without a handle is not a verified name"
    );
    assert!(posts[0].contains(&format!("<code class=\"fingerprint\">{fingerprint}</code>")));
    let pending = node.pending().await;
    assert_eq!(pending[0]["public_key"], fields[3].1.as_str());
    assert_eq!(pending[0]["content"], "signed\nover two lines");
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_forged_signature_is_refused_by_the_node_and_the_reason_shown_by_the_form() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let mut fields = signed_fields(&key, "alice", "what alice signed", now());
    fields[1].1 = "what mallory wants alice to say".into();
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let response = web.post_form("/submit", &form, &Cookies::default()).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("HTML");
    let error = between(&html, "id=\"form-error\">", "</p>").expect("a message by the form");
    assert!(error.starts_with("The node refused the post:"), "{error}");
    assert!(error.contains("signature"), "{error}");
    assert!(html.contains(">what mallory wants alice to say</textarea>"));
    assert!(node.pending().await.is_empty());
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_duplicate_post_is_refused_with_the_nodes_reason() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let key = SigningKey::from_bytes(&[3u8; 32]);
    let fields = signed_fields(&key, "alice", "said once", now());
    let form: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    let first = web.post_form("/submit", &form, &Cookies::default()).await;
    let again = web.post_form("/submit", &form, &Cookies::default()).await;

    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let html = again.text().await.expect("HTML");
    assert!(html.contains("The node refused the post:"), "{html}");
    assert_eq!(node.pending().await.len(), 1);
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn resync_tells_in_words_that_a_node_without_peers_keeps_its_chain() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut cookies = Cookies::default();

    let response = web.post_form("/resync", &[], &cookies).await;
    let (_, html) = web.follow(response, &mut cookies).await;

    let flash = between(&html, "id=\"flash\">", "</div>").expect("a flash message");
    assert_eq!(
        flash,
        "Nothing to resync with: this node has no peers yet, so it keeps its chain (block #0)."
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn resync_on_a_node_without_the_endpoint_says_it_is_not_available() {
    // A node that only has the tutorial's first endpoints answers 404 to /nodes/resolve.
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            "<!doctype html><title>404 Not Found</title>",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let web = TestWeb::spawn(vec![
        chainpost_webapp::config::NodeUrl::parse(&url).expect("URL"),
    ])
    .await;
    let mut cookies = Cookies::default();

    let response = web.post_form("/resync", &[], &cookies).await;
    let (status, html) = web.follow(response, &mut cookies).await;

    assert_eq!(status, StatusCode::OK);
    let flash = between(&html, "id=\"flash\">", "</div>").expect("a flash message");
    assert!(
        flash.starts_with("Resync is not available on this node yet"),
        "{flash}"
    );
    web.stop().await;
}

#[tokio::test]
async fn a_reply_goes_back_to_its_thread_and_a_refused_one_keeps_its_text_there() {
    let node = TestNode::spawn().await;
    let root = node.post("alice", "the root post").await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let mut cookies = Cookies::default();

    let response = web
        .post_form(
            "/submit",
            &[
                ("author", "bob"),
                ("content", "an answer"),
                ("reply_to", &root),
            ],
            &cookies,
        )
        .await;
    let location = response
        .headers()
        .get("location")
        .and_then(|location| location.to_str().ok())
        .map(str::to_owned);
    assert_eq!(location, Some(format!("/posts/{root}")));
    let (status, html) = web.follow(response, &mut cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Your reply was sent"), "{html}");
    let replies = between(&html, "class=\"posts replies\"", "</section>").expect("replies");
    let replies = articles(replies);
    assert_eq!(replies.len(), 1);
    assert!(replies[0].contains("an answer") && replies[0].contains(">pending<"));
    assert_eq!(node.pending().await[1]["reply_to"], root.as_str());

    // Refused, the reply is drawn again in its thread, the text kept and still a reply.
    let response = web
        .post_form(
            "/submit",
            &[("author", "bob"), ("content", " "), ("reply_to", &root)],
            &cookies,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("page");
    assert!(html.contains("the root post"), "{html}");
    assert!(
        html.contains(&format!(
            "<input type=\"hidden\" name=\"reply_to\" value=\"{root}\">"
        )),
        "{html}"
    );
    assert!(html.contains("value=\"bob\""), "{html}");

    // A reply to something that is not a post id never reaches the node.
    let response = web
        .post_form(
            "/submit",
            &[("author", "bob"), ("content", "x"), ("reply_to", "../mine")],
            &cookies,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("is not named by a post id")
    );
    assert_eq!(node.pending().await.len(), 2);
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_thread_address_that_names_no_post_says_so() {
    let node = TestNode::spawn().await;
    let root = node.post("alice", "the root post").await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let cookies = Cookies::default();
    let unknown = "ab".repeat(32);
    for (path, says) in [
        ("/posts/nothex".to_owned(), "Not a post id"),
        (format!("/posts/{unknown}"), "Unknown post"),
        (
            format!("/posts/{root}?after=7"),
            "Not a place in this thread",
        ),
    ] {
        let response = web.get(&path, &cookies).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let html = response.text().await.expect("page");
        assert!(html.contains(says), "{path}: {html}");
    }
    let response = web.get(&format!("/posts/{root}"), &cookies).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .expect("page")
            .contains("No replies yet")
    );
    web.stop().await;
    node.stop().await;
}
