//! Answers whose encoding costs CPU in proportion to their size (chain pages, the tree,
//! pending posts) are encoded off the async workers, a few at a time, on threads that
//! yield the CPU to everything else.
//!
//! On a small machine the runtime has as many workers as cores. Four clients looping on
//! 1,000-block pages kept both workers busy escaping strings, and every post waited behind
//! them (p99 10× its unloaded figure). Encoding on other threads, with at most one fewer at
//! once than there are cores, leaves a core to the requests that cost little. Those threads
//! also run at the lowest CPU priority (nice 19, as RocksDB lowers its compaction threads):
//! the posts and small reads that share the cores with them come first, and the readers
//! still get every cycle nothing else wants. With the same readers (`read_load` bench), a
//! post's p99 went from 2.4-3.5× its unloaded figure to 1.8×, with as many reads served.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use axum::body::Bytes;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::{Semaphore, oneshot};

use super::error::ApiError;
use crate::node::{InternalError, NodeError};

/// The niceness of the encoding threads: the lowest priority Linux gives.
const NICE: i32 = 19;

type Job = Box<dyn FnOnce() + Send>;

/// The limit on large encodings running at once and the threads they run on; cheap to
/// clone. The threads end once the last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct HeavyReads(Arc<Pool>);

#[derive(Debug)]
struct Pool {
    slots: Semaphore,
    jobs: mpsc::Sender<Job>,
}

fn internal(error: impl Into<InternalError>) -> ApiError {
    ApiError::Node(NodeError::Internal(error.into()))
}

impl HeavyReads {
    /// One thread fewer than this machine has cores, and at least one.
    pub(crate) fn for_this_machine() -> std::io::Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let threads = cores.saturating_sub(1).max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name("heavy-read".into())
                .spawn(move || {
                    if let Err(error) =
                        rustix::process::setpriority_process(Some(rustix::thread::gettid()), NICE)
                    {
                        tracing::debug!(%error, "heavy reads run at normal priority");
                    }
                    loop {
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        match job {
                            Ok(job) => job(),
                            Err(mpsc::RecvError) => break,
                        }
                    }
                })?;
        }
        Ok(HeavyReads(Arc::new(Pool {
            slots: Semaphore::new(threads),
            jobs,
        })))
    }

    /// Runs `work` on one of the threads once a slot is free. A panic in `work` is an
    /// internal error, and the thread lives on.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, ApiError> {
        let _slot = self.0.slots.acquire().await.map_err(internal)?;
        let (done, answer) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(work)));
        });
        self.0
            .jobs
            .send(job)
            .map_err(|_| internal(InternalError::HeavyReadsGone))?;
        answer
            .await
            .map_err(|_| internal(InternalError::HeavyReadsGone))?
            .map_err(|_| internal(InternalError::HeavyReadPanicked))
    }

    /// The value `build` makes, as a JSON answer: both run by [`HeavyReads::run`].
    pub(crate) async fn json<T: Serialize>(
        &self,
        build: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Response, ApiError> {
        let bytes = self
            .run(move || serde_json::to_vec(&build()))
            .await?
            .map_err(internal)?;
        Ok(([(CONTENT_TYPE, "application/json")], Bytes::from(bytes)).into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_at_the_lowest_priority_and_a_panic_leaves_the_threads_working() {
        let heavy = HeavyReads::for_this_machine().expect("threads start");
        let niceness = heavy
            .run(|| rustix::process::getpriority_process(None))
            .await
            .expect("runs");
        assert_eq!(niceness.expect("readable"), NICE);
        let threads = heavy.0.slots.available_permits();
        for _ in 0..=threads {
            assert!(heavy.run(|| panic!("a bug in an encoder")).await.is_err());
        }
        assert_eq!(heavy.run(|| 6 * 7).await.expect("still runs"), 42);
    }
}
