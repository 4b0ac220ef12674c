//! Difficulty retargeting: every `interval` blocks the difficulty moves toward the target
//! block time, as Bitcoin's does every 2016 blocks.
//!
//! Difficulty here counts leading zero bits, so the expected work of a block is
//! 2^difficulty and one step of difficulty is a factor of two in work. A retarget computes
//! the work ratio Bitcoin would, expected / actual timespan, clamps it to [1/4, 4] as
//! Bitcoin does, and moves the difficulty by that ratio's base-2 logarithm rounded to the
//! nearest whole bit: at most two bits, a factor of 4, per step. The granularity has a
//! cost: a network whose hash rate sits between two difficulties settles on the nearer one,
//! so its blocks come up to √2 times faster or slower than the target.
//!
//! Everything is integer arithmetic on timestamps taken from the chain, so every node
//! computes the same difficulty for the same ancestors.

use crate::pow::MAX_DIFFICULTY;

/// Most bits one retarget moves the difficulty: a factor of 4 in work.
pub(crate) const MAX_STEP_BITS: u32 = 2;

/// Fewest blocks between retargets: a span needs at least one interval to measure.
pub const MIN_INTERVAL: u64 = 2;

/// Most blocks between retargets.
pub const MAX_INTERVAL: u64 = 10_000;

/// Longest target block time, in seconds (a day).
pub const MAX_TARGET_SECS: u64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retarget {
    /// The block interval the difficulty aims at, in seconds.
    pub target_block_secs: u64,
    /// Blocks between two retargets; a block whose height is a multiple of it retargets.
    pub interval: u64,
}

impl Retarget {
    /// Whether the block at `height` carries a new difficulty.
    pub(crate) fn is_retarget_height(&self, height: u64) -> bool {
        height > 0 && height.is_multiple_of(self.interval)
    }
}

/// The difficulty that follows `current` when `intervals` block intervals took
/// `actual_secs` but should have taken `intervals × target_block_secs`; never below
/// `minimum` nor above [`MAX_DIFFICULTY`].
pub(crate) fn next_difficulty(
    rule: &Retarget,
    current: u32,
    intervals: u64,
    actual_secs: u64,
    minimum: u32,
) -> u32 {
    let expected = u128::from(intervals) * u128::from(rule.target_block_secs);
    let actual = u128::from(actual_secs);
    // The ratio r = expected / actual rounds to step k where 2^(k - 1/2) ≤ r < 2^(k + 1/2).
    // Squared, the bounds are powers of two: count the thresholds r² ≥ 2^e, e = -3, -1, 1, 3.
    // Timespans beyond 2^40 s (35,000 years) are clamped, so the squares and their shifts
    // by up to 3 bits stay far inside a u128: no wrap-around can make nodes disagree.
    let (expected, actual) = (expected.min(1 << 40), actual.min(1 << 40));
    let (expected_sq, actual_sq) = (expected * expected, actual * actual);
    let crossed = [-3i32, -1, 1, 3]
        .into_iter()
        .filter(|&e| {
            if e >= 0 {
                expected_sq >= actual_sq << e
            } else {
                expected_sq << -e >= actual_sq
            }
        })
        .count();
    let step = crossed as i64 - i64::from(MAX_STEP_BITS);
    let next = i64::from(current) + step;
    let bounded = next.clamp(i64::from(minimum), i64::from(MAX_DIFFICULTY));
    u32::try_from(bounded).unwrap_or(MAX_DIFFICULTY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RULE: Retarget = Retarget {
        target_block_secs: 10,
        interval: 20,
    };

    #[test]
    fn on_target_the_difficulty_stays() {
        assert_eq!(next_difficulty(&RULE, 20, 20, 200, 0), 20);
        // Within a factor √2 either way rounds to no change.
        assert_eq!(next_difficulty(&RULE, 20, 20, 142, 0), 20);
        assert_eq!(next_difficulty(&RULE, 20, 20, 282, 0), 20);
    }

    #[test]
    fn twice_as_fast_adds_a_bit_and_twice_as_slow_removes_one() {
        assert_eq!(next_difficulty(&RULE, 20, 20, 100, 0), 21);
        assert_eq!(next_difficulty(&RULE, 20, 20, 400, 0), 19);
        // The √2 boundaries: 200/141 > √2 moves, 200/142 < √2 does not.
        assert_eq!(next_difficulty(&RULE, 20, 20, 141, 0), 21);
        assert_eq!(next_difficulty(&RULE, 20, 20, 283, 0), 19);
    }

    #[test]
    fn a_step_is_clamped_to_a_factor_of_four() {
        assert_eq!(next_difficulty(&RULE, 20, 20, 50, 0), 22);
        assert_eq!(next_difficulty(&RULE, 20, 20, 0, 0), 22);
        assert_eq!(next_difficulty(&RULE, 20, 20, 1, 0), 22);
        assert_eq!(next_difficulty(&RULE, 20, 20, 800, 0), 18);
        assert_eq!(next_difficulty(&RULE, 20, 20, u64::MAX, 0), 18);
    }

    #[test]
    fn the_difficulty_stays_between_the_minimum_and_the_maximum() {
        assert_eq!(next_difficulty(&RULE, 17, 20, 10_000, 16), 16);
        assert_eq!(
            next_difficulty(&RULE, MAX_DIFFICULTY, 20, 1, 0),
            MAX_DIFFICULTY
        );
    }

    #[test]
    fn only_multiples_of_the_interval_retarget() {
        assert!(!RULE.is_retarget_height(0));
        assert!(!RULE.is_retarget_height(19));
        assert!(RULE.is_retarget_height(20));
        assert!(RULE.is_retarget_height(40));
    }

    proptest! {
        #[test]
        fn the_step_is_the_ratio_rounded_to_whole_bits(
            current in 10u32..50, intervals in 1u64..5_000, actual in 0u64..10_000_000,
        ) {
            let rule = Retarget { target_block_secs: 7, interval: 100 };
            let next = next_difficulty(&rule, current, intervals, actual, 0);
            let ratio = (intervals * 7) as f64 / actual as f64;
            let step = i64::from(next) - i64::from(current);
            prop_assert!(step.abs() <= i64::from(MAX_STEP_BITS));
            // Away from the rounding boundaries (where floats could disagree), the step is
            // the nearest whole number of bits to log2(ratio), clamped.
            let exact = ratio.log2().clamp(-2.0, 2.0);
            if (exact - exact.floor() - 0.5).abs() > 1e-9 {
                prop_assert_eq!(step as f64, exact.round());
            }
        }

        #[test]
        fn a_slower_span_never_gives_a_higher_difficulty(
            current in 10u32..50, intervals in 1u64..=MAX_INTERVAL, a: u64, b: u64,
        ) {
            let (fast, slow) = (a.min(b), a.max(b));
            prop_assert!(
                next_difficulty(&RULE, current, intervals, slow, 0)
                    <= next_difficulty(&RULE, current, intervals, fast, 0)
            );
        }
    }
}
