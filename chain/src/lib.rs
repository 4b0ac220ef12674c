//! The functional core: blocks, transactions, proof of work, validation, the block tree
//! and the mempool.
//!
//! Boundary: nothing in here performs I/O, reads a clock, spawns a thread or touches
//! global state. The current time and the chain parameters are always passed in, so every
//! rule can be tested exhaustively and replayed deterministically.

pub mod block;
pub mod encoding;
pub mod handle;
pub mod hash;
pub mod mempool;
pub mod params;
pub mod pow;
pub mod retarget;
pub mod state;
pub mod tree;
pub mod tx;
pub mod validation;

pub mod test_support;

pub use block::{Block, BlockHeader};
pub use handle::{Handle, HandleError};
pub use hash::{BlockHash, Hash256, TxId};
pub use mempool::{Mempool, MempoolError, MempoolLimits};
pub use params::ChainParams;
pub use state::{BlockAccepted, BlockTemplate, ChainState, CheckedTransaction, SubmitTxError};
pub use tree::{BlockTree, CheckedBlock, InsertOutcome};
pub use tx::{PostKind, PostSignature, Transaction};
pub use validation::{BlockError, TxError};
