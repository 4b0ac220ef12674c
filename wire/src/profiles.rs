//! Profiles and handles: `GET /profiles?keys=`, `GET /profiles/{key}` and
//! `GET /handles/{handle}`.
//!
//! A profile is a signed post that names a handle (`TransactionJson::handle`): its author
//! is the key's display name and its content the key's bio. A key's latest confirmed
//! profile is the one that counts; a handle belongs to the key whose claim was the first
//! of the best chain, so a reorganization can move it, and every answer follows.

use serde::{Deserialize, Serialize};

use crate::TransactionStatus;

/// Most keys one `GET /profiles?keys=` asks for: as many as a page of posts has authors.
pub const MAX_PROFILE_KEYS: usize = crate::MAX_POSTS_PAGE;

/// The query of `GET /profiles`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::IntoParams),
    into_params(parameter_in = Query)
)]
pub struct ProfilesQuery {
    /// Ed25519 keys (64 hex characters each), separated by commas; at most 100.
    pub keys: Option<String>,
}

/// A key's latest confirmed profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Profile {
    /// The key (64 hex characters).
    pub public_key: String,
    /// The handle the profile names.
    pub handle: String,
    /// Whether the key owns `handle`: its claim was the first on the best chain. Show
    /// `@handle` as the key's only when this is true.
    pub handle_owned: bool,
    /// The name the key goes by (the profile post's `author`).
    pub display_name: String,
    /// The key's bio (the profile post's `content`; may be empty).
    pub bio: String,
    /// The profile post and the block that confirms it.
    pub post: TransactionStatus,
}

/// The answer of `GET /profiles`: the profiles of the keys asked for that have one, in
/// the order asked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfilesPage {
    pub profiles: Vec<Profile>,
}

/// The answer of `GET /handles/{handle}`: who owns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HandleOwner {
    pub handle: String,
    /// The owner's key (64 hex characters).
    pub owner: String,
    /// The first profile of the best chain to claim the handle: the owner's.
    pub claim: TransactionStatus,
    /// The owner's latest profile (it may name another handle the owner claimed since).
    pub profile: Profile,
}
