//! `POST /add_block`: a block mined elsewhere, fully validated before it is kept.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use std::sync::Arc;

use super::error::{ApiError, JsonBody};
use crate::node::Node;
use chainpost_chain::InsertOutcome;
use chainpost_wire::{AddBlockResponse, BlockJson, BlockOutcome, ErrorBody};

/// A block mined elsewhere, as the tutorial's `/add_block`; fully validated.
#[utoipa::path(post, path = "/add_block", tag = "chain", request_body = BlockJson,
    responses((status = 201, description = "Stored: extended, reorganized or side branch", body = AddBlockResponse),
        (status = 200, description = "Already known", body = AddBlockResponse),
        (status = 202, description = "Held until its missing ancestor arrives", body = AddBlockResponse),
        (status = 400, description = "Malformed or invalid input", body = ErrorBody), (status = 413, description = "Body too large", body = ErrorBody)))]
pub(crate) async fn add_block(
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
            BlockOutcome::Extended,
            "Block added to the chain".to_owned(),
            None,
        ),
        InsertOutcome::Reorganized { reverted, .. } => (
            StatusCode::CREATED,
            BlockOutcome::Reorganized,
            format!(
                "Block added to the chain; it completes a heavier branch that replaced {} block(s)",
                reverted.len()
            ),
            None,
        ),
        InsertOutcome::SideBranch { .. } => (
            StatusCode::CREATED,
            BlockOutcome::SideBranch,
            "Block stored on a side branch; the best chain has at least as much work".to_owned(),
            None,
        ),
        InsertOutcome::AlreadyKnown => (
            StatusCode::OK,
            BlockOutcome::AlreadyKnown,
            "Block already known".to_owned(),
            None,
        ),
        InsertOutcome::UnknownParent { missing } => (
            StatusCode::ACCEPTED,
            BlockOutcome::UnknownParent,
            format!(
                "Block held until its missing ancestor {missing} arrives; it is not stored yet"
            ),
            Some(missing),
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
