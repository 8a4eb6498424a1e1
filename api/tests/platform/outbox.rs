//! The upload outbox: while the bus refuses messages, uploads are still accepted; their rows
//! wait unpublished, and the gateway's relay publishes them once the bus answers again.
//!
//! The bus here is the in-process one behind a switch that makes every publish fail: a Kafka
//! outage on demand (the end-to-end outage against a real broker is in `distributed.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;
use vision_core::bus::{BusError, MemoryBus, Subscription};
use vision_core::messages::{self, ImageSubmitted};
use vision_core::{MessageBus, topics};

use crate::common::{TestApp, config_for, prepared_dir};
use crate::images::{self, BLUE, GREEN, RED};

/// The in-process bus, with publishing switched off while `down`.
#[derive(Clone, Default)]
struct SwitchedBus {
    inner: MemoryBus,
    down: Arc<AtomicBool>,
}

#[async_trait]
impl MessageBus for SwitchedBus {
    async fn publish_bytes(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
    ) -> Result<(), BusError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(BusError::Unavailable("switched off by the test".into()));
        }
        self.inner.publish_bytes(topic, key, payload).await
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Subscription, BusError> {
        self.inner.subscribe(topic, group).await
    }

    fn kind(&self) -> &'static str {
        "switched"
    }
}

/// The image ids of the next `count` messages for the extractor, within `limit`.
async fn next_submitted(extractor: &mut Subscription, count: usize, limit: Duration) -> Vec<Uuid> {
    let mut ids = Vec::new();
    tokio::time::timeout(limit, async {
        while ids.len() < count {
            let delivery = extractor.next().await.expect("bus open");
            let message: ImageSubmitted = messages::decode(&delivery.payload).unwrap();
            ids.push(message.image_id);
            delivery.ack().unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {count} messages within {limit:?}", ids.len()));
    ids
}

/// Nothing reaches the extractor for a few seconds (longer than a relay pass).
async fn assert_quiet(extractor: &mut Subscription, what: &str) {
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(200), extractor.next())
            .await
            .is_err(),
        "{what}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_accepted_while_the_bus_is_down_and_published_when_it_returns() {
    let dir = prepared_dir();
    let mut config = config_for(dir.path());
    config.publish_wait_ms = 200;
    let bus = SwitchedBus::default();
    // The extractor's group, joined before anything is published.
    let mut extractor = bus
        .subscribe(topics::IMAGES_INPUT.name(), "extractor")
        .await
        .unwrap();
    let app = TestApp::start_gateway(dir, config, Arc::new(bus.clone())).await;
    let db = app.platform().state.db.clone();

    // Bus up: published at once, and marked so.
    let first = app.upload_ok("red.png", images::png(RED), None).await;
    assert_eq!(
        next_submitted(&mut extractor, 1, Duration::from_secs(5)).await,
        [first.parse::<Uuid>().unwrap()]
    );
    // Marked by the gateway's batch writer, just after the answer.
    let first_id: Uuid = first.parse().unwrap();
    let marked = async {
        while db
            .get_image(first_id)
            .await
            .unwrap()
            .unwrap()
            .published_at
            .is_none()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), marked)
        .await
        .expect("published upload not marked");

    // Bus down: accepted all the same (a batch too), nothing on the bus yet.
    bus.down.store(true, Ordering::SeqCst);
    let single = app.upload_ok("green.png", images::png(GREEN), None).await;
    let batch = app
        .upload_batch(
            vec![("a.png", images::png(BLUE)), ("b.png", images::png(RED))],
            None,
        )
        .await;
    assert!(batch.get("errors").is_none(), "batch refused: {batch:#}");
    let mut waiting: Vec<Uuid> = batch["data"]["uploadImages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| image["id"].as_str().unwrap().parse().unwrap())
        .collect();
    waiting.push(single.parse().unwrap());
    for id in &waiting {
        let row = db.get_image(*id).await.unwrap().unwrap();
        assert!(
            row.published_at.is_none(),
            "unpublished row marked published"
        );
        assert_eq!(row.status, vision_db::ImageStatus::Pending);
    }
    // The relay keeps failing while the bus is down (its passes run every 2 s after the
    // 1.4 s grace); nothing may leak out meanwhile.
    assert_quiet(&mut extractor, "a message went out while the bus was down").await;

    // Bus back: the relay publishes every waiting image (within its backoff), once each.
    bus.down.store(false, Ordering::SeqCst);
    let mut published =
        next_submitted(&mut extractor, waiting.len(), Duration::from_secs(20)).await;
    published.sort();
    waiting.sort();
    assert_eq!(published, waiting);
    // The relay marks its rows once the whole pass is out.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    for id in &waiting {
        while db
            .get_image(*id)
            .await
            .unwrap()
            .unwrap()
            .published_at
            .is_none()
        {
            assert!(
                std::time::Instant::now() < deadline,
                "relayed row not marked published"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_quiet(&mut extractor, "the relay published a marked row again").await;
    app.stop().await;
}
