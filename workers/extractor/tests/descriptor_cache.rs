//! F4: identical bytes (same content hash) are not run through the backbone twice. The proof:
//! the second message points at an object that does not exist, so only the cache can answer it.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::bus::MemoryBus;
use vision_core::cache::{DescriptorCache, RedisCache};
use vision_core::messages::{self, DeadLetter, FeaturesExtracted, ImageSubmitted, SCHEMA_VERSION};
use vision_core::objects::LocalStore;
use vision_core::{MessageBus, ObjectStore, Subscription, topics};
use vision_extractor::ExtractorStage;
use vision_inference::{ImageLimits, ModelBundle, Parallelism, RuntimeKind};
use vision_testkit::bundle as testkit;

struct Rig {
    bus: Arc<MemoryBus>,
    store: Arc<LocalStore>,
    bundle: ModelBundle,
    features: Subscription,
    dead: Subscription,
    _dir: tempfile::TempDir,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(&dir.path().join("models"), 32).unwrap();
    let bundle = ModelBundle::load(
        &dir.path().join("models"),
        RuntimeKind::Tract,
        Parallelism::threads(1),
    )
    .unwrap();
    let bus = Arc::new(MemoryBus::new());
    let features = bus
        .subscribe(topics::IMAGE_FEATURES.name(), "test")
        .await
        .unwrap();
    let dead = bus
        .subscribe(topics::DEAD_LETTER.name(), "test")
        .await
        .unwrap();
    let store = Arc::new(LocalStore::new(dir.path().join("objects")).unwrap());
    Rig {
        bus,
        store,
        bundle,
        features,
        dead,
        _dir: dir,
    }
}

impl Rig {
    fn stage(&self, cache: Option<Arc<dyn DescriptorCache>>) -> ExtractorStage {
        let stage = ExtractorStage::new(
            self.bus.clone(),
            self.store.clone(),
            self.bundle.extractor.clone(),
            ImageLimits::default(),
        );
        match cache {
            Some(cache) => stage.with_cache(cache),
            None => stage,
        }
    }

    /// Submits an image whose object is `key` (stored or not) with `hash`.
    async fn submit(&self, key: &str, hash: Option<&str>) -> Uuid {
        let id = Uuid::new_v4();
        let message = ImageSubmitted {
            v: SCHEMA_VERSION,
            image_id: id,
            object_key: key.to_string(),
            source: "test".into(),
            label: None,
            submitted_at: chrono::Utc::now(),
            content_hash: hash.map(str::to_string),
        };
        topics::IMAGES_INPUT
            .publish(self.bus.as_ref(), &id.to_string(), &message)
            .await
            .unwrap();
        id
    }
}

fn red_png() -> Vec<u8> {
    let img = image::RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn next_features(sub: &mut Subscription) -> FeaturesExtracted {
    let d = tokio::time::timeout(Duration::from_secs(20), sub.next())
        .await
        .expect("features in time")
        .unwrap();
    messages::decode(&d.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_bytes_reuse_their_descriptors_and_unknown_ones_are_computed() {
    let mut rig = rig().await;
    rig.store
        .put("a.png", bytes::Bytes::from(red_png()), "image/png")
        .await
        .unwrap();
    let stop = CancellationToken::new();
    let stage = rig.stage(None);
    let run = tokio::spawn(stage.run(stop.clone()));

    let first = rig.submit("a.png", Some("hash-a")).await;
    let computed = next_features(&mut rig.features).await;
    assert_eq!(computed.image_id, first);

    // Same hash, no object: answered from the cache, same descriptors and version.
    let second = rig.submit("missing.png", Some("hash-a")).await;
    let reused = next_features(&mut rig.features).await;
    assert_eq!(reused.image_id, second);
    assert_eq!(reused.descriptors, computed.descriptors);
    assert_eq!(reused.extractor_version, computed.extractor_version);

    // Another hash (or none) with no object: nothing to reuse, so it is dead-lettered.
    for hash in [Some("hash-b"), None] {
        let id = rig.submit("missing.png", hash).await;
        let d = tokio::time::timeout(Duration::from_secs(20), rig.dead.next())
            .await
            .expect("dead letter in time")
            .unwrap();
        let letter: DeadLetter = messages::decode(&d.payload).unwrap();
        assert_eq!(letter.image_id, Some(id));
    }
    stop.cancel();
    run.await.unwrap().unwrap();
}

/// The Redis cache is shared by replicas: what one extractor computed, another one reuses.
/// Needs the Redis server at `REDIS_URL` (default `redis://127.0.0.1:6379`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_descriptors_through_redis() {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let connect = || async {
        let cache = RedisCache::connect(&url).await.unwrap_or_else(|e| {
            panic!("these tests need Redis at {url} (scripts/services.sh starts it): {e}")
        });
        Arc::new(cache) as Arc<dyn DescriptorCache>
    };
    let mut rig = rig().await;
    rig.store
        .put("a.png", bytes::Bytes::from(red_png()), "image/png")
        .await
        .unwrap();
    // A hash no earlier run used.
    let hash = Uuid::new_v4().to_string();

    let stop = CancellationToken::new();
    let one = tokio::spawn(rig.stage(Some(connect().await)).run(stop.clone()));
    rig.submit("a.png", Some(&hash)).await;
    let computed = next_features(&mut rig.features).await;
    stop.cancel();
    one.await.unwrap().unwrap();

    // A second replica, its own connection: the object is gone for it, the cache is not.
    let stop = CancellationToken::new();
    let two = tokio::spawn(rig.stage(Some(connect().await)).run(stop.clone()));
    let id = rig.submit("missing.png", Some(&hash)).await;
    let reused = next_features(&mut rig.features).await;
    assert_eq!(reused.image_id, id);
    assert_eq!(reused.descriptors, computed.descriptors);
    stop.cancel();
    two.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_is_an_error_not_a_hang() {
    let started = std::time::Instant::now();
    let result = RedisCache::connect("redis://127.0.0.1:1").await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}
