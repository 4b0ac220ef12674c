//! Peers and consensus: the bodies and answers of `POST /register_node` (it answers a
//! [`crate::ChainPage`]), `POST /register_with` and `GET /nodes/resolve`.

use chainpost_chain::BlockHash;
use serde::{Deserialize, Serialize};

/// Body of both registration endpoints, as in the tutorial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NodeAddress {
    /// The base URL of the node to register.
    pub node_address: String,
}

/// The query of `POST /register_node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct RegisterQuery {
    /// Whether to include the whole chain (default true, as the tutorial); chainpost
    /// nodes sync in pages and ask for the peers only.
    #[serde(default = "the_tutorials_include_chain")]
    pub include_chain: bool,
}

fn the_tutorials_include_chain() -> bool {
    true
}

/// The text `POST /register_with` answers with, as the tutorial's.
pub const REGISTERED: &str = "Registration successful";

/// `GET /nodes/resolve`: what consensus did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Resolved {
    /// The outcome in the tutorial's words.
    pub(crate) message: String,
    /// Whether the node switched to a peer's chain.
    pub(crate) replaced: bool,
    /// How many peers it asked.
    pub(crate) peers_consulted: usize,
    /// How many blocks it took from them.
    pub(crate) blocks_added: usize,
    /// Height of its best tip afterwards.
    pub(crate) height: u64,
    /// Hash of its best tip afterwards.
    #[serde(with = "crate::hex_hash")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub(crate) tip: BlockHash,
}

impl Resolved {
    pub fn new(
        replaced: bool,
        peers_consulted: usize,
        blocks_added: usize,
        height: u64,
        tip: BlockHash,
    ) -> Self {
        let message = if replaced {
            "Our chain was replaced"
        } else {
            "Our chain is authoritative"
        };
        Resolved {
            message: message.to_owned(),
            replaced,
            peers_consulted,
            blocks_added,
            height,
            tip,
        }
    }
}
