//! The `--events FILE` stream research mode reads (its format is `chainpost_wire::events`).
//!
//! Each line is one `write` on a file opened for appending, made where the matching log
//! line is, outside the chain lock: a node killed at any moment leaves whole lines, and a
//! restarted node adds to the stream instead of replacing it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

use chainpost_chain::InsertOutcome;
use chainpost_edge::clock::unix_now_f64;
use chainpost_wire::events::{ChainEvent, EventRecord};

/// Where events go; [`EventLog::off`] for a node run without `--events`.
#[derive(Debug, Default)]
pub(crate) struct EventLog {
    file: Option<Mutex<File>>,
}

impl EventLog {
    /// No stream.
    pub(crate) fn off() -> Self {
        EventLog::default()
    }

    /// Appends to `path`, creating it.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(EventLog {
            file: Some(Mutex::new(file)),
        })
    }

    /// Records that this node found a block's proof of work.
    pub(crate) fn mined(&self, height: u64, hash: chainpost_chain::BlockHash) {
        self.record(ChainEvent::Mined { height, hash });
    }

    /// Records what a durable insert did: each block it connected, then a reorganization.
    pub(crate) fn outcome(&self, outcome: &InsertOutcome) {
        if self.file.is_none() {
            return;
        }
        for block in outcome.connected() {
            self.record(ChainEvent::Connected {
                height: block.header().index,
                hash: block.hash(),
            });
        }
        if let InsertOutcome::Reorganized {
            reverted, applied, ..
        } = outcome
        {
            self.record(ChainEvent::Reorganized {
                reverted: reverted.len() as u64,
                applied: applied.len() as u64,
            });
        }
    }

    fn record(&self, event: ChainEvent) {
        let Some(file) = &self.file else { return };
        let line = EventRecord::new(unix_now_f64(), event).to_line();
        let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(error) = file.write_all(line.as_bytes()) {
            tracing::error!(%error, "cannot write to the events file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_appended_across_opens_and_read_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.ndjson");
        let hash = chainpost_chain::BlockHash::default();
        EventLog::open(&path).expect("open").mined(1, hash);
        EventLog::open(&path).expect("reopen").mined(2, hash);
        EventLog::off().mined(3, hash);

        let text = std::fs::read_to_string(&path).expect("read");
        let heights: Vec<_> = text
            .lines()
            .map(
                |line| match EventRecord::from_line(line).expect("a record").event {
                    ChainEvent::Mined { height, .. } => height,
                    other => panic!("unexpected {other:?}"),
                },
            )
            .collect();
        assert_eq!(heights, [1, 2]);
    }
}
