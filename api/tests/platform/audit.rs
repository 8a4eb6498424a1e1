//! F25: callers' actions on the record: mutations with their outcome, refusals, failed
//! authentication; readable by admins only; hash-chained.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;

async fn call(app: &TestApp, key: Option<&str>, query: &str) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("x-request-id", "req-42")
        .json(&json!({ "query": query }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn create_key(app: &TestApp, by: Option<&str>, role: &str) -> String {
    let (_, body) = call(
        app,
        by,
        &format!("mutation {{ createApiKey(name: \"t\", role: {role}) {{ key }} }}"),
    )
    .await;
    body["data"]["createApiKey"]["key"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_and_refusals_are_recorded_for_admins_to_read() {
    let app = TestApp::start().await;
    let admin = create_key(&app, None, "ADMIN").await;
    let viewer = create_key(&app, Some(&admin), "VIEWER").await;

    // Reads are not recorded; a refused mutation, a bad key and a failed mutation are.
    call(&app, Some(&viewer), "{ classes }").await;
    let (status, _) = call(
        &app,
        Some(&viewer),
        "mutation { startReplay(input: { count: 1 }) { id } }",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = call(&app, Some("vsk_stolen"), "{ classes }").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    call(
        &app,
        Some(&admin),
        "mutation { revokeApiKey(id: \"nope\") { id } }",
    )
    .await;

    // The failed authentication is written off the request's path: wait for it.
    let mut entries = Vec::new();
    for _ in 0..50 {
        let (status, body) = call(
            &app,
            Some(&admin),
            "{ auditLog(limit: 50) { seq actor role ip requestId operation outcome hash } }",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        entries = body["data"]["auditLog"].as_array().unwrap().clone();
        if entries.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let summary: Vec<(String, String, String)> = entries
        .iter()
        .rev()
        .map(|e| {
            (
                e["operation"].as_str().unwrap().to_string(),
                e["outcome"].as_str().unwrap().to_string(),
                e["role"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let expected = [
        ("mutation createApiKey", "OK", "admin"),
        ("mutation createApiKey", "OK", "admin"),
        ("mutation startReplay", "FORBIDDEN", "viewer"),
        ("authenticate", "UNAUTHENTICATED", "-"),
        ("mutation revokeApiKey", "INVALID_ID", "admin"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(summary, expected, "{entries:#?}");
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, vec![5, 4, 3, 2, 1]);
    for entry in &entries {
        assert_eq!(entry["ip"], "127.0.0.1", "{entry}");
        assert_eq!(entry["requestId"], "req-42", "{entry}");
        assert_eq!(entry["hash"].as_str().unwrap().len(), 64);
        // Never a key.
        assert!(!entry.to_string().contains("vsk_"), "{entry}");
    }
    assert_eq!(entries[4]["actor"], "anonymous");
    assert!(entries[2]["actor"].as_str().unwrap().starts_with("key:"));

    // Admins only.
    let (status, body) = call(&app, Some(&viewer), "{ auditLog { seq } }").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    // The chain holds.
    let verification = app.platform().state.db.verify_audit_log().await.unwrap();
    assert_eq!(verification.broken, None);
    assert!(verification.entries >= 6);
    app.stop().await;
}
