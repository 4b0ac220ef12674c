//! Research mode's attack runs on real nodes, measured against `attack_theory`: the
//! double-spend race (`experiment attack`).

pub mod analysis;
pub mod config;
mod race;
pub mod record;
pub mod report;
pub mod run;

pub use race::Outcome;
