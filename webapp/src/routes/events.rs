//! `GET /events`: server-sent events that tell an open page when the chosen node changed
//! (a new block, a new pending post, the node going down or coming back).
//!
//! One poller per node ([`LiveFeeds`]) asks for the node's status every `poll_interval`,
//! and only while some page is listening; every open stream on that node shares its
//! answer, so a thousand open pages cost the node what one does. A stream sends a
//! `status` event only when the fingerprint changes; the page fetches its new content
//! itself. Streams are capped ([`MAX_LIVE_STREAMS`], and [`MAX_LIVE_STREAMS_PER_ADDRESS`]
//! per reader's address); beyond, a page gets 503 (or 429) and works without live updates. Pollers and streams end when the app shuts down, so graceful
//! shutdown never waits on them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::AppState;
use super::home::read_status;
use crate::session::Session;
use crate::views::LIVE_DOWN;

/// Most live streams open at once, over all readers: half the default connection cap, so
/// streams (busy for as long as a page is open) leave room for everything else.
pub const MAX_LIVE_STREAMS: usize = 512;
/// Most live streams open at once from one address (a reader's open tabs).
pub const MAX_LIVE_STREAMS_PER_ADDRESS: usize = 16;

/// The latest fingerprint of each node, shared by every stream on it.
#[derive(Debug)]
pub struct LiveFeeds {
    feeds: Vec<Feed>,
    streams: Arc<Semaphore>,
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One address's hold on a live stream; given back when the stream ends.
struct AddressSlot {
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl AddressSlot {
    fn take(per_address: &Arc<Mutex<HashMap<IpAddr, usize>>>, address: IpAddr) -> Option<Self> {
        let mut held = per_address.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(address).or_insert(0);
        if *count >= MAX_LIVE_STREAMS_PER_ADDRESS {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            per_address: per_address.clone(),
            address,
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self
            .per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.address);
            }
        }
    }
}

#[derive(Debug)]
struct Feed {
    /// The latest poll's fingerprint, and how many polls have been made.
    fingerprint: watch::Sender<Polled>,
    /// Asks the poller for a fresh answer now (a first listener arrived).
    wake: Notify,
}

/// A poll's answer.
#[derive(Debug, Clone, Default)]
struct Polled {
    fingerprint: String,
    poll: u64,
}

impl LiveFeeds {
    /// One feed per node, none polled yet.
    pub fn new(nodes: usize) -> Self {
        LiveFeeds {
            feeds: (0..nodes)
                .map(|_| Feed {
                    fingerprint: watch::Sender::new(Polled::default()),
                    wake: Notify::new(),
                })
                .collect(),
            streams: Arc::new(Semaphore::new(MAX_LIVE_STREAMS)),
            per_address: Arc::default(),
        }
    }
}

/// Starts one poller per node; each ends when the app shuts down.
pub fn spawn_pollers(state: &AppState) {
    for index in 0..state.live.feeds.len() {
        tokio::spawn(poll(state.clone(), index));
    }
}

async fn poll(state: AppState, index: usize) {
    let Some(feed) = state.live.feeds.get(index) else {
        return;
    };
    let node = state.nodes.get(index);
    let mut ticks = tokio::time::interval(state.poll_interval);
    // After a slow answer, wait a full interval rather than catching up in a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut shutdown = state.shutdown.clone();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = feed.wake.notified() => {}
            // An error means the sender is gone: the app is stopping either way.
            _ = shutdown.wait_for(|stopping| *stopping) => return,
        }
        if feed.fingerprint.receiver_count() == 0 {
            continue;
        }
        let now = match read_status(node).await {
            Ok(status) => status.live_fingerprint(),
            Err(_) => LIVE_DOWN.to_owned(),
        };
        // Every poll is announced, changed or not: a stream that just opened waits for
        // the first poll after it, so it never starts from an old answer.
        feed.fingerprint.send_modify(|last| {
            last.fingerprint = now;
            last.poll += 1;
        });
    }
}

/// The live stream of the session's node.
pub async fn events(
    State(state): State<AppState>,
    ConnectInfo(reader): ConnectInfo<SocketAddr>,
    session: Session,
) -> Response {
    let address = chainpost_edge::serve::address_group(reader);
    let Some(address_slot) = AddressSlot::take(&state.live.per_address, address) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many live pages are open from this address; this page works without live updates",
        )
            .into_response();
    };
    let Ok(permit) = state.live.streams.clone().try_acquire_owned() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many live pages are open; this page works without live updates",
        )
            .into_response();
    };
    let Some(feed) = state.live.feeds.get(session.node) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fingerprints = feed.fingerprint.subscribe();
    if feed.fingerprint.receiver_count() == 1 {
        // Nobody was listening, so the last answer may be old.
        feed.wake.notify_one();
    }
    let mut shutdown = state.shutdown.clone();
    let stream = changes(fingerprints, (permit, address_slot))
        .map(|fingerprint| Ok::<_, Infallible>(Event::default().event("status").data(fingerprint)))
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The fingerprint of the first poll after the stream opened, then each one that
/// differs from the last sent; holds its stream slot until dropped.
fn changes(
    mut fingerprints: watch::Receiver<Polled>,
    permit: (OwnedSemaphorePermit, AddressSlot),
) -> impl futures_util::Stream<Item = String> {
    let opened_after = fingerprints.borrow_and_update().poll;
    stream::unfold(
        (fingerprints, permit, None::<String>),
        move |(mut fingerprints, permit, last)| async move {
            loop {
                fingerprints.changed().await.ok()?;
                let polled = fingerprints.borrow_and_update().clone();
                if polled.poll > opened_after && last.as_deref() != Some(&polled.fingerprint) {
                    let now = polled.fingerprint;
                    return Some((now.clone(), (fingerprints, permit, Some(now))));
                }
            }
        },
    )
}
