//! `GET /mine`: the tutorial answers in words, not JSON, and so does chainpost.

use std::fmt;

/// What `GET /mine` did, written as the tutorial's sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MineAnswer {
    /// A block was mined at height `index`: "Block #N is mined."
    Mined {
        /// Height of the new block.
        index: u64,
    },
    /// No post was waiting: "No transactions to mine".
    NothingToMine,
}

impl fmt::Display for MineAnswer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MineAnswer::Mined { index } => write!(formatter, "Block #{index} is mined."),
            MineAnswer::NothingToMine => formatter.write_str("No transactions to mine"),
        }
    }
}
