//! Template structs and the display-ready values they show.
//!
//! Owns turning node data into text a reader understands: human times, short hashes,
//! explorer links, verified badges, the block tree laid out in lanes. Templates only
//! place these values; askama escapes every one of them (no template marks user data
//! `|safe`). Nothing here does I/O or crypto: the clock is passed in, and posts arrive
//! with their signatures already checked ([`CheckedPost`]).

use std::collections::HashMap;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use chainpost_chain::params::{MAX_AUTHOR_CHARS, MAX_CONTENT_CHARS};
use chainpost_chain::{BlockHash, TxId};
use chainpost_wire::PostCursor;
use chainpost_wire::lenient::{Block, BlockDetail, BlockPlace, NodeStatus, Post, Tree};

use crate::links::{TextPart, split_links};
use crate::names::Names;
use crate::node_client::NodeError;
use crate::post::{Author, Authorship, CheckedPost, FormErrors, PostForm};
use crate::session::Flash;
use chainpost_wire::lenient::Profile;

/// A rendered template as a response; a template that fails to render is logged and
/// becomes a plain 500 page.
pub(crate) struct Page<T>(pub(crate) T);

impl<T: Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(html) => Html(html).into_response(),
            Err(error) => {
                tracing::error!(%error, "a page failed to render");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Html(
                        "<!doctype html><title>chainpost: error</title>\
                         <h1>Something went wrong</h1><p>The page could not be drawn. \
                         The error is in the web app's log.</p>",
                    ),
                )
                    .into_response()
            }
        }
    }
}

/// Which part of the site a page belongs to, for the navigation bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Posts,
    Explorer,
}

/// One configured node, as the node picker shows it.
#[derive(Debug, Clone)]
struct NodeChoice {
    /// Its index, the value of `?node=`.
    index: usize,
    url: String,
    /// Whether this page shows it.
    selected: bool,
}

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The page title (after "chainpost").
    title: String,
    /// Highlighted navigation entry.
    section: Section,
    nodes: Vec<NodeChoice>,
    /// Index of the node this page shows.
    node: usize,
    node_url: String,
    /// Summary of the node's state that the live updates compare against; empty when
    /// unknown.
    pub(crate) live: String,
    /// Why the node could not be read, shown as a banner.
    pub(crate) banner: Option<String>,
    /// Where live updates fetch this page again when not at the page's own address (a
    /// page drawn in answer to a POST names its GET equivalent).
    pub(crate) refresh: Option<&'static str>,
    /// Version, to make browsers fetch new static files after an upgrade.
    version: &'static str,
    /// Whether the page offers to add a node (`--reader-nodes`).
    pub(crate) reader_nodes: bool,
    /// How many of `nodes` a reader added (the last ones).
    pub(crate) added: usize,
}

impl Layout {
    pub(crate) fn new(
        title: impl Into<String>,
        section: Section,
        urls: &[String],
        node: usize,
    ) -> Self {
        Layout {
            title: title.into(),
            section,
            nodes: urls
                .iter()
                .enumerate()
                .map(|(index, url)| NodeChoice {
                    index,
                    url: url.clone(),
                    selected: index == node,
                })
                .collect(),
            node,
            node_url: urls.get(node).cloned().unwrap_or_default(),
            live: String::new(),
            banner: None,
            refresh: None,
            version: env!("CARGO_PKG_VERSION"),
            reader_nodes: false,
            added: 0,
        }
    }

    /// Whether the list holds nodes a reader added.
    fn has_added(&self) -> bool {
        self.added > 0
    }

    fn is_posts(&self) -> bool {
        self.section == Section::Posts
    }

    fn is_explorer(&self) -> bool {
        self.section == Section::Explorer
    }
}

/// The banner for a node that could not be read, in the reader's terms.
pub(crate) fn banner(error: &NodeError) -> String {
    match error {
        NodeError::Unreachable { node, .. } => format!(
            "The node at {node} is not answering; it may be down. Nothing can be read or \
             posted until it is back. This page will update by itself."
        ),
        NodeError::Timeout { node, timeout } => format!(
            "The node at {node} is too slow: it did not answer within {:.1} s. It may be busy \
             or overloaded. This page will update by itself.",
            timeout.as_secs_f64()
        ),
        NodeError::BadResponse { .. } => {
            "The node answered something this web app cannot read. Is the address that of a \
             chainpost or tutorial node?"
                .to_owned()
        }
        NodeError::EndpointMissing { node, endpoint } => {
            format!("The node at {node} does not offer {endpoint}.")
        }
        NodeError::Rejected { message, .. } => format!("The node refused: {message}"),
    }
}

/// What the live-update stream sends when the node cannot be read.
pub(crate) const LIVE_DOWN: &str = "down";

/// A time, absolute and relative to when the page was drawn.
#[derive(Debug, Clone)]
struct TimeView {
    /// RFC 3339, for `<time datetime>`.
    iso: String,
    /// "3 May 2026, 14:02 UTC".
    absolute: String,
    /// "5 minutes ago".
    relative: String,
}

impl TimeView {
    /// The time `seconds` after the epoch, seen at `now`; `None` for times that cannot be
    /// dates (a tutorial node's genesis has timestamp 0, which is fine; NaN is not).
    fn from_unix(seconds: f64, now: DateTime<Utc>) -> Option<Self> {
        if !seconds.is_finite() {
            return None;
        }
        let millis = (seconds * 1000.0).round();
        if millis.abs() > 8.0e15 {
            return None;
        }
        let time = DateTime::<Utc>::from_timestamp_millis(millis as i64)?;
        Some(TimeView {
            iso: time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            absolute: time.format("%-d %b %Y, %H:%M:%S UTC").to_string(),
            relative: relative_time(now.signed_duration_since(time)),
        })
    }
}

fn relative_time(age: chrono::TimeDelta) -> String {
    let seconds = age.num_seconds();
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit} ago")
        } else {
            format!("{n} {unit}s ago")
        }
    };
    match seconds {
        i64::MIN..=-60 => "in the future".to_owned(),
        -59..=44 => "just now".to_owned(),
        45..=3_599 => plural((seconds / 60).max(1), "minute"),
        3_600..=86_399 => plural(seconds / 3_600, "hour"),
        86_400..=2_591_999 => plural(seconds / 86_400, "day"),
        _ => plural(seconds / 2_592_000, "month"),
    }
}

/// The first 8 characters of a hash or key: enough for a person to tell them apart.
pub(crate) fn short(hash: &str) -> String {
    hash.chars().take(8).collect()
}

/// A block hash as a node sent it. The lenient reading keeps hashes as text, because a
/// tutorial-style node's need not be ours (its genesis's parent is `"0"`); text that reads
/// as ours (every chainpost node's, and the tutorial's SHA-256 hex) becomes a
/// [`BlockHash`], which is all that ever goes into a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LenientHash {
    Ours(BlockHash),
    /// Shown, never linked to.
    Foreign(String),
}

impl LenientHash {
    /// `None` for an empty hash, which names nothing.
    fn read(text: &str) -> Option<Self> {
        if text.is_empty() {
            return None;
        }
        Some(match text.parse() {
            Ok(hash) => LenientHash::Ours(hash),
            Err(_) => LenientHash::Foreign(text.to_owned()),
        })
    }

    fn short(&self) -> String {
        match self {
            LenientHash::Ours(hash) => short(&hash.to_string()),
            LenientHash::Foreign(text) => short(text),
        }
    }
}

/// A link to a block: its explorer page by hash when the node named it by one of ours,
/// else by height (a tutorial-style node's block may have no hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlockLink {
    index: u64,
    hash: Option<LenientHash>,
}

impl BlockLink {
    /// A link to `block`, by hash when it has one, else by height.
    pub(crate) fn to(block: &Block) -> Self {
        BlockLink::named(block.index, block.hash.as_deref().unwrap_or_default())
    }

    /// A link to the block at `index` that a node named `hash` (empty: no name).
    fn named(index: u64, hash: &str) -> Self {
        BlockLink {
            index,
            hash: LenientHash::read(hash),
        }
    }

    /// A link to the block a node placed a post in.
    pub(crate) fn placed(place: &BlockPlace) -> Self {
        BlockLink::named(place.index, &place.hash)
    }

    fn ours(index: u64, hash: BlockHash) -> Self {
        BlockLink {
            index,
            hash: Some(LenientHash::Ours(hash)),
        }
    }

    fn href(&self) -> String {
        match &self.hash {
            Some(LenientHash::Ours(hash)) => format!("/blocks/{hash}"),
            _ => format!("/height/{}", self.index),
        }
    }

    /// First 8 characters of the hash; empty when the node sent none.
    fn short_hash(&self) -> String {
        self.hash
            .as_ref()
            .map_or_else(String::new, LenientHash::short)
    }
}

/// What a post's signature says, for the badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AuthorshipState {
    /// Signed by the key it carries; the name is the key's own claim, unless the key owns
    /// a handle ([`AuthorshipView::handle`]).
    Signed,
    /// Not signed.
    Unverified,
    /// Signed, but the signature does not hold.
    Invalid,
}

/// Who wrote a post, as far as its signature tells.
#[derive(Debug, Clone)]
struct AuthorshipView {
    state: AuthorshipState,
    /// First 8 hex characters of the key of a signed post.
    fingerprint: String,
    /// The whole key of a signed post.
    public_key: String,
    /// The handle the signing key owns and names in its latest profile: the only name a
    /// post is shown as verified under.
    handle: Option<String>,
}

impl AuthorshipView {
    fn of(authorship: &Authorship) -> Self {
        let (state, public_key) = match authorship {
            Authorship::Verified { public_key } => (AuthorshipState::Signed, public_key.clone()),
            Authorship::Unsigned => (AuthorshipState::Unverified, String::new()),
            Authorship::Invalid => (AuthorshipState::Invalid, String::new()),
        };
        AuthorshipView {
            state,
            fingerprint: short(&public_key),
            public_key,
            handle: None,
        }
    }
}

/// A post, ready to show.
#[derive(Debug, Clone)]
pub(crate) struct PostView {
    author: String,
    /// The text, split so that its `http(s)` addresses can be drawn as links.
    content: Vec<TextPart>,
    /// First letter of the author, for the avatar.
    initial: String,
    /// Avatar colour, 0 to 11, stable per author.
    hue: u8,
    time: Option<TimeView>,
    /// The confirming block; `None` while pending or on the block's own page.
    block: Option<BlockLink>,
    /// Blocks of the best chain from the confirming block to the tip, both counted; `None`
    /// when the tip is not known.
    confirmations: Option<u64>,
    /// Pending again because a reorganization took its block off the best chain.
    returned: bool,
    /// How many replies the node counts for it; `None` when it does not say.
    reply_count: Option<u64>,
    authorship: AuthorshipView,
    /// The author's page: the key's for a verified post, the name's for an unsigned one,
    /// none for a post whose signature does not hold.
    author_href: Option<String>,
    /// The post's id, when the node sends one (only chainpost nodes do, so it reads as ours).
    id: Option<TxId>,
    /// The post it answers, when it is a reply.
    reply_to: Option<TxId>,
    /// The handle it claims, when it is a profile.
    claims: Option<String>,
}

impl PostView {
    /// `checked`, confirmed in `block` (or pending when `None`), seen at `now`.
    pub(crate) fn new(checked: &CheckedPost, block: Option<BlockLink>, now: DateTime<Utc>) -> Self {
        let post = checked.post();
        let initial = initial_of(&post.author);
        PostView {
            author: post.author.clone(),
            content: split_links(&post.content),
            initial,
            hue: hue_of(&post.author),
            time: post
                .timestamp
                .and_then(|seconds| TimeView::from_unix(seconds, now)),
            returned: post.returned && block.is_none(),
            reply_count: checked.reply_count(),
            block,
            confirmations: None,
            author_href: match checked.authorship() {
                Authorship::Verified { public_key } => {
                    Some(author_href(&Author::parse(public_key)))
                }
                Authorship::Unsigned => Some(author_href(&Author::Name(post.author.clone()))),
                Authorship::Invalid => None,
            },
            authorship: AuthorshipView::of(checked.authorship()),
            id: post.id.as_deref().and_then(|id| id.parse().ok()),
            reply_to: post.reply_to.as_deref().and_then(|id| id.parse().ok()),
            claims: post.handle.clone(),
        }
    }

    /// The post under what the node says its key is called: the display name of the key's
    /// latest profile, and its handle when it owns it (the page of the handle is then the
    /// author's page). Unsigned posts and keys without a profile keep the post's own name.
    pub(crate) fn named(mut self, names: &Names) -> Self {
        if self.authorship.state != AuthorshipState::Signed {
            return self;
        }
        let Some(profile) = names.get(&self.authorship.public_key) else {
            return self;
        };
        self.author = profile.display_name.clone();
        self.initial = initial_of(&self.author);
        self.hue = hue_of(&self.author);
        if profile.handle_owned {
            self.author_href = Some(handle_href(&profile.handle));
            self.authorship.handle = Some(profile.handle.clone());
        }
        self
    }

    /// A post as `/transactions/{id}` or a thread sends it: pending, or in its block.
    pub(crate) fn placed(
        checked: &CheckedPost,
        block: Option<&BlockPlace>,
        now: DateTime<Utc>,
    ) -> Self {
        PostView::new(checked, block.map(BlockLink::placed), now)
    }

    /// The post seen from a best chain whose tip is at height `tip`: its confirmations.
    pub(crate) fn under_tip(mut self, tip: u64) -> Self {
        self.confirmations = self
            .block
            .as_ref()
            .and_then(|block| tip.checked_sub(block.index))
            .map(|depth| depth + 1);
        self
    }

    /// "1 confirmation", "12 confirmations"; `None` when not known.
    fn confirmations_text(&self) -> Option<String> {
        self.confirmations.map(|count| match count {
            1 => "1 confirmation".to_owned(),
            count => format!("{count} confirmations"),
        })
    }

    /// What its thread link says: "Reply", or how many replies it has.
    fn thread_text(&self) -> String {
        match self.reply_count {
            None | Some(0) => "Reply".to_owned(),
            Some(1) => "1 reply".to_owned(),
            Some(count) => format!("{count} replies"),
        }
    }

    /// Its own thread.
    fn thread_link(&self) -> Option<ThreadLink> {
        self.id.as_ref().map(ThreadLink::of)
    }

    /// The thread of the post it answers.
    fn parent_link(&self) -> Option<ThreadLink> {
        self.reply_to.as_ref().map(ThreadLink::of)
    }
}

/// A link to the thread of a post.
#[derive(Debug, Clone)]
struct ThreadLink {
    href: String,
    /// The post's short id.
    short: String,
}

impl ThreadLink {
    fn of(id: &TxId) -> Self {
        let id = id.to_string();
        ThreadLink {
            href: format!("/posts/{id}"),
            short: short(&id),
        }
    }
}

/// What a path segment keeps unescaped: RFC 3986's unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The address of `author`'s page. A name that a path segment cannot carry (`.` and `..`,
/// which browsers resolve away, escaped or not) goes in the query instead, as does one
/// that starts with `@`, which in a path names a handle.
pub(crate) fn author_href(author: &Author) -> String {
    match author {
        Author::Key(key) => format!("/authors/{}", hex::encode(key)),
        Author::Handle(handle) => handle_href(handle.as_str()),
        Author::Name(name) if name == "." || name == ".." || name.starts_with('@') => {
            format!("/authors?name={}", utf8_percent_encode(name, PATH_SEGMENT))
        }
        Author::Name(name) => format!("/authors/{}", utf8_percent_encode(name, PATH_SEGMENT)),
    }
}

/// The page of the key that owns `handle`.
pub(crate) fn handle_href(handle: &str) -> String {
    format!("/authors/@{}", utf8_percent_encode(handle, PATH_SEGMENT))
}

/// An author, ready to show at the top of their page.
#[derive(Debug, Clone)]
pub(crate) struct AuthorView {
    /// The name shown: a key's profile's display name (or its latest post's name), or the
    /// unsigned name itself.
    display: String,
    initial: String,
    hue: u8,
    /// The whole key, for a key's page.
    key: Option<String>,
    fingerprint: String,
    /// The handle the key owns and names in its latest profile.
    handle: Option<String>,
    /// The handle the key's latest profile names but another key owns.
    claimed: Option<String>,
    /// The bio of the key's latest profile.
    bio: Vec<TextPart>,
    href: String,
}

impl AuthorView {
    /// `author`, named by its `profile` (a key's) or after `latest`, its newest post.
    pub(crate) fn new(
        author: &Author,
        latest: Option<&CheckedPost>,
        profile: Option<&Profile>,
    ) -> Self {
        let (display, key) = match author {
            Author::Key(key) => (
                profile.map_or_else(
                    || latest.map_or_else(String::new, |post| post.post().author.clone()),
                    |profile| profile.display_name.clone(),
                ),
                Some(hex::encode(key)),
            ),
            // A handle's page is drawn as its owner's key's: one nobody owns has none.
            Author::Handle(handle) => (format!("@{handle}"), None),
            Author::Name(name) => (name.clone(), None),
        };
        let owned = profile.filter(|profile| profile.handle_owned);
        let fingerprint = key.as_deref().map_or_else(String::new, short);
        AuthorView {
            initial: initial_of(&display),
            hue: hue_of(key.as_deref().unwrap_or(&display)),
            display,
            key,
            fingerprint,
            handle: owned.map(|profile| profile.handle.clone()),
            claimed: profile
                .filter(|profile| !profile.handle_owned)
                .map(|profile| profile.handle.clone()),
            bio: profile.map_or_else(Vec::new, |profile| split_links(&profile.bio)),
            href: owned.map_or_else(
                || author_href(author),
                |profile| handle_href(&profile.handle),
            ),
        }
    }

    /// The page's title: the name, and the handle it owns or the key's fingerprint.
    pub(crate) fn title(&self) -> String {
        if let Some(handle) = &self.handle {
            return format!("{} (@{handle})", self.display);
        }
        match (&self.key, self.display.is_empty()) {
            (Some(_), true) => format!("Key {}", self.fingerprint),
            (Some(_), false) => format!("{} · {}", self.display, self.fingerprint),
            (None, _) => self.display.clone(),
        }
    }

    /// The address of the page, from its newest posts or from `before`.
    pub(crate) fn page(&self, before: Option<PostCursor>) -> String {
        match before {
            None => self.href.clone(),
            Some(cursor) if self.href.contains('?') => format!("{}&before={cursor}", self.href),
            Some(cursor) => format!("{}?before={cursor}", self.href),
        }
    }
}

/// First letter of a name, upper-cased, for an avatar.
fn initial_of(name: &str) -> String {
    name.trim()
        .chars()
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_else(|| "?".to_owned())
}

fn hue_of(author: &str) -> u8 {
    // FNV-1a: stable across runs and platforms, unlike std's randomized hasher.
    let hash = author.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    (hash % 12) as u8
}

/// The posts of `blocks` (lowest first, as `/chain` sends them), newest first: by block
/// height, then by time within a block. At most `limit` of them.
pub(crate) fn newest_first(blocks: &[Block], limit: usize) -> Vec<(&Block, &Post)> {
    let mut posts: Vec<(&Block, &Post)> = blocks
        .iter()
        .flat_map(|block| block.transactions.iter().map(move |post| (block, post)))
        .collect();
    posts.sort_by(|(block_a, post_a), (block_b, post_b)| {
        block_b.index.cmp(&block_a.index).then_with(|| {
            let (a, b) = (
                post_a.timestamp.unwrap_or(0.0),
                post_b.timestamp.unwrap_or(0.0),
            );
            b.total_cmp(&a)
        })
    });
    posts.truncate(limit);
    posts
}

/// Confirmed posts, each with a link to its block and its confirmations under a tip at
/// height `tip`, in the order given.
pub(crate) fn confirmed_posts(
    posts: &[(BlockLink, CheckedPost)],
    tip: u64,
    names: &Names,
    now: DateTime<Utc>,
) -> Vec<PostView> {
    posts
        .iter()
        .map(|(block, post)| {
            PostView::new(post, Some(block.clone()), now)
                .under_tip(tip)
                .named(names)
        })
        .collect()
}

/// Pending posts (oldest first, as the node lists them), newest first.
pub(crate) fn pending_posts(
    pending: &[CheckedPost],
    names: &Names,
    now: DateTime<Utc>,
) -> Vec<PostView> {
    pending
        .iter()
        .rev()
        .map(|post| PostView::new(post, None, now).named(names))
        .collect()
}

/// The post form with what the person typed and what is wrong with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct FormView {
    /// The author as typed.
    author: String,
    /// The content as typed.
    content: String,
    /// Problems to show next to the fields.
    errors: FormErrors,
    /// Longest author, for `maxlength`.
    max_author: usize,
    /// Longest content, for `maxlength`.
    max_content: usize,
    /// The post a reply answers; `None` for a post that starts a thread.
    reply_to: Option<TxId>,
    /// The handle of the profile form, as typed.
    handle: String,
}

impl FormView {
    pub(crate) fn empty() -> Self {
        FormView::refill(&PostForm::default(), FormErrors::default())
    }

    /// An empty form for a reply to `parent`.
    pub(crate) fn reply(parent: TxId) -> Self {
        FormView {
            reply_to: Some(parent),
            ..FormView::empty()
        }
    }

    pub(crate) fn refill(form: &PostForm, errors: FormErrors) -> Self {
        FormView {
            author: form.author.clone(),
            content: form.content.clone(),
            errors,
            max_author: MAX_AUTHOR_CHARS,
            max_content: MAX_CONTENT_CHARS,
            reply_to: form.reply_to().ok().flatten(),
            handle: form.handle.clone(),
        }
    }

    /// The profile form filled with a key's current profile.
    pub(crate) fn profile(profile: &Profile) -> Self {
        FormView {
            author: profile.display_name.clone(),
            content: profile.bio.clone(),
            handle: profile.handle.clone(),
            ..FormView::empty()
        }
    }
}

/// The node's status panel.
#[derive(Debug, Clone)]
pub(crate) struct StatusView {
    /// Height of the best tip.
    pub(crate) height: u64,
    pub(crate) tip: BlockLink,
    peers: u64,
    /// "16 bits", or "unknown".
    difficulty: String,
    pub(crate) pending: u64,
    /// Blocks known, side branches included; `None` when the node does not say.
    blocks_known: Option<u64>,
    mining: bool,
    /// Whether the network refuses unsigned posts.
    require_signatures: bool,
}

impl StatusView {
    pub(crate) fn new(status: &NodeStatus) -> Self {
        StatusView {
            height: status.height,
            tip: BlockLink::ours(status.height, status.tip),
            peers: status.peers.0,
            difficulty: status
                .difficulty
                .map_or_else(|| "unknown".to_owned(), |bits| format!("{bits} bits")),
            pending: status.mempool_size,
            blocks_known: status.blocks_known,
            mining: status.mining,
            require_signatures: status.require_signatures,
        }
    }

    /// A summary that changes whenever a block or a post arrives. The live-update stream
    /// sends it; a page drawn with an older one reloads its live parts.
    pub(crate) fn live_fingerprint(&self) -> String {
        format!("{}:{}:{}", self.height, self.tip.short_hash(), self.pending)
    }

    /// The panel for a node without `/status`, from what `/chain` and `/pending_tx` say.
    pub(crate) fn from_chain(length: u64, last: Option<&Block>, pending: u64) -> Self {
        let height = length.saturating_sub(1);
        StatusView {
            height,
            tip: last.map_or(
                BlockLink {
                    index: height,
                    hash: None,
                },
                BlockLink::to,
            ),
            peers: 0,
            difficulty: last
                .and_then(|block| block.difficulty)
                .map_or_else(|| "unknown".to_owned(), |bits| format!("{bits} bits")),
            pending,
            blocks_known: None,
            mining: false,
            require_signatures: false,
        }
    }
}

/// The home page: the post form, the node's status, pending and confirmed posts.
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    pub(crate) layout: Layout,
    /// The outcome of the previous action.
    pub(crate) flash: Option<Flash>,
    pub(crate) form: FormView,
    /// The node's status; `None` when it could not be read.
    pub(crate) status: Option<StatusView>,
    /// The oldest posts waiting to be mined (a few of them), newest of those first.
    pub(crate) pending: Vec<PostView>,
    /// How many posts are waiting in all.
    pub(crate) pending_count: u64,
    /// Confirmed posts, newest first.
    pub(crate) posts: Vec<PostView>,
    /// The address of the next older page, when there is one.
    pub(crate) older: Option<String>,
    /// Whether this page starts below the newest posts.
    pub(crate) older_page: bool,
    /// True when older posts exist that only the explorer reaches (a node without `/posts`).
    pub(crate) more_in_explorer: bool,
    /// False when the node could not be read at all.
    pub(crate) node_ok: bool,
}

/// One author's confirmed posts, newest first.
#[derive(Template)]
#[template(path = "author.html")]
pub(crate) struct AuthorPage {
    pub(crate) layout: Layout,
    pub(crate) author: AuthorView,
    pub(crate) posts: Vec<PostView>,
    /// The address of the next older page, when there is one.
    pub(crate) older: Option<String>,
    /// The address of the newest page, on an older one.
    pub(crate) newest: Option<String>,
}

/// The posts having the words the search box was given, or why there are none.
#[derive(Template)]
#[template(path = "search.html")]
pub(crate) struct SearchPage {
    pub(crate) layout: Layout,
    pub(crate) query: String,
    /// The page of the posts that give the query as their name.
    pub(crate) name_page: Option<String>,
    /// The posts found, newest first.
    pub(crate) posts: Vec<PostView>,
    /// Why nothing was searched: the node's reason, or that it has no search.
    pub(crate) problem: Option<String>,
    /// The address of the next page of results.
    pub(crate) more: Option<String>,
    /// Whether this page starts after the first results.
    pub(crate) later_page: bool,
    /// How far the node's index had got, when it is behind the tip shown in the status.
    pub(crate) indexed_below: Option<u64>,
}

/// The profile form: a key's handle, display name and bio, signed in the browser.
#[derive(Template)]
#[template(path = "profile.html")]
pub(crate) struct ProfilePage {
    pub(crate) layout: Layout,
    pub(crate) flash: Option<Flash>,
    pub(crate) form: FormView,
    /// What the node says of that key's current profile.
    pub(crate) current: Option<AuthorView>,
    /// The longest handle, for `maxlength`.
    pub(crate) max_handle: usize,
}

/// A post and its replies: the confirmed ones in chain order, then the pending ones.
#[derive(Template)]
#[template(path = "thread.html")]
pub(crate) struct ThreadPage {
    pub(crate) layout: Layout,
    pub(crate) flash: Option<Flash>,
    pub(crate) form: FormView,
    pub(crate) post: PostView,
    pub(crate) replies: Vec<PostView>,
    /// The address of the next page of replies, when there is one.
    pub(crate) more: Option<String>,
    /// Whether this page starts after the first replies.
    pub(crate) later_page: bool,
}

/// Which branch a block is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Branch {
    Best,
    Side,
    /// The node does not say (a tutorial-style node).
    Unknown,
}

/// A block's header and place in the tree, ready to show.
#[derive(Debug, Clone)]
pub(crate) struct BlockView {
    pub(crate) index: u64,
    /// Full hex hash; empty when the node sent none.
    hash: String,
    /// Full hex hash of the parent.
    previous_hash: String,
    /// Link to the parent; `None` for the genesis block.
    parent: Option<BlockLink>,
    time: Option<TimeView>,
    /// The nonce, as the node wrote it.
    nonce: String,
    /// "16 bits", "unknown", or for the genesis block, which every node makes the same way
    /// and nobody mines, that it carries no proof of work.
    difficulty: String,
    /// Hex merkle root, or "—".
    merkle_root: String,
    /// Total work up to it, or "—".
    cumulative_work: String,
    branch: Branch,
    children: Vec<BlockLink>,
    /// Whether it has more than one child: a fork starts here.
    is_fork: bool,
}

impl BlockView {
    pub(crate) fn new(detail: &BlockDetail, now: DateTime<Utc>) -> Self {
        let block = &detail.block;
        let is_genesis = block.index == 0;
        BlockView {
            index: block.index,
            hash: block.hash.clone().unwrap_or_default(),
            previous_hash: block.previous_hash.clone(),
            parent: (!is_genesis)
                .then(|| BlockLink::named(block.index.saturating_sub(1), &block.previous_hash)),
            time: block
                .timestamp
                .and_then(|seconds| TimeView::from_unix(seconds, now)),
            nonce: block
                .nonce
                .as_ref()
                .map_or_else(|| "—".to_owned(), ToString::to_string),
            difficulty: if is_genesis {
                "none: the genesis block is fixed by the network's rules, not mined".to_owned()
            } else {
                block
                    .difficulty
                    .map_or_else(|| "unknown".to_owned(), |bits| format!("{bits} bits"))
            },
            merkle_root: block.merkle_root.clone().unwrap_or_else(|| "—".to_owned()),
            cumulative_work: detail
                .cumulative_work
                .map_or_else(|| "—".to_owned(), group_thousands),
            branch: match detail.in_best_chain {
                Some(true) => Branch::Best,
                Some(false) => Branch::Side,
                None => Branch::Unknown,
            },
            children: detail
                .children
                .iter()
                .map(|hash| BlockLink::named(block.index + 1, hash))
                .collect(),
            is_fork: detail.children.len() > 1,
        }
    }
}

fn group_thousands(value: u128) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The explorer's page of one block.
#[derive(Template)]
#[template(path = "block.html")]
pub(crate) struct BlockPage {
    pub(crate) layout: Layout,
    pub(crate) block: BlockView,
    pub(crate) posts: Vec<PostView>,
}

/// One block in the tree view.
#[derive(Debug, Clone)]
pub(crate) struct TreeCell {
    link: BlockLink,
    /// On the best chain.
    best: bool,
    /// The best tip.
    tip: bool,
    /// More than one known child: a fork starts here.
    fork: bool,
    /// A side-branch block whose parent is on another lane: where its branch leaves.
    branches_off: bool,
    /// How many lanes to the left its parent is (0 when in the same lane or not shown):
    /// how far the line from a branching block reaches.
    reach: usize,
    /// Its parent is shown in the row below, in the same lane: draw the link down.
    links_down: bool,
    /// First 8 hex characters of the parent's hash.
    parent_short: String,
    posts: u64,
    time: Option<TimeView>,
}

/// One height of the tree view: a cell per lane, lane 0 being the best chain.
#[derive(Debug, Clone)]
pub(crate) struct TreeRow {
    height: u64,
    /// One entry per lane; `None` where that lane has no block at this height.
    pub(crate) cells: Vec<Option<TreeCell>>,
}

/// Lays out `tree` as rows per height, highest first, with the best chain in lane 0 and
/// each side branch in a lane of its own, so a fork reads as a column splitting off.
pub(crate) fn tree_rows(tree: &Tree, now: DateTime<Utc>) -> Vec<TreeRow> {
    // Blocks are matched to parents by the hash text the node sent (the lenient reading
    // keeps it): parsing would only add a way for a tutorial node's blocks to go unmatched.
    let mut children: HashMap<&str, u32> = HashMap::new();
    for block in &tree.blocks {
        *children.entry(block.previous_hash.as_str()).or_default() += 1;
    }
    let mut lane_of: HashMap<&str, usize> = HashMap::new();
    // The height each side lane last holds a block at; a lane is reused only after a gap
    // so that two branches never look like one.
    let mut lane_last_height: Vec<u64> = vec![0];
    let mut rows: Vec<TreeRow> = Vec::new();
    for block in &tree.blocks {
        if rows.last().is_none_or(|row| row.height != block.index) {
            rows.push(TreeRow {
                height: block.index,
                cells: Vec::new(),
            });
        }
        let Some(row) = rows.last_mut() else { continue };
        let parent_lane = lane_of.get(block.previous_hash.as_str()).copied();
        let taken = |lane: usize, row: &TreeRow| matches!(row.cells.get(lane), Some(Some(_)));
        let lane = if block.in_best_chain {
            0
        } else {
            match parent_lane {
                Some(lane) if lane != 0 && !taken(lane, row) => lane,
                _ => {
                    // A new branch goes right of its parent, so it reads as splitting off.
                    let leftmost = parent_lane.unwrap_or(0) + 1;
                    let free = (leftmost..lane_last_height.len()).find(|&lane| {
                        lane_last_height[lane].saturating_add(1) < block.index && !taken(lane, row)
                    });
                    free.unwrap_or_else(|| {
                        lane_last_height.push(0);
                        lane_last_height.len() - 1
                    })
                }
            }
        };
        if let Some(last) = lane_last_height.get_mut(lane) {
            *last = block.index;
        }
        lane_of.insert(block.hash.as_str(), lane);
        if row.cells.len() <= lane {
            row.cells.resize(lane + 1, None);
        }
        row.cells[lane] = Some(TreeCell {
            link: BlockLink::named(block.index, &block.hash),
            best: block.in_best_chain,
            tip: block.hash == tree.tip,
            fork: children.get(block.hash.as_str()).is_some_and(|&n| n > 1),
            branches_off: !block.in_best_chain && parent_lane.is_some_and(|parent| parent != lane),
            reach: parent_lane.map_or(0, |parent| lane.saturating_sub(parent)),
            links_down: parent_lane == Some(lane),
            parent_short: short(&block.previous_hash),
            posts: block.transactions,
            time: block
                .timestamp
                .and_then(|seconds| TimeView::from_unix(seconds, now)),
        });
    }
    let lanes = rows.iter().map(|row| row.cells.len()).max().unwrap_or(1);
    for row in &mut rows {
        row.cells.resize(lanes, None);
    }
    rows.reverse();
    rows
}

/// The explorer's view of the block tree.
#[derive(Template)]
#[template(path = "tree.html")]
pub(crate) struct TreePage {
    pub(crate) layout: Layout,
    /// Rows per height, highest first; empty when the node could not be read.
    pub(crate) rows: Vec<TreeRow>,
    /// How many lanes (columns) the rows have.
    pub(crate) lanes: usize,
    /// Blocks shown that are off the best chain.
    pub(crate) side_blocks: usize,
    /// True when the node has no `/tree` and only its best chain is shown.
    pub(crate) best_chain_only: bool,
}

/// A page that says what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub(crate) layout: Layout,
    pub(crate) heading: String,
    pub(crate) message: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_wire::lenient::TreeBlock;

    fn tree_block(hash: &str, parent: &str, index: u64, best: bool) -> TreeBlock {
        TreeBlock {
            hash: hash.into(),
            index,
            previous_hash: parent.into(),
            timestamp: Some(0.0),
            transactions: 1,
            cumulative_work: None,
            in_best_chain: best,
        }
    }

    #[test]
    fn a_side_branch_gets_its_own_lane_and_keeps_it() {
        // g - a1 - a2 - a3 (best); a1 - b2 - b3 (side)
        let tree = Tree {
            tip: "a3".into(),
            from: 0,
            blocks: vec![
                tree_block("g", "0", 0, true),
                tree_block("a1", "g", 1, true),
                tree_block("a2", "a1", 2, true),
                tree_block("b2", "a1", 2, false),
                tree_block("a3", "a2", 3, true),
                tree_block("b3", "b2", 3, false),
            ],
        };
        let rows = tree_rows(&tree, Utc::now());
        let lanes: Vec<Vec<Option<String>>> = rows
            .iter()
            .map(|row| {
                row.cells
                    .iter()
                    .map(|cell| cell.as_ref().map(|c| c.link.short_hash()))
                    .collect()
            })
            .collect();
        let s = |text: &str| Some(text.to_owned());
        assert_eq!(
            lanes,
            vec![
                vec![s("a3"), s("b3")],
                vec![s("a2"), s("b2")],
                vec![s("a1"), None],
                vec![s("g"), None],
            ]
        );
        let a1 = rows[2].cells[0].as_ref().expect("a1");
        assert!(a1.fork && a1.best);
        let b2 = rows[1].cells[1].as_ref().expect("b2");
        assert!(b2.branches_off && !b2.best);
        assert!(rows[0].cells[0].as_ref().is_some_and(|c| c.tip));
    }

    #[test]
    fn a_branch_off_a_side_branch_goes_to_its_right() {
        let tree = Tree {
            tip: "a2".into(),
            from: 0,
            blocks: vec![
                tree_block("g", "0", 0, true),
                tree_block("a1", "g", 1, true),
                tree_block("b1", "g", 1, false),
                tree_block("a2", "a1", 2, true),
                tree_block("b2", "b1", 2, false),
                tree_block("c2", "b1", 2, false),
            ],
        };
        let rows = tree_rows(&tree, Utc::now());
        let top: Vec<_> = rows[0]
            .cells
            .iter()
            .map(|cell| {
                cell.as_ref()
                    .map(|c| (c.link.short_hash(), c.reach, c.links_down))
            })
            .collect();
        assert_eq!(
            top,
            vec![
                Some(("a2".to_owned(), 0, true)),
                Some(("b2".to_owned(), 0, true)),
                Some(("c2".to_owned(), 1, false))
            ]
        );
        let b1 = rows[1].cells[1].as_ref().expect("b1");
        assert_eq!((b1.branches_off, b1.reach), (true, 1));
    }

    #[test]
    fn posts_are_listed_newest_block_first() {
        let post = |content: &str, timestamp: f64| Post {
            author: "a".into(),
            content: content.into(),
            timestamp: Some(timestamp),
            id: None,
            public_key: None,
            signature: None,
            reply_to: None,
            handle: None,
            returned: false,
        };
        let block = |index: u64, posts: Vec<Post>| Block {
            index,
            transactions: posts,
            timestamp: Some(0.0),
            previous_hash: String::new(),
            nonce: None,
            hash: Some(format!("{index:064}")),
            difficulty: None,
            merkle_root: None,
        };
        let blocks = vec![
            block(1, vec![post("first", 10.0), post("second", 20.0)]),
            block(2, vec![post("third", 5.0)]),
        ];
        let posts = newest_first(&blocks, 10);
        let order: Vec<_> = posts.iter().map(|(_, p)| p.content.as_str()).collect();
        assert_eq!(order, ["third", "second", "first"]);
        assert_eq!(posts[0].0.index, 2);
        assert_eq!(newest_first(&blocks, 2).len(), 2);
    }

    #[test]
    fn times_read_like_a_person_would_say_them() {
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("time");
        let at = |ago: i64| {
            TimeView::from_unix((1_800_000_000 - ago) as f64, now)
                .expect("valid")
                .relative
        };
        assert_eq!(at(3), "just now");
        assert_eq!(at(60), "1 minute ago");
        assert_eq!(at(7_200), "2 hours ago");
        assert_eq!(at(172_800), "2 days ago");
        assert!(TimeView::from_unix(f64::NAN, now).is_none());
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
