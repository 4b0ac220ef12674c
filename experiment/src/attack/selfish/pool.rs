//! The selfish pool's strategy, Algorithm 1 of Eyal and Sirer (2014), as lengths of the
//! pool's private branch and the public one since their fork.
//!
//! - The pool finds a block: it keeps it, except that when it had just matched the honest
//!   block (a tie) this second block wins the race, and it publishes its branch.
//! - The others find a block: with no lead the pool takes the public chain; with a lead of
//!   one it publishes its block to match (a tie, which a share γ of the honest miners
//!   settle on its side); with two it publishes all and overrides; with more it publishes
//!   its first unpublished block and keeps the rest.
//!
//! Boundary: pure; the runner draws the finders and carries the moves out on the nodes.

/// What the pool does after its own block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnPoolBlock {
    /// Keep it to itself.
    Withhold,
    /// Publish its whole branch, now longer than the public one (it broke a tie): the
    /// race starts again on it.
    Override,
}

/// What the pool does after an honest block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnHonestBlock {
    /// Take the public chain and mine on its tip: the race starts again there.
    Adopt,
    /// Publish its branch up to the public branch's length: a tie.
    Match,
    /// Publish its whole branch, longer than the public one: the race starts again on it.
    Override,
    /// Publish its branch up to the public branch's length and keep the rest.
    PublishOne,
}

/// Lengths since the pool's branch left the public chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pool {
    private: u32,
    public: u32,
}

impl Pool {
    /// The pool's move after its own block.
    pub(crate) fn pool_found(&mut self) -> OnPoolBlock {
        if self.tied() {
            *self = Pool::default();
            OnPoolBlock::Override
        } else {
            self.private += 1;
            OnPoolBlock::Withhold
        }
    }

    /// The pool's move after an honest block.
    pub(crate) fn others_found(&mut self) -> OnHonestBlock {
        let lead_before = self.private.saturating_sub(self.public);
        self.public += 1;
        match lead_before {
            0 => {
                *self = Pool::default();
                OnHonestBlock::Adopt
            }
            1 => OnHonestBlock::Match,
            2 => {
                *self = Pool::default();
                OnHonestBlock::Override
            }
            _ => OnHonestBlock::PublishOne,
        }
    }

    /// Blocks of the pool's branch the nodes are to see after a `Match` or `PublishOne`.
    pub(crate) fn public_length(&self) -> u32 {
        self.public
    }

    /// Whether the pool and the public chain are tied (at one block each: a lead of one
    /// only ever comes from a first withheld block), the race a share γ of the honest
    /// miners settle on the pool's side.
    pub(crate) fn tied(&self) -> bool {
        self.private == 1 && self.public == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use crate::attack_theory::selfish_mining_revenue;

    /// The moves as letters: `w`ithhold, `o`verride after the pool's block; `a`dopt,
    /// `m`atch, `O`verride, `p`ublish one after an honest one.
    fn moves(finders: &str) -> String {
        let mut pool = Pool::default();
        finders
            .chars()
            .map(|finder| match finder {
                'P' => match pool.pool_found() {
                    OnPoolBlock::Withhold => 'w',
                    OnPoolBlock::Override => 'o',
                },
                _ => match pool.others_found() {
                    OnHonestBlock::Adopt => 'a',
                    OnHonestBlock::Match => 'm',
                    OnHonestBlock::Override => 'O',
                    OnHonestBlock::PublishOne => 'p',
                },
            })
            .collect()
    }

    #[test]
    fn the_pool_follows_eyal_and_sirers_algorithm() {
        assert_eq!(moves("H"), "a");
        // Lead one, matched, then won by the pool or settled by the others.
        assert_eq!(moves("PHP"), "wmo");
        assert_eq!(moves("PHH"), "wma");
        // Lead two: override when the others find one.
        assert_eq!(moves("PPH"), "wwO");
        // Lead three: publish one at a time until the lead is two.
        assert_eq!(moves("PPPHHH"), "wwwpOa");
        assert_eq!(moves("PPPPHHPH"), "wwwwppwp");
    }

    /// Eyal and Sirer's model played out with the strategy: each honest block in a tie
    /// lands on the pool's side with probability γ.
    fn simulated_revenue(alpha: f64, gamma: f64, blocks: usize, seed: u64) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut pool = Pool::default();
        let (mut pool_main, mut honest_main) = (0u64, 0u64);
        // Pool blocks withheld or published since the fork, and honest blocks on the
        // public branch since it.
        let (mut private, mut public) = (0u64, 0u64);
        for _ in 0..blocks {
            if rng.random_bool(alpha) {
                private += 1;
                if pool.pool_found() == OnPoolBlock::Override {
                    pool_main += private;
                    (private, public) = (0, 0);
                }
            } else {
                let on_pool_side = pool.tied() && rng.random_bool(gamma);
                match pool.others_found() {
                    OnHonestBlock::Adopt if on_pool_side => {
                        // The honest block built on the pool's: both stay.
                        pool_main += private;
                        honest_main += 1;
                        (private, public) = (0, 0);
                    }
                    OnHonestBlock::Adopt => {
                        honest_main += public + 1;
                        (private, public) = (0, 0);
                    }
                    OnHonestBlock::Override => {
                        pool_main += private;
                        (private, public) = (0, 0);
                    }
                    OnHonestBlock::Match | OnHonestBlock::PublishOne => public += 1,
                }
            }
        }
        pool_main as f64 / (pool_main + honest_main) as f64
    }

    #[test]
    fn the_strategy_earns_the_closed_form_revenue() {
        for (alpha, gamma) in [(0.2, 0.0), (0.35, 0.0), (0.3, 0.5), (0.45, 0.5)] {
            let measured = simulated_revenue(alpha, gamma, 400_000, 9);
            let formula = selfish_mining_revenue(alpha, gamma);
            assert!(
                (measured - formula).abs() < 0.005,
                "α {alpha}, γ {gamma}: measured {measured}, formula {formula}"
            );
        }
    }

    proptest! {
        #[test]
        fn the_pool_never_publishes_behind_and_never_withholds_a_deciding_block(
            finders in proptest::collection::vec(any::<bool>(), 1..300),
        ) {
            let mut pool = Pool::default();
            for pool_block in finders {
                let before = pool;
                if pool_block {
                    match pool.pool_found() {
                        OnPoolBlock::Override => prop_assert!(before.tied()),
                        OnPoolBlock::Withhold => prop_assert!(!before.tied()),
                    }
                } else {
                    match pool.others_found() {
                        OnHonestBlock::Match => prop_assert_eq!(before.private, before.public + 1),
                        OnHonestBlock::PublishOne => prop_assert!(before.private > before.public + 2),
                        OnHonestBlock::Adopt => prop_assert_eq!(before.private, before.public),
                        OnHonestBlock::Override => prop_assert_eq!(before.private, before.public + 2),
                    }
                }
                prop_assert!(pool.private + 1 >= pool.public);
            }
        }
    }
}
