//! `GET /mine`: mine the pending posts, answering in the tutorial's words.

use axum::extract::State;

use std::sync::Arc;

use super::error::ApiError;
use crate::node::MineOutcome;
use crate::node::Node;
use chainpost_wire::{ErrorBody, MineAnswer};

/// Mine the pending posts into a block, as the tutorial's `/mine`.
///
/// Answers in the tutorial's words: `Block #N is mined.` or `No transactions to mine`.
#[utoipa::path(get, path = "/mine", tag = "mining",
    responses((status = 200, description = "What happened, in words", body = String, content_type = "text/plain"),
        (status = 503, description = "Shutting down or storage failed", body = ErrorBody)))]
pub(crate) async fn mine(State(node): State<Arc<Node>>) -> Result<String, ApiError> {
    let answer = match node.mine().await? {
        MineOutcome::Mined { index, .. } => MineAnswer::Mined { index },
        MineOutcome::NothingToMine => MineAnswer::NothingToMine,
    };
    Ok(answer.to_string())
}
