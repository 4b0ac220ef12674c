//! The network: peers, gossip and sync. The only module that calls other nodes.
//!
//! - **Peers** ([`peers`]): an address becomes a peer only after a handshake (its
//!   `/status` names our genesis and a node id that is not ours); until then nothing but
//!   that one `GET /status` is sent to it, and its answers are never passed on. What
//!   strangers announce waits in a bounded candidate table with a share per source and
//!   never displaces a peer. A peer that fails in any way backs off and, failing long
//!   enough, is dropped; one that serves an invalid block or another network's chain is
//!   dropped at once. Peers are persisted in the store and handshaken again on start-up.
//! - **Gossip**: the node emits a `NodeEvent` for every post and block it accepts; the
//!   gossip task puts it on the queues of each peer that may lack it (not the sender,
//!   not one backing off). Each peer has its own bounded queues and sender tasks, so a
//!   peer that is slow or hangs delays no other; blocks and posts have separate senders,
//!   so posts never hold up a block. Peers answer "already known" for what they have, so
//!   nothing loops.
//! - **Sync** (`sync`): on start-up, every `sync_interval`, on `GET /nodes/resolve` and
//!   whenever a block arrives whose ancestors are missing, ask peers for their tip and
//!   work and download what is missing.
//!
//! **Boundary:** sending never blocks an API handler; handlers only enqueue (except
//! `/register_node`'s one handshake and `/register_with`, whose point is to wait).

pub(crate) mod client;
pub mod peers;
pub mod seeds;
pub(crate) mod sync;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::node::{Node, NodeEvent, Origin};
use crate::peer_url::PeerUrl;
use crate::store::Batch;
use chainpost_chain::BlockHash;
use chainpost_edge::clock::unix_now;
use chainpost_wire::lenient::PeerStatus;
use chainpost_wire::{BlockJson, TransactionJson};
use client::{ClientError, PeerClient};
pub(crate) use peers::Source;
use peers::{FailureVerdict, MAX_CANDIDATES, PeerError, PeerSet};
use reqwest::StatusCode;
use seeds::SeedName;
use sync::{SyncError, SyncReport};

/// Block batches waiting for one peer; beyond this that peer misses them (sync repairs).
const LINK_BLOCK_QUEUE: usize = 256;
/// Posts waiting for one peer; beyond this that peer misses them (the post stays pending
/// where it was accepted, and is mined there).
const LINK_POST_QUEUE: usize = 4096;
/// Post sends in flight to one peer at once.
const POSTS_IN_FLIGHT_PER_PEER: usize = 8;
/// Attempts per gossip message before the peer is counted as failing.
const GOSSIP_ATTEMPTS: u32 = 3;
/// First retry delay; each further retry waits four times longer.
const GOSSIP_BACKOFF: Duration = Duration::from_millis(200);
/// Handshakes with strangers' addresses at once; more wait in the candidate table.
const HANDSHAKE_SLOTS: usize = 8;
/// Registrations (`/register_with`) in progress at once.
const REGISTRATIONS_AT_ONCE: usize = 8;
/// Candidates tried per sync round.
const CANDIDATES_PER_ROUND: usize = 8;

/// How long a DNS seed may take to answer before the round goes on without it.
const SEED_LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest one sync with one peer may take; a peer that keeps us longer is cut off.
const SYNC_DEADLINE: Duration = Duration::from_secs(600);

/// Why an address did not pass the handshake.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// It answered, but not as a chainpost node does.
    #[error("{peer} is not a chainpost node: {reason}")]
    NotAChainpostNode {
        peer: PeerUrl,
        /// What its answer was.
        reason: String,
    },
    /// A chainpost node of another network.
    #[error("{peer} is on another network (genesis {theirs}, ours {ours})")]
    OtherNetwork {
        peer: PeerUrl,
        /// Its genesis.
        theirs: BlockHash,
        ours: BlockHash,
    },
    /// This very node, under another address.
    #[error("{0} is this node itself")]
    Itself(PeerUrl),
    /// It could not be reached.
    #[error(transparent)]
    Unreachable(ClientError),
}

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
    /// The remote did not pass the handshake.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// Too many registrations are in progress; try again shortly.
    #[error("too many registrations in progress; try again shortly")]
    Busy,
}

impl NetworkError {
    /// Whether the remote could not be reached at some step, registering or syncing: worth
    /// trying again, unlike a remote that answered and was refused.
    pub(crate) fn is_unreachable(&self) -> bool {
        match self {
            NetworkError::Client(error)
            | NetworkError::Sync(SyncError::Client(error))
            | NetworkError::Handshake(HandshakeError::Unreachable(error)) => error.is_unreachable(),
            NetworkError::Busy => true,
            NetworkError::Peer(_) | NetworkError::Sync(_) | NetworkError::Handshake(_) => false,
        }
    }
}

/// How a node meets peers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkOptions {
    /// Whether registering with a node links us with the peers it knows too.
    pub(crate) discovery: bool,
    pub(crate) max_peers: usize,
    /// Whether peers at private, loopback and link-local addresses are refused (for nodes
    /// on the public internet: no stranger can make them call into their own network).
    pub(crate) public_peers_only: bool,
    /// DNS names asked for candidate peers every round (`--seed-dns`).
    pub(crate) seeds: Vec<SeedName>,
}

/// What a round of consensus with every peer achieved.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResolveReport {
    pub(crate) peers_consulted: usize,
    /// Blocks downloaded and accepted.
    pub(crate) blocks_added: usize,
    /// Whether our best chain changed.
    pub(crate) replaced: bool,
}

/// This node's place in the network.
pub struct Network {
    node: Arc<Node>,
    client: PeerClient,
    peers: Mutex<PeerSet>,
    /// Each peer's outgoing queues: a slow peer fills only its own.
    links: Mutex<HashMap<PeerUrl, PeerLink>>,
    handshake_slots: Semaphore,
    /// Peers being synced with: one sync per peer at a time, any number of peers at once,
    /// so a peer that stalls holds up no other.
    syncing: Mutex<HashSet<PeerUrl>>,
    /// Registrations in progress at once; more are refused.
    registrations: Semaphore,
    /// One consensus round at a time; callers that waited for one share its report.
    resolving: tokio::sync::Mutex<()>,
    last_resolve: Mutex<Option<(Instant, ResolveReport)>>,
    /// Every background task, so shutdown can stop them and release the node.
    tasks: Mutex<JoinSet<()>>,
    fetch: Mutex<AncestorFetch>,
    /// Whether registering with a node also links us with the peers it knows.
    discovery: bool,
    public_peers_only: bool,
    seeds: Vec<SeedName>,
    /// This run's random identity, shown in `/status`: a handshake that meets it has
    /// reached this node itself (Bitcoin's version nonce).
    node_id: String,
    genesis: BlockHash,
}

/// The queues feeding one peer's sender tasks.
#[derive(Clone)]
struct PeerLink {
    blocks: mpsc::Sender<Arc<Vec<BlockJson>>>,
    posts: mpsc::Sender<Arc<TransactionJson>>,
}

/// A sync in progress with one peer; ends when dropped.
struct Syncing<'a> {
    syncing: &'a Mutex<HashSet<PeerUrl>>,
    peer: PeerUrl,
}

impl<'a> Syncing<'a> {
    fn claim(syncing: &'a Mutex<HashSet<PeerUrl>>, peer: &PeerUrl) -> Option<Self> {
        let fresh = syncing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer.clone());
        fresh.then(|| Syncing {
            syncing,
            peer: peer.clone(),
        })
    }
}

impl Drop for Syncing<'_> {
    fn drop(&mut self) {
        self.syncing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.peer);
    }
}

/// Missing ancestors waiting to be fetched, and whether a fetch task is running.
#[derive(Debug, Default)]
struct AncestorFetch {
    missing: HashSet<BlockHash>,
    first: HashSet<PeerUrl>,
    running: bool,
}

impl Network {
    /// The network of `node`, reachable by others at `own`. Remembered peers are not
    /// trusted as they are: [`Network::spawn`] joins them, handshake first.
    pub(crate) fn new(node: Arc<Node>, own: PeerUrl, options: NetworkOptions) -> Arc<Self> {
        let genesis = node.params().genesis().hash();
        let node_id = hex::encode(rand::random::<[u8; 16]>());
        Arc::new(Network {
            node,
            client: PeerClient::new(own.clone(), options.public_peers_only),
            peers: Mutex::new(PeerSet::new(own, options.max_peers)),
            links: Mutex::default(),
            handshake_slots: Semaphore::new(HANDSHAKE_SLOTS),
            syncing: Mutex::default(),
            registrations: Semaphore::new(REGISTRATIONS_AT_ONCE),
            resolving: tokio::sync::Mutex::new(()),
            last_resolve: Mutex::new(None),
            tasks: Mutex::new(JoinSet::new()),
            fetch: Mutex::default(),
            discovery: options.discovery,
            public_peers_only: options.public_peers_only,
            seeds: options.seeds,
            node_id,
            genesis,
        })
    }

    /// This node's address as peers see it.
    pub(crate) fn own_url(&self) -> PeerUrl {
        self.lock_peers().own().clone()
    }

    /// This run's random identity.
    pub(crate) fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The current peers: every one has passed the handshake.
    pub(crate) fn peers(&self) -> Vec<PeerUrl> {
        self.lock_peers().list()
    }

    /// Addresses heard of and not yet tried.
    pub(crate) fn candidate_count(&self) -> usize {
        self.lock_peers().candidate_count()
    }

    /// Parses `address` and checks it may be a peer at all: canonical, not this node's
    /// own address, public when only public peers are taken.
    fn acceptable(&self, address: &str) -> Result<PeerUrl, PeerError> {
        let peer = PeerUrl::parse(address)?;
        if peer == self.own_url() {
            return Err(PeerError::Itself);
        }
        if self.public_peers_only
            && let Some(ip) = peer.ip()
            && !peers::is_public(ip)
        {
            return Err(PeerError::NotPublic(peer.to_string()));
        }
        Ok(peer)
    }

    /// Asks `peer` for its `/status` and checks that it is a chainpost node of this
    /// network and not this node. Nothing else is ever sent to an address before this.
    async fn handshake(&self, peer: &PeerUrl) -> Result<PeerStatus, HandshakeError> {
        let status = self.client.handshake_status(peer).await.map_err(|error| {
            // A gateway's 502 or 504 says the node behind it is down, not what it is.
            if error.is_unreachable() {
                return HandshakeError::Unreachable(error);
            }
            let reason = match error {
                ClientError::Status { status, .. } => format!("HTTP {status}"),
                _ => "its /status is not a chainpost node's".into(),
            };
            HandshakeError::NotAChainpostNode {
                peer: peer.clone(),
                reason,
            }
        })?;
        let Some(genesis) = status.genesis else {
            return Err(HandshakeError::NotAChainpostNode {
                peer: peer.clone(),
                reason: "its /status names no genesis".into(),
            });
        };
        if genesis != self.genesis {
            return Err(HandshakeError::OtherNetwork {
                peer: peer.clone(),
                theirs: genesis,
                ours: self.genesis,
            });
        }
        if status.node_id.as_deref() == Some(self.node_id.as_str()) {
            return Err(HandshakeError::Itself(peer.clone()));
        }
        Ok(status)
    }

    /// A node introduced itself (`POST /register_node`, sent from `source`): it becomes a
    /// peer once it passes the handshake; true if it is a new peer. With every handshake
    /// slot busy, or no room left, it waits in the candidate table instead.
    pub(crate) async fn add_peer(
        self: &Arc<Self>,
        address: &str,
        source: Source,
    ) -> Result<bool, NetworkError> {
        let peer = self.acceptable(address)?;
        if self.lock_peers().contains(&peer) {
            return Ok(false);
        }
        let Ok(_slot) = self.handshake_slots.try_acquire() else {
            self.lock_peers().offer_candidate(peer, source, unix_now());
            return Ok(false);
        };
        self.handshake(&peer).await?;
        Ok(self.adopt(peer, source).await)
    }

    /// Makes a handshaken address a peer, with its own gossip queues; when the set is
    /// full it becomes a candidate. True if it is a new peer.
    async fn adopt(self: &Arc<Self>, peer: PeerUrl, source: Source) -> bool {
        let added = {
            let mut peers = self.lock_peers();
            match peers.add(peer.clone()) {
                Ok(added) => added,
                Err(_) => {
                    peers.offer_candidate(peer.clone(), source, unix_now());
                    false
                }
            }
        };
        if added {
            tracing::info!(%peer, "new peer");
            self.open_link(peer.clone());
            self.persist_peers(vec![peer.to_string()], Vec::new()).await;
        }
        added
    }

    /// Registers this node with `address` (`POST /register_with`): after the handshake,
    /// the remote adds us, we add it and the peers it knows (each after its own
    /// handshake), and we adopt its chain if it carries more work.
    pub async fn register_with(
        self: &Arc<Self>,
        address: &str,
    ) -> Result<SyncReport, NetworkError> {
        let remote = self.acceptable(address)?;
        let _registration = self
            .registrations
            .try_acquire()
            .map_err(|_| NetworkError::Busy)?;
        self.handshake(&remote).await?;
        let their_peers = self.client.register(&remote).await?;
        // Sync before adopting the remote or its peers: one that cannot serve the chain
        // it claims is not kept, whatever way its answers fail.
        let report = self.sync_with(&remote).await?;
        self.adopt(remote.clone(), Source::Own).await;
        if self.discovery {
            let source = remote.ip().map_or(Source::Own, Source::Stranger);
            self.meet(their_peers, source).await;
        }
        Ok(report)
    }

    /// Handshakes, adopts and introduces ourselves to the addresses a peer told us of, as
    /// many as there is room for; the rest become candidates of that source.
    async fn meet(self: &Arc<Self>, addresses: Vec<String>, source: Source) {
        let mut fresh = Vec::new();
        for address in addresses.into_iter().take(MAX_CANDIDATES) {
            let Ok(peer) = self.acceptable(&address) else {
                continue;
            };
            let peers = self.lock_peers();
            if !peers.contains(&peer) && !fresh.contains(&peer) {
                fresh.push(peer);
            }
        }
        let room = self.lock_peers().room();
        let later = fresh.split_off(room.min(fresh.len()));
        {
            let mut peers = self.lock_peers();
            for peer in later {
                peers.offer_candidate(peer, source, unix_now());
            }
        }
        let tried = fresh.into_iter().map(|peer| async move {
            if self.handshake(&peer).await.is_ok() && self.adopt(peer.clone(), source).await {
                self.introduce_ourselves(peer);
            }
        });
        futures_util::future::join_all(tried).await;
    }

    /// Registers with a new peer in the background, so the link runs both ways.
    fn introduce_ourselves(self: &Arc<Self>, peer: PeerUrl) {
        let network = self.clone();
        self.spawn_task(async move {
            if let Err(error) = network.client.register(&peer).await {
                tracing::debug!(%error, "could not introduce ourselves");
            }
        });
    }

    /// Asks every peer for its chain and adopts the heaviest valid one (the tutorial's
    /// `consensus()`). Every peer is asked for its tip at once, with the handshake's short
    /// deadline, so peers that hang cost one deadline, not one each; then the peers that
    /// claim more work are synced with, the heaviest claim first. One round runs at a
    /// time: a caller that waited while one ran gets that round's report, so any number of
    /// `/nodes/resolve` calls cost the peers what one does.
    pub(crate) async fn resolve(&self) -> ResolveReport {
        let asked_at = Instant::now();
        let _turn = self.resolving.lock().await;
        let last = self
            .last_resolve
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((finished_at, report)) = last
            && finished_at >= asked_at
        {
            return report;
        }
        let report = self.resolve_round().await;
        *self
            .last_resolve
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some((Instant::now(), report.clone()));
        report
    }

    async fn resolve_round(&self) -> ResolveReport {
        let peers = self.peers();
        let mut report = ResolveReport {
            peers_consulted: peers.len(),
            ..ResolveReport::default()
        };
        let asked = futures_util::future::join_all(peers.into_iter().map(|peer| async move {
            let status = self.client.handshake_status(&peer).await;
            (peer, status)
        }))
        .await;
        let our_work = self.node.summary().cumulative_work;
        let mut heavier = Vec::new();
        for (peer, status) in asked {
            match status {
                Ok(status) if status.cumulative_work > our_work => {
                    heavier.push((status.cumulative_work, peer));
                }
                // A status proves the peer answers its status, not that it takes gossip:
                // failures counted elsewhere stand.
                Ok(_) => {}
                Err(error) => self.peer_failed(&peer, &error).await,
            }
        }
        heavier.sort_by_key(|(claimed, _)| std::cmp::Reverse(*claimed));
        for (claimed, peer) in heavier {
            let ours = self.node.summary().cumulative_work;
            if claimed <= ours {
                break;
            }
            if let Ok(synced) = self.sync_with(&peer).await {
                report.blocks_added += synced.blocks_added;
                report.replaced |= synced.tip_changed;
            }
        }
        report
    }

    /// Syncs with one peer; drops the peer if it served invalid blocks, stalled or belongs
    /// to another network. A sync with a peer already being synced with returns at once:
    /// the running one does the work.
    pub(crate) async fn sync_with(&self, peer: &PeerUrl) -> Result<SyncReport, SyncError> {
        let Some(_syncing) = Syncing::claim(&self.syncing, peer) else {
            return Ok(SyncReport::default());
        };
        let result = tokio::time::timeout(
            SYNC_DEADLINE,
            sync::sync_with(&self.node, &self.client, peer, self.genesis),
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
                | SyncError::Stalled { .. }
                | SyncError::Client(ClientError::Malformed { .. })),
            ) => {
                tracing::warn!(%error, "disconnecting peer");
                self.drop_peer(peer).await;
            }
            Err(SyncError::Client(error)) => self.peer_failed(peer, error).await,
            Err(error) => tracing::warn!(%error, "sync failed"),
        }
        result
    }

    /// Starts the background tasks: gossip of node events, periodic sync and candidate
    /// handshakes, and joining the `join` peers (with retries, as they may still be
    /// starting).
    pub(crate) fn spawn(
        self: &Arc<Self>,
        events: mpsc::Receiver<NodeEvent>,
        join: Vec<String>,
        sync_interval: Duration,
    ) {
        self.spawn_task(self.clone().gossip_loop(events));
        let network = self.clone();
        self.spawn_task(async move {
            network.join(join).await;
            let mut ticks = tokio::time::interval(sync_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                network.ask_seeds().await;
                network.resolve().await;
                network.try_candidates().await;
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
                    Err(error) => {
                        tracing::warn!(peer = %address, %error, "cannot join");
                        if let Ok(peer) = PeerUrl::parse(&address) {
                            self.persist_peers(Vec::new(), vec![peer.to_string()]).await;
                        }
                    }
                }
            }
            if failed.is_empty() {
                return;
            }
            pending = failed;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        tracing::warn!(peers = ?pending, "gave up joining unreachable peers for now; they are tried again with each sync");
        let mut peers = self.lock_peers();
        for address in pending {
            if let Ok(peer) = PeerUrl::parse(&address) {
                peers.offer_candidate(peer, Source::Own, unix_now());
            }
        }
    }

    /// Asks each DNS seed for its addresses and offers each as a candidate (checked like
    /// any address: public-only if so configured, never this node's own). A name that
    /// does not resolve, or not in time, is asked again next round.
    async fn ask_seeds(&self) {
        let answers = self.seeds.iter().map(|seed| async move {
            let lookup = tokio::net::lookup_host((seed.host(), seed.port()));
            match tokio::time::timeout(SEED_LOOKUP_TIMEOUT, lookup).await {
                Ok(Ok(answer)) => seeds::candidates(answer),
                Ok(Err(error)) => {
                    tracing::warn!(%seed, %error, "DNS seed does not resolve");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!(%seed, "DNS seed did not answer in time");
                    Vec::new()
                }
            }
        });
        // Asked together: a seed that takes its whole timeout delays no other.
        let found: Vec<PeerUrl> = futures_util::future::join_all(answers)
            .await
            .into_iter()
            .flatten()
            .filter(|peer| self.acceptable(peer.as_str()).is_ok())
            .collect();
        if found.is_empty() {
            return;
        }
        let mut peers = self.lock_peers();
        let offered = found
            .into_iter()
            .filter(|peer| peers.offer_candidate(peer.clone(), Source::Seed, unix_now()))
            .count();
        tracing::debug!(offered, "asked the DNS seeds");
    }

    /// Handshakes a few candidates while there is room for peers; those that pass
    /// become peers, those that fail are forgotten (addresses from this node's own
    /// records that are merely unreachable wait for the next round).
    async fn try_candidates(self: &Arc<Self>) {
        let candidates = {
            let mut peers = self.lock_peers();
            let count = peers.room().min(CANDIDATES_PER_ROUND);
            peers.take_candidates(count)
        };
        let tried = candidates.into_iter().map(|(peer, source)| async move {
            match self.handshake(&peer).await {
                Ok(_) => {
                    if self.adopt(peer.clone(), source).await {
                        self.introduce_ourselves(peer);
                    }
                }
                Err(HandshakeError::Unreachable(_)) if source == Source::Own => {
                    self.lock_peers().offer_candidate(peer, source, unix_now());
                }
                Err(HandshakeError::Itself(_)) => {
                    self.lock_peers().learn_own_alias(peer);
                }
                Err(error) => {
                    tracing::debug!(%error, "candidate refused");
                    if source == Source::Own {
                        self.persist_peers(Vec::new(), vec![peer.to_string()]).await;
                    }
                }
            }
        });
        futures_util::future::join_all(tried).await;
    }

    /// Sends node events on to peers, each through its own queues: a peer that is slow
    /// or hangs fills only its own, and never delays another. Within a peer, posts have
    /// a sender of their own, so posts never hold up a block: blocks decide forks.
    async fn gossip_loop(self: Arc<Self>, mut events: mpsc::Receiver<NodeEvent>) {
        while let Some(event) = events.recv().await {
            match event {
                NodeEvent::Transaction { tx, origin } => {
                    let json = Arc::new(TransactionJson::from_transaction(&tx));
                    for link in self.links_to(&origin) {
                        if link.posts.try_send(json.clone()).is_err() {
                            tracing::debug!("a peer's post queue is full; not forwarding a post");
                        }
                    }
                }
                NodeEvent::Blocks { blocks, origin } => {
                    let blocks: Arc<Vec<BlockJson>> = Arc::new(
                        blocks
                            .iter()
                            .map(|block| BlockJson::from_block(block))
                            .collect(),
                    );
                    for link in self.links_to(&origin) {
                        if link.blocks.try_send(blocks.clone()).is_err() {
                            tracing::debug!("a peer's block queue is full; sync will repair it");
                        }
                    }
                }
                NodeEvent::MissingAncestor { hash, origin } => {
                    self.fetch_ancestors(hash, origin);
                }
            }
        }
    }

    /// Opens the queues and sender tasks of a new peer.
    fn open_link(self: &Arc<Self>, peer: PeerUrl) {
        let (blocks, block_queue) = mpsc::channel(LINK_BLOCK_QUEUE);
        let (posts, post_queue) = mpsc::channel(LINK_POST_QUEUE);
        self.lock_links()
            .insert(peer.clone(), PeerLink { blocks, posts });
        self.spawn_task(self.clone().send_blocks(peer.clone(), block_queue));
        self.spawn_task(self.clone().send_posts(peer, post_queue));
    }

    /// Sends one peer its blocks, a batch at a time and parents first; ends when the
    /// peer's link is closed.
    async fn send_blocks(
        self: Arc<Self>,
        peer: PeerUrl,
        mut queue: mpsc::Receiver<Arc<Vec<BlockJson>>>,
    ) {
        while let Some(blocks) = queue.recv().await {
            self.deliver(&peer, "block", &[], |client, peer| {
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

    /// Sends one peer its posts, a few at once; ends when the peer's link is closed.
    async fn send_posts(
        self: Arc<Self>,
        peer: PeerUrl,
        mut queue: mpsc::Receiver<Arc<TransactionJson>>,
    ) {
        let slots = Arc::new(Semaphore::new(POSTS_IN_FLIGHT_PER_PEER));
        while let Some(post) = queue.recv().await {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let network = self.clone();
            let peer = peer.clone();
            self.spawn_task(async move {
                let _slot = slot;
                // A full mempool or a shutdown is the peer working as designed.
                let not_a_failure = [StatusCode::SERVICE_UNAVAILABLE];
                network
                    .deliver(&peer, "transaction", &not_a_failure, |client, peer| {
                        let post = post.clone();
                        async move { client.forward_transaction(&peer, &post).await }
                    })
                    .await;
            });
        }
    }

    /// Syncs until `missing` is known: with the sender first when it is one of our peers
    /// (a header naming any other URL is ignored: we only call nodes we chose), then with
    /// every other peer. Requests arriving while a fetch runs join it instead of starting
    /// their own, so a flood of orphans costs one fetch.
    fn fetch_ancestors(self: &Arc<Self>, missing: BlockHash, origin: Origin) {
        {
            let mut fetch = self.lock_fetch();
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

    /// The queues of the peers to tell: those not backing off, leaving out the one the
    /// news came from.
    fn links_to(&self, origin: &Origin) -> Vec<PeerLink> {
        let ready = self.lock_peers().ready(unix_now());
        let links = self.lock_links();
        ready
            .into_iter()
            .filter(|peer| Some(peer) != origin.as_ref())
            .filter_map(|peer| links.get(&peer).cloned())
            .collect()
    }

    /// Runs `attempt` against `peer`, retrying with backoff while the peer seems down;
    /// a peer that stays down, or answers with an error status other than
    /// `not_a_failure`, is counted as failing.
    async fn deliver<F, Fut>(
        &self,
        peer: &PeerUrl,
        kind: &'static str,
        not_a_failure: &[StatusCode],
        attempt: F,
    ) where
        F: Fn(PeerClient, PeerUrl) -> Fut,
        Fut: Future<Output = Result<(), ClientError>>,
    {
        let mut delay = GOSSIP_BACKOFF;
        for round in 1..=GOSSIP_ATTEMPTS {
            match attempt(self.client.clone(), peer.clone()).await {
                Ok(()) => {
                    self.node.metrics().count_gossip(kind, true);
                    self.lock_peers().record_success(peer);
                    return;
                }
                Err(error) if error.is_unreachable() && round < GOSSIP_ATTEMPTS => {
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(ClientError::Status { status, .. }) if not_a_failure.contains(&status) => {
                    return;
                }
                Err(error) => {
                    tracing::debug!(%error, "gossip failed");
                    self.node.metrics().count_gossip(kind, false);
                    self.note_failure(peer).await;
                    return;
                }
            }
        }
    }

    /// Runs `task` in the background until it ends or the network shuts down.
    pub(crate) fn spawn_task(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    /// Stops every background task; afterwards the network holds no task that keeps the
    /// node (and its database) alive.
    pub(crate) async fn shutdown(&self) {
        let mut tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
    }

    /// A request to a peer failed: a 4xx says the address no longer holds a chainpost
    /// node (the handshake would refuse it now), so it is dropped; anything else counts
    /// towards its backoff.
    async fn peer_failed(&self, peer: &PeerUrl, error: &ClientError) {
        match error {
            ClientError::Status { status, .. } if status.is_client_error() => {
                tracing::warn!(%error, "disconnecting peer");
                self.drop_peer(peer).await;
            }
            _ => {
                tracing::debug!(%error, "request to a peer failed");
                self.note_failure(peer).await;
            }
        }
    }

    async fn note_failure(&self, peer: &PeerUrl) {
        let verdict = self.lock_peers().record_failure(peer, unix_now());
        if verdict == FailureVerdict::Drop {
            tracing::warn!(%peer, "dropping a peer that keeps failing");
            self.drop_peer(peer).await;
        }
    }

    async fn drop_peer(&self, peer: &PeerUrl) {
        let removed = self.lock_peers().remove(peer);
        // Dropping the queues ends the peer's sender tasks.
        self.lock_links().remove(peer);
        if removed {
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
            let error = self.node.storage_failed(error);
            tracing::error!(%error, "cannot persist peers");
        }
    }

    fn lock_fetch(&self) -> std::sync::MutexGuard<'_, AncestorFetch> {
        self.fetch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_links(&self) -> std::sync::MutexGuard<'_, HashMap<PeerUrl, PeerLink>> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_peers(&self) -> std::sync::MutexGuard<'_, PeerSet> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
