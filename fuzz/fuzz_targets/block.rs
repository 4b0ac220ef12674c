//! A block as a peer sends it: JSON bytes → `BlockJson` → `Block` → the standalone checks
//! → insertion into a small chain, as `POST /add_block` and sync pages do.
//!
//! A fuzzer cannot forge SHA-256, so a mutated block nearly always fails at its claimed
//! hash or merkle root. Each input is therefore submitted twice: as received, and repaired
//! (merkle root recomputed, claimed hash set to the real one). The chain runs at
//! difficulty 0, where every hash meets the target, so the repaired block reaches the rules
//! behind those checks: sizes, duplicates, posts, and the contextual rules of the tree.
//!
//! Any input may be refused; none may panic. A block that decodes must keep its hash and
//! post ids through a JSON round trip; after any insertion the tree's invariants hold,
//! the outcome matches what changed, and no post is both confirmed and pending.

#![no_main]

use std::sync::{Arc, LazyLock};

use chainpost_chain::block::merkle_root;
use chainpost_chain::params::GENESIS_TIMESTAMP;
use chainpost_chain::{
    Block, BlockHash, BlockHeader, ChainParams, ChainState, CheckedBlock, CheckedTransaction,
    InsertOutcome, MempoolLimits, Transaction,
};
use chainpost_wire::BlockJson;
use libfuzzer_sys::fuzz_target;

/// The validating clock: an hour after genesis, so the fixture's blocks and posts are current.
const NOW: u64 = GENESIS_TIMESTAMP + 3600;

/// Genesis, then `main1 ← main2 ← main3` holding posts "main 1" and "main 2", a side block
/// `side1` on genesis, and the post "pending" waiting in the mempool. The seed corpus holds
/// blocks built on these (see fuzz/README.md), so mutations start from valid parents.
static FIXTURE: LazyLock<ChainState> = LazyLock::new(|| {
    let params = ChainParams::new(0, false).expect("difficulty 0 is valid");
    let mut state = ChainState::new(params.clone(), MempoolLimits::for_count(1_000));
    let genesis = params.genesis();
    let main1 = child(&genesis, vec![post("main 1")]);
    let main2 = child(&main1, vec![post("main 2")]);
    let main3 = child(&main2, Vec::new());
    let side1 = child(&genesis, Vec::new());
    for block in [main1, main2, main3, side1] {
        state
            .submit_block(CheckedBlock::assume_checked(block), NOW)
            .expect("the fixture is valid");
    }
    let pending = CheckedTransaction::check(post("pending"), NOW, &params).expect("valid post");
    state.submit_transaction(pending).expect("admitted");
    state
});

fn post(content: &str) -> Transaction {
    Transaction::new(
        "fixture".into(),
        content.into(),
        GENESIS_TIMESTAMP as f64,
        None,
    )
}

fn child(parent: &Block, posts: Vec<Transaction>) -> Block {
    let transactions: Vec<_> = posts.into_iter().map(Arc::new).collect();
    let header = BlockHeader {
        index: parent.header().index + 1,
        previous_hash: parent.hash(),
        merkle_root: merkle_root(&transactions),
        timestamp: parent.header().timestamp + 1,
        difficulty: 0,
        nonce: 0,
    };
    Block::new(header, transactions)
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(json) = serde_json::from_slice::<BlockJson>(bytes) else {
        return;
    };
    let (block, claimed) = match json.into_block() {
        Ok(decoded) => decoded,
        Err(refused) => {
            let _ = refused.to_string();
            return;
        }
    };
    assert_json_round_trip_keeps_the_hash(&block);
    let repaired = Block::new(
        BlockHeader {
            merkle_root: merkle_root(block.transactions()),
            ..*block.header()
        },
        block.transactions().to_vec(),
    );
    submit(block, &claimed);
    let repaired_hash = repaired.hash();
    submit(repaired, &repaired_hash);
});

/// The JSON this node sends for a block decodes to the same block, and is a fixed point.
fn assert_json_round_trip_keeps_the_hash(block: &Block) {
    let sent = serde_json::to_vec(&BlockJson::from_block(block)).expect("serializes");
    let (echoed, claimed) = serde_json::from_slice::<BlockJson>(&sent)
        .expect("our own JSON parses")
        .into_block()
        .expect("our own JSON carries matching post ids");
    assert_eq!(claimed, block.hash());
    assert_eq!(echoed, *block);
    assert_eq!(
        serde_json::to_vec(&BlockJson::from_block(&echoed)).expect("serializes"),
        sent
    );
}

/// Runs the checks of `POST /add_block` on a copy of the fixture, then checks the result.
fn submit(block: Block, claimed: &BlockHash) {
    let mut state = FIXTURE.clone();
    let params = state.params().clone();
    let checked = match CheckedBlock::check(block.clone(), claimed, &params) {
        Ok(checked) => checked,
        Err(invalid) => {
            let _ = (
                invalid.to_string(),
                invalid.reason(),
                invalid.is_peer_fault(),
            );
            return;
        }
    };
    let tree_len = state.tree().len();
    let old_tip = state.tree().tip().hash();
    let was_known = state.tree().contains(&block.hash());
    let parent_known = state.tree().get(&block.header().previous_hash).is_some();
    match state.submit_block(checked, NOW) {
        Ok(accepted) => {
            let tree = state.tree();
            let outcome = &accepted.outcome;
            assert_eq!(tree.len(), tree_len + outcome.connected().len());
            assert_eq!(tree.tip().hash() != old_tip, outcome.tip_changed());
            match outcome {
                InsertOutcome::AlreadyKnown => assert!(was_known),
                InsertOutcome::UnknownParent { missing } => {
                    assert!(!parent_known);
                    assert_eq!(*missing, block.header().previous_hash);
                }
                connected => {
                    // The fixture has no orphans, so a block connects alone.
                    assert!(parent_known && !was_known);
                    assert_eq!(connected.connected(), [Arc::new(block.clone())]);
                    assert_eq!(connected.tip_changed(), tree.tip().hash() == block.hash());
                }
            }
        }
        Err(invalid) => {
            let _ = (
                invalid.to_string(),
                invalid.reason(),
                invalid.is_peer_fault(),
            );
            assert!(parent_known && !was_known);
            assert_eq!(state.tree().len(), tree_len);
            assert_eq!(state.tree().tip().hash(), old_tip);
            assert!(!state.tree().contains(&block.hash()));
        }
    }
    if let Err(broken) = state.tree().check_invariants() {
        panic!("tree invariant broken: {broken}");
    }
    let touched = block.transactions().iter().map(|tx| tx.id());
    for id in touched.chain(state.mempool().iter().map(|tx| tx.id())) {
        assert!(
            !(state.mempool().contains(&id)
                && matches!(state.tree().confirming_block(&id), Ok(Some(_)))),
            "post {id} is both pending and confirmed"
        );
    }
}
