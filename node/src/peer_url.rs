//! A node's address as peers know it, in one canonical form, so that one node is one
//! entry however it was spelled. The sending peer of gossip (`x-chainpost-peer`) is parsed
//! into one at the edge, and the network acts on it only when it names one of its peers.

use std::fmt;
use std::net::IpAddr;

use reqwest::Url;

/// A canonical peer address, such as `http://10.0.0.2:8000`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerUrl(String);

/// Why a text is not a peer address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerUrlError {
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
    /// Has a path: a node's API lives at the root of its address.
    #[error("peer address must be scheme://host:port with no path, not {0:?}")]
    Path(String),
    /// Longer than any real address; it would be stored and sent back in every answer
    /// that lists peers.
    #[error("peer address is {0} bytes long; at most {MAX_PEER_URL_BYTES} are allowed")]
    TooLong(usize),
}

/// Longest peer address accepted: room for a 253-character host name and a port, far
/// from the megabytes a request body could carry.
pub(crate) const MAX_PEER_URL_BYTES: usize = 512;

/// Whether `text` is a host with at most a port after it, and no scheme: `node1`,
/// `localhost:8000`, `[::1]:8000`. `javascript:alert(1)` is a scheme, not a port.
fn is_bare_host(text: &str) -> bool {
    if text.contains("://") {
        return false;
    }
    match text.rsplit_once(':') {
        None => true,
        Some((_, port)) => {
            let port = port.strip_suffix('/').unwrap_or(port);
            !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit())
        }
    }
}

impl PeerUrl {
    /// Parses an address and writes it in its one canonical form. A bare `host:port` (no
    /// `scheme://`) is read as http, as curl reads it: `localhost:8000` is what people type.
    pub(crate) fn parse(text: &str) -> Result<Self, PeerUrlError> {
        let text = text.trim();
        if text.len() > MAX_PEER_URL_BYTES {
            return Err(PeerUrlError::TooLong(text.len()));
        }
        let not_a_url = || PeerUrlError::NotAUrl(text.chars().take(100).collect());
        let url = if is_bare_host(text) {
            Url::parse(&format!("http://{text}"))
        } else {
            Url::parse(text)
        }
        .map_err(|_| not_a_url())?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(PeerUrlError::Scheme(
                url.scheme().chars().take(20).collect(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(PeerUrlError::Credentials);
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(PeerUrlError::QueryOrFragment);
        }
        if url.path() != "/" {
            return Err(PeerUrlError::Path(url.path().chars().take(100).collect()));
        }
        // The URL parser already reads every IPv4 spelling (`2130706433`, `0x7f.1`) as
        // dotted quads and lower-cases names; what is left is IPv4 inside IPv6 and the
        // trailing dot of a fully qualified name.
        let host = match url.host() {
            Some(url::Host::Ipv4(v4)) => v4.to_string(),
            Some(url::Host::Ipv6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => format!("[{v6}]"),
            },
            Some(url::Host::Domain(name)) => {
                let name = name.strip_suffix('.').unwrap_or(name);
                if name.is_empty() {
                    return Err(not_a_url());
                }
                name.to_owned()
            }
            None => return Err(not_a_url()),
        };
        let canonical = match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        };
        Ok(PeerUrl(canonical))
    }

    /// The address with `path` appended (`path` starts with `/`).
    pub(crate) fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// The canonical address.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// The host's IP address, when the host is written as one.
    pub(crate) fn ip(&self) -> Option<IpAddr> {
        self.host().parse().ok()
    }

    /// The host: a name, or an IP address (IPv6 without brackets).
    pub(crate) fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or("", |(_, rest)| rest);
        match rest.strip_prefix('[') {
            Some(bracketed) => bracketed
                .split_once(']')
                .map_or(bracketed, |(host, _)| host),
            None => rest.rsplit_once(':').map_or(rest, |(host, _)| host),
        }
    }

    /// Whether the host is this machine (loopback or `localhost`).
    pub(crate) fn is_loopback(&self) -> bool {
        self.host() == "localhost" || self.ip().is_some_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for PeerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> PeerUrl {
        PeerUrl::parse(text).expect("valid peer")
    }

    #[test]
    fn addresses_have_one_canonical_form() {
        for (given, canonical) in [
            ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
            (" HTTP://Node1:8000 ", "http://node1:8000"),
            ("http://2130706433:8000", "http://127.0.0.1:8000"),
            ("http://0x7f.1:8000", "http://127.0.0.1:8000"),
            ("http://[::ffff:127.0.0.1]:8000", "http://127.0.0.1:8000"),
            ("http://[::FFFF:7f00:1]:8000", "http://127.0.0.1:8000"),
            ("http://[2001:DB8::1]:8000/", "http://[2001:db8::1]:8000"),
            ("http://node.example.:80", "http://node.example"),
            ("https://node.example:443", "https://node.example"),
            ("localhost:8000", "http://localhost:8000"),
            ("127.0.0.1:8001/", "http://127.0.0.1:8001"),
            ("[::1]:8000", "http://[::1]:8000"),
            ("node1", "http://node1"),
        ] {
            assert_eq!(url(given).as_str(), canonical, "{given}");
        }
        assert_eq!(url("http://a:1").join("/status"), "http://a:1/status");
    }

    #[test]
    fn bad_addresses_say_why() {
        assert!(matches!(
            PeerUrl::parse("not a url"),
            Err(PeerUrlError::NotAUrl(_))
        ));
        assert!(matches!(
            PeerUrl::parse("ftp://a:1"),
            Err(PeerUrlError::Scheme(_))
        ));
        assert!(matches!(
            PeerUrl::parse("file:///etc/passwd"),
            Err(PeerUrlError::Scheme(_))
        ));
        for scheme in ["localhost:port", "mailto:someone", "javascript:alert(1)"] {
            assert!(
                matches!(PeerUrl::parse(scheme), Err(PeerUrlError::Scheme(_))),
                "{scheme}"
            );
        }
        for not_an_address in [":8000", "", "a b:80"] {
            assert!(
                matches!(
                    PeerUrl::parse(not_an_address),
                    Err(PeerUrlError::NotAUrl(_))
                ),
                "{not_an_address}"
            );
        }
        assert_eq!(
            PeerUrl::parse("http://u:p@a:1"),
            Err(PeerUrlError::Credentials)
        );
        assert_eq!(
            PeerUrl::parse("http://u@a:1"),
            Err(PeerUrlError::Credentials)
        );
        assert_eq!(
            PeerUrl::parse("http://a:1/?x=1"),
            Err(PeerUrlError::QueryOrFragment)
        );
        for with_path in ["http://a:1/p00", "http://a:1/admin/", "http://a:1//"] {
            assert!(
                matches!(PeerUrl::parse(with_path), Err(PeerUrlError::Path(_))),
                "{with_path}"
            );
        }
        let longest_host = format!("http://{}:8000", "a".repeat(MAX_PEER_URL_BYTES - 12));
        assert!(PeerUrl::parse(&longest_host).is_ok());
        let too_long = format!("http://{}:8000", "a".repeat(MAX_PEER_URL_BYTES - 11));
        assert_eq!(
            PeerUrl::parse(&too_long),
            Err(PeerUrlError::TooLong(MAX_PEER_URL_BYTES + 1))
        );
    }

    #[test]
    fn the_host_ip_is_read_back_from_the_canonical_form() {
        assert_eq!(
            url("http://10.1.2.3:80").ip(),
            Some(IpAddr::from([10, 1, 2, 3]))
        );
        assert_eq!(
            url("http://10.1.2.3").ip(),
            Some(IpAddr::from([10, 1, 2, 3]))
        );
        assert_eq!(
            url("http://[fe80::1]:8000").ip(),
            "fe80::1".parse::<IpAddr>().ok()
        );
        assert_eq!(url("http://node1:8000").ip(), None);
    }
}
