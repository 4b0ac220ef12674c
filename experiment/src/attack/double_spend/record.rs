//! What an attack run observed, trial by trial: handed from the runner to the analysis,
//! and written as `attack.json` so that `experiment reanalyze` can redo the analysis.
//!
//! **Boundary** between the runner and the analysis.

use serde::{Deserialize, Serialize};

use super::config::AttackConfig;
use super::race::Outcome;

/// A whole attack run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackRecord {
    pub config: AttackConfig,
    /// Every trial, in the order run.
    pub trials: Vec<TrialRecord>,
    /// Wall-clock seconds the run took, networks' start-ups included.
    pub took_secs: f64,
}

/// One race.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// The attacker's share of the hash power, `q`.
    pub attacker_share: f64,
    /// Confirmations the merchant waited for, `z`.
    pub confirmations: u32,
    /// Who found each block, in order: `A` the attacker, `H` the honest network.
    pub finders: String,
    pub outcome: Outcome,
    /// Times the attacker showed the honest nodes a branch as long as theirs and they
    /// kept their own.
    pub ties_kept: u32,
    /// Honest blocks the rewrite took off the chain; 0 when the attacker gave up.
    pub reverted: u64,
    /// After a rewrite, whether every honest node held the post as pending again (so
    /// nothing acknowledged was lost); true when the attacker gave up.
    pub post_kept: bool,
}
