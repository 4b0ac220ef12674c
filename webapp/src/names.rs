//! What keys are called: the node's profiles of the keys whose posts a page shows.
//!
//! A signed post names its author in its own `author` field, which proves nothing: any key
//! can sign any name. What a key is called is its latest confirmed profile, and `@handle`
//! is its own only when the node says it owns the handle (its claim confirmed first). A
//! page asks for the profiles of its keys once, after its posts; a node that has no
//! profiles (tutorial-style) or fails to answer leaves every key unnamed, which shows less,
//! never more, than is true.

use std::collections::HashMap;

use chainpost_wire::MAX_PROFILE_KEYS;
use chainpost_wire::lenient::Profile;

use crate::node_client::{NodeClient, NodeError};
use crate::post::{Authorship, CheckedPost};

/// Profiles by key (lowercase hex).
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    by_key: HashMap<String, Profile>,
}

impl Names {
    /// The profiles of the keys that signed `posts`.
    pub(crate) async fn of<'a>(
        node: &NodeClient,
        posts: impl IntoIterator<Item = &'a CheckedPost>,
    ) -> Names {
        let mut keys: Vec<&str> = posts
            .into_iter()
            .filter_map(|post| match post.authorship() {
                Authorship::Verified { public_key } => Some(public_key.as_str()),
                Authorship::Unsigned | Authorship::Invalid => None,
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut names = Names::default();
        for chunk in keys.chunks(MAX_PROFILE_KEYS) {
            match node.profiles(chunk).await {
                Ok(page) => names.add(page.profiles),
                Err(NodeError::EndpointMissing { .. }) => break,
                Err(error) => {
                    tracing::warn!(node = %node.base(), %error, "profiles unavailable; keys shown unnamed");
                    break;
                }
            }
        }
        names
    }

    pub(crate) fn add(&mut self, profiles: impl IntoIterator<Item = Profile>) {
        for profile in profiles {
            self.by_key
                .insert(profile.public_key.to_ascii_lowercase(), profile);
        }
    }

    /// The profile of `key` (hex), if it has one.
    pub(crate) fn get(&self, key: &str) -> Option<&Profile> {
        self.by_key.get(key)
    }
}
