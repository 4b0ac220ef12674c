//! Real headless Chromium, driven through chromedriver with fantoccini, against a node
//! and the web app started in-process: what a person sees and does.
//!
//! Needs Chromium and chromedriver, on the PATH or named by `CHROME_BIN` and `CHROMEDRIVER`
//! (scripts/test.sh, the test command, installs them); without them these tests fail and
//! say so. Screenshots go to `$SCREENSHOT_DIR` (default
//! /work/screenshots).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::helpers::{TestNode, TestWeb, closed_port_url, fork_and_reorganize};

/// Browsers at once: two cores do not run more Chromiums well.
static BROWSERS: Semaphore = Semaphore::const_new(2);

/// How long to wait for something to appear on a page.
const WAIT: Duration = Duration::from_secs(30);

/// A headless Chromium session behind its own chromedriver, both ended on drop.
struct Browser {
    client: Client,
    driver: Child,
    _permit: tokio::sync::SemaphorePermit<'static>,
}

/// The program `env` names, else the first of `names` found on the PATH.
fn find_program(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(chosen) = std::env::var_os(env) {
        return Some(PathBuf::from(chosen)).filter(|path| path.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

impl Browser {
    async fn start() -> Self {
        let permit = BROWSERS.acquire().await.expect("semaphore open");
        let install = "run scripts/test.sh, which installs Chromium and chromedriver";
        let chromedriver = find_program("CHROMEDRIVER", &["chromedriver"])
            .unwrap_or_else(|| panic!("chromedriver not found: {install}, or set CHROMEDRIVER"));
        let chromium = find_program(
            "CHROME_BIN",
            &["chromium", "chromium-browser", "google-chrome"],
        )
        .unwrap_or_else(|| panic!("chromium not found: {install}, or set CHROME_BIN"));

        let mut command = Command::new(&chromedriver);
        command
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        // Its own process group, so that dropping it can end Chromium's processes too.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut driver = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", chromedriver.display()));
        let stdout = driver.stdout.take().expect("piped stdout");
        // chromedriver prints the port it chose; read until then (blocking: its own thread).
        let port = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let port = lines.by_ref().map_while(Result::ok).find_map(|line| {
                line.split("started successfully on port ")
                    .nth(1)
                    .and_then(|rest| rest.trim_end_matches('.').trim().parse::<u16>().ok())
            });
            std::thread::spawn(move || for _ in lines {});
            port
        })
        .await
        .expect("reader thread")
        .expect("chromedriver said which port it listens on");

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--window-size=1280,1100", "--hide-scrollbars"],
            }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session starts");
        Browser {
            client,
            driver,
            _permit: permit,
        }
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("page loads");
    }

    async fn wait_for(&self, xpath: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::XPath(xpath))
            .await
        {
            Ok(element) => element,
            Err(error) => {
                let source = self.client.source().await.unwrap_or_default();
                panic!("{xpath} did not appear ({error}); the page was:\n{source}");
            }
        }
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(selector))
            .await
            .unwrap_or_else(|error| panic!("{selector}: {error}"))
    }

    async fn click(&self, selector: &str) {
        self.css(selector)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("clicking {selector}: {error}"));
    }

    async fn type_into(&self, selector: &str, text: &str) {
        self.css(selector)
            .await
            .send_keys(text)
            .await
            .expect("typing works");
    }

    /// Clicks "Request to mine" once the page says the post just sent is pending: a click
    /// during the post form's navigation would be lost.
    async fn mine_once_the_post_is_pending(&self) {
        self.wait_for("//div[@id='flash'][contains(., 'is waiting to be mined')]")
            .await;
        self.click("#mine-button").await;
    }

    async fn screenshot(&self, name: &str) {
        let dir = std::env::var_os("SCREENSHOT_DIR")
            .map_or_else(|| PathBuf::from("/work/screenshots"), PathBuf::from);
        let png = self.client.screenshot().await.expect("screenshot taken");
        // A screenshot is for people to look at; failing to keep one fails no behaviour.
        if let Err(error) =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(dir.join(name), png))
        {
            eprintln!(
                "cannot save screenshot {name} in {}: {error}",
                dir.display()
            );
        }
    }

    async fn set_size(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("window resizes");
    }

    async fn no_alert_is_open(&self) -> bool {
        matches!(
            self.client.get_alert_text().await,
            Err(CmdError::Standard(ref error)) if error.error == ErrorStatus::NoSuchAlert
        )
    }

    async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the whole group we started (chromedriver and its Chromium), by its id.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

/// The XPath of the post card whose content is exactly `content`.
fn post_with(content: &str) -> String {
    format!(
        "//article[contains(@class,'post')][.//p[@class='content' and normalize-space(.)='{content}']]"
    )
}

#[tokio::test]
async fn a_post_written_in_the_browser_is_mined_and_listed_with_its_block_number() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;

    browser.type_into("#author", "alice").await;
    browser
        .type_into("#content", "Hello from a real browser")
        .await;
    browser.click("#post-button").await;
    browser
        .wait_for(&format!(
            "{}[contains(@class,'post-pending')]",
            post_with("Hello from a real browser")
        ))
        .await;
    browser.mine_once_the_post_is_pending().await;
    browser
        .wait_for(
            "//div[@id='flash'][. = 'Block #1 is mined: the pending posts are now in the chain.']",
        )
        .await;
    let card = browser
        .wait_for(&format!(
            "{}[@data-block='1']",
            post_with("Hello from a real browser")
        ))
        .await;
    let meta = card
        .find(Locator::Css(".block-ref"))
        .await
        .expect("block link");
    assert!(meta.text().await.expect("text").starts_with("Block #1"));

    // A few more posts so the screenshot shows a lived-in page.
    node.post("bob", "Proof of work keeps everyone honest. Mostly.")
        .await;
    node.mine().await;
    node.post(
        "carol",
        "Does anyone else sign their posts?\nMine show a key fingerprint.",
    )
    .await;
    browser.goto(&web.url("/")).await;
    browser
        .wait_for(&post_with("Proof of work keeps everyone honest. Mostly."))
        .await;
    browser.set_size(1280, 1400).await;
    browser.screenshot("home.png").await;
    // On a phone the form comes first, then the node's status and actions, then posts,
    // then the key card with its backups.
    browser.set_size(420, 1400).await;
    assert!(
        browser
            .css("#backup-panel")
            .await
            .is_displayed()
            .await
            .expect("laid out"),
        "a phone can back its key up too"
    );
    let mut tops = Vec::new();
    for selector in [
        "#post-form",
        "#live-status",
        "#mine-button",
        "#live-posts",
        "#backup-panel",
    ] {
        let (_, y, _, _) = browser
            .css(selector)
            .await
            .rectangle()
            .await
            .expect("laid out");
        tops.push(y);
    }
    assert!(tops.is_sorted(), "top to bottom, form first: {tops:?}");
    browser.screenshot("home-narrow.png").await;
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_script_injection_post_shows_as_text_and_runs_nothing() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;

    browser.type_into("#author", "mallory").await;
    browser
        .type_into(
            "#content",
            "<script>alert(1)</script><img src=x onerror=alert(2)>",
        )
        .await;
    browser.click("#post-button").await;
    browser.mine_once_the_post_is_pending().await;
    let card = browser
        .wait_for(&format!(
            "{}[@data-block='1']",
            post_with("<script>alert(1)</script><img src=x onerror=alert(2)>")
        ))
        .await;

    let shown = card.find(Locator::Css(".content")).await.expect("content");
    assert_eq!(
        shown.text().await.expect("text"),
        "<script>alert(1)</script><img src=x onerror=alert(2)>"
    );
    assert!(browser.no_alert_is_open().await, "no script ran");
    let injected = browser
        .client
        .find_all(Locator::Css("main script, main img[src='x']"))
        .await
        .expect("query");
    assert!(injected.is_empty(), "no element was injected");
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_browser_shows_a_banner_when_the_node_is_down() {
    let web = TestWeb::spawn(vec![closed_port_url()]).await;
    let browser = Browser::start().await;

    browser.goto(&web.url("/")).await;

    let banner = browser
        .wait_for("//div[@class='banner'][@role='alert']")
        .await;
    let text = banner.text().await.expect("text");
    assert!(text.starts_with("Node unavailable."), "{text}");
    assert!(text.contains("is not answering"), "{text}");
    assert!(
        browser
            .css("#post-form")
            .await
            .is_displayed()
            .await
            .expect("visible")
    );
    browser.screenshot("node-down.png").await;
    browser.close().await;
    web.stop().await;
}

#[tokio::test]
async fn browsing_many_pages_in_a_row_never_stalls_on_their_live_streams() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    // A stall would otherwise last minutes: make it an error after a few seconds.
    let timeouts = TimeoutConfiguration::new(None, Some(Duration::from_secs(10)), None);
    browser
        .client
        .update_timeouts(timeouts)
        .await
        .expect("timeouts set");
    browser.goto(&web.url("/")).await;

    // Each page opens a live stream; a browser allows six connections per host.
    for _ in 0..8 {
        let explorer = browser
            .client
            .find(Locator::LinkText("Explorer"))
            .await
            .expect("nav link");
        explorer.click().await.expect("navigates in time");
        browser.wait_for("//h1[. = 'Block tree']").await;
        let posts = browser
            .client
            .find(Locator::LinkText("Posts"))
            .await
            .expect("nav link");
        posts.click().await.expect("navigates in time");
        browser.wait_for("//h1[. = 'Share a post']").await;
    }
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_page_shown_while_the_node_was_down_recovers_by_itself_when_it_is_back() {
    let address = closed_port_url();
    let port = reqwest::Url::parse(address.as_str())
        .ok()
        .and_then(|url| url.port())
        .expect("a port");
    let web = TestWeb::spawn(vec![address]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    browser.wait_for("//div[@class='banner']").await;

    let node = TestNode::spawn_on(port).await;
    node.post("alice", "the node is back").await;

    browser
        .wait_for(&format!(
            "{}[contains(@class,'post-pending')]",
            post_with("the node is back")
        ))
        .await;
    let banners = browser
        .client
        .find_all(Locator::Css(".banner"))
        .await
        .expect("query");
    assert!(banners.is_empty(), "the banner is gone");
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

fn hex_of_base64url(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in text.bytes() {
        let value = ALPHABET.iter().position(|&c| c == byte).expect("base64url") as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    hex::encode(out)
}

#[tokio::test]
async fn a_post_signed_in_the_browser_shows_the_key_fingerprint_and_no_verified_name() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    // The key is made in the background; the page says so when it is ready.
    browser
        .wait_for("//p[@id='identity'][starts-with(., 'Signed with your key')]")
        .await;

    browser.type_into("#author", "Zoë").await;
    browser
        .type_into("#content", "Signed in the browser 🦀\nover two lines")
        .await;
    browser.click("#post-button").await;
    let card = browser
        .wait_for("//article[contains(@class,'post-pending')][.//p[@class='content' and starts-with(., 'Signed in the browser')]]")
        .await;

    let stored: Value = browser
        .client
        .execute(
            "return JSON.parse(localStorage.getItem('chainpost.keyring.v2')).current;",
            Vec::new(),
        )
        .await
        .expect("the key is kept in localStorage");
    let public_key = hex_of_base64url(stored.as_str().expect("x"));
    let badge = card
        .find(Locator::Css(".badge-signed .fingerprint"))
        .await
        .expect("signed");
    assert_eq!(badge.text().await.expect("text"), &public_key[..8]);
    let you = card.find(Locator::Css(".badge-you")).await.expect("badge");
    assert!(
        you.is_displayed().await.expect("visible"),
        "the page knows it is yours"
    );

    // The node verified it too: it only accepts valid signatures.
    let pending = node.pending().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["public_key"], public_key.as_str());
    assert_eq!(
        pending[0]["content"],
        "Signed in the browser 🦀\nover two lines"
    );
    assert_eq!(pending[0]["author"], "Zoë");

    // The key survives a reload: the next post carries the same one.
    browser.goto(&web.url("/")).await;
    browser
        .wait_for("//p[@id='identity'][starts-with(., 'Signed with your key')]")
        .await;
    browser.type_into("#author", "Zoë").await;
    browser.type_into("#content", "and again").await;
    browser.click("#post-button").await;
    browser
        .wait_for(&format!(
            "{}//span[contains(@class,'badge-signed')]",
            post_with("and again")
        ))
        .await;
    let pending = node.pending().await;
    assert_eq!(pending[1]["public_key"], public_key.as_str());
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_reply_signed_in_the_browser_joins_its_thread_and_is_confirmed_there() {
    let node = TestNode::spawn().await;
    let root = node.post("alice", "Who else runs a node at home?").await;
    node.mine().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    let card = browser
        .wait_for(&post_with("Who else runs a node at home?"))
        .await;
    card.find(Locator::Css(".thread-link"))
        .await
        .expect("a reply link")
        .click()
        .await
        .expect("click");
    browser
        .wait_for("//h2[@class='composer-title'][. = 'Reply']")
        .await;
    browser
        .wait_for("//p[@id='identity'][starts-with(., 'Signed with your key')]")
        .await;
    browser.type_into("#author", "bob").await;
    browser.type_into("#content", "Me, on a Raspberry Pi").await;
    browser.click("#post-button").await;
    browser
        .wait_for("//div[@id='flash'][contains(., 'Your reply was sent')]")
        .await;
    // Verified by the web app against the bytes the node checks, parent id included.
    let reply = format!(
        "//div[contains(@class,'replies')]{}[contains(@class,'post-pending')]",
        post_with("Me, on a Raspberry Pi")
    );
    browser
        .wait_for(&format!("{reply}//span[contains(@class,'badge-signed')]"))
        .await;
    let parent_link = browser
        .wait_for(&format!("{reply}//a[@class='in-reply-to']"))
        .await;
    assert_eq!(
        parent_link.attr("href").await.expect("href").as_deref(),
        Some(format!("/posts/{root}").as_str())
    );
    let pending = node.pending().await;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["reply_to"], root.as_str());
    assert!(pending[0]["signature"].is_string(), "{}", pending[0]);

    // Mined elsewhere, the reply is confirmed in the thread without a reload.
    node.mine().await;
    browser
        .wait_for(&format!(
            "//div[contains(@class,'replies')]{}[@data-block='2']",
            post_with("Me, on a Raspberry Pi")
        ))
        .await;
    browser.set_size(1280, 1000).await;
    browser.screenshot("thread.png").await;
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_post_and_a_block_made_elsewhere_appear_without_a_reload() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    browser.wait_for("//p[@class='empty']").await;
    // A marker that a reload would wipe.
    browser
        .client
        .execute("window.stillTheSamePage = true; document.getElementById('author').value = 'half-typed';", Vec::new())
        .await
        .expect("script runs");

    node.post("bob", "posted from another client").await;
    browser
        .wait_for(&format!(
            "{}[contains(@class,'post-pending')]",
            post_with("posted from another client")
        ))
        .await;
    node.mine().await;
    browser
        .wait_for(&format!(
            "{}[@data-block='1']",
            post_with("posted from another client")
        ))
        .await;
    browser.wait_for("//dd[@id='status-height'][. = '1']").await;

    let same: Value = browser
        .client
        .execute(
            "return [window.stillTheSamePage === true, document.getElementById('author').value];",
            Vec::new(),
        )
        .await
        .expect("script runs");
    assert_eq!(
        same,
        json!([true, "half-typed"]),
        "updated in place, the form untouched"
    );
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_explorer_shows_a_block_and_the_tree_with_a_resolved_fork() {
    let node = TestNode::spawn().await;
    let other = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url(), other.url()]).await;
    let abandoned = fork_and_reorganize(&node, &other).await;
    // Another block on top, so the tree has some height.
    node.post("carol", "after the reorganization").await;
    node.mine().await;
    let browser = Browser::start().await;

    browser.goto(&web.url("/tree")).await;
    let side = browser
        .wait_for(&format!("//a[contains(@class,'tree-block') and contains(@class,'is-side')][@href='/blocks/{abandoned}']"))
        .await;
    let best = browser
        .client
        .find_all(Locator::Css(".tree-block.is-best"))
        .await
        .expect("query");
    assert_eq!(best.len(), 4, "genesis and three blocks on the best chain");
    let (side_x, ..) = side.rectangle().await.expect("layout");
    let (best_x, ..) = best[0].rectangle().await.expect("layout");
    assert!(
        side_x > best_x,
        "the side branch is drawn apart, to the right"
    );
    browser.screenshot("explorer-tree.png").await;

    side.click().await.expect("click");
    browser.wait_for("//h1[. = 'Block #1']").await;
    browser
        .wait_for("//span[contains(@class,'badge-side')]")
        .await;
    browser
        .wait_for(&post_with("a post on the branch that loses"))
        .await;
    browser.screenshot("explorer-side-block.png").await;

    browser
        .client
        .find(Locator::Id("parent-link"))
        .await
        .expect("parent link")
        .click()
        .await
        .expect("click");
    browser.wait_for("//h1[. = 'Block #0']").await;
    let children = browser
        .client
        .find_all(Locator::Css("a.child-link"))
        .await
        .expect("query");
    assert_eq!(
        children.len(),
        2,
        "the genesis block has both branches as children"
    );
    browser
        .wait_for("//span[contains(@class,'badge-fork')]")
        .await;
    children[0].click().await.expect("click");
    browser.wait_for("//h1[. = 'Block #1']").await;

    // A best-chain block in the middle: parent and child links both ways.
    browser.goto(&web.url("/height/2")).await;
    browser.wait_for("//h1[. = 'Block #2']").await;
    browser.wait_for("//a[contains(@class,'child-link')]").await;
    browser.screenshot("explorer-block.png").await;

    // Switching nodes from the picker shows the other node's tree: no side branch there.
    browser.goto(&web.url("/tree")).await;
    let picker = browser.css("#node-select").await;
    picker.select_by_value("1").await.expect("select");
    browser
        .wait_for("//p[@class='summary'][contains(., 'no side branches')]")
        .await;
    browser.close().await;
    web.stop().await;
    node.stop().await;
    other.stop().await;
}

/// A page of another site (127.0.0.2 is another host) that tries, on the visitor's
/// behalf, to mine and post on the node directly, and to post, mine and resync through
/// the web app: the requests a browser sends for an `<img>`, a no-CORS `fetch` and a form.
fn attack_page(node: &str, web: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>attacker</title></head><body>
<form id="forged" method="POST" action="{web}/submit">
  <input name="author" value="mallory"><input name="content" value="forged by a form">
</form>
<script>
const img = new Image();
const after = async () => {{
  const plain = {{ method: "POST", mode: "no-cors", headers: {{ "Content-Type": "text/plain" }} }};
  await fetch("{node}/new_transaction", {{ ...plain,
    body: JSON.stringify({{ author: "mallory", content: "forged by fetch" }}) }}).catch(() => {{}});
  await fetch("{node}/register_with", {{ ...plain,
    body: JSON.stringify({{ node_address: "{node}" }}) }}).catch(() => {{}});
  const form = {{ method: "POST", mode: "no-cors", body: new URLSearchParams() }};
  await fetch("{web}/mine", form).catch(() => {{}});
  await fetch("{web}/resync", form).catch(() => {{}});
  document.getElementById("forged").submit();
}};
img.onload = after;
img.onerror = after;
img.src = "{node}/mine";
</script></body></html>"#
    )
}

#[tokio::test]
async fn a_page_of_another_site_can_neither_post_nor_mine_through_the_visitor() {
    let node = TestNode::spawn().await;
    let waiting = node.post("alice", "waiting to be mined").await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let page = attack_page(&node.base, &web.base);
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(page.clone()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("bind another loopback host");
    let attacker = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = Browser::start().await;
    browser.goto(&attacker).await;
    // The form is the attack's last step: its answer is the web app's refusal.
    browser
        .wait_for("//h1[normalize-space(.)='Not from this page']")
        .await;
    browser.close().await;

    assert_eq!(node.blocks().await.len(), 1, "nothing was mined");
    let pending: Vec<String> = node
        .pending()
        .await
        .iter()
        .map(|post| post["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        pending,
        vec![waiting],
        "no forged post, the waiting one untouched"
    );
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_reader_pages_back_through_500_posts_to_the_first_and_returns_to_the_newest() {
    let node = TestNode::spawn().await;
    for block in 0..10 {
        for n in 0..50 {
            node.post("alice", &format!("post {}", block * 50 + n))
                .await;
        }
        node.mine().await;
    }
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    let mut seen = Vec::new();
    for page in 0..10 {
        let newest = 499 - 50 * page;
        browser
            .wait_for(&post_with(&format!("post {newest}")))
            .await;
        for card in browser
            .client
            .find_all(Locator::Css("#live-posts article .content"))
            .await
            .expect("posts")
        {
            seen.push(card.text().await.expect("text"));
        }
        let older = browser.client.find(Locator::Id("older-posts")).await;
        match (page, older) {
            (9, Err(_)) => {}
            (9, Ok(_)) => panic!("an older page after the first post"),
            (_, Ok(link)) => link.click().await.expect("click"),
            (_, Err(error)) => panic!("page {page} has no older page: {error}"),
        }
    }
    let expected: Vec<String> = (0..500).rev().map(|i| format!("post {i}")).collect();
    assert_eq!(seen, expected, "every post once, newest first");
    browser.set_size(1280, 1000).await;
    browser.screenshot("oldest-posts.png").await;
    browser.click("#newest-posts").await;
    browser.wait_for(&post_with("post 499")).await;
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

/// The fingerprint the key card shows once the page's key is ready.
async fn shown_fingerprint(browser: &Browser) -> String {
    browser
        .wait_for("//p[@id='identity'][starts-with(., 'Signed with your key')]")
        .await;
    browser
        .css("#key-fingerprint")
        .await
        .text()
        .await
        .expect("text")
}

async fn fill(browser: &Browser, selector: &str, text: &str) {
    let field = browser.css(selector).await;
    field.clear().await.expect("clears");
    field.send_keys(text).await.expect("typing works");
}

#[tokio::test]
async fn a_key_exported_with_a_password_signs_again_after_storage_is_cleared() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    let original = shown_fingerprint(&browser).await;

    browser.click("#backup-panel summary").await;
    fill(&browser, "#backup-password", "short").await;
    browser.click("#export-key").await;
    browser
        .wait_for("//p[@id='backup-status'][contains(., 'at least 8 characters')]")
        .await;
    fill(&browser, "#backup-password", "correct horse battery").await;
    browser.click("#export-key").await;
    browser
        .wait_for("//p[@id='backup-status'][starts-with(., 'Exported')]")
        .await;
    let backup = browser
        .css("#backup-text")
        .await
        .prop("value")
        .await
        .expect("value")
        .expect("a backup");
    let parsed: Value = serde_json::from_str(&backup).expect("a backup is JSON");
    assert_eq!(parsed["kdf"]["name"], "PBKDF2");
    assert_eq!(parsed["cipher"]["name"], "AES-GCM");
    assert!(
        !backup.contains("\"d\""),
        "the private key is not in clear: {backup}"
    );

    // A browser that lost everything makes a new key...
    browser
        .client
        .execute("localStorage.clear();", Vec::new())
        .await
        .expect("storage cleared");
    browser.goto(&web.url("/")).await;
    let fresh = shown_fingerprint(&browser).await;
    assert_ne!(fresh, original);

    // ...and takes the old one back with the password, not without it.
    browser.click("#backup-panel summary").await;
    // A file too large to be a backup is not read.
    let files = tempfile::tempdir().expect("temp dir");
    let large = files.path().join("large.json");
    std::fs::write(&large, vec![b' '; 64 * 1024]).expect("written");
    browser
        .css("#backup-file")
        .await
        .send_keys(&large.display().to_string())
        .await
        .expect("a file chosen");
    browser
        .wait_for("//p[@id='backup-status'][starts-with(., 'This file is too large')]")
        .await;
    let small = files.path().join("backup.json");
    std::fs::write(&small, &backup).expect("written");
    browser
        .css("#backup-file")
        .await
        .send_keys(&small.display().to_string())
        .await
        .expect("a file chosen");
    // Reading the file clears the complaint, once the box holds what the file did.
    browser.wait_for("//p[@id='backup-status'][. = '']").await;
    let read_back = browser
        .css("#backup-text")
        .await
        .prop("value")
        .await
        .expect("value");
    assert_eq!(read_back.as_deref(), Some(backup.as_str()));

    // A backup asking for more key-derivation rounds than any export uses is refused
    // before a round is run: it could otherwise hold the tab for minutes.
    let mut greedy = parsed.clone();
    greedy["kdf"]["iterations"] = json!(10_000_001);
    fill(&browser, "#backup-text", &greedy.to_string()).await;
    fill(&browser, "#backup-password", "correct horse battery").await;
    browser.click("#import-key").await;
    browser
        .wait_for("//p[@id='backup-status'][. = 'This backup names an unusable key derivation.']")
        .await;
    fill(&browser, "#backup-text", &backup).await;
    fill(&browser, "#backup-password", "wrong horse battery").await;
    browser.click("#import-key").await;
    browser
        .wait_for("//p[@id='backup-status'][starts-with(., 'Wrong password')]")
        .await;
    fill(&browser, "#backup-password", "correct horse battery").await;
    browser.click("#import-key").await;
    browser
        .wait_for(&format!(
            "//p[@id='backup-status'][starts-with(., 'Imported: you now sign as {original}')]"
        ))
        .await;
    assert_eq!(shown_fingerprint(&browser).await, original);

    browser.type_into("#author", "alice").await;
    browser.type_into("#content", "still me").await;
    browser.click("#post-button").await;
    browser
        .wait_for("//div[@id='flash'][contains(., 'is waiting to be mined')]")
        .await;
    let pending = node.pending().await;
    let key = pending[0]["public_key"].as_str().expect("signed");
    assert!(
        key.starts_with(&original),
        "{key} signed, {original} imported"
    );

    // Both keys stay in the browser, and either can sign.
    let choices = browser
        .client
        .find_all(Locator::Css("#key-select option"))
        .await
        .expect("options");
    let mut shown = Vec::new();
    for option in &choices {
        shown.push(option.text().await.expect("text"));
    }
    shown.sort();
    let mut expected = vec![original.clone(), fresh.clone()];
    expected.sort();
    assert_eq!(shown, expected);
    let select = browser.css("#key-select").await;
    select.select_by_label(&fresh).await.expect("switches");
    browser
        .wait_for(&format!("//code[@id='key-fingerprint'][. = '{fresh}']"))
        .await;
    browser.goto(&web.url("/")).await;
    assert_eq!(
        shown_fingerprint(&browser).await,
        fresh,
        "the choice is kept"
    );
    browser.set_size(1280, 1100).await;
    browser.screenshot("key-backup.png").await;
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn a_key_kept_by_the_previous_release_is_still_the_key_that_signs() {
    let node = TestNode::spawn().await;
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    let made = shown_fingerprint(&browser).await;
    // What the previous release kept: one JWK under its own name.
    browser
        .client
        .execute(
            "const ring = JSON.parse(localStorage.getItem('chainpost.keyring.v2')); \
             localStorage.clear(); \
             localStorage.setItem('chainpost.identity.v1', JSON.stringify(ring.keys[0]));",
            Vec::new(),
        )
        .await
        .expect("storage rewritten");
    browser.goto(&web.url("/")).await;
    assert_eq!(shown_fingerprint(&browser).await, made);
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

#[tokio::test]
async fn the_search_box_takes_a_reader_to_the_block_the_post_the_name_and_the_words_typed() {
    let node = TestNode::spawn().await;
    let id = node.post("alice", "Where did I put that post?").await;
    node.post("bob", "Nothing misplaced here").await;
    node.mine().await;
    node.search_indexed().await;
    let hash = node.blocks().await[1]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    let web = TestWeb::spawn(vec![node.url()]).await;
    let browser = Browser::start().await;
    browser.goto(&web.url("/")).await;
    // WebDriver's Enter key submits the header's search form, as a reader's would.
    let search = |text: String| {
        let browser = &browser;
        async move {
            let field = browser.css(".search-box input").await;
            field.clear().await.expect("clears");
            field
                .send_keys(&format!("{text}\u{e007}"))
                .await
                .expect("typing works");
        }
    };
    search(hash.clone()).await;
    // Each wait is for what only the page searched for shows.
    browser.wait_for(&format!("//code[. = '{hash}']")).await;
    search(id.clone()).await;
    browser
        .wait_for("//h2[@class='composer-title'][. = 'Reply']")
        .await;
    browser
        .wait_for(&format!(
            "//div[contains(@class,'thread-root')]{}",
            post_with("Where did I put that post?")
        ))
        .await;
    search("from:alice".to_owned()).await;
    browser
        .wait_for("//h1[@class='author-title'][. = 'alice']")
        .await;
    search("where PUT".to_owned()).await;
    browser
        .wait_for(&format!(
            "//section[@id='search-results']{}",
            post_with("Where did I put that post?")
        ))
        .await;
    let found = browser
        .client
        .find_all(Locator::Css("#search-results article"))
        .await
        .expect("results");
    assert_eq!(found.len(), 1, "only the post with both words");
    browser.close().await;
    web.stop().await;
    node.stop().await;
}

/// Publishes the browser key's profile from the profile form, reached from the key card.
async fn publish_profile(browser: &Browser, web: &TestWeb, handle: &str, name: &str, bio: &str) {
    browser.goto(&web.url("/")).await;
    let fingerprint = shown_fingerprint(browser).await;
    browser.click("#profile-link").await;
    // The page's address names the key that signs here.
    browser
        .wait_for(&format!(
            "//form[@id='profile-form']//p[@id='identity']/code[. = '{fingerprint}']"
        ))
        .await;
    for (selector, text) in [("#handle", handle), ("#author", name), ("#content", bio)] {
        fill(browser, selector, text).await;
    }
    browser.click("#profile-button").await;
    browser
        .wait_for(&format!(
            "//div[@id='flash'][contains(., 'Your profile was sent')][contains(., '@{handle} is yours if')]"
        ))
        .await;
}

#[tokio::test]
async fn a_handle_claimed_in_the_browser_is_its_keys_on_another_node_and_a_second_claim_is_not() {
    let (first, second) = (TestNode::spawn().await, TestNode::spawn().await);
    let web = TestWeb::spawn(vec![first.url(), second.url()]).await;
    let browser = Browser::start().await;
    publish_profile(
        &browser,
        &web,
        "alice",
        "Alice Liddell",
        "Down the rabbit hole",
    )
    .await;
    let pending = first.pending().await;
    assert_eq!(
        pending[0]["handle"], "alice",
        "signed as a profile, accepted by the node"
    );
    first.mine().await;
    // The block reaches the other node as the tutorial's nodes announce one.
    let block = first.blocks().await.pop().expect("the new block");
    second.post_json("/add_block", &block).await;

    // Read from the other node, the handle is this key's.
    browser.goto(&web.url("/?node=1")).await;
    browser.wait_for("//p[@class='node-url']/code").await;
    assert!(
        browser.client.find(Locator::Id("flash")).await.is_err(),
        "the profile page showed the message, which is then forgotten"
    );
    browser.click("#profile-link").await;
    browser
        .wait_for("//span[@id='owned-handle'][. = '✓ @alice is yours']")
        .await;
    // And the search box finds it.
    let field = browser.css(".search-box input").await;
    field
        .send_keys("@alice\u{e007}")
        .await
        .expect("typing works");
    browser
        .wait_for("//h1[@class='author-title'][. = 'Alice Liddell']")
        .await;
    browser
        .wait_for("//span[@id='author-handle'][. = '✓ @alice']")
        .await;
    browser
        .wait_for("//p[@id='author-bio'][. = 'Down the rabbit hole']")
        .await;

    // A second key of the same browser claims the same handle on the other node.
    browser.goto(&web.url("/")).await;
    let original = shown_fingerprint(&browser).await;
    browser.click("#new-key").await;
    browser
        .wait_for(&format!("//code[@id='key-fingerprint'][. != '{original}']"))
        .await;
    publish_profile(&browser, &web, "alice", "Alice", "the real one, honest").await;
    second.mine().await;
    browser.goto(&web.url("/profile")).await;
    browser.wait_for("//p[@id='claim-lost']").await;
    assert!(
        browser
            .client
            .find(Locator::Id("owned-handle"))
            .await
            .is_err(),
        "the second key does not hold @alice"
    );
    // In the feed, its posts carry its key, not the handle.
    browser.goto(&web.url("/")).await;
    let claim = browser.wait_for(&post_with("the real one, honest")).await;
    let badges = claim
        .find_all(Locator::Css(".badge-verified"))
        .await
        .expect("badges");
    assert!(badges.is_empty(), "no ✓ for a handle the key does not hold");
    claim
        .find(Locator::Css(".badge-signed .fingerprint"))
        .await
        .expect("its key instead");
    browser.screenshot("handles.png").await;
    browser.close().await;
    web.stop().await;
    first.stop().await;
    second.stop().await;
}
