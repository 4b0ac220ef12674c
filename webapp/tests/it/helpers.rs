//! Test harness: nodes and web apps in-process on free ports, a client that speaks to the
//! web app as a browser without JavaScript would (forms, redirects, cookies), and helpers
//! to read pages.

use std::collections::BTreeMap;
use std::time::Duration;

use chainpost_node::startup::Application as NodeApplication;
use chainpost_webapp::config::{Config, NodeUrl};
use chainpost_webapp::startup::Application as WebApplication;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Difficulty of test nodes: a block in well under a millisecond.
pub const DIFFICULTY: u32 = 8;

/// A chainpost node running inside the test's runtime.
pub struct TestNode {
    pub base: String,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestNode {
    /// An in-memory node on a free port.
    pub async fn spawn() -> Self {
        Self::spawn_on(0).await
    }

    /// An in-memory node on `port` (0 for a free one).
    pub async fn spawn_on(port: u16) -> Self {
        let mut config = chainpost_node::config::Config::ephemeral(DIFFICULTY);
        config.port = port;
        let app = NodeApplication::build(config).await.expect("node builds");
        let base = format!("http://{}", app.address());
        let (shutdown, stop) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = stop.await;
        }));
        TestNode {
            base,
            http: client(),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn url(&self) -> NodeUrl {
        NodeUrl::parse(&self.base).expect("node URL")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("node answers");
        assert_eq!(response.status(), StatusCode::OK, "GET {path} on the node");
        response.json().await.expect("JSON")
    }

    /// Posts directly to the node, as another client of the network would.
    pub async fn post(&self, author: &str, content: &str) -> String {
        let body = self
            .post_json(
                "/new_transaction",
                &json!({ "author": author, "content": content }),
            )
            .await;
        body["id"].as_str().expect("id").to_owned()
    }

    /// Posts directly to the node, signed with `key`, as another browser would.
    pub async fn post_signed(
        &self,
        key: &ed25519_dalek::SigningKey,
        author: &str,
        content: &str,
    ) -> String {
        self.post_signed_of_kind(key, author, content, chainpost_chain::PostKind::Post)
            .await
    }

    /// Posts `key`'s profile, claiming `handle`; its id.
    pub async fn post_profile(
        &self,
        key: &ed25519_dalek::SigningKey,
        display_name: &str,
        bio: &str,
        handle: &str,
    ) -> String {
        let handle = chainpost_chain::Handle::parse(handle).expect("a handle");
        self.post_signed_of_kind(
            key,
            display_name,
            bio,
            chainpost_chain::PostKind::Profile(handle),
        )
        .await
    }

    async fn post_signed_of_kind(
        &self,
        key: &ed25519_dalek::SigningKey,
        author: &str,
        content: &str,
        kind: chainpost_chain::PostKind,
    ) -> String {
        use ed25519_dalek::Signer;
        let public_key = key.verifying_key().to_bytes();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let message = chainpost_chain::Transaction::signing_message(
            author,
            content,
            timestamp,
            &kind,
            &public_key,
        );
        let mut body = json!({
            "author": author,
            "content": content,
            "timestamp": timestamp,
            "public_key": hex::encode(public_key),
            "signature": hex::encode(key.sign(&message).to_bytes()),
        });
        if let chainpost_chain::PostKind::Profile(handle) = kind {
            body["handle"] = json!(handle.to_string());
        }
        self.post_json("/new_transaction", &body).await["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .expect("node answers");
        assert!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        response.json().await.expect("JSON")
    }

    pub async fn mine(&self) -> String {
        self.http
            .get(format!("{}/mine", self.base))
            .send()
            .await
            .expect("node answers")
            .text()
            .await
            .expect("text")
    }

    /// Waits until the node's search index is open and has reached its tip (it follows
    /// the chain on a thread of its own; `/search` answers 503 until it is open).
    pub async fn search_indexed(&self) {
        let tip = self.get_json("/status").await["tip"].clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .http
                .get(format!("{}/search?q=x", self.base))
                .send()
                .await
                .expect("node answers");
            if response.status().is_success() {
                let answer: Value = response.json().await.expect("JSON");
                if answer["indexed"]["hash"] == tip {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the search index never reached {tip}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn pending(&self) -> Vec<Value> {
        match self.get_json("/pending_tx").await {
            Value::Array(posts) => posts,
            other => panic!("pending_tx is not a list: {other}"),
        }
    }

    /// The blocks of the best chain, genesis first.
    pub async fn blocks(&self) -> Vec<Value> {
        match self.get_json("/chain").await["chain"].take() {
            Value::Array(blocks) => blocks,
            other => panic!("chain is not a list: {other}"),
        }
    }

    /// Graceful shutdown; waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("node task")
                .expect("node stops cleanly");
        }
    }
}

/// Makes `node` and `other` disagree, then resolves the fork on `node`: `node` mines one
/// block, `other` mines two from the same genesis, and `other`'s blocks are handed to
/// `node`, which reorganizes onto them. Returns the hash of `node`'s abandoned block.
pub async fn fork_and_reorganize(node: &TestNode, other: &TestNode) -> String {
    node.post("alice", "a post on the branch that loses").await;
    node.mine().await;
    let abandoned = node.blocks().await[1]["hash"]
        .as_str()
        .expect("hash")
        .to_owned();
    other
        .post("bob", "first post on the branch that wins")
        .await;
    other.mine().await;
    other
        .post("bob", "second post on the branch that wins")
        .await;
    other.mine().await;
    for block in other.blocks().await.iter().skip(1) {
        node.post_json("/add_block", block).await;
    }
    abandoned
}

/// The web app running inside the test's runtime.
pub struct TestWeb {
    pub base: String,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestWeb {
    /// A web app on a free port reading from `nodes`.
    pub async fn spawn(nodes: Vec<NodeUrl>) -> Self {
        Self::spawn_with(Config::ephemeral(nodes)).await
    }

    pub async fn spawn_with(config: Config) -> Self {
        let app = WebApplication::build(config).await.expect("web app builds");
        let base = format!("http://{}", app.address());
        let (shutdown, stop) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = stop.await;
        }));
        TestWeb {
            base,
            http: client(),
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, cookies: &Cookies) -> Response {
        self.http
            .get(self.url(path))
            .header(COOKIE, cookies.header())
            .send()
            .await
            .expect("web app answers")
    }

    /// GETs a page; returns its status and HTML.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path, &Cookies::default()).await;
        let status = response.status();
        (status, response.text().await.expect("HTML"))
    }

    /// POSTs a form, as a browser without JavaScript does.
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookies: &Cookies,
    ) -> Response {
        self.http
            .post(self.url(path))
            .header(COOKIE, cookies.header())
            .form(fields)
            .send()
            .await
            .expect("web app answers")
    }

    /// Follows a redirect as a browser does: keeps the cookies it sets and GETs the
    /// target. Returns the page's status and HTML.
    pub async fn follow(&self, response: Response, cookies: &mut Cookies) -> (StatusCode, String) {
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "a redirect");
        cookies.take_from(&response);
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .expect("a Location")
            .to_owned();
        let page = self.get(&location, cookies).await;
        cookies.take_from(&page);
        let status = page.status();
        (status, page.text().await.expect("HTML"))
    }

    /// Graceful shutdown; waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("web app task")
                .expect("web app stops cleanly");
        }
    }
}

/// The cookies a browser would keep for the web app.
#[derive(Debug, Default, Clone)]
pub struct Cookies(BTreeMap<String, String>);

impl Cookies {
    pub fn take_from(&mut self, response: &Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().expect("ASCII cookie");
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if text.contains("Max-Age=0") {
                    self.0.remove(name);
                } else {
                    self.0.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client builds")
}

/// A base URL where nothing listens: a port that was free a moment ago.
pub fn closed_port_url() -> NodeUrl {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    drop(listener);
    NodeUrl::parse(&format!("http://127.0.0.1:{port}")).expect("URL")
}

/// The HTML of each `<article class="post...">` on a page, in page order.
pub fn articles(html: &str) -> Vec<&str> {
    html.split("<article class=\"post")
        .skip(1)
        .map(|rest| rest.split("</article>").next().unwrap_or_default())
        .collect()
}

/// The text between `start` and the next `end`, after `start`.
pub fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = html.find(start)? + start.len();
    let rest = &html[from..];
    Some(&rest[..rest.find(end)?])
}
