//! What a browser may make a server do on a web page's behalf: nothing, unless the page
//! is the server's own. Shared by the node and the web app.
//!
//! - **Cross-site requests:** a page on another origin can make a visitor's browser send
//!   form posts, `text/plain` bodies and `<img>` GETs to any address the visitor reaches,
//!   without a CORS preflight. Browsers say so: `Sec-Fetch-Site` (Fetch Metadata) and
//!   `Origin`. A request that carries either, naming another origin, is refused; curl,
//!   Python and the tutorial's clients send neither and are unaffected.
//! - **DNS rebinding:** a page can make its own host name resolve to a server on the
//!   visitor's machine, and then read it as same-origin. The `Host` header still names
//!   the page's host, so a server that answers only to the names it is known by is safe.
//!   IP literals are always accepted: rebinding needs a name.
//!
//! Pure: headers in, a verdict out.

use std::fmt;
use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};

/// Why a request from a browser is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrossSiteError {
    /// Fetch Metadata says a page of another origin sent it.
    #[error("refused: a cross-origin browser request (Sec-Fetch-Site: {0})")]
    FetchSite(String),
    /// Its `Origin` is not this server's.
    #[error("refused: a browser request from another origin ({0})")]
    Origin(String),
    /// Its `Host` is not a name this server answers to.
    #[error("refused: this server does not answer to the host name {0:?} (see --allowed-hosts)")]
    Host(String),
}

/// Whether `headers` are those of a browser request sent by a page of another origin
/// than the one the request is addressed to.
pub fn check_same_origin(headers: &HeaderMap) -> Result<(), CrossSiteError> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("invalid");
        // "same-site" is another port or subdomain of the same site: another origin.
        if !matches!(site, "same-origin" | "none") {
            return Err(CrossSiteError::FetchSite(truncated(site)));
        }
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("invalid");
    let host = headers
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("");
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match origin_host {
        Some(origin_host) if !host.is_empty() && origin_host.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(CrossSiteError::Origin(truncated(origin))),
    }
}

fn truncated(text: &str) -> String {
    text.chars().take(100).collect()
}

/// The host names a server answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedHosts {
    /// Any name: for servers reached by names nobody can list in advance.
    Any,
    /// These names (lower case, no port), and any IP literal.
    Names(Vec<String>),
}

impl AllowedHosts {
    /// The default for a server listening on `bind`: on loopback, which only this
    /// machine's browsers reach, `localhost` and IP literals; elsewhere any name.
    pub fn default_for(bind: IpAddr) -> Self {
        if bind.is_loopback() {
            AllowedHosts::Names(vec!["localhost".to_owned()])
        } else {
            AllowedHosts::Any
        }
    }

    /// From a list of names; `*` among them means any.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut allowed = Vec::new();
        for name in names {
            let name = normalized_name(name);
            if name == "*" {
                return AllowedHosts::Any;
            }
            if !name.is_empty() {
                allowed.push(name);
            }
        }
        AllowedHosts::Names(allowed)
    }

    /// Adds `name` (no-op when any name is allowed).
    pub fn allow(&mut self, name: &str) {
        if let AllowedHosts::Names(names) = self {
            let name = normalized_name(name);
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }

    /// Whether a request whose `Host` header is `headers`' may be answered. A request
    /// without one (HTTP/1.0) is answered: no browser sends that.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), CrossSiteError> {
        let AllowedHosts::Names(names) = self else {
            return Ok(());
        };
        let Some(host) = headers.get(HOST) else {
            return Ok(());
        };
        let host = host.to_str().unwrap_or("");
        let name = host_name(host);
        if name.parse::<IpAddr>().is_ok() || names.contains(&name) {
            Ok(())
        } else {
            Err(CrossSiteError::Host(truncated(host)))
        }
    }
}

impl fmt::Display for AllowedHosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowedHosts::Any => f.write_str("any host name"),
            AllowedHosts::Names(names) => write!(f, "IP addresses and {}", names.join(", ")),
        }
    }
}

/// The name part of a `Host` header: no port, no brackets, lower case, no trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    normalized_name(name)
}

fn normalized_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn clients_that_are_not_browsers_pass() {
        assert_eq!(
            check_same_origin(&headers(&[("host", "127.0.0.1:8000")])),
            Ok(())
        );
        assert_eq!(check_same_origin(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn a_page_of_the_same_origin_passes() {
        let same = headers(&[
            ("host", "127.0.0.1:5000"),
            ("origin", "http://127.0.0.1:5000"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(check_same_origin(&same), Ok(()));
        let typed = headers(&[("host", "node:8000"), ("sec-fetch-site", "none")]);
        assert_eq!(check_same_origin(&typed), Ok(()));
    }

    #[test]
    fn pages_of_other_origins_are_refused() {
        for refused in [
            headers(&[("host", "127.0.0.1:8000"), ("sec-fetch-site", "cross-site")]),
            headers(&[("host", "127.0.0.1:8000"), ("sec-fetch-site", "same-site")]),
            headers(&[
                ("host", "127.0.0.1:8000"),
                ("origin", "http://evil.example"),
            ]),
            headers(&[
                ("host", "127.0.0.1:8000"),
                ("origin", "http://127.0.0.1:5000"),
            ]),
            headers(&[("host", "127.0.0.1:8000"), ("origin", "null")]),
            headers(&[("origin", "http://127.0.0.1:8000")]),
        ] {
            assert!(check_same_origin(&refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn a_loopback_server_answers_ip_literals_and_localhost_only() {
        let allowed = AllowedHosts::default_for(IpAddr::from([127, 0, 0, 1]));
        for host in [
            "127.0.0.1:8000",
            "[::1]:8000",
            "localhost:8000",
            "LOCALHOST.:1",
            "10.0.0.5",
        ] {
            assert_eq!(allowed.check(&headers(&[("host", host)])), Ok(()), "{host}");
        }
        for host in [
            "evil.example:8000",
            "localhost.evil.example",
            "127.0.0.1.nip.io:8000",
        ] {
            assert!(
                allowed.check(&headers(&[("host", host)])).is_err(),
                "{host}"
            );
        }
        assert_eq!(allowed.check(&HeaderMap::new()), Ok(()));
    }

    #[test]
    fn other_binds_answer_any_name_unless_told() {
        let open = AllowedHosts::default_for(IpAddr::from([0, 0, 0, 0]));
        assert_eq!(open.check(&headers(&[("host", "node1:8000")])), Ok(()));
        let mut listed = AllowedHosts::from_names(["Node.Example", ""]);
        listed.allow("node1");
        assert_eq!(
            listed.check(&headers(&[("host", "node.example:8000")])),
            Ok(())
        );
        assert_eq!(listed.check(&headers(&[("host", "node1")])), Ok(()));
        assert!(listed.check(&headers(&[("host", "other:8000")])).is_err());
        assert_eq!(AllowedHosts::from_names(["a", "*"]), AllowedHosts::Any);
    }
}
