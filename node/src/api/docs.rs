//! API documentation: the OpenAPI description as JSON (`/openapi.json`) and a browsable
//! page (`/docs`) rendered on the server from the same description, so it works offline
//! with no script or CDN.

use std::sync::Arc;

use askama::Template;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;

/// The parts of the description that no handler states: title, version, tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "chainpost node",
        description = "A proof-of-work chain of posts behind the HTTP API of the 'build a blockchain application from scratch' tutorial. Every error is a 4xx or 5xx whose JSON body has one field, error, saying what is wrong."
    ),
    tags(
        (name = "posts", description = "Submit and find posts (transactions)"),
        (name = "profiles", description = "Who a key says it is, and which key owns a handle"),
        (name = "chain", description = "Read and extend the block tree"),
        (name = "mining", description = "Proof of work on request"),
        (name = "network", description = "Peers and consensus"),
        (name = "operations", description = "Running the node"),
    )
)]
pub(crate) struct ApiDoc;

pub(crate) async fn openapi_json(
    description: Arc<utoipa::openapi::OpenApi>,
) -> Json<utoipa::openapi::OpenApi> {
    Json((*description).clone())
}

/// One endpoint as the page shows it.
struct Endpoint {
    method: &'static str,
    path: String,
    tag: String,
    summary: String,
    description: String,
    parameters: Vec<(String, String, String)>,
    request_body: bool,
    responses: Vec<(String, String)>,
}

#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d2330;background:#f6f7fb}
h1{margin:0 0 .3rem}p.lead{color:#4b5565}a{color:#4338ca}
section{background:#fff;border:1px solid #e3e6ee;border-radius:10px;padding:1rem 1.2rem;margin:1rem 0}
.m{display:inline-block;min-width:3.6rem;text-align:center;border-radius:6px;padding:.1rem .4rem;font-weight:700;font-size:.8rem;color:#fff;background:#2563eb}
.m.post{background:#16a34a}code{font:13px ui-monospace,monospace}.path{font-size:1.05rem;margin-left:.4rem}
.tag{float:right;color:#6b7280;font-size:.8rem}table{border-collapse:collapse;width:100%;margin-top:.4rem}
td,th{text-align:left;padding:.25rem .5rem;border-top:1px solid #eef0f5;vertical-align:top}th{font-size:.8rem;color:#6b7280}
</style></head><body>
<h1>{{ title }}</h1>
<p class="lead">{{ description }}</p>
<p>Machine-readable description: <a href="/openapi.json">/openapi.json</a> (OpenAPI {{ openapi_version }}).</p>
{% for endpoint in endpoints %}
<section id="{{ endpoint.method }}-{{ endpoint.path }}">
<span class="tag">{{ endpoint.tag }}</span>
<span class="m {{ endpoint.method }}">{{ endpoint.method|upper }}</span><code class="path">{{ endpoint.path }}</code>
<p><strong>{{ endpoint.summary }}</strong></p>
{% if !endpoint.description.is_empty() %}<p>{{ endpoint.description }}</p>{% endif %}
{% if !endpoint.parameters.is_empty() %}
<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>
{% for (name, place, meaning) in endpoint.parameters %}<tr><td><code>{{ name }}</code></td><td>{{ place }}</td><td>{{ meaning }}</td></tr>{% endfor %}
</table>{% endif %}
{% if endpoint.request_body %}<p>Request body: JSON (see the schema in <a href="/openapi.json">/openapi.json</a>).</p>{% endif %}
<table><tr><th>status</th><th>meaning</th></tr>
{% for (status, meaning) in endpoint.responses %}<tr><td><code>{{ status }}</code></td><td>{{ meaning }}</td></tr>{% endfor %}
</table>
</section>
{% endfor %}
</body></html>"#
)]
struct DocsPage {
    title: String,
    description: String,
    openapi_version: String,
    endpoints: Vec<Endpoint>,
}

pub(crate) async fn page(description: Arc<utoipa::openapi::OpenApi>) -> Response {
    let mut endpoints = Vec::new();
    for (path, item) in &description.paths.paths {
        let operations = [
            ("get", &item.get),
            ("post", &item.post),
            ("put", &item.put),
            ("delete", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                endpoints.push(endpoint(method, path, operation));
            }
        }
    }
    let page = DocsPage {
        title: description.info.title.clone(),
        description: description.info.description.clone().unwrap_or_default(),
        openapi_version: "3.1".into(),
        endpoints,
    };
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render the API page");
            super::error::error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}

fn endpoint(method: &'static str, path: &str, operation: &Operation) -> Endpoint {
    let parameters = operation
        .parameters
        .iter()
        .flatten()
        .filter_map(|parameter| match parameter {
            utoipa::openapi::RefOr::T(parameter) => Some(parameter),
            utoipa::openapi::RefOr::Ref(_) => None,
        })
        .map(|parameter| {
            let place = serde_json::to_value(&parameter.parameter_in)
                .ok()
                .and_then(|value| value.as_str().map(str::to_owned))
                .unwrap_or_default();
            (
                parameter.name.clone(),
                place,
                parameter.description.clone().unwrap_or_default(),
            )
        })
        .collect();
    let responses = operation
        .responses
        .responses
        .iter()
        .map(|(status, response)| {
            let description = match response {
                utoipa::openapi::RefOr::T(response) => response.description.clone(),
                utoipa::openapi::RefOr::Ref(reference) => reference.ref_location.clone(),
            };
            (status.clone(), description)
        })
        .collect();
    Endpoint {
        method,
        path: path.to_owned(),
        tag: operation
            .tags
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default(),
        summary: operation.summary.clone().unwrap_or_default(),
        description: operation.description.clone().unwrap_or_default(),
        parameters,
        request_body: operation.request_body.is_some(),
        responses,
    }
}
