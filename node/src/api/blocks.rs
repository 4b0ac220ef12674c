//! `POST /add_block`: a block mined elsewhere, fully validated before it is kept.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use std::sync::Arc;

use super::error::{ApiError, ErrorBody, JsonBody};
use crate::node::Node;
use chainpost_chain::InsertOutcome;
use chainpost_wire::BlockJson;

#[derive(Debug, Serialize, ToSchema)]
pub struct AddBlockResponse {
    message: String,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    missing: Option<String>,
}

/// A block mined elsewhere, as the tutorial's `/add_block`; fully validated.
#[utoipa::path(post, path = "/add_block", tag = "chain", request_body = BlockJson,
    responses((status = 201, description = "Stored: extended, reorganized or side branch", body = AddBlockResponse),
        (status = 200, description = "Already known", body = AddBlockResponse),
        (status = 202, description = "Held until its missing ancestor arrives", body = AddBlockResponse),
        (status = 400, description = "Malformed or invalid input", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody)))]
pub async fn add_block(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    JsonBody(block): JsonBody<BlockJson>,
) -> Result<(StatusCode, Json<AddBlockResponse>), ApiError> {
    let (block, claimed_hash) = block.into_block()?;
    let accepted = node
        .submit_block(block, claimed_hash, super::origin(&headers))
        .await?;
    let (status, outcome, message, missing) = match accepted.outcome {
        InsertOutcome::Extended { .. } => (
            StatusCode::CREATED,
            "extended",
            "Block added to the chain".to_owned(),
            None,
        ),
        InsertOutcome::Reorganized { reverted, .. } => (
            StatusCode::CREATED,
            "reorganized",
            format!(
                "Block added to the chain; it completes a heavier branch that replaced {} block(s)",
                reverted.len()
            ),
            None,
        ),
        InsertOutcome::SideBranch { .. } => (
            StatusCode::CREATED,
            "side_branch",
            "Block stored on a side branch; the best chain has at least as much work".to_owned(),
            None,
        ),
        InsertOutcome::AlreadyKnown => (
            StatusCode::OK,
            "already_known",
            "Block already known".to_owned(),
            None,
        ),
        InsertOutcome::UnknownParent { missing } => (
            StatusCode::ACCEPTED,
            "unknown_parent",
            format!(
                "Block held until its missing ancestor {missing} arrives; it is not stored yet"
            ),
            Some(missing.to_string()),
        ),
    };
    Ok((
        status,
        Json(AddBlockResponse {
            message,
            outcome,
            missing,
        }),
    ))
}
