//! The chainpost web app: read, post and mine through a chainpost node, in the browser.
//!
//! It keeps the tutorial's web application (a form that posts to `/submit`, the chain's
//! posts newest first, a way to ask for mining) and adds what a person expects: a block
//! explorer with the block tree and its forks, posts signed in the browser with Ed25519,
//! pages that update themselves, and clear messages when a node is down or refuses.
//!
//! - [`config`]: flags and environment.
//! - [`node_client`]: the typed HTTP client for one node.
//! - [`post`]: the post form, its checks, and signature verification.
//! - [`session`]: the cookies that remember the chosen node and one flash message.
//! - [`views`]: template structs and display-ready values.
//! - [`routes`]: the router, a file per page or action.
//! - [`startup`]: bind and serve with graceful shutdown.
//!
//! See ARCHITECTURE.md at the repository root for the whole workspace.

pub mod config;
pub mod node_client;
pub mod post;
mod routes;
pub mod session;
pub mod startup;
pub mod views;

pub use routes::live::MAX_LIVE_STREAMS_PER_ADDRESS;
