//! Command-line and environment configuration, parsed once into a typed [`Config`].
//!
//! Owns the flags and their defaults (the tutorial's: listen on 127.0.0.1:5000, read from a
//! node at http://127.0.0.1:8000). It does not open anything: `startup` does.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use chainpost_edge::logging::LogFormat;
use chainpost_edge::serve::ServeLimits;
use clap::Parser;

/// How to run the web app. Every flag can also be set from the environment variable shown
/// in `--help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "webapp",
    version,
    about = "The chainpost web app: post, mine and explore a chainpost network in the browser"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "WEBAPP_HOST", default_value = "127.0.0.1")]
    pub(crate) host: String,

    /// Port to listen on; 0 picks a free one (the chosen port is logged).
    #[arg(long, env = "WEBAPP_PORT", default_value_t = 5000)]
    pub port: u16,

    /// A node to read from and post to. Repeat the flag (or separate with commas in
    /// WEBAPP_NODES) for several; the page lets the reader switch between them.
    #[arg(
        long = "node",
        env = "WEBAPP_NODES",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8000",
        value_parser = NodeUrl::parse
    )]
    pub nodes: Vec<NodeUrl>,

    /// Directory holding the CSS and JavaScript served under /static.
    #[arg(long, env = "WEBAPP_STATIC_DIR", default_value = "static")]
    pub(crate) static_dir: PathBuf,

    /// How long to wait for a node's answer before telling the reader it is unreachable.
    #[arg(long = "node-timeout-ms", env = "WEBAPP_NODE_TIMEOUT_MS", default_value = "3000",
          value_parser = parse_millis)]
    pub node_timeout: Duration,

    /// How long "Request to mine" waits for the node to find a block. The node stops
    /// mining when the request goes away, so this is generous.
    #[arg(long = "mine-timeout-secs", env = "WEBAPP_MINE_TIMEOUT_SECS", default_value = "600",
          value_parser = parse_secs)]
    pub(crate) mine_timeout: Duration,

    /// How often an open page asks the node whether anything changed.
    #[arg(long = "poll-interval-ms", env = "WEBAPP_POLL_INTERVAL_MS", default_value = "2000",
          value_parser = parse_millis)]
    pub(crate) poll_interval: Duration,

    /// Log format: human-readable text, or one JSON object per line for log collectors.
    #[arg(long, env = "WEBAPP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Host names the web app answers to (repeatable; `*` for any), against DNS
    /// rebinding; IP addresses are always answered. Default: `localhost` when listening on
    /// loopback, any name otherwise.
    #[arg(
        long = "allowed-host",
        env = "WEBAPP_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub(crate) allowed_hosts: Vec<String>,

    /// Whether a reader may add a node to the list from the page (kept in a cookie, at most
    /// 4, each checked like --node and by a `/status` before it is kept). The web app then
    /// connects wherever a reader says, so the default is on only when it listens on
    /// loopback, where the reader is the one who started it.
    #[arg(long = "reader-nodes", env = "WEBAPP_READER_NODES", value_enum)]
    pub reader_nodes: Option<Switch>,

    /// Most reader connections open at once (lowered to fit the open-files limit); when
    /// full, a newcomer replaces the connection idle longest.
    #[arg(long, env = "WEBAPP_MAX_CONNECTIONS", default_value_t = ServeLimits::default().max_connections,
          value_parser = parse_count)]
    pub(crate) max_connections: usize,

    /// Most reader connections open at once from one IP address.
    #[arg(long, env = "WEBAPP_MAX_CONNECTIONS_PER_ADDRESS",
          default_value_t = ServeLimits::default().max_connections_per_address,
          value_parser = parse_count)]
    max_connections_per_address: usize,

    /// Seconds a connection may take to send a request's headers (also the keep-alive
    /// idle timeout).
    #[arg(long = "header-timeout", env = "WEBAPP_HEADER_TIMEOUT", default_value = "10",
          value_parser = parse_secs)]
    pub header_timeout: Duration,

    /// Seconds a request may take to send its body once its headers arrived.
    #[arg(long = "body-timeout", env = "WEBAPP_BODY_TIMEOUT", default_value = "30",
          value_parser = parse_secs)]
    pub body_timeout: Duration,
}

impl Config {
    /// Configuration for a throwaway web app on a free loopback port, reading from `nodes`,
    /// with the repository's static directory and quick timeouts. For tests and examples.
    pub fn ephemeral(nodes: Vec<NodeUrl>) -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            nodes,
            static_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../static")),
            node_timeout: Duration::from_secs(2),
            mine_timeout: Duration::from_secs(120),
            poll_interval: Duration::from_millis(200),
            log_format: LogFormat::Text,
            allowed_hosts: Vec::new(),
            reader_nodes: None,
            max_connections: ServeLimits::default().max_connections,
            max_connections_per_address: ServeLimits::default().max_connections_per_address,
            header_timeout: ServeLimits::default().header_timeout,
            body_timeout: ServeLimits::default().body_timeout,
        }
    }

    /// Whether readers may add nodes: as `--reader-nodes` says, else only when the web app
    /// listens on loopback (`listening` is where it does).
    pub(crate) fn reader_nodes_allowed(&self, listening: std::net::IpAddr) -> bool {
        match self.reader_nodes {
            Some(switch) => switch == Switch::On,
            None => listening.is_loopback(),
        }
    }

    /// What readers may hold, as these flags set it.
    pub(crate) fn serve_limits(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout: self.header_timeout,
            body_timeout: self.body_timeout,
        }
    }
}

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// The base URL of a node: `http` or `https`, a host, no query, no trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUrl(String);

impl NodeUrl {
    /// Parses and normalizes a node's base URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let url = reqwest::Url::parse(text.trim())
            .map_err(|error| format!("`{text}` is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("`{text}` must start with http:// or https://"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("`{text}` has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("`{text}` must not have a query or fragment"));
        }
        Ok(NodeUrl(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn parse_count(text: &str) -> Result<usize, String> {
    parse_positive(text).map(|count| usize::try_from(count).unwrap_or(usize::MAX))
}

fn parse_millis(text: &str) -> Result<Duration, String> {
    parse_positive(text).map(Duration::from_millis)
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    parse_positive(text).map(Duration::from_secs)
}

fn parse_positive(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(0) => Err("must be greater than 0".into()),
        Ok(value) => Ok(value),
        Err(error) => Err(format!("`{text}` is not a whole number: {error}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_tutorial() {
        let config = Config::try_parse_from(["webapp"]).expect("defaults parse");
        assert_eq!((config.host.as_str(), config.port), ("127.0.0.1", 5000));
        assert_eq!(config.nodes, vec![NodeUrl("http://127.0.0.1:8000".into())]);
        assert_eq!(config.static_dir, PathBuf::from("static"));
    }

    #[test]
    fn the_node_flag_can_be_repeated() {
        let config = Config::try_parse_from([
            "webapp",
            "--node",
            "http://127.0.0.1:8000/",
            "--node",
            "http://127.0.0.1:8001",
        ])
        .expect("parses");
        let nodes: Vec<_> = config.nodes.iter().map(NodeUrl::as_str).collect();
        assert_eq!(nodes, ["http://127.0.0.1:8000", "http://127.0.0.1:8001"]);
    }

    #[test]
    fn node_urls_that_cannot_be_a_node_are_refused() {
        for bad in [
            "127.0.0.1:8000",
            "ftp://host",
            "http://",
            "http://h/?x=1",
            "",
        ] {
            assert!(NodeUrl::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Config::try_parse_from(["webapp", "--node-timeout-ms", "0"]).is_err());
    }

    #[test]
    fn a_node_under_a_path_keeps_its_path() {
        let url = NodeUrl::parse("https://example.org/chain-node/").expect("parses");
        assert_eq!(url.as_str(), "https://example.org/chain-node");
    }
}
