//! The home page: posts newest first with their blocks, escaping, switching nodes, and
//! reading a node built from the tutorial.

use axum::Router;
use axum::routing::get;
use chainpost_webapp::config::NodeUrl;
use reqwest::StatusCode;

use crate::helpers::{Cookies, TestNode, TestWeb, articles, between, fork_and_reorganize};

#[tokio::test]
async fn the_home_page_lists_the_chains_posts_newest_first_with_their_block_numbers() {
    let node = TestNode::spawn().await;
    node.post("alice", "the oldest post").await;
    node.mine().await;
    node.post("bob", "a post in the middle").await;
    node.mine().await;
    node.post("carol", "the newest post").await;
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (status, html) = web.page("/").await;

    assert_eq!(status, StatusCode::OK);
    let posts = articles(&html);
    assert_eq!(posts.len(), 3, "{html}");
    for (post, (content, block)) in posts.iter().zip([
        ("the newest post", 3),
        ("a post in the middle", 2),
        ("the oldest post", 1),
    ]) {
        assert!(post.contains(content), "expected {content:?} in {post}");
        assert!(post.contains(&format!("data-block=\"{block}\"")), "{post}");
        assert!(post.contains(&format!("Block #{block}")), "{post}");
    }
    let blocks = node.blocks().await;
    let newest_hash = blocks[3]["hash"].as_str().expect("hash");
    assert!(
        posts[0].contains(&format!("href=\"/blocks/{newest_hash}\"")),
        "the post links to its block in the explorer"
    );
    assert!(
        posts[0].contains(&newest_hash[..8]),
        "short block hash shown"
    );
    assert!(posts[0].contains("unverified"), "unsigned posts are marked");
    assert!(
        between(&html, "id=\"status-height\">", "<") == Some("3"),
        "the node's status shows its height"
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_script_in_a_post_is_shown_as_text_and_never_as_markup() {
    let node = TestNode::spawn().await;
    node.post("<b>mallory</b>", "<script>alert(1)</script>")
        .await;
    node.mine().await;
    node.post(
        "\"><img src=x onerror=alert(2)>",
        "pending <script>alert(3)</script>",
    )
    .await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, html) = web.page("/").await;

    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<b>mallory"), "{html}");
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"),
        "{html}"
    );
    assert!(html.contains("&#60;b&#62;mallory&#60;/b&#62;"), "{html}");
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_reader_can_switch_between_two_nodes_and_the_choice_is_remembered() {
    let first = TestNode::spawn().await;
    let second = TestNode::spawn().await;
    first.post("alice", "only on the first node").await;
    second.post("bob", "only on the second node").await;
    let web = TestWeb::spawn(vec![first.url(), second.url()]).await;

    let (_, html) = web.page("/").await;
    assert!(html.contains("only on the first node"));
    assert!(!html.contains("only on the second node"));
    assert!(html.contains(&format!("<option value=\"1\">{}</option>", second.base)));

    let switched = web.get("/?node=1", &Cookies::default()).await;
    let mut cookies = Cookies::default();
    cookies.take_from(&switched);
    let html = switched.text().await.expect("HTML");
    assert!(html.contains("only on the second node"));
    assert!(!html.contains("only on the first node"));
    assert_eq!(
        cookies.get("node"),
        Some("1"),
        "the choice is kept in a cookie"
    );

    let later = web.get("/", &cookies).await.text().await.expect("HTML");
    assert!(
        later.contains("only on the second node"),
        "the cookie keeps node 2"
    );

    // Posting goes to the chosen node too.
    let response = web
        .post_form(
            "/submit?node=1",
            &[("author", "dave"), ("content", "sent to the second node")],
            &cookies,
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.pending().await.len(), 2);
    assert_eq!(first.pending().await.len(), 1);

    let out_of_range = web.get("/?node=7", &Cookies::default()).await;
    assert_eq!(out_of_range.status(), StatusCode::OK);
    assert!(
        out_of_range
            .text()
            .await
            .expect("HTML")
            .contains("only on the first node")
    );
    web.stop().await;
    first.stop().await;
    second.stop().await;
}

/// A node as the tutorial writes it: `/chain` with float timestamps, no ids, no
/// difficulty, one block without a hash; `/pending_tx`; nothing else.
async fn spawn_tutorial_node() -> NodeUrl {
    const CHAIN: &str = r#"{"length": 3, "peers": [], "chain": [
        {"index": 0, "transactions": [], "timestamp": 0, "previous_hash": "0", "nonce": 0,
         "hash": "0000aaaa00000000000000000000000000000000000000000000000000000000"},
        {"index": 1, "transactions": [{"author": "ann", "content": "from a tutorial node", "timestamp": 1763800000.123}],
         "timestamp": 1763800001.5, "previous_hash": "0000aaaa00000000000000000000000000000000000000000000000000000000",
         "nonce": 4521, "hash": "00bbbb0000000000000000000000000000000000000000000000000000000000"},
        {"index": 2, "transactions": [{"author": "ben", "content": "a block with no hash field", "timestamp": 1763800100.5}],
         "timestamp": 1763800101.25, "previous_hash": "00bbbb0000000000000000000000000000000000000000000000000000000000",
         "nonce": 77}
    ]}"#;
    let app = Router::new()
        .route("/chain", get(|| async { CHAIN }))
        .route(
            "/pending_tx",
            get(|| async { r#"[{"author": "cy", "content": "waiting in a tutorial node", "timestamp": 1763800200.0}]"# }),
        )
        .fallback(|| async {
            // Flask's 404 page.
            (
                StatusCode::NOT_FOUND,
                "<!doctype html>\n<title>404 Not Found</title>\n<h1>Not Found</h1>",
            )
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    NodeUrl::parse(&format!("http://{address}")).expect("URL")
}

#[tokio::test]
async fn a_node_built_from_the_tutorial_is_read_too() {
    let web = TestWeb::spawn(vec![spawn_tutorial_node().await]).await;

    let (status, html) = web.page("/").await;

    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("class=\"banner\""), "no banner: {html}");
    let posts = articles(&html);
    assert_eq!(posts.len(), 3, "{html}");
    assert!(posts[0].contains("waiting in a tutorial node") && posts[0].contains("pending"));
    assert!(posts[1].contains("a block with no hash field"));
    assert!(posts[1].contains("href=\"/height/2\""), "{}", posts[1]);
    assert!(posts[2].contains("from a tutorial node"));
    assert!(posts[2].contains("Block #1") && posts[2].contains("00bbbb00"));
    assert!(
        posts[2].contains("2025"),
        "a human-readable date: {}",
        posts[2]
    );
    assert_eq!(between(&html, "id=\"status-height\">", "<"), Some("2"));

    let (status, block) = web
        .page("/blocks/00bbbb0000000000000000000000000000000000000000000000000000000000")
        .await;
    assert_eq!(status, StatusCode::OK, "{block}");
    assert!(block.contains("Block #1") && block.contains("4521"));
    assert!(block.contains("from a tutorial node"));

    let (status, at_height) = web.page("/height/2").await;
    assert_eq!(status, StatusCode::OK, "{at_height}");
    assert!(at_height.contains("a block with no hash field"));

    let (status, tree) = web.page("/tree").await;
    assert_eq!(status, StatusCode::OK);
    assert!(tree.contains("only its best chain is shown"));
    assert_eq!(
        tree.matches("class=\"tree-block is-best").count(),
        3,
        "{tree}"
    );
    web.stop().await;
}

/// Every post of the home feed from `/` on, following "Older posts": each page's posts'
/// HTML, and the address each page was read at.
async fn feed_pages(web: &TestWeb) -> Vec<(String, Vec<String>)> {
    let mut pages = Vec::new();
    let mut next = Some("/".to_owned());
    while let Some(path) = next {
        let (status, html) = web.page(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        let posts = articles(&html).into_iter().map(str::to_owned).collect();
        next = between(&html, "id=\"older-posts\" href=\"", "\"")
            .map(|href| href.replace("&amp;", "&"));
        pages.push((path, posts));
        assert!(pages.len() < 20, "the feed does not end");
    }
    pages
}

#[tokio::test]
async fn the_home_feed_pages_back_to_genesis_newest_first_with_confirmations() {
    let node = TestNode::spawn().await;
    // 12 blocks of 10 posts; post i is the (i % 10)th of block i / 10 + 1.
    for block in 0..12 {
        for n in 0..10 {
            node.post("alice", &format!("post {}", block * 10 + n))
                .await;
        }
        node.mine().await;
    }
    node.post("bob", "still waiting").await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let pages = feed_pages(&web).await;

    let sizes: Vec<usize> = pages.iter().map(|(_, posts)| posts.len()).collect();
    assert_eq!(
        sizes,
        [51, 50, 20],
        "50 a page, the pending post on the first"
    );
    assert!(pages[0].1[0].contains("still waiting") && pages[0].1[0].contains("pending"));
    let confirmed: Vec<&String> = pages
        .iter()
        .flat_map(|(_, posts)| posts)
        .filter(|post| !post.contains("still waiting"))
        .collect();
    for (post, i) in confirmed.iter().zip((0..120).rev()) {
        assert!(
            post.contains(&format!(">post {i}<")),
            "post {i} expected: {post}"
        );
        let block = i / 10 + 1;
        assert!(post.contains(&format!("Block #{block}")), "{post}");
        let confirmations = 12 - block + 1;
        let text = if confirmations == 1 {
            "1 confirmation<".to_owned()
        } else {
            format!("{confirmations} confirmations<")
        };
        assert!(post.contains(&text), "{text} expected: {post}");
    }
    assert_eq!(confirmed.len(), 120, "every post once");
    for (path, _) in &pages[1..] {
        let (_, html) = web.page(path).await;
        assert!(html.contains("id=\"newest-posts\""), "{path} links back");
        assert!(
            !html.contains("Waiting to be mined"),
            "{path}: pending only on the first"
        );
    }

    let (status, html) = web.page("/?before=1.0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("No older posts: this is the start of the chain"),
        "{html}"
    );
    for bad in ["/?before=nonsense", "/?before=1.", "/?before=-1.0"] {
        let (status, html) = web.page(bad).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
        assert!(html.contains("Not a place in the feed"), "{bad}: {html}");
    }
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_post_a_reorganization_took_back_shows_as_returned_to_pending() {
    let (node, other) = (TestNode::spawn().await, TestNode::spawn().await);
    fork_and_reorganize(&node, &other).await;
    node.post("carol", "only ever pending").await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, html) = web.page("/").await;

    let posts = articles(&html);
    let returned = posts
        .iter()
        .find(|post| post.contains("a post on the branch that loses"))
        .expect("the abandoned post is listed");
    assert!(returned.contains("returned to pending"), "{returned}");
    let fresh = posts
        .iter()
        .find(|post| post.contains("only ever pending"))
        .expect("the new post is listed");
    assert!(
        fresh.contains(">pending<") && !fresh.contains("returned"),
        "{fresh}"
    );
    web.stop().await;
    node.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn web_addresses_in_a_post_are_links_for_strangers_and_nothing_else_is() {
    let node = TestNode::spawn().await;
    node.post(
        "alice",
        "read https://example.com/a?b=1&c=2, not javascript:alert(1) or \"https://x.y/\"onclick=alert(1)",
    )
    .await;
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, html) = web.page("/").await;

    let post = articles(&html)[0];
    let content = between(post, "<p class=\"content\">", "</p>").expect("content");
    assert_eq!(
        content,
        "read <a href=\"https://example.com/a?b=1&#38;c=2\" rel=\"nofollow ugc noopener\">\
         https://example.com/a?b=1&#38;c=2</a>, not javascript:alert(1) or &#34;<a \
         href=\"https://x.y/\" rel=\"nofollow ugc noopener\">https://x.y/</a>&#34;onclick=alert(1)",
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_post_card_says_how_many_replies_its_thread_has() {
    let node = TestNode::spawn().await;
    let root = node.post("alice", "a question").await;
    let reply = |content: &'static str| {
        let body = serde_json::json!({ "author": "bob", "content": content, "reply_to": root });
        let node = &node;
        async move { node.post_json("/new_transaction", &body).await }
    };
    reply("one answer").await;
    node.mine().await;
    reply("another").await;
    node.post("carol", "unanswered").await;
    node.mine().await;
    // Counted once confirmed, like everything "in the chain".
    reply("a third, pending").await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (_, home) = web.page("/").await;
    let (_, thread) = web.page(&format!("/posts/{root}")).await;

    for html in [&home, &thread] {
        let card = articles(html)
            .into_iter()
            .find(|post| post.contains(">a question<"))
            .expect("the question is shown");
        assert!(
            card.contains(&format!("href=\"/posts/{root}\">2 replies</a>")),
            "{} on {}",
            between(card, "thread-link", "</a>").unwrap_or_default(),
            between(html, "<title>", "</title>").unwrap_or_default()
        );
    }
    let unanswered = articles(&home)
        .into_iter()
        .find(|post| post.contains(">unanswered<"))
        .expect("listed");
    assert!(unanswered.contains("\">Reply</a>"), "{unanswered}");
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_search_box_goes_straight_to_a_height_a_block_a_post_a_key_or_a_name() {
    let node = TestNode::spawn().await;
    let id = node.post("alice", "findable").await;
    node.mine().await;
    let hash = node.blocks().await[1]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let key = "ab".repeat(32);
    node.search_indexed().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let cookies = Cookies::default();
    for (asked, location) in [
        ("1", "/height/1".to_owned()),
        (&hash, format!("/blocks/{hash}")),
        (&hash.to_uppercase(), format!("/blocks/{hash}")),
        (&id, format!("/posts/{id}")),
        (&format!("  {id}\n"), format!("/posts/{id}")),
        (&key, format!("/authors/{key}")),
        ("from:alice", "/authors/alice".to_owned()),
        (
            "from: Zoë 山田",
            "/authors/Zo%C3%AB%20%E5%B1%B1%E7%94%B0".to_owned(),
        ),
    ] {
        let response = web
            .get(&format!("/search?q={}", urlencode(asked)), &cookies)
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{asked}");
        assert_eq!(
            response.headers()["location"].to_str().expect("ASCII"),
            location,
            "{asked}"
        );
    }
    let (status, words) = web.page("/search?q=hello%20world").await;
    assert_eq!(status, StatusCode::OK);
    assert!(words.contains("id=\"no-results\""), "{words}");
    assert!(
        words.contains("href=\"/authors/hello%20world\" id=\"name-page\""),
        "{words}"
    );
    let (status, _) = web.page("/search").await;
    assert_eq!(status, StatusCode::OK);
    let (status, long) = web.page(&format!("/search?q={}", "x".repeat(201))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(long.contains("Search too long"));
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn words_find_the_posts_having_them_all_newest_first_a_page_at_a_time() {
    let node = TestNode::spawn().await;
    for n in 0..25 {
        node.post("alice", &format!("needle number {n}")).await;
    }
    node.post("bob", "a needle alone").await;
    node.mine().await;
    node.search_indexed().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (status, first) = web.page("/search?q=Needle%20NUMBER").await;
    assert_eq!(status, StatusCode::OK);
    let posts = articles(&first);
    assert_eq!(posts.len(), 20, "a page");
    assert!(
        posts[0].contains("needle number 24"),
        "newest first: {}",
        posts[0]
    );
    let more = between(&first, "<a id=\"more-results\" href=\"", "\"")
        .expect("a link to more")
        .replace("&#38;", "&");
    assert!(
        more.starts_with("/search?q=Needle%20NUMBER&before="),
        "{more}"
    );
    let (status, second) = web.page(&more).await;
    assert_eq!(status, StatusCode::OK);
    let posts = articles(&second);
    assert_eq!(posts.len(), 5);
    assert!(posts[4].contains("needle number 0"));
    assert!(!second.contains("more-results"), "the last page");

    // The node's refusal, in its words.
    let (status, page) = web.page("/search?q=%21%3F").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("needs a word"), "{page}");
    let (status, _) = web.page("/search?q=needle&before=nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    web.stop().await;
    node.stop().await;
}

fn urlencode(text: &str) -> String {
    serde_urlencoded::to_string([("q", text)])
        .expect("encodes")
        .trim_start_matches("q=")
        .to_owned()
}

#[tokio::test]
async fn a_fresh_node_knows_1_block_and_its_genesis_is_shown_as_unmined() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;

    let (status, html) = web.page("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("· 1 block known"), "{html}");

    let genesis = node.blocks().await[0]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let (status, html) = web.page(&format!("/blocks/{genesis}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("none: the genesis block is fixed by the network"),
        "{html}"
    );
    assert!(!html.contains(" bits</dd>"), "{html}");

    node.post("alice", "a post to mine").await;
    node.mine().await;
    let mined = node.blocks().await[1]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let (_, html) = web.page(&format!("/blocks/{mined}")).await;
    assert!(
        html.contains(" bits</dd>"),
        "a mined block shows its difficulty: {html}"
    );
    web.stop().await;
    node.stop().await;
}
