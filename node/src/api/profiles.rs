//! Profiles and handles, read from the store's profile indexes: who a key says it is, and
//! which key owns a handle. Only confirmed profiles count: a claim that is pending owns
//! nothing yet.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;

use chainpost_chain::{Handle, Hash256};
use chainpost_wire::{
    ErrorBody, HandleOwner, MAX_PROFILE_KEYS, Profile, ProfilesPage, ProfilesQuery,
};

use super::error::{ApiError, PathParam, QueryParams};
use super::read_store;
use super::transactions::confirmed_status;
use crate::node::Node;
use crate::store::ProfileRecord;

/// The latest profiles of up to 100 keys at once, as a client shows a page of posts.
///
/// Keys without a confirmed profile are left out; the others come in the order asked.
#[utoipa::path(get, path = "/profiles", tag = "profiles", params(ProfilesQuery),
    responses((status = 200, description = "The profiles of the keys that have one", body = ProfilesPage),
        (status = 400, description = "Malformed or invalid input", body = ErrorBody)))]
pub(crate) async fn profiles(
    State(node): State<Arc<Node>>,
    QueryParams(query): QueryParams<ProfilesQuery>,
) -> Result<Json<ProfilesPage>, ApiError> {
    let keys = query
        .keys
        .as_deref()
        .filter(|keys| !keys.is_empty())
        .map_or_else(Vec::new, |keys| keys.split(',').collect());
    if keys.len() > MAX_PROFILE_KEYS {
        return Err(ApiError::BadRequest(format!(
            "{} keys asked for; at most {MAX_PROFILE_KEYS} a request",
            keys.len()
        )));
    }
    let keys = keys
        .into_iter()
        .map(parse_key)
        .collect::<Result<Vec<_>, _>>()?;
    let found = latest_profiles(&node, keys).await?;
    Ok(Json(ProfilesPage {
        profiles: found.iter().flatten().map(profile).collect(),
    }))
}

/// A key's latest confirmed profile, and whether it owns the handle it names.
#[utoipa::path(get, path = "/profiles/{key}", tag = "profiles",
    params(("key" = String, Path, description = "Ed25519 key (64 hex characters)")),
    responses((status = 200, description = "The key's latest profile", body = Profile),
        (status = 400, description = "Malformed key", body = ErrorBody),
        (status = 404, description = "The key has no confirmed profile", body = ErrorBody)))]
pub(crate) async fn profile_of_key(
    State(node): State<Arc<Node>>,
    PathParam(key): PathParam,
) -> Result<Json<Profile>, ApiError> {
    let key = parse_key(&key)?;
    latest_profiles(&node, vec![key])
        .await?
        .first()
        .and_then(Option::as_ref)
        .map(|record| Json(profile(record)))
        .ok_or_else(|| ApiError::NotFound(format!("key {} has no confirmed profile", Hash256(key))))
}

/// The key that owns a handle: the one whose claim confirmed first on the best chain.
#[utoipa::path(get, path = "/handles/{handle}", tag = "profiles",
    params(("handle" = String, Path, description = "A handle: 1 to 30 of a-z, 0-9 and _")),
    responses((status = 200, description = "The owner, its claim and its latest profile", body = HandleOwner),
        (status = 400, description = "Not a handle", body = ErrorBody),
        (status = 404, description = "No confirmed profile claims it", body = ErrorBody)))]
pub(crate) async fn handle_owner(
    State(node): State<Arc<Node>>,
    PathParam(handle): PathParam,
) -> Result<Json<HandleOwner>, ApiError> {
    let handle =
        Handle::parse(&handle).map_err(|error| ApiError::BadRequest(format!("handle: {error}")))?;
    node.store().await_queued().await;
    let asked = handle.clone();
    let record = read_store(&node, move |reader| reader.handle(&asked))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no confirmed profile claims @{handle}")))?;
    Ok(Json(HandleOwner {
        handle: handle.to_string(),
        owner: public_key_hex(&record.profile),
        claim: confirmed_status(&record.claim),
        profile: profile(&record.profile),
    }))
}

/// The latest confirmed profile of each of `keys`, once the commits already queued are on
/// disk.
async fn latest_profiles(
    node: &Node,
    keys: Vec<[u8; 32]>,
) -> Result<Vec<Option<ProfileRecord>>, ApiError> {
    node.store().await_queued().await;
    read_store(node, move |reader| reader.profiles(&keys)).await
}

fn parse_key(text: &str) -> Result<[u8; 32], ApiError> {
    text.parse::<Hash256>()
        .map(|key| key.0)
        .map_err(|error| ApiError::BadRequest(format!("key {text:.70}: {error}")))
}

fn public_key_hex(record: &ProfileRecord) -> String {
    record
        .post
        .transaction
        .signature()
        .map_or_else(String::new, |signed| hex::encode(signed.public_key))
}

fn profile(record: &ProfileRecord) -> Profile {
    let tx = &record.post.transaction;
    Profile {
        public_key: public_key_hex(record),
        handle: tx
            .profile_handle()
            .map_or_else(String::new, ToString::to_string),
        handle_owned: record.owns_handle,
        display_name: tx.author().to_owned(),
        bio: tx.content().to_owned(),
        post: confirmed_status(&record.post),
    }
}
