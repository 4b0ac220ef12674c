//! The network: peers, gossip and sync. The only module that calls other nodes.
//!
//! - **Peers** ([`peers`]): a bounded set of validated URLs, persisted in the store.
//! - **Gossip**: the node emits a [`NodeEvent`] for every post and block it accepts; a
//!   background task forwards each to the peers that may lack it (not the sender), with
//!   bounded concurrency, short timeouts and retries with backoff. Peers answer "already
//!   known" for what they have, so nothing loops. A peer that stays unreachable is dropped.
//! - **Sync** ([`sync`]): on start-up, every `sync_interval`, on `GET /nodes/resolve` and
//!   whenever a block arrives whose ancestors are missing, ask peers for their tip and
//!   work and download what is missing. A peer that serves an invalid block is dropped.
//!
//! **Boundary:** sending never blocks an API handler; handlers only enqueue.

pub mod client;
pub mod peers;
pub mod sync;

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::chain::BlockHash;
use crate::node::{Node, NodeEvent, Origin, unix_now};
use crate::store::Batch;
use crate::wire::{BlockJson, TransactionJson};
use client::{ClientError, PeerClient};
use peers::{PeerError, PeerSet, PeerUrl};
use sync::{SyncError, SyncReport};

/// Most gossip sends of one kind (blocks, posts) in flight at once.
const GOSSIP_CONCURRENCY: usize = 16;
/// Posts waiting for a gossip slot; beyond this their gossip is dropped (the post stays
/// pending where it was accepted, and is mined there).
const POST_GOSSIP_QUEUE: usize = 16_384;
/// Attempts per gossip message before the peer is counted as failing.
const GOSSIP_ATTEMPTS: u32 = 3;
/// First retry delay; each further retry waits four times longer.
const GOSSIP_BACKOFF: Duration = Duration::from_millis(200);

/// Longest one sync with one peer may take; a peer that keeps us longer is cut off.
const SYNC_DEADLINE: Duration = Duration::from_secs(600);

/// Why registering with a node failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The address is not acceptable as a peer.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The remote node could not be reached or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Syncing with the remote node failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
}

impl NetworkError {
    /// Whether the remote could not be reached at some step, registering or syncing: worth
    /// trying again, unlike a remote that answered and was refused.
    pub fn is_unreachable(&self) -> bool {
        match self {
            NetworkError::Client(error) | NetworkError::Sync(SyncError::Client(error)) => {
                error.is_unreachable()
            }
            NetworkError::Peer(_) | NetworkError::Sync(_) => false,
        }
    }
}

/// How a node meets peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkOptions {
    /// Whether registering with a node links us with the peers it knows too.
    pub discovery: bool,
    /// Most peers kept.
    pub max_peers: usize,
}

/// What a round of consensus with every peer achieved.
#[derive(Debug, Clone, Default)]
pub struct ResolveReport {
    /// Peers asked.
    pub peers_consulted: usize,
    /// Blocks downloaded and accepted.
    pub blocks_added: usize,
    /// Whether our best chain changed.
    pub replaced: bool,
}

/// This node's place in the network.
pub struct Network {
    node: Arc<Node>,
    client: PeerClient,
    peers: Mutex<PeerSet>,
    /// Slots for block sends and for post sends, apart: posts never hold up a block.
    block_slots: Arc<Semaphore>,
    post_slots: Arc<Semaphore>,
    sync_turn: tokio::sync::Mutex<()>,
    /// Every background task, so shutdown can stop them and release the node.
    tasks: Mutex<JoinSet<()>>,
    fetch: Mutex<AncestorFetch>,
    /// Whether registering with a node also links us with the peers it knows.
    discovery: bool,
}

/// Missing ancestors waiting to be fetched, and whether a fetch task is running.
#[derive(Debug, Default)]
struct AncestorFetch {
    missing: HashSet<BlockHash>,
    first: HashSet<PeerUrl>,
    running: bool,
}

impl Network {
    /// The network of `node`, reachable by others at `own`, knowing `known` peers.
    pub fn new(
        node: Arc<Node>,
        own: PeerUrl,
        known: Vec<PeerUrl>,
        options: NetworkOptions,
    ) -> Arc<Self> {
        let mut peers = PeerSet::new(own.clone(), options.max_peers);
        for peer in known {
            let _ = peers.add(peer);
        }
        Arc::new(Network {
            node,
            client: PeerClient::new(own),
            peers: Mutex::new(peers),
            block_slots: Arc::new(Semaphore::new(GOSSIP_CONCURRENCY)),
            post_slots: Arc::new(Semaphore::new(GOSSIP_CONCURRENCY)),
            sync_turn: tokio::sync::Mutex::new(()),
            tasks: Mutex::new(JoinSet::new()),
            fetch: Mutex::default(),
            discovery: options.discovery,
        })
    }

    /// This node's address as peers see it.
    pub fn own_url(&self) -> PeerUrl {
        self.lock_peers().own().clone()
    }

    /// The current peers.
    pub fn peers(&self) -> Vec<PeerUrl> {
        self.lock_peers().list()
    }

    /// Adds a peer that introduced itself (`POST /register_node`); true if new.
    pub async fn add_peer(&self, address: &str) -> Result<bool, PeerError> {
        let peer = PeerUrl::parse(address)?;
        let added = self.lock_peers().add(peer.clone())?;
        if added {
            tracing::info!(%peer, "new peer");
            self.persist_peers(vec![peer.to_string()], Vec::new()).await;
        }
        Ok(added)
    }

    /// Registers this node with `address` (`POST /register_with`): the remote adds us,
    /// we add it and the peers it knows, and we adopt its chain if it carries more work.
    pub async fn register_with(
        self: &Arc<Self>,
        address: &str,
    ) -> Result<SyncReport, NetworkError> {
        let remote = PeerUrl::parse(address)?;
        if remote == self.own_url() {
            return Err(PeerError::Itself.into());
        }
        let their_peers = self.client.register(&remote).await?;
        // Sync before adopting the remote or its peers: one that cannot serve the chain
        // it claims is not kept, whatever way its answers fail.
        let report = self.sync_with(&remote).await?;
        self.add_peer(remote.as_str()).await.or_else(ignore_full)?;
        if !self.discovery {
            return Ok(report);
        }
        for address in their_peers {
            let Ok(peer) = PeerUrl::parse(&address) else {
                continue;
            };
            if peer == self.own_url() || self.lock_peers().contains(&peer) {
                continue;
            }
            if let Ok(true) = self.add_peer(peer.as_str()).await {
                // Introduce ourselves too, so the links run both ways.
                let network = self.clone();
                self.spawn_task(async move {
                    if let Err(error) = network.client.register(&peer).await {
                        tracing::debug!(%error, "could not introduce ourselves");
                    }
                });
            }
        }
        Ok(report)
    }

    /// Asks every peer for its chain and adopts the heaviest valid one
    /// (the tutorial's `consensus()`).
    pub async fn resolve(&self) -> ResolveReport {
        let mut report = ResolveReport::default();
        for peer in self.peers() {
            report.peers_consulted += 1;
            if let Ok(synced) = self.sync_with(&peer).await {
                report.blocks_added += synced.blocks_added;
                report.replaced |= synced.tip_changed;
            }
        }
        report
    }

    /// Syncs with one peer, one sync at a time; drops the peer if it served invalid
    /// blocks or belongs to another network.
    pub async fn sync_with(&self, peer: &PeerUrl) -> Result<SyncReport, SyncError> {
        let _turn = self.sync_turn.lock().await;
        let result = tokio::time::timeout(
            SYNC_DEADLINE,
            sync::sync_with(&self.node, &self.client, peer),
        )
        .await
        .unwrap_or_else(|_| {
            Err(SyncError::TooSlow {
                peer: peer.clone(),
                deadline: SYNC_DEADLINE,
            })
        });
        match &result {
            Ok(report) if report.blocks_added > 0 => {
                tracing::info!(%peer, blocks = report.blocks_added, "synced");
                self.lock_peers().record_success(peer);
            }
            Ok(_) => self.lock_peers().record_success(peer),
            // Answers no honest node gives. Inconsistent pages are not among them: a peer
            // that reorganizes while we page through its chain answers them honestly.
            Err(
                error @ (SyncError::InvalidBlock { .. }
                | SyncError::OtherNetwork(_)
                | SyncError::TooSlow { .. }
                | SyncError::Client(ClientError::Malformed { .. })),
            ) => {
                tracing::warn!(%error, "disconnecting peer");
                self.drop_peer(peer).await;
            }
            Err(SyncError::Client(error)) if error.is_unreachable() => {
                self.note_failure(peer).await;
            }
            Err(error) => tracing::warn!(%error, "sync failed"),
        }
        result
    }

    /// Starts the background tasks: gossip of node events, periodic sync, and joining
    /// the `join` peers (with retries, as they may still be starting).
    pub fn spawn(
        self: &Arc<Self>,
        events: mpsc::Receiver<NodeEvent>,
        join: Vec<String>,
        sync_interval: Duration,
    ) {
        self.spawn_task(self.clone().gossip_loop(events));
        // Snapshot the remembered peers now: a peer that registers with us after start-up
        // did not ask to be registered with in return.
        let mut addresses = join;
        addresses.extend(self.peers().iter().map(ToString::to_string));
        let network = self.clone();
        self.spawn_task(async move {
            network.join(addresses).await;
            let mut ticks = tokio::time::interval(sync_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                network.resolve().await;
            }
        });
    }

    async fn join(self: &Arc<Self>, mut pending: Vec<String>) {
        pending.sort();
        pending.dedup();
        let mut delay = Duration::from_millis(250);
        for _ in 0..8 {
            let mut failed = Vec::new();
            for address in pending {
                match self.register_with(&address).await {
                    Ok(_) => tracing::info!(peer = %address, "joined"),
                    Err(error) if error.is_unreachable() => failed.push(address),
                    Err(error) => tracing::warn!(peer = %address, %error, "cannot join"),
                }
            }
            if failed.is_empty() {
                return;
            }
            pending = failed;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        tracing::warn!(peers = ?pending, "gave up joining unreachable peers; periodic sync keeps trying known ones");
    }

    /// Sends node events on to peers. Posts go through a queue of their own, so a backlog
    /// of post sends (many posts, slow links) never delays a block: blocks decide forks.
    async fn gossip_loop(self: Arc<Self>, mut events: mpsc::Receiver<NodeEvent>) {
        let (posts, post_queue) = mpsc::channel(POST_GOSSIP_QUEUE);
        self.spawn_task(self.clone().post_gossip_loop(post_queue));
        while let Some(event) = events.recv().await {
            match event {
                NodeEvent::Transaction { tx, origin } => {
                    if posts.try_send((tx, origin)).is_err() {
                        tracing::debug!("post gossip is backed up; not forwarding a post");
                    }
                }
                NodeEvent::Blocks { blocks, origin } => {
                    let blocks: Arc<Vec<BlockJson>> = Arc::new(
                        blocks
                            .iter()
                            .map(|block| BlockJson::from_block(block))
                            .collect(),
                    );
                    for peer in self.targets(&origin) {
                        let blocks = blocks.clone();
                        // One task per peer sends the blocks in order, parents first.
                        self.send(&self.block_slots, peer, "block", move |client, peer| {
                            let blocks = blocks.clone();
                            async move {
                                for block in blocks.iter() {
                                    client.announce_block(&peer, block).await?;
                                }
                                Ok(())
                            }
                        })
                        .await;
                    }
                }
                NodeEvent::MissingAncestor { hash, origin } => {
                    self.fetch_ancestors(hash, origin);
                }
            }
        }
    }

    async fn post_gossip_loop(
        self: Arc<Self>,
        mut posts: mpsc::Receiver<(Arc<crate::chain::Transaction>, Origin)>,
    ) {
        while let Some((tx, origin)) = posts.recv().await {
            let json = TransactionJson::from_transaction(&tx);
            for peer in self.targets(&origin) {
                let json = json.clone();
                self.send(
                    &self.post_slots,
                    peer,
                    "transaction",
                    move |client, peer| {
                        let json = json.clone();
                        async move { client.forward_transaction(&peer, &json).await }
                    },
                )
                .await;
            }
        }
    }

    /// Syncs until `missing` is known: with the sender first when it is one of our peers
    /// (a header naming any other URL is ignored: we only call nodes we chose), then with
    /// every other peer. Requests arriving while a fetch runs join it instead of starting
    /// their own, so a flood of orphans costs one fetch.
    fn fetch_ancestors(self: &Arc<Self>, missing: BlockHash, origin: Origin) {
        {
            let mut fetch = self.lock_fetch();
            let origin = origin.and_then(|origin| PeerUrl::parse(&origin).ok());
            if let Some(origin) = origin.filter(|origin| self.lock_peers().contains(origin)) {
                fetch.first.insert(origin);
            }
            fetch.missing.insert(missing);
            if fetch.running {
                return;
            }
            fetch.running = true;
        }
        let network = self.clone();
        self.spawn_task(async move {
            loop {
                let (wanted, first) = {
                    let mut fetch = network.lock_fetch();
                    if fetch.missing.is_empty() {
                        fetch.running = false;
                        return;
                    }
                    (
                        std::mem::take(&mut fetch.missing),
                        std::mem::take(&mut fetch.first),
                    )
                };
                tracing::info!(blocks = wanted.len(), "fetching missing ancestors");
                let mut sources: Vec<PeerUrl> = first.into_iter().collect();
                for peer in network.peers() {
                    if !sources.contains(&peer) {
                        sources.push(peer);
                    }
                }
                for peer in sources {
                    let _ = network.sync_with(&peer).await;
                    let all_found = network.node.with_chain(|chain| {
                        wanted.iter().all(|hash| chain.tree().get(hash).is_some())
                    });
                    if all_found {
                        break;
                    }
                }
            }
        });
    }

    /// Peers to tell, leaving out the one the news came from.
    fn targets(&self, origin: &Origin) -> Vec<PeerUrl> {
        let origin = origin
            .as_deref()
            .and_then(|origin| PeerUrl::parse(origin).ok());
        self.peers()
            .into_iter()
            .filter(|peer| Some(peer) != origin.as_ref())
            .collect()
    }

    /// Runs `attempt` against `peer` in the background, within the concurrency bound,
    /// retrying with backoff while the peer seems down.
    async fn send<F, Fut>(
        self: &Arc<Self>,
        slots: &Arc<Semaphore>,
        peer: PeerUrl,
        kind: &'static str,
        attempt: F,
    ) where
        F: Fn(PeerClient, PeerUrl) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ClientError>> + Send,
    {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let network = self.clone();
        self.spawn_task(async move {
            let _slot = slot;
            let mut delay = GOSSIP_BACKOFF;
            for round in 1..=GOSSIP_ATTEMPTS {
                match attempt(network.client.clone(), peer.clone()).await {
                    Ok(()) => {
                        network.node.metrics().count_gossip(kind, true);
                        network.lock_peers().record_success(&peer);
                        return;
                    }
                    Err(error) if error.is_unreachable() && round < GOSSIP_ATTEMPTS => {
                        tokio::time::sleep(delay).await;
                        delay *= 4;
                    }
                    Err(error) if error.is_unreachable() => {
                        tracing::debug!(%error, "gossip failed");
                        network.node.metrics().count_gossip(kind, false);
                        network.note_failure(&peer).await;
                        return;
                    }
                    Err(error) => {
                        // The peer answered but refused: its business, not a failure to reach it.
                        tracing::debug!(%error, "peer refused gossip");
                        return;
                    }
                }
            }
        });
    }

    /// Runs `task` in the background until it ends or the network shuts down.
    pub fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Stops every background task; afterwards the network holds no task that keeps the
    /// node (and its database) alive.
    pub async fn shutdown(&self) {
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    async fn note_failure(&self, peer: &PeerUrl) {
        let drop = self.lock_peers().record_failure(peer, unix_now());
        if drop {
            tracing::warn!(%peer, "dropping unreachable peer");
            self.drop_peer(peer).await;
        }
    }

    async fn drop_peer(&self, peer: &PeerUrl) {
        if self.lock_peers().remove(peer) {
            self.persist_peers(Vec::new(), vec![peer.to_string()]).await;
        }
    }

    async fn persist_peers(&self, added: Vec<String>, removed: Vec<String>) {
        let write = self.node.store().write(Batch {
            peers_added: added,
            peers_removed: removed,
            ..Batch::default()
        });
        if let Err(error) = write.await {
            tracing::error!(%error, "cannot persist peers");
        }
    }

    fn lock_fetch(&self) -> std::sync::MutexGuard<'_, AncestorFetch> {
        self.fetch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_peers(&self) -> std::sync::MutexGuard<'_, PeerSet> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A full peer set is no reason to fail a registration: we still sync with the remote.
fn ignore_full(error: PeerError) -> Result<bool, PeerError> {
    match error {
        PeerError::Full(_) => Ok(false),
        other => Err(other),
    }
}
