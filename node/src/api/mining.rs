//! `GET /mine`: mine the pending posts, answering in the tutorial's words.

use axum::extract::State;

use std::sync::Arc;

use super::error::{ApiError, ErrorBody};
use crate::node::MineOutcome;
use crate::node::Node;

/// Mine the pending posts into a block, as the tutorial's `/mine`.
///
/// Answers in the tutorial's words: `Block #N is mined.` or `No transactions to mine`.
#[utoipa::path(get, path = "/mine", tag = "mining",
    responses((status = 200, description = "What happened, in words", body = String, content_type = "text/plain"),
        (status = 503, description = "Shutting down or storage failed", body = ErrorBody)))]
pub async fn mine(State(node): State<Arc<Node>>) -> Result<String, ApiError> {
    Ok(match node.mine().await? {
        MineOutcome::Mined { index, .. } => format!("Block #{index} is mined."),
        MineOutcome::NothingToMine => "No transactions to mine".to_owned(),
    })
}
