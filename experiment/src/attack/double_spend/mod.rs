//! Rewriting a confirmed post: the double-spend race (`experiment attack`).

pub mod analysis;
pub mod config;
mod race;
pub mod record;
pub mod report;
pub mod run;

pub use race::Outcome;
