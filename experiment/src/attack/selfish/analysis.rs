//! A selfish-mining record → its results: per pool share and arrival, the pool's share of
//! the settled main chain with its 95% interval, the γ the ties showed, and Eyal and
//! Sirer's revenue for the γ the arrival sets and for the one measured.
//!
//! Main-chain blocks are not independent draws (a won race puts several pool blocks on the
//! chain at once), but races are: each starts with every node on one tip. So the revenue
//! is a ratio of sums over races, and its interval is the regenerative one: the delta
//! method over the races' (pool blocks, blocks) pairs.
//!
//! Boundary: pure.

use serde::{Deserialize, Serialize};

use super::config::Arrival;
use super::record::SelfishRecord;
use crate::attack_theory::{selfish_mining_revenue, selfish_mining_threshold};

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
    /// Races settled: the independent cycles the interval is drawn from.
    pub races: usize,
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
            let races = races(&run.main_chain, &run.settled_at);
            let (revenue, ci_low, ci_high) = ratio_interval(&races);
            let main_chain_pool = run.main_chain.matches('P').count() as u64;
            let blocks = run.main_chain.len() as u64;
            let measured_gamma = (run.tie_blocks > 0)
                .then(|| run.tie_blocks_on_pool_side as f64 / run.tie_blocks as f64);
            RevenuePoint {
                pool_share: run.pool_share,
                arrival: run.arrival,
                gamma,
                measured_gamma,
                tie_blocks: run.tie_blocks,
                races: races.len(),
                main_chain_pool,
                main_chain_blocks: blocks,
                revenue,
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

/// Each race's (pool blocks, blocks) on `main_chain`, cut at the settled heights.
fn races(main_chain: &str, settled_at: &[u64]) -> Vec<(u64, u64)> {
    let miners = main_chain.as_bytes();
    let mut from = 0;
    let mut races = Vec::new();
    for &height in settled_at {
        let to = usize::try_from(height)
            .unwrap_or(usize::MAX)
            .min(miners.len());
        if to > from {
            let race = &miners[from..to];
            let pool = race.iter().filter(|miner| **miner == b'P').count();
            races.push((pool as u64, race.len() as u64));
            from = to;
        }
    }
    races
}

/// `Σ pool / Σ blocks` over independent races, and its 95% interval by the delta method:
/// the standard error of a ratio estimator is `s / (n̄ √k)`, `s²` the sample variance of
/// `pool − R·blocks` over the `k` races. `(0, 0, 1)` without a block; the full range with
/// fewer than two races.
fn ratio_interval(races: &[(u64, u64)]) -> (f64, f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let pool: u64 = races.iter().map(|race| race.0).sum();
    let blocks: u64 = races.iter().map(|race| race.1).sum();
    if blocks == 0 {
        return (0.0, 0.0, 1.0);
    }
    let ratio = pool as f64 / blocks as f64;
    let k = races.len() as f64;
    if races.len() < 2 {
        return (ratio, 0.0, 1.0);
    }
    let mean_blocks = blocks as f64 / k;
    let variance = races
        .iter()
        .map(|&(pool, blocks)| (pool as f64 - ratio * blocks as f64).powi(2))
        .sum::<f64>()
        / (k - 1.0);
    let error = Z * (variance / k).sqrt() / mean_blocks;
    (ratio, (ratio - error).max(0.0), (ratio + error).min(1.0))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::attack::selfish::config::SelfishConfig;
    use crate::attack::selfish::record::PoolRun;

    pub(crate) fn sample_record() -> SelfishRecord {
        let run =
            |pool_share, arrival, ties: (u64, u64), main_chain: &str, settled_at: &[u64]| PoolRun {
                pool_share,
                arrival,
                finders: "PHHPPH".to_owned(),
                tie_blocks: ties.0,
                tie_blocks_on_pool_side: ties.1,
                main_chain: main_chain.to_owned(),
                settled_at: settled_at.to_vec(),
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
                run(
                    0.2,
                    Arrival::Last,
                    (10, 0),
                    "HHPHHHHPHH",
                    &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                ),
                run(
                    0.2,
                    Arrival::First,
                    (12, 7),
                    "HPPHHPHH",
                    &[1, 3, 4, 5, 6, 8],
                ),
                run(0.4, Arrival::Last, (30, 0), "PPHPPPH", &[2, 3, 6, 7]),
                run(0.4, Arrival::First, (0, 0), "", &[]),
            ],
            took_secs: 2.0,
        }
    }

    #[test]
    fn each_run_is_set_beside_eyal_and_sirers_revenue() {
        let results = analyze(&sample_record());
        let first = &results.points[0];
        assert_eq!((first.gamma, first.measured_gamma), (0.0, Some(0.0)));
        assert_eq!((first.main_chain_pool, first.main_chain_blocks), (2, 10));
        assert_eq!(first.races, 10);
        assert!((first.revenue - 0.2).abs() < 1e-12);
        assert!(first.ci_low < 0.2 && 0.2 < first.ci_high);
        assert_eq!(first.predicted, selfish_mining_revenue(0.2, 0.0));
        assert!(!first.above_threshold);
        let second = &results.points[1];
        assert_eq!(second.gamma, 0.5);
        assert_eq!(second.races, 6);
        assert!((second.measured_gamma.expect("ties") - 7.0 / 12.0).abs() < 1e-12);
        assert_eq!(
            second.predicted_for_measured_gamma,
            Some(selfish_mining_revenue(0.2, 7.0 / 12.0))
        );
        assert!(results.points[2].above_threshold);
        let empty = &results.points[3];
        assert_eq!((empty.revenue, empty.measured_gamma), (0.0, None));
    }

    #[test]
    fn races_are_cut_at_the_settled_heights() {
        assert_eq!(
            races("PPHPPPH", &[2, 3, 6, 7]),
            [(2, 2), (0, 1), (3, 3), (0, 1)]
        );
        // A height settled twice makes no empty race; one past the chain is cut to it.
        assert_eq!(races("HPH", &[1, 1, 5]), [(0, 1), (1, 2)]);
    }

    #[test]
    fn the_ratio_interval_is_the_delta_methods() {
        // Races all alike: no spread, the interval is the point.
        let (ratio, low, high) = ratio_interval(&[(1, 2); 5]);
        assert_eq!((ratio, low, high), (0.5, 0.5, 0.5));
        // By hand: R = 3/6; residuals 1 - 0.5·1, 0 - 0.5·2, 2 - 0.5·3 are 0.5, -1, 0.5;
        // s² = 1.5 / 2; error = 1.96 · √(0.75 / 3) / 2.
        let (ratio, low, high) = ratio_interval(&[(1, 1), (0, 2), (2, 3)]);
        let error = 1.959_963_984_540_054 * (0.75_f64 / 3.0).sqrt() / 2.0;
        assert!((ratio - 0.5).abs() < 1e-12);
        assert!((low - (0.5 - error)).abs() < 1e-12 && (high - (0.5 + error)).abs() < 1e-12);
        assert_eq!(ratio_interval(&[]), (0.0, 0.0, 1.0));
        assert_eq!(ratio_interval(&[(1, 4)]), (0.25, 0.0, 1.0));
    }
}
