//! DNS seeds: names whose address records list nodes of the network, as Bitcoin's DNS
//! seeds do, and as a Kubernetes headless Service or Docker Swarm's `tasks.<service>` list
//! every replica. A node asks each name again every round; each address it answers is only
//! a candidate, handshaken like any address a stranger announces.
//!
//! Pure: parsing a seed and turning an answer into candidates; the network layer asks the
//! resolver.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use crate::peer_url::PeerUrl;

/// The port a seed's addresses are reached at unless the seed names one: every replica
/// of a deployment listens where a node listens by default.
pub(crate) const DEFAULT_SEED_PORT: u16 = 8000;

/// Most addresses taken from one answer: a name may list many replicas, but a resolver
/// that answers thousands would otherwise fill the candidate table on its own.
pub(crate) const MAX_ADDRESSES_PER_SEED: usize = 64;

/// Longest DNS name (RFC 1035), without a trailing dot.
const MAX_NAME_BYTES: usize = 253;

/// A DNS name to ask for nodes, and the port they listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedName {
    host: String,
    port: u16,
}

/// Why a text is not a seed name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedNameError {
    #[error("a DNS seed is NAME or NAME:PORT (no scheme, no path), not {0:?}")]
    Form(String),
    #[error(
        "{0:?} is not a DNS name (dot-separated labels of letters, digits, '-' and '_', at most 63 bytes each and 253 in all)"
    )]
    Name(String),
    #[error("port {0:?} is not a number from 1 to 65535")]
    Port(String),
}

impl SeedName {
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }
}

impl fmt::Display for SeedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// Letters, digits, `-` and `_` (Swarm names its stacks' services `stack_service`), in
/// labels of 1 to 63 bytes that neither start nor end with `-`.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'))
        })
}

impl FromStr for SeedName {
    type Err = SeedNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.contains('/') || text.contains('@') || text.contains('[') {
            return Err(SeedNameError::Form(text.to_owned()));
        }
        let (name, port) = match text.split_once(':') {
            None => (text, DEFAULT_SEED_PORT),
            Some((name, port)) => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port != 0)
                    .ok_or_else(|| SeedNameError::Port(port.to_owned()))?;
                (name, port)
            }
        };
        let name = name.strip_suffix('.').unwrap_or(name);
        if !is_dns_name(name) {
            return Err(SeedNameError::Name(name.to_owned()));
        }
        Ok(SeedName {
            host: name.to_ascii_lowercase(),
            port,
        })
    }
}

/// The candidates one answer names: each address as a canonical http peer URL, each once,
/// in the resolver's order, at most [`MAX_ADDRESSES_PER_SEED`].
pub(crate) fn candidates(answer: impl IntoIterator<Item = SocketAddr>) -> Vec<PeerUrl> {
    let mut found: Vec<PeerUrl> = Vec::new();
    for address in answer {
        if found.len() == MAX_ADDRESSES_PER_SEED {
            break;
        }
        // A SocketAddr writes an IPv6 address in brackets, as a URL needs it.
        if let Ok(peer) = PeerUrl::parse(&format!("http://{address}"))
            && !found.contains(&peer)
        {
            found.push(peer);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;

    fn seed(text: &str) -> Result<SeedName, SeedNameError> {
        text.parse()
    }

    #[test]
    fn a_name_takes_the_default_port_unless_it_names_one() {
        assert_eq!(
            seed("tasks.chainpost_node").expect("valid").to_string(),
            "tasks.chainpost_node:8000"
        );
        assert_eq!(
            seed("Node.Example.:8001").expect("valid").to_string(),
            "node.example:8001"
        );
        assert_eq!(seed("localhost").expect("valid").port(), DEFAULT_SEED_PORT);
        assert_eq!(
            seed("chainpost-nodes.default.svc.cluster.local:80")
                .expect("valid")
                .port(),
            80
        );
    }

    #[test]
    fn urls_bad_names_and_bad_ports_are_refused_with_their_reason() {
        for text in [
            "http://seed.example",
            "seed.example/path",
            "user@seed",
            "[::1]:8000",
        ] {
            assert_eq!(seed(text), Err(SeedNameError::Form(text.into())), "{text}");
        }
        for text in [
            "",
            ".",
            "a..b",
            "-a.example",
            "a-.example",
            "sp ace",
            "é.example",
        ] {
            assert!(matches!(seed(text), Err(SeedNameError::Name(_))), "{text}");
        }
        assert!(matches!(seed(&"a".repeat(64)), Err(SeedNameError::Name(_))));
        let long = vec!["a".repeat(63); 4].join(".") + ".b";
        assert!(long.len() > MAX_NAME_BYTES);
        assert!(matches!(seed(&long), Err(SeedNameError::Name(_))));
        for port in ["0", "65536", "x", "", "80:80"] {
            assert!(
                matches!(seed(&format!("seed:{port}")), Err(SeedNameError::Port(_))),
                "{port}"
            );
        }
    }

    #[test]
    fn an_answer_becomes_canonical_candidates_each_once() {
        let v4 = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)), 8000);
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8000);
        let mapped = SocketAddr::new(
            IpAddr::V6(Ipv4Addr::new(10, 0, 0, 7).to_ipv6_mapped()),
            8000,
        );
        let found = candidates([v4, v6, mapped, v4]);
        let found: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(found, ["http://10.0.0.7:8000", "http://[::1]:8000"]);
    }

    proptest! {
        #[test]
        fn an_answer_gives_at_most_the_bound_and_no_duplicate(
            hosts in proptest::collection::vec(any::<u32>(), 0..200),
        ) {
            let answer = hosts.iter().map(|host| SocketAddr::from((Ipv4Addr::from(*host), 8000)));
            let found = candidates(answer);
            let distinct: std::collections::BTreeSet<u32> = hosts.iter().copied().collect();
            prop_assert_eq!(found.len(), distinct.len().min(MAX_ADDRESSES_PER_SEED));
            let unique: std::collections::BTreeSet<&PeerUrl> = found.iter().collect();
            prop_assert_eq!(unique.len(), found.len());
        }
    }
}
