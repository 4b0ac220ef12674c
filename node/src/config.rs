//! Command-line and environment configuration, parsed once into a typed [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use clap::builder::TypedValueParser as _;

use crate::p2p::peers::DEFAULT_MAX_PEERS;
use crate::p2p::seeds::SeedName;
use chainpost_chain::mempool::MempoolLimits;
use chainpost_chain::params::ChainParams;
use chainpost_chain::retarget::{self, Retarget};
use chainpost_edge::serve::ServeLimits;

pub(crate) use chainpost_edge::logging::LogFormat;

/// How to run a node. Every flag can also be set from the environment variable shown in
/// `--help`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "node",
    version,
    about = "A chainpost node: a proof-of-work chain of posts"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "CHAINPOST_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on; 0 picks a free one (the chosen port is logged).
    #[arg(long, env = "CHAINPOST_PORT", default_value_t = 8000)]
    pub port: u16,

    /// Where to keep the chain. Defaults to ./data/node-<port>.
    #[arg(long, env = "CHAINPOST_DATA_DIR")]
    pub data_dir: Option<PathBuf>,

    /// Leading zero bits every block hash needs; all nodes of a network must agree.
    #[arg(long, env = "CHAINPOST_DIFFICULTY", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(chainpost_chain::pow::MAX_DIFFICULTY)))]
    pub difficulty: u32,

    /// Retarget the difficulty toward this block interval, in seconds (a network-wide rule;
    /// --difficulty is then where it starts and its floor). Fixed difficulty if unset.
    #[arg(long, env = "CHAINPOST_TARGET_BLOCK_TIME",
          value_parser = clap::value_parser!(u64).range(1..=retarget::MAX_TARGET_SECS))]
    pub target_block_time: Option<u64>,

    /// Blocks between two retargets (with --target-block-time; a network-wide rule).
    #[arg(long, env = "CHAINPOST_RETARGET_INTERVAL", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(retarget::MIN_INTERVAL..=retarget::MAX_INTERVAL))]
    pub retarget_interval: u64,

    /// Keep everything in memory: nothing survives a restart.
    #[arg(long, env = "CHAINPOST_IN_MEMORY")]
    pub in_memory: bool,

    /// Refuse posts without a valid Ed25519 signature (a network-wide rule).
    #[arg(long, env = "CHAINPOST_REQUIRE_SIGNATURES")]
    pub require_signatures: bool,

    /// A node to join at start-up (repeatable); joining retries while it is unreachable.
    #[arg(long = "peer", env = "CHAINPOST_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,

    /// A DNS name whose A and AAAA records list nodes to peer with, `NAME[:PORT]` (port
    /// 8000 unless given; repeatable): a Kubernetes headless Service, Swarm's
    /// `tasks.<service>`, a seed of Bitcoin's kind. Asked again every sync round; each
    /// address goes through the same handshake and limits as any other.
    #[arg(long = "seed-dns", env = "CHAINPOST_SEED_DNS", value_delimiter = ',')]
    pub seed_dns: Vec<SeedName>,

    /// Host names this node answers to (repeatable; `*` for any), against DNS rebinding;
    /// IP addresses are always answered. Default: `localhost` when listening on loopback,
    /// any name otherwise; the `--advertise` host is always added.
    #[arg(
        long = "allowed-host",
        env = "CHAINPOST_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// The URL other nodes reach this one at (behind Docker or NAT the listening address
    /// is not it). Defaults to http://<host>:<port>.
    #[arg(long, env = "CHAINPOST_ADVERTISE")]
    pub advertise: Option<String>,

    /// Seconds between rounds of consensus with every peer.
    #[arg(long, env = "CHAINPOST_SYNC_INTERVAL", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub sync_interval: u64,

    /// Mine continuously whenever posts are pending (the tutorial mines only on request).
    #[arg(long, env = "CHAINPOST_MINE")]
    pub mine: bool,

    /// Mine blocks even when no post is pending: `/mine` then always mines, and `--mine`
    /// mines nonstop (research mode; empty blocks still extend the chain's work).
    #[arg(long, env = "CHAINPOST_MINE_EMPTY_BLOCKS")]
    pub mine_empty_blocks: bool,

    /// Most hashes per second this node's mining may compute, all threads together (research
    /// mode gives each node a share of a network's hash power this way). Unlimited if unset.
    #[arg(long, env = "CHAINPOST_HASH_RATE", value_parser = clap::value_parser!(u64).range(1..))]
    pub hash_rate: Option<u64>,

    /// Simulated mining (research mode): instead of hashing at --hash-rate, draw when each
    /// block is found from an exponential distribution with the mean such a search would
    /// take, seeded by this number, then find its nonce at once. Blocks are real and valid;
    /// the discovery times are reproducible and cost no CPU. Needs --hash-rate.
    #[arg(long, env = "CHAINPOST_SIMULATED_MINING_SEED", requires = "hash_rate")]
    pub simulated_mining_seed: Option<u64>,

    /// Most peers this node keeps; nodes that register beyond it are answered but not kept.
    #[arg(long, env = "CHAINPOST_MAX_PEERS", default_value_t = DEFAULT_MAX_PEERS,
          value_parser = clap::value_parser!(u64)
              .range(1..=1_024)
              .map(|count| usize::try_from(count).unwrap_or(DEFAULT_MAX_PEERS)))]
    pub max_peers: usize,

    /// Link only with the --peer nodes and the nodes that register with this one; do not
    /// adopt peers' peers (for fixed topologies in experiments).
    #[arg(long, env = "CHAINPOST_NO_PEER_DISCOVERY")]
    pub no_peer_discovery: bool,

    /// Refuse peers at private, loopback, link-local and other non-public addresses (and
    /// host names that resolve only to such), so no stranger can make this node call into
    /// its own network. For nodes on the public internet; local networks need it off.
    #[arg(long, env = "CHAINPOST_PUBLIC_PEERS_ONLY")]
    pub public_peers_only: bool,

    /// Log format: human-readable text, or one JSON object per line for log collectors.
    #[arg(long, env = "CHAINPOST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Append one JSON line per block mined, block connected and reorganization to this
    /// file (versioned; research mode reads it).
    #[arg(long, env = "CHAINPOST_EVENTS")]
    pub events: Option<PathBuf>,

    /// Threads that search for proof of work. Defaults to one per core.
    #[arg(long, env = "CHAINPOST_MINING_THREADS",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub mining_threads: Option<u16>,

    /// Most posts pending at once; further posts get 503 until a block makes room.
    #[arg(long, env = "CHAINPOST_MAX_PENDING", default_value_t = MempoolLimits::default().max_count,
          value_parser = clap::value_parser!(u64)
              .range(1..=1_000_000)
              .map(|count| usize::try_from(count).unwrap_or(usize::MAX)))]
    pub max_pending: usize,

    /// MiB of stored best-chain blocks kept in memory, the newest; older ones are read back
    /// from the store when a reorganization needs them. Side branches, the tip and blocks
    /// not yet durable are kept besides. Counted in stored bytes: decoded, a block of short
    /// posts takes several times as much (each post's strings are allocations of their
    /// own), and with 16 MiB a node that had just synced 1,000,000 posts held 258-276 MiB
    /// against 162-193 with 4 (the history benchmark).
    #[arg(long = "block-cache-mib", env = "CHAINPOST_BLOCK_CACHE_MIB", default_value = "4",
          value_parser = clap::value_parser!(u64).range(0..=65_536)
              .map(|mib| usize::try_from(mib << 20).unwrap_or(usize::MAX)))]
    pub block_cache_bytes: usize,

    /// Most client connections open at once (lowered to fit the open-files limit); when
    /// full, a newcomer replaces the connection idle longest.
    #[arg(long, env = "CHAINPOST_MAX_CONNECTIONS", default_value_t = ServeLimits::default().max_connections,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000)
              .map(|count| usize::try_from(count).unwrap_or(usize::MAX)))]
    pub max_connections: usize,

    /// Most client connections open at once from one IP address.
    #[arg(long, env = "CHAINPOST_MAX_CONNECTIONS_PER_ADDRESS",
          default_value_t = ServeLimits::default().max_connections_per_address,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000)
              .map(|count| usize::try_from(count).unwrap_or(usize::MAX)))]
    pub max_connections_per_address: usize,

    /// Seconds a connection may take to send a request's headers (also the keep-alive
    /// idle timeout).
    #[arg(long, env = "CHAINPOST_HEADER_TIMEOUT", default_value_t = ServeLimits::default().header_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout: u64,

    /// Seconds a request may take to send its body once its headers arrived.
    #[arg(long, env = "CHAINPOST_BODY_TIMEOUT", default_value_t = ServeLimits::default().body_timeout.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout: u64,
}

impl Config {
    /// What clients may hold, as these flags set it.
    pub(crate) fn serve_limits(&self) -> ServeLimits {
        ServeLimits {
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
            header_timeout: Duration::from_secs(self.header_timeout),
            body_timeout: Duration::from_secs(self.body_timeout),
        }
    }

    /// The network rules these flags choose.
    pub(crate) fn chain_params(&self) -> Result<ChainParams, chainpost_chain::params::ParamsError> {
        let params = ChainParams::new(self.difficulty, self.require_signatures)?;
        match self.target_block_time {
            Some(target_block_secs) => params.with_retarget(Retarget {
                target_block_secs,
                interval: self.retarget_interval,
            }),
            None => Ok(params),
        }
    }

    /// Configuration for a throwaway node on a free loopback port.
    pub fn ephemeral(difficulty: u32) -> Self {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            data_dir: None,
            difficulty,
            target_block_time: None,
            retarget_interval: 20,
            in_memory: true,
            require_signatures: false,
            peers: Vec::new(),
            seed_dns: Vec::new(),
            allowed_hosts: Vec::new(),
            advertise: None,
            sync_interval: 30,
            mine: false,
            mine_empty_blocks: false,
            hash_rate: None,
            simulated_mining_seed: None,
            no_peer_discovery: false,
            public_peers_only: false,
            max_peers: DEFAULT_MAX_PEERS,
            log_format: LogFormat::Text,
            events: None,
            mining_threads: None,
            max_pending: MempoolLimits::default().max_count,
            block_cache_bytes: 4 << 20,
            max_connections: ServeLimits::default().max_connections,
            max_connections_per_address: ServeLimits::default().max_connections_per_address,
            header_timeout: ServeLimits::default().header_timeout.as_secs(),
            body_timeout: ServeLimits::default().body_timeout.as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_tutorial() {
        let config = Config::try_parse_from(["node"]).expect("defaults parse");
        assert_eq!(config.host, "127.0.0.1");
        assert_eq!(config.port, 8000);
        assert_eq!(config.difficulty, 16);
        assert!(!config.in_memory && !config.require_signatures);
        assert_eq!(config.max_pending, 100_000);
        assert_eq!(config.block_cache_bytes, 4 << 20);
    }

    #[test]
    fn the_block_cache_is_given_in_mib() {
        let config = Config::try_parse_from(["node", "--block-cache-mib", "0"]).expect("parses");
        assert_eq!(config.block_cache_bytes, 0);
        let config = Config::try_parse_from(["node", "--block-cache-mib", "3"]).expect("parses");
        assert_eq!(config.block_cache_bytes, 3 << 20);
        assert!(Config::try_parse_from(["node", "--block-cache-mib", "65537"]).is_err());
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(Config::try_parse_from(["node", "--difficulty", "65"]).is_err());
        assert!(Config::try_parse_from(["node", "--port", "70000"]).is_err());
        assert!(Config::try_parse_from(["node", "--mining-threads", "0"]).is_err());
        assert!(Config::try_parse_from(["node", "--max-pending", "0"]).is_err());
        assert!(Config::try_parse_from(["node", "--target-block-time", "0"]).is_err());
        assert!(Config::try_parse_from(["node", "--target-block-time", "86401"]).is_err());
        assert!(Config::try_parse_from(["node", "--retarget-interval", "1"]).is_err());
        assert!(Config::try_parse_from(["node", "--max-peers", "0"]).is_err());
        assert!(Config::try_parse_from(["node", "--max-peers", "1025"]).is_err());
        assert!(Config::try_parse_from(["node", "--retarget-interval", "10001"]).is_err());
        assert!(Config::try_parse_from(["node", "--max-connections", "0"]).is_err());
        assert!(Config::try_parse_from(["node", "--header-timeout", "0"]).is_err());
        assert!(Config::try_parse_from(["node", "--body-timeout", "0"]).is_err());
    }

    #[test]
    fn simulated_mining_needs_a_hash_rate() {
        assert!(Config::try_parse_from(["node", "--simulated-mining-seed", "7"]).is_err());
        let config = Config::try_parse_from([
            "node",
            "--simulated-mining-seed",
            "7",
            "--hash-rate",
            "1000",
        ])
        .expect("parses");
        assert_eq!(config.simulated_mining_seed, Some(7));
    }

    #[test]
    fn dns_seeds_are_names_with_an_optional_port_and_repeat() {
        let config = Config::try_parse_from([
            "node",
            "--seed-dns",
            "tasks.chainpost_node",
            "--seed-dns",
            "nodes.example:8001,other.example",
        ])
        .expect("parses");
        let seeds: Vec<String> = config.seed_dns.iter().map(ToString::to_string).collect();
        assert_eq!(
            seeds,
            [
                "tasks.chainpost_node:8000",
                "nodes.example:8001",
                "other.example:8000"
            ]
        );
        let error = Config::try_parse_from(["node", "--seed-dns", "http://seed.example"])
            .expect_err("a URL is not a name");
        assert!(error.to_string().contains("NAME:PORT"), "{error}");
    }

    #[test]
    fn a_target_block_time_turns_retargeting_on() {
        let fixed = Config::try_parse_from(["node"]).expect("parses");
        assert_eq!(fixed.chain_params().expect("valid").retarget, None);
        let config = Config::try_parse_from([
            "node",
            "--target-block-time",
            "5",
            "--retarget-interval",
            "30",
        ])
        .expect("parses");
        assert_eq!(
            config.chain_params().expect("valid").retarget,
            Some(Retarget {
                target_block_secs: 5,
                interval: 30
            })
        );
    }
}
