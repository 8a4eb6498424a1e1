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

/// A client that never finishes its request headers (slowloris) is cut off after the header
/// read timeout, and the server keeps answering others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_headers_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let app = TestApp::start().await;
    let mut socket = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
    socket
        .write_all(b"GET /ready HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buffer = [0u8; 256];
    let read = tokio::time::timeout(
        vision_api::http::HEADER_TIMEOUT + std::time::Duration::from_secs(10),
        socket.read(&mut buffer),
    )
    .await
    .expect("the server cut the connection off");
    // Closed (0 bytes, or a 408 before closing, or a reset).
    if let Ok(n) = read
        && n > 0
    {
        let answer = String::from_utf8_lossy(&buffer[..n]).to_string();
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    assert!(
        started.elapsed() >= vision_api::http::HEADER_TIMEOUT - std::time::Duration::from_secs(1)
    );
    assert_eq!(app.get("/ready").await.status(), 200);
    app.stop().await;
}
