//! Peer addresses, the peers a node talks to, and the candidates strangers announce.
//!
//! Modelled on Bitcoin Core's address manager: what others announce is only a
//! *candidate*, kept in a bounded table with a share per source, and becomes a *peer*
//! only after a handshake has shown it is a chainpost node of this network and not this
//! node itself (the network layer does the handshake). Candidates never displace peers.
//!
//! **Invariants:** every address is canonical (`scheme://host[:port]`: no path, query,
//! credentials or trailing dot, IPv4-mapped IPv6 written as IPv4); the peer set never
//! exceeds its bound and never holds this node's own address; a candidate is never also a
//! peer. A failing peer backs off exponentially and is dropped once it has failed often
//! enough for long enough. Pure: time is passed in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::peer_url::PeerUrl;
use crate::peer_url::PeerUrlError;

/// Most peers a node keeps unless told otherwise (`--max-peers`).
pub(crate) const DEFAULT_MAX_PEERS: usize = 32;
/// Most peers on one host (an IP address or a name), so that one machine cannot take the
/// peer table; loopback is exempt, for networks run on one machine.
pub(crate) const MAX_PEERS_PER_HOST: usize = 4;
/// Most addresses remembered as this node's own besides the one it advertises.
const MAX_OWN_ALIASES: usize = 16;

/// Most candidates kept, whoever announced them.
pub(crate) const MAX_CANDIDATES: usize = 256;
/// Most candidates kept from one source, so one stranger cannot fill the table.
pub const MAX_CANDIDATES_PER_SOURCE: usize = 16;
/// Failures in a row after which a peer may be dropped...
const MAX_FAILURES: u32 = 5;
/// ...provided it has been failing for at least this long (seconds).
const DROP_AFTER_SECS: u64 = 60;
/// Longest pause before a failing peer is tried again (seconds).
const MAX_BACKOFF_SECS: u64 = 300;

/// Why an address cannot be a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// Not a peer address at all.
    #[error(transparent)]
    Address(#[from] PeerUrlError),
    /// Is this node's own address.
    #[error("a node cannot be its own peer")]
    Itself,
    /// A private, loopback or link-local address on a node that refuses them.
    #[error("peer address {0} is not public, and this node takes public peers only")]
    NotPublic(String),
    /// The peer set is full.
    #[error("peer limit of {0} reached")]
    Full(usize),
    /// The host already has as many peers as one host may.
    #[error("host of {0} already has {MAX_PEERS_PER_HOST} peers here")]
    HostFull(String),
}

/// Whether `ip` is reachable on the public internet: not loopback, private, link-local,
/// shared (CGNAT), unique-local, documentation, multicast, broadcast or unspecified.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let protocol_assignments = a == 192 && b == 0 && c == 0;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let reserved = a >= 240;
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || shared
        || protocol_assignments
        || benchmarking
        || reserved)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    let documentation = first == 0x2001 && ip.segments()[1] == 0x0db8;
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || unique_local
        || link_local
        || documentation)
}

#[derive(Debug, Clone, Default)]
struct Health {
    failures: u32,
    failing_since: Option<u64>,
    retry_at: u64,
}

/// Who announced a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// This node's own records (`--peer`, the peers it remembers): an unreachable one is
    /// kept, to be tried again.
    Own,
    /// A DNS seed's answer (`--seed-dns`): tried once; the name is asked again each round,
    /// so a replica that is gone is forgotten and one that is back is offered again.
    Seed,
    /// A stranger, by the address group it sent from: it has a bounded share of the table.
    Stranger(IpAddr),
}

#[derive(Debug, Clone)]
struct Candidate {
    source: Source,
    announced_at: u64,
}

/// What a failure means for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailureVerdict {
    /// Keep it, and leave it alone until its backoff has passed.
    BackOff,
    /// It has failed often enough for long enough: drop it.
    Drop,
}

/// The peers of one node and the candidates it has heard of.
#[derive(Debug, Clone)]
pub(crate) struct PeerSet {
    own: PeerUrl,
    /// Other addresses that reached this node itself (a DNS seed lists every replica,
    /// this one too), so they are not handshaken again; at most [`MAX_OWN_ALIASES`].
    own_aliases: BTreeSet<PeerUrl>,
    peers: BTreeMap<PeerUrl, Health>,
    max_peers: usize,
    candidates: BTreeMap<PeerUrl, Candidate>,
}

impl PeerSet {
    /// An empty set for the node reachable at `own`, holding at most `max_peers`.
    pub(crate) fn new(own: PeerUrl, max_peers: usize) -> Self {
        PeerSet {
            own,
            own_aliases: BTreeSet::new(),
            peers: BTreeMap::new(),
            max_peers,
            candidates: BTreeMap::new(),
        }
    }

    pub(crate) fn own(&self) -> &PeerUrl {
        &self.own
    }

    /// Records that `alias` reached this node itself; false if the table of aliases is
    /// full (the address is then handshaken again when offered, which costs one request).
    pub(crate) fn learn_own_alias(&mut self, alias: PeerUrl) -> bool {
        if self.own_aliases.len() >= MAX_OWN_ALIASES {
            return false;
        }
        self.candidates.remove(&alias);
        self.own_aliases.insert(alias)
    }

    /// Adds a peer that passed the handshake; true if it is new.
    pub(crate) fn add(&mut self, peer: PeerUrl) -> Result<bool, PeerError> {
        if peer == self.own {
            return Err(PeerError::Itself);
        }
        if self.peers.contains_key(&peer) {
            return Ok(false);
        }
        if self.peers.len() >= self.max_peers {
            return Err(PeerError::Full(self.max_peers));
        }
        if !peer.is_loopback()
            && self
                .peers
                .keys()
                .filter(|known| known.host() == peer.host())
                .count()
                >= MAX_PEERS_PER_HOST
        {
            return Err(PeerError::HostFull(peer.to_string()));
        }
        self.candidates.remove(&peer);
        self.peers.insert(peer, Health::default());
        Ok(true)
    }

    /// Removes a peer; true if it was there.
    pub(crate) fn remove(&mut self, peer: &PeerUrl) -> bool {
        self.peers.remove(peer).is_some()
    }

    /// Notes that a peer answered as a peer should.
    pub(crate) fn record_success(&mut self, peer: &PeerUrl) {
        if let Some(health) = self.peers.get_mut(peer) {
            *health = Health::default();
        }
    }

    /// Notes that a peer failed at `now` (unreachable, a wrong answer, too slow): it backs
    /// off for twice as long as last time, and is to be dropped once it has failed often
    /// enough for long enough.
    pub(crate) fn record_failure(&mut self, peer: &PeerUrl, now: u64) -> FailureVerdict {
        let Some(health) = self.peers.get_mut(peer) else {
            return FailureVerdict::BackOff;
        };
        health.failures = health.failures.saturating_add(1);
        let since = *health.failing_since.get_or_insert(now);
        let backoff = 1_u64
            .checked_shl(health.failures.min(20))
            .unwrap_or(MAX_BACKOFF_SECS)
            .min(MAX_BACKOFF_SECS);
        health.retry_at = now.saturating_add(backoff);
        if health.failures >= MAX_FAILURES && now.saturating_sub(since) >= DROP_AFTER_SECS {
            FailureVerdict::Drop
        } else {
            FailureVerdict::BackOff
        }
    }

    pub(crate) fn contains(&self, peer: &PeerUrl) -> bool {
        self.peers.contains_key(peer)
    }

    /// Every peer, in address order.
    pub(crate) fn list(&self) -> Vec<PeerUrl> {
        self.peers.keys().cloned().collect()
    }

    /// The peers not backing off at `now`: those worth telling news.
    pub(crate) fn ready(&self, now: u64) -> Vec<PeerUrl> {
        self.peers
            .iter()
            .filter(|(_, health)| health.retry_at <= now)
            .map(|(peer, _)| peer.clone())
            .collect()
    }

    /// How many more peers fit.
    pub(crate) fn room(&self) -> usize {
        self.max_peers.saturating_sub(self.peers.len())
    }

    /// Remembers an address that `source` announced, to be tried later; false if it was
    /// not kept. A stranger over its share replaces its own oldest candidate (this node's
    /// own records and DNS seeds have no share but the table's); a full table refuses
    /// newcomers. Peers are never touched.
    pub(crate) fn offer_candidate(&mut self, candidate: PeerUrl, source: Source, now: u64) -> bool {
        if candidate == self.own
            || self.own_aliases.contains(&candidate)
            || self.peers.contains_key(&candidate)
            || self.candidates.contains_key(&candidate)
        {
            return false;
        }
        let from_source: Vec<(&PeerUrl, &Candidate)> = self
            .candidates
            .iter()
            .filter(|(_, known)| known.source == source)
            .collect();
        if matches!(source, Source::Stranger(_)) && from_source.len() >= MAX_CANDIDATES_PER_SOURCE {
            let oldest = from_source
                .iter()
                .min_by_key(|(url, known)| (known.announced_at, (*url).clone()))
                .map(|(url, _)| (*url).clone());
            if let Some(oldest) = oldest {
                self.candidates.remove(&oldest);
            }
        } else if self.candidates.len() >= MAX_CANDIDATES {
            return false;
        }
        self.candidates.insert(
            candidate,
            Candidate {
                source,
                announced_at: now,
            },
        );
        true
    }

    /// Takes up to `count` candidates to try, oldest first; they leave the table (one
    /// that passes its handshake becomes a peer, one that fails is forgotten).
    pub(crate) fn take_candidates(&mut self, count: usize) -> Vec<(PeerUrl, Source)> {
        let mut oldest: Vec<(u64, PeerUrl)> = self
            .candidates
            .iter()
            .map(|(url, known)| (known.announced_at, url.clone()))
            .collect();
        oldest.sort();
        oldest.truncate(count);
        oldest
            .into_iter()
            .filter_map(|(_, url)| {
                let known = self.candidates.remove(&url)?;
                Some((url, known.source))
            })
            .collect()
    }

    pub(crate) fn candidate_count(&self) -> usize {
        self.candidates.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> PeerUrl {
        PeerUrl::parse(text).expect("valid peer")
    }

    #[test]
    fn only_globally_reachable_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("ip");
            assert!(!is_public(ip), "{private} counted as public");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"] {
            let ip: IpAddr = public.parse().expect("ip");
            assert!(is_public(ip), "{public} counted as private");
        }
    }

    #[test]
    fn the_set_is_bounded_and_never_holds_itself() {
        let mut set = PeerSet::new(url("http://me:1"), DEFAULT_MAX_PEERS);
        assert_eq!(set.add(url("http://me:1/")), Err(PeerError::Itself));
        for index in 0..DEFAULT_MAX_PEERS {
            assert_eq!(set.add(url(&format!("http://peer{index}:8000"))), Ok(true));
        }
        assert_eq!(set.add(url("http://peer0:8000")), Ok(false));
        assert_eq!(
            set.add(url("http://one-too-many:1")),
            Err(PeerError::Full(DEFAULT_MAX_PEERS))
        );
        assert_eq!(set.list().len(), DEFAULT_MAX_PEERS);
        assert_eq!(set.room(), 0);
        let mut small = PeerSet::new(url("http://me:1"), 1);
        assert_eq!(small.add(url("http://peer:1")), Ok(true));
        assert_eq!(small.add(url("http://peer:2")), Err(PeerError::Full(1)));
    }

    #[test]
    fn one_host_takes_a_few_peer_slots_but_loopback_is_exempt() {
        let mut set = PeerSet::new(url("http://me:1"), DEFAULT_MAX_PEERS);
        for port in 0..MAX_PEERS_PER_HOST {
            assert_eq!(
                set.add(url(&format!("http://203.0.113.9:{}", port + 1))),
                Ok(true)
            );
        }
        assert!(matches!(
            set.add(url("http://203.0.113.9:99")),
            Err(PeerError::HostFull(_))
        ));
        assert_eq!(set.add(url("http://203.0.113.10:1")), Ok(true));
        for port in 0..2 * MAX_PEERS_PER_HOST {
            assert_eq!(
                set.add(url(&format!("http://127.0.0.1:{}", port + 1))),
                Ok(true)
            );
        }
        assert_eq!(url("http://[2001:db8::1]:8000").host(), "2001:db8::1");
        assert_eq!(url("http://node1").host(), "node1");
    }

    #[test]
    fn a_failing_peer_backs_off_and_is_dropped_only_after_failing_often_and_long() {
        let mut set = PeerSet::new(url("http://me:1"), DEFAULT_MAX_PEERS);
        let peer = url("http://flaky:1");
        let steady = url("http://steady:1");
        set.add(peer.clone()).expect("room");
        set.add(steady.clone()).expect("room");
        assert_eq!(set.record_failure(&peer, 1_000), FailureVerdict::BackOff);
        assert_eq!(set.ready(1_000), vec![steady.clone()], "backing off");
        assert_eq!(set.ready(1_002).len(), 2, "back after two seconds");
        for attempt in 1..MAX_FAILURES * 2 {
            assert_eq!(
                set.record_failure(&peer, 1_000 + u64::from(attempt)),
                FailureVerdict::BackOff,
                "too soon"
            );
        }
        assert_eq!(set.ready(1_100), vec![steady.clone()], "backoff grows");
        assert!(
            set.ready(1_000 + MAX_BACKOFF_SECS + 20).contains(&peer),
            "backoff is capped"
        );
        assert_eq!(
            set.record_failure(&peer, 1_000 + DROP_AFTER_SECS),
            FailureVerdict::Drop
        );
        set.record_success(&peer);
        assert_eq!(set.record_failure(&peer, 10_000), FailureVerdict::BackOff);
    }

    #[test]
    fn candidates_are_bounded_per_source_and_never_displace_peers() {
        let mut set = PeerSet::new(url("http://me:1"), 2);
        let stranger = Source::Stranger(IpAddr::from([203, 0, 113, 7]));
        set.add(url("http://peer:1")).expect("room");
        assert!(!set.offer_candidate(url("http://peer:1"), stranger, 0));
        assert!(!set.offer_candidate(url("http://me:1"), stranger, 0));
        for port in 0..MAX_CANDIDATES_PER_SOURCE as u64 + 10 {
            set.offer_candidate(url(&format!("http://junk:{}", port + 100)), stranger, port);
        }
        assert_eq!(set.candidate_count(), MAX_CANDIDATES_PER_SOURCE);
        let honest = Source::Stranger(IpAddr::from([198, 51, 100, 1]));
        assert!(set.offer_candidate(url("http://honest:1"), honest, 50));
        assert_eq!(set.list().len(), 1, "peers are untouched");
        let oldest = set.take_candidates(1);
        assert_eq!(
            oldest,
            vec![(url("http://junk:110"), stranger)],
            "the source's oldest kept one"
        );
        assert_eq!(set.candidate_count(), MAX_CANDIDATES_PER_SOURCE);
    }

    #[test]
    fn a_full_candidate_table_refuses_newcomers() {
        let mut set = PeerSet::new(url("http://me:1"), 2);
        for index in 0..MAX_CANDIDATES {
            let source = Source::Stranger(IpAddr::from([
                10,
                0,
                (index / 250) as u8,
                (index % 250) as u8,
            ]));
            assert!(set.offer_candidate(url(&format!("http://c:{}", index + 1)), source, 0));
        }
        assert!(!set.offer_candidate(url("http://late:1"), Source::Own, 1));
        assert_eq!(set.candidate_count(), MAX_CANDIDATES);
        set.add(url("http://c:1")).expect("room");
        assert_eq!(
            set.candidate_count(),
            MAX_CANDIDATES - 1,
            "a new peer leaves the table"
        );
    }

    #[test]
    fn an_address_that_reached_this_node_is_never_a_candidate_again() {
        let mut set = PeerSet::new(url("http://me:1"), 2);
        assert!(set.offer_candidate(url("http://10.0.0.5:8000"), Source::Seed, 0));
        assert!(set.learn_own_alias(url("http://10.0.0.5:8000")));
        assert_eq!(set.candidate_count(), 0, "it leaves the table");
        assert!(!set.offer_candidate(url("http://10.0.0.5:8000"), Source::Seed, 1));
        for index in 1..MAX_OWN_ALIASES {
            assert!(set.learn_own_alias(url(&format!("http://10.0.1.{index}:8000"))));
        }
        assert!(!set.learn_own_alias(url("http://10.0.2.1:8000")), "bounded");
        assert!(set.offer_candidate(url("http://10.0.2.1:8000"), Source::Seed, 2));
    }
}
