//! chainpost node: a small proof-of-work blockchain of posts behind the HTTP API of the
//! "build a blockchain application from scratch in Python" tutorial.
//!
//! The crate is split into a functional core and an imperative shell:
//! - [`chain`] holds every consensus rule as pure code: no I/O, no clock, no globals.
//! - [`store`], [`miner`], [`api`] and [`startup`] are the shell around it: disk, threads,
//!   HTTP and wiring.
//!
//! See ARCHITECTURE.md at the repository root for how a block travels through them.

pub mod api;
pub mod config;
pub mod metrics;
pub mod miner;
pub mod node;
pub mod p2p;
pub mod startup;
pub mod store;
