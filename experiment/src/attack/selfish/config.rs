//! The selfish-mining run's parameters: a small TOML file, overridden from the command
//! line, checked once into a [`SelfishConfig`].
//!
//! **Boundary:** parsing and validation only; every error names the parameter at fault.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::attack::network::MAX_BLOCKS_A_NETWORK;
use crate::config::{
    ConfigError, checked_difficulty, checked_minority_shares, invalid, non_negative, read_toml,
};

/// Most honest nodes: each is a process, and every honest block waits for all of them.
const MAX_HONEST_NODES: usize = 8;

/// When the pool's matching block reaches the honest nodes, which sets γ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Arrival {
    /// After the honest block has reached every honest node: each keeps the honest block
    /// it saw first, so γ = 0.
    Last,
    /// At once, straight to every honest node, while the honest block is still on its
    /// links (`latency_ms`): every honest node but its finder sees the pool's block first,
    /// so γ = (n − 1)/n of n equal honest nodes (1/2 for two).
    First,
}

impl Arrival {
    /// The share of honest miners that build on the pool's block in a tie, by design.
    pub fn gamma(self, honest_nodes: usize) -> f64 {
        match self {
            Arrival::Last => 0.0,
            Arrival::First => (honest_nodes - 1) as f64 / honest_nodes as f64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Arrival::Last => "last",
            Arrival::First => "first",
        }
    }
}

/// Parameters as written, every one optional.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct SelfishSettings {
    /// The pool's shares of the hash power to run, each above 0 and below 0.5
    /// [default: 0.1,0.15,...,0.45].
    #[arg(long, value_delimiter = ',')]
    pub pool_shares: Option<Vec<f64>>,
    /// When the pool's matching block reaches the honest nodes, one run per value
    /// [default: last,first].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub pool_block_arrives: Option<Vec<Arrival>>,
    /// Blocks found in each run, by the pool and the honest nodes together [default: 1000].
    #[arg(long)]
    pub blocks: Option<u64>,
    /// Nodes of the honest network, linked in a mesh, 2 to 8 [default: 2].
    #[arg(long)]
    pub honest_nodes: Option<usize>,
    /// One-way latency of the honest network's links, in milliseconds: the head start a
    /// pool block sent straight away has [default: 50].
    #[arg(long)]
    pub latency_ms: Option<f64>,
    /// Leading zero bits of proof of work [default: 8].
    #[arg(long)]
    pub difficulty: Option<u32>,
    /// Seed of every random choice of the run [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory the run writes its logs, record and results to.
    #[arg(long = "out")]
    pub out_dir: Option<PathBuf>,
}

impl SelfishSettings {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// These settings with every parameter `overrides` gives replaced by its value.
    pub fn overridden_by(self, overrides: SelfishSettings) -> SelfishSettings {
        SelfishSettings {
            pool_shares: overrides.pool_shares.or(self.pool_shares),
            pool_block_arrives: overrides.pool_block_arrives.or(self.pool_block_arrives),
            blocks: overrides.blocks.or(self.blocks),
            honest_nodes: overrides.honest_nodes.or(self.honest_nodes),
            latency_ms: overrides.latency_ms.or(self.latency_ms),
            difficulty: overrides.difficulty.or(self.difficulty),
            seed: overrides.seed.or(self.seed),
            out_dir: overrides.out_dir.or(self.out_dir),
        }
    }
}

/// A checked selfish-mining run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfishConfig {
    pub pool_shares: Vec<f64>,
    pub pool_block_arrives: Vec<Arrival>,
    pub blocks: u64,
    pub honest_nodes: usize,
    pub latency_ms: f64,
    pub difficulty: u32,
    pub seed: u64,
    pub out_dir: PathBuf,
}

impl SelfishConfig {
    /// Checks `settings`, filling in defaults; the error names the first bad parameter.
    pub fn from_settings(settings: SelfishSettings) -> Result<Self, ConfigError> {
        let pool_shares = checked_minority_shares(
            "pool_shares",
            settings
                .pool_shares
                .unwrap_or_else(|| (2..=9).map(|step| f64::from(step) * 0.05).collect()),
        )?;
        let pool_block_arrives = settings
            .pool_block_arrives
            .unwrap_or_else(|| vec![Arrival::Last, Arrival::First]);
        if pool_block_arrives.is_empty() {
            return Err(invalid("pool_block_arrives", "give last, first or both"));
        }
        let blocks = settings.blocks.unwrap_or(1000);
        if !(1..=MAX_BLOCKS_A_NETWORK).contains(&blocks) {
            return Err(invalid(
                "blocks",
                format!("{blocks} is out of range; 1 to {MAX_BLOCKS_A_NETWORK}"),
            ));
        }
        let honest_nodes = settings.honest_nodes.unwrap_or(2);
        if !(2..=MAX_HONEST_NODES).contains(&honest_nodes) {
            return Err(invalid(
                "honest_nodes",
                format!(
                    "{honest_nodes} is out of range; 2 to {MAX_HONEST_NODES} (one honest node \
                     could not split in a tie)"
                ),
            ));
        }
        let latency_ms = non_negative("latency_ms", settings.latency_ms.unwrap_or(50.0))?;
        if latency_ms == 0.0 && pool_block_arrives.contains(&Arrival::First) {
            return Err(invalid(
                "latency_ms",
                "0 leaves the pool's block no head start, so `first` would not set γ; give \
                 the honest links some latency",
            ));
        }
        let difficulty = checked_difficulty(settings.difficulty.unwrap_or(8))?;
        let out_dir = settings
            .out_dir
            .ok_or_else(|| invalid("out_dir", "missing; give --out DIR or out_dir in the file"))?;
        Ok(SelfishConfig {
            pool_shares,
            pool_block_arrives,
            blocks,
            honest_nodes,
            latency_ms,
            difficulty,
            seed: settings.seed.unwrap_or(1),
            out_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml: &str) -> Result<SelfishConfig, ConfigError> {
        SelfishConfig::from_settings(toml::from_str(toml).expect("valid TOML"))
    }

    #[test]
    fn defaults_sweep_the_pool_share_in_both_arrivals() {
        let config = check(r#"out_dir = "runs/selfish""#).expect("valid");
        assert_eq!(config.pool_shares.len(), 8);
        assert!((config.pool_shares[0] - 0.1).abs() < 1e-12);
        assert!((config.pool_shares[7] - 0.45).abs() < 1e-12);
        assert_eq!(config.pool_block_arrives, [Arrival::Last, Arrival::First]);
        assert_eq!((config.blocks, config.honest_nodes), (1000, 2));
        assert_eq!(Arrival::First.gamma(2), 0.5);
        assert_eq!(Arrival::Last.gamma(4), 0.0);
    }

    #[test]
    fn errors_name_the_parameter_at_fault() {
        for (toml, field) in [
            ("pool_shares = [0.5]", "pool_shares"),
            ("pool_shares = []", "pool_shares"),
            ("pool_block_arrives = []", "pool_block_arrives"),
            ("blocks = 0", "blocks"),
            ("honest_nodes = 1", "honest_nodes"),
            ("latency_ms = -5.0", "latency_ms"),
            ("latency_ms = 0.0", "latency_ms"),
        ] {
            match check(&format!("out_dir = \"x\"\n{toml}")) {
                Err(ConfigError::Invalid { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{toml}: {other:?}"),
            }
        }
        assert!(toml::from_str::<SelfishSettings>("pool_block_arrives = [\"soon\"]").is_err());
    }
}
