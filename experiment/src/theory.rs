//! What theory predicts for the stale block rate, and how sure a measured rate is.
//!
//! # The prediction
//!
//! Blocks are found as a Poisson process: the whole network finds one every `T` seconds on
//! average, and a miner with share `s` of the hash power finds one at rate `s/T`. Take a block
//! mined by miner `i`; the others do not hear of it for `d` seconds, and until then they keep
//! mining on its parent. If any of them finds a block in that time, two blocks compete for the
//! same height and one of them goes stale. The others hold `1 - s_i` of the hash power, so
//! the chance that at least one of them finds a block within `d` is
//!
//! ```text
//! P_i = 1 - exp(-(1 - s_i) · d / T)
//! ```
//!
//! With `N` miners of equal power `s_i = 1/N`, which gives `1 - exp(-(1 - 1/N) · d/T)`, and
//! for two miners `1 - exp(-d / (2T))`. With unequal shares, a block is miner `i`'s with
//! probability `s_i`, so the network's rate is `Σ s_i · P_i`. The model ignores that a fork's
//! outcome can go either way (a race counts as one stale block either way, which is right for
//! one-block races) and that the delay varies from block to block (it takes the mean).
//!
//! # Counting each fork once
//!
//! `P` is the chance that a block meets a rival, and each such fork costs one block. But
//! the rival cannot start a fork of its own: the miners that have not heard of it are
//! already mining above its height, on the block it competes with. So of `M` blocks mined,
//! only the `M − S` that are not rivals start forks, `S = P·(M − S)`, and the share of
//! blocks that go stale is `P / (1 + P)`. For small `d/T` the two agree; as `d/T` grows the
//! first overstates the rate (at `P = 0.4`, 0.40 against 0.29). The sweep chart draws both.
//!
//! Boundary: pure arithmetic; no I/O, and no type of the crate's, so the analysis and the
//! sweep can both build on it without building on each other.

/// The chance that a block goes stale among `nodes` miners of equal hash power, with
/// propagation delay `d` and network block interval `T`, given `d_over_t` = `d / T`.
pub(crate) fn stale_probability(nodes: usize, d_over_t: f64) -> f64 {
    if nodes == 0 {
        return 0.0;
    }
    let others_share = 1.0 - 1.0 / nodes as f64;
    stale_probability_of_share(others_share, d_over_t)
}

/// The chance that a block goes stale when each miner holds the given share of the hash power
/// (shares summing to 1), given `d_over_t` = `d / T`: miner `i`'s blocks go stale with
/// `1 - exp(-(1 - s_i)·d/T)` and are a share `s_i` of all blocks.
pub(crate) fn stale_probability_for_shares(hash_shares: &[f64], d_over_t: f64) -> f64 {
    hash_shares
        .iter()
        .map(|&share| share * stale_probability_of_share(1.0 - share, d_over_t))
        .sum()
}

pub(crate) fn stale_probability_of_share(others_share: f64, d_over_t: f64) -> f64 {
    // -expm1(-x) is 1 - exp(-x) without the cancellation for small x.
    -(-others_share * d_over_t).exp_m1()
}

/// The share of mined blocks that go stale when each block meets a rival with chance
/// `rival_probability` and each fork is counted once: `P / (1 + P)` (see the module docs).
pub(crate) fn stale_rate_counting_each_fork_once(rival_probability: f64) -> f64 {
    rival_probability / (1.0 + rival_probability)
}

/// The 95% Wilson score interval `(low, high)` for a proportion of `successes` in `trials`;
/// unlike the normal approximation it stays within [0, 1] and is sensible for 0 successes,
/// which short runs with little latency produce. `(0, 1)` when there were no trials.
pub(crate) fn wilson_interval(successes: usize, trials: usize) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    const Z: f64 = 1.959_963_984_540_054;
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2_n = Z * Z / n;
    let center = (p + z2_n / 2.0) / (1.0 + z2_n);
    let half_width = Z / (1.0 + z2_n) * (p * (1.0 - p) / n + z2_n / (4.0 * n)).sqrt();
    (
        (center - half_width).max(0.0),
        (center + half_width).min(1.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-12,
            "{actual} is not {expected}"
        );
    }

    #[test]
    fn two_miners_go_stale_with_one_minus_exp_of_minus_half_d_over_t() {
        for x in [0.0, 0.01, 0.1, 0.5, 1.0, 3.0] {
            assert_close(stale_probability(2, x), 1.0 - (-x / 2.0).exp());
        }
    }

    #[test]
    fn n_equal_miners_follow_the_formula() {
        assert_close(stale_probability(4, 0.2), 1.0 - (-0.75_f64 * 0.2).exp());
        assert_close(stale_probability(10, 1.0), 1.0 - (-0.9_f64).exp());
    }

    #[test]
    fn no_delay_means_no_stale_blocks_and_a_lone_miner_never_goes_stale() {
        assert_eq!(stale_probability(5, 0.0), 0.0);
        assert_eq!(stale_probability(1, 10.0), 0.0);
        assert_eq!(stale_probability(0, 10.0), 0.0);
    }

    #[test]
    fn stale_probability_rises_towards_one_with_delay() {
        let rates: Vec<f64> = [0.1, 1.0, 10.0, 100.0]
            .into_iter()
            .map(|x| stale_probability(3, x))
            .collect();
        assert!(rates.windows(2).all(|pair| pair[0] < pair[1]), "{rates:?}");
        assert!(rates[3] > 0.999_999 && rates[3] <= 1.0);
    }

    #[test]
    fn small_delays_are_close_to_linear() {
        // 1 - exp(-x) ≈ x: the first-order rule of thumb "stale rate ≈ (1-1/N)·d/T".
        let rate = stale_probability(2, 1e-9);
        assert!((rate / 0.5e-9 - 1.0).abs() < 1e-6, "{rate}");
    }

    #[test]
    fn equal_shares_agree_with_the_equal_power_formula() {
        for nodes in 1..=6 {
            let shares = vec![1.0 / nodes as f64; nodes];
            let by_shares = stale_probability_for_shares(&shares, 0.3);
            assert!((by_shares - stale_probability(nodes, 0.3)).abs() < 1e-12);
        }
    }

    #[test]
    fn unequal_shares_weight_each_miners_own_risk() {
        let shares = [0.75, 0.25];
        let expected =
            0.75 * (1.0 - (-0.25_f64 * 0.4).exp()) + 0.25 * (1.0 - (-0.75_f64 * 0.4).exp());
        assert_close(stale_probability_for_shares(&shares, 0.4), expected);
        // A dominant miner loses fewer blocks than equal miners would.
        assert!(expected < stale_probability(2, 0.4));
    }

    #[test]
    fn wilson_interval_matches_a_worked_example() {
        // 10 of 100: the textbook interval is about [0.0552, 0.1744].
        let (low, high) = wilson_interval(10, 100);
        assert!((low - 0.0552).abs() < 1e-4, "{low}");
        assert!((high - 0.1744).abs() < 1e-4, "{high}");
    }

    #[test]
    fn wilson_interval_stays_in_the_unit_range_at_the_edges() {
        let (low, high) = wilson_interval(0, 20);
        assert_eq!(low, 0.0);
        assert!(high > 0.1 && high < 0.2, "{high}");
        let (low, high) = wilson_interval(20, 20);
        assert!(low > 0.8 && low < 0.9, "{low}");
        assert!((high - 1.0).abs() < 1e-12, "{high}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn wilson_interval_contains_the_measured_rate_and_narrows_with_more_trials() {
        let (low_small, high_small) = wilson_interval(3, 30);
        let (low_large, high_large) = wilson_interval(300, 3000);
        assert!(low_small < 0.1 && 0.1 < high_small);
        assert!(low_large < 0.1 && 0.1 < high_large);
        assert!(high_large - low_large < high_small - low_small);
    }

    #[test]
    fn counting_each_fork_once_gives_p_over_one_plus_p() {
        assert_eq!(stale_rate_counting_each_fork_once(0.0), 0.0);
        assert!((stale_rate_counting_each_fork_once(0.4) - 0.4 / 1.4).abs() < 1e-12);
        assert_eq!(stale_rate_counting_each_fork_once(1.0), 0.5);
        // For small P the refinement differs from P by about P².
        let p = 0.01;
        assert!((p - stale_rate_counting_each_fork_once(p) - p * p).abs() < 1e-5);
    }
}
