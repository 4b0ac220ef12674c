//! `GET /events`: server-sent events that tell an open page when the chosen node changed
//! (a new block, a new pending post, the node going down or coming back).
//!
//! Each stream polls the node's status every `poll_interval` and sends a `status` event
//! only when its fingerprint changes, so an idle page costs one small request per
//! interval and no traffic to the browser. The page fetches its new content itself. The
//! stream ends when the app shuts down, so graceful shutdown never waits on it.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};

use super::AppState;
use super::home::read_status;
use crate::node_client::NodeClient;
use crate::session::Session;
use crate::views::LIVE_DOWN;

pub async fn events(
    State(state): State<AppState>,
    session: Session,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let node = state.node(&session).clone();
    let changes = fingerprint_changes(node, state.poll_interval);
    let mut shutdown = state.shutdown.clone();
    let stream = changes
        .map(|fingerprint| Ok(Event::default().event("status").data(fingerprint)))
        .take_until(async move {
            // An error means the sender is gone: the app is stopping either way.
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The node's fingerprint now, then each time it differs from the last one sent.
fn fingerprint_changes(node: NodeClient, every: Duration) -> impl Stream<Item = String> {
    let mut ticks = tokio::time::interval(every);
    // After a slow answer, wait a full interval rather than catching up in a burst.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    stream::unfold(
        (node, ticks, None::<String>),
        |(node, mut ticks, last)| async move {
            loop {
                ticks.tick().await;
                let now = match read_status(&node).await {
                    Ok(status) => status.live_fingerprint(),
                    Err(_) => LIVE_DOWN.to_owned(),
                };
                if last.as_deref() != Some(now.as_str()) {
                    return Some((now.clone(), (node, ticks, Some(now))));
                }
            }
        },
    )
}
