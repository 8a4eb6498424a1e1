//! F12, F14: GraphiQL, `/health`, `/ready`, `/metrics`, CORS.

use serde_json::{Value, json};

use crate::common::TestApp;
use crate::images::{self, RED};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_is_served_to_browsers() {
    let app = TestApp::start().await;
    let response = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.unwrap();
    assert!(page.to_lowercase().contains("graphiql"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_and_metrics() {
    let app = TestApp::start().await;
    let response = app.get("/ready").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "ready": true })
    );

    let response = app.get("/health").await;
    assert_eq!(response.status(), 200);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["status"], "UP", "{health:#}");
    let kinds: Vec<(String, String, String)> = health["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["kind"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("database", "sqlite"),
        ("bus", "memory"),
        ("objectStore", "local"),
        ("models", "tract"),
    ];
    for (i, (name, kind)) in expected.iter().enumerate() {
        assert_eq!(
            kinds[i],
            (name.to_string(), kind.to_string(), "UP".to_string())
        );
    }
    // The same report through GraphQL.
    let data = app
        .query(
            "{ health { status ready components { name status } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["health"]["status"], "UP");
    assert_eq!(data["health"]["ready"], true);

    app.upload_ok("red.png", images::png(RED), None).await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for needle in [
        "vision_http_requests_total{route=\"/graphql\",status=\"200\"}",
        "vision_http_request_duration_seconds_bucket{route=\"/health\"",
        "vision_images_accepted_total{source=\"upload\"}",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_a_component_is_down() {
    let app = TestApp::start().await;
    std::fs::remove_dir_all(app.dir.path().join("data/objects")).unwrap();
    let response = app.get("/health").await;
    assert_eq!(response.status(), 503);
    let health: Value = response.json().await.unwrap();
    assert_eq!(health["status"], "DOWN");
    let store = health["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "objectStore")
        .unwrap();
    assert_eq!(store["status"], "DOWN");
    assert!(store["detail"].as_str().unwrap().contains("objects"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_local_pages_only_by_default() {
    let app = TestApp::start().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let response = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let response = preflight("http://evil.example").await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    app.stop().await;
}
