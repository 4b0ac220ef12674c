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

/// What the pool does after a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PoolMove {
    /// Keep its block to itself.
    Withhold,
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
    pub(crate) fn pool_found(&mut self) -> PoolMove {
        let lead_before = self.private.saturating_sub(self.public);
        let was_tied = self.private == self.public && self.private > 0;
        self.private += 1;
        if was_tied && lead_before == 0 {
            *self = Pool::default();
            PoolMove::Override
        } else {
            PoolMove::Withhold
        }
    }

    /// The pool's move after an honest block.
    pub(crate) fn others_found(&mut self) -> PoolMove {
        let lead_before = self.private.saturating_sub(self.public);
        self.public += 1;
        match lead_before {
            0 => {
                *self = Pool::default();
                PoolMove::Adopt
            }
            1 => PoolMove::Match,
            2 => {
                *self = Pool::default();
                PoolMove::Override
            }
            _ => PoolMove::PublishOne,
        }
    }

    /// Blocks of the pool's branch the nodes are to see after a `Match` or `PublishOne`.
    pub(crate) fn public_length(&self) -> u32 {
        self.public
    }

    /// Whether the pool and the public chain are tied at one block each (the race a
    /// share γ of the honest miners settle on the pool's side).
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

    fn moves(finders: &str) -> Vec<PoolMove> {
        let mut pool = Pool::default();
        finders
            .chars()
            .map(|finder| match finder {
                'P' => pool.pool_found(),
                _ => pool.others_found(),
            })
            .collect()
    }

    #[test]
    fn the_pool_follows_eyal_and_sirers_algorithm() {
        use PoolMove::*;
        assert_eq!(moves("H"), [Adopt]);
        // Lead one, matched, then won by the pool or settled by the others.
        assert_eq!(moves("PHP"), [Withhold, Match, Override]);
        assert_eq!(moves("PHH"), [Withhold, Match, Adopt]);
        // Lead two: override when the others find one.
        assert_eq!(moves("PPH"), [Withhold, Withhold, Override]);
        // Lead three: publish one at a time until the lead is two.
        assert_eq!(
            moves("PPPHHH"),
            [Withhold, Withhold, Withhold, PublishOne, Override, Adopt]
        );
        assert_eq!(
            moves("PPPPHHPH"),
            [
                Withhold, Withhold, Withhold, Withhold, PublishOne, PublishOne, Withhold,
                PublishOne
            ]
        );
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
                if pool.pool_found() == PoolMove::Override {
                    pool_main += private;
                    (private, public) = (0, 0);
                }
            } else {
                let on_pool_side = pool.tied() && rng.random_bool(gamma);
                match pool.others_found() {
                    PoolMove::Adopt if on_pool_side => {
                        // The honest block built on the pool's: both stay.
                        pool_main += private;
                        honest_main += 1;
                        (private, public) = (0, 0);
                    }
                    PoolMove::Adopt => {
                        honest_main += public + 1;
                        (private, public) = (0, 0);
                    }
                    PoolMove::Override => {
                        pool_main += private;
                        (private, public) = (0, 0);
                    }
                    _ => public += 1,
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
                let step = if pool_block { pool.pool_found() } else { pool.others_found() };
                match step {
                    PoolMove::Match => prop_assert_eq!(before.private, before.public + 1),
                    PoolMove::PublishOne => prop_assert!(before.private > before.public + 2),
                    PoolMove::Adopt => prop_assert!(!pool_block && before.private == before.public),
                    PoolMove::Override => prop_assert!(
                        before.private == before.public + 2 || (pool_block && before.tied())
                    ),
                    PoolMove::Withhold => prop_assert!(pool_block),
                }
                prop_assert!(pool.private + 1 >= pool.public);
            }
        }
    }
}
