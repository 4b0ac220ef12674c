//! Test harness: nodes in-process or as child processes, and a client with one method per
//! endpoint.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chainpost_node::config::Config;
use chainpost_node::startup::Application;
use ed25519_dalek::{Signer, SigningKey};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A client for one node's HTTP API.
#[derive(Clone)]
pub(crate) struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    pub(crate) fn new(base: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client builds");
        Api { base, http }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("JSON body")
    }

    /// POSTs raw bytes with no Content-Type, as the tutorial's `announce_new_block` does.
    pub(crate) async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> Response {
        self.http
            .post(self.url(path))
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub(crate) async fn new_transaction(&self, author: &str, content: &str) -> Response {
        self.post_json(
            "/new_transaction",
            &json!({ "author": author, "content": content }),
        )
        .await
    }

    /// Posts and asserts 201; returns the post's id.
    pub(crate) async fn post(&self, author: &str, content: &str) -> String {
        let response = self.new_transaction(author, content).await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("JSON body");
        body["id"].as_str().expect("id").to_owned()
    }

    pub(crate) async fn mine(&self) -> String {
        let response = self.get("/mine").await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.expect("text body")
    }

    pub(crate) async fn chain(&self) -> Value {
        self.get_json("/chain").await
    }

    pub(crate) async fn status(&self) -> Value {
        self.get_json("/status").await
    }

    pub(crate) async fn pending(&self) -> Value {
        self.get_json("/pending_tx").await
    }

    pub(crate) async fn add_block(&self, block: &Value) -> Response {
        self.post_json("/add_block", block).await
    }

    /// `POST /register_with` and asserts success.
    pub(crate) async fn register_with(&self, other: &Api) {
        let response = self
            .post_json("/register_with", &json!({ "node_address": other.base }))
            .await;
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_eq!(
            status,
            StatusCode::OK,
            "register_with {}: {body}",
            other.base
        );
    }

    pub(crate) async fn height(&self) -> u64 {
        self.status().await["height"].as_u64().expect("height")
    }

    pub(crate) async fn tip(&self) -> String {
        self.status().await["tip"].as_str().expect("tip").to_owned()
    }

    pub(crate) async fn peers(&self) -> Vec<String> {
        serde_json::from_value(self.get_json("/peers").await).expect("peer list")
    }
}

/// A signed post body for `POST /new_transaction`, in the node's canonical encoding.
pub(crate) fn signed_post(key: &SigningKey, author: &str, content: &str, timestamp: f64) -> Value {
    signed_reply(key, author, content, timestamp, None)
}

/// A signed post body, a reply to the post with id `reply_to` (hex) if given.
pub(crate) fn signed_reply(
    key: &SigningKey,
    author: &str,
    content: &str,
    timestamp: f64,
    reply_to: Option<&str>,
) -> Value {
    let parent = reply_to.map(|id| id.parse::<chainpost_chain::TxId>().expect("an id"));
    signed_of_kind(key, author, content, timestamp, parent.into())
}

/// A signed profile body: `display_name` and `bio` claiming `handle`.
pub(crate) fn signed_profile(
    key: &SigningKey,
    display_name: &str,
    bio: &str,
    timestamp: f64,
    handle: &str,
) -> Value {
    let handle = chainpost_chain::Handle::parse(handle).expect("a handle");
    signed_of_kind(
        key,
        display_name,
        bio,
        timestamp,
        chainpost_chain::PostKind::Profile(handle),
    )
}

fn signed_of_kind(
    key: &SigningKey,
    author: &str,
    content: &str,
    timestamp: f64,
    kind: chainpost_chain::PostKind,
) -> Value {
    let public_key = key.verifying_key().to_bytes();
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
    match kind {
        chainpost_chain::PostKind::Post => {}
        chainpost_chain::PostKind::Reply(parent) => body["reply_to"] = json!(parent.to_string()),
        chainpost_chain::PostKind::Profile(handle) => body["handle"] = json!(handle.to_string()),
    }
    body
}

/// A node running inside the test's runtime.
pub(crate) struct TestNode {
    pub api: Api,
    /// The node itself, for tests that reach behind the API (to hold its lock, say).
    pub node: std::sync::Arc<chainpost_node::node::Node>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestNode {
    /// An in-memory node at `difficulty` on a free port.
    pub(crate) async fn spawn(difficulty: u32) -> Self {
        Self::spawn_with(Config::ephemeral(difficulty)).await
    }

    /// A node at `difficulty` keeping its data in `dir`.
    pub(crate) async fn spawn_persistent(difficulty: u32, dir: &Path) -> Self {
        let mut config = Config::ephemeral(difficulty);
        config.in_memory = false;
        config.data_dir = Some(dir.to_path_buf());
        Self::spawn_with(config).await
    }

    pub(crate) async fn spawn_with(config: Config) -> Self {
        let app = Application::build(config).await.expect("node builds");
        let api = Api::new(format!("http://{}", app.address()));
        let node = app.node();
        let (shutdown, stop) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = stop.await;
        }));
        TestNode {
            api,
            node,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Graceful shutdown; waits for the server to finish.
    pub(crate) async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl std::ops::Deref for TestNode {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// The `node` binary running as a child process.
pub(crate) struct ChildNode {
    pub api: Api,
    child: Child,
}

impl ChildNode {
    /// Starts the binary on a free port with its data in `data_dir`.
    pub(crate) fn start(data_dir: &Path, difficulty: u32) -> Self {
        Self::start_with(data_dir, difficulty, &[]).0
    }

    /// Starts the binary with extra arguments; also returns the log lines read up to the
    /// "listening" line.
    pub(crate) fn start_with(
        data_dir: &Path,
        difficulty: u32,
        extra: &[&str],
    ) -> (Self, Vec<String>) {
        Self::launch(data_dir, difficulty, 0, extra)
            .unwrap_or_else(|log| panic!("node exited before listening: {log:?}"))
    }

    /// Starts the binary on `port` (0: a free one); if it exits before listening, returns
    /// the log lines it printed.
    pub(crate) fn launch(
        data_dir: &Path,
        difficulty: u32,
        port: u16,
        extra: &[&str],
    ) -> Result<(Self, Vec<String>), Vec<String>> {
        Self::launch_command(
            Command::new(env!("CARGO_BIN_EXE_node")),
            data_dir,
            difficulty,
            port,
            extra,
        )
    }

    /// Starts the binary under an open-files limit of `limit` (soft and hard, so the node
    /// cannot raise it), as a small server or container would run it.
    pub(crate) fn start_with_open_files_limit(
        data_dir: &Path,
        difficulty: u32,
        limit: u64,
        extra: &[&str],
    ) -> Self {
        let mut prlimit = Command::new("prlimit");
        prlimit
            .arg(format!("--nofile={limit}:{limit}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_node"));
        Self::launch_command(prlimit, data_dir, difficulty, 0, extra)
            .unwrap_or_else(|log| panic!("node exited before listening: {log:?}"))
            .0
    }

    fn launch_command(
        mut command: Command,
        data_dir: &Path,
        difficulty: u32,
        port: u16,
        extra: &[&str],
    ) -> Result<(Self, Vec<String>), Vec<String>> {
        let mut child = command
            .args(["--port", &port.to_string()])
            .args(["--difficulty", &difficulty.to_string()])
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        let address = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.wait();
                return Err(seen);
            };
            seen.push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '[' | ']'))
                    .collect::<String>();
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let node = ChildNode {
            api: Api::new(format!("http://{address}")),
            child,
        };
        Ok((node, seen))
    }

    /// Starts the binary on a free port with its data in `data_dir`, stderr captured too,
    /// and reports whether it came up or exited first.
    pub(crate) fn start_or_exit(data_dir: &Path, difficulty: u32) -> Started {
        let mut child = Command::new(env!("CARGO_BIN_EXE_node"))
            .args(["--port", "0", "--difficulty", &difficulty.to_string()])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr = child.stderr.take().expect("piped stderr");
        // Read on its own thread, so a long backtrace never blocks the child on a full pipe.
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut log = Vec::new();
        while let Some(Ok(line)) = lines.next() {
            let address = line.split("listening on http://").nth(1).map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':'))
                    .collect::<String>()
            });
            log.push(line);
            if let Some(address) = address {
                std::thread::spawn(move || for _ in lines {});
                let node = ChildNode {
                    api: Api::new(format!("http://{address}")),
                    child,
                };
                return Started::Listening { node, log };
            }
        }
        let status = child.wait().expect("child reaped");
        Started::Exited {
            status,
            log,
            stderr: stderr.join().expect("stderr reader"),
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.api
            .base
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .expect("the base URL ends with the port")
    }

    /// The process id, to read the node's memory use from `/proc`.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown code runs.
    pub(crate) fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL delivered");
        self.child.wait().expect("child reaped");
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        self.child.wait().expect("child exits")
    }
}

/// How [`ChildNode::start_or_exit`] ended.
pub(crate) enum Started {
    Listening {
        node: ChildNode,
        /// What it logged (stdout) up to listening.
        log: Vec<String>,
    },
    /// The node exited before listening.
    Exited {
        status: std::process::ExitStatus,
        /// What it logged (stdout).
        log: Vec<String>,
        stderr: String,
    },
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl std::ops::Deref for ChildNode {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Serves `app` (a fake peer, gateway or service) on a free loopback port; its base URL.
pub(crate) async fn serve_app(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

/// Polls `condition` until it holds; panics with `what` after `timeout`. For conditions
/// with no event to await (another process's state).
pub(crate) async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until every node has the same best tip and returns it.
pub(crate) async fn converged(nodes: &[&Api], timeout: Duration) -> String {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut tips = Vec::new();
        for node in nodes {
            tips.push(node.tip().await);
        }
        tips.dedup();
        if tips.len() == 1 {
            return tips.remove(0);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nodes did not converge: {tips:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// All posts of a `/chain` answer, as (block index, post) pairs.
pub(crate) fn posts_in_chain(chain: &Value) -> Vec<(u64, Value)> {
    chain["chain"]
        .as_array()
        .expect("chain array")
        .iter()
        .flat_map(|block| {
            let index = block["index"].as_u64().expect("index");
            block["transactions"]
                .as_array()
                .expect("transactions")
                .iter()
                .map(move |tx| (index, tx.clone()))
        })
        .collect()
}
