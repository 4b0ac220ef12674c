//! A run's network: `node` child processes, each behind its relay, linked as the topology
//! says, with every node's output captured to its own log file.
//!
//! **Boundary:** starts, links and stops processes; it does not mine, post or measure.
//! **Invariant:** no node outlives its `Cluster`: children are killed when it is
//! stopped or dropped, whatever the path out (error, panic, Ctrl-C).

use std::collections::{BTreeSet, VecDeque};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::{MAX_PEERS, Retarget};
use crate::proxy::{BoundRelay, LinkModel, Relay, RelayNetwork};
use crate::regions::Placement;
use crate::topology::Topology;

/// Longest a node may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest the nodes may take to link with exactly their neighbours.
const LINK_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the runner looks at the nodes' peers while waiting.
const POLL: Duration = Duration::from_millis(100);
/// Lines of a failed node's log quoted in the error.
const LOG_TAIL_LINES: usize = 20;

/// Why the network could not be brought up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No `node` executable was found.
    #[error(
        "no node executable at {searched}; build it with `cargo build -p node` \
         (same profile as this command) or pass --node-bin PATH"
    )]
    NodeBinaryMissing {
        /// Where the runner looked.
        searched: String,
    },
    /// A file or directory of the run could not be created.
    #[error("{what} {path}: {source}")]
    Io {
        /// What the runner was doing.
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// A node process ended before it was ready.
    #[error("node {node} exited ({status}) before it was ready; the end of its log:\n{log_tail}")]
    NodeExited {
        node: usize,
        status: String,
        log_tail: String,
    },
    /// A node did not report its address in time.
    #[error(
        "node {node} did not start listening within {timeout:?}; the end of its log:\n{log_tail}"
    )]
    NodeStartTimeout {
        node: usize,
        timeout: Duration,
        log_tail: String,
    },
    /// A node did not end up linked with exactly its neighbours.
    #[error("node {node} has peers {actual:?} after {timeout:?}; the topology wants {expected:?}")]
    NotLinked {
        node: usize,
        /// The relay URLs of its neighbours.
        expected: Vec<String>,
        /// The peers it reported last.
        actual: Vec<String>,
        timeout: Duration,
    },
}

/// Where the `node` executable is: `explicit` if given, else beside this program (or one
/// directory up, where test binaries live in `target/<profile>/deps`).
pub fn find_node_binary(explicit: Option<&Path>) -> Result<PathBuf, ClusterError> {
    if let Some(path) = explicit {
        return if path.is_file() {
            Ok(path.to_owned())
        } else {
            Err(ClusterError::NodeBinaryMissing {
                searched: path.display().to_string(),
            })
        };
    }
    let name = format!("node{}", std::env::consts::EXE_SUFFIX);
    let directory = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_owned));
    let candidates: Vec<PathBuf> = directory
        .iter()
        .flat_map(|directory| [Some(directory.as_path()), directory.parent()])
        .flatten()
        .map(|directory| directory.join(&name))
        .collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .ok_or_else(|| ClusterError::NodeBinaryMissing {
            searched: candidates
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
        })
}

/// What a cluster starts: its links and how each node mines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NetworkSpec {
    pub(crate) link: LinkModel,
    /// Where the nodes are; each link then takes its regions' latency, not the model's.
    pub(crate) placement: Option<Placement>,
    /// Seeds the links' random streams.
    pub(crate) seed: u64,
    /// Leading zero bits of proof of work.
    pub(crate) difficulty: u32,
    pub(crate) sync_interval_secs: u64,
    pub(crate) retarget: Option<Retarget>,
    /// One per node, in node order.
    pub(crate) miners: Vec<MinerSpec>,
}

/// How one node mines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MinerSpec {
    /// Its `--hash-rate`; `None` hashes as fast as the node can.
    pub(crate) hash_rate: Option<u64>,
    /// Its `--simulated-mining-seed`.
    pub(crate) simulated_mining_seed: Option<u64>,
}

#[derive(Debug)]
struct NodeProcess {
    child: Child,
    api: SocketAddr,
    log: PathBuf,
    /// Its event stream (`--events`).
    events: PathBuf,
    /// Copies the node's output to its log; ends when the node's output does.
    copier: JoinHandle<()>,
}

/// The running network of one experiment.
#[derive(Debug)]
pub(crate) struct Cluster {
    nodes: Vec<NodeProcess>,
    relays: Vec<Relay>,
    /// The nodes' data directories, removed when the cluster goes.
    _data: tempfile::TempDir,
}

impl Cluster {
    /// Starts a node of `node_bin` for each of `spec.miners` behind its relay, linked as
    /// `topology` says, logging to `log_dir`; returns once every node is linked with
    /// exactly its neighbours, from when on the links lose requests.
    pub(crate) async fn start(
        spec: &NetworkSpec,
        topology: &Topology,
        node_bin: &Path,
        log_dir: &Path,
    ) -> Result<Cluster, ClusterError> {
        let io = |what, path: &Path| {
            let path = path.to_owned();
            move |source| ClusterError::Io { what, path, source }
        };
        std::fs::create_dir_all(log_dir).map_err(io("cannot create", log_dir))?;
        let data = tempfile::Builder::new()
            .prefix("chainpost-experiment-")
            .tempdir()
            .map_err(io(
                "cannot create a data directory in",
                &std::env::temp_dir(),
            ))?;

        let nodes = spec.miners.len();
        let mut bound = Vec::with_capacity(nodes);
        for _ in 0..nodes {
            bound.push(
                BoundRelay::bind()
                    .await
                    .map_err(io("cannot bind a relay on", Path::new("127.0.0.1")))?,
            );
        }
        let urls: Vec<String> = bound.iter().map(|relay| relay.url().to_owned()).collect();
        let by_region = spec
            .placement
            .as_ref()
            .map(|placement| move |from: usize, to: usize| placement.latency(from, to));
        let network = RelayNetwork::new(
            topology,
            spec.link,
            by_region
                .as_ref()
                .map(|latency| latency as &dyn Fn(usize, usize) -> Duration),
            spec.seed,
            &urls,
        );
        let relays: Vec<Relay> = bound
            .into_iter()
            .enumerate()
            .map(|(node, relay)| relay.serve(node, network.clone()))
            .collect();

        let mut starting = Vec::with_capacity(nodes);
        for node in 0..nodes {
            let data_dir = data.path().join(format!("node-{node}"));
            let log = log_dir.join(format!("node-{node}.log"));
            let events = log_dir.join(format!("node-{node}.events.ndjson"));
            let args = node_args(spec, topology, node, &urls, &data_dir, &events);
            starting.push(spawn_node(node_bin, args, log, events).await?);
        }
        // Start-up runs concurrently: every node joins its peers while the others start.
        let mut processes = Vec::with_capacity(nodes);
        for (node, starting) in starting.into_iter().enumerate() {
            let process = starting.ready(node).await?;
            relays[node].set_upstream(process.api);
            processes.push(process);
        }
        let cluster = Cluster {
            nodes: processes,
            relays,
            _data: data,
        };
        cluster.wait_until_linked(topology).await?;
        network.start_losing();
        Ok(cluster)
    }

    /// Each node's API address, reached directly (not through its relay).
    pub(crate) fn api_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| format!("http://{}", node.api))
            .collect()
    }

    pub(crate) fn logs(&self) -> Vec<PathBuf> {
        self.nodes.iter().map(|node| node.log.clone()).collect()
    }

    pub(crate) fn event_streams(&self) -> Vec<PathBuf> {
        self.nodes.iter().map(|node| node.events.clone()).collect()
    }

    /// The relays, in node order.
    pub(crate) fn relays(&self) -> &[Relay] {
        &self.relays
    }

    /// Waits until some node exits, and says which and how. Never returns while all run.
    pub(crate) async fn first_exit(&mut self) -> (usize, std::io::Result<ExitStatus>) {
        if self.nodes.is_empty() {
            return std::future::pending().await;
        }
        let waits = self
            .nodes
            .iter_mut()
            .map(|node| Box::pin(node.child.wait()));
        let (status, node, _) = futures_util::future::select_all(waits).await;
        (node, status)
    }

    /// Kills every node and waits until each has exited and its log is complete.
    pub(crate) async fn stop(mut self) {
        // The runner has read everything it needs over HTTP and the logs arrive through
        // pipes, so nothing is lost by not asking the nodes to shut down gracefully.
        for node in &mut self.nodes {
            if let Err(error) = node.child.start_kill() {
                tracing::debug!(%error, "node already exited");
            }
        }
        for node in &mut self.nodes {
            let _ = node.child.wait().await;
            let _ = (&mut node.copier).await;
        }
    }

    /// Nodes whose peers no longer are exactly their neighbours (a node drops a peer
    /// that stays unreachable), or that did not say.
    pub(crate) async fn unlinked_nodes(&self, topology: &Topology) -> Vec<usize> {
        let http = peer_client();
        let mut unlinked = Vec::new();
        for node in 0..self.nodes.len() {
            if self.peers_of(&http, node).await != Some(self.neighbour_urls(topology, node)) {
                unlinked.push(node);
            }
        }
        unlinked
    }

    async fn wait_until_linked(&self, topology: &Topology) -> Result<(), ClusterError> {
        let http = peer_client();
        let deadline = tokio::time::Instant::now() + LINK_TIMEOUT;
        for node in 0..self.nodes.len() {
            let expected = self.neighbour_urls(topology, node);
            let mut actual = BTreeSet::new();
            loop {
                if let Some(peers) = self.peers_of(&http, node).await {
                    actual = peers;
                    if actual == expected {
                        break;
                    }
                }
                if tokio::time::Instant::now() >= deadline {
                    return Err(ClusterError::NotLinked {
                        node,
                        expected: expected.into_iter().collect(),
                        actual: actual.into_iter().collect(),
                        timeout: LINK_TIMEOUT,
                    });
                }
                tokio::time::sleep(POLL).await;
            }
        }
        Ok(())
    }

    /// The relay URLs of `node`'s neighbours: the peers it should have.
    fn neighbour_urls(&self, topology: &Topology, node: usize) -> BTreeSet<String> {
        topology
            .neighbours(node)
            .into_iter()
            .filter_map(|neighbour| self.relays.get(neighbour))
            .map(|relay| relay.url().to_owned())
            .collect()
    }

    /// `node`'s peers as its `GET /peers` lists them, asked directly.
    async fn peers_of(&self, http: &reqwest::Client, node: usize) -> Option<BTreeSet<String>> {
        let api = self.nodes.get(node)?.api;
        let response = http.get(format!("http://{api}/peers")).send().await.ok()?;
        let peers: Vec<String> = response.json().await.ok()?;
        Some(peers.into_iter().collect())
    }
}

fn peer_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_default()
}

fn node_args(
    spec: &NetworkSpec,
    topology: &Topology,
    node: usize,
    urls: &[String],
    data_dir: &Path,
    events: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--log-format",
        "json",
        "--mining-threads",
        "1",
        "--mine-empty-blocks",
        "--no-peer-discovery",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    let mut flag = |name: &str, value: String| {
        args.push(name.into());
        args.push(value.into());
    };
    // Configuration keeps every node's neighbours within this, so no link is refused.
    flag("--max-peers", MAX_PEERS.to_string());
    flag("--difficulty", spec.difficulty.to_string());
    let miner = spec.miners[node];
    if let Some(rate) = miner.hash_rate {
        flag("--hash-rate", rate.to_string());
    }
    if let Some(seed) = miner.simulated_mining_seed {
        flag("--simulated-mining-seed", seed.to_string());
    }
    flag("--sync-interval", spec.sync_interval_secs.to_string());
    flag("--advertise", urls[node].clone());
    // Each link is joined once, from its higher end: registering makes the other end
    // add the link back.
    for neighbour in topology.neighbours(node) {
        if neighbour < node {
            flag("--peer", urls[neighbour].clone());
        }
    }
    if let Some(retarget) = spec.retarget {
        flag(
            "--target-block-time",
            retarget.target_block_time_secs.to_string(),
        );
        if let Some(interval) = retarget.interval {
            flag("--retarget-interval", interval.to_string());
        }
    }
    args.push("--data-dir".into());
    args.push(data_dir.into());
    args.push("--events".into());
    args.push(events.into());
    args
}

/// A node process that has not yet said where it listens.
struct StartingNode {
    child: Child,
    log: PathBuf,
    events: PathBuf,
    listening: oneshot::Receiver<SocketAddr>,
    copier: JoinHandle<()>,
    recent: Arc<std::sync::Mutex<VecDeque<String>>>,
}

async fn spawn_node(
    node_bin: &Path,
    args: Vec<OsString>,
    log: PathBuf,
    events: PathBuf,
) -> Result<StartingNode, ClusterError> {
    let file = tokio::fs::File::create(&log)
        .await
        .map_err(|source| ClusterError::Io {
            what: "cannot create",
            path: log.clone(),
            source,
        })?;
    // The node appends to its stream (a restarted node adds to it); a run into an old
    // output directory must not inherit the last run's events.
    tokio::fs::File::create(&events)
        .await
        .map_err(|source| ClusterError::Io {
            what: "cannot create",
            path: events.clone(),
            source,
        })?;
    let mut command = Command::new(node_bin);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The runner waits for the INFO line saying where the node listens; a RUST_LOG meant
        // for the runner must not hide it.
        .env("RUST_LOG", "info")
        .kill_on_drop(true);
    // Every node flag has a CHAINPOST_* variable; one left in the environment (a peer
    // list, say) would change every node of the run.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CHAINPOST_") {
            command.env_remove(name);
        }
    }
    let mut child = command.spawn().map_err(|source| ClusterError::Io {
        what: "cannot start",
        path: node_bin.to_owned(),
        source,
    })?;
    let (lines_tx, lines_rx) = mpsc::channel(1024);
    let (listening_tx, listening) = oneshot::channel();
    let recent = Arc::new(std::sync::Mutex::new(VecDeque::new()));
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(read_lines(stdout, lines_tx.clone(), Some(listening_tx)));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(read_lines(stderr, lines_tx, None));
    }
    let copier = tokio::spawn(write_log(file, lines_rx, recent.clone()));
    Ok(StartingNode {
        child,
        log,
        events,
        listening,
        copier,
        recent,
    })
}

impl StartingNode {
    /// Waits for the node's "listening on" line; on failure kills it and quotes its log.
    async fn ready(mut self, node: usize) -> Result<NodeProcess, ClusterError> {
        let outcome = tokio::time::timeout(START_TIMEOUT, &mut self.listening).await;
        let failure = match outcome {
            Ok(Ok(api)) => {
                return Ok(NodeProcess {
                    child: self.child,
                    api,
                    log: self.log,
                    events: self.events,
                    copier: self.copier,
                });
            }
            // Its output ended without the line: it is exiting.
            Ok(Err(_)) => None,
            Err(_) => Some(START_TIMEOUT),
        };
        let _ = self.child.start_kill();
        let status = self.child.wait().await;
        let _ = (&mut self.copier).await;
        let log_tail = self
            .recent
            .lock()
            .map(|lines| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        Err(match failure {
            Some(timeout) => ClusterError::NodeStartTimeout {
                node,
                timeout,
                log_tail,
            },
            None => ClusterError::NodeExited {
                node,
                status: status.map_or_else(|error| error.to_string(), |status| status.to_string()),
                log_tail,
            },
        })
    }
}

/// Forwards a node's output line by line, reporting where it listens once it says so.
async fn read_lines(
    output: impl AsyncRead + Unpin,
    lines_tx: mpsc::Sender<String>,
    mut listening: Option<oneshot::Sender<SocketAddr>>,
) {
    // Raw bytes, converted lossily: a line that is not UTF-8 must not end the reading, or
    // the node's pipe would fill and its writes (so the node) would stall.
    let mut output = BufReader::new(output);
    let mut raw = Vec::new();
    let mut keep_sending = true;
    loop {
        raw.clear();
        match output.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw)
            .trim_end_matches(['\n', '\r'])
            .to_owned();
        if let Some(address) = listening.as_ref().and_then(|_| listening_address(&line))
            && let Some(listening) = listening.take()
        {
            let _ = listening.send(address);
        }
        // Once the log writer is gone, keep draining the pipe all the same.
        if keep_sending {
            keep_sending = lines_tx.send(line).await.is_ok();
        }
    }
}

/// Writes a node's output lines to its log file, keeping the last few for error messages.
async fn write_log(
    file: tokio::fs::File,
    mut lines: mpsc::Receiver<String>,
    recent: Arc<std::sync::Mutex<VecDeque<String>>>,
) {
    let mut log = BufWriter::new(file);
    while let Some(line) = lines.recv().await {
        if let Ok(mut recent) = recent.lock() {
            if recent.len() == LOG_TAIL_LINES {
                recent.pop_front();
            }
            recent.push_back(line.clone());
        }
        let written = async {
            log.write_all(line.as_bytes()).await?;
            log.write_all(b"\n").await
        };
        if let Err(error) = written.await {
            tracing::error!(%error, "cannot write a node log");
            return;
        }
    }
    if let Err(error) = log.flush().await {
        tracing::error!(%error, "cannot write a node log");
    }
}

/// The address in a node's `listening on http://ADDR` line, JSON (where the text is the
/// event's message) or plain.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let message = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|event| {
            event
                .pointer("/fields/message")
                .and_then(|message| message.as_str().map(str::to_owned))
        })
        .unwrap_or_else(|| line.to_owned());
    let rest = message.split("listening on http://").nth(1)?;
    rest.split(|c: char| c.is_whitespace() || c == '"' || c == '/')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn output_that_is_not_utf8_is_kept_and_never_stops_the_reading() {
        let output: &[u8] = b"first\n\xff\xfe broken\r\nlistening on http://127.0.0.1:4000\nlast";
        let (lines_tx, mut lines) = mpsc::channel(8);
        let (listening_tx, listening) = oneshot::channel();
        read_lines(output, lines_tx, Some(listening_tx)).await;
        assert_eq!(
            listening.await.expect("address reported"),
            "127.0.0.1:4000".parse::<SocketAddr>().expect("address")
        );
        let mut read = Vec::new();
        while let Some(line) = lines.recv().await {
            read.push(line);
        }
        assert_eq!(
            read,
            [
                "first",
                "\u{fffd}\u{fffd} broken",
                "listening on http://127.0.0.1:4000",
                "last"
            ]
        );

        // With nobody left to write the log, the pipe is still drained to its end.
        let (lines_tx, lines) = mpsc::channel(1);
        drop(lines);
        let (listening_tx, listening) = oneshot::channel();
        let output: &[u8] = b"one\ntwo\nlistening on http://127.0.0.1:4001\n";
        read_lines(output, lines_tx, Some(listening_tx)).await;
        assert!(
            listening.await.is_ok(),
            "the address after a lost writer is still read"
        );
    }

    #[test]
    fn the_listening_address_is_read_from_json_and_text_lines() {
        let json = r#"{"timestamp":"2026-11-23T12:34:56.789012Z","level":"INFO","fields":{"message":"listening on http://127.0.0.1:41234"},"target":"node"}"#;
        assert_eq!(
            listening_address(json),
            Some("127.0.0.1:41234".parse().expect("address"))
        );
        assert_eq!(
            listening_address("2026-11-23 INFO node: listening on http://127.0.0.1:8000"),
            Some("127.0.0.1:8000".parse().expect("address"))
        );
        assert_eq!(
            listening_address(r#"{"fields":{"message":"joined"}}"#),
            None
        );
    }

    #[test]
    fn a_missing_node_binary_names_the_path_and_the_fix() {
        let error = find_node_binary(Some(Path::new("/no/such/node"))).expect_err("missing");
        let message = error.to_string();
        assert!(message.contains("/no/such/node") && message.contains("cargo build -p node"));
    }
}
