//! Reads one node's event stream (`--events`, whose lines `chainpost_wire::events` defines)
//! into the events the analysis uses: a block mined, a block connected, a reorganization.
//!
//! Boundary: the stream's format is the wire crate's; this module only attaches the node and
//! fails loudly on a line it cannot read (naming the file and line), since a skipped line
//! would quietly bias the results. It draws no conclusions from the events.

use std::path::{Path, PathBuf};

use chainpost_wire::events::{ChainEvent, EventLineError, EventRecord};

/// One thing a node reported, with when and where.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeEvent {
    /// Index of the node whose stream it came from.
    pub(crate) node: usize,
    /// When the node recorded it, in Unix seconds.
    pub(crate) at: f64,
    pub(crate) kind: EventKind,
}

/// The kinds of event the analysis uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EventKind {
    /// The node found a block's proof of work.
    Mined {
        /// Block hash, hex.
        hash: String,
        height: u64,
    },
    /// A block was newly connected to the node's block tree and stored, whether it came
    /// from a peer or from the node's own miner.
    Connected {
        /// Block hash, hex.
        hash: String,
        height: u64,
    },
    /// The node switched its best chain to a heavier branch.
    Reorg {
        /// How many blocks of the old best chain were reverted.
        depth: u64,
    },
}

impl From<ChainEvent> for EventKind {
    fn from(event: ChainEvent) -> Self {
        // The analysis keys blocks by the hex its record and results carry.
        match event {
            ChainEvent::Mined { height, hash } => EventKind::Mined {
                hash: hash.to_string(),
                height,
            },
            ChainEvent::Connected { height, hash } => EventKind::Connected {
                hash: hash.to_string(),
                height,
            },
            ChainEvent::Reorganized { reverted, .. } => EventKind::Reorg { depth: reverted },
        }
    }
}

/// Why a node's event stream cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    // Causes are sources, not in the messages: main prints the whole chain.
    #[error("cannot read node {node}'s events {}", path.display())]
    Read {
        node: usize,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("node {node}'s events {}, line {line}", path.display())]
    Line {
        node: usize,
        path: PathBuf,
        /// Counted from 1.
        line: usize,
        source: EventLineError,
    },
}

/// Reads the event stream of node `node`; any line that is not an event is an error.
pub(crate) fn read_events(node: usize, path: &Path) -> Result<Vec<NodeEvent>, EventsError> {
    let text = std::fs::read_to_string(path).map_err(|source| EventsError::Read {
        node,
        path: path.to_owned(),
        source,
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            let record = EventRecord::from_line(line).map_err(|source| EventsError::Line {
                node,
                path: path.to_owned(),
                line: number + 1,
                source,
            })?;
            Ok(NodeEvent {
                node,
                at: record.at,
                kind: record.event.into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chainpost_chain::{BlockHash, Hash256};

    use super::*;

    fn hash(byte: u8) -> BlockHash {
        BlockHash(Hash256([byte; 32]))
    }

    fn write_stream(path: &Path, events: &[(f64, ChainEvent)]) {
        let text: String = events
            .iter()
            .map(|&(at, event)| EventRecord::new(at, event).to_line())
            .collect();
        std::fs::write(path, text).expect("write events");
    }

    #[test]
    fn a_stream_becomes_the_nodes_events_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node-3.events");
        write_stream(
            &path,
            &[
                (
                    10.5,
                    ChainEvent::Mined {
                        height: 7,
                        hash: hash(0xab),
                    },
                ),
                (
                    10.75,
                    ChainEvent::Connected {
                        height: 7,
                        hash: hash(0xab),
                    },
                ),
                (
                    12.0,
                    ChainEvent::Reorganized {
                        reverted: 2,
                        applied: 3,
                    },
                ),
            ],
        );
        let events = read_events(3, &path).expect("readable");
        let hex = hash(0xab).to_string();
        assert_eq!(
            events,
            [
                NodeEvent {
                    node: 3,
                    at: 10.5,
                    kind: EventKind::Mined {
                        hash: hex.clone(),
                        height: 7
                    }
                },
                NodeEvent {
                    node: 3,
                    at: 10.75,
                    kind: EventKind::Connected {
                        hash: hex,
                        height: 7
                    }
                },
                NodeEvent {
                    node: 3,
                    at: 12.0,
                    kind: EventKind::Reorg { depth: 2 }
                },
            ]
        );
    }

    #[test]
    fn an_empty_stream_has_no_events() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node-0.events");
        std::fs::write(&path, "").expect("write");
        assert_eq!(read_events(0, &path).expect("readable"), []);
    }

    #[test]
    fn a_line_that_is_not_an_event_fails_the_read_naming_node_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node-2.events");
        let good = EventRecord::new(
            1.0,
            ChainEvent::Mined {
                height: 1,
                hash: hash(1),
            },
        )
        .to_line();
        let zeros = "0".repeat(64);
        for bad in [
            "mined a block".to_owned(),
            format!(r#"{{"version":1,"at":1,"event":"renamed","height":1,"hash":"{zeros}"}}"#),
            format!(r#"{{"version":9,"at":1,"event":"mined","height":1,"hash":"{zeros}"}}"#),
            r#"{"version":1,"at":1,"event":"connected","height":1}"#.to_owned(),
        ] {
            std::fs::write(&path, format!("{good}{bad}\n{good}")).expect("write");
            let error = format!("{:#}", read_events(2, &path).expect_err(&bad));
            assert!(
                error.contains("node 2")
                    && error.contains("node-2.events")
                    && error.contains("line 2"),
                "{error}"
            );
        }
    }

    #[test]
    fn a_missing_stream_is_an_error_naming_the_node() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = read_events(4, &dir.path().join("absent")).expect_err("no file");
        assert!(format!("{error:#}").contains("node 4"), "{error:#}");
    }
}
