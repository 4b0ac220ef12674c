//! Reads of the chain come from the store's snapshots and the published summary, not
//! from the chain state: they answer while the chain lock is held by someone else.

use std::time::Duration;

use crate::helpers::TestNode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_chain_pages_the_whole_chain_posts_and_lookups_answer_while_the_chain_lock_is_held()
{
    let node = TestNode::spawn(8).await;
    let id = node.post("alice", "confirmed before the lock").await;
    node.mine().await;
    let expected_chain = node.chain().await;

    let (locked, lock_held) = tokio::sync::oneshot::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let holder = {
        let node = node.node.clone();
        std::thread::spawn(move || {
            node.with_chain(|_| {
                let _ = locked.send(());
                let _ = released.recv();
            });
        })
    };
    lock_held.await.expect("the lock is held");

    let reads = async {
        let page = node.get_json("/chain?from=1&limit=10").await;
        let whole = node.chain().await;
        let lookup = node.get_json(&format!("/transactions/{id}")).await;
        let status = node.status().await;
        let by_author = node.get_json("/posts?author=alice").await;
        (page, whole, lookup, status, by_author)
    };
    // A read that waited for the lock would wait for good: the bound only turns that hang
    // into a failure.
    let answered = tokio::time::timeout(Duration::from_secs(60), reads).await;
    release.send(()).expect("the holder waits");
    holder.join().expect("the holder ends");

    let (page, whole, lookup, status, by_author) =
        answered.expect("reads answered while the lock was held");
    assert_eq!(status["height"], 1);
    assert_eq!(status["tip"], expected_chain["chain"][1]["hash"]);
    assert_eq!(whole, expected_chain);
    assert_eq!(page["length"], 2);
    assert_eq!(page["chain"][0], expected_chain["chain"][1]);
    assert_eq!(lookup["status"], "confirmed", "{lookup}");
    assert_eq!(lookup["block"]["index"], 1);
    assert_eq!(by_author["posts"][0]["transaction"]["id"], id.as_str());
}
