//! Research mode's attack runs on real nodes, measured against `attack_theory`: the
//! double-spend race (`experiment attack`) and selfish mining (`experiment selfish`).
//!
//! In both, the runner is the clock: it draws which miner finds each next block from the
//! run's seed (in a race of hash shares, the finders are independent draws by share) and
//! asks that node's `GET /mine` for one block. The attacker's node is an ordinary node
//! linked with nobody; the runner plays its strategy, publishing through `POST /add_block`,
//! so no node ever carries attack code. What the other nodes do with what they are shown
//! is theirs.

pub mod double_spend;
mod network;
pub mod selfish;
