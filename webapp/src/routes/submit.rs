//! `POST /submit`: the tutorial's form post (fields `author` and `content`), optionally
//! signed in the browser, forwarded to the node's `POST /new_transaction`.
//!
//! Success redirects home (a reply: to its thread) with a flash message. Any refusal, ours
//! or the node's, draws that page again with the message next to the form and the text as
//! typed.

use axum::Form;
use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};

use crate::node_client::NodeError;
use crate::post::{FormErrors, PostForm};
use crate::routes::home_page::home_page;
use crate::routes::profile::profile_page;
use crate::routes::state::AppState;
use crate::routes::thread_page::thread_page;
use crate::session::{Flash, Session};
use crate::views::{FormView, banner, short};

pub(crate) async fn submit(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<PostForm>, FormRejection>,
) -> Response {
    let form = match form {
        Ok(Form(form)) => form.normalized(),
        Err(rejection) => {
            tracing::debug!(%rejection, "unreadable post form");
            let errors = FormErrors::general("The form could not be read; please try again.");
            return refused(
                &state,
                &session,
                &PostForm::default(),
                errors,
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let post = match form.to_new_transaction() {
        Ok(post) => post,
        Err(errors) => {
            return refused(
                &state,
                &session,
                &form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let node = &state.node(&session);
    match node.new_transaction(&post).await {
        Ok(_) => {
            let signed = match &post.public_key {
                Some(key) => format!(" It is signed with your key {}.", short(key)),
                None => " It is not signed.".to_owned(),
            };
            let (what, back) = match form.reply_to() {
                _ if form.is_profile() => {
                    ("profile", format!("/profile?key={}", form.signing_key()))
                }
                Ok(Some(parent)) => ("reply", format!("/posts/{parent}")),
                _ => ("post", "/".to_owned()),
            };
            let after = if form.is_profile() {
                format!(
                    " Once it is mined, @{} is yours if no other key's claim to it was \
                     confirmed first.",
                    form.handle
                )
            } else {
                String::new()
            };
            let flash = Flash::success(format!(
                "Your {what} was sent to {} and is waiting to be mined.{signed}{after}",
                node.base()
            ));
            (
                AppendHeaders([(SET_COOKIE, flash.set_cookie())]),
                Redirect::to(&back),
            )
                .into_response()
        }
        Err(NodeError::Rejected { status, message }) => {
            let errors = FormErrors::general(format!("The node refused the post: {message}"));
            // Mirror the node's 4xx (409 for a duplicate, 400 for an invalid post, ...),
            // as a 422 when it said 400: the form, not the request, was at fault.
            let status = match status {
                StatusCode::BAD_REQUEST => StatusCode::UNPROCESSABLE_ENTITY,
                status if status.is_client_error() => status,
                _ => StatusCode::BAD_GATEWAY,
            };
            refused(&state, &session, &form, errors, status).await
        }
        Err(error) => {
            tracing::warn!(node = %node.base(), %error, "post not delivered");
            let errors = FormErrors::general(format!(
                "Your post was not sent. {} Your text is kept below.",
                banner(&error)
            ));
            refused(
                &state,
                &session,
                &form,
                errors,
                StatusCode::SERVICE_UNAVAILABLE,
            )
            .await
        }
    }
}

/// The page the form was on, drawn again with the form refilled and what is wrong.
async fn refused(
    state: &AppState,
    session: &Session,
    form: &PostForm,
    errors: FormErrors,
    status: StatusCode,
) -> Response {
    let refilled = FormView::refill(form, errors);
    let page = match form.reply_to() {
        _ if form.is_profile() => {
            profile_page(state, session, Some(form.signing_key()), Some(refilled)).await
        }
        Ok(Some(parent)) => thread_page(state, session, parent, None, refilled).await,
        _ => home_page(state, session, None, refilled)
            .await
            .1
            .into_response(),
    };
    // The page's own status says the node is down or the post unknown; a refused form
    // says what the form got wrong.
    if page.status().is_success() {
        (status, page).into_response()
    } else {
        page
    }
}
