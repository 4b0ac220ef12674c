//! The double-spend attack run's parameters: a small TOML file, overridden from the
//! command line, checked once into an [`AttackConfig`].
//!
//! **Boundary:** parsing and validation only. Every error names the parameter at fault,
//! spelled as in the file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{
    ConfigError, checked_difficulty, checked_minority_shares, invalid, non_negative, read_toml,
};

/// Most honest nodes: each is a process, and every honest block waits for all of them.
const MAX_HONEST_NODES: usize = 8;
/// Most confirmations a merchant may wait for; beyond, no run sees a rewrite.
const MAX_CONFIRMATIONS: u32 = 20;
/// Most trials of one share and confirmation count.
const MAX_TRIALS: usize = 100_000;
/// The attacker may give up from at most this far behind.
const MAX_GIVE_UP_BEHIND: u32 = 50;

/// Parameters as written, every one optional: the TOML schema and the command-line
/// overrides.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct AttackSettings {
    /// The attacker's shares of the hash power to run, each above 0 and below 0.5
    /// [default: 0.1,0.2,0.3].
    #[arg(long, value_delimiter = ',')]
    pub attacker_shares: Option<Vec<f64>>,
    /// Confirmations the merchant waits for, each 1 to 20 [default: 1,2,3,4,5,6].
    #[arg(long, value_delimiter = ',')]
    pub confirmations: Option<Vec<u32>>,
    /// Trials of each share and confirmation count [default: 100].
    #[arg(long)]
    pub trials: Option<usize>,
    /// The attacker gives up once the honest branch leads by this many blocks after the
    /// merchant relied on the post [default: 10].
    #[arg(long)]
    pub give_up_behind: Option<u32>,
    /// Nodes of the honest network, linked in a mesh, 1 to 8 [default: 2].
    #[arg(long)]
    pub honest_nodes: Option<usize>,
    /// One-way latency of the honest network's links, in milliseconds [default: 0].
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

impl AttackSettings {
    /// Reads a TOML configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        read_toml(path)
    }

    /// These settings with every parameter `overrides` gives replaced by its value.
    pub fn overridden_by(self, overrides: AttackSettings) -> AttackSettings {
        AttackSettings {
            attacker_shares: overrides.attacker_shares.or(self.attacker_shares),
            confirmations: overrides.confirmations.or(self.confirmations),
            trials: overrides.trials.or(self.trials),
            give_up_behind: overrides.give_up_behind.or(self.give_up_behind),
            honest_nodes: overrides.honest_nodes.or(self.honest_nodes),
            latency_ms: overrides.latency_ms.or(self.latency_ms),
            difficulty: overrides.difficulty.or(self.difficulty),
            seed: overrides.seed.or(self.seed),
            out_dir: overrides.out_dir.or(self.out_dir),
        }
    }
}

/// A checked attack run: every parameter present and in range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackConfig {
    pub attacker_shares: Vec<f64>,
    pub confirmations: Vec<u32>,
    pub trials: usize,
    pub give_up_behind: u32,
    pub honest_nodes: usize,
    pub latency_ms: f64,
    pub difficulty: u32,
    pub seed: u64,
    pub out_dir: PathBuf,
}

impl AttackConfig {
    /// Checks `settings`, filling in defaults; the error names the first bad parameter.
    pub fn from_settings(settings: AttackSettings) -> Result<Self, ConfigError> {
        let attacker_shares = checked_minority_shares(
            "attacker_shares",
            settings
                .attacker_shares
                .unwrap_or_else(|| vec![0.1, 0.2, 0.3]),
        )?;
        let confirmations = settings.confirmations.unwrap_or_else(|| (1..=6).collect());
        if confirmations.is_empty() {
            return Err(invalid("confirmations", "give at least one count"));
        }
        if confirmations.contains(&0) {
            return Err(invalid(
                "confirmations",
                "0 leaves no block to rewrite: the post is in none yet, and every formula \
                 gives 1",
            ));
        }
        if let Some(z) = confirmations.iter().find(|z| **z > MAX_CONFIRMATIONS) {
            return Err(invalid(
                "confirmations",
                format!("{z} is more than {MAX_CONFIRMATIONS}"),
            ));
        }
        let trials = settings.trials.unwrap_or(100);
        if !(1..=MAX_TRIALS).contains(&trials) {
            return Err(invalid(
                "trials",
                format!("{trials} is out of range; 1 to {MAX_TRIALS}"),
            ));
        }
        let give_up_behind = settings.give_up_behind.unwrap_or(10);
        if !(1..=MAX_GIVE_UP_BEHIND).contains(&give_up_behind) {
            return Err(invalid(
                "give_up_behind",
                format!("{give_up_behind} is out of range; 1 to {MAX_GIVE_UP_BEHIND}"),
            ));
        }
        let honest_nodes = settings.honest_nodes.unwrap_or(2);
        if !(1..=MAX_HONEST_NODES).contains(&honest_nodes) {
            return Err(invalid(
                "honest_nodes",
                format!("{honest_nodes} is out of range; 1 to {MAX_HONEST_NODES}"),
            ));
        }
        let difficulty = checked_difficulty(settings.difficulty.unwrap_or(8))?;
        let out_dir = settings
            .out_dir
            .ok_or_else(|| invalid("out_dir", "missing; give --out DIR or out_dir in the file"))?;
        Ok(AttackConfig {
            attacker_shares,
            confirmations,
            trials,
            give_up_behind,
            honest_nodes,
            latency_ms: non_negative("latency_ms", settings.latency_ms.unwrap_or(0.0))?,
            difficulty,
            seed: settings.seed.unwrap_or(1),
            out_dir,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml: &str) -> Result<AttackConfig, ConfigError> {
        AttackConfig::from_settings(toml::from_str(toml).expect("valid TOML"))
    }

    fn field_of(error: ConfigError) -> &'static str {
        match error {
            ConfigError::Invalid { field, .. } => field,
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn defaults_fill_a_file_that_names_only_its_output() {
        let config = check(r#"out_dir = "runs/attack""#).expect("valid");
        assert_eq!(config.attacker_shares, [0.1, 0.2, 0.3]);
        assert_eq!(config.confirmations, [1, 2, 3, 4, 5, 6]);
        assert_eq!(
            (config.trials, config.give_up_behind, config.honest_nodes),
            (100, 10, 2)
        );
        assert_eq!((config.difficulty, config.seed), (8, 1));
    }

    #[test]
    fn errors_name_the_parameter_at_fault() {
        let out = "out_dir = \"x\"\n";
        for (toml, field) in [
            ("attacker_shares = [0.5]", "attacker_shares"),
            ("attacker_shares = [0.0]", "attacker_shares"),
            ("attacker_shares = []", "attacker_shares"),
            ("confirmations = [0, 1]", "confirmations"),
            ("confirmations = [21]", "confirmations"),
            ("trials = 0", "trials"),
            ("give_up_behind = 0", "give_up_behind"),
            ("give_up_behind = 51", "give_up_behind"),
            ("honest_nodes = 0", "honest_nodes"),
            ("honest_nodes = 9", "honest_nodes"),
            ("latency_ms = -1.0", "latency_ms"),
            ("difficulty = 41", "difficulty"),
        ] {
            let error = check(&format!("{out}{toml}")).expect_err(toml);
            assert_eq!(field_of(error), field, "{toml}");
        }
        assert_eq!(field_of(check("").expect_err("no out_dir")), "out_dir");
        assert!(toml::from_str::<AttackSettings>("nodes = 3").is_err());
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let file: AttackSettings =
            toml::from_str("trials = 50\nseed = 3\nout_dir = \"a\"").expect("valid");
        let flags = AttackSettings {
            trials: Some(5),
            ..AttackSettings::default()
        };
        let config = AttackConfig::from_settings(file.overridden_by(flags)).expect("valid");
        assert_eq!((config.trials, config.seed), (5, 3));
    }
}
