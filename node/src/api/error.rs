//! The one place errors become HTTP responses, and the extractors whose rejections use
//! the same `{"error": "..."}` shape.
//!
//! Input problems are 4xx with a message that says what is wrong. Server-side failures
//! are 5xx with a generic message; their details go to the log, never to the client.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::node::NodeError;
use chainpost_chain::mempool::MempoolError;
use chainpost_chain::state::SubmitTxError;
use chainpost_wire::{ErrorBody, WireError};

use crate::search::SearchError;

/// An API failure, mapped to a status code and a JSON body.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request is malformed: bad JSON, wrong types, bad query or path.
    #[error("{0}")]
    BadRequest(String),
    /// The body is bigger than the endpoint accepts.
    #[error("request body is too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body did not arrive in time.
    #[error("{0}")]
    BodyTimeout(#[from] chainpost_edge::serve::BodyTimedOut),
    /// The node is busy with others' requests of this kind; try again shortly.
    #[error("{0}")]
    Busy(String),
    /// Another node, asked on the caller's behalf, failed or refused.
    #[error("{0}")]
    BadGateway(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A post or block in a format the node understands but cannot decode.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// What the node said.
    #[error(transparent)]
    Node(#[from] NodeError),
    /// A search that could not run.
    #[error(transparent)]
    Search(#[from] SearchError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::Wire(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Search(SearchError::BadQuery(_)) => StatusCode::BAD_REQUEST,
            ApiError::Search(SearchError::Store(_) | SearchError::Opening) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Search(SearchError::Index(_) | SearchError::Io(_)) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            ApiError::Node(error) => match error {
                NodeError::Transaction(SubmitTxError::Invalid(_)) => StatusCode::BAD_REQUEST,
                NodeError::Transaction(SubmitTxError::StoreUnreadable { .. }) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                NodeError::Transaction(
                    SubmitTxError::AlreadyConfirmed { .. }
                    | SubmitTxError::Mempool(MempoolError::Duplicate { .. }),
                ) => StatusCode::CONFLICT,
                NodeError::Transaction(SubmitTxError::Mempool(MempoolError::Full { .. })) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                // Valid, but beyond what this node keeps of side branches: not the
                // sender's fault, and a peer must not count it as one.
                NodeError::Block(error) if error.is_side_branch_bound() => StatusCode::CONFLICT,
                // This node's store failed it: like a storage failure, worth a retry.
                NodeError::Block(error) if error.is_local_failure() => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                NodeError::Block(_) => StatusCode::BAD_REQUEST,
                NodeError::Storage(_) | NodeError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                NodeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    fn public_message(&self) -> String {
        match self {
            ApiError::Node(NodeError::Storage(_)) => {
                "storage failed; nothing was written, try again later".into()
            }
            ApiError::Search(SearchError::Store(_)) => {
                "storage failed; try the search again later".into()
            }
            ApiError::Search(SearchError::Index(_) | SearchError::Io(_)) => {
                "the search index failed".into()
            }
            ApiError::Node(NodeError::Internal(_)) => "internal error".into(),
            ApiError::Node(NodeError::Block(error)) => {
                format!("The block was discarded by the node: {error}")
            }
            other => other.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            // Back-pressure and shutdown are the node working as designed; under load they
            // can come thousands of times a second.
            ApiError::Node(
                NodeError::ShuttingDown
                | NodeError::Transaction(SubmitTxError::Mempool(MempoolError::Full { .. })),
            ) => tracing::debug!(error = %self, "request refused"),
            _ if status.is_server_error() => tracing::error!(error = %self, "request failed"),
            _ => {}
        }
        error_response(status, self.public_message())
    }
}

/// A response with the JSON error shape every failure uses.
pub(crate) fn error_response(status: StatusCode, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: message.into(),
    };
    (status, Json(body)).into_response()
}

/// A JSON request body, read whatever the `Content-Type` says (the tutorial's own
/// `announce_new_block` sends none), with failures in the API's error shape.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        if bytes.is_empty() {
            return Err(ApiError::BadRequest(
                "request body is empty; expected a JSON object".into(),
            ));
        }
        // serde's derived structs also read arrays of their fields in order; the API
        // speaks objects only, so anything else is refused before it gets that far.
        if bytes.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
            return Err(not_an_object(&bytes));
        }
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| ApiError::BadRequest(format!("invalid JSON body: {error}")))
    }
}

fn not_an_object(bytes: &[u8]) -> ApiError {
    use serde_json::Value;
    let found = match serde_json::from_slice::<Value>(bytes) {
        Err(error) => return ApiError::BadRequest(format!("invalid JSON body: {error}")),
        Ok(Value::Array(_)) => "an array",
        Ok(Value::String(_)) => "a string",
        Ok(Value::Number(_)) => "a number",
        Ok(Value::Bool(_)) => "a boolean",
        Ok(Value::Null) => "null",
        Ok(Value::Object(_)) => "an object",
    };
    ApiError::BadRequest(format!(
        "invalid JSON body: expected a JSON object, got {found}"
    ))
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit: super::MAX_BODY_BYTES,
        }
    } else if let BytesRejection::FailedToBufferBody(failed) = &rejection
        && let Some(timeout) = chainpost_edge::serve::body_timeout_cause(failed)
    {
        ApiError::BodyTimeout(*timeout)
    } else {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// Query parameters with failures in the API's error shape.
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::try_from_uri(&parts.uri)
            .map(|query| QueryParams(query.0))
            .map_err(|rejection: QueryRejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// A path parameter with failures in the API's error shape.
pub(crate) struct PathParam(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|path| PathParam(path.0))
            .map_err(|rejection: PathRejection| ApiError::BadRequest(rejection.body_text()))
    }
}
