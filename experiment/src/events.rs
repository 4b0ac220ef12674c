//! Reads the few node log lines the analysis needs (a block mined, a block connected, a
//! reorganization) out of one node's JSON log, as written with `--log-format json`.
//!
//! Boundary: this module knows the log's shape (tracing-subscriber's JSON formatter and the
//! messages `node` logs); nothing else does. It skips every line it does not understand, so a
//! half-written last line or a panic message in the log never fails a run's analysis; it
//! draws no conclusions from the events.

use std::path::Path;

use anyhow::Context;
use chrono::DateTime;
use serde_json::Value;

/// One thing a node logged, with when and where.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEvent {
    /// Index of the node whose log it came from.
    pub node: usize,
    /// When the node logged it, in Unix seconds.
    pub at: f64,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of log event the analysis uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// The node found a block's proof of work (`"mined a block"`).
    Mined {
        /// Block hash, hex.
        hash: String,
        /// Block height.
        height: u64,
    },
    /// A block was newly connected to the node's block tree and stored (`"block connected"`),
    /// whether it came from a peer or from the node's own miner.
    Connected {
        /// Block hash, hex.
        hash: String,
        /// Block height.
        height: u64,
    },
    /// The node switched its best chain to a heavier branch
    /// (`"reorganized to a heavier branch"`).
    Reorg {
        /// How many blocks of the old best chain were reverted.
        depth: u64,
    },
}

/// Reads the JSON log file of node `node`; lines that are not events of interest are skipped.
pub fn read_log(node: usize, path: &Path) -> anyhow::Result<Vec<NodeEvent>> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading node {node}'s log {}", path.display()))?;
    // Line by line over bytes: one line of invalid UTF-8 (a torn write) must not hide the rest.
    Ok(bytes
        .split(|&byte| byte == b'\n')
        .filter_map(|line| std::str::from_utf8(line).ok())
        .filter_map(|line| parse_line(node, line))
        .collect())
}

/// Parses one log line of node `node`; `None` unless it is a well-formed event of interest.
pub fn parse_line(node: usize, line: &str) -> Option<NodeEvent> {
    let line = line.trim();
    if !line.starts_with('{') {
        return None;
    }
    let value: Value = serde_json::from_str(line).ok()?;
    // The formatter nests the event's fields under "fields" unless it was set up to flatten them.
    let fields = value.get("fields").unwrap_or(&value);
    let kind = match fields.get("message")?.as_str()? {
        "mined a block" => EventKind::Mined {
            hash: string_field(fields, "hash")?,
            height: fields.get("index")?.as_u64()?,
        },
        "block connected" => EventKind::Connected {
            hash: string_field(fields, "hash")?,
            height: fields.get("height")?.as_u64()?,
        },
        "reorganized to a heavier branch" => EventKind::Reorg {
            depth: fields.get("reverted")?.as_u64()?,
        },
        _ => return None,
    };
    let at = unix_seconds(value.get("timestamp")?.as_str()?)?;
    Some(NodeEvent { node, at, kind })
}

fn string_field(fields: &Value, name: &str) -> Option<String> {
    fields.get(name)?.as_str().map(str::to_owned)
}

/// An RFC 3339 timestamp as Unix seconds; microseconds survive, since f64 keeps about 0.5 µs
/// at today's epoch offsets.
fn unix_seconds(timestamp: &str) -> Option<f64> {
    let time = DateTime::parse_from_rfc3339(timestamp).ok()?;
    Some(time.timestamp() as f64 + f64::from(time.timestamp_subsec_nanos()) / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINED: &str = r#"{"timestamp":"2026-11-23T12:34:56.789012Z","level":"INFO","fields":{"message":"mined a block","index":7,"hash":"00ab12","hashes":5120,"rate":"1.20 MH/s"},"target":"chainpost_node::node"}"#;
    const CONNECTED: &str = r#"{"timestamp":"2026-11-23T12:34:57.000250Z","level":"INFO","fields":{"message":"block connected","height":3,"hash":"00cd34"},"target":"chainpost_node::node"}"#;
    const REORG: &str = r#"{"timestamp":"2026-11-23T12:35:00Z","level":"WARN","fields":{"message":"reorganized to a heavier branch","reverted":2,"applied":3},"target":"chainpost_node::node"}"#;

    /// 2026-11-23T12:34:56Z in Unix seconds.
    const BASE: f64 = 1_795_437_296.0;

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-6,
            "{actual} is not {expected}"
        );
    }

    #[test]
    fn mined_line_becomes_a_mined_event_with_its_height_from_index() {
        let event = parse_line(2, MINED).expect("an event");
        assert_eq!(event.node, 2);
        assert_eq!(
            event.kind,
            EventKind::Mined {
                hash: "00ab12".into(),
                height: 7
            }
        );
        assert_close(event.at, BASE + 0.789012);
    }

    #[test]
    fn connected_line_becomes_a_connected_event() {
        let event = parse_line(0, CONNECTED).expect("an event");
        assert_eq!(
            event.kind,
            EventKind::Connected {
                hash: "00cd34".into(),
                height: 3
            }
        );
        assert_close(event.at, BASE + 1.000250);
    }

    #[test]
    fn reorg_line_becomes_a_reorg_of_the_reverted_depth() {
        let event = parse_line(1, REORG).expect("an event");
        assert_eq!(event.kind, EventKind::Reorg { depth: 2 });
        assert_close(event.at, BASE + 4.0);
    }

    #[test]
    fn flattened_fields_are_read_too() {
        let line = r#"{"timestamp":"2026-11-23T12:34:56Z","level":"INFO","message":"block connected","height":1,"hash":"aa"}"#;
        let event = parse_line(0, line).expect("an event");
        assert_eq!(
            event.kind,
            EventKind::Connected {
                hash: "aa".into(),
                height: 1
            }
        );
    }

    #[test]
    fn timestamps_with_an_offset_are_converted_to_utc() {
        let line = CONNECTED.replace("12:34:57.000250Z", "13:34:57.000250+01:00");
        let event = parse_line(0, &line).expect("an event");
        assert_close(event.at, BASE + 1.000250);
    }

    #[test]
    fn other_and_malformed_lines_are_skipped() {
        let lines = [
            "",
            "thread 'main' panicked at node/src/main.rs:1:1",
            r#"{"timestamp":"2026-11-23T12:34:56Z","level":"INFO","fields":{"message":"best chain extended","height":1,"hash":"aa"}}"#,
            // Cut off mid-write.
            &MINED[..MINED.len() - 20],
            // A field of the wrong type.
            &CONNECTED.replace(r#""height":3"#, r#""height":"three""#),
            // A field missing.
            &REORG.replace(r#""reverted":2,"#, ""),
            // No usable timestamp.
            &REORG.replace("2026-11-23T12:35:00Z", "yesterday"),
            r#"["a", "json", "array"]"#,
            r#"{"fields":{"message":42}}"#,
        ];
        for line in lines {
            assert_eq!(parse_line(0, line), None, "{line}");
        }
    }

    #[test]
    fn read_log_keeps_the_events_of_a_file_in_order_around_bad_lines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("node-3.log");
        let mut contents = Vec::new();
        contents.extend_from_slice(MINED.as_bytes());
        contents.extend_from_slice(b"\nnot json\n\xff\xfe torn bytes\n");
        contents.extend_from_slice(CONNECTED.as_bytes());
        contents.extend_from_slice(b"\r\n");
        contents.extend_from_slice(REORG.as_bytes());
        std::fs::write(&path, contents).expect("write log");

        let events = read_log(3, &path).expect("readable");
        let kinds: Vec<_> = events.iter().map(|event| &event.kind).collect();
        assert_eq!(
            kinds,
            [
                &EventKind::Mined {
                    hash: "00ab12".into(),
                    height: 7
                },
                &EventKind::Connected {
                    hash: "00cd34".into(),
                    height: 3
                },
                &EventKind::Reorg { depth: 2 },
            ]
        );
        assert!(events.iter().all(|event| event.node == 3));
    }

    #[test]
    fn a_missing_log_is_an_error_naming_the_node() {
        let dir = tempfile::tempdir().expect("temp dir");
        let error = read_log(4, &dir.path().join("absent.log")).expect_err("no file");
        assert!(format!("{error:#}").contains("node 4"), "{error:#}");
    }

    /// Collects what the formatter writes.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let mut buffer = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            buffer.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_from_the_real_json_formatter_parse() {
        // The same set-up as the node's `--log-format json`, with the node's log calls.
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_writer(move || writer.clone())
            .finish();
        let hash = "00ab12";
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(index = 7_u64, hash = %hash, hashes = 10_u64, rate = "1.00 MH/s", "mined a block");
            tracing::info!(height = 7_u64, hash = %hash, "block connected");
            tracing::warn!(
                reverted = 2_usize,
                applied = 3_usize,
                "reorganized to a heavier branch"
            );
            tracing::info!(height = 7_u64, hash = %hash, "best chain extended");
        });
        let bytes = captured.0.lock().expect("not poisoned").clone();
        let text = String::from_utf8(bytes).expect("UTF-8");
        let kinds: Vec<_> = text
            .lines()
            .filter_map(|line| parse_line(0, line))
            .map(|event| event.kind)
            .collect();
        let hash = hash.to_owned();
        assert_eq!(
            kinds,
            [
                EventKind::Mined {
                    hash: hash.clone(),
                    height: 7
                },
                EventKind::Connected { hash, height: 7 },
                EventKind::Reorg { depth: 2 },
            ],
            "{text}"
        );
    }
}
