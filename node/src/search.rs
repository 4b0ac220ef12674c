//! Full-text search over the best chain's posts: a tantivy index beside the store, which
//! follows the store's best chain on a thread of its own.
//!
//! The index holds, for each post of the best chain, the words of its author's name, its
//! text and (for a profile) its handle, and where it is: its height (indexed, so that one
//! term removes a whole block), its place `height << 32 | position` (a fast field: results
//! come newest first, and a cursor is a place) and the first 8 bytes of its block's hash
//! (a fast field: a hit is checked against the store's chain before it is shown). Nothing
//! of a post is stored in the index; hits are read back from the store.
//!
//! The index is derived data, so it never holds the chain up: the store commits and
//! answers first, and the indexer, woken by every commit that moved the chain
//! ([`ChainMoved`]), walks from the block it last indexed to the store's tip. Below a block
//! that left the best chain it removes that block's posts and steps to its parent; on the
//! best chain it adds the next blocks (removing their height first, so that doing it twice
//! is harmless), a bounded number a commit. Each tantivy commit records the block it
//! reached in its payload, so a restart, a crash, or a store that moved on meanwhile is
//! caught up from there; an index that is missing, unreadable or of another version is
//! built again from the chain, in the background. A search therefore shows the chain up
//! to [`Indexed`], which may be a moment behind the tip.
//!
//! **Boundary:** with `store/`, the only module that touches disk (its own directory).

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use tantivy::collector::{Collector, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::{IndexWriterOptions, LogMergePolicy};
use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
};

use chainpost_chain::block::Block;
use chainpost_chain::hash::BlockHash;
use chainpost_chain::tx::Transaction;

use crate::store::{ChainMoved, PostPlace, Reader, StoreError};

/// Most words a search may have: each is one more posting list to intersect.
pub const MAX_SEARCH_WORDS: usize = 8;
/// Longest search text read, in characters.
pub const MAX_SEARCH_CHARS: usize = 200;

/// Blocks indexed in one tantivy commit while catching up, so that progress is kept and
/// searches see it as the index is built.
const BLOCKS_PER_COMMIT: usize = 64;
/// Blocks read from the store at once: the bodies in memory while they are indexed (a
/// thread's freed memory is kept by the allocator for a while, so this bounds that too).
const BLOCKS_PER_READ: usize = 4;
/// The indexer's memory for documents not yet written (tantivy's minimum).
const WRITER_MEMORY_BYTES: usize = 15_000_000;
/// Segments of more documents than this are not merged again (a merge of eight can still
/// make one of up to eight times as many): a later page of a common word scans the segment
/// its cursor falls in, and a merge's memory grows with what it merges.
const MAX_DOCS_BEFORE_MERGE: usize = 250_000;
/// How often the indexer looks again after a failure, when no commit wakes it.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// A word longer than this is not indexed (nor searched): no language needs it, and
/// long random strings would only grow the term dictionary.
const MAX_WORD_BYTES: usize = 40;
const TOKENIZER: &str = "chainpost";
/// What the payload of every commit starts with; another start is an index to rebuild.
const PAYLOAD_VERSION: &str = "chainpost-search/1";

/// Why a search or the index failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SearchError {
    /// What was asked is not a search this index can run.
    #[error("{0}")]
    BadQuery(String),
    /// The index is not open yet (the node has just started).
    #[error("the search index is opening; try again in a moment")]
    Opening,
    #[error("the search index failed: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the search index's directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The best-chain block up to which the index describes the chain, and its height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Indexed {
    pub(crate) height: u64,
    pub(crate) hash: BlockHash,
}

/// A page of hits, newest first.
#[derive(Debug)]
pub(crate) struct Hits {
    /// Each hit's place and the first 8 bytes of the hash of the block it was indexed in.
    pub(crate) places: Vec<(PostPlace, [u8; 8])>,
    /// Where the next page starts, if there are more hits.
    pub(crate) next: Option<PostPlace>,
    /// How far the index had got when it was searched.
    pub(crate) indexed: Indexed,
}

#[derive(Debug, Clone, Copy)]
struct Fields {
    text: Field,
    height: Field,
    place: Field,
    block: Field,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut builder = Schema::builder();
        let text = builder.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(TOKENIZER)
                    // Whether a post has a word, not how often or where: results are in
                    // chain order, not ranked, and the index stays small.
                    .set_index_option(IndexRecordOption::Basic),
            ),
        );
        let height = builder.add_u64_field("height", INDEXED);
        let place = builder.add_u64_field("place", FAST);
        let block = builder.add_u64_field("block", FAST);
        (
            builder.build(),
            Fields {
                text,
                height,
                place,
                block,
            },
        )
    }
}

fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// What the indexer thread and the searches share.
struct Shared {
    /// Set once the indexer thread has opened the index.
    reader: OnceLock<IndexReader>,
    fields: Fields,
    indexed: RwLock<Indexed>,
    stop: AtomicBool,
    chain_moved: Arc<ChainMoved>,
}

/// The search index and the thread that keeps it following the best chain. Dropping it
/// stops the thread.
pub(crate) struct SearchIndex {
    shared: Arc<Shared>,
    indexer: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("indexed", &self.indexed())
            .finish()
    }
}

impl SearchIndex {
    /// Starts the index in `dir` (in memory without one) on a thread of its own, which
    /// opens it, or makes it afresh when it is missing, unreadable or of another version,
    /// and then follows the store's best chain from where it was left. `genesis` is where
    /// an empty index starts. Opening many segments takes a while at ten million posts, so
    /// the node does not wait for it: searches are refused ([`SearchError::Opening`]) until
    /// it is open, and one that fails to open is tried again.
    pub(crate) fn open(
        dir: Option<&Path>,
        store: Reader,
        chain_moved: Arc<ChainMoved>,
        genesis: BlockHash,
    ) -> Result<SearchIndex, SearchError> {
        let (_, fields) = Fields::schema();
        let shared = Arc::new(Shared {
            reader: OnceLock::new(),
            fields,
            indexed: RwLock::new(Indexed {
                height: 0,
                hash: genesis,
            }),
            stop: AtomicBool::new(false),
            chain_moved,
        });
        let dir = dir.map(Path::to_path_buf);
        let opening = shared.clone();
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || {
                if let Some(indexer) = Indexer::open(opening, dir.as_deref(), store, genesis) {
                    indexer.run();
                }
            })?;
        Ok(SearchIndex {
            shared,
            indexer: Some(thread),
        })
    }

    /// How far the index has got.
    pub(crate) fn indexed(&self) -> Indexed {
        *self
            .shared
            .indexed
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Up to `limit` posts having every word of `words`, older than `before`, newest
    /// first. Blocking: callers run it on a blocking thread.
    pub(crate) fn search(
        &self,
        words: &str,
        before: Option<PostPlace>,
        limit: usize,
    ) -> Result<Hits, SearchError> {
        let terms = search_terms(words, self.shared.fields.text)?;
        let reader = self.shared.reader.get().ok_or(SearchError::Opening)?;
        // Read before searching: the index searched is then at least this far.
        let indexed = self.indexed();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = terms
            .into_iter()
            .map(|term| {
                let query: Box<dyn Query> =
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic));
                (Occur::Must, query)
            })
            .collect();
        if let Some(before) = before {
            clauses.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Excluded(Term::from_field_u64(
                        self.shared.fields.place,
                        place_value(before),
                    )),
                )),
            ));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = reader.searcher();
        let collector = TopDocs::with_limit(limit.saturating_add(1))
            .order_by_fast_field::<u64>("place", Order::Desc);
        let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        // Newest segments first: once enough hits are newer than everything a segment
        // holds, it and every older one are skipped, so a word in every post costs about
        // one segment, not the whole chain.
        let mut segments = Vec::with_capacity(searcher.segment_readers().len());
        for (ord, segment) in (0u32..).zip(searcher.segment_readers()) {
            let places = segment.fast_fields().u64("place")?;
            segments.push((places.max_value(), places.min_value(), ord, segment));
        }
        segments.sort_unstable_by_key(|&(newest, ..)| std::cmp::Reverse(newest));
        let mut top: Vec<(Option<u64>, DocAddress)> = Vec::new();
        for (newest, oldest, ord, segment) in segments {
            if top
                .get(limit)
                .and_then(|(place, _)| *place)
                .is_some_and(|kth| kth > newest)
            {
                break;
            }
            if before.is_some_and(|before| oldest >= place_value(before)) {
                continue;
            }
            let fruit = collector.collect_segment(weight.as_ref(), ord, segment)?;
            top.extend(collector.merge_fruits(vec![fruit])?);
            top.sort_unstable_by(|(a, _), (b, _)| b.cmp(a));
            top.truncate(limit.saturating_add(1));
        }
        let more = top.len() > limit;
        let mut places = Vec::with_capacity(top.len().min(limit));
        for (place, address) in top.into_iter().take(limit) {
            let Some(place) = place else { continue };
            let block = searcher
                .segment_reader(address.segment_ord)
                .fast_fields()
                .u64("block")?
                .first(address.doc_id)
                .unwrap_or(0);
            places.push((place_of(place), block.to_be_bytes()));
        }
        let next = places.last().map(|(place, _)| *place).filter(|_| more);
        Ok(Hits {
            places,
            next,
            indexed,
        })
    }
}

impl Drop for SearchIndex {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.chain_moved.wake();
        if let Some(thread) = self.indexer.take() {
            let _ = thread.join();
        }
    }
}

/// The index's writer and reader, and the block its last commit reached: a fresh index at
/// genesis when the payload is missing, of another version or names no stored block.
fn open_index(
    dir: Option<&Path>,
    store: &Reader,
    genesis: BlockHash,
) -> Result<(IndexWriter<TantivyDocument>, IndexReader, Indexed), SearchError> {
    let (schema, _) = Fields::schema();
    let (index, payload) = match dir {
        None => (Index::create_in_ram(schema), None),
        Some(dir) => open_dir(dir, schema)?,
    };
    index.tokenizers().register(TOKENIZER, analyzer());
    let mut writer: IndexWriter<TantivyDocument> = index.writer_with_options(
        IndexWriterOptions::builder()
            .memory_budget_per_thread(WRITER_MEMORY_BYTES)
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build(),
    )?;
    let mut merges = LogMergePolicy::default();
    merges.set_max_docs_before_merge(MAX_DOCS_BEFORE_MERGE);
    writer.set_merge_policy(Box::new(merges));
    let start = payload
        .as_deref()
        .and_then(read_payload)
        .filter(|indexed| matches!(store.block(&indexed.hash), Ok(Some(_))));
    let indexed = match start {
        Some(indexed) => indexed,
        None => {
            if payload.is_some() {
                tracing::warn!("the search index describes no stored block; rebuilding it");
            }
            writer.delete_all_documents()?;
            let empty = Indexed {
                height: 0,
                hash: genesis,
            };
            commit(&mut writer, empty)?;
            empty
        }
    };
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    Ok((writer, reader, indexed))
}

/// The index in `dir`, and the payload of its last commit; a fresh one when there is
/// none, or one tantivy cannot open (it is derived data: the old files are removed).
fn open_dir(dir: &Path, schema: Schema) -> Result<(Index, Option<String>), SearchError> {
    if dir.join("meta.json").exists() {
        let opened = MmapDirectory::open(dir)
            .map_err(tantivy::TantivyError::from)
            .and_then(Index::open)
            .and_then(|index| {
                let payload = index.load_metas()?.payload;
                match index.schema() == schema {
                    true => Ok((index, payload)),
                    false => Err(tantivy::TantivyError::SchemaError("another schema".into())),
                }
            });
        match opened {
            Ok(opened) => return Ok(opened),
            Err(error) => {
                tracing::warn!(%error, dir = %dir.display(), "the search index cannot be used; rebuilding it");
                std::fs::remove_dir_all(dir)?;
            }
        }
    }
    std::fs::create_dir_all(dir)?;
    let directory = MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
    Ok((Index::create(directory, schema, Default::default())?, None))
}

/// The words of a search as the index's terms: at most [`MAX_SEARCH_WORDS`], each once.
fn search_terms(words: &str, field: Field) -> Result<Vec<Term>, SearchError> {
    if words.chars().count() > MAX_SEARCH_CHARS {
        return Err(SearchError::BadQuery(format!(
            "a search is at most {MAX_SEARCH_CHARS} characters"
        )));
    }
    let mut analyzer = analyzer();
    let mut stream = analyzer.token_stream(words);
    let mut terms: Vec<String> = Vec::new();
    while let Some(token) = stream.next() {
        if !terms.contains(&token.text) {
            terms.push(token.text.clone());
        }
    }
    match terms.len() {
        0 => Err(SearchError::BadQuery(
            "a search needs a word: letters or digits".into(),
        )),
        count if count > MAX_SEARCH_WORDS => Err(SearchError::BadQuery(format!(
            "a search is at most {MAX_SEARCH_WORDS} different words; this one has {count}"
        ))),
        _ => Ok(terms
            .iter()
            .map(|term| Term::from_field_text(field, term))
            .collect()),
    }
}

fn place_value((height, position): PostPlace) -> u64 {
    (height << 32) | u64::from(position)
}

fn place_of(value: u64) -> PostPlace {
    (value >> 32, (value & u64::from(u32::MAX)) as u32)
}

fn write_payload(indexed: Indexed) -> String {
    format!("{PAYLOAD_VERSION} {} {}", indexed.height, indexed.hash)
}

fn read_payload(payload: &str) -> Option<Indexed> {
    let mut parts = payload.split(' ');
    if parts.next() != Some(PAYLOAD_VERSION) {
        return None;
    }
    let height = parts.next()?.parse().ok()?;
    let hash = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Indexed { height, hash })
}

fn commit(writer: &mut IndexWriter<TantivyDocument>, indexed: Indexed) -> tantivy::Result<()> {
    let mut prepared = writer.prepare_commit()?;
    prepared.set_payload(&write_payload(indexed));
    prepared.commit()?;
    Ok(())
}

/// The thread that moves the index along the best chain.
struct Indexer {
    shared: Arc<Shared>,
    writer: IndexWriter<TantivyDocument>,
    store: Reader,
}

impl Indexer {
    /// Opens the index, trying again after a failure, until it is open or the node stops.
    fn open(
        shared: Arc<Shared>,
        dir: Option<&Path>,
        store: Reader,
        genesis: BlockHash,
    ) -> Option<Indexer> {
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return None;
            }
            match open_index(dir, &store, genesis) {
                Ok((writer, reader, indexed)) => {
                    *shared
                        .indexed
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = indexed;
                    // Set once, here, by the one thread that opens.
                    let _ = shared.reader.set(reader);
                    return Some(Indexer {
                        shared,
                        writer,
                        store,
                    });
                }
                Err(error) => {
                    tracing::error!(%error, "the search index cannot be opened; trying again");
                    let seen = shared.chain_moved.count();
                    shared
                        .chain_moved
                        .wait_past(seen, RETRY_AFTER, || shared.stop.load(Ordering::SeqCst));
                }
            }
        }
    }

    fn run(mut self) {
        let mut seen = self.shared.chain_moved.count();
        while !self.shared.stop.load(Ordering::SeqCst) {
            if let Err(error) = self.catch_up() {
                tracing::warn!(%error, "the search index could not follow the chain; trying again");
                // What was added since the last commit is dropped, and done again from it.
                if let Err(error) = self.writer.rollback() {
                    tracing::error!(%error, "the search index could not roll back");
                }
            }
            seen = self.shared.chain_moved.wait_past(seen, RETRY_AFTER, || {
                self.shared.stop.load(Ordering::SeqCst)
            });
        }
    }

    /// Moves the index from the block it describes to the store's best tip.
    fn catch_up(&mut self) -> Result<(), SearchError> {
        let mut indexed = *self
            .shared
            .indexed
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let (_, tip) = self.store.best_chain_tip()?;
            if indexed.hash == tip {
                return Ok(());
            }
            indexed = match self.store.best_chain_after(
                indexed.height,
                &indexed.hash,
                BLOCKS_PER_COMMIT,
            )? {
                Some(above) => self.add(indexed, &above)?,
                None => self.remove(indexed)?,
            };
            commit(&mut self.writer, indexed)?;
            if let Some(reader) = self.shared.reader.get() {
                reader.reload()?;
            }
            *self
                .shared
                .indexed
                .write()
                .unwrap_or_else(PoisonError::into_inner) = indexed;
        }
    }

    /// Adds the blocks `above` the indexed one, which follow it on the best chain.
    fn add(&mut self, mut indexed: Indexed, above: &[BlockHash]) -> Result<Indexed, SearchError> {
        for read in above.chunks(BLOCKS_PER_READ) {
            indexed = self.add_read(indexed, read)?;
        }
        Ok(indexed)
    }

    fn add_read(
        &mut self,
        mut indexed: Indexed,
        above: &[BlockHash],
    ) -> Result<Indexed, SearchError> {
        for block in self.store.blocks(above)? {
            let height = block.header().index;
            if height != indexed.height + 1 || block.header().previous_hash != indexed.hash {
                return Err(StoreError::Corrupt(format!(
                    "block {} is indexed at height {} of the best chain, above {}",
                    block.hash(),
                    indexed.height + 1,
                    indexed.hash
                ))
                .into());
            }
            self.index_block(&block)?;
            indexed = Indexed {
                height,
                hash: block.hash(),
            };
        }
        Ok(indexed)
    }

    /// Removes the indexed block, which left the best chain: the index then describes its
    /// parent.
    fn remove(&mut self, indexed: Indexed) -> Result<Indexed, SearchError> {
        let block = self.store.block(&indexed.hash)?.ok_or_else(|| {
            StoreError::Corrupt(format!("indexed block {} is not stored", indexed.hash))
        })?;
        self.writer.delete_term(Term::from_field_u64(
            self.shared.fields.height,
            indexed.height,
        ));
        Ok(Indexed {
            height: indexed.height.saturating_sub(1),
            hash: block.header().previous_hash,
        })
    }

    fn index_block(&mut self, block: &Block) -> Result<(), SearchError> {
        let fields = self.shared.fields;
        let height = block.header().index;
        // Whatever an earlier attempt left at this height goes first.
        self.writer
            .delete_term(Term::from_field_u64(fields.height, height));
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&block.hash().as_bytes()[..8]);
        let block_value = u64::from_be_bytes(prefix);
        for (position, tx) in (0u32..).zip(block.transactions()) {
            let mut doc = TantivyDocument::default();
            doc.add_text(fields.text, searchable_text(tx));
            doc.add_u64(fields.height, height);
            doc.add_u64(fields.place, place_value((height, position)));
            doc.add_u64(fields.block, block_value);
            self.writer.add_document(doc)?;
        }
        Ok(())
    }
}

/// What a post is found by: its author's name, its text, and a profile's handle.
fn searchable_text(tx: &Transaction) -> String {
    let handle = tx.profile_handle().map_or("", |handle| handle.as_str());
    format!("{}\n{}\n{handle}", tx.author(), tx.content())
}

/// Where the index of a node keeping its data in `data_dir` lives.
pub(crate) fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainpost_chain::hash::Hash256;

    #[test]
    fn a_place_packs_into_one_number_in_chain_order() {
        let places = [
            (0, 0),
            (1, 0),
            (1, 1),
            (1, u32::MAX),
            (2, 0),
            (u32::MAX.into(), 7),
        ];
        for pair in places.windows(2) {
            assert!(place_value(pair[0]) < place_value(pair[1]), "{pair:?}");
        }
        for place in places {
            assert_eq!(place_of(place_value(place)), place);
        }
    }

    #[test]
    fn the_payload_names_the_block_reached_and_any_other_is_no_payload() {
        let indexed = Indexed {
            height: 42,
            hash: BlockHash(Hash256([7; 32])),
        };
        assert_eq!(read_payload(&write_payload(indexed)), Some(indexed));
        for other in [
            "",
            "chainpost-search/0 42 0707",
            &write_payload(indexed).replace("42", "x"),
            &format!("{} extra", write_payload(indexed)),
            &write_payload(indexed)[..30],
        ] {
            assert_eq!(read_payload(other), None, "{other:?}");
        }
    }

    #[test]
    fn search_words_are_folded_counted_once_and_bounded() {
        let (_, fields) = Fields::schema();
        let words = |text: &str| {
            search_terms(text, fields.text).map(|terms| {
                terms
                    .iter()
                    .map(|term| term.value().as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(
            words("Zoë, ZOE and zoe! Café").expect("words"),
            ["zoe", "and", "cafe"]
        );
        let long_word = "x".repeat(MAX_WORD_BYTES + 1);
        assert!(
            matches!(words(&long_word), Err(SearchError::BadQuery(_))),
            "not indexed either"
        );
        assert!(matches!(words(" !? "), Err(SearchError::BadQuery(_))));
        let eight = (0..MAX_SEARCH_WORDS)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>();
        assert_eq!(
            words(&eight.join(" ")).expect("eight").len(),
            MAX_SEARCH_WORDS
        );
        let nine = format!("{} w8", eight.join(" "));
        assert!(matches!(words(&nine), Err(SearchError::BadQuery(_))));
        assert!(matches!(
            words(&"a ".repeat(MAX_SEARCH_CHARS)),
            Err(SearchError::BadQuery(_))
        ));
    }
}
