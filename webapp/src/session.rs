//! What the web app remembers about a browser between requests, all of it in cookies:
//! which node the reader chose, and one flash message (the outcome of "Request to mine",
//! "Resync" or a post) shown once on the next page.
//!
//! Nothing is kept on the server and nothing here is trusted: a forged cookie can only
//! pick another configured node or show its sender a message, which templates escape.

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::{Deserialize, Serialize};

const NODE_COOKIE: &str = "node";
const FLASH_COOKIE: &str = "flash";

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

/// How many nodes the web app reads from: what a reader's choice of node is checked
/// against. The app's state provides it (`FromRef`), so this module needs nothing else of
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NodeCount(pub(crate) usize);

impl NodeCount {
    /// `chosen` when it names a configured node.
    fn check(self, chosen: Option<usize>) -> Option<usize> {
        chosen.filter(|&index| index < self.0)
    }
}

/// The reader's choices for this request: which node, and the flash message to show.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Index of the chosen node among the configured ones (always valid).
    pub(crate) node: usize,
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
    NodeCount: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let cookies = cookies(&parts.headers);
        // `?node=i` wins over the cookie so a link or a second tab can show another node.
        let chosen = node_in_query(parts.uri.query())
            .or_else(|| cookie(&cookies, NODE_COOKIE).and_then(|value| value.parse().ok()));
        let node = NodeCount::from_ref(state).check(chosen).unwrap_or(0);
        let flash = cookie(&cookies, FLASH_COOKIE)
            .filter(|value| !value.is_empty())
            .and_then(|value| serde_urlencoded::from_str(value).ok());
        Ok(Session { node, flash })
    }
}

/// Middleware: when a request picks a node with `?node=i`, remember the choice in a
/// cookie so the following pages, forms and the live updates use the same node.
pub(crate) async fn remember_node(
    State(nodes): State<NodeCount>,
    request: Request,
    next: Next,
) -> Response {
    let chosen = nodes.check(node_in_query(request.uri().query()));
    let mut response = next.run(request).await;
    if let Some(node) = chosen {
        response.headers_mut().append(
            SET_COOKIE,
            header_value(&format!(
                "{NODE_COOKIE}={node}; Path=/; Max-Age=31536000; SameSite=Lax"
            )),
        );
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
}
