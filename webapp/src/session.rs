//! What the web app remembers about a browser between requests, all of it in cookies:
//! which node the reader chose, the nodes the reader added (when the app lets readers add
//! them), and one flash message (the outcome of "Request to mine", "Resync" or a post)
//! shown once on the next page.
//!
//! Nothing is kept on the server and nothing here is trusted: a forged cookie can only
//! pick another node of the list, add nodes when readers may add any (each checked like
//! `--node`, at most [`MAX_READER_NODES`]), or show its sender a message, which templates
//! escape.

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{AppendHeaders, IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use crate::config::NodeUrl;

const NODE_COOKIE: &str = "node";
const FLASH_COOKIE: &str = "flash";
const READER_NODES_COOKIE: &str = "nodes";

/// Most nodes a reader may add to the configured ones.
pub(crate) const MAX_READER_NODES: usize = 4;

/// Longest added-nodes cookie read; a longer (forged) one is ignored whole.
const MAX_READER_NODES_COOKIE_BYTES: usize = 2048;

/// How a flash message looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FlashLevel {
    Success,
    /// Nothing went wrong, but nothing happened either.
    Info,
    Error,
}

impl FlashLevel {
    /// The CSS class suffix of this level.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FlashLevel::Success => "success",
            FlashLevel::Info => "info",
            FlashLevel::Error => "error",
        }
    }
}

/// A message shown once, on the page after a redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flash {
    pub(crate) level: FlashLevel,
    pub(crate) message: String,
}

impl Flash {
    pub(crate) fn success(message: impl Into<String>) -> Self {
        Flash {
            level: FlashLevel::Success,
            message: message.into(),
        }
    }

    pub(crate) fn info(message: impl Into<String>) -> Self {
        Flash {
            level: FlashLevel::Info,
            message: message.into(),
        }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        Flash {
            level: FlashLevel::Error,
            message: message.into(),
        }
    }

    /// The `Set-Cookie` value that carries this message to the next page.
    pub(crate) fn set_cookie(&self) -> HeaderValue {
        // URL-encoding leaves only characters a cookie value may hold.
        let value = serde_urlencoded::to_string(self).unwrap_or_default();
        header_value(&format!(
            "{FLASH_COOKIE}={value}; Path=/; Max-Age=300; HttpOnly; SameSite=Lax"
        ))
    }

    /// The `Set-Cookie` value that forgets a shown message.
    pub(crate) fn clear_cookie() -> HeaderValue {
        header_value(&format!(
            "{FLASH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        ))
    }
}

/// The nodes a reader may choose from: the configured ones, then, when readers may add
/// nodes, the ones this reader added. The app's state provides it (`FromRef`), so this
/// module needs nothing else of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeChoices {
    pub(crate) configured: usize,
    pub(crate) reader_nodes: bool,
}

impl NodeChoices {
    /// The nodes this request's cookies add, when readers may add nodes.
    fn added(self, cookies: &[(String, String)]) -> Vec<NodeUrl> {
        if !self.reader_nodes {
            return Vec::new();
        }
        cookie(cookies, READER_NODES_COOKIE)
            .map(decode_reader_nodes)
            .unwrap_or_default()
    }

    /// `chosen` when it names one of the configured nodes or of the `added` ones.
    fn check(self, added: usize, chosen: Option<usize>) -> Option<usize> {
        chosen.filter(|&index| index < self.configured + added)
    }
}

/// The nodes an added-nodes cookie names: each that parses as a node URL, once, at most
/// [`MAX_READER_NODES`]; nothing from a cookie over its byte bound.
fn decode_reader_nodes(value: &str) -> Vec<NodeUrl> {
    if value.len() > MAX_READER_NODES_COOKIE_BYTES {
        return Vec::new();
    }
    let Ok(text) = percent_decode_str(value).decode_utf8() else {
        return Vec::new();
    };
    let mut nodes: Vec<NodeUrl> = Vec::new();
    for url in text
        .split_whitespace()
        .filter_map(|url| NodeUrl::parse(url).ok())
    {
        if nodes.len() == MAX_READER_NODES {
            break;
        }
        if !nodes.contains(&url) {
            nodes.push(url);
        }
    }
    nodes
}

/// The `Set-Cookie` value that keeps `nodes` as this reader's added nodes.
pub(crate) fn reader_nodes_cookie(nodes: &[NodeUrl]) -> HeaderValue {
    let joined: Vec<&str> = nodes.iter().map(NodeUrl::as_str).collect();
    let value = utf8_percent_encode(&joined.join(" "), NON_ALPHANUMERIC).to_string();
    header_value(&format!(
        "{READER_NODES_COOKIE}={value}; Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax"
    ))
}

/// The `Set-Cookie` value that makes node `index` the reader's choice.
pub(crate) fn chosen_node_cookie(index: usize) -> HeaderValue {
    header_value(&format!(
        "{NODE_COOKIE}={index}; Path=/; Max-Age=31536000; SameSite=Lax"
    ))
}

/// The reader's choices for this request: which node, and the flash message to show.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Index of the chosen node among the configured ones, then the added ones (always
    /// valid).
    pub(crate) node: usize,
    /// The nodes this reader added, after the configured ones.
    pub(crate) added: Vec<NodeUrl>,
    /// The message left by the previous request, if any.
    pub(crate) flash: Option<Flash>,
}

impl Session {
    /// `page`, drawn with this request's flash message, then told to forget it, so that a
    /// message shows once, on the page its action led to.
    pub(crate) fn showing_flash(&self, page: impl IntoResponse) -> Response {
        if self.flash.is_some() {
            (AppendHeaders([(SET_COOKIE, Flash::clear_cookie())]), page).into_response()
        } else {
            page.into_response()
        }
    }
}

impl<S> FromRequestParts<S> for Session
where
    S: Send + Sync,
    NodeChoices: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let cookies = cookies(&parts.headers);
        let choices = NodeChoices::from_ref(state);
        let added = choices.added(&cookies);
        // `?node=i` wins over the cookie so a link or a second tab can show another node.
        let chosen = node_in_query(parts.uri.query())
            .or_else(|| cookie(&cookies, NODE_COOKIE).and_then(|value| value.parse().ok()));
        let node = choices.check(added.len(), chosen).unwrap_or(0);
        let flash = cookie(&cookies, FLASH_COOKIE)
            .filter(|value| !value.is_empty())
            .and_then(|value| serde_urlencoded::from_str(value).ok());
        Ok(Session { node, added, flash })
    }
}

/// Middleware: when a request picks a node with `?node=i`, remember the choice in a
/// cookie so the following pages, forms and the live updates use the same node.
pub(crate) async fn remember_node(
    State(choices): State<NodeChoices>,
    request: Request,
    next: Next,
) -> Response {
    let added = choices.added(&cookies(request.headers())).len();
    let chosen = choices.check(added, node_in_query(request.uri().query()));
    let mut response = next.run(request).await;
    if let Some(node) = chosen {
        response
            .headers_mut()
            .append(SET_COOKIE, chosen_node_cookie(node));
    }
    response
}

fn node_in_query(query: Option<&str>) -> Option<usize> {
    #[derive(Deserialize)]
    struct NodeQuery {
        node: Option<String>,
    }
    let query: NodeQuery = serde_urlencoded::from_str(query?).ok()?;
    query.node?.trim().parse().ok()
}

fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            Some((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn cookie<'a>(cookies: &'a [(String, String)], name: &str) -> Option<&'a str> {
    cookies
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn header_value(text: &str) -> HeaderValue {
    // Every caller builds the text from ASCII names and URL-encoded values.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_message_survives_its_cookie() {
        let flash = Flash::error("Can't mine: \"node\"; down & out = 100%");
        let set = flash.set_cookie();
        let text = set.to_str().expect("ascii");
        let value = text
            .strip_prefix("flash=")
            .and_then(|rest| rest.split(';').next())
            .expect("value");
        assert!(!value.contains([' ', '"', ';', ',']));
        let back: Flash = serde_urlencoded::from_str(value).expect("parses");
        assert_eq!(back, flash);
    }

    #[test]
    fn the_node_choice_is_read_from_the_query() {
        assert_eq!(node_in_query(Some("node=1")), Some(1));
        assert_eq!(node_in_query(Some("x=2&node=3")), Some(3));
        assert_eq!(node_in_query(Some("node=abc")), None);
        assert_eq!(node_in_query(None), None);
    }

    fn value_of(set_cookie: &HeaderValue) -> String {
        let text = set_cookie.to_str().expect("ascii");
        let (_, rest) = text.split_once('=').expect("name=value");
        rest.split(';').next().expect("value").to_owned()
    }

    #[test]
    fn added_nodes_survive_their_cookie_and_a_forged_one_adds_only_valid_nodes() {
        let nodes: Vec<NodeUrl> = ["http://127.0.0.1:8003", "https://node.example"]
            .iter()
            .map(|url| NodeUrl::parse(url).expect("valid"))
            .collect();
        let value = value_of(&reader_nodes_cookie(&nodes));
        assert!(!value.contains([' ', '"', ';', ',']));
        assert_eq!(decode_reader_nodes(&value), nodes);

        let forged = "javascript%3Aalert(1)%20http%3A%2F%2Fa%3A1%20http%3A%2F%2Fa%3A1%20\
                      ftp%3A%2F%2Fb%20http%3A%2F%2Fc%3A1%20http%3A%2F%2Fd%3A1%20http%3A%2F%2Fe%3A1\
                      %20http%3A%2F%2Ff%3A1";
        let read: Vec<String> = decode_reader_nodes(forged)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            read,
            ["http://a:1", "http://c:1", "http://d:1", "http://e:1"],
            "valid ones, each once, at most {MAX_READER_NODES}"
        );
        assert!(decode_reader_nodes(&"a".repeat(MAX_READER_NODES_COOKIE_BYTES + 1)).is_empty());
        assert!(decode_reader_nodes("%FF%FE").is_empty(), "not UTF-8");
    }

    #[test]
    fn added_nodes_count_only_when_readers_may_add_them() {
        let cookies = vec![(
            READER_NODES_COOKIE.to_owned(),
            value_of(&reader_nodes_cookie(&[
                NodeUrl::parse("http://x:1").expect("valid")
            ])),
        )];
        let closed = NodeChoices {
            configured: 2,
            reader_nodes: false,
        };
        assert!(closed.added(&cookies).is_empty());
        assert_eq!(closed.check(0, Some(2)), None);
        let open = NodeChoices {
            reader_nodes: true,
            ..closed
        };
        let added = open.added(&cookies);
        assert_eq!(added.len(), 1);
        assert_eq!(open.check(added.len(), Some(2)), Some(2));
        assert_eq!(open.check(added.len(), Some(3)), None);
    }
}
