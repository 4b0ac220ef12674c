//! Integration tests: real nodes on random loopback ports, spoken to over HTTP.

mod attack;
mod bad_input;
mod blocks;
mod bodies;
mod corrupt_store;
mod docs;
mod full_disk;
mod helpers;
mod mining;
mod network;
mod persistence;
mod posts;
mod profiles;
mod reads;
mod search;
mod soak;
mod tutorial_api;
