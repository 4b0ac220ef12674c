//! What the published theory predicts for the two classic attacks, for research mode's
//! attack runs to be measured against.
//!
//! # Rewriting a confirmed post (the double-spend race)
//!
//! An attacker with share `q` of the hash power (the honest network has `p = 1 − q`) mines
//! a private branch from the parent of the block that confirms a post, leaving the post
//! out. The honest network calls the post final after `z` confirmations (the confirming
//! block and `z − 1` on top). While the honest network finds those `z` blocks the attacker
//! finds `m`, and from there it needs to make up the difference, a random walk that moves
//! its way with probability `q` a block; from `k` blocks behind it ever gets `k` blocks
//! ahead of where it is with probability `(q/p)^k` (the gambler's ruin), `1` when `q ≥ p`.
//!
//! - **Nakamoto (2008, section 11)** takes `m` to be Poisson with the mean `z·q/p` and counts
//!   the attack as won once the attacker *catches up* (`k = z − m`):
//!   `P = 1 − Σ_{m=0}^{z} e^{−λ} λ^m / m! · (1 − (q/p)^{z−m})`, `λ = z·q/p`.
//! - **Rosenfeld (2014)** notes that `m` is the number of the attacker's blocks before the
//!   honest network's `z`-th, which is negative binomial, not Poisson:
//!   `P = 1 − Σ_{m=0}^{z} C(m+z−1, m) · (p^z q^m − q^z p^m)`, with the same catching up
//!   (which he says amounts to the attacker having one block mined in advance). For `z = 1`
//!   this is `2q` where Nakamoto's is `0.2046` at `q = 0.1`; the two differ most for small `z`.
//! - **Overtaking.** A chainpost node follows the branch of most work and keeps the first
//!   it saw among equals, so a branch that only catches up changes nothing: the attacker
//!   must get one block ahead, `k = z − m + 1`, and wins at once if `m > z`:
//!   `P = 1 − Σ_{m=0}^{z} C(m+z−1, m) p^z q^m · (1 − (q/p)^{z−m+1})`. This is what the
//!   real nodes should follow: Rosenfeld's counting under this network's fork choice.
//!
//! With `z = 0` (the post is relied on before any block confirms it) every formula gives 1:
//! the attacker only has to mine a branch without it.
//!
//! # Selfish mining
//!
//! Eyal and Sirer (2014): a pool with share `α` keeps the blocks it finds to itself,
//! publishing to match a block the others find (a tie, in which a share `γ` of the honest
//! miners builds on the pool's block) or to override them when it is two or more ahead. Its
//! share of the blocks of the main chain is
//! `R = [α(1−α)²(4α + γ(1−2α)) − α³] / [1 − α(1 + (2−α)α)]`,
//! more than `α` (so more than honest mining pays) exactly when `α > (1−γ)/(3−2γ)`: a third
//! at `γ = 0`, a quarter at `γ = 1/2`.
//!
//! Boundary: pure arithmetic, as `theory`. Public, for the attack runs to come (issue 16)
//! and for anyone comparing a measurement with the literature.

/// The chance Nakamoto's section 11 gives that an attacker with hash share `q` ever catches
/// up from `z` confirmations behind, with its progress taken as Poisson.
pub fn nakamoto_double_spend(q: f64, z: u32) -> f64 {
    let p = 1.0 - q;
    if q >= p || z == 0 {
        return 1.0;
    }
    let lambda = f64::from(z) * q / p;
    let mut poisson = (-lambda).exp();
    let mut sum = 0.0;
    for k in 0..=z {
        if k > 0 {
            poisson *= lambda / f64::from(k);
        }
        sum += poisson * (1.0 - (q / p).powi((z - k) as i32));
    }
    1.0 - sum
}

/// Rosenfeld's exact chance of the same: the attacker's progress negative binomial,
/// catching up enough.
pub fn rosenfeld_double_spend(q: f64, z: u32) -> f64 {
    let p = 1.0 - q;
    if q >= p || z == 0 {
        return 1.0;
    }
    let mut sum = 0.0;
    for m in 0..=z {
        sum += binomial(m + z - 1, m)
            * (p.powi(z as i32) * q.powi(m as i32) - q.powi(z as i32) * p.powi(m as i32));
    }
    1.0 - sum
}

/// The chance under this network's fork choice (most work, the first seen among equals):
/// the attacker must get one block ahead of the honest branch.
pub fn overtaking_double_spend(q: f64, z: u32) -> f64 {
    let p = 1.0 - q;
    if q >= p || z == 0 {
        return 1.0;
    }
    let mut sum = 0.0;
    for m in 0..=z {
        let progress = binomial(m + z - 1, m) * p.powi(z as i32) * q.powi(m as i32);
        sum += progress * (1.0 - (q / p).powi((z - m + 1) as i32));
    }
    1.0 - sum
}

/// Which branch a node takes when the attacker's equals its own in work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TieRule {
    /// The node keeps the branch it saw first (chainpost, Bitcoin Core): the attacker must
    /// get one block ahead.
    FirstSeen,
    /// The attacker's branch wins a tie, as Nakamoto's and Rosenfeld's counting has it.
    AttackerWins,
}

/// The chance of the double-spend race under a research run's own rules: the honest
/// network's `z`-th confirmation is when the merchant relies on the post, nodes break ties
/// by `rule`, and the attacker gives up once the honest branch leads by `give_up_behind`
/// blocks after that moment (a run must end; from that far behind the attacker would have
/// come back with probability `(q/p)^give_up_behind` or so).
///
/// The attacker's blocks `m` at the `z`-th honest block are negative binomial, as in
/// Rosenfeld; from there the lead it still needs is a gambler's ruin with two absorbing
/// ends, the win and the give-up: from `x` steps short of winning, with `N` steps between
/// the ends, it wins with `(ρ^x − ρ^N) / (1 − ρ^N)`, `ρ = q/p`. `z` is at least 1: at 0
/// the post is in no block, so there is nothing to rewrite.
pub fn double_spend_giving_up(q: f64, z: u32, rule: TieRule, give_up_behind: u32) -> f64 {
    let p = 1.0 - q;
    let extra = match rule {
        TieRule::FirstSeen => 1,
        TieRule::AttackerWins => 0,
    };
    let ends_apart = give_up_behind + extra;
    let rho = q / p;
    // From `short` steps short of the win (1 ..= ends_apart - 1).
    let wins_from = |short: u32| {
        if (rho - 1.0).abs() < 1e-12 {
            1.0 - f64::from(short) / f64::from(ends_apart)
        } else {
            (rho.powi(short as i32) - rho.powi(ends_apart as i32))
                / (1.0 - rho.powi(ends_apart as i32))
        }
    };
    let z = z.max(1);
    // Attacker block counts below `z + extra` leave a race to run; any more win at once.
    let (mut racing, mut won) = (0.0, 0.0);
    for m in 0..z + extra {
        let chance = binomial(m + z - 1, m) * p.powi(z as i32) * q.powi(m as i32);
        racing += chance;
        let short = z + extra - m;
        if short < ends_apart {
            won += chance * wins_from(short);
        }
    }
    won + (1.0 - racing)
}

/// Eyal and Sirer's share of main-chain blocks for a selfish pool of share `alpha`, when a
/// share `gamma` of the honest miners builds on its block in a tie.
pub fn selfish_mining_revenue(alpha: f64, gamma: f64) -> f64 {
    let numerator =
        alpha * (1.0 - alpha).powi(2) * (4.0 * alpha + gamma * (1.0 - 2.0 * alpha)) - alpha.powi(3);
    let denominator = 1.0 - alpha * (1.0 + (2.0 - alpha) * alpha);
    numerator / denominator
}

/// The share above which selfish mining pays more than honest mining: `(1−γ)/(3−2γ)`.
pub fn selfish_mining_threshold(gamma: f64) -> f64 {
    (1.0 - gamma) / (3.0 - 2.0 * gamma)
}

/// `C(n, k)` as a float; exact for the small arguments confirmations take.
fn binomial(n: u32, k: u32) -> f64 {
    (1..=k).fold(1.0, |product, i| {
        product * f64::from(n + 1 - i) / f64::from(i)
    })
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    /// The table of section 11 of the Bitcoin whitepaper, as printed (7 decimals).
    const WHITEPAPER: [(f64, &[(u32, f64)]); 2] = [
        (
            0.1,
            &[
                (0, 1.0),
                (1, 0.2045873),
                (2, 0.0509779),
                (3, 0.0131722),
                (4, 0.0034552),
                (5, 0.0009137),
                (6, 0.0002428),
                (7, 0.0000647),
                (8, 0.0000173),
                (9, 0.0000046),
                (10, 0.0000012),
            ],
        ),
        (
            0.3,
            &[
                (0, 1.0),
                (5, 0.1773523),
                (10, 0.0416605),
                (15, 0.0101008),
                (20, 0.0024804),
                (25, 0.0006132),
                (30, 0.0001522),
                (35, 0.0000379),
                (40, 0.0000095),
                (45, 0.0000024),
                (50, 0.0000006),
            ],
        ),
    ];

    #[test]
    fn nakamotos_formula_gives_the_whitepapers_table() {
        for (q, rows) in WHITEPAPER {
            for &(z, printed) in rows {
                let computed = nakamoto_double_spend(q, z);
                assert!(
                    (computed - printed).abs() < 5e-8,
                    "q {q}, z {z}: {computed} against {printed}"
                );
            }
        }
    }

    #[test]
    fn rosenfeld_differs_from_nakamoto_most_for_few_confirmations() {
        assert!(
            (rosenfeld_double_spend(0.1, 1) - 0.2).abs() < 1e-12,
            "2q at z = 1"
        );
        for q in [0.1, 0.2, 0.3] {
            for z in 1..=6 {
                let (nakamoto, rosenfeld) =
                    (nakamoto_double_spend(q, z), rosenfeld_double_spend(q, z));
                assert!(nakamoto != rosenfeld, "q {q}, z {z}");
                // Overtaking needs one block more than catching up.
                let overtaking = overtaking_double_spend(q, z);
                assert!(overtaking < rosenfeld, "q {q}, z {z}");
            }
        }
        for z in 0..=6 {
            assert_eq!(rosenfeld_double_spend(0.5, z), 1.0);
            assert_eq!(overtaking_double_spend(0.6, z), 1.0);
        }
    }

    /// The race itself, played out: honest and attacker blocks as Bernoulli trials of the
    /// next block's finder, the attacker giving up only when hopelessly behind.
    fn simulated(q: f64, z: u32, overtake: bool, trials: u32, seed: u64) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut won = 0;
        for _ in 0..trials {
            let (mut honest, mut attacker) = (0i64, 0i64);
            while honest < i64::from(z) {
                if rng.random::<f64>() < q {
                    attacker += 1;
                } else {
                    honest += 1;
                }
            }
            let needed = if overtake { 1 } else { 0 };
            // Far behind, the walk almost never comes back: (q/p)^60 is below 1e-10.
            while attacker - honest < needed && honest - attacker < 60 {
                if rng.random::<f64>() < q {
                    attacker += 1;
                } else {
                    honest += 1;
                }
            }
            if attacker - honest >= needed {
                won += 1;
            }
        }
        f64::from(won) / f64::from(trials)
    }

    #[test]
    fn the_negative_binomial_formulas_match_the_race_played_out() {
        let trials = 20_000;
        for (q, z) in [(0.1, 1), (0.2, 2), (0.3, 3), (0.3, 6)] {
            for (overtake, formula) in [
                (false, rosenfeld_double_spend(q, z)),
                (true, overtaking_double_spend(q, z)),
            ] {
                let measured = simulated(q, z, overtake, trials, u64::from(z) * 31 + 7);
                // Four standard errors of a binomial proportion.
                let bound = 4.0 * (formula * (1.0 - formula) / f64::from(trials)).sqrt() + 1e-3;
                assert!(
                    (measured - formula).abs() < bound,
                    "q {q}, z {z}, overtaking {overtake}: measured {measured}, formula {formula}"
                );
            }
        }
    }

    #[test]
    fn giving_up_far_behind_changes_the_published_formulas_only_in_their_far_digits() {
        for q in [0.1, 0.2, 0.3] {
            for z in 1..=6 {
                for (rule, published) in [
                    (TieRule::FirstSeen, overtaking_double_spend(q, z)),
                    (TieRule::AttackerWins, rosenfeld_double_spend(q, z)),
                ] {
                    let never = double_spend_giving_up(q, z, rule, 200);
                    assert!((never - published).abs() < 1e-12, "q {q}, z {z}, {rule:?}");
                    let at_ten = double_spend_giving_up(q, z, rule, 10);
                    assert!(
                        at_ten < published && published - at_ten < 2e-3 * published,
                        "q {q}, z {z}, {rule:?}: {at_ten} against {published}"
                    );
                }
            }
        }
        // Worked by hand: z = 1, giving up one behind. Two attacker blocks before the
        // honest one win at once (q²); one makes a tie, won by the next block (pq · q);
        // none is one behind, given up.
        let (q, p) = (0.2, 0.8);
        let by_hand = q * q + p * q * q;
        let formula = double_spend_giving_up(q, 1, TieRule::FirstSeen, 1);
        assert!(
            (formula - by_hand).abs() < 1e-12,
            "{formula} against {by_hand}"
        );
    }

    #[test]
    fn the_runs_formula_matches_the_race_with_its_give_up_played_out() {
        let trials = 20_000;
        for (q, z, give_up) in [(0.1, 1, 2), (0.3, 2, 3), (0.3, 6, 4), (0.2, 3, 10)] {
            for rule in [TieRule::FirstSeen, TieRule::AttackerWins] {
                let needed = match rule {
                    TieRule::FirstSeen => 1,
                    TieRule::AttackerWins => 0,
                };
                let mut rng = ChaCha8Rng::seed_from_u64(u64::from(z * 13 + give_up));
                let mut won = 0;
                for _ in 0..trials {
                    let (mut honest, mut attacker) = (0i64, 0i64);
                    loop {
                        if rng.random::<f64>() < q {
                            attacker += 1;
                        } else {
                            honest += 1;
                        }
                        if honest < i64::from(z) {
                            continue;
                        }
                        if attacker - honest >= needed {
                            won += 1;
                            break;
                        }
                        if honest - attacker >= i64::from(give_up) {
                            break;
                        }
                    }
                }
                let measured = f64::from(won) / f64::from(trials);
                let formula = double_spend_giving_up(q, z, rule, give_up);
                let bound = 4.0 * (formula * (1.0 - formula) / f64::from(trials)).sqrt() + 1e-3;
                assert!(
                    (measured - formula).abs() < bound,
                    "q {q}, z {z}, give up {give_up}, {rule:?}: measured {measured}, formula {formula}"
                );
            }
        }
    }

    #[test]
    fn selfish_mining_pays_exactly_above_its_threshold() {
        for (gamma, threshold) in [(0.0, 1.0 / 3.0), (0.5, 0.25)] {
            assert!((selfish_mining_threshold(gamma) - threshold).abs() < 1e-12);
            let at = selfish_mining_revenue(threshold, gamma);
            assert!(
                (at - threshold).abs() < 1e-12,
                "γ {gamma}: R({threshold}) = {at}"
            );
            for below in [0.05, threshold - 0.02] {
                assert!(
                    selfish_mining_revenue(below, gamma) < below,
                    "γ {gamma}, α {below}"
                );
            }
            for above in [threshold + 0.02, 0.45] {
                assert!(
                    selfish_mining_revenue(above, gamma) > above,
                    "γ {gamma}, α {above}"
                );
            }
        }
        assert!((selfish_mining_revenue(0.5, 0.0) - 1.0).abs() < 1e-12);
        assert!(selfish_mining_revenue(0.0, 0.5).abs() < 1e-12);
    }
}
