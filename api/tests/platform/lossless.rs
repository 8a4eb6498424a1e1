//! Subscriptions that lose nothing: a subscriber that falls behind catches up from the pipeline
//! feed in the database, resumes from a cursor with no gap and no repeat, and is told with a
//! code (and where to go on) when retention deleted what it had not read.
//!
//! The events are written straight through the repository (thousands in seconds, faster than
//! the pipeline runs) to a gateway without stages; its feed reader finds them by its periodic
//! look, as it finds events whose bus wake-up was lost.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;
use vision_core::bus::MemoryBus;
use vision_db::{Db, NewImage};

use crate::common::{TestApp, config_for, error_code, fast_comparison, prepared_dir};
use crate::ws::{Protocol, Subscriber};

const EVENTS: &str = "subscription ($after: String) {
    pipelineEvents(after: $after, kinds: [IMAGE_COMPLETED]) { cursor kind imageId image { status } }
}";

const COMPLETED: &str = "subscription ($after: String) {
    imageCompleted(after: $after) { id status comparison { consensusClass } }
}";

async fn gateway() -> TestApp {
    let dir = prepared_dir();
    let config = config_for(dir.path());
    TestApp::start_gateway(dir, config, Arc::new(MemoryBus::new())).await
}

/// `n` images completed through the repository, in this order.
async fn complete_directly(db: &Db, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let id = Uuid::new_v4();
        db.insert_image(NewImage {
            id,
            object_key: format!("raw-images/2026/12/04/{id}.png"),
            content_hash: format!("{:064x}", id.as_u128()),
            content_type: "image/png".to_owned(),
            size_bytes: 100,
            width: 32,
            height: 32,
            source: "upload".to_owned(),
            label: None,
        })
        .await
        .unwrap();
        ids.push(id);
    }
    // One image per transaction, so the feed's order is this order.
    for id in &ids {
        db.complete_images(vec![(*id, fast_comparison())])
            .await
            .unwrap();
    }
    ids
}

/// The next `n` results of subscription `id`, failing on any error.
async fn take(subscriber: &mut Subscriber, id: &str, n: usize) -> Vec<Value> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let (sub, payload) = subscriber.next().await;
        assert_eq!(sub, id);
        assert!(payload.get("errors").is_none(), "{payload:#}");
        out.push(payload["data"].clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_fell_far_behind_catches_up_from_the_database() {
    let app = gateway().await;
    let state = app.platform().state.clone();
    // Following from now, and not reading while three times its buffer is written.
    let mut follower = state.events.follow(None).boxed();
    let ids = complete_directly(&state.db, 3_000).await;
    let mut seen = Vec::new();
    let mut last = 0;
    while seen.len() < ids.len() {
        let row = tokio::time::timeout(Duration::from_secs(30), follower.next())
            .await
            .expect("the follower gets every event")
            .expect("the feed goes on")
            .expect("no error");
        assert!(row.seq > last, "in order, each once");
        last = row.seq;
        seen.push(row.image_id);
    }
    assert_eq!(seen, ids);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_misses_nothing_and_resumes_from_its_cursor() {
    let app = gateway().await;
    let db = app.platform().state.db.clone();
    let mut events = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    events
        .subscribe("events", EVENTS, json!({ "after": "0" }))
        .await;
    let mut completed = Subscriber::connect(&app.addr(), Protocol::LegacyWs).await;
    completed
        .subscribe("completed", COMPLETED, json!({ "after": "0" }))
        .await;
    let ids = complete_directly(&db, 3_000).await;
    let id_of = |data: &Value, field: &str, key: &str| -> Uuid {
        data[field][key].as_str().unwrap().parse().unwrap()
    };

    // Neither has read anything while the 3,000 were written: both get them all, in order.
    let all = take(&mut completed, "completed", ids.len()).await;
    assert_eq!(
        all.iter()
            .map(|d| id_of(d, "imageCompleted", "id"))
            .collect::<Vec<_>>(),
        ids
    );
    assert!(
        all.iter()
            .all(|d| d["imageCompleted"]["status"] == "COMPLETED"
                && d["imageCompleted"]["comparison"]["consensusClass"] == "cat")
    );
    let first = take(&mut events, "events", 1_000).await;
    assert!(
        first
            .iter()
            .all(|d| d["pipelineEvents"]["kind"] == "IMAGE_COMPLETED"
                && d["pipelineEvents"]["image"]["status"] == "COMPLETED")
    );
    let cursor = first[999]["pipelineEvents"]["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(events);

    // A new connection resumes right after the last event read: no gap, no repeat.
    let mut resumed = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    resumed
        .subscribe("events", EVENTS, json!({ "after": cursor }))
        .await;
    let rest = take(&mut resumed, "events", 2_000).await;
    let order: Vec<Uuid> = first
        .iter()
        .chain(&rest)
        .map(|d| id_of(d, "pipelineEvents", "imageId"))
        .collect();
    assert_eq!(order, ids);
    // ...and then goes on live.
    let more = complete_directly(&db, 3).await;
    let live = take(&mut resumed, "events", 3).await;
    assert_eq!(
        live.iter()
            .map(|d| id_of(d, "pipelineEvents", "imageId"))
            .collect::<Vec<_>>(),
        more
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_past_retention_ends_with_a_code_and_where_to_go_on() {
    let app = gateway().await;
    let db = app.platform().state.db.clone();
    let ids = complete_directly(&db, 20).await;
    let rows = db.feed_after(0, 100).await.unwrap();
    assert_eq!(rows.len(), 20);
    // Retention deletes the 10 oldest.
    let purged = db
        .purge_feed_before(chrono::Utc::now() + chrono::Duration::minutes(1), 10)
        .await
        .unwrap();
    assert_eq!(purged, 10);

    let mut subscriber = Subscriber::connect(&app.addr(), Protocol::TransportWs).await;
    let stale = rows[2].seq.to_string();
    subscriber
        .subscribe("stale", EVENTS, json!({ "after": stale }))
        .await;
    let (_, payload) = subscriber.next().await;
    assert_eq!(error_code(&payload), "SUBSCRIBER_LAGGED", "{payload:#}");
    let resume = payload["errors"][0]["extensions"]["cursor"]
        .as_str()
        .expect("the cursor to go on from")
        .to_owned();
    assert_eq!(resume, rows[9].seq.to_string());
    subscriber.wait_complete("stale").await;

    // Going on from there gets the 10 kept, in order.
    subscriber
        .subscribe("kept", EVENTS, json!({ "after": resume }))
        .await;
    let kept = take(&mut subscriber, "kept", 10).await;
    let kept: Vec<Uuid> = kept
        .iter()
        .map(|d| {
            d["pipelineEvents"]["imageId"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(kept, ids[10..]);

    // A cursor resuming exactly at the oldest kept is not an error; nor is "0" (the oldest).
    subscriber
        .subscribe("zero", EVENTS, json!({ "after": "0" }))
        .await;
    let zero = take(&mut subscriber, "zero", 10).await;
    assert_eq!(zero.len(), 10);

    // Anything but a cursor the API gave is refused.
    for bad in ["abc", "-1", "1.5"] {
        subscriber
            .subscribe("bad", EVENTS, json!({ "after": bad }))
            .await;
        let (_, payload) = subscriber.next().await;
        assert_eq!(error_code(&payload), "BAD_CURSOR", "{bad}: {payload:#}");
        subscriber.wait_complete("bad").await;
    }
    app.stop().await;
}
