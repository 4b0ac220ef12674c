//! An experiment's parameters: read from a small TOML file, overridden from the command
//! line, then checked once into an [`ExperimentConfig`].
//!
//! **Boundary:** parsing and validation only; nothing here starts a node or reads a clock.
//! Every error names the parameter at fault, spelled as in the TOML file.

use std::path::{Path, PathBuf};

use chainpost_chain::retarget;
use serde::{Deserialize, Serialize};

use crate::regions::{Placement, Regions};
use crate::topology::Topology;

/// Fewest nodes a run may have.
const MIN_NODES: usize = 3;
/// Most nodes a run may have: each is a process on this machine.
const MAX_NODES: usize = 200;
/// Peers each node of a run keeps at most (its `--max-peers`).
pub(crate) const MAX_PEERS: usize = 64;

/// The shape of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum TopologyKind {
    /// Every node linked with every other.
    Mesh,
    /// Each node linked with the next, the last with the first.
    Ring,
    /// A random connected graph where each node has at least `degree` links.
    Random,
}

impl TopologyKind {
    /// The name used in files and on the command line.
    fn name(self) -> &'static str {
        match self {
            TopologyKind::Mesh => "mesh",
            TopologyKind::Ring => "ring",
            TopologyKind::Random => "random",
        }
    }
}

/// Parameters as written: every one optional, so the file and the command line can each
/// give some. The same struct is the TOML schema and the command-line overrides.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Number of nodes, 3 to 200 [default: 5].
    #[arg(long)]
    pub nodes: Option<usize>,
    /// How nodes are linked [default: mesh].
    #[arg(long, value_enum)]
    pub topology: Option<TopologyKind>,
    /// Least links per node of the `random` topology.
    #[arg(long)]
    pub degree: Option<usize>,
    /// One-way latency of every link, in milliseconds [default: 50].
    #[arg(long)]
    pub latency_ms: Option<f64>,
    /// Each message's latency varies uniformly by up to this much either way, in
    /// milliseconds [default: 0].
    #[arg(long)]
    pub jitter_ms: Option<f64>,
    /// Probability that a link loses a request, 0 to 1 [default: 0].
    #[arg(long)]
    pub loss: Option<f64>,
    /// Bits per second each direction of every link carries, in megabits (10^6 bits); a
    /// message waits for the ones before it and takes its size over this [default:
    /// unlimited].
    #[arg(long)]
    pub bandwidth_mbps: Option<f64>,
    /// Network-wide block interval the hash rates are chosen for, in seconds [default: 10].
    #[arg(long)]
    pub block_interval_secs: Option<f64>,
    /// Leading zero bits of proof of work [default: 16].
    #[arg(long)]
    pub difficulty: Option<u32>,
    /// Each node's share of the hash power, one per node, normalized [default: equal].
    #[arg(long, value_delimiter = ',')]
    pub hash_shares: Option<Vec<f64>>,
    /// How long the nodes mine, in seconds [default: 60].
    #[arg(long)]
    pub duration_secs: Option<f64>,
    /// Mean rate of posts sent to the network, per second (Poisson arrivals) [default: 1].
    #[arg(long)]
    pub posts_per_sec: Option<f64>,
    /// Characters of each post's content, 80 to 1,000: its number, then padding, so
    /// blocks grow with it [default: the number alone, about 40].
    #[arg(long)]
    pub post_chars: Option<usize>,
    /// Seed of every random choice of the run [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Longest wait for the nodes to agree on a tip after mining stops, including the
    /// blocks mined to decide a split, in seconds [default: 30].
    #[arg(long)]
    pub settle_timeout_secs: Option<f64>,
    /// Seconds between each node's rounds of sync with its peers [default: 5].
    #[arg(long)]
    pub sync_interval_secs: Option<u64>,
    /// Block time the nodes' difficulty retargeting aims for, in seconds (passed to the
    /// nodes as `--target-block-time`; retargeting is off unless set).
    #[arg(long)]
    pub target_block_time_secs: Option<u64>,
    /// Blocks between difficulty retargets (passed to the nodes as `--retarget-interval`).
    #[arg(long)]
    pub retarget_interval: Option<u64>,
    /// Simulated mining: each node draws when it finds a block from a seeded exponential
    /// distribution with its hash rate's mean, instead of hashing (its nodes run with
    /// `--simulated-mining-seed`) [default: false].
    #[arg(long)]
    pub simulated_mining: Option<bool>,
    /// Directory the run writes its logs, record and results to.
    #[arg(long = "out")]
    pub out_dir: Option<PathBuf>,
    /// The latency sweep (`experiment sweep`); only in the file.
    #[arg(skip)]
    pub sweep: Option<SweepSettings>,
    /// Where the nodes are and the latency between places; only in the file.
    #[arg(skip)]
    pub regions: Option<RegionSettings>,
}

/// The `[sweep]` table of a configuration file: one of its keys.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SweepSettings {
    /// One run per one-way link latency, in milliseconds.
    latency_ms: Option<Vec<f64>>,
    /// One run per mean post rate, so that blocks grow from run to run.
    posts_per_sec: Option<Vec<f64>>,
    /// One run per network block interval, in seconds.
    block_interval_secs: Option<Vec<f64>>,
}

/// A parameter a sweep varies from run to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// One-way link latency, in milliseconds: stale rate against propagation delay.
    LatencyMs,
    /// Network block interval, in seconds: stale rate against d/T where latency is not
    /// one number (regions).
    BlockIntervalSecs,
    /// Mean posts per second: stale rate against block size (with a bandwidth).
    PostsPerSec,
}

impl Swept {
    /// Its list, as the `[sweep]` table spells it.
    fn key(self) -> &'static str {
        match self {
            Swept::LatencyMs => "sweep.latency_ms",
            Swept::BlockIntervalSecs => "sweep.block_interval_secs",
            Swept::PostsPerSec => "sweep.posts_per_sec",
        }
    }

    /// What its values are, in an error.
    fn values_name(self) -> &'static str {
        match self {
            Swept::LatencyMs => "latencies",
            Swept::BlockIntervalSecs => "block intervals",
            Swept::PostsPerSec => "post rates",
        }
    }

    /// Sets it to `value` in `settings`.
    fn set(self, settings: &mut Settings, value: f64) {
        let parameter = match self {
            Swept::LatencyMs => &mut settings.latency_ms,
            Swept::BlockIntervalSecs => &mut settings.block_interval_secs,
            Swept::PostsPerSec => &mut settings.posts_per_sec,
        };
        *parameter = Some(value);
    }

    /// The subdirectory of the run at `value`.
    fn directory(self, value: f64) -> String {
        match self {
            Swept::LatencyMs => format!("latency-{value}ms"),
            Swept::BlockIntervalSecs => format!("interval-{value}s"),
            Swept::PostsPerSec => format!("posts-{value}-per-sec"),
        }
    }
}

/// What a sweep varies, and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepAxis {
    pub swept: Swept,
    pub values: Vec<f64>,
}

impl SweepAxis {
    /// Each run's settings: `base` with the swept parameter set, writing to its own
    /// subdirectory of `out_dir`.
    pub fn runs(&self, base: &Settings, out_dir: &Path) -> Vec<Settings> {
        self.values
            .iter()
            .map(|&value| {
                let mut settings = Settings {
                    out_dir: Some(out_dir.join(self.swept.directory(value))),
                    ..base.clone()
                };
                self.swept.set(&mut settings, value);
                settings
            })
            .collect()
    }
}

impl Settings {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// These settings with every parameter `overrides` gives replaced by its value.
    pub fn overridden_by(self, overrides: Settings) -> Settings {
        Settings {
            nodes: overrides.nodes.or(self.nodes),
            topology: overrides.topology.or(self.topology),
            degree: overrides.degree.or(self.degree),
            latency_ms: overrides.latency_ms.or(self.latency_ms),
            jitter_ms: overrides.jitter_ms.or(self.jitter_ms),
            loss: overrides.loss.or(self.loss),
            bandwidth_mbps: overrides.bandwidth_mbps.or(self.bandwidth_mbps),
            block_interval_secs: overrides.block_interval_secs.or(self.block_interval_secs),
            difficulty: overrides.difficulty.or(self.difficulty),
            hash_shares: overrides.hash_shares.or(self.hash_shares),
            duration_secs: overrides.duration_secs.or(self.duration_secs),
            posts_per_sec: overrides.posts_per_sec.or(self.posts_per_sec),
            post_chars: overrides.post_chars.or(self.post_chars),
            seed: overrides.seed.or(self.seed),
            settle_timeout_secs: overrides.settle_timeout_secs.or(self.settle_timeout_secs),
            sync_interval_secs: overrides.sync_interval_secs.or(self.sync_interval_secs),
            target_block_time_secs: overrides
                .target_block_time_secs
                .or(self.target_block_time_secs),
            retarget_interval: overrides.retarget_interval.or(self.retarget_interval),
            simulated_mining: overrides.simulated_mining.or(self.simulated_mining),
            out_dir: overrides.out_dir.or(self.out_dir),
            sweep: overrides.sweep.or(self.sweep),
            regions: overrides.regions.or(self.regions),
        }
    }

    /// What a sweep varies: `latencies` or `post_rates` from the command line if given,
    /// else the one key of the file's `[sweep]` table.
    pub fn sweep_axis(
        &self,
        latencies: Option<Vec<f64>>,
        post_rates: Option<Vec<f64>>,
    ) -> Result<SweepAxis, ConfigError> {
        let given = if latencies.is_some() || post_rates.is_some() {
            vec![
                (Swept::LatencyMs, latencies),
                (Swept::PostsPerSec, post_rates),
            ]
        } else {
            let table = self.sweep.clone().unwrap_or_default();
            vec![
                (Swept::LatencyMs, table.latency_ms),
                (Swept::PostsPerSec, table.posts_per_sec),
                (Swept::BlockIntervalSecs, table.block_interval_secs),
            ]
        };
        let mut given = given.into_iter().filter_map(|(swept, values)| {
            Some(SweepAxis {
                swept,
                values: values?,
            })
        });
        let axis = match (given.next(), given.next()) {
            (Some(axis), None) => axis,
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "sweep",
                    "give one of latency_ms (--latencies), posts_per_sec (--post-rates) and \
                     block_interval_secs; a sweep varies one parameter",
                ));
            }
            (None, _) => {
                return Err(invalid(
                    "sweep",
                    "nothing to sweep; give [sweep] latency_ms = [...] (or --latencies), \
                     posts_per_sec = [...] (or --post-rates) or block_interval_secs = [...]",
                ));
            }
        };
        if axis.values.is_empty() {
            return Err(invalid(
                axis.swept.key(),
                format!("no {} to sweep", axis.swept.values_name()),
            ));
        }
        if axis.swept == Swept::PostsPerSec && self.bandwidth_mbps.is_none() {
            return Err(invalid(
                "bandwidth_mbps",
                "a sweep of post rates measures stale rate against block size, which only \
                 a link bandwidth makes matter; give bandwidth_mbps",
            ));
        }
        Ok(axis)
    }
}

/// Why a configuration cannot be used.
///
/// Messages leave the cause to [`std::error::Error::source`], so that `{:#}` in `main`
/// shows each cause once.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("cannot parse {path}")]
    Parse {
        path: PathBuf,
        /// What the TOML parser said, with the line.
        source: toml::de::Error,
    },
    /// A parameter is missing or out of range.
    #[error("{field}: {reason}")]
    Invalid {
        /// The parameter, as spelled in the file.
        field: &'static str,
        reason: String,
    },
}

/// Reads a TOML file of settings; errors name the file, and the parser says the line.
pub(crate) fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

/// Hash shares of an attacker or pool, each above 0 and below 1/2, at least one.
pub(crate) fn checked_minority_shares(
    field: &'static str,
    shares: Vec<f64>,
) -> Result<Vec<f64>, ConfigError> {
    if shares.is_empty() {
        return Err(invalid(field, "give at least one share"));
    }
    match shares
        .iter()
        .find(|share| !(**share > 0.0 && **share < 0.5))
    {
        Some(share) => Err(invalid(
            field,
            format!(
                "{share} is not above 0 and below 0.5; from half the hash power up the \
                 attacker always wins, which needs no experiment"
            ),
        )),
        None => Ok(shares),
    }
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The shape of a run's network, with what it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub(crate) enum TopologySpec {
    /// Every node linked with every other.
    Mesh,
    Ring,
    /// A seeded random connected graph with at least `degree` links per node.
    Random {
        /// Least links per node.
        degree: usize,
    },
}

impl TopologySpec {
    /// The name recorded in the run record.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TopologySpec::Mesh => TopologyKind::Mesh.name(),
            TopologySpec::Ring => TopologyKind::Ring.name(),
            TopologySpec::Random { .. } => TopologyKind::Random.name(),
        }
    }

    /// The graph for `nodes` nodes; `seed` picks the random one.
    pub(crate) fn build(self, nodes: usize, seed: u64) -> Topology {
        match self {
            TopologySpec::Mesh => Topology::mesh(nodes),
            TopologySpec::Ring => Topology::ring(nodes),
            TopologySpec::Random { degree } => Topology::random(nodes, degree, seed),
        }
    }
}

/// Difficulty retargeting as the nodes should do it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Retarget {
    pub(crate) target_block_time_secs: u64,
    /// Blocks between retargets; the node's default when `None`.
    pub(crate) interval: Option<u64>,
}

/// A checked experiment: every parameter present and in range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperimentConfig {
    pub nodes: usize,
    pub(crate) topology: TopologySpec,
    /// One-way latency of every link, in milliseconds (unless regions set it per link).
    pub(crate) latency_ms: f64,
    /// Where the nodes are; each link then takes the latency between its ends' regions.
    pub(crate) regions: Option<Regions>,
    /// Uniform variation of each message's latency either way, in milliseconds.
    pub(crate) jitter_ms: f64,
    /// Probability that a link loses a request.
    pub(crate) loss: f64,
    /// Megabits per second each direction of a link carries; unlimited when `None`.
    pub(crate) bandwidth_mbps: Option<f64>,
    /// Network-wide block interval the hash rates are chosen for, in seconds.
    pub(crate) block_interval_secs: f64,
    /// Leading zero bits of proof of work.
    pub(crate) difficulty: u32,
    /// Each node's share of the hash power; sums to 1.
    pub(crate) hash_shares: Vec<f64>,
    /// How long the nodes mine, in seconds.
    pub(crate) duration_secs: f64,
    /// Mean posts per second.
    pub(crate) posts_per_sec: f64,
    /// Characters of each post's content; the numbered text alone when `None`.
    pub(crate) post_chars: Option<usize>,
    /// Seed of every random choice.
    pub(crate) seed: u64,
    /// Longest wait for agreement after mining, in seconds.
    pub(crate) settle_timeout_secs: f64,
    /// Seconds between each node's sync rounds.
    pub(crate) sync_interval_secs: u64,
    pub(crate) retarget: Option<Retarget>,
    /// Whether the nodes draw discovery times instead of hashing.
    pub(crate) simulated_mining: bool,
    pub out_dir: PathBuf,
}

impl ExperimentConfig {
    /// Checks `settings`, filling in defaults; the error names the first bad parameter.
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let nodes = checked_nodes(settings.nodes.unwrap_or(5))?;
        let topology = topology_spec(&settings, nodes)?;
        let seed = settings.seed.unwrap_or(1);
        within_peer_limit(topology, nodes, seed)?;
        let latency_ms = non_negative("latency_ms", settings.latency_ms.unwrap_or(50.0))?;
        let regions = settings.regions.clone().map(checked_regions).transpose()?;
        if regions.is_some() && settings.latency_ms.is_some() {
            return Err(invalid(
                "latency_ms",
                "the [regions] table sets every link's latency; leave latency_ms out",
            ));
        }
        let jitter_ms = non_negative("jitter_ms", settings.jitter_ms.unwrap_or(0.0))?;
        let loss = checked_loss(settings.loss.unwrap_or(0.0))?;
        let bandwidth_mbps = settings
            .bandwidth_mbps
            .map(|mbps| positive("bandwidth_mbps", mbps))
            .transpose()?;
        let block_interval_secs = positive(
            "block_interval_secs",
            settings.block_interval_secs.unwrap_or(10.0),
        )?;
        let difficulty = checked_difficulty(settings.difficulty.unwrap_or(16))?;
        let hash_shares = normalized_shares(settings.hash_shares, nodes)?;
        every_node_hashes(
            &hash_shares,
            network_hash_rate(difficulty, block_interval_secs),
        )?;
        let duration_secs = positive("duration_secs", settings.duration_secs.unwrap_or(60.0))?;
        let posts_per_sec = non_negative("posts_per_sec", settings.posts_per_sec.unwrap_or(1.0))?;
        let post_chars = settings.post_chars.map(checked_post_chars).transpose()?;
        let settle_timeout_secs = non_negative(
            "settle_timeout_secs",
            settings.settle_timeout_secs.unwrap_or(30.0),
        )?;
        let sync_interval_secs = checked_sync_interval(settings.sync_interval_secs.unwrap_or(5))?;
        let retarget =
            checked_retarget(settings.target_block_time_secs, settings.retarget_interval)?;
        let out_dir = settings
            .out_dir
            .ok_or_else(|| invalid("out_dir", "missing; give --out DIR or out_dir in the file"))?;
        Ok(ExperimentConfig {
            nodes,
            topology,
            latency_ms,
            regions,
            jitter_ms,
            loss,
            bandwidth_mbps,
            block_interval_secs,
            difficulty,
            hash_shares,
            duration_secs,
            posts_per_sec,
            post_chars,
            seed,
            settle_timeout_secs,
            sync_interval_secs,
            retarget,
            simulated_mining: settings.simulated_mining.unwrap_or(false),
            out_dir,
        })
    }

    /// The longest one-way latency of any link, in milliseconds.
    pub(crate) fn longest_latency_ms(&self) -> f64 {
        self.regions.as_ref().map_or(self.latency_ms, |regions| {
            regions
                .latency_ms
                .iter()
                .flatten()
                .copied()
                .fold(0.0, f64::max)
        })
    }

    /// Where the run's nodes are, if it has regions: fixed by its seed.
    pub(crate) fn placement(&self) -> Option<Placement> {
        self.regions
            .clone()
            .map(|regions| Placement::new(regions, self.nodes, self.seed))
    }

    /// Bytes per second each direction of a link carries, if capped.
    pub(crate) fn bandwidth_bytes_per_sec(&self) -> Option<f64> {
        self.bandwidth_mbps.map(|mbps| mbps * 1e6 / 8.0)
    }

    /// The `--simulated-mining-seed` of node `node`, when mining is simulated: one per
    /// node, all fixed by the run's seed.
    pub(crate) fn simulated_mining_seed(&self, node: usize) -> Option<u64> {
        self.simulated_mining.then(|| {
            // SplitMix64's increment spreads neighbouring seeds far apart.
            self.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(node as u64)
        })
    }

    /// The `--hash-rate` of node `node`: its share of `2^difficulty / block_interval`,
    /// the rate at which the network finds a block per interval on average.
    pub(crate) fn hash_rate(&self, node: usize) -> u64 {
        let network_rate = network_hash_rate(self.difficulty, self.block_interval_secs);
        let share = self.hash_shares.get(node).copied().unwrap_or(0.0);
        // Validation keeps every rate at one hash per second or more.
        (share * network_rate).round().max(1.0) as u64
    }
}

/// Hashes per second of the whole network when it finds a block every
/// `block_interval_secs` at `difficulty`.
fn network_hash_rate(difficulty: u32, block_interval_secs: f64) -> f64 {
    2f64.powi(i32::try_from(difficulty).unwrap_or(i32::MAX)) / block_interval_secs
}

fn checked_nodes(nodes: usize) -> Result<usize, ConfigError> {
    if (MIN_NODES..=MAX_NODES).contains(&nodes) {
        Ok(nodes)
    } else {
        Err(invalid(
            "nodes",
            format!("{nodes} is out of range; {MIN_NODES} to {MAX_NODES}"),
        ))
    }
}

/// Most regions a run may name.
const MAX_REGIONS: usize = 64;

/// The `[regions]` table as written.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegionSettings {
    /// One name per region.
    names: Vec<String>,
    /// Share of the nodes in each region, normalized.
    shares: Vec<f64>,
    /// `latency_ms[i][j]`: one-way latency from region `i` to region `j`, in milliseconds.
    latency_ms: Vec<Vec<f64>>,
}

/// Checks a `[regions]` table; errors name the key at fault as `regions.<key>`.
fn checked_regions(settings: RegionSettings) -> Result<Regions, ConfigError> {
    let RegionSettings {
        names,
        shares,
        latency_ms,
    } = settings;
    let count = names.len();
    if count == 0 || count > MAX_REGIONS {
        return Err(invalid(
            "regions.names",
            format!("{count} regions; give 1 to {MAX_REGIONS}"),
        ));
    }
    if let Some(name) = names
        .iter()
        .enumerate()
        .find_map(|(i, name)| names[..i].contains(name).then_some(name))
    {
        return Err(invalid("regions.names", format!("{name:?} is named twice")));
    }
    if shares.len() != count {
        return Err(invalid(
            "regions.shares",
            format!("{} shares for {count} regions", shares.len()),
        ));
    }
    if shares
        .iter()
        .any(|share| !(share.is_finite() && *share >= 0.0))
    {
        return Err(invalid(
            "regions.shares",
            "a share is not a number of zero or more",
        ));
    }
    let total: f64 = shares.iter().sum();
    if total <= 0.0 {
        return Err(invalid("regions.shares", "every share is zero"));
    }
    if latency_ms.len() != count || latency_ms.iter().any(|row| row.len() != count) {
        return Err(invalid(
            "regions.latency_ms",
            format!("not a {count} x {count} matrix, one row and column per region"),
        ));
    }
    if latency_ms
        .iter()
        .flatten()
        .any(|latency| !(latency.is_finite() && *latency >= 0.0))
    {
        return Err(invalid(
            "regions.latency_ms",
            "a latency is not a number of zero or more",
        ));
    }
    Ok(Regions {
        names,
        shares: shares.iter().map(|share| share / total).collect(),
        latency_ms,
    })
}

/// Fewest characters of a padded post: room for its number and the run's seed.
const MIN_POST_CHARS: usize = 80;

fn checked_post_chars(chars: usize) -> Result<usize, ConfigError> {
    let most = chainpost_chain::params::MAX_CONTENT_CHARS;
    if (MIN_POST_CHARS..=most).contains(&chars) {
        Ok(chars)
    } else {
        Err(invalid(
            "post_chars",
            format!("{chars} is out of range; {MIN_POST_CHARS} to {most}, what a node accepts"),
        ))
    }
}

fn checked_loss(loss: f64) -> Result<f64, ConfigError> {
    // A link that loses everything would make the run measure nothing.
    if (0.0..1.0).contains(&loss) {
        Ok(loss)
    } else {
        Err(invalid("loss", format!("{loss} is not in [0, 1)")))
    }
}

pub(crate) fn checked_difficulty(difficulty: u32) -> Result<u32, ConfigError> {
    // The hash rates are 2^difficulty / interval; 40 bits is already far more than a
    // machine hashes (a CPU-bound run is warned about when it starts).
    if difficulty <= 40 {
        Ok(difficulty)
    } else {
        Err(invalid(
            "difficulty",
            format!("{difficulty} bits is more than 40"),
        ))
    }
}

fn every_node_hashes(hash_shares: &[f64], network_hash_rate: f64) -> Result<(), ConfigError> {
    match hash_shares.iter().copied().reduce(f64::min) {
        Some(smallest) if smallest * network_hash_rate < 1.0 => Err(invalid(
            "hash_shares",
            format!(
                "a node with share {smallest} would compute less than one hash per second; \
                 raise difficulty or lower block_interval_secs"
            ),
        )),
        _ => Ok(()),
    }
}

fn checked_sync_interval(secs: u64) -> Result<u64, ConfigError> {
    if secs == 0 {
        Err(invalid("sync_interval_secs", "must be at least 1"))
    } else {
        Ok(secs)
    }
}

fn checked_retarget(
    target_block_time_secs: Option<u64>,
    interval: Option<u64>,
) -> Result<Option<Retarget>, ConfigError> {
    // The node's own bounds, so a bad value is named here rather than found in a node's log
    // after it refused to start.
    if let Some(secs) = target_block_time_secs
        && !(1..=retarget::MAX_TARGET_SECS).contains(&secs)
    {
        return Err(invalid(
            "target_block_time_secs",
            format!("must be 1 to {}", retarget::MAX_TARGET_SECS),
        ));
    }
    if let Some(blocks) = interval
        && !(retarget::MIN_INTERVAL..=retarget::MAX_INTERVAL).contains(&blocks)
    {
        return Err(invalid(
            "retarget_interval",
            format!(
                "must be {} to {}",
                retarget::MIN_INTERVAL,
                retarget::MAX_INTERVAL
            ),
        ));
    }
    match (target_block_time_secs, interval) {
        (Some(target_block_time_secs), interval) => Ok(Some(Retarget {
            target_block_time_secs,
            interval,
        })),
        (None, Some(_)) => Err(invalid(
            "retarget_interval",
            "needs target_block_time_secs as well",
        )),
        (None, None) => Ok(None),
    }
}

fn topology_spec(settings: &Settings, nodes: usize) -> Result<TopologySpec, ConfigError> {
    let kind = settings.topology.unwrap_or(TopologyKind::Mesh);
    if kind != TopologyKind::Random && settings.degree.is_some() {
        return Err(invalid("degree", "only the random topology takes a degree"));
    }
    match kind {
        TopologyKind::Mesh => Ok(TopologySpec::Mesh),
        TopologyKind::Ring => Ok(TopologySpec::Ring),
        TopologyKind::Random => {
            let degree = settings
                .degree
                .ok_or_else(|| invalid("degree", "the random topology needs one"))?;
            let most = nodes - 1;
            if !(2..=most).contains(&degree) {
                return Err(invalid(
                    "degree",
                    format!("{degree} is out of range; 2 to {most} for {nodes} nodes"),
                ));
            }
            Ok(TopologySpec::Random { degree })
        }
    }
}

/// Refuses a topology that gives some node more neighbours than a node keeps peers.
fn within_peer_limit(topology: TopologySpec, nodes: usize, seed: u64) -> Result<(), ConfigError> {
    let graph = topology.build(nodes, seed);
    let most = (0..nodes)
        .map(|node| graph.neighbours(node).len())
        .max()
        .unwrap_or(0);
    if most > MAX_PEERS {
        return Err(invalid(
            "topology",
            format!(
                "a node would have {most} neighbours, more than the {MAX_PEERS} peers a node \
                 keeps; use the random topology with a smaller degree"
            ),
        ));
    }
    Ok(())
}

fn normalized_shares(shares: Option<Vec<f64>>, nodes: usize) -> Result<Vec<f64>, ConfigError> {
    let Some(shares) = shares else {
        return Ok(vec![1.0 / nodes as f64; nodes]);
    };
    if shares.len() != nodes {
        return Err(invalid(
            "hash_shares",
            format!("{} entries for {nodes} nodes", shares.len()),
        ));
    }
    if shares
        .iter()
        .any(|share| !share.is_finite() || *share <= 0.0)
    {
        return Err(invalid("hash_shares", "every share must be positive"));
    }
    let total: f64 = shares.iter().sum();
    Ok(shares.into_iter().map(|share| share / total).collect())
}

pub(crate) fn non_negative(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(invalid(
            field,
            format!("{value} is not a number of zero or more"),
        ))
    }
}

fn positive(field: &'static str, value: f64) -> Result<f64, ConfigError> {
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(invalid(field, format!("{value} is not a positive number")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        toml::from_str(toml).expect("valid TOML")
    }

    fn field_of(error: ConfigError) -> &'static str {
        match error {
            ConfigError::Invalid { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    fn axis(swept: Swept, values: Vec<f64>) -> SweepAxis {
        SweepAxis { swept, values }
    }

    fn check(toml: &str) -> Result<ExperimentConfig, ConfigError> {
        ExperimentConfig::from_settings(settings(&format!("out_dir = \"out\"\n{toml}")))
    }

    #[test]
    fn defaults_fill_an_almost_empty_file() {
        let config = check("").expect("defaults are valid");
        assert_eq!(config.nodes, 5);
        assert_eq!(config.topology, TopologySpec::Mesh);
        assert_eq!(config.difficulty, 16);
        assert_eq!(config.hash_shares, vec![0.2; 5]);
        assert_eq!(config.sync_interval_secs, 5);
        assert_eq!(config.retarget, None);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<Settings>("nodez = 3").is_err());
        assert!(toml::from_str::<Settings>("[sweep]\nlatency = [1.0]").is_err());
    }

    #[test]
    fn command_line_overrides_the_file() {
        let file = settings("nodes = 4\nlatency_ms = 10.0\nseed = 3");
        let overrides = Settings {
            latency_ms: Some(99.0),
            out_dir: Some("here".into()),
            ..Settings::default()
        };
        let config =
            ExperimentConfig::from_settings(file.overridden_by(overrides)).expect("valid settings");
        assert_eq!((config.nodes, config.latency_ms, config.seed), (4, 99.0, 3));
        assert_eq!(config.out_dir, PathBuf::from("here"));
    }

    #[test]
    fn errors_name_the_parameter_at_fault() {
        let cases = [
            ("nodes = 2", "nodes"),
            ("nodes = 201", "nodes"),
            ("loss = 1.0", "loss"),
            ("loss = -0.1", "loss"),
            ("latency_ms = -1.0", "latency_ms"),
            ("bandwidth_mbps = 0.0", "bandwidth_mbps"),
            ("bandwidth_mbps = -2.0", "bandwidth_mbps"),
            ("post_chars = 79", "post_chars"),
            ("post_chars = 1001", "post_chars"),
            ("block_interval_secs = 0.0", "block_interval_secs"),
            ("nodes = 3\nhash_shares = [1.0, 2.0]", "hash_shares"),
            ("nodes = 3\nhash_shares = [1.0, 0.0, 2.0]", "hash_shares"),
            ("topology = \"random\"", "degree"),
            ("topology = \"random\"\nnodes = 4\ndegree = 4", "degree"),
            ("topology = \"ring\"\ndegree = 3", "degree"),
            ("retarget_interval = 10", "retarget_interval"),
            (
                "target_block_time_secs = 4\nretarget_interval = 1",
                "retarget_interval",
            ),
            ("target_block_time_secs = 86401", "target_block_time_secs"),
            ("difficulty = 2\nblock_interval_secs = 10.0", "hash_shares"),
        ];
        for (toml, field) in cases {
            let error = check(toml).expect_err(toml);
            assert_eq!(field_of(error), field, "{toml}");
        }
        // Nodes keep room for 64 peers, so a mesh may have 65 nodes.
        check("nodes = 65").expect("a mesh of 65 nodes");
        assert_eq!(
            field_of(check("nodes = 66").expect_err("too many peers")),
            "topology"
        );
        check("nodes = 200\ntopology = \"random\"\ndegree = 8").expect("200 nodes");
        assert_eq!(
            field_of(
                check("nodes = 201\ntopology = \"random\"\ndegree = 8").expect_err("too many")
            ),
            "nodes"
        );
        let missing_out =
            ExperimentConfig::from_settings(Settings::default()).expect_err("no output directory");
        assert_eq!(field_of(missing_out), "out_dir");
    }

    #[test]
    fn simulated_mining_gives_each_node_a_seed_of_its_own_from_the_run_s() {
        let hashing = check("nodes = 3").expect("valid");
        assert_eq!(hashing.simulated_mining_seed(0), None);
        let simulated = check("nodes = 3\nsimulated_mining = true\nseed = 5").expect("valid");
        let seeds: Vec<u64> = (0..3)
            .filter_map(|node| simulated.simulated_mining_seed(node))
            .collect();
        assert_eq!(seeds.len(), 3);
        assert!(seeds[0] != seeds[1] && seeds[1] != seeds[2] && seeds[0] != seeds[2]);
        let again = check("nodes = 3\nsimulated_mining = true\nseed = 5").expect("valid");
        assert_eq!(
            again.simulated_mining_seed(2),
            Some(seeds[2]),
            "fixed by the run's seed"
        );
        let other = check("nodes = 3\nsimulated_mining = true\nseed = 6").expect("valid");
        assert_ne!(other.simulated_mining_seed(0), Some(seeds[0]));
    }

    #[test]
    fn shares_are_normalized_and_set_hash_rates() {
        let config = check(
            "nodes = 3\nhash_shares = [2.0, 1.0, 1.0]\ndifficulty = 12\nblock_interval_secs = 0.5",
        )
        .expect("valid");
        assert_eq!(config.hash_shares, vec![0.5, 0.25, 0.25]);
        // 2^12 hashes per block every half second: 8192 H/s for the network.
        assert_eq!(
            (0..3)
                .map(|node| config.hash_rate(node))
                .collect::<Vec<_>>(),
            vec![4096, 2048, 2048]
        );
    }

    #[test]
    fn a_sweep_varies_latency_or_post_rate_from_the_command_line_before_the_file() {
        let file = settings("[sweep]\nlatency_ms = [0.0, 100.0]");
        assert_eq!(
            file.sweep_axis(None, None).expect("the file's"),
            axis(Swept::LatencyMs, vec![0.0, 100.0])
        );
        assert_eq!(
            file.sweep_axis(Some(vec![5.0]), None).expect("given"),
            axis(Swept::LatencyMs, vec![5.0])
        );
        let capped = settings("bandwidth_mbps = 1.0\n[sweep]\nlatency_ms = [0.0, 100.0]");
        assert_eq!(
            capped.sweep_axis(None, Some(vec![2.0])).expect("given"),
            axis(Swept::PostsPerSec, vec![2.0])
        );
        let rates = settings("bandwidth_mbps = 1.0\n[sweep]\nposts_per_sec = [1.0, 20.0]");
        assert_eq!(
            rates.sweep_axis(None, None).expect("the file's"),
            axis(Swept::PostsPerSec, vec![1.0, 20.0])
        );
        let intervals = settings("[sweep]\nblock_interval_secs = [2.0, 8.0]");
        assert_eq!(
            intervals.sweep_axis(None, None).expect("the file's"),
            axis(Swept::BlockIntervalSecs, vec![2.0, 8.0])
        );
        for (toml, latencies, post_rates, field) in [
            ("", None, None, "sweep"),
            ("[sweep]\nlatency_ms = []", None, None, "sweep.latency_ms"),
            ("", Some(vec![]), None, "sweep.latency_ms"),
            ("", None, Some(vec![]), "sweep.posts_per_sec"),
            ("", None, Some(vec![5.0]), "bandwidth_mbps"),
            (
                "[sweep]\nposts_per_sec = [5.0]",
                None,
                None,
                "bandwidth_mbps",
            ),
            ("", Some(vec![1.0]), Some(vec![1.0]), "sweep"),
            (
                "[sweep]\nlatency_ms = [1.0]\nposts_per_sec = [1.0]",
                None,
                None,
                "sweep",
            ),
            (
                "[sweep]\nblock_interval_secs = [1.0]\nlatency_ms = [1.0]",
                None,
                None,
                "sweep",
            ),
            (
                "[sweep]\nblock_interval_secs = []",
                None,
                None,
                "sweep.block_interval_secs",
            ),
        ] {
            let error = settings(toml)
                .sweep_axis(latencies, post_rates)
                .expect_err(toml);
            assert_eq!(field_of(error), field, "{toml}");
        }
    }

    #[test]
    fn each_run_of_a_sweep_sets_its_value_and_writes_to_its_own_directory() {
        let base = settings("nodes = 3\nposts_per_sec = 1.0");
        let runs = axis(Swept::PostsPerSec, vec![5.0, 20.0]).runs(&base, Path::new("out"));
        let set: Vec<_> = runs
            .iter()
            .map(|run| (run.posts_per_sec, run.nodes, run.out_dir.clone()))
            .collect();
        assert_eq!(
            set,
            [
                (Some(5.0), Some(3), Some("out/posts-5-per-sec".into())),
                (Some(20.0), Some(3), Some("out/posts-20-per-sec".into()))
            ]
        );
        let runs = axis(Swept::LatencyMs, vec![50.0]).runs(&base, Path::new("out"));
        assert_eq!(runs[0].latency_ms, Some(50.0));
        assert_eq!(runs[0].out_dir, Some("out/latency-50ms".into()));
        let runs = axis(Swept::BlockIntervalSecs, vec![2.5]).runs(&base, Path::new("out"));
        assert_eq!(runs[0].block_interval_secs, Some(2.5));
        assert_eq!(runs[0].out_dir, Some("out/interval-2.5s".into()));
    }

    #[test]
    fn a_bandwidth_in_megabits_is_bytes_per_second_to_the_links() {
        let capped = check("bandwidth_mbps = 2.0\npost_chars = 500").expect("valid");
        assert_eq!(capped.bandwidth_bytes_per_sec(), Some(250_000.0));
        assert_eq!(capped.post_chars, Some(500));
        assert_eq!(check("").expect("valid").bandwidth_bytes_per_sec(), None);
    }

    #[test]
    fn a_file_that_is_not_valid_toml_is_refused_with_the_parsers_reason() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("experiment.toml");
        std::fs::write(&path, "nodes = \"three\"\n").expect("written");
        let error = Settings::from_file(&path).expect_err("not a number");
        let ConfigError::Parse {
            path: named,
            source,
        } = &error
        else {
            panic!("not a parse error: {error}");
        };
        assert_eq!(named, &path);
        assert!(source.to_string().contains("line 1"), "{source}");
        let missing = dir.path().join("missing.toml");
        assert!(matches!(
            Settings::from_file(&missing),
            Err(ConfigError::Read { path, .. }) if path == missing
        ));
    }

    #[test]
    fn bad_regions_are_refused_by_key() {
        let good = || RegionSettings {
            names: vec!["a".into(), "b".into()],
            shares: vec![1.0, 1.0],
            latency_ms: vec![vec![1.0, 2.0], vec![2.0, 1.0]],
        };
        type Spoil = fn(&mut RegionSettings);
        let cases: [(Spoil, &str); 8] = [
            (|s| s.names.clear(), "regions.names"),
            (
                |s| s.names = (0..=MAX_REGIONS).map(|i| i.to_string()).collect(),
                "regions.names",
            ),
            (|s| s.names[1] = "a".into(), "regions.names"),
            (|s| s.shares.push(1.0), "regions.shares"),
            (|s| s.shares = vec![0.0, 0.0], "regions.shares"),
            (|s| s.shares[0] = f64::NAN, "regions.shares"),
            (|s| s.latency_ms[1].truncate(1), "regions.latency_ms"),
            (|s| s.latency_ms[0][1] = -1.0, "regions.latency_ms"),
        ];
        for (spoil, field) in cases {
            let mut settings = good();
            spoil(&mut settings);
            let error = checked_regions(settings).expect_err(field);
            assert_eq!(field_of(error), field);
        }
        checked_regions(good()).expect("valid");
    }
}
