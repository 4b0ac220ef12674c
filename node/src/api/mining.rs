//! `GET /mine`: mine the pending posts, answering in the tutorial's words.

use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use crate::node::MineOutcome;

pub async fn mine(State(node): State<AppState>) -> Result<String, ApiError> {
    Ok(match node.mine().await? {
        MineOutcome::Mined { index, .. } => format!("Block #{index} is mined."),
        MineOutcome::NothingToMine => "No transactions to mine".to_owned(),
    })
}
