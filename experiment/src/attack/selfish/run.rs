//! Selfish mining on real nodes: for each pool share `α` and arrival, a fresh network of
//! the pool's node (linked with nobody) and a mesh of honest nodes, and `blocks` draws of
//! who finds the next block.
//!
//! The runner draws each finder from the run's seed (the pool with probability `α`, else
//! an honest node, all of equal share) and asks that node for one block. The pool's node
//! mines on its own branch, which nobody sees until the runner, playing Eyal and Sirer's
//! strategy ([`Pool`]), publishes blocks of it straight to every honest node through
//! `POST /add_block`. When the pool takes the public chain, the runner hands it the honest
//! blocks the same way.
//!
//! **γ comes from timing.** When the pool matches an honest block, either the runner first
//! waits until that block has reached every honest node (`last`: each keeps the block it
//! saw first, the honest one, so γ = 0), or it publishes at once while the honest block is
//! still on the honest links (`first`: every honest node but the finder sees the pool's
//! block first and mines on it). Which node finds the next block then settles the tie, so
//! the run measures γ itself: the share of honest blocks found in ties that were built on
//! the pool's block.
//!
//! **Boundary:** produces the [`SelfishRecord`]; it computes no result.

use std::collections::HashSet;
use std::path::Path;

use chainpost_chain::BlockHash;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::config::{Arrival, SelfishConfig};
use super::pool::{OnHonestBlock, OnPoolBlock, Pool};
use super::record::{PoolRun, SelfishRecord};
use crate::attack::network::{ATTACKER, AttackError, AttackNetwork, Shape};

/// The pool's node.
const POOL: usize = ATTACKER;

/// Runs every pool share and arrival `config` asks for with the `node_bin` executable;
/// node logs go to `config.out_dir/logs`, one directory per run.
pub async fn run(config: &SelfishConfig, node_bin: &Path) -> Result<SelfishRecord, AttackError> {
    let began = Instant::now();
    let shape = Shape {
        honest_nodes: config.honest_nodes,
        latency_ms: config.latency_ms,
        difficulty: config.difficulty,
        seed: config.seed,
    };
    let mut runs = Vec::new();
    for (share_index, &share) in config.pool_shares.iter().enumerate() {
        for (arrival_index, &arrival) in config.pool_block_arrives.iter().enumerate() {
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(((share_index as u64) << 32) | arrival_index as u64);
            let logs = config
                .out_dir
                .join("logs")
                .join(format!("alpha{share}-{}", arrival.name()));
            let network = AttackNetwork::start(shape, node_bin, &logs).await?;
            let mut miner = SelfishMiner {
                network: &network,
                arrival,
                pool: Pool::default(),
                fork_height: 0,
                shown_up_to: 0,
                pool_blocks: HashSet::new(),
                settled_at: Vec::new(),
            };
            let run = miner.run(share, config.blocks, &mut rng).await;
            network.stop().await;
            let run = run?;
            tracing::info!(
                alpha = share,
                arrival = arrival.name(),
                pool = run.main_chain.matches('P').count(),
                main_chain = run.main_chain.len(),
                secs = began.elapsed().as_secs_f64(),
                "run done"
            );
            runs.push(run);
        }
    }
    Ok(SelfishRecord {
        config: config.clone(),
        runs,
        took_secs: began.elapsed().as_secs_f64(),
    })
}

/// One run's state: the strategy's and where the branches stand on the nodes.
struct SelfishMiner<'a> {
    network: &'a AttackNetwork,
    arrival: Arrival,
    pool: Pool,
    /// Height of the last block every node shares, where the pool's branch leaves.
    fork_height: u64,
    /// The pool's blocks up to this height have been published.
    shown_up_to: u64,
    /// Every block the pool mined.
    pool_blocks: HashSet<BlockHash>,
    /// `fork_height` after each race.
    settled_at: Vec<u64>,
}

impl SelfishMiner<'_> {
    async fn run(
        &mut self,
        share: f64,
        blocks: u64,
        rng: &mut ChaCha8Rng,
    ) -> Result<PoolRun, AttackError> {
        let mut finders = String::new();
        let (mut tie_blocks, mut tie_blocks_on_pool_side) = (0, 0);
        for _ in 0..blocks {
            if rng.random_bool(share) {
                finders.push('P');
                let tip = self.network.mine(POOL).await?;
                self.pool_blocks.insert(tip);
                if self.pool.pool_found() == OnPoolBlock::Override {
                    self.override_honest_chain().await?;
                }
                continue;
            }
            finders.push('H');
            let miner = rng.random_range(self.network.honest());
            if self.pool.tied() {
                tie_blocks += 1;
                let building_on = self.network.status(miner).await?.tip;
                tie_blocks_on_pool_side += u64::from(self.pool_blocks.contains(&building_on));
            }
            let tip = self.network.mine(miner).await?;
            let honest = self.network.honest();
            match self.pool.others_found() {
                OnHonestBlock::Adopt => {
                    // The longest chain is the new block's: every honest node ends on it.
                    self.network.wait_for_tip(honest, tip).await?;
                    self.network
                        .hand_over(miner, POOL, self.fork_height)
                        .await?;
                    let height = self.network.status(POOL).await?.height;
                    self.settle_at(height);
                }
                OnHonestBlock::Override => {
                    self.network.wait_until_known(honest, tip).await?;
                    self.override_honest_chain().await?;
                }
                OnHonestBlock::Match | OnHonestBlock::PublishOne => {
                    if self.arrival == Arrival::Last {
                        self.network.wait_until_known(honest.clone(), tip).await?;
                    }
                    let up_to = self.fork_height + u64::from(self.pool.public_length());
                    self.publish(up_to).await?;
                    self.network.wait_until_known(honest, tip).await?;
                }
            }
        }
        Ok(PoolRun {
            pool_share: share,
            arrival: self.arrival,
            finders,
            tie_blocks,
            tie_blocks_on_pool_side,
            main_chain: self.settled_main_chain().await?,
            settled_at: std::mem::take(&mut self.settled_at),
        })
    }

    /// Publishes the pool's blocks above `shown_up_to` up to `up_to` to every honest node.
    async fn publish(&mut self, up_to: u64) -> Result<(), AttackError> {
        let blocks = self
            .network
            .blocks(POOL, self.shown_up_to + 1, up_to)
            .await?;
        // To every honest node at once: with `first`, each must have them before the honest
        // block crosses its link.
        let (network, blocks) = (self.network, &blocks);
        let shown = network.honest().map(|node| async move {
            for block in blocks {
                network.add_block(node, block).await?;
            }
            Ok::<_, AttackError>(())
        });
        for outcome in futures_util::future::join_all(shown).await {
            outcome?;
        }
        self.shown_up_to = up_to;
        Ok(())
    }

    /// Publishes the whole of the pool's branch, longer than the public one, and waits
    /// until every honest node follows it.
    async fn override_honest_chain(&mut self) -> Result<(), AttackError> {
        let tip = self.network.status(POOL).await?;
        self.publish(tip.height).await?;
        self.network
            .wait_for_tip(self.network.honest(), tip.tip)
            .await?;
        self.settle_at(tip.height);
        Ok(())
    }

    /// Every node is on one tip again, at `height`: the race starts afresh there.
    fn settle_at(&mut self, height: u64) {
        self.fork_height = height;
        self.shown_up_to = height;
        self.settled_at.push(height);
    }

    /// Who mined each block of the main chain up to the last point every node shares.
    async fn settled_main_chain(&self) -> Result<String, AttackError> {
        let honest = self.network.honest().start;
        let chain = self.network.blocks(honest, 1, self.fork_height).await?;
        let mined_by_pool: HashSet<String> =
            self.pool_blocks.iter().map(BlockHash::to_string).collect();
        Ok(chain
            .iter()
            .map(|block| {
                if mined_by_pool.contains(&block.hash) {
                    'P'
                } else {
                    'H'
                }
            })
            .collect())
    }
}
