//! Serving HTTP to strangers: every connection is bounded in number, per address and in
//! time, so no client can hold the file descriptors or the attention that others need.
//!
//! - **Time:** a connection must deliver a request's headers within `header_timeout` of
//!   opening or of its previous answer (hyper's header-read timer, which is also the
//!   keep-alive idle timeout), the whole body within `body_timeout` of its headers, and
//!   take each part of its answer within `body_timeout` too (`WriteDeadline`): a client
//!   that stops reading cannot keep a connection busy.
//! - **Number:** at most `max_connections` at once, kept below the open-files limit
//!   ([`raise_open_files_limit`]), and at most `max_connections_per_address` from one IPv4
//!   address or IPv6 /64 (what one subscriber holds).
//!   When either bound is reached, a newcomer takes the place of the connection that has
//!   been idle longest (no request in flight), as Bitcoin Core evicts inbound peers; when
//!   every connection is busy, the newcomer is closed at once. Connections that work are
//!   never closed for a stranger.
//!
//! The admission rule is `Connections`, pure and tested on its own; [`serve`] is the
//! accept loop around it. Both binaries serve through here. Handlers can read the
//! client's address as `ConnectInfo<SocketAddr>`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Bounds on what clients may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// Most connections open at once (lowered to fit the open-files limit).
    pub max_connections: usize,
    /// Most connections open at once from one IPv4 address or IPv6 /64 ([`address_group`]).
    pub max_connections_per_address: usize,
    /// Longest wait for a request's headers, on a new connection or between requests.
    pub header_timeout: Duration,
    /// Longest time from a request's headers to the end of its body; also the longest a
    /// write to a client may wait, so one that stops reading its answer is closed.
    pub body_timeout: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: 1024,
            max_connections_per_address: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// Descriptors kept for everything but inbound connections: the store, outbound calls to
/// peers, the log, accept's own transient descriptor.
const RESERVED_DESCRIPTORS: u64 = 128;

/// Raises the soft open-files limit to the hard one and returns the number of connections
/// that fit under it (at most `wanted`), so accepting never fails for lack of descriptors.
pub fn raise_open_files_limit(wanted: usize) -> usize {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    };
    let room = limit
        .saturating_sub(RESERVED_DESCRIPTORS)
        .max(limit / 2)
        .max(1);
    let fits = usize::try_from(room).unwrap_or(usize::MAX).min(wanted);
    if fits < wanted {
        tracing::warn!(
            open_files_limit = limit,
            max_connections = fits,
            "the open-files limit lowers the connection cap"
        );
    }
    fits
}

type ConnectionId = u64;

/// What to do with a connection that has just been accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Admit(ConnectionId),
    /// Serve it, and close the idle connection `evict` to make room.
    AdmitEvicting {
        /// The newcomer.
        admitted: ConnectionId,
        /// The connection whose place it takes.
        evict: ConnectionId,
    },
    /// Close it: every connection it could replace is busy.
    Refuse,
}

#[derive(Debug, Clone)]
struct Entry {
    address: IpAddr,
    requests_in_flight: usize,
    idle_since: Instant,
}

/// The open connections and the rule that admits newcomers. Pure: time is passed in.
#[derive(Debug)]
struct Connections {
    limits: ServeLimits,
    open: HashMap<ConnectionId, Entry>,
    per_address: HashMap<IpAddr, usize>,
    next_id: ConnectionId,
}

impl Connections {
    fn new(limits: ServeLimits) -> Self {
        Connections {
            limits,
            open: HashMap::new(),
            per_address: HashMap::new(),
            next_id: 0,
        }
    }

    /// Decides on a connection from `address` accepted at `now`, and records it unless
    /// refused. An evicted connection is forgotten at once, so the caller only has to
    /// close it.
    fn admit(&mut self, address: IpAddr, now: Instant) -> Admission {
        let from_address = self.per_address.get(&address).copied().unwrap_or(0);
        let victim = if from_address >= self.limits.max_connections_per_address {
            match self.longest_idle(|entry| entry.address == address) {
                Some(victim) => Some(victim),
                None => return Admission::Refuse,
            }
        } else if self.open.len() >= self.limits.max_connections {
            match self.longest_idle(|_| true) {
                Some(victim) => Some(victim),
                None => return Admission::Refuse,
            }
        } else {
            None
        };
        if let Some(victim) = victim {
            self.close(victim);
        }
        let id = self.next_id;
        self.next_id += 1;
        self.open.insert(
            id,
            Entry {
                address,
                requests_in_flight: 0,
                idle_since: now,
            },
        );
        *self.per_address.entry(address).or_insert(0) += 1;
        match victim {
            Some(evict) => Admission::AdmitEvicting {
                admitted: id,
                evict,
            },
            None => Admission::Admit(id),
        }
    }

    fn request_started(&mut self, id: ConnectionId) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.requests_in_flight += 1;
        }
    }

    /// A request on `id` has been answered in full at `now`.
    fn request_finished(&mut self, id: ConnectionId, now: Instant) {
        if let Some(entry) = self.open.get_mut(&id) {
            entry.requests_in_flight = entry.requests_in_flight.saturating_sub(1);
            entry.idle_since = now;
        }
    }

    /// Forgets `id` (closed by either side); false if it was not open.
    fn close(&mut self, id: ConnectionId) -> bool {
        let Some(entry) = self.open.remove(&id) else {
            return false;
        };
        if let Some(count) = self.per_address.get_mut(&entry.address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&entry.address);
            }
        }
        true
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    fn longest_idle(&self, eligible: impl Fn(&Entry) -> bool) -> Option<ConnectionId> {
        self.open
            .iter()
            .filter(|(_, entry)| entry.requests_in_flight == 0 && eligible(entry))
            .min_by_key(|(id, entry)| (entry.idle_since, **id))
            .map(|(id, _)| *id)
    }
}

/// The request body took longer than the body timeout.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub Duration);

/// The [`BodyTimedOut`] that `error` is or wraps, if any.
pub fn body_timeout_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a BodyTimedOut> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(timeout) = error.downcast_ref::<BodyTimedOut>() {
            return Some(timeout);
        }
        current = error.source();
    }
    None
}

/// A request body that must end before a deadline.
struct DeadlineBody {
    inner: Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimedOut(self.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Marks its connection idle again when dropped: when an answer's body has been sent in
/// full, or abandoned.
struct InFlight {
    connections: Arc<Mutex<Connections>>,
    id: ConnectionId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.connections).request_finished(self.id, Instant::now());
    }
}

/// An answer's body that keeps its request counted as in flight until it is sent.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn lock(connections: &Mutex<Connections>) -> std::sync::MutexGuard<'_, Connections> {
    connections.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then stops
/// accepting, lets every connection finish the request it is on, and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let connections = Arc::new(Mutex::new(Connections::new(limits)));
    let mut evictions: HashMap<ConnectionId, Arc<Notify>> = HashMap::new();
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let (closed_sender, mut closed) = tokio::sync::mpsc::unbounded_channel::<ConnectionId>();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(id) = closed.recv() => {
                evictions.remove(&id);
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before accept: neither
                    // is a reason to stop serving. Pause so a persistent error does not spin.
                    tracing::debug!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let admission = lock(&connections).admit(address_group(peer), Instant::now());
        let id = match admission {
            Admission::Refuse => {
                tracing::debug!(%peer, "connection refused: every slot is busy");
                drop(stream);
                continue;
            }
            Admission::Admit(id) => id,
            Admission::AdmitEvicting { admitted, evict } => {
                tracing::debug!(%peer, "connection limit reached: closing the longest idle one");
                if let Some(evicted) = evictions.remove(&evict) {
                    evicted.notify_one();
                }
                admitted
            }
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let evicted = Arc::new(Notify::new());
        evictions.insert(id, evicted.clone());
        let connection = Connection {
            id,
            connections: connections.clone(),
            router: router.clone(),
            limits,
        };
        let closed_sender = closed_sender.clone();
        let stopping = stopping.clone();
        tasks.spawn(async move {
            connection.run(stream, peer, evicted, stopping).await;
            let _ = closed_sender.send(id);
        });
    }
    drop(listener);
    stop.send_replace(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// The address a client is counted under, for every per-address bound (connections here,
/// and the shares of peer candidates and live streams): its IPv4 address, or its IPv6
/// /64, since one IPv6 subscriber holds a whole /64.
pub fn address_group(peer: SocketAddr) -> IpAddr {
    match canonical_ip(peer) {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// A client's IP address; an IPv4 client seen through an IPv6 socket counts as its IPv4
/// address.
fn canonical_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A stream whose writes fail once one has waited `limit` without progress: the client
/// stopped reading what it asked for.
struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            stalled: None,
        }
    }

    /// Maps a pending write to a timeout once it has waited too long.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        progress: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if progress.is_ready() {
            self.stalled = None;
            return progress;
        }
        let limit = self.limit;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stalled.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client stopped reading its answer",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let progress = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch(cx, progress)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let progress = Pin::new(&mut self.inner).poll_flush(cx);
        self.watch(cx, progress)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let progress = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch(cx, progress)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

struct Connection {
    id: ConnectionId,
    connections: Arc<Mutex<Connections>>,
    router: Router,
    limits: ServeLimits,
}

impl Connection {
    async fn run(
        self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        evicted: Arc<Notify>,
        mut stopping: watch::Receiver<bool>,
    ) {
        let Connection {
            id,
            connections,
            router,
            limits,
        } = self;
        let service_connections = connections.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            lock(&service_connections).request_started(id);
            let in_flight = InFlight {
                connections: service_connections.clone(),
                id,
            };
            let mut request = request.map(|inner| {
                Body::new(DeadlineBody {
                    inner,
                    deadline: Box::pin(tokio::time::sleep(limits.body_timeout)),
                    timeout: limits.body_timeout,
                })
            });
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            let router = router.clone();
            async move {
                let response = match router.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|inner| TrackedBody {
                    inner,
                    _in_flight: in_flight,
                }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        let stream = WriteDeadline::new(stream, limits.body_timeout);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut draining = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    break;
                }
                () = evicted.notified() => break,
                changed = stopping.changed(), if !draining => {
                    draining = true;
                    if changed.is_ok() {
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
        lock(&connections).close(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_address: usize) -> ServeLimits {
        ServeLimits {
            max_connections: total,
            max_connections_per_address: per_address,
            ..ServeLimits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[test]
    fn below_the_bounds_everyone_is_admitted() {
        let mut open = Connections::new(limits(3, 3));
        let now = Instant::now();
        assert_eq!(open.admit(ip(1), now), Admission::Admit(0));
        assert_eq!(open.admit(ip(2), now), Admission::Admit(1));
        assert_eq!(open.admit(ip(1), now), Admission::Admit(2));
        assert_eq!(open.len(), 3);
    }

    #[test]
    fn at_the_bound_a_newcomer_replaces_the_longest_idle_connection() {
        let mut open = Connections::new(limits(3, 3));
        let start = Instant::now();
        for offset in 0..3 {
            open.admit(ip(1), start + Duration::from_secs(offset));
        }
        // Connection 0 answers a request at 10 s: 1 is now the one idle longest.
        open.request_started(0);
        open.request_finished(0, start + Duration::from_secs(10));
        assert_eq!(
            open.admit(ip(2), start + Duration::from_secs(11)),
            Admission::AdmitEvicting {
                admitted: 3,
                evict: 1
            }
        );
        assert_eq!(open.len(), 3);
        assert!(
            !open.close(1),
            "the evicted connection is already forgotten"
        );
    }

    #[test]
    fn busy_connections_are_never_evicted() {
        let mut open = Connections::new(limits(2, 2));
        let now = Instant::now();
        open.admit(ip(1), now);
        open.admit(ip(1), now);
        open.request_started(0);
        open.request_started(1);
        assert_eq!(open.admit(ip(2), now), Admission::Refuse);
        assert_eq!(open.len(), 2);
        open.request_finished(1, now);
        assert_eq!(
            open.admit(ip(2), now),
            Admission::AdmitEvicting {
                admitted: 2,
                evict: 1
            }
        );
    }

    #[test]
    fn one_address_over_its_share_only_displaces_its_own_connections() {
        let mut open = Connections::new(limits(10, 2));
        let start = Instant::now();
        open.admit(ip(9), start);
        open.admit(ip(1), start + Duration::from_secs(1));
        open.admit(ip(1), start + Duration::from_secs(2));
        assert_eq!(
            open.admit(ip(1), start + Duration::from_secs(3)),
            Admission::AdmitEvicting {
                admitted: 3,
                evict: 1
            },
            "connection 0 of another address is idle longer, yet stays"
        );
        open.request_started(2);
        open.request_started(3);
        assert_eq!(open.admit(ip(1), start), Admission::Refuse);
        assert_eq!(open.admit(ip(2), start), Admission::Admit(4));
    }

    #[test]
    fn closing_frees_the_address_share() {
        let mut open = Connections::new(limits(10, 1));
        let now = Instant::now();
        assert_eq!(open.admit(ip(1), now), Admission::Admit(0));
        open.request_started(0);
        assert_eq!(open.admit(ip(1), now), Admission::Refuse);
        assert!(open.close(0));
        assert!(open.is_empty());
        assert_eq!(open.admit(ip(1), now), Admission::Admit(1));
    }

    #[test]
    fn an_ipv6_subscriber_counts_as_its_slash_64() {
        let a: SocketAddr = "[2001:db8:1:2::1]:5000".parse().expect("address");
        let b: SocketAddr = "[2001:db8:1:2:ffff::9]:6000".parse().expect("address");
        let other: SocketAddr = "[2001:db8:1:3::1]:5000".parse().expect("address");
        assert_eq!(address_group(a), address_group(b));
        assert_ne!(address_group(a), address_group(other));
        let v4: SocketAddr = "10.0.0.1:1".parse().expect("address");
        assert_eq!(address_group(v4), ip(1));
    }

    #[test]
    fn ipv4_clients_on_an_ipv6_socket_share_their_ipv4_address() {
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:5000".parse().expect("address");
        assert_eq!(canonical_ip(mapped), ip(1));
        let v6: SocketAddr = "[2001:db8::1]:5000".parse().expect("address");
        assert_eq!(canonical_ip(v6), v6.ip());
    }
}
