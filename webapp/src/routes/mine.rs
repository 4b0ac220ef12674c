//! `POST /mine`: "Request to mine" asks the node's `GET /mine` and tells the outcome in
//! a flash message on the home page, in the reader's words rather than the node's.

use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};

use crate::node_client::NodeError;
use crate::routes::state::AppState;
use crate::session::{Flash, Session};
use crate::views::banner;
use chainpost_wire::lenient::MineOutcome;

pub(crate) async fn mine(State(state): State<AppState>, session: Session) -> Response {
    let node = &state.node(&session);
    let flash = match node.mine().await {
        Ok(MineOutcome::Mined { index: Some(index) }) => Flash::success(format!(
            "Block #{index} is mined: the pending posts are now in the chain."
        )),
        Ok(MineOutcome::Mined { index: None }) => {
            Flash::success("The node mined a new block: the pending posts are now in the chain.")
        }
        Ok(MineOutcome::NothingToMine) => Flash::info(
            "Nothing to mine: no posts are waiting. Write a post first, then ask to mine it.",
        ),
        Err(NodeError::Timeout { timeout, .. }) => Flash::error(format!(
            "The node did not find a block within {} s, so the request was given up. The \
             difficulty may be too high for this machine.",
            timeout.as_secs()
        )),
        Err(NodeError::EndpointMissing { .. }) => {
            Flash::error("This node does not offer mining (it has no /mine).")
        }
        Err(NodeError::Rejected { message, .. }) => {
            Flash::error(format!("The node could not mine: {message}"))
        }
        Err(error) => {
            tracing::warn!(node = %node.base(), %error, "mining request failed");
            Flash::error(format!("Mining was not requested. {}", banner(&error)))
        }
    };
    (
        AppendHeaders([(SET_COOKIE, flash.set_cookie())]),
        Redirect::to("/"),
    )
        .into_response()
}
