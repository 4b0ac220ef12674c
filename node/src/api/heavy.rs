//! Answers whose encoding costs CPU in proportion to their size (chain pages, the tree,
//! pending posts) are encoded off the async workers, a few at a time.
//!
//! On a small machine the runtime has as many workers as cores. Four clients looping on
//! 1,000-block pages kept both workers busy escaping strings, and every post waited behind
//! them (p99 10× its unloaded figure). Encoding on blocking threads, with at most one
//! fewer at once than there are cores, leaves a core to the requests that cost little.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::error::ApiError;
use crate::node::NodeError;

/// The limit on large encodings running at once; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct HeavyReads(Arc<Semaphore>);

impl HeavyReads {
    /// One fewer at once than this machine has cores, and at least one.
    pub(crate) fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        HeavyReads(Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))))
    }

    /// Runs `work` on a blocking thread once a slot is free.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let _slot = self
            .0
            .acquire()
            .await
            .map_err(|error| ApiError::Node(NodeError::Internal(error.into())))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|error| ApiError::Node(NodeError::Internal(error.into())))
    }

    /// The value `build` makes, as a JSON answer: both run by [`HeavyReads::run`].
    pub(crate) async fn json<T: Serialize>(
        &self,
        build: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Response, ApiError> {
        let bytes = self
            .run(move || serde_json::to_vec(&build()))
            .await?
            .map_err(|error| ApiError::Node(NodeError::Internal(error.into())))?;
        Ok(([(CONTENT_TYPE, "application/json")], Bytes::from(bytes)).into_response())
    }
}
