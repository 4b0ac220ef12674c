//! Posts: submit one (`POST /new_transaction`), list the pending ones (`GET /pending_tx`),
//! look one up (`GET /transactions/{id}`), page through the confirmed ones (`GET /posts`),
//! read a thread (`GET /posts/{id}/thread`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use std::collections::HashSet;
use std::sync::Arc;

use super::error::{ApiError, JsonBody, PathParam, QueryParams};
use super::heavy::HeavyReads;
use super::read_store;
use crate::node::Node;
use crate::store::{Author, ConfirmedPost, PostPlace};
use axum::response::Response;
use chainpost_chain::{Hash256, Transaction, TxId};
use chainpost_edge::clock::unix_now_f64;
use chainpost_wire::{
    BlockRef, Created, DEFAULT_POSTS_PAGE, ErrorBody, MAX_PENDING_PAGE, MAX_POSTS_PAGE,
    NewTransaction, PendingQuery, PendingTransaction, PostCursor, PostState, PostsPage, PostsQuery,
    Thread, ThreadQuery, TransactionJson, TransactionStatus, post_kind, signature_from_hex,
};

/// Submit a post.
///
/// As the tutorial: `author` and `content`; the node stamps the time. A signed post also
/// carries the `timestamp` it signed, its Ed25519 `public_key` and `signature` (hex). A
/// reply names the post it answers in `reply_to` (hex id); that post need not be known
/// here, as a reply may travel ahead of what it answers. A profile is a signed post with a
/// `handle` (`[a-z0-9_]`, 1 to 30): its `author` is the display name, its `content` the bio.
#[utoipa::path(post, path = "/new_transaction", tag = "posts", request_body = NewTransaction,
    responses((status = 201, description = "Durably pending", body = Created), (status = 400, description = "Malformed or invalid input", body = ErrorBody),
        (status = 409, description = "Already pending or confirmed", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 503, description = "Mempool full or storage failed", body = ErrorBody)))]
pub(crate) async fn new_transaction(
    State(node): State<Arc<Node>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<NewTransaction>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let signature = signature_from_hex(body.public_key.as_deref(), body.signature.as_deref())?;
    let kind = post_kind(body.reply_to.as_deref(), body.handle.as_deref())?;
    let timestamp = match (body.timestamp, &signature) {
        (Some(timestamp), _) => timestamp,
        (None, None) => unix_now_f64(),
        (None, Some(_)) => {
            return Err(ApiError::BadRequest(
                "a signed post must include the `timestamp` it signed".into(),
            ));
        }
    };
    let tx = Transaction::of_kind(body.author, body.content, timestamp, kind, signature);
    let tx = node.submit_transaction(tx, super::origin(&headers)).await?;
    Ok((
        StatusCode::CREATED,
        Json(Created::new(tx.id(), tx.timestamp())),
    ))
}

/// Pending posts, oldest first: the oldest 1000, or a page of them.
#[utoipa::path(get, path = "/pending_tx", tag = "posts", params(PendingQuery),
    responses((status = 200, description = "Pending posts", body = Vec<PendingTransaction>),
        (status = 400, description = "Malformed or invalid input", body = ErrorBody),
        (status = 404, description = "The `after` post is not pending (mined, or never seen)", body = ErrorBody)))]
pub(crate) async fn pending(
    State(node): State<Arc<Node>>,
    State(heavy): State<HeavyReads>,
    QueryParams(query): QueryParams<PendingQuery>,
) -> Result<Response, ApiError> {
    let limit = match query.limit {
        Some(limit) if limit > MAX_PENDING_PAGE => {
            return Err(ApiError::BadRequest(format!(
                "limit {limit} is too large; at most {MAX_PENDING_PAGE} posts per page"
            )));
        }
        Some(limit) => limit,
        None => MAX_PENDING_PAGE,
    };
    let after: Option<TxId> = query
        .after
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|error| ApiError::BadRequest(format!("after: {error}")))?;
    // Under the lock only the page's handles are copied; JSON is built after.
    let page = node
        .with_chain(|chain| {
            let mempool = chain.mempool();
            let page = mempool.page(after.as_ref(), limit)?;
            Some(
                page.into_iter()
                    .map(|tx| {
                        let returned = mempool.was_returned(&tx.id());
                        (tx, returned)
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .ok_or_else(|| match &after {
            Some(id) => ApiError::NotFound(format!(
                "transaction {id} is not pending (mined, or never seen); page again from the start"
            )),
            None => ApiError::NotFound("no such page".into()),
        })?;
    heavy
        .json(move || {
            page.iter()
                .map(|(tx, returned)| PendingTransaction {
                    transaction: TransactionJson::from_transaction(tx),
                    returned: *returned,
                })
                .collect::<Vec<_>>()
        })
        .await
}

/// A post by id: pending, or confirmed with the block that holds it.
#[utoipa::path(get, path = "/transactions/{id}", tag = "posts",
    params(("id" = String, Path, description = "Transaction id (64 hex characters)")),
    responses((status = 200, description = "The post", body = TransactionStatus), (status = 400, description = "Malformed or invalid input", body = ErrorBody),
        (status = 404, description = "Unknown post", body = ErrorBody)))]
pub(crate) async fn by_id(
    State(node): State<Arc<Node>>,
    PathParam(id): PathParam,
) -> Result<Json<TransactionStatus>, ApiError> {
    let id = parse_id(&id)?;
    post_status(&node, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no pending or confirmed transaction {id}")))
}

fn parse_id(id: &str) -> Result<TxId, ApiError> {
    id.parse()
        .map_err(|error| ApiError::BadRequest(format!("transaction id: {error}")))
}

/// The post with this id, confirmed or pending, if this node knows it.
async fn post_status(node: &Node, id: TxId) -> Result<Option<TransactionStatus>, ApiError> {
    // Confirmed posts are read from disk, off the lock; only a miss asks the mempool. A
    // post that left the mempool for a block not yet committed is in neither: waiting for
    // the commit in flight finds it.
    if let Some(confirmed) = read_confirmed(node, id).await? {
        return Ok(Some(confirmed));
    }
    let pending = node.with_chain(|chain| {
        let mempool = chain.mempool();
        mempool
            .get(&id)
            .map(|tx| pending_status(tx, mempool.was_returned(&id)))
    });
    let Some(mut pending) = pending else {
        node.store().await_queued().await;
        return read_confirmed(node, id).await;
    };
    // A pending post may have confirmed replies: a reply can be mined first.
    pending.reply_count = read_store(node, move |reader| reader.reply_count(&id)).await?;
    Ok(Some(pending))
}

fn pending_status(tx: &Transaction, returned: bool) -> TransactionStatus {
    TransactionStatus {
        transaction: TransactionJson::from_transaction(tx),
        status: PostState::Pending,
        block: None,
        returned,
        reply_count: 0,
    }
}

async fn read_confirmed(node: &Node, id: TxId) -> Result<Option<TransactionStatus>, ApiError> {
    let confirmed = read_store(node, move |reader| reader.confirmed_post(&id)).await?;
    Ok(confirmed.map(|post| confirmed_status(&post)))
}

pub(super) fn confirmed_status(post: &ConfirmedPost) -> TransactionStatus {
    TransactionStatus {
        transaction: TransactionJson::from_transaction(&post.transaction),
        status: PostState::Confirmed,
        block: Some(BlockRef {
            index: post.height,
            hash: post.block,
        }),
        returned: false,
        reply_count: post.replies,
    }
}

/// Confirmed posts, newest first: all of them, or one author's.
///
/// An author is a name (`author`: the unsigned posts that give it) or a key (`key`: the
/// posts it signed, whatever names they give); never both. Page on with `before` set to
/// the answer's `next`. Pending posts are in `/pending_tx`.
#[utoipa::path(get, path = "/posts", tag = "posts", params(PostsQuery),
    responses((status = 200, description = "Posts, newest first", body = PostsPage),
        (status = 400, description = "Malformed or invalid input", body = ErrorBody)))]
pub(crate) async fn posts(
    State(node): State<Arc<Node>>,
    QueryParams(query): QueryParams<PostsQuery>,
) -> Result<Json<PostsPage>, ApiError> {
    let limit = page_limit(query.limit)?;
    let author = match (query.author, query.key.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give `author` (a name) or `key` (a signing key), not both".into(),
            ));
        }
        (Some(name), None) => Some(Author::Name(name)),
        (None, Some(key)) => Some(Author::Key(
            key.parse::<Hash256>()
                .map_err(|error| ApiError::BadRequest(format!("key: {error}")))?
                .0,
        )),
        (None, None) => None,
    };
    let before = place("before", query.before.as_deref())?;
    node.store().await_queued().await;
    let page = read_store(&node, move |reader| {
        reader.posts(author.as_ref(), before, limit)
    })
    .await?;
    Ok(Json(PostsPage {
        posts: page.posts.iter().map(confirmed_status).collect(),
        next: page.next.map(cursor),
    }))
}

/// A post and the replies to it: those confirmed in chain order, a page at a time, then
/// on the last page those pending, in the order they arrived.
///
/// The post must be known here, pending or confirmed. Page on with `after` set to the
/// answer's `next`.
#[utoipa::path(get, path = "/posts/{id}/thread", tag = "posts",
    params(("id" = String, Path, description = "Transaction id (64 hex characters)"), ThreadQuery),
    responses((status = 200, description = "The post and a page of its replies", body = Thread),
        (status = 400, description = "Malformed or invalid input", body = ErrorBody),
        (status = 404, description = "Unknown post", body = ErrorBody)))]
pub(crate) async fn thread(
    State(node): State<Arc<Node>>,
    PathParam(id): PathParam,
    QueryParams(query): QueryParams<ThreadQuery>,
) -> Result<Json<Thread>, ApiError> {
    let id = parse_id(&id)?;
    let limit = page_limit(query.limit)?;
    let after = place("after", query.after.as_deref())?;
    let post = post_status(&node, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no pending or confirmed transaction {id}")))?;
    // Pending first: a reply that leaves the mempool for a block meanwhile is then in the
    // commit that the read below waits for, so no reply is missed (one may show twice, and
    // is listed once).
    let pending = node.with_chain(|chain| {
        let mempool = chain.mempool();
        mempool
            .replies_to(&id, limit)
            .into_iter()
            .map(|tx| (tx.id(), pending_status(&tx, mempool.was_returned(&tx.id()))))
            .collect::<Vec<_>>()
    });
    node.store().await_queued().await;
    let page = read_store(&node, move |reader| reader.replies(&id, after, limit)).await?;
    let mut replies: Vec<_> = page.posts.iter().map(confirmed_status).collect();
    if page.next.is_none() {
        let confirmed: HashSet<TxId> = page
            .posts
            .iter()
            .map(|post| post.transaction.id())
            .collect();
        let (ids, mut pending): (Vec<TxId>, Vec<TransactionStatus>) = pending
            .into_iter()
            .filter(|(id, _)| !confirmed.contains(id))
            .unzip();
        // Pending replies may have confirmed replies of their own.
        let counts = read_store(&node, move |reader| reader.reply_counts(&ids)).await?;
        for (status, count) in pending.iter_mut().zip(counts) {
            status.reply_count = count;
        }
        replies.extend(pending);
    }
    Ok(Json(Thread {
        post,
        replies,
        next: page.next.map(cursor),
    }))
}

/// A page's `limit`: 1 to [`MAX_POSTS_PAGE`], [`DEFAULT_POSTS_PAGE`] unasked.
pub(super) fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_POSTS_PAGE),
        Some(limit @ 1..=MAX_POSTS_PAGE) => Ok(limit),
        Some(limit) => Err(ApiError::BadRequest(format!(
            "limit {limit} is out of range: 1 to {MAX_POSTS_PAGE} posts per page"
        ))),
    }
}

/// The place a cursor given as `name` names.
pub(super) fn place(name: &str, cursor: Option<&str>) -> Result<Option<PostPlace>, ApiError> {
    Ok(cursor
        .map(str::parse::<PostCursor>)
        .transpose()
        .map_err(|error| ApiError::BadRequest(format!("{name}: {error}")))?
        .map(|cursor| (cursor.height, cursor.position)))
}

pub(super) fn cursor((height, position): PostPlace) -> String {
    PostCursor { height, position }.to_string()
}
