//! The HTTP contract of chainpost: every JSON shape that nodes, peers, the web app and
//! research runs exchange, defined once with serde. The node's API writes these types,
//! and its peer client, the web app and the experiment read them.
//!
//! **Boundary:** shapes and their encoding only: no HTTP, no I/O, no state. Modules go
//! by resource (`blocks`, `chain`, `status`, `posts`, `profiles`, `search`, `peers`, `mining`, `error`, and
//! `events` for the node's `--events` stream); the
//! tolerant reading of nodes this code does not control (the tutorial's) is [`lenient`]
//! and nowhere else. Hashes decode into the core's types at this edge; converting a post
//! or block to the core's types recomputes every hash, so nothing a sender claims is
//! trusted. OpenAPI schemas exist only with the `openapi` feature, which the node turns
//! on and clients leave off.

mod blocks;
mod chain;
mod error;
pub mod events;
mod hex_hash;
pub mod lenient;
mod mining;
mod peers;
mod posts;
mod profiles;
mod search;
mod status;

pub use blocks::{BlockJson, TransactionJson, WireError, post_kind, signature_from_hex};
pub use chain::{
    AddBlockResponse, BlockDetail, BlockOutcome, ChainPage, ChainQuery, MAX_PAGE, MAX_PAGE_BYTES,
    TreeBlock, TreeQuery, TreeView,
};
pub use error::{ErrorBody, NO_SUCH_ENDPOINT};
pub use mining::MineAnswer;
pub use peers::{NodeAddress, REGISTERED, RegisterQuery, Resolved};
pub use posts::{
    BadCursor, BlockRef, Created, DEFAULT_POSTS_PAGE, MAX_PENDING_PAGE, MAX_POSTS_PAGE,
    NewTransaction, PendingQuery, PendingTransaction, PostCursor, PostState, PostsPage, PostsQuery,
    Thread, ThreadQuery, TransactionStatus,
};
pub use profiles::{HandleOwner, MAX_PROFILE_KEYS, Profile, ProfilesPage, ProfilesQuery};
pub use search::{SearchQuery, SearchResults};
pub use status::Status;

/// Header naming the sending node, so a receiver can ask it first for missing ancestors.
pub const PEER_HEADER: &str = "x-chainpost-peer";
