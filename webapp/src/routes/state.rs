//! What every route shares: [`WebState`] (the configured nodes, the live feeds, the
//! settings) and the parts of a page every handler draws the same way (its layout, an
//! error page).
//!
//! **Boundary:** imports no route; the routes import it.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chainpost_edge::cross_site::AllowedHosts;
use tokio::sync::watch;

use chainpost_wire::lenient::PostStatus;

use crate::config::NodeUrl;
use crate::node_client::{NodeClient, NodeError};
use crate::post::CheckedPost;
use crate::routes::live::LiveFeeds;
use crate::session::{NodeChoices, Session};
use crate::views::{BlockLink, ErrorPage, LIVE_DOWN, Layout, Page, Section, banner};

pub(crate) type AppState = Arc<WebState>;

/// The configured nodes; never empty.
#[derive(Debug, Clone)]
pub(crate) struct Nodes(Vec<NodeClient>);

impl Nodes {
    /// `None` when there are no nodes.
    pub(crate) fn new(nodes: Vec<NodeClient>) -> Option<Self> {
        (!nodes.is_empty()).then_some(Nodes(nodes))
    }

    /// Node `index`, or the first when there is no such node.
    fn get(&self, index: usize) -> &NodeClient {
        // `Nodes::new` refuses an empty list, so index 0 exists.
        self.0.get(index).unwrap_or(&self.0[0])
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Their base URLs, in order.
    fn urls(&self) -> Vec<String> {
        self.0.iter().map(|node| node.base().to_string()).collect()
    }

    /// A client for a node a reader added, sharing the configured nodes' connection pool
    /// and timeouts.
    pub(crate) fn reader_node(&self, base: NodeUrl) -> NodeClient {
        self.0[0].with_base(base)
    }
}

#[derive(Debug)]
pub(crate) struct WebState {
    pub(crate) nodes: Nodes,
    /// Whether readers may add nodes of their own (`--reader-nodes`).
    pub(crate) reader_nodes: bool,
    /// How often live pages ask the node for changes.
    pub(crate) poll_interval: Duration,
    /// Turns true when the app is shutting down, so endless streams end.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Each node's latest status fingerprint, polled once for every live page.
    pub(crate) live: LiveFeeds,
    /// The host names the web app answers to.
    pub(crate) allowed_hosts: AllowedHosts,
}

impl WebState {
    /// The node this session reads from and posts to: a configured one, or one the
    /// reader added.
    pub(crate) fn node(&self, session: &Session) -> Cow<'_, NodeClient> {
        match session.node.checked_sub(self.nodes.len()) {
            None => Cow::Borrowed(self.nodes.get(session.node)),
            Some(added) => match session.added.get(added) {
                Some(url) => Cow::Owned(self.nodes.reader_node(url.clone())),
                None => Cow::Borrowed(self.nodes.get(0)),
            },
        }
    }

    /// The base URLs this session chooses from: the configured nodes', then the ones the
    /// reader added; `session.node` indexes this list.
    pub(crate) fn node_urls(&self, session: &Session) -> Vec<String> {
        let mut urls = self.nodes.urls();
        urls.extend(session.added.iter().map(ToString::to_string));
        urls
    }

    /// The layout of a page titled `title` for this session.
    pub(crate) fn layout(&self, session: &Session, title: &str, section: Section) -> Layout {
        let mut layout = Layout::new(title, section, &self.node_urls(session), session.node);
        layout.reader_nodes = self.reader_nodes;
        layout.added = session.added.len();
        layout
    }

    /// The page shown instead of one read from the node, when the node cannot be read:
    /// a banner saying why, and `message` saying what the page would have shown.
    pub(crate) fn unavailable_page(
        &self,
        session: &Session,
        error: &NodeError,
        message: &str,
    ) -> Response {
        tracing::warn!(node = %self.node(session).base(), %error, "cannot read the node for a page");
        let mut layout = self.layout(session, "Node unavailable", Section::Posts);
        layout.banner = Some(banner(error));
        layout.live = LIVE_DOWN.to_owned();
        Page(ErrorPage {
            layout,
            heading: "The node is not available".to_owned(),
            message: message.to_owned(),
        })
        .into_response()
    }

    /// A page that explains a failure, with `status`.
    pub(crate) fn error_page(
        &self,
        session: &Session,
        status: StatusCode,
        heading: &str,
        message: &str,
    ) -> Response {
        let page = ErrorPage {
            layout: self.layout(session, heading, Section::Posts),
            heading: heading.to_owned(),
            message: message.to_owned(),
        };
        (status, Page(page)).into_response()
    }

    /// Starts one poller per node; each ends when the app shuts down.
    pub(crate) fn spawn_pollers(self: &Arc<Self>) {
        for index in 0..self.nodes.len() {
            let state = self.clone();
            tokio::spawn(async move {
                let node = state.nodes.get(index);
                state
                    .live
                    .poll(index, node, state.poll_interval, state.shutdown.clone())
                    .await;
            });
        }
    }
}

/// The session reads how many nodes there are, and whether readers may add more, to
/// check the reader's choice.
impl FromRef<AppState> for NodeChoices {
    fn from_ref(state: &AppState) -> Self {
        NodeChoices {
            configured: state.nodes.len(),
            reader_nodes: state.reader_nodes,
        }
    }
}

/// The value of the parameter `name` in a page's query string, if it is there (the first,
/// if it is there twice). A query that is not form-encoded has none.
pub(crate) fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = query
        .and_then(|query| serde_urlencoded::from_str(query).ok())
        .unwrap_or_default();
    pairs
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// The cursor a page's address names as `name` (`?before=` or `?after=`): `Ok(None)` when
/// there is none, `Err` when it is not `HEIGHT.POSITION`, which the caller answers with a
/// 404 page in its own words. So a node is only ever asked with a well-formed cursor.
pub(crate) fn cursor_param(
    query: Option<&str>,
    name: &str,
) -> Result<Option<chainpost_wire::PostCursor>, chainpost_wire::BadCursor> {
    query_param(query, name)
        .map(|value| value.parse())
        .transpose()
}

/// Confirmed posts, as `/posts` and `/search` list them (each with its block), with their
/// signatures checked off the async executor; `None` if checking failed (logged).
pub(crate) async fn check_confirmed(
    posts: Vec<PostStatus>,
) -> Option<Vec<(BlockLink, CheckedPost)>> {
    let checked = tokio::task::spawn_blocking(move || {
        posts
            .into_iter()
            .filter_map(|status| {
                let place = BlockLink::placed(status.block.as_ref()?);
                Some((place, CheckedPost::check_placed(status).0))
            })
            .collect()
    })
    .await;
    match checked {
        Ok(posts) => Some(posts),
        Err(error) => {
            tracing::error!(%error, "checking posts failed");
            None
        }
    }
}
