//! Peer addresses and the bounded set of peers a node talks to.
//!
//! **Invariants:** every peer is an http(s) URL without credentials, query or fragment,
//! normalized (no trailing slash), never the node's own address; the set never exceeds its
//! bound. A peer that keeps failing for long enough is dropped. Pure: time is passed in.

use std::collections::BTreeMap;
use std::fmt;

use reqwest::Url;

/// Most peers a node keeps unless told otherwise (`--max-peers`).
pub const DEFAULT_MAX_PEERS: usize = 32;
/// Failures in a row after which a peer may be dropped...
const MAX_FAILURES: u32 = 5;
/// ...provided it has been failing for at least this long (seconds).
const DROP_AFTER_SECS: u64 = 60;

/// A validated peer address, such as `http://10.0.0.2:8000`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerUrl(String);

/// Why an address cannot be a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// Not a URL at all.
    #[error("peer address {0:?} is not a URL")]
    NotAUrl(String),
    /// A scheme other than http or https.
    #[error("peer address must use http or https, not {0:?}")]
    Scheme(String),
    /// Has a user name or password.
    #[error("peer address must not contain credentials")]
    Credentials,
    /// Has a query string or fragment.
    #[error("peer address must not have a query or fragment")]
    QueryOrFragment,
    /// Longer than any real address; it would be stored and sent back in every answer
    /// that lists peers.
    #[error("peer address is {0} bytes long; at most {MAX_PEER_URL_BYTES} are allowed")]
    TooLong(usize),
    /// Is this node's own address.
    #[error("a node cannot be its own peer")]
    Itself,
    /// The peer set is full.
    #[error("peer limit of {0} reached")]
    Full(usize),
}

/// Longest peer address accepted: room for a 253-character host name, a port and a path
/// prefix, far from the megabytes a request body could carry.
pub const MAX_PEER_URL_BYTES: usize = 512;

impl PeerUrl {
    /// Parses and normalizes a peer address.
    pub fn parse(text: &str) -> Result<Self, PeerError> {
        let text = text.trim();
        if text.len() > MAX_PEER_URL_BYTES {
            return Err(PeerError::TooLong(text.len()));
        }
        let url =
            Url::parse(text).map_err(|_| PeerError::NotAUrl(text.chars().take(100).collect()))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(PeerError::Scheme(url.scheme().chars().take(20).collect()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PeerError::Credentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PeerError::QueryOrFragment);
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(PeerError::NotAUrl(text.chars().take(100).collect()));
        }
        Ok(PeerUrl(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The address with `path` appended (`path` starts with `/`).
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The normalized address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Default)]
struct Health {
    failures: u32,
    failing_since: Option<u64>,
}

/// The peers of one node.
#[derive(Debug, Clone)]
pub struct PeerSet {
    own: PeerUrl,
    peers: BTreeMap<PeerUrl, Health>,
    max_peers: usize,
}

impl PeerSet {
    /// An empty set for the node reachable at `own`, holding at most `max_peers`.
    pub fn new(own: PeerUrl, max_peers: usize) -> Self {
        PeerSet {
            own,
            peers: BTreeMap::new(),
            max_peers,
        }
    }

    /// This node's own address.
    pub fn own(&self) -> &PeerUrl {
        &self.own
    }

    /// Adds a peer; true if it is new.
    pub fn add(&mut self, peer: PeerUrl) -> Result<bool, PeerError> {
        if peer == self.own {
            return Err(PeerError::Itself);
        }
        if self.peers.contains_key(&peer) {
            return Ok(false);
        }
        if self.peers.len() >= self.max_peers {
            return Err(PeerError::Full(self.max_peers));
        }
        self.peers.insert(peer, Health::default());
        Ok(true)
    }

    /// Removes a peer; true if it was there.
    pub fn remove(&mut self, peer: &PeerUrl) -> bool {
        self.peers.remove(peer).is_some()
    }

    /// Notes that a peer answered.
    pub fn record_success(&mut self, peer: &PeerUrl) {
        if let Some(health) = self.peers.get_mut(peer) {
            *health = Health::default();
        }
    }

    /// Notes that a peer did not answer at `now`; true if it has failed long enough to be
    /// dropped (the caller drops it).
    pub fn record_failure(&mut self, peer: &PeerUrl, now: u64) -> bool {
        let Some(health) = self.peers.get_mut(peer) else {
            return false;
        };
        health.failures += 1;
        let since = *health.failing_since.get_or_insert(now);
        health.failures >= MAX_FAILURES && now.saturating_sub(since) >= DROP_AFTER_SECS
    }

    /// Whether `peer` is in the set.
    pub fn contains(&self, peer: &PeerUrl) -> bool {
        self.peers.contains_key(peer)
    }

    /// Every peer, in address order.
    pub fn list(&self) -> Vec<PeerUrl> {
        self.peers.keys().cloned().collect()
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether there are no peers.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> PeerUrl {
        PeerUrl::parse(text).expect("valid peer")
    }

    #[test]
    fn addresses_are_normalized() {
        assert_eq!(
            url("http://127.0.0.1:8000/").as_str(),
            "http://127.0.0.1:8000"
        );
        assert_eq!(url(" HTTP://Node1:8000 ").as_str(), "http://node1:8000");
        assert_eq!(
            url("https://example.org/chain/").as_str(),
            "https://example.org/chain"
        );
        assert_eq!(url("http://a:1").join("/status"), "http://a:1/status");
    }

    #[test]
    fn bad_addresses_say_why() {
        assert!(matches!(
            PeerUrl::parse("not a url"),
            Err(PeerError::NotAUrl(_))
        ));
        assert!(matches!(
            PeerUrl::parse("ftp://a:1"),
            Err(PeerError::Scheme(_))
        ));
        assert!(matches!(
            PeerUrl::parse("file:///etc/passwd"),
            Err(PeerError::Scheme(_))
        ));
        assert_eq!(
            PeerUrl::parse("http://u:p@a:1"),
            Err(PeerError::Credentials)
        );
        assert_eq!(PeerUrl::parse("http://u@a:1"), Err(PeerError::Credentials));
        assert_eq!(
            PeerUrl::parse("http://a:1/?x=1"),
            Err(PeerError::QueryOrFragment)
        );
        let longest_host = format!("http://{}:8000", "a".repeat(MAX_PEER_URL_BYTES - 12));
        assert!(PeerUrl::parse(&longest_host).is_ok());
        let too_long = format!("http://{}:8000", "a".repeat(MAX_PEER_URL_BYTES - 11));
        assert_eq!(
            PeerUrl::parse(&too_long),
            Err(PeerError::TooLong(MAX_PEER_URL_BYTES + 1))
        );
    }

    #[test]
    fn the_set_is_bounded_and_never_holds_itself() {
        let mut set = PeerSet::new(url("http://me:1"), DEFAULT_MAX_PEERS);
        assert_eq!(set.add(url("http://me:1/")), Err(PeerError::Itself));
        for port in 0..DEFAULT_MAX_PEERS {
            assert_eq!(
                set.add(url(&format!("http://peer:{}", port + 10))),
                Ok(true)
            );
        }
        assert_eq!(set.add(url("http://peer:10")), Ok(false));
        assert_eq!(
            set.add(url("http://one-too-many:1")),
            Err(PeerError::Full(DEFAULT_MAX_PEERS))
        );
        assert_eq!(set.len(), DEFAULT_MAX_PEERS);
        let mut small = PeerSet::new(url("http://me:1"), 1);
        assert_eq!(small.add(url("http://peer:1")), Ok(true));
        assert_eq!(small.add(url("http://peer:2")), Err(PeerError::Full(1)));
    }

    #[test]
    fn a_peer_is_dropped_only_after_failing_often_and_long() {
        let mut set = PeerSet::new(url("http://me:1"), DEFAULT_MAX_PEERS);
        let peer = url("http://flaky:1");
        set.add(peer.clone()).expect("room");
        for attempt in 0..MAX_FAILURES * 2 {
            assert!(
                !set.record_failure(&peer, 1_000 + u64::from(attempt)),
                "too soon"
            );
        }
        assert!(set.record_failure(&peer, 1_000 + DROP_AFTER_SECS));
        set.record_success(&peer);
        assert!(!set.record_failure(&peer, 10_000));
    }
}
