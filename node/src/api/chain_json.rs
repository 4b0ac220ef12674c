//! The tutorial's `{"length", "chain", "peers"}` document ([`ChainPage`]), streamed a few
//! blocks at a time.
//!
//! A whole chain can be hundreds of megabytes of JSON. Serializing it into one buffer and
//! then handing that to the socket would hold it in memory once as blocks and once more as
//! text; streaming holds only one chunk of blocks and its text. A whole chain is taken as
//! the best chain's hashes of one commit (32 bytes a block, read from a snapshot of the
//! store), and each chunk's blocks are read from the store as the socket wants them; the
//! store never deletes a block, so the document is the chain as it was, even if a
//! reorganization happens while it is sent. Nothing of it is read under the chain lock.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use futures_util::StreamExt;

use super::error::ApiError;
use super::heavy::HeavyReads;
use crate::node::NodeError;
use crate::store::{Reader, StoreError};
use chainpost_chain::{Block, BlockHash};
use chainpost_wire::{BlockJson, ChainPage};

/// Blocks serialized per chunk: big enough to amortize a write, small enough that a chunk
/// of ordinary blocks stays around a hundred kilobytes.
const BLOCKS_PER_CHUNK: usize = 64;

/// A chain (or a page of it) with the peers, as the tutorial's `/chain` and
/// `/register_node` answer.
pub(crate) struct ChainDocument {
    /// The whole best chain's length, even when `blocks` is one page of it.
    pub(crate) length: u64,
    /// The blocks sent, in chain order.
    pub(crate) blocks: ChainBlocks,
    /// Peer URLs.
    pub(crate) peers: Vec<String>,
    /// Where its chunks are encoded.
    pub(crate) heavy: HeavyReads,
}

/// The blocks of a [`ChainDocument`]: the best chain's hashes of one commit (a page of
/// them, or all), each chunk's blocks read from the store as the socket wants them.
pub(crate) struct ChainBlocks {
    pub(crate) reader: Reader,
    pub(crate) hashes: Vec<BlockHash>,
}

impl ChainBlocks {
    /// The best chain's length and, with `include_blocks`, all its blocks, as of the last
    /// commit.
    pub(crate) async fn whole_chain(
        reader: Reader,
        heavy: &HeavyReads,
        include_blocks: bool,
    ) -> Result<(u64, ChainBlocks), ApiError> {
        let read = reader.clone();
        let (length, hashes) = heavy
            .run(move || {
                if include_blocks {
                    let hashes = read.best_chain_hashes()?;
                    Ok((hashes.len() as u64, hashes))
                } else {
                    Ok((read.best_chain_length()?, Vec::new()))
                }
            })
            .await?
            .map_err(NodeError::Storage)?;
        Ok((length, ChainBlocks { reader, hashes }))
    }

    fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Blocks `start..end`.
    fn blocks(&self, start: usize, end: usize) -> Result<Vec<Arc<Block>>, StoreError> {
        self.reader.blocks(&self.hashes[start..end])
    }
}

impl ChainDocument {
    fn head(&self) -> Bytes {
        Bytes::from(ChainPage::json_before_blocks(self.length))
    }

    fn tail(&self) -> Bytes {
        Bytes::from(ChainPage::json_after_blocks(&self.peers))
    }

    /// The whole document, chunk by chunk, encoded where it is asked for (tests).
    #[cfg(test)]
    fn chunks(self) -> impl Iterator<Item = Bytes> {
        let (head, tail) = (self.head(), self.tail());
        let blocks = Arc::new(self.blocks);
        let body = chunk_starts(blocks.len())
            .map(move |start| encode_chunk(&blocks, start).expect("the blocks are stored"));
        std::iter::once(head)
            .chain(body)
            .chain(std::iter::once(tail))
    }
}

fn chunk_starts(blocks: usize) -> impl Iterator<Item = usize> + Send + 'static {
    (0..blocks).step_by(BLOCKS_PER_CHUNK)
}

/// The chunk of blocks from `start`.
fn encode_chunk(blocks: &ChainBlocks, start: usize) -> Result<Bytes, StoreError> {
    let end = (start + BLOCKS_PER_CHUNK).min(blocks.len());
    Ok(encode_blocks(&blocks.blocks(start, end)?, start == 0))
}

/// `block,block,...`, with a leading comma unless this is the first chunk.
fn encode_blocks(blocks: &[Arc<Block>], first: bool) -> Bytes {
    let mut out = Vec::with_capacity(blocks.iter().map(|block| block.encoded_len() * 2).sum());
    for (i, block) in blocks.iter().enumerate() {
        if i > 0 || !first {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &BlockJson::from_block(block)).unwrap_or_else(|_| {
            unreachable!("block JSON has only string keys and finite numbers");
        });
    }
    Bytes::from(out)
}

impl IntoResponse for ChainDocument {
    fn into_response(self) -> Response {
        // Lazy: each chunk is looked up and encoded only when the socket wants more, on a
        // blocking thread within the heavy-read limit.
        let (head, tail) = (self.head(), self.tail());
        let heavy = self.heavy;
        let blocks = Arc::new(self.blocks);
        let body = futures_util::stream::iter(chunk_starts(blocks.len())).then(move |start| {
            let (heavy, blocks) = (heavy.clone(), blocks.clone());
            async move {
                heavy
                    .run(move || encode_chunk(&blocks, start))
                    .await
                    .map_err(|error| std::io::Error::other(error.to_string()))?
                    // The answer is under way: a read that fails cuts it short, which the
                    // client sees as JSON that does not end.
                    .map_err(std::io::Error::other)
            }
        });
        let stream = futures_util::stream::once(async move { Ok(head) })
            .chain(body)
            .chain(futures_util::stream::once(async move { Ok(tail) }));
        (
            [(CONTENT_TYPE, "application/json")],
            Body::from_stream(stream),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Batch, ChainStep, Store};
    use chainpost_chain::ChainParams;
    use chainpost_chain::test_support::*;
    use serde_json::Value;

    /// A document of the first `blocks` blocks of a stored chain of one post a block.
    async fn document(blocks: usize) -> (ChainDocument, Vec<Arc<Block>>) {
        let params = ChainParams::new(0, false).expect("valid");
        let genesis = params.genesis();
        let (store, _) = Store::in_memory(&genesis, 10).expect("opens");
        let mut chain = vec![Arc::new(genesis)];
        for i in 1..blocks.max(1) {
            let parent = chain[i - 1].clone();
            let post = unsigned_arc("a", &format!("post {i}"), i as f64);
            chain.push(Arc::new(mine_child(&parent, vec![post], &params)));
        }
        store
            .write(Batch {
                blocks: (1..).zip(chain[1..].iter().cloned()).collect(),
                best_tip: chain.last().map(|block| block.hash()),
                best_chain: chain[1..].iter().cloned().map(ChainStep::Apply).collect(),
                ..Batch::default()
            })
            .await
            .expect("durable");
        chain.truncate(blocks);
        let document = ChainDocument {
            length: 1_000,
            blocks: ChainBlocks {
                reader: store.reader(),
                hashes: chain.iter().map(|block| block.hash()).collect(),
            },
            peers: vec!["http://127.0.0.1:9".into()],
            heavy: HeavyReads::for_this_machine().expect("threads start"),
        };
        (document, chain)
    }

    #[tokio::test]
    async fn the_streamed_document_is_the_tutorials_json_at_every_chunk_boundary() {
        for blocks in [
            0,
            1,
            BLOCKS_PER_CHUNK,
            BLOCKS_PER_CHUNK + 1,
            3 * BLOCKS_PER_CHUNK,
        ] {
            let (document, chain) = document(blocks).await;
            let text: Vec<u8> = document.chunks().flat_map(|chunk| chunk.to_vec()).collect();
            let parsed: Value = serde_json::from_slice(&text).expect("valid JSON");
            let expected: Vec<Value> = chain
                .iter()
                .map(|block| serde_json::to_value(BlockJson::from_block(block)).expect("json"))
                .collect();
            assert_eq!(parsed["length"], 1_000, "{blocks} blocks");
            assert_eq!(parsed["chain"], Value::Array(expected), "{blocks} blocks");
            assert_eq!(parsed["peers"], serde_json::json!(["http://127.0.0.1:9"]));
        }
    }

    #[tokio::test]
    async fn no_chunk_holds_more_than_its_share_of_blocks() {
        let (document, _) = document(5 * BLOCKS_PER_CHUNK).await;
        let blocks_per_chunk: Vec<usize> = document
            .chunks()
            .map(|chunk| chunk.windows(7).filter(|w| w == br#""index""#).count())
            .collect();
        assert!(blocks_per_chunk.iter().all(|&n| n <= BLOCKS_PER_CHUNK));
        assert_eq!(blocks_per_chunk.iter().sum::<usize>(), 5 * BLOCKS_PER_CHUNK);
    }
}
