//! F29: limits hold across gateway replicas that share a Redis (`REDIS_URL`): the rate limit's
//! buckets and the open WebSocket sessions per caller are counted once for all replicas, not
//! once per replica; a Redis that is down leaves each replica counting by itself.
//!
//! Needs the Redis server at `REDIS_URL` (default `redis://127.0.0.1:6379`, started by
//! `scripts/services.sh`). Callers are JWT subjects unique to each run, so runs sharing that
//! Redis do not meet.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use reqwest::StatusCode;
use serde_json::json;

use crate::access::{call, code, in_secs, jwt};
use crate::common::TestApp;
use crate::ws::{Protocol, Subscriber};

const SECRET: &str = "shared-limits-shared-limits-0123456789";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A gateway replica counting in `redis`, `rate` operations/s per caller.
async fn replica(redis: &str, rate: f64) -> TestApp {
    let dir = crate::common::prepared_dir();
    let mut config = crate::common::config_for(dir.path());
    config.jwt_secret = Some(SECRET.into());
    config.redis_url = Some(redis.into());
    config.rate_per_key = rate;
    config.rate_per_ip = 0.0;
    TestApp::start_with(dir, config).await
}

/// A token for a subject no other run uses.
fn token(role: &str) -> String {
    let subject = format!("limits-{}", uuid::Uuid::new_v4());
    jwt(
        json!({ "sub": subject, "role": role, "exp": in_secs(600) }),
        &EncodingKey::from_secret(SECRET.as_bytes()),
        Algorithm::HS256,
    )
}

async fn classes(app: &TestApp, token: &str) -> (StatusCode, String) {
    let (status, body) = call(app, Some(token), "{ classes }", json!({})).await;
    (status, code(&body).to_string())
}

/// One operation per second per caller, a burst of two: one on each replica uses the burst up,
/// the next is refused on both; a second later there is room for one again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_draw_from_one_rate_bucket() {
    let redis = redis_url();
    let (a, b) = (replica(&redis, 1.0).await, replica(&redis, 1.0).await);
    let caller = token("viewer");
    assert_eq!(classes(&a, &caller).await.0, StatusCode::OK);
    assert_eq!(classes(&b, &caller).await.0, StatusCode::OK);
    for replica in [&a, &b] {
        let response = replica
            .client
            .post(format!("{}/graphql", replica.base))
            .bearer_auth(&caller)
            .json(&json!({ "query": "{ classes }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(response.headers().contains_key("retry-after"));
    }
    // Another caller has its own bucket.
    assert_eq!(classes(&b, &token("viewer")).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(classes(&b, &caller).await.0, StatusCode::OK);
    assert_eq!(
        classes(&a, &caller).await,
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".to_string())
    );
    a.stop().await;
    b.stop().await;
}

/// `n` sessions on `app`, each admitted.
async fn sessions(app: &TestApp, init: &serde_json::Value, n: usize) -> Vec<Subscriber> {
    let mut open = Vec::new();
    for _ in 0..n {
        open.push(
            Subscriber::try_connect(&app.addr(), Protocol::TransportWs, init.clone())
                .await
                .expect("within the limit"),
        );
    }
    open
}

/// 32 sessions per caller across both replicas: 20 on one and 12 on the other fill them, the
/// next is closed with 4429 on either; a session closed on one frees a slot on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_count_one_set_of_sessions() {
    let redis = redis_url();
    let (a, b) = (replica(&redis, 0.0).await, replica(&redis, 0.0).await);
    let caller = token("viewer");
    let init = json!({ "Authorization": format!("Bearer {caller}") });
    let mut on_a = sessions(&a, &init, 20).await;
    let on_b = sessions(&b, &init, 12).await;
    for replica in [&a, &b] {
        let refusal = Subscriber::try_connect(&replica.addr(), Protocol::TransportWs, init.clone())
            .await
            .err()
            .expect("the 33rd session across replicas is refused");
        assert!(refusal.starts_with("close 4429"), "{refusal}");
    }
    drop(on_a.pop());
    let mut admitted = None;
    for _ in 0..50 {
        if let Ok(session) =
            Subscriber::try_connect(&b.addr(), Protocol::TransportWs, init.clone()).await
        {
            admitted = Some(session);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        admitted.is_some(),
        "the slot freed on one replica was not given back"
    );
    drop((on_a, on_b, admitted));
    a.stop().await;
    b.stop().await;
}

/// A Redis that does not answer: the replica starts and serves, counting by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_leaves_limits_local() {
    let app = replica("redis://127.0.0.1:1", 1.0).await;
    let caller = token("viewer");
    assert_eq!(classes(&app, &caller).await.0, StatusCode::OK);
    assert_eq!(classes(&app, &caller).await.0, StatusCode::OK);
    assert_eq!(
        classes(&app, &caller).await,
        (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED".to_string())
    );
    app.stop().await;
}
