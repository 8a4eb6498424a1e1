//! F29: API keys and roles. Open on loopback with no key; the first key ends that; every
//! operation checked against the caller's role (before its arguments), over HTTP and WebSocket;
//! a revoked key stops at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::images::{self, RED};
use crate::ws::{Protocol, Subscriber};

/// A GraphQL request with `key` (if any); the status and the body.
pub(crate) async fn call(
    app: &TestApp,
    key: Option<&str>,
    query: &str,
    variables: Value,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Uploads a small image with `key`; its id.
async fn upload(app: &TestApp, key: &str) -> String {
    let query = "mutation($f: Upload!) { uploadImage(file: $f) { id } }";
    let form = reqwest::multipart::Form::new()
        .text(
            "operations",
            json!({ "query": query, "variables": { "f": null } }).to_string(),
        )
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(images::png(RED)).file_name("a.png"),
        );
    let body: Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(key)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["uploadImage"]["id"]
        .as_str()
        .expect("an image id")
        .to_string()
}

pub(crate) fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

async fn create_key(app: &TestApp, by: Option<&str>, role: &str) -> (String, String) {
    let (status, body) = call(
        app,
        by,
        "mutation($r: Role!) { createApiKey(name: \"t\", role: $r) { key apiKey { id role prefix } } }",
        json!({ "r": role }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let created = &body["data"]["createApiKey"];
    let key = created["key"].as_str().expect("the key").to_string();
    assert!(key.starts_with(created["apiKey"]["prefix"].as_str().unwrap()));
    assert_eq!(created["apiKey"]["role"], role);
    (key, created["apiKey"]["id"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_what_each_caller_may_do() {
    let app = TestApp::start().await;

    // No key yet, on loopback: open, the anonymous caller is an admin.
    let (status, body) = call(&app, None, "{ me { actor role open } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["me"],
        json!({ "actor": "anonymous", "role": "ADMIN", "open": true })
    );

    let (admin, _) = create_key(&app, None, "ADMIN").await;
    let (uploader, _) = create_key(&app, Some(&admin), "UPLOADER").await;
    let (viewer, viewer_id) = create_key(&app, Some(&admin), "VIEWER").await;

    // Now keys are required.
    let (status, body) = call(&app, None, "{ classes }", json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        "{body}"
    );
    assert!(body.get("data").is_none());
    let (status, body) = call(&app, Some("vsk_wrong"), "{ classes }", json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        "{body}"
    );

    // The matrix: each operation with the lowest role that may run it.
    let upload = "mutation($f: Upload!) { uploadImage(file: $f) { id } }";
    let cases: [(&str, &str, Value, usize); 5] = [
        ("query", "{ classes }", json!({}), 0),
        ("me", "{ me { role } }", json!({}), 0),
        ("keys", "{ apiKeys { id } }", json!({}), 2),
        // Arguments are not even looked at before the role: a viewer learns nothing from them.
        (
            "replay",
            "mutation { startReplay(input: { count: -5 }) { id } }",
            json!({}),
            2,
        ),
        ("upload", upload, json!({ "f": null }), 1),
    ];
    let keys = [&viewer, &uploader, &admin];
    for (name, query, variables, lowest) in cases {
        for (rank, key) in keys.iter().enumerate() {
            let (status, body) = call(&app, Some(key), query, variables.clone()).await;
            if rank < lowest {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{name} as role {rank}: {body}"
                );
                assert_eq!(code(&body), "FORBIDDEN", "{name}: {body}");
                assert!(body.get("data").is_none(), "{name}: {body}");
            } else {
                assert_ne!(code(&body), "FORBIDDEN", "{name} as role {rank}: {body}");
                assert_ne!(
                    code(&body),
                    "UNAUTHENTICATED",
                    "{name} as role {rank}: {body}"
                );
            }
        }
    }
    // An uploader's upload really runs; a viewer's multipart upload stores nothing.
    let response = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&viewer)
        .header("apollo-require-preflight", "true")
        .multipart(
            reqwest::multipart::Form::new()
                .text(
                    "operations",
                    json!({ "query": upload, "variables": { "f": null } }).to_string(),
                )
                .text("map", json!({ "0": ["variables.f"] }).to_string())
                .part(
                    "0",
                    reqwest::multipart::Part::bytes(images::png(RED)).file_name("a.png"),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.image_rows().await, 0);

    // Recorded as made by the key, never the key itself.
    let (_, body) = call(
        &app,
        Some(&admin),
        "{ apiKeys { createdBy revokedAt } }",
        json!({}),
    )
    .await;
    let created_by: Vec<&str> = body["data"]["apiKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["createdBy"].as_str().unwrap())
        .collect();
    assert!(created_by.contains(&"anonymous"), "{body}");
    assert!(created_by.iter().any(|by| by.starts_with("key:")), "{body}");
    assert!(!body.to_string().contains(&admin));

    // /metrics is the admins'; image files the viewers'.
    let metrics = |key: &str| {
        app.client
            .get(format!("{}/metrics", app.base))
            .bearer_auth(key)
            .send()
    };
    assert_eq!(
        metrics(&viewer).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(metrics(&admin).await.unwrap().status(), StatusCode::OK);
    let file = app
        .client
        .get(format!("{}/images/{}/file", app.base, uuid::Uuid::new_v4()))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), StatusCode::UNAUTHORIZED);

    // Revocation holds at once.
    let (status, body) = call(
        &app,
        Some(&admin),
        "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt revokedBy } }",
        json!({ "id": viewer_id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["data"]["revokeApiKey"]["revokedAt"].is_string(),
        "{body}"
    );
    let (status, body) = call(&app, Some(&viewer), "{ classes }", json!({})).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_sign_in_with_connection_init() {
    let app = TestApp::start().await;
    let (admin, _) = create_key(&app, None, "ADMIN").await;
    let (viewer, _) = create_key(&app, Some(&admin), "VIEWER").await;
    let addr = app.addr();

    for protocol in [Protocol::TransportWs, Protocol::LegacyWs] {
        for payload in [json!({}), json!({ "Authorization": "Bearer vsk_wrong" })] {
            let refusal = Subscriber::try_connect(&addr, protocol, payload.clone())
                .await
                .err()
                .unwrap_or_else(|| panic!("{protocol:?} {payload} was let in"));
            match protocol {
                Protocol::TransportWs => assert!(
                    refusal.starts_with("close 4401: UNAUTHENTICATED"),
                    "{refusal}"
                ),
                Protocol::LegacyWs => assert!(refusal.contains("UNAUTHENTICATED"), "{refusal}"),
            }
        }
        let mut subscriber = Subscriber::try_connect(
            &addr,
            protocol,
            json!({ "Authorization": format!("Bearer {viewer}") }),
        )
        .await
        .expect("a viewer signs in");
        subscriber
            .subscribe("1", "subscription { imageCompleted { id } }", json!({}))
            .await;
        let id = upload(&app, &admin).await;
        let (sub, payload) = subscriber.next().await;
        assert_eq!(sub, "1");
        assert_eq!(
            payload["data"]["imageCompleted"]["id"],
            id.as_str(),
            "{payload}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_address_without_keys_is_refused_unless_told_to_run_open() {
    let dir = tempfile::tempdir().unwrap();
    let db = vision_db::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("v.db").display()
    ))
    .await
    .unwrap();
    let public: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
    let loopback: std::net::SocketAddr = "127.0.0.1:8080".parse().unwrap();
    let refused = vision_api::auth::open_allowed(&db, public, false, false)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("vision keys create"),
        "{refused}"
    );
    assert!(
        vision_api::auth::open_allowed(&db, public, true, false)
            .await
            .unwrap()
    );
    assert!(
        vision_api::auth::open_allowed(&db, loopback, false, false)
            .await
            .unwrap()
    );
    vision_api::auth::keys::create(&db, "first", vision_db::Role::Admin, "test")
        .await
        .map_err(|e| e.message)
        .unwrap();
    // With a key in force it starts anywhere (and callers need keys).
    assert!(
        !vision_api::auth::open_allowed(&db, public, false, false)
            .await
            .unwrap()
    );
}

/// A key revoked while its WebSocket is open ends the session (close 4401) within seconds,
/// subscriptions included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_closes_its_open_sockets() {
    let app = TestApp::start().await;
    let (admin, _) = create_key(&app, None, "ADMIN").await;
    let (viewer, viewer_id) = create_key(&app, Some(&admin), "VIEWER").await;
    let mut subscriber = Subscriber::try_connect(
        &app.addr(),
        Protocol::TransportWs,
        json!({ "Authorization": format!("Bearer {viewer}") }),
    )
    .await
    .expect("a viewer signs in");
    subscriber
        .subscribe("1", "subscription { imageCompleted { id } }", json!({}))
        .await;
    let (status, body) = call(
        &app,
        Some(&admin),
        "mutation($id: ID!) { revokeApiKey(id: $id) { id } }",
        json!({ "id": viewer_id }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let closed = subscriber
        .closed_within(std::time::Duration::from_secs(10))
        .await;
    assert_eq!(closed.map(|(code, _)| code), Some(4401));
    app.stop().await;
}

/// Rate limits count operations (a mutation one per root field) per key and per IP; past the
/// burst, 429 with `Retry-After` and RATE_LIMITED; other keys are unaffected by one key's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_past_the_rate_are_refused_with_429() {
    let dir = crate::common::prepared_dir();
    let mut config = crate::common::config_for(dir.path());
    config.rate_per_key = 5.0; // bursts of 10
    config.rate_per_ip = 1000.0;
    let app = TestApp::start_with(dir, config).await;
    let (admin, _) = create_key(&app, None, "ADMIN").await;
    let (viewer, _) = create_key(&app, Some(&admin), "VIEWER").await;

    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&viewer)
            .json(&json!({ "query": "{ classes }" }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=2).contains(&retry), "{retry}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(code(&body), "RATE_LIMITED", "{body}");
            assert!(body.get("data").is_none());
        }
        statuses.push(status.as_u16());
    }
    assert_eq!(&statuses[..10], &[200; 10], "{statuses:?}");
    assert_eq!(statuses[11], 429, "{statuses:?}");

    // Another key is not limited by the viewer's; a mutation of 11 aliased fields costs 11,
    // more than a whole burst.
    let (status, _) = call(&app, Some(&admin), "{ classes }", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let aliased: String = (0..11)
        .map(|i| {
            format!(
                "r{i}: stopReplay(id: \"00000000-0000-0000-0000-00000000000{}\") {{ id }} ",
                i % 10
            )
        })
        .collect();
    let (status, body) = call(
        &app,
        Some(&admin),
        &format!("mutation {{ {aliased} }}"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED"),
        "{body}"
    );
    app.stop().await;
}

/// A socket that never sends `connection_init` is closed with 4408 (graphql-transport-ws).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_without_connection_init_is_closed() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let app = TestApp::start().await;
    let mut request = format!("ws://{}/graphql", app.addr())
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let started = std::time::Instant::now();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(message) = socket.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("closed within 20 s");
    assert_eq!(closed, Some(4408));
    assert!(started.elapsed() >= std::time::Duration::from_secs(9));
    app.stop().await;
}

/// Production switches: no introspection, no suggestions, no GraphiQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_suggestions_and_graphiql_can_be_turned_off() {
    let dir = crate::common::prepared_dir();
    let mut config = crate::common::config_for(dir.path());
    config.introspection = false;
    config.suggestions = false;
    config.graphiql = false;
    let app = TestApp::start_with(dir, config).await;
    // Introspection answers nothing (async-graphql resolves it to null).
    let (_, body) = call(&app, None, "{ __schema { types { name } } }", json!({})).await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
    assert!(!body.to_string().contains("Image"), "{body}");
    let (_, body) = call(&app, None, "{ classez }", json!({})).await;
    assert!(!body.to_string().contains("Did you mean"), "{body}");
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    // Queries still work.
    let (status, body) = call(&app, None, "{ classes }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

pub(crate) fn jwt(
    claims: Value,
    key: &jsonwebtoken::EncodingKey,
    algorithm: jsonwebtoken::Algorithm,
) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), &claims, key).unwrap()
}

/// How a WebSocket signing in with `token` is refused (`close <code>: <reason>`).
async fn socket_refusal(app: &TestApp, token: &str) -> String {
    Subscriber::try_connect(
        &app.addr(),
        Protocol::TransportWs,
        json!({ "Authorization": format!("Bearer {token}") }),
    )
    .await
    .err()
    .expect("the token opens no socket")
}

pub(crate) fn in_secs(secs: i64) -> i64 {
    chrono::Utc::now().timestamp() + secs
}

/// JWT bearer tokens (HS256 here): the role from the claim, the actor from `sub`; expired,
/// wrongly signed or for another audience: 401 (WebSocket 4401); valid but without a role here:
/// 403 (WebSocket 4403). With JWTs configured the platform never runs open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_bearer_tokens_sign_callers_in() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let secret = "0123456789abcdef0123456789abcdef-test";
    let dir = crate::common::prepared_dir();
    let mut config = crate::common::config_for(dir.path());
    config.jwt_secret = Some(secret.into());
    config.jwt_audience = Some("vision".into());
    let app = TestApp::start_with(dir, config).await;
    let key = EncodingKey::from_secret(secret.as_bytes());

    let viewer = jwt(
        json!({ "sub": "alice", "role": "viewer", "aud": "vision", "exp": in_secs(600) }),
        &key,
        Algorithm::HS256,
    );
    let (status, body) = call(&app, Some(&viewer), "{ me { actor role open } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"],
        json!({ "actor": "jwt:alice", "role": "VIEWER", "open": false })
    );
    let (status, _) = call(
        &app,
        Some(&viewer),
        "mutation { startReplay(input: {}) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let refused = [
        ("no credentials", None),
        (
            "expired",
            Some(jwt(
                json!({ "sub": "a", "role": "admin", "aud": "vision", "exp": in_secs(-600) }),
                &key,
                Algorithm::HS256,
            )),
        ),
        (
            "wrong signature",
            Some(jwt(
                json!({ "sub": "a", "role": "admin", "aud": "vision", "exp": in_secs(600) }),
                &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
                Algorithm::HS256,
            )),
        ),
        (
            "wrong audience",
            Some(jwt(
                json!({ "sub": "a", "role": "admin", "aud": "other", "exp": in_secs(600) }),
                &key,
                Algorithm::HS256,
            )),
        ),
        (
            "no expiry",
            Some(jwt(
                json!({ "sub": "a", "role": "admin", "aud": "vision" }),
                &key,
                Algorithm::HS256,
            )),
        ),
    ];
    for (name, token) in refused {
        let (status, body) = call(&app, token.as_deref(), "{ classes }", json!({})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            "{name}: {body}"
        );
    }

    // Valid tokens that grant no role: forbidden, not unauthenticated.
    for claims in [
        json!({ "sub": "a", "aud": "vision", "exp": in_secs(600) }),
        json!({ "sub": "a", "role": "root", "aud": "vision", "exp": in_secs(600) }),
    ] {
        let token = jwt(claims.clone(), &key, Algorithm::HS256);
        let (status, body) = call(&app, Some(&token), "{ classes }", json!({})).await;
        assert_eq!(
            (status, code(&body)),
            (StatusCode::FORBIDDEN, "FORBIDDEN"),
            "{claims}: {body}"
        );
        let refusal = socket_refusal(&app, &token).await;
        assert!(refusal.starts_with("close 4403: FORBIDDEN"), "{refusal}");
    }
    let expired = jwt(
        json!({ "sub": "a", "role": "admin", "aud": "vision", "exp": in_secs(-600) }),
        &key,
        Algorithm::HS256,
    );
    let refusal = socket_refusal(&app, &expired).await;
    assert!(refusal.starts_with("close 4401"), "{refusal}");

    // The same token signs a WebSocket in.
    let admin = jwt(
        json!({ "sub": "ops", "role": "admin", "aud": "vision", "exp": in_secs(600) }),
        &key,
        Algorithm::HS256,
    );
    Subscriber::try_connect(
        &app.addr(),
        Protocol::TransportWs,
        json!({ "Authorization": format!("Bearer {admin}") }),
    )
    .await
    .expect("a JWT signs a socket in");
    app.stop().await;
}

/// ES256 with the identity provider's public key; a token of another algorithm is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_with_a_public_key() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let dir = crate::common::prepared_dir();
    let mut config = crate::common::config_for(dir.path());
    config.jwt_public_key = Some(fixtures.join("jwt-es256-public.pem"));
    let app = TestApp::start_with(dir, config).await;
    let private =
        EncodingKey::from_ec_pem(&std::fs::read(fixtures.join("jwt-es256-private.pem")).unwrap())
            .unwrap();
    let token = jwt(
        json!({ "sub": "bob", "role": "uploader", "exp": in_secs(600) }),
        &private,
        Algorithm::ES256,
    );
    let (status, body) = call(&app, Some(&token), "{ me { actor role } }", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"],
        json!({ "actor": "jwt:bob", "role": "UPLOADER" })
    );
    let hs = jwt(
        json!({ "sub": "eve", "role": "admin", "exp": in_secs(600) }),
        &EncodingKey::from_secret(b"guessing-guessing-guessing-guess"),
        Algorithm::HS256,
    );
    let (status, _) = call(&app, Some(&hs), "{ classes }", json!({})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// WebSocket limits: at most 64 subscriptions per connection (the next one gets an error with
/// TOO_MANY_OPERATIONS, one completed makes room), at most 32 connections per key (the next is
/// closed with 4429), and a closed connection gives its slot back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sessions_and_subscriptions_are_bounded() {
    let app = TestApp::start().await;
    let (admin, _) = create_key(&app, None, "ADMIN").await;
    let (viewer, _) = create_key(&app, Some(&admin), "VIEWER").await;
    let init = json!({ "Authorization": format!("Bearer {viewer}") });
    let addr = app.addr();

    let mut subscriber = Subscriber::try_connect(&addr, Protocol::TransportWs, init.clone())
        .await
        .unwrap();
    for i in 0..64 {
        subscriber
            .subscribe(
                &format!("s{i}"),
                "subscription { imageCompleted { id } }",
                json!({}),
            )
            .await;
    }
    subscriber
        .subscribe(
            "one-too-many",
            "subscription { imageCompleted { id } }",
            json!({}),
        )
        .await;
    let refused = subscriber
        .raw_next(std::time::Duration::from_secs(10))
        .await
        .expect("an answer");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "one-too-many");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_OPERATIONS"
    );

    // 31 more sessions of the same key fit; the 33rd is closed with 4429.
    let mut sessions = Vec::new();
    for _ in 0..31 {
        sessions.push(
            Subscriber::try_connect(&addr, Protocol::TransportWs, init.clone())
                .await
                .expect("within the limit"),
        );
    }
    let refusal = Subscriber::try_connect(&addr, Protocol::TransportWs, init.clone())
        .await
        .err()
        .expect("the 33rd session is refused");
    assert!(refusal.starts_with("close 4429"), "{refusal}");
    // Another key is not affected; a closed session gives its slot back.
    Subscriber::try_connect(
        &addr,
        Protocol::TransportWs,
        json!({ "Authorization": format!("Bearer {admin}") }),
    )
    .await
    .expect("another key");
    drop(sessions.pop());
    let mut admitted = false;
    for _ in 0..50 {
        if Subscriber::try_connect(&addr, Protocol::TransportWs, init.clone())
            .await
            .is_ok()
        {
            admitted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(admitted, "the freed slot was not given back");
    app.stop().await;
}
