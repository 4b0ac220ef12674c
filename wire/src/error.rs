//! The `{"error": "..."}` body of every 4xx and 5xx answer.

use serde::{Deserialize, Serialize};

/// The JSON error shape every failure uses (documented in the OpenAPI description).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// What is wrong, in words.
    pub error: String,
}

/// The error of a 404 for a path the node does not serve, as opposed to a thing it does
/// not have: clients tell an older node's missing endpoint by it.
pub const NO_SUCH_ENDPOINT: &str = "no such endpoint";
