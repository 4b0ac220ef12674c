//! The tolerant reading of nodes this code does not control, in one place: a node built
//! from the tutorial (Python, Flask), an older chainpost node, a stranger met in a
//! handshake.
//!
//! A tutorial node sends floats for block timestamps, no post ids, no `difficulty` or
//! `merkle_root`, maybe no block `hash`; it answers `/new_transaction` with a bare
//! `Success` and has no `/status`, `/blocks`, `/tree` or `/nodes/resolve`. Each type here
//! reads one contract shape of this crate and requires only what every such node sends;
//! the rest defaults or is `None`. Hashes of blocks and posts stay text: a tutorial node's
//! need not be ours (its genesis's parent is `"0"`), and the web app only shows and links
//! them. A status always names its tip and genesis by our kind of hash, so those decode.
//!
//! The contract types stay strict, as a chainpost node writes them. The tests below read
//! every contract shape through its counterpart here, so the two cannot drift apart.

use serde::Deserialize;

use chainpost_chain::BlockHash;

use crate::{Created, MineAnswer, PostCursor};

/// A post as any node sends it; reads [`crate::TransactionJson`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Post {
    /// Who wrote it (self-declared unless signed).
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub content: String,
    /// Seconds since the Unix epoch; absent or odd in some tutorial-style nodes.
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// The post's id (chainpost nodes only).
    #[serde(default)]
    pub id: Option<String>,
    /// Hex Ed25519 public key of a signed post.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Hex Ed25519 signature of a signed post.
    #[serde(default)]
    pub signature: Option<String>,
    /// Hex id of the post this one replies to (chainpost nodes only).
    #[serde(default)]
    pub reply_to: Option<String>,
    /// The handle a profile claims (chainpost nodes only).
    #[serde(default)]
    pub handle: Option<String>,
    /// Whether a reorganization put this pending post back (in `/pending_tx`; chainpost
    /// nodes only).
    #[serde(default)]
    pub returned: bool,
}

/// A block as any node's `/chain` sends it; reads [`crate::BlockJson`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Block {
    /// Height; the genesis block is 0.
    pub index: u64,
    #[serde(default)]
    pub transactions: Vec<Post>,
    /// Seconds since the Unix epoch (an integer from chainpost, a float from the tutorial).
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// Hex hash of the parent block.
    #[serde(default)]
    pub previous_hash: String,
    /// The proof-of-work nonce, kept as the node wrote it.
    #[serde(default)]
    pub nonce: Option<serde_json::Number>,
    /// Hex hash of the block, when the node sends it.
    #[serde(default)]
    pub hash: Option<String>,
    /// Leading zero bits the hash needs (chainpost only).
    #[serde(default)]
    pub difficulty: Option<u32>,
    /// Hex merkle root of the post ids (chainpost only).
    #[serde(default)]
    pub merkle_root: Option<String>,
}

/// The tutorial's `/chain` answer (one page of it from chainpost nodes); reads
/// [`crate::ChainPage`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChainPage {
    /// Length of the whole best chain.
    pub length: u64,
    /// The blocks of this page, lowest first.
    pub chain: Vec<Block>,
}

/// A peer count, whether a node sends a number or a list of addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerCount(pub u64);

impl<'de> Deserialize<'de> for PeerCount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Peers {
            Count(u64),
            List(Vec<serde::de::IgnoredAny>),
        }
        Ok(match Peers::deserialize(deserializer)? {
            Peers::Count(count) => PeerCount(count),
            Peers::List(list) => PeerCount(list.len() as u64),
        })
    }
}

/// A node's `/status` as a client reads it: only `height` and `tip` are required; reads
/// [`crate::Status`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NodeStatus {
    /// Hash of its genesis block: which network it is on (absent from nodes older than
    /// the handshake, which refuses them).
    #[serde(default, with = "crate::hex_hash::option")]
    pub genesis: Option<BlockHash>,
    /// Its random per-run identity, by which a node recognizes itself.
    #[serde(default)]
    pub node_id: Option<String>,
    /// Height of the best tip.
    pub height: u64,
    #[serde(default)]
    length: Option<u64>,
    /// Hash of the best tip.
    #[serde(with = "crate::hex_hash")]
    pub tip: BlockHash,
    /// Work of its best chain; a node that does not say claims none.
    #[serde(default)]
    pub cumulative_work: u128,
    /// Leading zero bits a block needs.
    #[serde(default)]
    pub difficulty: Option<u32>,
    /// Whether the network refuses unsigned posts.
    #[serde(default)]
    pub require_signatures: bool,
    /// Posts waiting to be mined.
    #[serde(default)]
    pub mempool_size: u64,
    /// Every block the node knows, side branches included.
    #[serde(default)]
    pub blocks_known: Option<u64>,
    /// Peers the node talks to.
    #[serde(default)]
    pub peers: PeerCount,
    /// Whether the node is searching for a block right now.
    #[serde(default)]
    pub mining: bool,
}

impl NodeStatus {
    /// Blocks in the best chain: as the node says, or height + 1, which it always is.
    pub fn length(&self) -> u64 {
        self.length.unwrap_or(self.height.saturating_add(1))
    }
}

/// A peer's `/status` as a node reads it before syncing: what it must know of a peer is
/// required, so a broken peer is an error and not a peer that claims no work; reads
/// [`crate::Status`]. Genesis and node id stay optional so that the handshake can say
/// which is missing.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PeerStatus {
    #[serde(default, with = "crate::hex_hash::option")]
    pub genesis: Option<BlockHash>,
    #[serde(default)]
    pub node_id: Option<String>,
    pub height: u64,
    #[serde(with = "crate::hex_hash")]
    pub tip: BlockHash,
    /// Work of its best chain, genesis included.
    pub cumulative_work: u128,
}

/// `/blocks/{hash}`: a block on any branch, with its place in the tree; reads
/// [`crate::BlockDetail`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BlockDetail {
    /// The block's own fields.
    #[serde(flatten)]
    pub block: Block,
    #[serde(default)]
    pub in_best_chain: Option<bool>,
    /// Total work from genesis to this block.
    #[serde(default)]
    pub cumulative_work: Option<u128>,
    /// Hashes of the blocks built on it.
    #[serde(default)]
    pub children: Vec<String>,
}

/// One block of `/tree`; reads [`crate::TreeBlock`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TreeBlock {
    /// Hex hash.
    pub hash: String,
    /// Height.
    pub index: u64,
    /// Hex hash of the parent.
    pub previous_hash: String,
    /// Seconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: Option<f64>,
    /// How many posts it holds.
    #[serde(default)]
    pub transactions: u64,
    /// Total work from genesis to it.
    #[serde(default)]
    pub cumulative_work: Option<u128>,
    pub in_best_chain: bool,
}

/// `/tree`: every known block from some height up, side branches included; reads
/// [`crate::TreeView`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Tree {
    /// Hex hash of the best tip.
    pub tip: String,
    /// Lowest height shown.
    #[serde(default)]
    pub from: u64,
    /// The blocks, by height then arrival.
    pub blocks: Vec<TreeBlock>,
}

/// A post and where it is, as `/transactions/{id}` and `/posts` send it; reads
/// [`crate::TransactionStatus`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostStatus {
    pub transaction: Post,
    /// The block that confirms it; `None` while it is pending.
    #[serde(default)]
    pub block: Option<BlockPlace>,
    /// Whether a reorganization put it back to pending.
    #[serde(default)]
    pub returned: bool,
    /// How many posts of the best chain reply to it.
    #[serde(default)]
    pub reply_count: Option<u64>,
}

/// `/posts`: a page of confirmed posts, newest first; reads [`crate::PostsPage`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PostsPage {
    pub posts: Vec<PostStatus>,
    /// The cursor of the next older page; `None` at the oldest post.
    #[serde(default)]
    pub next: Option<String>,
}

/// A block by height and hash; reads [`crate::BlockRef`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlockPlace {
    pub index: u64,
    pub hash: String,
}

impl PostsPage {
    /// Where the next older page starts; `None` at the oldest post, and for a cursor this
    /// crate cannot read, which ends the list rather than the page.
    pub fn next_cursor(&self) -> Option<PostCursor> {
        read_cursor(self.next.as_deref())
    }
}

fn read_cursor(next: Option<&str>) -> Option<PostCursor> {
    next.and_then(|next| next.parse().ok())
}

/// `/posts/{id}/thread`: a post and a page of its replies; reads [`crate::Thread`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Thread {
    pub post: PostStatus,
    pub replies: Vec<PostStatus>,
    /// The cursor of the next page of replies; `None` on the last.
    #[serde(default)]
    pub next: Option<String>,
}

impl Thread {
    /// Where the next page of replies starts; `None` on the last, and for a cursor this
    /// crate cannot read.
    pub fn next_cursor(&self) -> Option<PostCursor> {
        read_cursor(self.next.as_deref())
    }
}

/// `/search?q=`: a page of confirmed posts having the words; reads
/// [`crate::SearchResults`]. Only chainpost nodes search.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SearchResults {
    pub posts: Vec<PostStatus>,
    #[serde(default)]
    pub next: Option<String>,
    /// How far the node's index had got.
    #[serde(default)]
    pub indexed: Option<BlockPlace>,
}

impl SearchResults {
    /// Where the next page starts; `None` on the last, and for a cursor this crate cannot
    /// read.
    pub fn next_cursor(&self) -> Option<PostCursor> {
        read_cursor(self.next.as_deref())
    }
}

/// A key's profile; reads [`crate::Profile`]. Only chainpost nodes have profiles.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    pub public_key: String,
    pub handle: String,
    /// Whether the key owns `handle`; only then is `@handle` the key's.
    #[serde(default)]
    pub handle_owned: bool,
    pub display_name: String,
    #[serde(default)]
    pub bio: String,
}

/// `/profiles?keys=`; reads [`crate::ProfilesPage`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProfilesPage {
    pub profiles: Vec<Profile>,
}

/// `/handles/{handle}`: who owns it; reads [`crate::HandleOwner`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HandleOwner {
    pub handle: String,
    /// The owner's key.
    pub owner: String,
    /// The owner's latest profile.
    pub profile: Profile,
}

/// What `/nodes/resolve` reported; every field is optional, as nodes differ. Reads
/// [`crate::Resolved`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Resolution {
    /// Whether the node switched to a peer's chain.
    #[serde(default)]
    pub replaced: Option<bool>,
    /// How many peers it asked.
    #[serde(default)]
    pub peers_consulted: Option<u64>,
    /// How many blocks it took from them.
    #[serde(default)]
    pub blocks_added: Option<u64>,
    /// Its height afterwards.
    #[serde(default)]
    pub height: Option<u64>,
}

impl Resolution {
    /// A successful answer's body; one in plain text (other nodes) says nothing but that
    /// it succeeded.
    pub fn read(answer: &str) -> Self {
        serde_json::from_str(answer).unwrap_or_default()
    }
}

/// A successful `/new_transaction` answer's body: chainpost's receipt, or `None` from a
/// tutorial node, which answers a bare `Success`.
pub fn created(answer: &str) -> Option<Created> {
    serde_json::from_str(answer).ok()
}

/// What a successful `/mine` answer says; reads a [`MineAnswer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MineOutcome {
    /// A block was mined; its height when the node said it.
    Mined {
        /// Height of the new block, from "Block #N is mined.".
        index: Option<u64>,
    },
    /// The mempool was empty.
    NothingToMine,
}

impl MineOutcome {
    /// Reads the tutorial's sentences, "Block #N is mined." or "No transactions to
    /// mine"; anything else from a successful answer counts as a block of unknown height.
    pub fn read(answer: &str) -> Self {
        let answer = answer.trim();
        if answer.starts_with("No transactions") {
            return MineOutcome::NothingToMine;
        }
        let index = answer
            .strip_prefix("Block #")
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|digits| digits.parse().ok());
        MineOutcome::Mined { index }
    }
}

impl From<MineAnswer> for MineOutcome {
    fn from(answer: MineAnswer) -> Self {
        match answer {
            MineAnswer::Mined { index } => MineOutcome::Mined { index: Some(index) },
            MineAnswer::NothingToMine => MineOutcome::NothingToMine,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BlockJson, Resolved, Status, TransactionJson, TreeView};
    use chainpost_chain::{ChainParams, Hash256, Transaction, TxId};
    use ed25519_dalek::SigningKey;
    use serde::Serialize;

    /// `value` as a chainpost node writes it, read back leniently.
    fn read_as<T: for<'de> Deserialize<'de>>(value: &impl Serialize) -> T {
        let text = serde_json::to_string(value).expect("serializes");
        serde_json::from_str(&text).expect("reads leniently")
    }

    fn block() -> BlockJson {
        let genesis = ChainParams::new(0, false).expect("valid").genesis();
        let mut block = BlockJson::from_block(&genesis);
        let key = SigningKey::from_bytes(&[7; 32]);
        block.transactions = vec![TransactionJson::from_transaction(&Transaction::signed(
            "ann".into(),
            "hello".into(),
            1.5,
            &key,
        ))];
        block
    }

    fn hash(byte: u8) -> BlockHash {
        BlockHash(Hash256([byte; 32]))
    }

    fn chainpost_status() -> Status {
        Status {
            genesis: hash(1),
            node_id: "me".into(),
            height: 4,
            length: 5,
            tip: hash(2),
            cumulative_work: 80,
            difficulty: 16,
            require_signatures: true,
            mempool_size: 3,
            mempool_bytes: 300,
            blocks_known: 6,
            orphans: 0,
            side_branch_bytes: 0,
            peers: 2,
            peer_candidates: 1,
            mining: true,
        }
    }

    #[test]
    fn a_chainpost_status_reads_with_every_field_a_client_uses() {
        let read: NodeStatus = read_as(&chainpost_status());
        assert_eq!(
            read,
            NodeStatus {
                genesis: Some(hash(1)),
                node_id: Some("me".into()),
                height: 4,
                length: Some(5),
                tip: hash(2),
                cumulative_work: 80,
                difficulty: Some(16),
                require_signatures: true,
                mempool_size: 3,
                blocks_known: Some(6),
                peers: PeerCount(2),
                mining: true,
            }
        );
    }

    #[test]
    fn a_partial_status_reads_with_defaults() {
        let tip = "ab".repeat(32);
        let status: NodeStatus = serde_json::from_str(&format!(
            r#"{{"height": 7, "tip": "{tip}", "peers": ["a"]}}"#
        ))
        .expect("reads");
        assert_eq!((status.length(), status.genesis), (8, None));
        assert_eq!((status.cumulative_work, status.peers), (0, PeerCount(1)));
    }

    #[test]
    fn a_peer_status_needs_its_height_tip_and_work() {
        let read: PeerStatus = read_as(&chainpost_status());
        assert_eq!(
            read,
            PeerStatus {
                genesis: Some(hash(1)),
                node_id: Some("me".into()),
                height: 4,
                tip: hash(2),
                cumulative_work: 80,
            }
        );
        let tip = "ab".repeat(32);
        let no_work = format!(r#"{{"height": 7, "tip": "{tip}"}}"#);
        assert!(serde_json::from_str::<PeerStatus>(&no_work).is_err());
        let bad_tip = r#"{"height": 7, "tip": "0", "cumulative_work": 1}"#;
        assert!(serde_json::from_str::<PeerStatus>(bad_tip).is_err());
    }

    #[test]
    fn a_thread_reads_its_post_replies_places_and_cursor() {
        let parent = Transaction::new("ann".into(), "first".into(), 1.0, None);
        let reply =
            Transaction::with_reply_to("bo".into(), "second".into(), 2.0, Some(parent.id()), None);
        let place = crate::BlockRef {
            index: 3,
            hash: hash(4),
        };
        let status = |tx: &Transaction, block: Option<crate::BlockRef>| crate::TransactionStatus {
            transaction: TransactionJson::from_transaction(tx),
            status: if block.is_some() {
                crate::PostState::Confirmed
            } else {
                crate::PostState::Pending
            },
            block,
            returned: false,
            reply_count: 0,
        };
        let thread = crate::Thread {
            post: status(&parent, Some(place)),
            replies: vec![status(&reply, None)],
            next: Some("3.1".into()),
        };
        let read: Thread = read_as(&thread);
        assert_eq!(read.next.as_deref(), Some("3.1"));
        assert_eq!(
            read.next_cursor(),
            Some(PostCursor {
                height: 3,
                position: 1
            })
        );
        let odd = Thread {
            next: Some("yesterday".into()),
            ..read.clone()
        };
        assert_eq!(
            odd.next_cursor(),
            None,
            "an unreadable cursor ends the list"
        );
        assert_eq!(
            read.post.block,
            Some(BlockPlace {
                index: 3,
                hash: hash(4).to_string()
            })
        );
        assert_eq!(read.post.transaction.reply_to, None);
        assert_eq!(read.replies[0].block, None);
        assert_eq!(
            read.replies[0].transaction.reply_to,
            Some(parent.id().to_string())
        );
    }

    #[test]
    fn profiles_and_handle_owners_read_as_written() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let handle = chainpost_chain::Handle::parse("ann").expect("a handle");
        let post = Transaction::signed_of_kind(
            "Ann".into(),
            "".into(),
            1.0,
            chainpost_chain::PostKind::Profile(handle),
            &key,
        );
        let profile = crate::Profile {
            public_key: hex::encode(key.verifying_key().to_bytes()),
            handle: "ann".into(),
            handle_owned: true,
            display_name: "Ann".into(),
            bio: "".into(),
            post: crate::TransactionStatus {
                transaction: TransactionJson::from_transaction(&post),
                status: crate::PostState::Confirmed,
                block: Some(crate::BlockRef {
                    index: 1,
                    hash: hash(1),
                }),
                returned: false,
                reply_count: 0,
            },
        };
        let expected = Profile {
            public_key: profile.public_key.clone(),
            handle: "ann".into(),
            handle_owned: true,
            display_name: "Ann".into(),
            bio: "".into(),
        };
        // A profile post is listed like any post, with its handle.
        let listed: PostStatus = read_as(&profile.post);
        assert_eq!(listed.transaction.handle.as_deref(), Some("ann"));
        let page: ProfilesPage = read_as(&crate::ProfilesPage {
            profiles: vec![profile.clone()],
        });
        assert_eq!(page.profiles, std::slice::from_ref(&expected));
        let owner: HandleOwner = read_as(&crate::HandleOwner {
            handle: "ann".into(),
            owner: profile.public_key.clone(),
            claim: profile.post.clone(),
            profile,
        });
        assert_eq!(owner.profile, expected);
        assert_eq!(owner.owner, expected.public_key);
    }

    #[test]
    fn a_page_without_peers_reads_with_none() {
        let page: crate::ChainPage =
            serde_json::from_str(r#"{"length": 0, "chain": []}"#).expect("reads");
        assert!(page.peers.is_empty());
    }

    #[test]
    fn chainpost_blocks_pages_and_details_read_as_written() {
        let json = block();
        let page = crate::ChainPage {
            length: 9,
            chain: vec![json.clone()],
            peers: vec!["http://a".into()],
        };
        let read: ChainPage = read_as(&page);
        assert_eq!(read.length, 9);
        let block = &read.chain[0];
        assert_eq!(
            (block.index, block.timestamp, block.difficulty),
            (
                json.index,
                Some(json.timestamp as f64),
                Some(json.difficulty)
            )
        );
        assert_eq!(block.previous_hash, json.previous_hash);
        assert_eq!(block.hash.as_ref(), Some(&json.hash));
        assert_eq!(block.merkle_root.as_ref(), Some(&json.merkle_root));
        assert_eq!(
            block.nonce.as_ref().and_then(|n| n.as_u64()),
            Some(json.nonce)
        );
        let post = &block.transactions[0];
        let sent = &json.transactions[0];
        assert_eq!(
            (&post.author, &post.content, post.timestamp, &post.id),
            (&sent.author, &sent.content, Some(sent.timestamp), &sent.id)
        );
        assert_eq!(
            (&post.public_key, &post.signature),
            (&sent.public_key, &sent.signature)
        );
        assert!(post.signature.is_some());

        let detail = crate::BlockDetail {
            block: json.clone(),
            in_best_chain: false,
            cumulative_work: 12,
            children: vec![hash(3)],
        };
        let read: BlockDetail = read_as(&detail);
        assert_eq!(read.block.hash.as_ref(), Some(&json.hash));
        assert_eq!(
            (read.in_best_chain, read.cumulative_work, read.children),
            (Some(false), Some(12), vec![hash(3).to_string()])
        );
    }

    #[test]
    fn a_chainpost_tree_and_resolution_read_as_written() {
        let tree = TreeView {
            tip: hash(2),
            from: 3,
            blocks: vec![crate::TreeBlock {
                hash: hash(2),
                index: 3,
                previous_hash: hash(1),
                timestamp: 100,
                transactions: 4,
                cumulative_work: 64,
                in_best_chain: true,
            }],
        };
        let read: Tree = read_as(&tree);
        assert_eq!((read.tip, read.from), (hash(2).to_string(), 3));
        assert_eq!(
            read.blocks,
            vec![TreeBlock {
                hash: hash(2).to_string(),
                index: 3,
                previous_hash: hash(1).to_string(),
                timestamp: Some(100.0),
                transactions: 4,
                cumulative_work: Some(64),
                in_best_chain: true,
            }]
        );

        let resolved = Resolved::new(true, 2, 5, 9, hash(2));
        let text = serde_json::to_string(&resolved).expect("serializes");
        assert_eq!(
            Resolution::read(&text),
            Resolution {
                replaced: Some(true),
                peers_consulted: Some(2),
                blocks_added: Some(5),
                height: Some(9),
            }
        );
        assert_eq!(Resolution::read("Consensus done"), Resolution::default());
    }

    #[test]
    fn a_receipt_is_read_from_chainpost_and_nothing_from_the_tutorial() {
        let receipt = Created::new(TxId(Hash256([4; 32])), 2.5);
        let text = serde_json::to_string(&receipt).expect("serializes");
        assert_eq!(created(&text), Some(receipt));
        assert_eq!(created("Success"), None);
    }

    #[test]
    fn the_tutorials_mine_answers_and_chainposts_are_understood() {
        for answer in [MineAnswer::Mined { index: 12 }, MineAnswer::NothingToMine] {
            assert_eq!(
                MineOutcome::read(&answer.to_string()),
                MineOutcome::from(answer)
            );
        }
        assert_eq!(
            MineOutcome::read("Block #12 is mined."),
            MineOutcome::Mined { index: Some(12) }
        );
        assert_eq!(
            MineOutcome::read("No transactions to mine"),
            MineOutcome::NothingToMine
        );
        assert_eq!(
            MineOutcome::read("done"),
            MineOutcome::Mined { index: None }
        );
    }

    #[test]
    fn a_tutorial_chain_with_float_timestamps_and_no_ids_reads() {
        let text = r#"{"length": 2, "chain": [
            {"index": 0, "transactions": [], "timestamp": 0, "previous_hash": "0",
             "nonce": 0, "hash": "ab"},
            {"index": 1, "transactions": [{"author": "a", "content": "b", "timestamp": 1.5}],
             "timestamp": 1700000000.25, "previous_hash": "ab", "nonce": 77}
        ], "peers": []}"#;
        let page: ChainPage = serde_json::from_str(text).expect("reads");
        assert_eq!(page.chain[1].timestamp, Some(1_700_000_000.25));
        assert_eq!(page.chain[1].hash, None);
        assert_eq!(page.chain[1].transactions[0].id, None);
    }

    #[test]
    fn peers_may_be_a_count_or_a_list() {
        let count: PeerCount = serde_json::from_str("3").expect("count");
        let list: PeerCount = serde_json::from_str(r#"["http://a", "http://b"]"#).expect("list");
        assert_eq!((count, list), (PeerCount(3), PeerCount(2)));
    }
}
