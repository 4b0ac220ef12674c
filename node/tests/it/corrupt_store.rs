//! A store that is empty, truncated or corrupt is refused with a clear error and its own
//! exit code, and left as it is: never replaced by a fresh chain, never a panic. Damage
//! that redb never reads (free pages) may start the node, but only with the very chain and
//! pending posts the store held. A node that stops cleanly seals its store, and opens a
//! sealed store without checking its pages; a seal that does not match the file is no
//! such shortcut.

use std::collections::HashSet;
use std::time::Instant;

use crate::helpers::{ChildNode, Started};

const DIFFICULTY: u32 = 8;
/// The node's exit code for a store it refuses.
const EXIT_UNUSABLE_STORE: i32 = 3;
/// What the node logs when it opens a store without checking its pages.
const TRUSTED: &str = "its pages are not checked again";
/// redb's page size.
const PAGE: usize = 4096;
/// The start of each page flipped byte by byte: its type, counts and first keys.
const PAGE_HEAD: usize = 16;
/// redb's super-header (a 64-byte header and two 128-byte commit slots), flipped byte by
/// byte.
const SUPER_HEADER: usize = 320;
/// The spread of single flips over the rest of the file; with the rest, about 1,050 starts.
const SPREAD_STEP: usize = 151;

/// One way of damaging the store.
struct Damage {
    what: String,
    bytes: Vec<u8>,
}

/// Truncations, and single-bit flips (a different bit at each offset) over the super-header,
/// the head of every page and a spread over everything else.
fn damaged_copies(store: &[u8]) -> Vec<Damage> {
    let len = store.len();
    let mut cases: Vec<Damage> = [
        0,
        1,
        PAGE - 1,
        PAGE,
        len / 2 / PAGE * PAGE,
        len - PAGE,
        len - 1,
    ]
    .into_iter()
    .map(|cut| Damage {
        what: format!("truncated to {cut} of {len} bytes"),
        bytes: store[..cut].to_vec(),
    })
    .collect();
    let page_heads = (PAGE..len)
        .step_by(PAGE)
        .flat_map(|page| page..page + PAGE_HEAD);
    let offsets = (0..SUPER_HEADER)
        .chain(page_heads)
        .chain((0..len).step_by(SPREAD_STEP));
    let mut seen = HashSet::new();
    for offset in offsets.filter(|offset| seen.insert(*offset)) {
        let bit = offset % 8;
        let mut bytes = store.to_vec();
        bytes[offset] ^= 1 << bit;
        cases.push(Damage {
            what: format!("bit {bit} of byte {offset} flipped"),
            bytes,
        });
    }
    cases
}

#[tokio::test]
async fn an_empty_truncated_or_corrupt_store_is_refused_untouched_and_never_replaced() {
    let made = tempfile::tempdir().expect("temp dir");
    let node = ChildNode::start(made.path(), DIFFICULTY);
    for i in 0..4 {
        node.post("alice", &format!("confirmed {i}")).await;
        if i % 2 == 1 {
            node.mine().await;
        }
    }
    node.post("bob", "pending 1").await;
    node.post("bob", "pending 2").await;
    let (chain, pending) = (node.chain().await, node.pending().await);
    assert!(node.terminate().success());
    let store = std::fs::read(made.path().join("chain.redb")).expect("the store");
    // Every copy keeps the seal of the undamaged file, so each one also tests that a seal
    // which does not match sends the open back to checking every page.
    let seal = std::fs::read(made.path().join("chain.redb.seal"))
        .expect("a node that stopped cleanly sealed its store");

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("chain.redb"), &store).expect("store copied");
    std::fs::write(dir.path().join("chain.redb.seal"), &seal).expect("seal copied");
    let Started::Listening { node, log } = ChildNode::start_or_exit(dir.path(), DIFFICULTY) else {
        panic!("the undamaged sealed store was refused");
    };
    assert!(
        log.iter().any(|line| line.contains(TRUSTED)),
        "the sealed store was checked page by page: {log:?}"
    );
    assert_eq!(node.chain().await, chain);
    assert_eq!(node.pending().await, pending);
    drop(node);

    let started_at = Instant::now();
    let cases = damaged_copies(&store);
    let (mut refused, mut unchanged) = (0, 0);
    for Damage { what, bytes } in &cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("chain.redb");
        std::fs::write(&path, bytes).expect("damaged store written");
        std::fs::write(dir.path().join("chain.redb.seal"), &seal).expect("seal written");
        match ChildNode::start_or_exit(dir.path(), DIFFICULTY) {
            Started::Listening { node, log } => {
                assert!(
                    !log.iter().any(|line| line.contains(TRUSTED)),
                    "{what}: trusted without a check"
                );
                assert_eq!(
                    node.chain().await,
                    chain,
                    "{what}: started with another chain"
                );
                assert_eq!(node.pending().await, pending, "{what}: other pending posts");
                unchanged += 1;
            }
            Started::Exited {
                status,
                log,
                stderr,
            } => {
                assert!(
                    !log.iter().any(|line| line.contains(TRUSTED)),
                    "{what}: trusted without a check"
                );
                let said_why = log.iter().any(|line| {
                    line.contains("ERROR") && line.contains("cannot open the chain database")
                });
                assert!(
                    status.code() == Some(EXIT_UNUSABLE_STORE)
                        && said_why
                        && !stderr.to_lowercase().contains("panic"),
                    "{what}: exited with {status}; log {log:?}; stderr {stderr}"
                );
                let after = std::fs::read(&path).expect("the refused store");
                assert!(after == *bytes, "{what}: the refused store was rewritten");
                refused += 1;
            }
        }
    }
    let elapsed = started_at.elapsed();
    eprintln!(
        "corrupt store: {} damaged copies of a {}-byte store in {elapsed:.1?}: {refused} refused, {unchanged} started unchanged",
        cases.len(),
        store.len()
    );
    assert!(refused > 0 && unchanged > 0, "the damage tested nothing");
}
