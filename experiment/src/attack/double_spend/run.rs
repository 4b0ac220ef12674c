//! The double-spend race on real nodes: an attacker node kept apart from a mesh of honest
//! nodes, a post paid to the honest network, and trials of the race for each attacker
//! share `q` and confirmation count `z`.
//!
//! **The runner is the clock.** In a race between hash shares `q` and `1 − q`, each next
//! block is the attacker's with probability `q`, independently of the ones before (two
//! Poisson processes); that sequence is all the theory is about. So the runner draws each
//! block's finder from the run's seed and asks that node's `GET /mine` for one block, then
//! waits until the honest nodes share it. Everything else is the nodes': blocks, their
//! validation, which branch each node follows when the attacker publishes, the reverted
//! post's return to the mempool. Propagation and the attacker's reaction time are left out
//! on purpose, as in the theory; a trial costs milliseconds, and one seed gives one run.
//!
//! A trial: every node on one tip; the post is sent to every honest node (one id), so the
//! first honest block confirms it and the attacker (linked to nobody) never sees it. The
//! race then runs as [`Race`] says. Publishing posts the attacker's unseen blocks, in
//! order, to the merchant's node through `POST /add_block`, and its answers say what the
//! node did: `reorganized` at the block that made the branch heavier (the post's block is
//! off the chain: rewritten), or `side_branch` for every one (it kept its own). After a
//! give-up the runner hands the attacker the honest chain the same way, so the next trial
//! starts from one tip again.
//!
//! **Boundary:** produces the [`AttackRecord`]; it computes no result.

use std::path::Path;

use chainpost_chain::BlockHash;
use chainpost_edge::clock::unix_now_f64;
use chainpost_wire::{BlockOutcome, Created, NewTransaction, PostState, TransactionStatus};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::config::AttackConfig;
use super::race::{Finder, Move, Outcome, Race};
use super::record::{AttackRecord, TrialRecord};
use crate::attack::network::{
    ATTACKER, AttackError, AttackNetwork, MAX_BLOCKS_A_NETWORK, Shape, answer,
};

/// The honest node the merchant uses, and the one the attacker publishes to.
const MERCHANT: usize = ATTACKER + 1;

/// Runs every trial `config` asks for with the `node_bin` executable; node logs go to
/// `config.out_dir/logs`, one directory per share and confirmation count.
pub async fn run(config: &AttackConfig, node_bin: &Path) -> Result<AttackRecord, AttackError> {
    let began = Instant::now();
    let log_dir = config.out_dir.join("logs");
    let shape = Shape {
        honest_nodes: config.honest_nodes,
        latency_ms: config.latency_ms,
        difficulty: config.difficulty,
        seed: config.seed,
    };
    let mut trials = Vec::new();
    for (share_index, &share) in config.attacker_shares.iter().enumerate() {
        for &confirmations in &config.confirmations {
            // Each cell has its own random stream, so it does not depend on the others.
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(((share_index as u64) << 32) | u64::from(confirmations));
            let cell_logs = log_dir.join(format!("q{share}-z{confirmations}"));
            let mut network = AttackNetwork::start(shape, node_bin, &cell_logs).await?;
            let mut rewritten = 0;
            for number in 0..config.trials {
                if network.status(MERCHANT).await?.height >= MAX_BLOCKS_A_NETWORK {
                    network.stop().await;
                    network = AttackNetwork::start(shape, node_bin, &cell_logs).await?;
                }
                let race = RaceRules {
                    share,
                    confirmations,
                    give_up_behind: config.give_up_behind,
                };
                let trial = trial(&network, race, number, &mut rng).await?;
                rewritten += usize::from(trial.outcome == Outcome::Rewritten);
                trials.push(trial);
            }
            network.stop().await;
            tracing::info!(
                q = share,
                z = confirmations,
                trials = config.trials,
                rewritten,
                secs = began.elapsed().as_secs_f64(),
                "cell done"
            );
        }
    }
    Ok(AttackRecord {
        config: config.clone(),
        trials,
        took_secs: began.elapsed().as_secs_f64(),
    })
}

/// One cell's race.
#[derive(Debug, Clone, Copy)]
struct RaceRules {
    share: f64,
    confirmations: u32,
    give_up_behind: u32,
}

async fn trial(
    network: &AttackNetwork,
    rules: RaceRules,
    number: usize,
    rng: &mut ChaCha8Rng,
) -> Result<TrialRecord, AttackError> {
    let RaceRules {
        share,
        confirmations,
        give_up_behind,
    } = rules;
    let fork = network.status(MERCHANT).await?;
    let post = pay(network, share, confirmations, number).await?;
    let mut race = Race::new(confirmations, give_up_behind);
    let mut finders = String::new();
    let mut ties_kept = 0;
    let mut shown_up_to = fork.height;
    loop {
        let finder = if rng.random_bool(share) {
            Finder::Attacker
        } else {
            Finder::Honest
        };
        finders.push(finder.letter());
        match finder {
            Finder::Attacker => {
                network.mine(ATTACKER).await?;
            }
            Finder::Honest => {
                let miner = rng.random_range(network.honest());
                let tip = network.mine(miner).await?;
                network.wait_for_tip(network.honest(), tip).await?;
                if !finders[..finders.len() - 1].contains('H') {
                    check_confirmed_at(network, &post, fork.height + 1).await?;
                }
            }
        }
        match race.found(finder) {
            Move::Mine => {}
            Move::GiveUp => {
                network.hand_over(MERCHANT, ATTACKER, fork.height).await?;
                return Ok(TrialRecord {
                    attacker_share: share,
                    confirmations,
                    finders,
                    outcome: Outcome::GaveUp,
                    ties_kept,
                    reverted: 0,
                    post_kept: true,
                });
            }
            Move::Publish => {
                let (outcome, tip) = publish(network, shown_up_to).await?;
                shown_up_to = tip.1;
                if outcome == BlockOutcome::Reorganized {
                    network.wait_for_tip(network.honest(), tip.0).await?;
                    return Ok(TrialRecord {
                        attacker_share: share,
                        confirmations,
                        reverted: finders.matches('H').count() as u64,
                        finders,
                        outcome: Outcome::Rewritten,
                        ties_kept,
                        post_kept: pending_everywhere(network, &post).await?,
                    });
                }
                ties_kept += 1;
                race.shown();
            }
        }
    }
}

/// Sends the trial's post to every honest node (the same post, so one id) and returns
/// its id, in hex. Each holds it pending before the first honest block is mined.
async fn pay(
    network: &AttackNetwork,
    share: f64,
    confirmations: u32,
    number: usize,
) -> Result<String, AttackError> {
    let post = NewTransaction {
        author: "merchant".to_owned(),
        content: format!("payment {number} of the race at q = {share}, z = {confirmations}"),
        timestamp: Some(unix_now_f64()),
        public_key: None,
        signature: None,
        reply_to: None,
        handle: None,
    };
    // The merchant's node hears of it first; the others may already have it by
    // gossip, which they answer with 409.
    let mut id = None;
    for node in network.honest() {
        let response = network
            .http
            .post(format!("{}/new_transaction", network.api(node)))
            .json(&post)
            .send()
            .await;
        let failed = |reason: String| AttackError::Node {
            node,
            what: "POST /new_transaction",
            reason,
        };
        let response = response.map_err(|error| failed(error.to_string()))?;
        match response.status() {
            reqwest::StatusCode::CREATED => {
                let created: Created = response
                    .json()
                    .await
                    .map_err(|error| failed(error.to_string()))?;
                id.get_or_insert(created.id.to_string());
            }
            reqwest::StatusCode::CONFLICT if id.is_some() => {}
            status => {
                let body = response.text().await.unwrap_or_default();
                return Err(failed(format!("answered {status}: {body}")));
            }
        }
    }
    id.ok_or_else(|| AttackError::Unexpected {
        node: MERCHANT,
        what: "no honest node took the post".to_owned(),
    })
}

/// Checks that the first honest block, at `height`, confirms the trial's post.
async fn check_confirmed_at(
    network: &AttackNetwork,
    post: &str,
    height: u64,
) -> Result<(), AttackError> {
    let found = post_state(network, MERCHANT, post).await?;
    match found.block {
        Some(block) if found.status == PostState::Confirmed && block.index == height => Ok(()),
        _ => Err(AttackError::Unexpected {
            node: MERCHANT,
            what: format!("the first honest block, at {height}, does not confirm the post"),
        }),
    }
}

async fn post_state(
    network: &AttackNetwork,
    node: usize,
    post: &str,
) -> Result<TransactionStatus, AttackError> {
    let request = network
        .http
        .get(format!("{}/transactions/{post}", network.api(node)));
    answer(node, "GET /transactions/{id}", request).await
}

/// Whether every honest node holds `post` as pending again, now that each shows the
/// attacker's tip (a node shows a tip only once its store's readers show what it holds).
async fn pending_everywhere(network: &AttackNetwork, post: &str) -> Result<bool, AttackError> {
    for node in network.honest() {
        if post_state(network, node, post).await?.status != PostState::Pending {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Posts the attacker's blocks above `shown_up_to` to the merchant's node, in order;
/// returns what the node said of the last, and the attacker's tip (hash, height).
async fn publish(
    network: &AttackNetwork,
    shown_up_to: u64,
) -> Result<(BlockOutcome, (BlockHash, u64)), AttackError> {
    let tip = network.status(ATTACKER).await?;
    let blocks = network
        .blocks(ATTACKER, shown_up_to + 1, tip.height)
        .await?;
    let mut outcomes = Vec::with_capacity(blocks.len());
    for block in &blocks {
        outcomes.push(network.add_block(MERCHANT, block).await?);
    }
    // A branch two or more ahead wins at the block that makes it heavier; the ones
    // after extend it.
    let took_it = outcomes
        .iter()
        .position(|outcome| *outcome == BlockOutcome::Reorganized)
        .is_some_and(|at| {
            outcomes[at + 1..]
                .iter()
                .all(|outcome| *outcome == BlockOutcome::Extended)
        });
    let kept_its_own = !outcomes.is_empty()
        && outcomes
            .iter()
            .all(|outcome| *outcome == BlockOutcome::SideBranch);
    match (took_it, kept_its_own) {
        (true, _) => Ok((BlockOutcome::Reorganized, (tip.tip, tip.height))),
        (_, true) => Ok((BlockOutcome::SideBranch, (tip.tip, tip.height))),
        _ => Err(AttackError::Unexpected {
            node: MERCHANT,
            what: format!(
                "the attacker's blocks {} to {} were taken as {outcomes:?}",
                shown_up_to + 1,
                tip.height
            ),
        }),
    }
}
