//! `GET /mine`: mine the pending posts, answering in the tutorial's words.

use axum::extract::State;

use std::sync::Arc;

use super::error::ApiError;
use crate::node::MineOutcome;
use crate::node::Node;

pub async fn mine(State(node): State<Arc<Node>>) -> Result<String, ApiError> {
    Ok(match node.mine().await? {
        MineOutcome::Mined { index, .. } => format!("Block #{index} is mined."),
        MineOutcome::NothingToMine => "No transactions to mine".to_owned(),
    })
}
