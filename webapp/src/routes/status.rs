//! A node's status as a page shows it, for every route that needs one: the home page's
//! panel, the explorer's and the live feeds' fingerprint, resync's before and after.
//!
//! A node without `/status` (tutorial-style) is read from `/chain` and `/pending_tx`.

use crate::node_client::{NodeClient, NodeError};
use crate::views::{LIVE_DOWN, StatusView};

/// Pending posts a page lists: the oldest this many, with the count of all.
pub(crate) const PENDING_SHOWN: usize = 50;

/// The status panel of `node`: from `/status`, or for a node without it, from `/chain`
/// and `/pending_tx`.
pub(crate) async fn read_status(node: &NodeClient) -> Result<StatusView, NodeError> {
    match node.status().await {
        Ok(status) => Ok(StatusView::new(&status)),
        Err(NodeError::EndpointMissing { .. }) => {
            let (chain, pending) = tokio::join!(node.chain(), node.pending(PENDING_SHOWN));
            let chain = chain?;
            Ok(StatusView::from_chain(
                chain.length,
                chain.chain.last(),
                pending?.len() as u64,
            ))
        }
        Err(error) => Err(error),
    }
}

/// The live-update fingerprint of `node` now ([`LIVE_DOWN`] when it cannot be read), so
/// a page refreshes when a block or post arrives.
pub(crate) async fn live_fingerprint(node: &NodeClient) -> String {
    match read_status(node).await {
        Ok(status) => status.live_fingerprint(),
        Err(_) => LIVE_DOWN.to_owned(),
    }
}
