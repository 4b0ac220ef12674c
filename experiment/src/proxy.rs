//! The links between nodes: one in-process relay in front of each node, through which
//! every other node reaches it, delaying, losing and refusing requests as the run's links
//! and topology say.
//!
//! A request to node `i` from node `j` (named by the `x-chainpost-peer` header every node
//! sends: the advertised relay URL of `j`) is held for the one-way latency of link `j → i`,
//! lost with the link's loss probability, forwarded to node `i`, and its answer held for the
//! latency of `i → j`. A link with a bandwidth sends one message at a time, each taking its
//! size over the bandwidth, in the order they were sent (as one TCP connection would):
//! a message of `S` bytes sent at `t` on a link last busy until `b` arrives at
//! `max(t, b) + S / B + latency`. Sizes are the HTTP/1.1 message (request or status line,
//! headers, body); TCP/IP framing is left out. A request from a node not linked with `i`
//! is refused with 403, so the topology is enforced rather than hoped for. Requests
//! naming no node of the run (the runner's own, say) pass untouched.
//!
//! **Boundary:** relays know node indices, links and URLs; they start no process and read
//! no log. **Invariant:** on one directed link a message is never due before an earlier one
//! (jitter never reorders), as over a TCP connection. Messages due at the same instant are
//! forwarded concurrently, so they may reach the node in either order.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use chainpost_edge::serve::{ServeLimits, serve};
use chainpost_wire::{ErrorBody, PEER_HEADER};

use crate::topology::Topology;

/// Largest request body relayed: more than a node accepts (8 MiB), so the node, not the
/// relay, is the one to refuse.
const MAX_REQUEST_BYTES: usize = 16 << 20;

/// Longest a request waits for its node to start before the relay gives up on it.
const UPSTREAM_WAIT: Duration = Duration::from_secs(60);

/// How every link of a run behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LinkModel {
    /// One-way latency.
    pub(crate) latency: Duration,
    /// Each message's latency varies uniformly by up to this much either way.
    pub(crate) jitter: Duration,
    /// Probability that a request is lost.
    pub(crate) loss: f64,
    /// Bytes per second each direction of a link carries; unlimited when `None`.
    pub(crate) bandwidth: Option<f64>,
}

/// What happens to one message sent on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transit {
    arrives_at: Instant,
    lost: bool,
}

/// One directed link's state: its latency, its own random stream, until when it is busy
/// sending, and the arrival time of the last message sent on it.
#[derive(Debug)]
struct LinkState {
    latency: Duration,
    rng: ChaCha8Rng,
    busy_until: Instant,
    last_arrival: Instant,
}

impl LinkState {
    /// When a message of `bytes` sent at `now` arrives, `delay` after its last byte left:
    /// it waits for the messages sent before it, then takes `bytes / bandwidth` to send.
    /// Never before an earlier message's arrival, whatever the delay.
    fn transmit(
        &mut self,
        now: Instant,
        bytes: usize,
        bandwidth: Option<f64>,
        delay: Duration,
    ) -> Instant {
        let sent = match bandwidth {
            Some(bytes_per_sec) => {
                let start = now.max(self.busy_until);
                self.busy_until = start + Duration::from_secs_f64(bytes as f64 / bytes_per_sec);
                self.busy_until
            }
            None => now,
        };
        let arrives_at = (sent + delay).max(self.last_arrival);
        self.last_arrival = arrives_at;
        arrives_at
    }
}

/// Every directed link of a run, shared by all relays: link `i → j` carries both requests
/// from `i` to `j` (through `j`'s relay) and answers from `i` to `j` (through `i`'s).
#[derive(Debug)]
struct Links {
    model: LinkModel,
    links: HashMap<(usize, usize), Mutex<LinkState>>,
    /// Whether requests may be lost yet; see [`Links::start_losing`].
    losing: AtomicBool,
}

impl Links {
    /// Both directions of every link of `topology`, each with its own random stream
    /// derived from `seed`, so a run's draws do not depend on other links' traffic, and
    /// the latency `latency_of(from, to)` gives it (the model's when `None`).
    fn new(
        topology: &Topology,
        model: LinkModel,
        latency_of: Option<&dyn Fn(usize, usize) -> Duration>,
        seed: u64,
    ) -> Self {
        let now = Instant::now();
        let links = topology
            .links()
            .iter()
            .flat_map(|&(a, b)| [(a, b), (b, a)])
            .map(|(from, to)| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(((from as u64) << 32) | to as u64);
                (
                    (from, to),
                    Mutex::new(LinkState {
                        latency: latency_of.map_or(model.latency, |latency| latency(from, to)),
                        rng,
                        busy_until: now,
                        last_arrival: now,
                    }),
                )
            })
            .collect();
        Links {
            model,
            links,
            losing: AtomicBool::new(false),
        }
    }

    /// From now on, links lose requests with the model's probability. Until then they lose
    /// nothing: the run measures a network already linked as the topology says, not how
    /// long joining takes through lossy links (which nodes retry).
    fn start_losing(&self) {
        self.losing.store(true, Ordering::Relaxed);
    }

    /// Sends one message of `bytes` now on `from → to`; `None` if the two are not linked.
    /// Only requests may be lost (`can_lose`): a lost exchange is decided once, on its way
    /// in, after it took its share of the link.
    fn send(&self, from: usize, to: usize, bytes: usize, can_lose: bool) -> Option<Transit> {
        let link = self.links.get(&(from, to))?;
        let mut link = link.lock().unwrap_or_else(PoisonError::into_inner);
        let jitter = self.model.jitter.as_secs_f64();
        let offset = if jitter > 0.0 {
            link.rng.random_range(-jitter..=jitter)
        } else {
            0.0
        };
        let delay = Duration::from_secs_f64((link.latency.as_secs_f64() + offset).max(0.0));
        let lost = can_lose
            && self.model.loss > 0.0
            && self.losing.load(Ordering::Relaxed)
            && link.rng.random_bool(self.model.loss);
        let arrives_at = link.transmit(Instant::now(), bytes, self.model.bandwidth, delay);
        Some(Transit { arrives_at, lost })
    }
}

/// What one relay did, for the run's log.
#[derive(Debug, Default)]
pub(crate) struct RelayCounts {
    /// Requests forwarded from linked nodes.
    pub(crate) forwarded: AtomicU64,
    /// Requests the link lost.
    pub(crate) lost: AtomicU64,
    /// Requests refused because the sender is not linked with this node.
    pub(crate) refused: AtomicU64,
    /// Bytes of the requests and answers it carried over links (both directions).
    pub(crate) bytes: AtomicU64,
}

/// What every relay of a run shares.
#[derive(Debug)]
pub(crate) struct RelayNetwork {
    links: Links,
    /// Connections each relay keeps open from its node's peers; see
    /// [`connections_per_relay`].
    connections_per_relay: usize,
    /// Advertised relay URL of each node, to tell senders apart.
    senders: HashMap<String, usize>,
}

impl RelayNetwork {
    /// The relays' shared view: the topology, its links (with the latency `latency_of`
    /// gives each directed link, or the model's), and each node's relay URL (`urls[i]` is
    /// what node `i` advertises and sends in its peer header).
    pub(crate) fn new(
        topology: &Topology,
        model: LinkModel,
        latency_of: Option<&dyn Fn(usize, usize) -> Duration>,
        seed: u64,
        urls: &[String],
    ) -> Arc<Self> {
        let links = Links::new(topology, model, latency_of, seed);
        let senders = urls
            .iter()
            .enumerate()
            .map(|(node, url)| (normalized(url), node))
            .collect();
        Arc::new(RelayNetwork {
            links,
            connections_per_relay: connections_per_relay(urls.len()),
            senders,
        })
    }

    /// Lets the links lose requests from now on (see [`Links::start_losing`]).
    pub(crate) fn start_losing(&self) {
        self.links.start_losing();
    }

    fn sender(&self, headers: &HeaderMap) -> Option<usize> {
        let url = headers.get(PEER_HEADER)?.to_str().ok()?;
        self.senders.get(&normalized(url)).copied()
    }
}

/// Connections a relay would like to keep open from its node's peers.
const RELAY_CONNECTIONS_WANTED: usize = 256;
/// Fewest a relay is given, however many relays share the descriptors.
const RELAY_CONNECTIONS_LEAST: usize = 8;
/// Idle connections a relay keeps to its node between requests.
const RELAY_IDLE_UPSTREAM: usize = 8;

/// How many connections from peers each of `relays` relays keeps open. The runner's
/// process holds every relay's connections, both ends of each (from the peers, and on to
/// the node), and each node's output pipes, under one open-files limit: each relay gets a
/// third of the descriptors over the relays. At the bound a relay closes the connection
/// idle longest (nodes reconnect), as a node does.
fn connections_per_relay(relays: usize) -> usize {
    let relays = relays.max(1);
    let descriptors =
        chainpost_edge::serve::raise_open_files_limit(3 * relays * RELAY_CONNECTIONS_WANTED);
    (descriptors / (3 * relays)).clamp(RELAY_CONNECTIONS_LEAST, RELAY_CONNECTIONS_WANTED)
}

/// Nodes normalize their peer URLs without a trailing slash.
fn normalized(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

/// A relay's listening socket, bound before its node starts so the node can advertise it.
#[derive(Debug)]
pub(crate) struct BoundRelay {
    listener: TcpListener,
    url: String,
}

impl BoundRelay {
    /// Binds a free loopback port.
    pub(crate) async fn bind() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        Ok(BoundRelay { listener, url })
    }

    /// The URL the relay's node advertises.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Starts relaying to node `node`; requests wait until [`Relay::set_upstream`] says
    /// where the node listens.
    pub(crate) fn serve(self, node: usize, network: Arc<RelayNetwork>) -> Relay {
        let (upstream_tx, upstream) = watch::channel(None);
        let counts = Arc::new(RelayCounts::default());
        let http = reqwest::Client::builder()
            // The nodes are on loopback: an HTTP proxy from the environment must not
            // stand between them and the relay.
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(RELAY_IDLE_UPSTREAM)
            .build()
            .unwrap_or_default();
        let max_connections = network.connections_per_relay;
        let limits = ServeLimits {
            max_connections,
            // Every node is on loopback, one address.
            max_connections_per_address: max_connections,
            ..ServeLimits::default()
        };
        let state = Arc::new(RelayState {
            node,
            network,
            upstream,
            counts: counts.clone(),
            http,
        });
        let app = Router::new().fallback(relay).with_state(state);
        let server = tokio::spawn(async move {
            let forever = std::future::pending();
            if let Err(error) = serve(self.listener, app, limits, forever).await {
                tracing::error!(node, %error, "relay stopped");
            }
        });
        Relay {
            url: self.url,
            upstream: upstream_tx,
            counts,
            server,
        }
    }
}

/// A running relay in front of one node; dropping it stops relaying.
#[derive(Debug)]
pub(crate) struct Relay {
    url: String,
    upstream: watch::Sender<Option<SocketAddr>>,
    counts: Arc<RelayCounts>,
    server: JoinHandle<()>,
}

impl Relay {
    /// The URL its node advertises and other nodes call.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Where the node listens; requests waiting for it proceed.
    pub(crate) fn set_upstream(&self, address: SocketAddr) {
        self.upstream.send_replace(Some(address));
    }

    /// What the relay did so far.
    pub(crate) fn counts(&self) -> &RelayCounts {
        &self.counts
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct RelayState {
    node: usize,
    network: Arc<RelayNetwork>,
    upstream: watch::Receiver<Option<SocketAddr>>,
    counts: Arc<RelayCounts>,
    http: reqwest::Client,
}

/// Headers that belong to one connection, not to the message; the relay's own
/// connections set their own.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut headers = headers.clone();
    for name in HOP_BY_HOP
        .iter()
        .chain([&header::HOST, &header::CONTENT_LENGTH])
    {
        headers.remove(name);
    }
    headers
}

fn error(status: StatusCode, message: String) -> Response {
    (status, axum::Json(ErrorBody { error: message })).into_response()
}

async fn relay(State(relay): State<Arc<RelayState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    // The whole message travels before the link delay starts, as a sent request would.
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large or cut short".into(),
        );
    };
    let node = relay.node;
    let network = &relay.network;
    let sender = network.sender(&parts.headers);
    if let Some(sender) = sender {
        let bytes = request_bytes(&parts, body.len());
        let Some(inbound) = network.links.send(sender, node, bytes, true) else {
            relay.counts.refused.fetch_add(1, Ordering::Relaxed);
            return error(
                StatusCode::FORBIDDEN,
                format!("node {sender} is not linked with node {node} in this run's topology"),
            );
        };
        relay.counts.carried(bytes);
        tokio::time::sleep_until(inbound.arrives_at).await;
        if inbound.lost {
            relay.counts.lost.fetch_add(1, Ordering::Relaxed);
            // The sender learns of the loss about a round trip later, as a retransmission
            // timer would tell it; 504 is what a node treats as "unreachable, retry".
            // Nothing is sent back, so the way back costs latency only.
            if let Some(back) = network.links.send(node, sender, 0, false) {
                tokio::time::sleep_until(back.arrives_at).await;
            }
            return error(
                StatusCode::GATEWAY_TIMEOUT,
                format!("the link from node {sender} to node {node} lost the request"),
            );
        }
        relay.counts.forwarded.fetch_add(1, Ordering::Relaxed);
    }
    let (answer, answer_body) = match forward(&relay, parts, body).await {
        Ok(answer) => answer,
        Err(failure) => return error(StatusCode::BAD_GATEWAY, failure.to_string()),
    };
    if let Some(sender) = sender {
        let bytes = answer_bytes(&answer, answer_body.len());
        if let Some(outbound) = network.links.send(node, sender, bytes, false) {
            relay.counts.carried(bytes);
            tokio::time::sleep_until(outbound.arrives_at).await;
        }
    }
    answer.map(|()| Body::from(answer_body))
}

impl RelayCounts {
    fn carried(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Bytes of a header block: each line `name: value\r\n`, then the empty line.
fn header_bytes(headers: &HeaderMap) -> usize {
    let lines: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    lines + 2
}

/// Size of a request as HTTP/1.1 sends it: `METHOD target HTTP/1.1\r\n`, headers
/// (with the `Host` and `Content-Length` the sender wrote), body.
fn request_bytes(parts: &axum::http::request::Parts, body: usize) -> usize {
    let target = parts
        .uri
        .path_and_query()
        .map_or(1, |path| path.as_str().len());
    parts.method.as_str().len()
        + target
        + " HTTP/1.1\r\n".len()
        + 1
        + header_bytes(&parts.headers)
        + body
}

/// Size of an answer as HTTP/1.1 sends it: `HTTP/1.1 200 OK\r\n`, headers (the relay's
/// copy has no `Content-Length`; its own connection writes one), body.
fn answer_bytes(answer: &Response<()>, body: usize) -> usize {
    let reason = answer.status().canonical_reason().unwrap_or("").len();
    let content_length = "content-length: \r\n".len() + body.to_string().len();
    "HTTP/1.1 200 \r\n".len() + reason + header_bytes(answer.headers()) + content_length + body
}

/// Why a relay could not pass a request on to its node.
#[derive(Debug, thiserror::Error)]
enum ForwardError {
    #[error("node {node} did not start")]
    NotStarted { node: usize },
    // The message is the whole body of the 502 answer, so it names its cause itself.
    #[error("node {node} is unreachable: {source}")]
    Unreachable { node: usize, source: reqwest::Error },
    #[error("node {node} broke off its answer: {source}")]
    AnswerCutShort { node: usize, source: reqwest::Error },
}

/// Sends the request on to the relay's node and reads the whole answer: its head, and its
/// body apart so its size is known before it is sent back.
async fn forward(
    relay: &RelayState,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Result<(Response<()>, Bytes), ForwardError> {
    let mut upstream = relay.upstream.clone();
    let address =
        match tokio::time::timeout(UPSTREAM_WAIT, upstream.wait_for(Option::is_some)).await {
            Ok(Ok(address)) => *address,
            _ => None,
        };
    let Some(address) = address else {
        return Err(ForwardError::NotStarted { node: relay.node });
    };
    let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
    let response = relay
        .http
        .request(parts.method, format!("http://{address}{path}"))
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await
        .map_err(|source| ForwardError::Unreachable {
            node: relay.node,
            source,
        })?;
    let status = response.status();
    let headers = end_to_end(response.headers());
    // The nodes are this run's own children, whose answers are bounded by their API.
    let body = response
        .bytes()
        .await
        .map_err(|source| ForwardError::AnswerCutShort {
            node: relay.node,
            source,
        })?;
    let mut answer = Response::new(());
    *answer.status_mut() = status;
    *answer.headers_mut() = headers;
    Ok((answer, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    use axum::routing::post;

    fn model(latency_ms: u64, jitter_ms: u64, loss: f64) -> LinkModel {
        LinkModel {
            latency: Duration::from_millis(latency_ms),
            jitter: Duration::from_millis(jitter_ms),
            loss,
            bandwidth: None,
        }
    }

    #[test]
    fn a_capped_link_sends_one_message_at_a_time_taking_its_size_over_the_bandwidth() {
        let start = Instant::now();
        let mut link = LinkState {
            latency: Duration::ZERO,
            rng: ChaCha8Rng::seed_from_u64(1),
            busy_until: start,
            last_arrival: start,
        };
        let latency = Duration::from_millis(50);
        let at = |secs: f64| start + Duration::from_secs_f64(secs);
        let close = |actual: Instant, expected: Instant| {
            let gap = actual.max(expected) - actual.min(expected);
            assert!(
                gap < Duration::from_micros(10),
                "{actual:?} is not {expected:?}"
            );
        };
        // 1,000 bytes a second: 500 bytes take half a second, then the latency.
        close(link.transmit(start, 500, Some(1_000.0), latency), at(0.55));
        // Sent at the same moment, the next waits for the first to leave.
        close(link.transmit(start, 250, Some(1_000.0), latency), at(0.80));
        // Once the link is idle, a message starts when it is sent.
        close(
            link.transmit(at(2.0), 100, Some(1_000.0), latency),
            at(2.15),
        );
        // Unlimited, only latency: but never before the message sent before it.
        close(
            link.transmit(at(2.0), 10_000, None, Duration::ZERO),
            at(2.15),
        );
        close(link.transmit(at(3.0), 10_000, None, latency), at(3.05));
    }

    #[tokio::test]
    async fn links_lose_about_their_loss_rate_reproducibly() {
        let ring = Topology::ring(4);
        let draws = |seed| {
            let links = Links::new(&ring, model(0, 0, 0.2), None, seed);
            links.start_losing();
            (0..2_000)
                .map(|_| {
                    links
                        .send(0, 1, 100, true)
                        .expect("0 and 1 are linked")
                        .lost
                })
                .collect::<Vec<_>>()
        };
        let lost = draws(7).iter().filter(|lost| **lost).count();
        assert!((300..500).contains(&lost), "lost {lost} of 2000 at 20%");
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        let links = Links::new(&ring, model(0, 0, 0.2), None, 7);
        assert!(
            (0..100).all(|_| !links.send(0, 1, 100, true).expect("linked").lost),
            "lost a request before losing started"
        );
        links.start_losing();
        assert!(
            links.send(0, 2, 100, true).is_none(),
            "0 and 2 are not linked"
        );
        assert!((0..100).all(|_| !links.send(1, 0, 100, false).expect("linked").lost));
    }

    #[tokio::test]
    async fn each_direction_of_each_link_takes_the_latency_given_for_it() {
        let by_link = |from: usize, to: usize| Duration::from_millis((100 * from + to) as u64);
        let links = Links::new(&Topology::ring(3), model(7, 0, 0.0), Some(&by_link), 1);
        let sent = Instant::now();
        for (from, to) in [(0, 1), (1, 0), (2, 1), (0, 2)] {
            let arrives = links.send(from, to, 0, false).expect("linked").arrives_at;
            let took = arrives - sent;
            let wanted = by_link(from, to);
            assert!(
                took >= wanted && took < wanted + Duration::from_millis(5),
                "{from} -> {to} took {took:?}, not {wanted:?}"
            );
        }
        let uniform = Links::new(&Topology::ring(3), model(7, 0, 0.0), None, 1);
        let took = uniform.send(2, 1, 0, false).expect("linked").arrives_at - Instant::now();
        assert!(took <= Duration::from_millis(7) && took > Duration::from_millis(5));
    }

    #[tokio::test]
    async fn jittered_messages_keep_their_order_on_a_link() {
        let links = Links::new(&Topology::ring(3), model(50, 40, 0.0), None, 1);
        let sent = Instant::now();
        let arrivals: Vec<Instant> = (0..200)
            .map(|_| links.send(2, 0, 100, true).expect("linked").arrives_at)
            .collect();
        assert!(arrivals.windows(2).all(|pair| pair[0] <= pair[1]));
        assert!(
            arrivals
                .iter()
                .all(|at| *at >= sent + Duration::from_millis(10))
        );
    }

    /// A ring of four relays in front of one echo server, which answers with the body.
    async fn ring_of_relays(link: LinkModel) -> Vec<Relay> {
        let echo = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let echo_address = echo.local_addr().expect("address");
        let app = Router::new().route("/echo", post(|body: Bytes| async move { body }));
        tokio::spawn(async move { axum::serve(echo, app).await });
        let mut bound = Vec::new();
        for _ in 0..4 {
            bound.push(BoundRelay::bind().await.expect("bind relay"));
        }
        let urls: Vec<String> = bound.iter().map(|relay| relay.url().to_owned()).collect();
        let network = RelayNetwork::new(&Topology::ring(4), link, None, 1, &urls);
        bound
            .into_iter()
            .enumerate()
            .map(|(node, relay)| {
                let relay = relay.serve(node, network.clone());
                relay.set_upstream(echo_address);
                relay
            })
            .collect()
    }

    async fn post_from(
        to: &Relay,
        from: Option<&Relay>,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, String, Duration) {
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let mut request = client.post(format!("{}/echo", to.url())).body(body);
        if let Some(from) = from {
            request = request.header(PEER_HEADER, format!("{}/", from.url()));
        }
        let started = Instant::now();
        let response = request.send().await.expect("relay answers");
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, text, started.elapsed())
    }

    #[tokio::test]
    async fn relays_refuse_nodes_the_topology_does_not_link() {
        let relays = ring_of_relays(model(0, 0, 0.0)).await;
        let (status, body, _) = post_from(&relays[0], Some(&relays[2]), "hello").await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("\"error\""), "{body}");
        assert_eq!(relays[0].counts().refused.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn linked_requests_take_a_round_trip_of_latency_and_others_none() {
        let relays = ring_of_relays(model(100, 0, 0.0)).await;
        let (status, body, took) = post_from(&relays[0], Some(&relays[1]), "hello").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
        assert!(took >= Duration::from_millis(200), "took {took:?}");
        assert_eq!(relays[0].counts().forwarded.load(Ordering::Relaxed), 1);

        let (status, body, took) = post_from(&relays[0], None, "direct").await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "direct"));
        assert!(took < Duration::from_millis(100), "took {took:?}");
    }

    #[tokio::test]
    async fn a_capped_link_holds_a_message_for_its_size_both_ways() {
        let link = LinkModel {
            bandwidth: Some(40_000.0),
            ..model(0, 0, 0.0)
        };
        let relays = ring_of_relays(link).await;
        let body = "x".repeat(10_000);
        let (status, echoed, took) = post_from(&relays[0], Some(&relays[1]), body.clone()).await;
        assert_eq!((status, echoed.len()), (StatusCode::OK, 10_000));
        // A quarter of a second in, a quarter of a second back.
        assert!(took >= Duration::from_millis(500), "took {took:?}");
        let carried = relays[0].counts().bytes.load(Ordering::Relaxed);
        assert!(
            (20_000..21_000).contains(&carried),
            "carried {carried} bytes"
        );

        // Unlinked senders, like the runner, are not held.
        let (status, _, took) = post_from(&relays[0], None, body).await;
        assert_eq!(status, StatusCode::OK);
        assert!(took < Duration::from_millis(250), "took {took:?}");
    }

    #[tokio::test]
    async fn a_relay_whose_node_is_gone_answers_502_naming_it() {
        let gone = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let gone_address = gone.local_addr().expect("address");
        drop(gone);
        let bound = BoundRelay::bind().await.expect("bind relay");
        let urls = [bound.url().to_owned()];
        let network = RelayNetwork::new(&Topology::mesh(1), model(0, 0, 0.0), None, 1, &urls);
        let relay = bound.serve(0, network);
        relay.set_upstream(gone_address);
        let (status, body, _) = post_from(&relay, None, "hello").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        assert!(body.contains("node 0 is unreachable: "), "{body}");
    }
}
