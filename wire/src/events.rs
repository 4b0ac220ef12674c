//! The node's event stream (`--events FILE`): one JSON object per line for each block it
//! mined, each block it newly holds and each reorganization, written as it happens. Research
//! mode measures propagation and forks from it, so it is versioned and typed where log text
//! is neither: a reader refuses a version or an event it does not know instead of skipping
//! it.
//!
//! ```text
//! {"version":1,"at":1764590400.123456,"event":"mined","height":7,"hash":"00ab…"}
//! {"version":1,"at":1764590400.125001,"event":"connected","height":7,"hash":"00ab…"}
//! {"version":1,"at":1764590401.5,"event":"reorganized","reverted":1,"applied":2}
//! ```

use chainpost_chain::BlockHash;
use serde::{Deserialize, Serialize};

/// The version of the stream's lines this crate writes and reads.
const EVENTS_VERSION: u32 = 1;

/// One line of the stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRecord {
    /// [`EVENTS_VERSION`] of the writer.
    pub(crate) version: u32,
    /// When it happened, in Unix seconds by the node's clock.
    pub at: f64,
    #[serde(flatten)]
    pub event: ChainEvent,
}

/// What a node reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ChainEvent {
    /// This node found the block's proof of work (before checking and storing it).
    Mined {
        height: u64,
        #[serde(with = "crate::hex_hash")]
        hash: BlockHash,
    },
    /// The block was newly connected to this node's block tree and is durable, whether it
    /// came from a peer or from its own miner.
    Connected {
        height: u64,
        #[serde(with = "crate::hex_hash")]
        hash: BlockHash,
    },
    /// The best chain moved to a heavier branch.
    Reorganized {
        /// Blocks of the old best chain taken off it.
        reverted: u64,
        /// Blocks of the new branch put on.
        applied: u64,
    },
}

/// Why a line of the stream cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EventLineError {
    /// Not a record this crate knows, or not JSON at all.
    #[error("not a chainpost event: {0}")]
    Malformed(#[from] serde_json::Error),
    /// Written by a node whose stream has another version.
    #[error("event stream version {found}, but this build reads version {EVENTS_VERSION}")]
    Version { found: u32 },
}

impl EventRecord {
    /// The record of `event` at `at`, in this crate's version.
    pub fn new(at: f64, event: ChainEvent) -> Self {
        EventRecord {
            version: EVENTS_VERSION,
            at,
            event,
        }
    }

    /// The line as written: JSON with a trailing newline.
    pub fn to_line(&self) -> String {
        // Numbers, strings and a tag: nothing here that JSON cannot encode.
        let mut line = serde_json::to_string(self).unwrap_or_default();
        line.push('\n');
        line
    }

    /// Reads one line, refusing a version other than the one this crate writes.
    pub fn from_line(line: &str) -> Result<Self, EventLineError> {
        #[derive(Deserialize)]
        struct Versioned {
            version: u32,
        }
        // The version first: a line from another version may not parse as this one's shapes.
        let Versioned { version } = serde_json::from_str(line)?;
        if version != EVENTS_VERSION {
            return Err(EventLineError::Version { found: version });
        }
        Ok(serde_json::from_str(line)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> BlockHash {
        BlockHash(chainpost_chain::Hash256([byte; 32]))
    }

    #[test]
    fn every_event_reads_back_as_written() {
        for event in [
            ChainEvent::Mined {
                height: 7,
                hash: hash(0xab),
            },
            ChainEvent::Connected {
                height: 8,
                hash: hash(0x01),
            },
            ChainEvent::Reorganized {
                reverted: 2,
                applied: 3,
            },
        ] {
            let record = EventRecord::new(1_764_590_400.123_456, event);
            let line = record.to_line();
            assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
            let read = EventRecord::from_line(&line).expect("reads back");
            assert_eq!(read, record);
            assert_eq!(read.at.to_bits(), record.at.to_bits());
        }
    }

    #[test]
    fn the_line_format_is_the_documented_one() {
        let line = EventRecord::new(
            1.5,
            ChainEvent::Connected {
                height: 3,
                hash: hash(0),
            },
        )
        .to_line();
        assert_eq!(
            line,
            format!(
                "{{\"version\":1,\"at\":1.5,\"event\":\"connected\",\"height\":3,\"hash\":\"{}\"}}\n",
                "0".repeat(64)
            )
        );
    }

    #[test]
    fn unknown_events_and_versions_missing_fields_and_bad_hashes_are_refused() {
        let zeros = "0".repeat(64);
        for (line, expect_version_error) in [
            (
                format!(r#"{{"version":1,"at":1,"event":"forged","height":1,"hash":"{zeros}"}}"#),
                false,
            ),
            (
                format!(r#"{{"version":2,"at":1,"event":"mined","height":1,"hash":"{zeros}"}}"#),
                true,
            ),
            (
                r#"{"version":1,"at":1,"event":"mined","height":1,"hash":"00ab"}"#.to_owned(),
                false,
            ),
            (
                r#"{"version":1,"at":1,"event":"reorganized","reverted":1}"#.to_owned(),
                false,
            ),
            (
                format!(r#"{{"version":1,"at":1,"event":"mined","index":1,"hash":"{zeros}"}}"#),
                false,
            ),
            (
                r#"{"version":1,"at":1,"event":"mined","height":1,"hash":"#.to_owned(),
                false,
            ),
            ("mined a block".to_owned(), false),
        ] {
            match EventRecord::from_line(&line) {
                Err(EventLineError::Version { found: 2 }) => {
                    assert!(expect_version_error, "{line}")
                }
                Err(EventLineError::Malformed(_)) => assert!(!expect_version_error, "{line}"),
                other => panic!("{line} read as {other:?}"),
            }
        }
    }
}
