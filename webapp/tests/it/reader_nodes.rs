//! A reader adds a node from the page (`--reader-nodes`): kept in a cookie, checked like
//! `--node` and by a `/status` before it is kept, read from at once, and forgotten on
//! request; with the feature off, neither the form nor a forged cookie adds anything.

use chainpost_webapp::config::{Config, Switch};
use reqwest::StatusCode;

use crate::helpers::{Cookies, TestNode, TestWeb, between, closed_port_url};

fn flash(html: &str) -> String {
    between(html, "id=\"flash\">", "</div>")
        .expect("a flash message")
        .to_owned()
}

#[tokio::test]
async fn a_reader_adds_a_node_from_the_page_reads_from_it_and_forgets_it() {
    let first = TestNode::spawn().await;
    let second = TestNode::spawn().await;
    second.post("bob", "only on the second node").await;
    second.mine().await;
    let web = TestWeb::spawn(vec![first.url()]).await;
    let mut cookies = Cookies::default();

    let (_, home) = web.page("/").await;
    assert!(
        home.contains("id=\"node-add\""),
        "the page offers to add a node"
    );
    assert!(!home.contains("only on the second node"));

    let second_url = second.url().to_string();
    let response = web
        .post_form("/nodes", &[("url", &second_url)], &cookies)
        .await;
    let (status, page) = web.follow(response, &mut cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        flash(&page).starts_with(&format!("Added {second_url}")),
        "{}",
        flash(&page)
    );
    assert!(
        page.contains("only on the second node"),
        "the page reads from it at once"
    );
    assert!(
        page.contains(&format!(">{second_url}</option>")),
        "it is in the node list"
    );
    assert!(cookies.get("nodes").is_some());

    // Later pages keep reading from it; adding it again only chooses it.
    let page = web.get("/", &cookies).await.text().await.expect("HTML");
    assert!(page.contains("only on the second node"));
    let response = web
        .post_form("/nodes", &[("url", &second_url)], &cookies)
        .await;
    let (_, page) = web.follow(response, &mut cookies).await;
    assert!(
        flash(&page).contains("in the list already"),
        "{}",
        flash(&page)
    );
    assert_eq!(page.matches(&format!(">{second_url}</option>")).count(), 1);

    let response = web.post_form("/nodes/forget", &[], &cookies).await;
    let (_, page) = web.follow(response, &mut cookies).await;
    assert!(
        !page.contains("only on the second node"),
        "back on the first node"
    );
    assert!(!page.contains(&format!(">{second_url}</option>")));
    web.stop().await;
}

#[tokio::test]
async fn an_address_that_is_not_a_url_or_not_a_chainpost_node_is_not_added() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let silent = closed_port_url().to_string();
    let long = format!("http://{}.example", "a".repeat(300));
    for (url, says) in [
        ("javascript:alert(1)", "Not added:"),
        ("ftp://node.example", "Not added:"),
        (silent.as_str(), "did not answer as a chainpost node"),
        (long.as_str(), "at most 256 are taken"),
    ] {
        let mut cookies = Cookies::default();
        let response = web.post_form("/nodes", &[("url", url)], &cookies).await;
        let (_, page) = web.follow(response, &mut cookies).await;
        assert!(flash(&page).contains(says), "{url}: {}", flash(&page));
        assert!(cookies.get("nodes").is_none(), "{url} was kept");
    }
    web.stop().await;
}

#[tokio::test]
async fn with_reader_nodes_off_there_is_no_form_and_no_cookie_adds_a_node() {
    let first = TestNode::spawn().await;
    let second = TestNode::spawn().await;
    second.post("bob", "only on the second node").await;
    second.mine().await;
    let mut config = Config::ephemeral(vec![first.url()]);
    config.reader_nodes = Some(Switch::Off);
    let web = TestWeb::spawn_with(config).await;

    let (_, home) = web.page("/").await;
    assert!(!home.contains("id=\"node-add\""));
    let cookies = Cookies::default();
    let response = web
        .post_form("/nodes", &[("url", &second.url().to_string())], &cookies)
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A cookie written while the feature was on (or forged) adds nothing now.
    let mut on = Cookies::default();
    let open = TestWeb::spawn(vec![first.url()]).await;
    let response = open
        .post_form("/nodes", &[("url", &second.url().to_string())], &on)
        .await;
    on.take_from(&response);
    assert!(on.get("nodes").is_some());
    let page = web.get("/?node=1", &on).await.text().await.expect("HTML");
    assert!(!page.contains("only on the second node"));
    open.stop().await;
    web.stop().await;
}

#[tokio::test]
async fn a_reader_adds_at_most_four_nodes() {
    let configured = TestNode::spawn().await;
    let mut others = Vec::new();
    for _ in 0..5 {
        others.push(TestNode::spawn().await);
    }
    let web = TestWeb::spawn(vec![configured.url()]).await;
    let mut cookies = Cookies::default();
    for node in &others[..4] {
        let url = node.url().to_string();
        let response = web.post_form("/nodes", &[("url", &url)], &cookies).await;
        let (_, page) = web.follow(response, &mut cookies).await;
        assert!(flash(&page).starts_with("Added"), "{}", flash(&page));
    }
    let fifth = others[4].url().to_string();
    let response = web.post_form("/nodes", &[("url", &fifth)], &cookies).await;
    let (_, page) = web.follow(response, &mut cookies).await;
    assert!(flash(&page).contains("at most 4 nodes"), "{}", flash(&page));
    assert!(!page.contains(&format!(">{fifth}</option>")));
    assert_eq!(
        page.matches("</option>").count(),
        5,
        "the configured node and 4 added"
    );
    web.stop().await;
}
