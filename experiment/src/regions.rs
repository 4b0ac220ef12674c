//! Regions: where a run's nodes are, and the one-way latency between places.
//!
//! A `[regions]` table names the regions, the share of nodes in each and a matrix of
//! one-way latencies (`latency_ms[i][j]` from region `i` to region `j`, the diagonal
//! within a region). Node counts follow the shares by largest remainder, so they sum to
//! the run's nodes, and which node is where is a seeded shuffle. The example
//! configurations carry SimBlock's published figures (see `experiment/examples/`).
//!
//! **Boundary:** pure: placement; `config` checks the table, the relays apply the
//! latencies.

use std::time::Duration;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Random stream of the placement; links use `from << 32 | to`, posts `u64::MAX`.
const PLACEMENT_STREAM: u64 = u64::MAX - 1;

/// Checked regions (`config` checks them): as many shares and matrix rows and columns as
/// names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regions {
    pub(crate) names: Vec<String>,
    /// Sums to 1.
    pub(crate) shares: Vec<f64>,
    pub(crate) latency_ms: Vec<Vec<f64>>,
}

impl Regions {
    /// The region of each of `nodes` nodes: counts by the shares (largest remainder, so
    /// they sum to `nodes`), then shuffled with `seed`.
    pub(crate) fn place(&self, nodes: usize, seed: u64) -> Vec<usize> {
        let quotas: Vec<f64> = self
            .shares
            .iter()
            .map(|share| share * nodes as f64)
            .collect();
        let mut counts: Vec<usize> = quotas.iter().map(|quota| quota.floor() as usize).collect();
        let mut by_remainder: Vec<usize> = (0..quotas.len()).collect();
        // Largest remainder first; ties to the earlier region, so placement is exact.
        by_remainder.sort_by(|&a, &b| {
            let remainder = |region: usize| quotas[region] - quotas[region].floor();
            remainder(b).total_cmp(&remainder(a)).then(a.cmp(&b))
        });
        let placed: usize = counts.iter().sum();
        for &region in by_remainder
            .iter()
            .cycle()
            .take(nodes.saturating_sub(placed))
        {
            counts[region] += 1;
        }
        let mut placement: Vec<usize> = counts
            .iter()
            .enumerate()
            .flat_map(|(region, &count)| std::iter::repeat_n(region, count))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(PLACEMENT_STREAM);
        placement.shuffle(&mut rng);
        placement
    }

    /// One-way latency from region `from` to region `to`, in milliseconds.
    pub(crate) fn latency_between(&self, from: usize, to: usize) -> f64 {
        self.latency_ms
            .get(from)
            .and_then(|row| row.get(to))
            .copied()
            .unwrap_or(0.0)
    }
}

/// Where each node of a run is, and so the latency of each link.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Placement {
    pub(crate) regions: Regions,
    /// The region of each node, in node order.
    pub(crate) region_of: Vec<usize>,
}

impl Placement {
    /// `nodes` nodes placed in `regions` with `seed` (see [`Regions::place`]).
    pub(crate) fn new(regions: Regions, nodes: usize, seed: u64) -> Self {
        let region_of = regions.place(nodes, seed);
        Placement { regions, region_of }
    }

    /// One-way latency from node `from` to node `to`.
    pub(crate) fn latency(&self, from: usize, to: usize) -> Duration {
        let region = |node: usize| self.region_of.get(node).copied().unwrap_or(0);
        let millis = self.regions.latency_between(region(from), region(to));
        Duration::from_secs_f64(millis / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regions(shares: &[f64]) -> Regions {
        let count = shares.len();
        let total: f64 = shares.iter().sum();
        Regions {
            names: (0..count).map(|region| format!("r{region}")).collect(),
            shares: shares.iter().map(|share| share / total).collect(),
            latency_ms: (0..count)
                .map(|from| (0..count).map(|to| (10 * from + to) as f64).collect())
                .collect(),
        }
    }

    #[test]
    fn nodes_are_placed_by_share_with_the_largest_remainders_rounded_up() {
        // SimBlock's Bitcoin 2019 distribution over 200 nodes: 66.32, 99.96, 1.8, 23.54,
        // 4.48, 3.9; the four left after the floors go to .96, .9, .8 and .54.
        let simblock = regions(&[0.3316, 0.4998, 0.0090, 0.1177, 0.0224, 0.0195]);
        let placement = simblock.place(200, 1);
        let count = |region| placement.iter().filter(|&&placed| placed == region).count();
        assert_eq!(
            (0..6).map(count).collect::<Vec<_>>(),
            [66, 100, 2, 24, 4, 4]
        );
        for nodes in [3, 7, 50, 199] {
            assert_eq!(simblock.place(nodes, 1).len(), nodes);
        }
        let halves = regions(&[1.0, 1.0]);
        let count =
            |placement: &[usize], region| placement.iter().filter(|&&r| r == region).count();
        let three = halves.place(3, 9);
        assert_eq!(
            (count(&three, 0), count(&three, 1)),
            (2, 1),
            "a tie goes to the first"
        );
    }

    #[test]
    fn placement_is_fixed_by_the_seed() {
        let two = regions(&[0.5, 0.5]);
        assert_eq!(two.place(40, 3), two.place(40, 3));
        assert_ne!(two.place(40, 3), two.place(40, 4));
    }

    #[test]
    fn the_matrix_gives_the_latency_from_one_region_to_another() {
        let three = regions(&[1.0, 1.0, 1.0]);
        assert_eq!(three.latency_between(2, 1), 21.0);
        assert_eq!(three.latency_between(1, 2), 12.0);
        assert_eq!(three.latency_between(1, 1), 11.0);
        assert_eq!(three.shares, vec![1.0 / 3.0; 3]);
    }

    #[test]
    fn a_link_takes_the_latency_between_its_ends_regions() {
        let placement = Placement {
            regions: regions(&[1.0, 1.0, 1.0]),
            region_of: vec![2, 0, 1],
        };
        assert_eq!(placement.latency(0, 2), Duration::from_millis(21));
        assert_eq!(placement.latency(2, 0), Duration::from_millis(12));
        assert_eq!(placement.latency(1, 1), Duration::ZERO);
        let placed = Placement::new(regions(&[1.0, 1.0]), 6, 2);
        assert_eq!(placed.region_of, placed.regions.place(6, 2));
    }
}
