//! A post as a peer sends it: JSON bytes → `TransactionJson` → `Transaction` → the checks
//! a post passes before the mempool takes it, under both signature rules.
//!
//! Any input may be refused; none may panic. Beyond that, a post that decodes must keep its
//! id and canonical bytes through a JSON round trip, signing a post must not change the
//! verdict on its fields, and a post the checks admit must fit in a block.

#![no_main]

use std::sync::LazyLock;

use chainpost_chain::block::HEADER_LEN;
use chainpost_chain::params::GENESIS_TIMESTAMP;
use chainpost_chain::validation::validate_transaction;
use chainpost_chain::{
    ChainParams, ChainState, CheckedTransaction, MempoolError, MempoolLimits, SubmitTxError,
    Transaction,
};
use chainpost_wire::TransactionJson;
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

/// The validating clock: an hour after genesis, so seeds stamped near genesis are current.
const NOW: u64 = GENESIS_TIMESTAMP + 3600;

/// The key this target signs posts with, to reach the path where a signature verifies.
static KEY: LazyLock<SigningKey> = LazyLock::new(|| SigningKey::from_bytes(&[7; 32]));

/// One network that accepts unsigned posts and one that requires signatures.
static NETWORKS: LazyLock<[ChainParams; 2]> = LazyLock::new(|| {
    [false, true].map(|require_signatures| {
        ChainParams::new(0, require_signatures).expect("difficulty 0 is valid")
    })
});

fuzz_target!(|bytes: &[u8]| {
    let Ok(json) = serde_json::from_slice::<TransactionJson>(bytes) else {
        return;
    };
    let tx = match json.into_transaction() {
        Ok(tx) => tx,
        Err(refused) => {
            // Error messages quote peer input; building them must not panic either.
            let _ = refused.to_string();
            return;
        }
    };
    assert_json_round_trip_keeps_the_id(&tx);
    for params in NETWORKS.iter() {
        check_admission(&tx, params);
    }
    assert_signing_keeps_the_field_verdict(&tx);
});

/// The JSON this node sends for a post decodes to the same post, and is a fixed point.
fn assert_json_round_trip_keeps_the_id(tx: &Transaction) {
    let sent = serde_json::to_vec(&TransactionJson::from_transaction(tx)).expect("serializes");
    let echoed = serde_json::from_slice::<TransactionJson>(&sent)
        .expect("our own JSON parses")
        .into_transaction()
        .expect("our own JSON carries the matching id");
    assert_eq!(echoed.id(), tx.id());
    assert_eq!(echoed.canonical_bytes(), tx.canonical_bytes());
    assert_eq!(echoed.timestamp().to_bits(), tx.timestamp().to_bits());
    let resent =
        serde_json::to_vec(&TransactionJson::from_transaction(&echoed)).expect("serializes");
    assert_eq!(resent, sent);
}

/// The stateless checks and the mempool agree, and what they admit fits in a block.
fn check_admission(tx: &Transaction, params: &ChainParams) {
    let verdict = validate_transaction(tx, params);
    if let Err(invalid) = &verdict {
        let _ = invalid.to_string();
    }
    let checked = match CheckedTransaction::check(tx.clone(), NOW, params) {
        Ok(checked) => checked,
        Err(invalid) => {
            let _ = invalid.to_string();
            return;
        }
    };
    assert_eq!(verdict, Ok(()), "admitted a post validation refuses");
    assert!(HEADER_LEN + tx.encoded_len() <= params.max_block_bytes);
    let mut state = ChainState::new(params.clone(), MempoolLimits::for_count(1_000));
    state
        .submit_transaction(checked.clone())
        .expect("an empty mempool takes a checked post");
    assert!(matches!(
        state.submit_transaction(checked),
        Err(SubmitTxError::Mempool(MempoolError::Duplicate { .. }))
    ));
}

/// Signed with a real key, the same fields get the verdict they get unsigned on a network
/// that does not require signatures: a signature never hides or causes a field error.
fn assert_signing_keeps_the_field_verdict(tx: &Transaction) {
    let [lenient, strict] = &*NETWORKS;
    let unsigned = Transaction::with_reply_to(
        tx.author().to_owned(),
        tx.content().to_owned(),
        tx.timestamp(),
        tx.reply_to().copied(),
        None,
    );
    let signed = Transaction::signed_reply(
        tx.author().to_owned(),
        tx.content().to_owned(),
        tx.timestamp(),
        tx.reply_to().copied(),
        &KEY,
    );
    assert_eq!(
        validate_transaction(&signed, strict),
        validate_transaction(&unsigned, lenient)
    );
}
