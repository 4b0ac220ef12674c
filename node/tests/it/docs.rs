//! API documentation: the OpenAPI description covers every route, and /docs renders it.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::TestNode;

/// Every (method, path) in the description, with `{params}` filled with a dummy value.
fn documented(description: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in description["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            let concrete = path
                .replace("{hash}", &"0".repeat(64))
                .replace("{id}", &"0".repeat(64));
            routes.push((method.clone(), concrete));
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_description_lists_every_route_the_router_serves() {
    let node = TestNode::spawn(8).await;
    let description = node.get_json("/openapi.json").await;
    assert!(
        description["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3."))
    );
    let routes = documented(&description);
    let paths: Vec<&str> = routes.iter().map(|(_, path)| path.as_str()).collect();
    for tutorial in [
        "/new_transaction",
        "/chain",
        "/mine",
        "/pending_tx",
        "/add_block",
        "/register_node",
        "/register_with",
    ] {
        assert!(paths.contains(&tutorial), "{tutorial} is not documented");
    }
    for extra in ["/status", "/tree", "/peers", "/nodes/resolve", "/metrics"] {
        assert!(paths.contains(&extra), "{extra} is not documented");
    }
    // Every documented route is served (the router answers anything else with 404 "no
    // such endpoint" or 405), and the router registers each route together with its
    // description (`api::documented_routes`), so the two cannot drift apart.
    for (method, path) in &routes {
        let request = match method.as_str() {
            "get" => node.http.get(node.url(path)),
            "post" => node.http.post(node.url(path)).body("{}"),
            other => panic!("undocumented method kind {other}"),
        };
        let response = request.send().await.expect("sent");
        let status = response.status();
        let body = response.text().await.expect("body");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !(status == StatusCode::NOT_FOUND && body.contains("no such endpoint")),
            "{method} {path} is documented but not served"
        );
    }
}

#[tokio::test]
async fn the_docs_page_shows_every_endpoint_and_works_offline() {
    let node = TestNode::spawn(8).await;
    let description = node.get_json("/openapi.json").await;
    let response = node.get("/docs").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("html");
    for path in description["paths"].as_object().expect("paths").keys() {
        assert!(
            html.contains(&format!(">{path}<")),
            "{path} missing from /docs"
        );
    }
    assert!(html.contains("Submit a post."));
    assert!(
        !html.contains("<script") && !html.contains("https://"),
        "nothing loaded from elsewhere"
    );
}
