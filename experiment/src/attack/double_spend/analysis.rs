//! An attack run's record → its results: per attacker share and confirmation count, the
//! share of trials in which the post's block was rewritten, with its 95% interval, beside
//! what each formula predicts; and, trial by trial, which tie rule the nodes' answers
//! followed.
//!
//! A trial's finders fix how its race ends under a given tie rule, so each trial is a test
//! of its own: the nodes "followed" a rule when replaying the finders under it ends the
//! race exactly where, and as, the nodes ended it.
//!
//! Boundary: pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::race::{Outcome, outcome_under};
use super::record::AttackRecord;
use crate::attack_theory::{
    TieRule, double_spend_giving_up, nakamoto_double_spend, rosenfeld_double_spend,
};
use crate::theory::wilson_interval;

/// What an attack run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackResults {
    pub trials: usize,
    /// Trials whose race the nodes ended as the first-seen rule says.
    pub followed_first_seen: usize,
    /// Trials whose race the nodes ended as "the attacker wins ties" says.
    pub followed_attacker_wins_ties: usize,
    /// Publishes of a branch only as long as the nodes' own, which they refused.
    pub ties_kept: u64,
    /// Rewrites after which some honest node no longer held the post.
    pub posts_lost: usize,
    pub cells: Vec<Cell>,
}

/// One attacker share and confirmation count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// `q`.
    pub attacker_share: f64,
    /// `z`.
    pub confirmations: u32,
    pub trials: usize,
    pub rewritten: usize,
    pub measured: f64,
    /// The 95% Wilson interval of `measured`.
    pub ci_low: f64,
    pub ci_high: f64,
    /// Nakamoto (2008), section 11.
    pub nakamoto: f64,
    /// Rosenfeld (2014).
    pub rosenfeld: f64,
    /// This run's rules with ties to the first seen: what chainpost's fork choice predicts.
    pub first_seen: f64,
    /// This run's rules with ties to the attacker: Rosenfeld's counting, with the give-up.
    pub attacker_wins_ties: f64,
}

/// The results of `record`.
pub fn analyze(record: &AttackRecord) -> AttackResults {
    let give_up = record.config.give_up_behind;
    let followed = |rule| {
        record
            .trials
            .iter()
            .filter(|trial| {
                outcome_under(rule, trial.confirmations, give_up, &trial.finders)
                    == Some(trial.outcome)
            })
            .count()
    };
    // Shares are keyed by their bits: the record holds each exactly as the config did.
    let mut counts: BTreeMap<(u64, u32), (f64, usize, usize)> = BTreeMap::new();
    for trial in &record.trials {
        let cell = counts
            .entry((trial.attacker_share.to_bits(), trial.confirmations))
            .or_insert((trial.attacker_share, 0, 0));
        cell.1 += 1;
        cell.2 += usize::from(trial.outcome == Outcome::Rewritten);
    }
    let mut cells: Vec<Cell> = counts
        .into_iter()
        .map(|((_, z), (q, trials, rewritten))| {
            let (ci_low, ci_high) = wilson_interval(rewritten, trials);
            Cell {
                attacker_share: q,
                confirmations: z,
                trials,
                rewritten,
                measured: rewritten as f64 / trials as f64,
                ci_low,
                ci_high,
                nakamoto: nakamoto_double_spend(q, z),
                rosenfeld: rosenfeld_double_spend(q, z),
                first_seen: double_spend_giving_up(q, z, TieRule::FirstSeen, give_up),
                attacker_wins_ties: double_spend_giving_up(q, z, TieRule::AttackerWins, give_up),
            }
        })
        .collect();
    cells.sort_by(|a, b| {
        a.attacker_share
            .total_cmp(&b.attacker_share)
            .then(a.confirmations.cmp(&b.confirmations))
    });
    AttackResults {
        trials: record.trials.len(),
        followed_first_seen: followed(TieRule::FirstSeen),
        followed_attacker_wins_ties: followed(TieRule::AttackerWins),
        ties_kept: record
            .trials
            .iter()
            .map(|trial| u64::from(trial.ties_kept))
            .sum(),
        posts_lost: record
            .trials
            .iter()
            .filter(|trial| !trial.post_kept)
            .count(),
        cells,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::attack::double_spend::config::AttackConfig;
    use crate::attack::double_spend::record::TrialRecord;

    fn trial(q: f64, z: u32, finders: &str, outcome: Outcome, ties_kept: u32) -> TrialRecord {
        TrialRecord {
            attacker_share: q,
            confirmations: z,
            finders: finders.to_owned(),
            outcome,
            ties_kept,
            reverted: match outcome {
                Outcome::Rewritten => finders.matches('H').count() as u64,
                Outcome::GaveUp => 0,
            },
            post_kept: true,
        }
    }

    /// A small record: nodes that keep the first seen, one trial that ends the other way.
    pub(crate) fn sample_record() -> AttackRecord {
        AttackRecord {
            config: AttackConfig {
                attacker_shares: vec![0.1, 0.3],
                confirmations: vec![1, 2],
                trials: 3,
                give_up_behind: 2,
                honest_nodes: 2,
                latency_ms: 0.0,
                difficulty: 8,
                seed: 1,
                out_dir: PathBuf::from("runs/sample"),
            },
            trials: vec![
                trial(0.1, 1, "HH", Outcome::GaveUp, 0),
                trial(0.1, 1, "AHA", Outcome::Rewritten, 1),
                trial(0.1, 1, "HAHH", Outcome::GaveUp, 1),
                trial(0.1, 2, "HH", Outcome::GaveUp, 0),
                trial(0.1, 2, "HAHAA", Outcome::Rewritten, 1),
                trial(0.1, 2, "HAHH", Outcome::GaveUp, 0),
                trial(0.3, 1, "AAH", Outcome::Rewritten, 0),
                trial(0.3, 1, "AH", Outcome::Rewritten, 0),
                trial(0.3, 1, "HH", Outcome::GaveUp, 0),
                trial(0.3, 2, "AHAHHH", Outcome::GaveUp, 1),
                trial(0.3, 2, "AHHH", Outcome::GaveUp, 0),
                trial(0.3, 2, "AAAHH", Outcome::Rewritten, 0),
            ],
            took_secs: 1.5,
        }
    }

    #[test]
    fn cells_count_rewrites_beside_every_formula() {
        let results = analyze(&sample_record());
        assert_eq!(results.trials, 12);
        let cells: Vec<(f64, u32, usize, usize)> = results
            .cells
            .iter()
            .map(|cell| {
                (
                    cell.attacker_share,
                    cell.confirmations,
                    cell.trials,
                    cell.rewritten,
                )
            })
            .collect();
        assert_eq!(
            cells,
            [
                (0.1, 1, 3, 1),
                (0.1, 2, 3, 1),
                (0.3, 1, 3, 2),
                (0.3, 2, 3, 1)
            ]
        );
        let cell = &results.cells[2];
        assert!((cell.measured - 2.0 / 3.0).abs() < 1e-12);
        assert!(cell.ci_low < cell.measured && cell.measured < cell.ci_high);
        assert_eq!(cell.nakamoto, nakamoto_double_spend(0.3, 1));
        assert_eq!(cell.rosenfeld, rosenfeld_double_spend(0.3, 1));
        assert_eq!(
            cell.first_seen,
            double_spend_giving_up(0.3, 1, TieRule::FirstSeen, 2)
        );
        assert!(cell.attacker_wins_ties > cell.first_seen);
    }

    #[test]
    fn each_trial_is_checked_against_both_tie_rules() {
        let results = analyze(&sample_record());
        // "AH" at z = 1 was rewritten at a tie: the first-seen rule would have gone on.
        assert_eq!(results.followed_first_seen, 11);
        // The four with a tie the nodes kept would have ended at it with ties to the
        // attacker.
        assert_eq!(results.followed_attacker_wins_ties, 8);
        assert_eq!(results.ties_kept, 4);
        assert_eq!(results.posts_lost, 0);
    }
}
