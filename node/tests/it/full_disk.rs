//! A full disk: a post the store cannot commit is refused and leaves no trace, and the node
//! writes again by itself once space is freed. On a real, small tmpfs, so the test must run
//! as root (CI does); it fails rather than skips when it cannot mount one.

use std::collections::HashSet;
use std::io::{ErrorKind, Write};
use std::path::Path;
use std::process::Command;

use chainpost_chain::Transaction;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ChildNode, posts_in_chain};

const DIFFICULTY: u32 = 8;
/// Room for the node's store with a little to spare, and quick to fill.
const DISK_BYTES: u64 = 4 << 20;
/// Bounds the posts sent before the disk must have refused one.
const MOST_POSTS_UNTIL_FULL: usize = 2_000;

/// A tmpfs mounted on a temporary directory for as long as it lives.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Self {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let uid = status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().next());
        assert_eq!(
            uid,
            Some("0"),
            "this test mounts a tmpfs, so it must run as root (as CI does); it does not skip"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount runs");
        assert!(
            output.status.success(),
            "mount -t tmpfs on {} failed: {}",
            dir.path().display(),
            String::from_utf8_lossy(&output.stderr)
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so that a process still holding a file there cannot keep the mount alive.
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the file system is full, down to its last byte.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler file");
    for size in [1 << 20, 4096, 1] {
        let chunk = vec![0xa5; size];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::StorageFull => break,
                Err(error) => panic!("filling the disk: {error}"),
            }
        }
    }
}

/// Posts `content` with a timestamp of our own, so that the post's id is known even when
/// the node refuses it.
async fn try_post(node: &ChildNode, content: &str) -> (StatusCode, String) {
    let timestamp = chainpost_edge::clock::unix_now_f64();
    let id = Transaction::new("filler".into(), content.into(), timestamp, None).id();
    let body = json!({ "author": "filler", "content": content, "timestamp": timestamp });
    let response = node.post_json("/new_transaction", &body).await;
    (response.status(), id.to_string())
}

/// Ids of every post the node shows, pending or confirmed; a post shown twice fails.
async fn shown_posts(node: &ChildNode) -> HashSet<String> {
    let confirmed = posts_in_chain(&node.chain().await)
        .into_iter()
        .map(|(_, tx)| tx);
    let pending = node.pending().await.as_array().expect("array").clone();
    let mut shown = HashSet::new();
    for tx in confirmed.chain(pending) {
        let id = tx["id"].as_str().expect("id").to_owned();
        assert!(shown.insert(id.clone()), "post {id} is shown twice");
    }
    shown
}

async fn assert_shows_exactly(node: &ChildNode, accepted: &HashSet<String>, refused: &str) {
    let shown = shown_posts(node).await;
    assert!(
        !shown.contains(refused),
        "the refused post {refused} is shown as accepted"
    );
    assert_eq!(&shown, accepted, "the posts shown are not those accepted");
    let lookup = node.get(&format!("/transactions/{refused}")).await;
    assert_eq!(
        lookup.status(),
        StatusCode::NOT_FOUND,
        "the refused post {refused} is still known"
    );
}

#[tokio::test]
async fn a_full_disk_refuses_posts_without_a_trace_and_writing_resumes_once_space_is_freed() {
    let disk = Tmpfs::mount(DISK_BYTES);
    let data_dir = disk.path().join("node");
    let node = ChildNode::start(&data_dir, DIFFICULTY);
    let mut accepted = HashSet::from([node.post("alice", "before the disk filled").await]);
    node.mine().await;
    accepted.insert(node.post("alice", "pending before the disk filled").await);

    fill(&disk.path().join("filler"));
    let padding = "x".repeat(900);
    let mut refused = None;
    for i in 0..MOST_POSTS_UNTIL_FULL {
        let (status, id) = try_post(&node, &format!("{i} {padding}")).await;
        match status {
            StatusCode::CREATED => accepted.insert(id),
            StatusCode::SERVICE_UNAVAILABLE => {
                refused = Some(id);
                break;
            }
            other => panic!("post {i} was answered {other}"),
        };
    }
    let refused = refused.expect("the full disk never refused a post");
    eprintln!(
        "full disk: {} posts accepted, then one refused",
        accepted.len()
    );
    assert_shows_exactly(&node, &accepted, &refused).await;

    // A block mined on the full disk is kept only if it was stored.
    let (chain, pending) = (node.chain().await, node.pending().await);
    let mined = node.get("/mine").await.status();
    eprintln!("full disk: mining answered {mined}");
    if mined == StatusCode::SERVICE_UNAVAILABLE {
        assert_eq!(node.chain().await, chain, "a block that was not stored");
        assert_eq!(node.pending().await, pending);
    } else {
        assert_eq!(mined, StatusCode::OK);
    }
    assert_shows_exactly(&node, &accepted, &refused).await;

    // Space again: the very next post is accepted, without a restart.
    std::fs::remove_file(disk.path().join("filler")).expect("filler removed");
    let (status, id) = try_post(&node, "after space was freed").await;
    assert_eq!(status, StatusCode::CREATED, "writes did not resume");
    accepted.insert(id);
    node.mine().await;
    accepted.insert(node.post("alice", "pending at the restart").await);
    let (chain, pending): (Value, Value) = (node.chain().await, node.pending().await);
    assert!(node.terminate().success());

    let node = ChildNode::start(&data_dir, DIFFICULTY);
    assert_eq!(node.chain().await, chain);
    assert_eq!(node.pending().await, pending);
    assert_shows_exactly(&node, &accepted, &refused).await;
}
