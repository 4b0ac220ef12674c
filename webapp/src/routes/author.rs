//! `GET /authors/{author}`: one author's confirmed posts, newest first, a page at a time
//! (`?before=CURSOR`). An author is a key (64 hex digits: the posts it signed, whatever
//! names they give, under its profile), a handle (`@alice`: the page of the key that owns
//! it) or a name (the unsigned posts that give it, which anyone can write).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use chainpost_chain::Handle;
use chainpost_chain::params::MAX_AUTHOR_CHARS;
use chainpost_wire::lenient::Profile;

use crate::names::Names;
use crate::node_client::{NodeError, PostsOf};
use crate::post::Author;
use crate::routes::home_page::FEED_PAGE;
use crate::routes::state::{AppState, check_confirmed, cursor_param, query_param};
use crate::routes::status::read_status;
use crate::session::Session;
use crate::views::{AuthorPage, AuthorView, LIVE_DOWN, Page, Section, StatusView, confirmed_posts};

pub(crate) async fn author(
    State(state): State<AppState>,
    session: Session,
    Path(author): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    author_page(&state, &session, Author::parse(&author), query.as_deref()).await
}

/// `GET /authors?name=NAME`: the page of a name that a path cannot carry (`.`, `..`).
pub(crate) async fn author_by_name(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Response {
    let name = query_param(query.as_deref(), "name").unwrap_or_default();
    author_page(&state, &session, Author::Name(name), query.as_deref()).await
}

async fn author_page(
    state: &AppState,
    session: &Session,
    author: Author,
    query: Option<&str>,
) -> Response {
    if let Author::Name(name) = &author
        && (name.trim().is_empty() || name.chars().count() > MAX_AUTHOR_CHARS)
    {
        return state.error_page(
            session,
            StatusCode::NOT_FOUND,
            "No such author",
            &format!(
                "An author is a signing key (64 hexadecimal digits) or a name of 1 to \
                 {MAX_AUTHOR_CHARS} characters."
            ),
        );
    }
    let Ok(before) = cursor_param(query, "before") else {
        return state.error_page(
            session,
            StatusCode::NOT_FOUND,
            "Not a place in these posts",
            "This page of posts is named by a cursor this site did not give. Start from the \
             author's newest posts.",
        );
    };
    let node = &state.node(session);
    let (of, profile) = match &author {
        Author::Key(key) => (PostsOf::Key(*key), None),
        Author::Name(name) => (PostsOf::Name(name), None),
        Author::Handle(handle) => match owner_of(state, session, handle).await {
            Ok((key, profile)) => (PostsOf::Key(key), Some(profile)),
            Err(page) => return page,
        },
    };
    let (page, status) = tokio::join!(node.posts(of, before, FEED_PAGE), read_status(node));
    let page = match page {
        Ok(page) => page,
        Err(NodeError::EndpointMissing { .. }) => {
            return state.error_page(
                session,
                StatusCode::NOT_FOUND,
                "No author pages on this node",
                &format!(
                    "The node at {} keeps no index of authors: it is not a chainpost node.",
                    node.base()
                ),
            );
        }
        Err(error) => {
            return state.unavailable_page(
                session,
                &error,
                "The author's posts are read from the node, which is not answering right now.",
            );
        }
    };
    let older = page.next_cursor();
    let Some(posts) = check_confirmed(page.posts).await else {
        return state.error_page(
            session,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The posts could not be shown. The error is in the web app's log.",
        );
    };
    let status = status.ok();
    let tip = status.as_ref().map_or(0, |status| status.height);
    // A key's page is named by its profile: the handle's answer brought it, or it is asked
    // for with the posts' keys (all this one).
    let names = match profile {
        Some(profile) => {
            let mut names = Names::default();
            names.add([profile]);
            names
        }
        None => Names::of(node, posts.iter().map(|(_, post)| post)).await,
    };
    // A handle's page is its owner's key's.
    let (author, profile) = match of {
        PostsOf::Key(key) => (Author::Key(key), names.get(&hex::encode(key))),
        _ => (author, None),
    };
    let view = AuthorView::new(&author, posts.first().map(|(_, post)| post), profile);
    let mut layout = state.layout(session, &view.title(), Section::Posts);
    layout.live = status
        .as_ref()
        .map_or_else(|| LIVE_DOWN.to_owned(), StatusView::live_fingerprint);
    Page(AuthorPage {
        layout,
        posts: confirmed_posts(&posts, tip, &names, Utc::now()),
        older: older.map(|cursor| view.page(Some(cursor))),
        newest: before.is_some().then(|| view.page(None)),
        author: view,
    })
    .into_response()
}

/// The key that owns `handle` and its latest profile, or the page that says why not.
async fn owner_of(
    state: &AppState,
    session: &Session,
    handle: &Handle,
) -> Result<([u8; 32], Profile), Response> {
    let node = &state.node(session);
    match node.handle_owner(handle).await {
        Ok(owner) => match Author::parse(&owner.owner) {
            Author::Key(key) => Ok((key, owner.profile)),
            _ => Err(state.unavailable_page(
                session,
                &NodeError::BadResponse {
                    endpoint: format!("/handles/{handle}"),
                    reason: "its owner is not a key".into(),
                },
                "Who holds a handle is read from the node.",
            )),
        },
        Err(NodeError::Rejected { status, .. }) if status == StatusCode::NOT_FOUND => Err(state
            .error_page(
                session,
                StatusCode::NOT_FOUND,
                &format!("Nobody holds @{handle}"),
                &format!(
                    "No confirmed profile on this node's chain claims @{handle}. A handle belongs \
                     to the key whose claim is confirmed first; a claim waiting to be mined holds \
                     nothing yet."
                ),
            )),
        Err(NodeError::EndpointMissing { .. }) => Err(state.error_page(
            session,
            StatusCode::NOT_FOUND,
            "No handles on this node",
            &format!(
                "The node at {} keeps no profiles: it is not a chainpost node.",
                node.base()
            ),
        )),
        Err(error) => Err(state.unavailable_page(
            session,
            &error,
            "Who holds a handle is read from the node, which is not answering right now.",
        )),
    }
}
