//! What the benchmarks share: chains built ahead of time, and the `node` binary run as a
//! child process the way a user runs it.

#![allow(dead_code, reason = "each benchmark uses a part of this module")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use chainpost_chain::block::{BlockHeader, merkle_root};
use chainpost_chain::pow::Midstate;
use chainpost_chain::{Block, BlockHash, ChainParams, Transaction};
use chainpost_node::config::Config;
use chainpost_node::node::Node;
use chainpost_node::p2p::Network;
use chainpost_node::startup::Application;
use ed25519_dalek::SigningKey;
use tokio::sync::oneshot;

/// What goes into each block of a generated chain.
#[derive(Clone, Copy)]
pub(crate) struct Posts<'a> {
    /// Posts per block.
    pub per_block: usize,
    /// Bytes of content per post.
    pub content_bytes: usize,
    /// Signs every post with this key when given.
    pub signer: Option<&'a SigningKey>,
}

impl Posts<'_> {
    /// One short unsigned post per block.
    pub(crate) const ONE_UNSIGNED: Posts<'static> = Posts {
        per_block: 1,
        content_bytes: 0,
        signer: None,
    };
}

/// A valid chain of `length` blocks on top of `params`' genesis, stamped one second apart.
pub(crate) fn chain(params: &ChainParams, length: usize, posts: Posts) -> Vec<(Block, BlockHash)> {
    chain_on(params, params.genesis(), length, posts)
}

/// A valid chain of `length` blocks on top of `parent`, stamped one second apart.
pub(crate) fn chain_on(
    params: &ChainParams,
    mut parent: Block,
    length: usize,
    posts: Posts,
) -> Vec<(Block, BlockHash)> {
    let mut blocks = Vec::with_capacity(length);
    let padding = "x".repeat(posts.content_bytes);
    let first = parent.header().index + 1;
    for height in first..first + length as u64 {
        let timestamp = parent.header().timestamp + 1;
        let txs: Vec<_> = (0..posts.per_block)
            .map(|i| {
                let author = "bench".to_owned();
                let content = format!("post {height}.{i} {padding}");
                Arc::new(match posts.signer {
                    Some(key) => Transaction::signed(author, content, timestamp as f64, key),
                    None => Transaction::new(author, content, timestamp as f64, None),
                })
            })
            .collect();
        let mut header = BlockHeader {
            index: height,
            previous_hash: parent.hash(),
            merkle_root: merkle_root(&txs),
            timestamp,
            difficulty: params.difficulty,
            nonce: 0,
        };
        header.nonce = Midstate::new(&header)
            .search(0..u64::MAX)
            .expect("a low difficulty always has a nonce");
        let block = Block::new(header, txs);
        parent = block.clone();
        let hash = block.hash();
        blocks.push((block, hash));
    }
    blocks
}

/// A node running on the benchmark's own tokio runtime, on a free loopback port.
pub(crate) struct InProcessNode {
    pub node: Arc<Node>,
    /// Its network side.
    pub network: Arc<Network>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: oneshot::Sender<()>,
}

impl InProcessNode {
    /// Builds the node and serves it in the background.
    pub(crate) async fn start(config: Config) -> Self {
        let app = Application::build(config).await.expect("node builds");
        let (stop, stopped) = oneshot::channel();
        let running = InProcessNode {
            node: app.node(),
            network: app.network(),
            url: format!("http://{}", app.address()),
            stop,
        };
        tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        running
    }

    /// A node that already holds `blocks`, submitted as a syncing peer would: in pages.
    pub(crate) async fn holding(config: Config, blocks: &[(Block, BlockHash)]) -> Self {
        let running = Self::start(config).await;
        for page in blocks.chunks(500) {
            let submitted = running.node.submit_blocks(page.to_vec(), None).await;
            assert!(submitted.error.is_none(), "the generated chain is valid");
        }
        running
    }

    /// Shuts the node down gracefully.
    pub(crate) fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// The `node` binary of this build, running as a child process; killed when dropped.
pub(crate) struct ChildNode {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
}

impl ChildNode {
    /// Starts the node on a free port with `args`, and waits until it listens.
    pub(crate) fn start(data_dir: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_node"))
            .args(["--port", "0"])
            .args(args)
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn,node=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the node binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the node printed its address before exiting")
                .expect("readable stdout");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':'))
                    .collect::<String>();
            }
        };
        // Keep draining the log so the node never blocks on a full pipe; pass on what
        // would explain a strange figure.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("WARN") || line.contains("ERROR") {
                    eprintln!("node: {line}");
                }
            }
        });
        ChildNode {
            url: format!("http://{address}"),
            child,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the node with SIGTERM and waits for it: a graceful stop commits what the
    /// node has accepted, even what `/status` showed before its commit finished.
    pub(crate) fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
        let exit = self.child.wait().expect("the node exits");
        assert!(exit.success(), "the node stopped cleanly: {exit}");
    }

    /// Makes the high-water mark start again from the current resident set.
    pub(crate) fn reset_peak_memory(&self) {
        // Writing 5 to clear_refs resets VmHWM (proc(5)).
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .expect("reset the node's peak memory (needs to own the process)");
    }

    /// Resident memory now and its high-water mark, in MiB, from `/proc`.
    pub(crate) fn memory_mib(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the node's /proc status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
                .map(|kib| kib / 1024.0)
                .unwrap_or_else(|| panic!("{name} in /proc status"))
        };
        Memory {
            resident: field("VmRSS:"),
            peak: field("VmHWM:"),
            file_backed: field("RssFile:"),
        }
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's memory, in MiB.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Memory {
    /// Resident now (VmRSS).
    pub resident: f64,
    /// Highest resident so far (VmHWM).
    pub peak: f64,
    /// Of `resident`, pages of mapped files (RssFile): the search index's, which the
    /// kernel may drop at any time, as it may the page cache.
    pub file_backed: f64,
}

pub(crate) fn median(mut figures: Vec<f64>) -> f64 {
    figures.sort_by(f64::total_cmp);
    figures[figures.len() / 2]
}

/// The `fraction` quantile of some figures (0.5 the median, 1.0 the largest), read
/// between the two nearest ranks, so that the 99th percentile of 30 figures is not
/// simply their maximum.
pub(crate) fn percentile(mut figures: Vec<f64>, fraction: f64) -> f64 {
    assert!(!figures.is_empty(), "a percentile of no figures");
    figures.sort_by(f64::total_cmp);
    let rank = fraction.clamp(0.0, 1.0) * (figures.len() - 1) as f64;
    let (below, above) = (rank.floor() as usize, rank.ceil() as usize);
    figures[below] + (figures[above] - figures[below]) * (rank - below as f64)
}

/// The ceiling a node's ingest is measured against: a bare axum server on a runtime of
/// its own, as many workers as the node's, whose `POST /new_transaction` parses the same
/// JSON into the same type and answers 201 with the same shape, keeping nothing and
/// writing nothing. Stops when dropped.
pub(crate) struct CeilingServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CeilingServer {
    pub(crate) fn start() -> Self {
        use axum::serve::ListenerExt as _;
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(
                    std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
                )
                .enable_all()
                .build()
                .expect("the ceiling's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("a free port");
                bound
                    .send(listener.local_addr().expect("bound"))
                    .expect("the bench waits");
                let listener = listener.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let app = axum::Router::new()
                    .route("/new_transaction", axum::routing::post(accept_and_forget));
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("the ceiling serves");
            });
        });
        let address = address.recv().expect("the ceiling binds");
        CeilingServer {
            url: format!("http://{address}"),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

async fn accept_and_forget(
    axum::Json(post): axum::Json<chainpost_wire::NewTransaction>,
) -> (axum::http::StatusCode, axum::Json<chainpost_wire::Created>) {
    let timestamp = post.timestamp.unwrap_or(1.0);
    let id = chainpost_chain::TxId(chainpost_chain::Hash256([0; 32]));
    (
        axum::http::StatusCode::CREATED,
        axum::Json(chainpost_wire::Created::new(id, timestamp)),
    )
}

impl Drop for CeilingServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
