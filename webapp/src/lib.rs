//! The chainpost web app: read, post and mine through a chainpost node, in the browser.
//!
//! It keeps the tutorial's web application (a form that posts to `/submit`, the chain's
//! posts newest first, a way to ask for mining) and adds what a person expects: a block
//! explorer with the block tree and its forks, posts signed in the browser with Ed25519,
//! pages that update themselves, and clear messages when a node is down or refuses.
//!
//! - [`config`]: flags and environment.
//! - [`startup`]: bind and serve with graceful shutdown.
//!
//! The rest is the crate's own (module map and boundaries in ARCHITECTURE.md):
//! `node_client` (the typed HTTP client for one node), `names` (what the node says each
//! key is called), `post` (the post form, its checks, signature verification), `session`
//! (the cookies that remember the chosen node and one flash message), `views` (template
//! structs and display-ready values, no crypto, no I/O) and `routes` (the router, a file
//! per page or action, and what they share).
//!
//! See ARCHITECTURE.md at the repository root for the whole workspace.

pub mod config;
mod links;
mod names;
mod node_client;
mod post;
mod routes;
mod session;
pub mod startup;
mod views;

/// Most live-update streams one address may hold open at once (a reader's open tabs).
pub use routes::live::MAX_LIVE_STREAMS_PER_ADDRESS;
