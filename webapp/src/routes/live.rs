//! The live feeds behind `GET /events`: what tells an open page that the chosen node
//! changed (a new block, a new pending post, the node going down or coming back).
//!
//! One poller per node ([`LiveFeeds::poll`]) asks for the node's status every
//! `poll_interval`, and only while some page is listening; every open stream on that
//! node shares its answer, so a thousand open pages cost the node what one does. A
//! stream yields a fingerprint only when it changes; the page fetches its new content
//! itself. Streams are capped ([`MAX_LIVE_STREAMS`], and [`MAX_LIVE_STREAMS_PER_ADDRESS`]
//! per reader's address); beyond, [`LiveFeeds::subscribe`] says why not.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::stream::{self, Stream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use crate::node_client::NodeClient;
use crate::routes::status::live_fingerprint;

/// Most live streams open at once, over all readers: half the default connection cap, so
/// streams (busy for as long as a page is open) leave room for everything else.
const MAX_LIVE_STREAMS: usize = 512;
/// Most live streams open at once from one address (a reader's open tabs).
pub const MAX_LIVE_STREAMS_PER_ADDRESS: usize = 16;

/// The latest fingerprint of each node, shared by every stream on it.
#[derive(Debug)]
pub(crate) struct LiveFeeds {
    feeds: Vec<Feed>,
    streams: Arc<Semaphore>,
    per_address: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// Why a page gets no live stream (it works without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This address holds [`MAX_LIVE_STREAMS_PER_ADDRESS`] already.
    TooManyFromAddress,
    /// [`MAX_LIVE_STREAMS`] are open.
    TooMany,
    NoSuchNode,
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
    pub(crate) fn new(nodes: usize) -> Self {
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

    /// Polls `node` for feed `index` every `interval` while a stream listens, until
    /// `shutdown` turns true.
    pub(crate) async fn poll(
        &self,
        index: usize,
        node: &NodeClient,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let Some(feed) = self.feeds.get(index) else {
            return;
        };
        let mut ticks = tokio::time::interval(interval);
        // After a slow answer, wait a full interval rather than catching up in a burst.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            let now = live_fingerprint(node).await;
            // Every poll is announced, changed or not: a stream that just opened waits for
            // the first poll after it, so it never starts from an old answer.
            feed.fingerprint.send_modify(|last| {
                last.fingerprint = now;
                last.poll += 1;
            });
        }
    }

    /// The fingerprints of node `index` for a reader at `address` (an address group):
    /// the first poll's after now, then each one that differs from the last sent. The
    /// stream holds its slots until dropped.
    pub(crate) fn subscribe(
        &self,
        index: usize,
        address: IpAddr,
    ) -> Result<impl Stream<Item = String> + Send + use<>, Refused> {
        let address_slot =
            AddressSlot::take(&self.per_address, address).ok_or(Refused::TooManyFromAddress)?;
        let permit = self
            .streams
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refused::TooMany)?;
        let feed = self.feeds.get(index).ok_or(Refused::NoSuchNode)?;
        let fingerprints = feed.fingerprint.subscribe();
        if feed.fingerprint.receiver_count() == 1 {
            // Nobody was listening, so the last answer may be old.
            feed.wake.notify_one();
        }
        Ok(changes(fingerprints, (permit, address_slot)))
    }
}

/// The fingerprint of the first poll after the stream opened, then each one that
/// differs from the last sent; holds its stream slot until dropped.
fn changes(
    mut fingerprints: watch::Receiver<Polled>,
    permit: (OwnedSemaphorePermit, AddressSlot),
) -> impl Stream<Item = String> + Send {
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
