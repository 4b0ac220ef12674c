//! chainpost node: a small proof-of-work blockchain of posts behind the HTTP API of the
//! "build a blockchain application from scratch in Python" tutorial.
//!
//! The crate is split into a functional core and an imperative shell:
//! The consensus rules are the `chain` crate (pure code: no I/O, no clock, no globals);
//! this crate is the shell around them: [`store`] (disk), [`miner`] (threads), [`api`]
//! (HTTP), [`p2p`] (other nodes) and [`startup`] (wiring).
//!
//! See ARCHITECTURE.md at the repository root for how a block travels through them.

pub mod api;
pub mod config;
mod event_log;
mod metrics;
pub mod miner;
pub mod node;
pub mod p2p;
mod peer_url;
mod search;
pub mod startup;
pub mod store;
