//! Catching up with a peer: ask for its tip and work, find where its chain leaves ours,
//! download only what is missing, in pages, and hand every block to full validation.
//!
//! A peer claiming more work proves nothing by saying so: blocks go through the same
//! checks as any other, and a peer that serves an invalid block is reported so the caller
//! can disconnect it. A lighter chain is never downloaded at all.

use crate::node::{Node, NodeError};
use crate::p2p::client::{ClientError, PeerClient};
use crate::peer_url::PeerUrl;
use chainpost_chain::BlockHash;
use chainpost_wire::BlockJson;

/// Blocks asked for per page.
pub(crate) const PAGE: usize = 500;

/// A page smaller than this that stops short of the chain its peer says it has is
/// stalling: an honest node fills a page up to the limit asked for, or to about 2 MiB of
/// blocks (`chainpost_wire::MAX_PAGE_BYTES`), whichever comes first.
const SHORT_PAGE_BYTES: usize = 1 << 20;

/// What a sync achieved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Blocks downloaded and accepted.
    pub(crate) blocks_added: usize,
    /// Whether our best tip moved.
    pub(crate) tip_changed: bool,
}

/// Why a sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Talking to the peer failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The peer served a block that failed validation: it is faulty or malicious.
    #[error("peer {peer} served an invalid block: {error}")]
    InvalidBlock {
        peer: PeerUrl,
        /// Why the block was refused.
        error: NodeError,
    },
    /// The peer's chain does not start from our genesis.
    #[error("peer {0} is on another network (no common genesis)")]
    OtherNetwork(PeerUrl),
    /// A page stopped short of the chain the peer says it has, while far from full: no
    /// honest peer does that, a trickling one does.
    #[error("peer {peer} is stalling: it served {served} of {asked} blocks in {bytes} bytes")]
    Stalled {
        peer: PeerUrl,
        /// Blocks in the page.
        served: usize,
        /// Blocks asked for that its chain holds.
        asked: u64,
        /// The page's size.
        bytes: usize,
    },
    /// The sync outlasted its deadline: the peer trickles, or its chain never ends.
    #[error("sync with peer {peer} took longer than {deadline:?}")]
    TooSlow {
        peer: PeerUrl,
        deadline: std::time::Duration,
    },
    /// The peer's answers contradict each other.
    #[error("peer {peer} answered inconsistently: {reason}")]
    Inconsistent {
        peer: PeerUrl,
        /// What did not add up.
        reason: String,
    },
}

/// Downloads and validates whatever `peer` has that we lack, if it claims more work and
/// is still on the network of `genesis`.
pub(crate) async fn sync_with(
    node: &Node,
    client: &PeerClient,
    peer: &PeerUrl,
    genesis: BlockHash,
) -> Result<SyncReport, SyncError> {
    let status = client.status(peer).await?;
    if status.genesis != Some(genesis) {
        return Err(SyncError::OtherNetwork(peer.clone()));
    }
    let (our_height, our_work, known) = node.with_chain(|chain| {
        let tree = chain.tree();
        let known = tree.get(&status.tip).is_some();
        (tree.tip().height(), tree.tip().cumulative_work, known)
    });
    if known || status.cumulative_work <= our_work {
        return Ok(SyncReport::default());
    }

    // Step back from just above our tip, doubling the stride, until the peer's page starts
    // on a block we know; from there on everything is new to us.
    let mut from = our_height.saturating_add(1).min(status.height);
    let mut stride = 1;
    let mut page = loop {
        let page = fetch_page(client, peer, from).await?;
        let parent_known = page.first().is_some_and(|first| {
            first
                .previous_hash
                .parse::<BlockHash>()
                .is_ok_and(|parent| node.with_chain(|chain| chain.tree().get(&parent).is_some()))
        });
        if parent_known {
            break page;
        }
        if from <= 1 {
            return Err(SyncError::OtherNetwork(peer.clone()));
        }
        from = from.saturating_sub(stride).max(1);
        stride = stride.saturating_mul(2);
    };

    let mut report = SyncReport::default();
    loop {
        let received = page.len() as u64;
        let mut blocks = Vec::with_capacity(page.len());
        for json in page {
            match json.into_block() {
                Ok(decoded) => blocks.push(decoded),
                Err(error) => {
                    return Err(SyncError::Inconsistent {
                        peer: peer.clone(),
                        reason: error.to_string(),
                    });
                }
            }
        }
        let submitted = node.submit_blocks(blocks, Some(peer.clone())).await;
        report.blocks_added += submitted
            .accepted
            .iter()
            .map(|accepted| accepted.outcome.connected().len())
            .sum::<usize>();
        report.tip_changed |= submitted
            .accepted
            .iter()
            .any(|accepted| accepted.outcome.tip_changed());
        if let Some(error) = submitted.error {
            return Err(match error {
                NodeError::Block(ref rejected) if rejected.is_peer_fault() => {
                    SyncError::InvalidBlock {
                        peer: peer.clone(),
                        error,
                    }
                }
                other => SyncError::Inconsistent {
                    peer: peer.clone(),
                    reason: other.to_string(),
                },
            });
        }
        from += received;
        if from > status.height {
            break;
        }
        tracing::info!(%peer, height = from - 1, target = status.height, "syncing");
        page = fetch_page(client, peer, from).await?;
    }
    Ok(report)
}

/// A page of the peer's best chain starting exactly at `from`, with consecutive indexes,
/// as full as an honest peer fills one: anything else is refused, so a peer cannot keep us
/// fetching the same blocks forever, or a block at a time.
async fn fetch_page(
    client: &PeerClient,
    peer: &PeerUrl,
    from: u64,
) -> Result<Vec<BlockJson>, SyncError> {
    let (page, bytes) = client.chain_page(peer, from, PAGE).await?;
    // What the peer's own chain holds from `from`, as this very answer says.
    let asked = page.length.saturating_sub(from).min(PAGE as u64);
    if (page.chain.len() as u64) < asked && bytes < SHORT_PAGE_BYTES {
        return Err(SyncError::Stalled {
            peer: peer.clone(),
            served: page.chain.len(),
            asked,
            bytes,
        });
    }
    let page = page.chain;
    if page.is_empty() {
        return Err(SyncError::Inconsistent {
            peer: peer.clone(),
            reason: format!("has no block at height {from} below the tip it claims"),
        });
    }
    if let Some((offset, block)) = page
        .iter()
        .enumerate()
        .find(|(offset, block)| block.index != from + *offset as u64)
    {
        return Err(SyncError::Inconsistent {
            peer: peer.clone(),
            reason: format!(
                "page from height {from} has block #{} at position {offset}",
                block.index
            ),
        });
    }
    Ok(page)
}
