//! A selfish-mining record → its results: per pool share and arrival, the pool's share of
//! the settled main chain with its 95% interval, the γ the ties showed, and Eyal and
//! Sirer's revenue for the γ the arrival sets and for the one measured.
//!
//! The interval treats main-chain blocks as independent draws, which they are not quite (a
//! won race puts several pool blocks on the chain at once), so it is somewhat narrow.
//!
//! Boundary: pure.

use serde::{Deserialize, Serialize};

use super::config::Arrival;
use super::record::SelfishRecord;
use crate::attack_theory::{selfish_mining_revenue, selfish_mining_threshold};
use crate::theory::wilson_interval;

/// What a selfish-mining run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfishResults {
    pub points: Vec<RevenuePoint>,
}

/// One pool share and arrival.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevenuePoint {
    /// `α`.
    pub pool_share: f64,
    pub arrival: Arrival,
    /// The γ the arrival sets by design.
    pub gamma: f64,
    /// The share of honest blocks found in ties that were built on the pool's block;
    /// `None` without a tie.
    pub measured_gamma: Option<f64>,
    pub tie_blocks: u64,
    /// The pool's blocks on the settled main chain, and all its blocks.
    pub main_chain_pool: u64,
    pub main_chain_blocks: u64,
    /// The pool's share of the main chain, `R`.
    pub revenue: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// Eyal and Sirer's `R(α, γ)` for the arrival's γ.
    pub predicted: f64,
    /// The same for the measured γ.
    pub predicted_for_measured_gamma: Option<f64>,
    /// Whether selfish mining pays at this share and γ: `α > (1−γ)/(3−2γ)`.
    pub above_threshold: bool,
}

/// The results of `record`.
pub fn analyze(record: &SelfishRecord) -> SelfishResults {
    let honest_nodes = record.config.honest_nodes;
    let points = record
        .runs
        .iter()
        .map(|run| {
            let gamma = run.arrival.gamma(honest_nodes);
            let blocks = run.main_chain_pool + run.main_chain_honest;
            let (ci_low, ci_high) = wilson_interval(
                usize::try_from(run.main_chain_pool).unwrap_or(usize::MAX),
                usize::try_from(blocks).unwrap_or(usize::MAX),
            );
            let measured_gamma = (run.tie_blocks > 0)
                .then(|| run.tie_blocks_on_pool_side as f64 / run.tie_blocks as f64);
            RevenuePoint {
                pool_share: run.pool_share,
                arrival: run.arrival,
                gamma,
                measured_gamma,
                tie_blocks: run.tie_blocks,
                main_chain_pool: run.main_chain_pool,
                main_chain_blocks: blocks,
                revenue: if blocks == 0 {
                    0.0
                } else {
                    run.main_chain_pool as f64 / blocks as f64
                },
                ci_low,
                ci_high,
                predicted: selfish_mining_revenue(run.pool_share, gamma),
                predicted_for_measured_gamma: measured_gamma
                    .map(|measured| selfish_mining_revenue(run.pool_share, measured)),
                above_threshold: run.pool_share > selfish_mining_threshold(gamma),
            }
        })
        .collect();
    SelfishResults { points }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::attack::selfish::config::SelfishConfig;
    use crate::attack::selfish::record::PoolRun;

    pub(crate) fn sample_record() -> SelfishRecord {
        let run = |pool_share, arrival, ties: (u64, u64), main: (u64, u64)| PoolRun {
            pool_share,
            arrival,
            finders: "PHHPPH".to_owned(),
            tie_blocks: ties.0,
            tie_blocks_on_pool_side: ties.1,
            main_chain_pool: main.0,
            main_chain_honest: main.1,
        };
        SelfishRecord {
            config: SelfishConfig {
                pool_shares: vec![0.2, 0.4],
                pool_block_arrives: vec![Arrival::Last, Arrival::First],
                blocks: 6,
                honest_nodes: 2,
                latency_ms: 50.0,
                difficulty: 8,
                seed: 1,
                out_dir: PathBuf::from("runs/selfish"),
            },
            runs: vec![
                run(0.2, Arrival::Last, (10, 0), (150, 850)),
                run(0.2, Arrival::First, (12, 7), (180, 820)),
                run(0.4, Arrival::Last, (30, 0), (480, 520)),
                run(0.4, Arrival::First, (0, 0), (0, 0)),
            ],
            took_secs: 2.0,
        }
    }

    #[test]
    fn each_run_is_set_beside_eyal_and_sirers_revenue() {
        let results = analyze(&sample_record());
        let first = &results.points[0];
        assert_eq!((first.gamma, first.measured_gamma), (0.0, Some(0.0)));
        assert!((first.revenue - 0.15).abs() < 1e-12);
        assert!(first.ci_low < 0.15 && 0.15 < first.ci_high);
        assert_eq!(first.predicted, selfish_mining_revenue(0.2, 0.0));
        assert!(!first.above_threshold);
        let second = &results.points[1];
        assert_eq!(second.gamma, 0.5);
        assert!((second.measured_gamma.expect("ties") - 7.0 / 12.0).abs() < 1e-12);
        assert_eq!(
            second.predicted_for_measured_gamma,
            Some(selfish_mining_revenue(0.2, 7.0 / 12.0))
        );
        assert!(results.points[2].above_threshold);
        let empty = &results.points[3];
        assert_eq!((empty.revenue, empty.measured_gamma), (0.0, None));
    }
}
