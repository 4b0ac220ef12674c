//! Failure handled like a product: a node that is down or slow gives a banner on a page
//! that works, never a 500.

use std::time::Duration;

use chainpost_webapp::config::{Config, NodeUrl};
use reqwest::StatusCode;

use crate::helpers::{Cookies, TestWeb, between, closed_port_url};

#[tokio::test]
async fn a_node_that_is_down_gives_a_banner_on_a_working_page() {
    let down = closed_port_url();
    let web = TestWeb::spawn(vec![down.clone()]).await;

    for path in [
        "/",
        "/tree",
        &format!("/blocks/{}", "ab".repeat(32)),
        "/height/1",
    ] {
        let (status, html) = web.page(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let banner = between(&html, "<div class=\"banner\" role=\"alert\">", "</div>")
            .unwrap_or_else(|| panic!("{path} has a banner: {html}"));
        assert!(
            banner.contains(&format!("The node at {down} is not answering")),
            "{banner}"
        );
        assert!(
            html.contains("data-live=\"down\""),
            "{path} notices when the node is back"
        );
    }
    let (_, home) = web.page("/").await;
    assert!(home.contains("id=\"post-form\""), "the form is still there");
    assert!(home.contains("The posts will appear here when the node is back."));
    web.stop().await;
}

#[tokio::test]
async fn a_post_sent_while_the_node_is_down_is_kept_in_the_form_with_the_reason() {
    let web = TestWeb::spawn(vec![closed_port_url()]).await;

    let response = web
        .post_form(
            "/submit",
            &[("author", "alice"), ("content", "please do not lose this")],
            &Cookies::default(),
        )
        .await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let html = response.text().await.expect("HTML");
    let error = between(&html, "id=\"form-error\">", "</p>").expect("a message by the form");
    assert!(error.starts_with("Your post was not sent."), "{error}");
    assert!(html.contains("value=\"alice\""));
    assert!(html.contains(">please do not lose this</textarea>"));
    web.stop().await;
}

#[tokio::test]
async fn requesting_to_mine_from_a_node_that_is_down_says_so_in_the_flash_message() {
    let web = TestWeb::spawn(vec![closed_port_url()]).await;
    let mut cookies = Cookies::default();

    let response = web.post_form("/mine", &[], &cookies).await;
    let (status, html) = web.follow(response, &mut cookies).await;

    assert_eq!(status, StatusCode::OK);
    let flash = between(
        &html,
        "<div class=\"flash flash-error\" role=\"status\" id=\"flash\">",
        "</div>",
    )
    .expect("an error flash");
    assert!(
        flash.starts_with("Mining was not requested. The node at"),
        "{flash}"
    );
    web.stop().await;
}

#[tokio::test]
async fn a_node_that_accepts_connections_but_never_answers_times_out_into_a_banner() {
    // The kernel completes the handshake for a listener that never accepts: requests hang.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url =
        NodeUrl::parse(&format!("http://{}", silent.local_addr().expect("address"))).expect("URL");
    let mut config = Config::ephemeral(vec![url]);
    config.node_timeout = Duration::from_millis(300);
    let web = TestWeb::spawn_with(config).await;

    let started = std::time::Instant::now();
    let (status, html) = web.page("/").await;

    assert_eq!(status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the page does not hang"
    );
    assert!(html.contains("did not answer within 0.3 s"), "{html}");
    drop(silent);
    web.stop().await;
}

#[tokio::test]
async fn an_unknown_page_or_block_is_a_404_page_not_a_crash() {
    let node = crate::helpers::TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (status, html) = web.page("/no/such/page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"));

    let (status, html) = web.page(&format!("/blocks/{}", "12".repeat(32))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("does not know block 12121212"), "{html}");

    let (status, _) = web.page("/blocks/..%2Fmine").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "only hex reaches the node");
    assert_eq!(node.blocks().await.len(), 1);
    web.stop().await;
    node.stop().await;
}
