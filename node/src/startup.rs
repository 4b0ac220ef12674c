//! Building and running a node: open the store, restore the state, bind, serve.
//!
//! [`Application::build`] binds before it returns, so callers (tests included) can ask for
//! port 0 and read the port that was chosen.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use std::time::Duration;

use tokio::sync::mpsc;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::event_log::EventLog;
use crate::miner::MiningOptions;
use crate::node::Node;
use crate::node::{NodeError, NodeEvent};
use crate::p2p::{Network, NetworkOptions};
use crate::peer_url::PeerUrl;
use crate::search::{self, SearchIndex};
use crate::store::{Batch, ChainStep, Loaded, Store};
use chainpost_chain::mempool::MempoolLimits;
use chainpost_chain::tree::{BlockTree, Bodies};
use chainpost_chain::{Block, BlockHash, ChainParams, ChainState};
use chainpost_edge::cross_site::AllowedHosts;
use chainpost_edge::serve::{self, ServeLimits};

/// A node bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    node: Arc<Node>,
    search: Arc<SearchIndex>,
    network: Arc<Network>,
    event_queue: mpsc::Receiver<NodeEvent>,
    join: Vec<String>,
    sync_interval: Duration,
    mine_continuously: bool,
    serve_limits: ServeLimits,
    allowed_hosts: AllowedHosts,
}

/// Node events waiting for the network; beyond this, gossip is dropped (sync repairs it).
const EVENT_QUEUE: usize = 16_384;

impl Application {
    /// Opens the store, restores the chain state from it and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let params = config.chain_params()?;
        let serve_limits = ServeLimits {
            max_connections: serve::raise_open_files_limit(config.max_connections),
            ..config.serve_limits()
        };
        let listener = TcpListener::bind((config.host.as_str(), config.port))
            .await
            .with_context(|| format!("cannot listen on {}:{}", config.host, config.port))?;
        let address = listener.local_addr()?;

        let (store, loaded) = open_store(&config, params.genesis(), address.port()).await?;
        let search = open_search(&config, &store, params.genesis().hash(), address.port()).await?;
        let remembered_peers = loaded.peers.clone();
        let chain = restore_chain(
            &store,
            params,
            MempoolLimits::for_count(config.max_pending),
            config.block_cache_bytes,
            loaded,
        )
        .await?;
        let (events, event_queue) = mpsc::channel(EVENT_QUEUE);
        let event_log = match &config.events {
            Some(path) => EventLog::open(path)
                .with_context(|| format!("cannot open the events file {}", path.display()))?,
            None => EventLog::off(),
        };
        let node = Arc::new(
            Node::new(chain, store, mining_options(&config), Some(events))
                .with_event_log(event_log),
        );

        let own = own_url(&config, address)?;
        for peer in &config.peers {
            PeerUrl::parse(peer).with_context(|| format!("--peer {peer}"))?;
        }
        // Remembered peers are joined like --peer ones: handshake first, so an entry
        // that no longer is a chainpost node of this network is forgotten.
        let mut join = config.peers.clone();
        join.extend(remembered_peers);
        let allowed_hosts = allowed_hosts(&config, address, &own);
        tracing::info!(%allowed_hosts, "answering to");
        let options = NetworkOptions {
            discovery: !config.no_peer_discovery,
            max_peers: config.max_peers,
            public_peers_only: config.public_peers_only,
            seeds: config.seed_dns.clone(),
        };
        let network = Network::new(node.clone(), own, options);
        Ok(Application {
            listener,
            address,
            node,
            search,
            network,
            event_queue,
            join,
            sync_interval: Duration::from_secs(config.sync_interval),
            mine_continuously: config.mine,
            serve_limits,
            allowed_hosts,
        })
    }

    /// The address the node listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    pub fn node(&self) -> Arc<Node> {
        self.node.clone()
    }

    pub fn network(&self) -> Arc<Network> {
        self.network.clone()
    }

    /// Starts the background work (gossip, sync, joining peers, continuous mining), serves
    /// until `shutdown` completes, then stops mining, finishes in-flight requests and
    /// returns.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let network = self.network.clone();
        network.spawn(self.event_queue, self.join, self.sync_interval);
        if self.mine_continuously {
            network.spawn_task(mine_continuously(self.node.clone()));
        }
        let node = self.node.clone();
        let router = api::router(AppState {
            node: self.node,
            network: self.network,
            allowed_hosts: Arc::new(self.allowed_hosts),
            heavy_reads: api::HeavyReads::for_this_machine()
                .context("cannot start the threads for large answers")?,
            search: self.search,
        });
        serve::serve(self.listener, router, self.serve_limits, async move {
            shutdown.await;
            tracing::info!("shutting down");
            node.begin_shutdown();
        })
        .await?;
        network.shutdown().await;
        Ok(())
    }
}

/// Mines whenever there is something to mine, until the node shuts down.
async fn mine_continuously(node: Arc<Node>) {
    loop {
        node.wait_for_work().await;
        match node.mine().await {
            Ok(_) => {}
            Err(NodeError::ShuttingDown) => return,
            Err(error) => {
                tracing::warn!(%error, "continuous mining failed; retrying shortly");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// The data directory: `--data-dir`, or one per port.
fn data_dir(config: &Config, port: u16) -> PathBuf {
    config
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("./data/node-{port}")))
}

/// The store `config` names (in memory, or `chain.redb` in the data directory, which
/// defaults to one per port), opened off the runtime's threads: redb verifies and fsyncs
/// on open.
async fn open_store(config: &Config, genesis: Block, port: u16) -> anyhow::Result<(Store, Loaded)> {
    let max_pending = config.max_pending;
    if config.in_memory {
        return Ok(Store::in_memory(&genesis, max_pending)?);
    }
    let dir = data_dir(config, port);
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    let path = dir.join("chain.redb");
    tracing::info!(path = %path.display(), "opening the chain database");
    let shown = path.display().to_string();
    tokio::task::spawn_blocking(move || Store::open(&path, &genesis, max_pending))
        .await?
        .with_context(|| format!("cannot open the chain database {shown}"))
}

/// The search index beside the store (in memory for an in-memory node), opened off the
/// runtime's threads. It catches up with the chain in the background.
async fn open_search(
    config: &Config,
    store: &Store,
    genesis: BlockHash,
    port: u16,
) -> anyhow::Result<Arc<SearchIndex>> {
    let dir = (!config.in_memory).then(|| search::index_dir(&data_dir(config, port)));
    let (reader, chain_moved) = (store.reader(), store.chain_moved());
    let shown = dir
        .as_ref()
        .map(|dir| dir.display().to_string())
        .unwrap_or_default();
    let index = tokio::task::spawn_blocking(move || {
        SearchIndex::open(dir.as_deref(), reader, chain_moved, genesis)
    })
    .await?
    .with_context(|| format!("cannot open the search index {shown}"))?;
    Ok(Arc::new(index))
}

/// Rebuilds the chain state from the store's block index, without reading the bodies of
/// the best chain: the tip it finds is the one replaying the blocks would. The tree keeps
/// `block_cache_bytes` of durable best-chain bodies (the newest: enough for the
/// reorganizations that happen and for mining on the tip, whatever the chain's length).
/// Should the tip differ from the one recorded (the rules of fork choice changed between
/// releases), the tree's tip wins and the store's indexes are moved to it before anything
/// else is written.
async fn restore_chain(
    store: &Store,
    params: ChainParams,
    limits: MempoolLimits,
    block_cache_bytes: usize,
    loaded: Loaded,
) -> anyhow::Result<ChainState> {
    let recorded_tip = loaded.best_tip;
    let pending = loaded.mempool.len();
    let reader = store.reader();
    let chain = tokio::task::spawn_blocking(move || {
        let bodies = Bodies {
            source: Arc::new(reader.clone()),
            budget: block_cache_bytes,
        };
        let index = reader.block_index()?;
        Ok::<_, anyhow::Error>(ChainState::from_index(
            params,
            limits,
            bodies,
            index,
            loaded.mempool,
        )?)
    })
    .await?
    .context("the stored chain does not hold together")?;
    let blocks = chain.tree().last_seq();
    let tip = chain.tree().tip().hash();
    let recorded = recorded_tip.unwrap_or(chain.tree().genesis().hash());
    if recorded != tip {
        tracing::warn!(%recorded, %tip, "recorded best tip differs from the rebuilt one; using the rebuilt one");
        let best_chain = steps_to_tip(chain.tree(), recorded)
            .context("the recorded best tip is not a stored block")?;
        store
            .write(Batch {
                best_tip: Some(tip),
                best_chain,
                ..Batch::default()
            })
            .await?;
    }
    tracing::info!(
        blocks,
        pending,
        height = chain.tree().tip().height(),
        %tip,
        "chain restored"
    );
    Ok(chain)
}

/// How the best chain moves from `from` (a block of the tree) to the tree's tip.
fn steps_to_tip(tree: &BlockTree, from: BlockHash) -> anyhow::Result<Vec<ChainStep>> {
    let entry = |hash: &BlockHash| {
        tree.get(hash)
            .with_context(|| format!("block {hash} is not in the tree"))
    };
    let mut old = entry(&from)?;
    let mut new = tree.tip();
    let (mut reverted, mut applied) = (Vec::new(), Vec::new());
    while old.hash() != new.hash() {
        if old.height() >= new.height() {
            reverted.push(ChainStep::Revert(tree.block(&old.hash())?));
            old = entry(&old.header().previous_hash)?;
        } else {
            applied.push(ChainStep::Apply(tree.block(&new.hash())?));
            new = entry(&new.header().previous_hash)?;
        }
    }
    reverted.extend(applied.into_iter().rev());
    Ok(reverted)
}

/// One search thread per core unless `--mining-threads` says otherwise.
fn mining_options(config: &Config) -> MiningOptions {
    let threads = config
        .mining_threads
        .map(usize::from)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1);
    MiningOptions {
        threads,
        hash_rate: config.hash_rate,
        empty_blocks: config.mine_empty_blocks,
        simulated_seed: config.simulated_mining_seed,
    }
}

/// The URL peers reach this node at: `--advertise`, else the listening address (loopback
/// for an unspecified one).
fn own_url(config: &Config, address: SocketAddr) -> anyhow::Result<PeerUrl> {
    if let Some(advertise) = &config.advertise {
        return PeerUrl::parse(advertise).context("--advertise");
    }
    let host = if address.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        address.ip().to_string()
    };
    Ok(PeerUrl::parse(&format!(
        "http://{host}:{}",
        address.port()
    ))?)
}

/// `--allowed-host` (or the default for the listening address), plus the advertised host.
fn allowed_hosts(config: &Config, address: SocketAddr, own: &PeerUrl) -> AllowedHosts {
    let mut allowed_hosts = if config.allowed_hosts.is_empty() {
        AllowedHosts::default_for(address.ip())
    } else {
        AllowedHosts::from_names(config.allowed_hosts.iter().map(String::as_str))
    };
    if let Some(host) = reqwest::Url::parse(own.as_str())
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        allowed_hosts.allow(&host);
    }
    allowed_hosts
}
