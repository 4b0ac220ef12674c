//! chainpost's research mode: start a network of real `node` processes on one machine,
//! link them through delay-and-loss relays in a chosen topology, let them mine with given
//! shares of hash power while posts stream in, and measure what forks do.

pub mod analysis;
pub mod attack;
pub mod attack_theory;
pub mod bandwidth;
pub mod cluster;
pub mod config;
mod events;
mod proxy;
pub mod record;
pub mod regions;
pub mod report;
pub mod run;
pub mod sweep;
mod theory;
mod topology;
