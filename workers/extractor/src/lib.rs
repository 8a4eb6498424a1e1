//! The feature-extractor stage: `images-input-stream` -> object store -> decode -> backbone + PCA
//! -> `image-features-stream`. One backbone pass per image; the heads only ever see descriptors.
//!
//! An image whose bytes were seen before (same SHA-256, same extractor version) reuses the
//! descriptors from the descriptor cache: no object read, no backbone pass (F4).
//!
//! Decoding, preprocessing and the backbone pass run on the [`Batcher`]'s worker threads, which
//! group the images waiting at the same time into one pass.
//!
//! An image that cannot be read (object missing, corrupt bytes, bad message) goes to the
//! dead-letter topic with the reason; a dependency that is down (object store, bus) is retried.

mod batcher;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use batcher::{BatchSettings, Batcher};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::cache::{DescriptorCache, MemoryCache, descriptor_key};
use vision_core::messages::{self, FeaturesExtracted, ImageSubmitted, SCHEMA_VERSION};
use vision_core::metrics::metrics;
use vision_core::objects::StoreError;
use vision_core::{Message, MessageBus, ObjectStore, Outcome, consume, topics};
use vision_inference::image_input::{self, ImageKind};
use vision_inference::{ExtractorModel, ImageLimits, preprocess};

/// Consumer group of every extractor replica.
pub const GROUP: &str = "extractor";
/// Vectors the default in-process cache keeps (about 1 KiB each at 256 floats).
const MEMORY_CACHE_ENTRIES: usize = 10_000;

pub struct ExtractorStage {
    bus: Arc<dyn MessageBus>,
    store: Arc<dyn ObjectStore>,
    model: Arc<ExtractorModel>,
    limits: ImageLimits,
    batching: BatchSettings,
    cache: Arc<dyn DescriptorCache>,
}

impl ExtractorStage {
    pub fn new(
        bus: Arc<dyn MessageBus>,
        store: Arc<dyn ObjectStore>,
        model: Arc<ExtractorModel>,
        limits: ImageLimits,
    ) -> Self {
        Self {
            bus,
            store,
            model,
            limits,
            batching: BatchSettings::default(),
            cache: Arc::new(MemoryCache::new(MEMORY_CACHE_ENTRIES)),
        }
    }

    /// Shares descriptors through `cache` (Redis across replicas) instead of this process's own.
    pub fn with_cache(mut self, cache: Arc<dyn DescriptorCache>) -> Self {
        self.cache = cache;
        self
    }

    /// How images are grouped into backbone passes.
    pub fn with_batching(mut self, batching: BatchSettings) -> Self {
        self.batching = batching;
        self
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let subscription = self.bus.subscribe(topics::IMAGES_INPUT, GROUP).await?;
        let batcher = Batcher::start(self.model.clone(), self.batching);
        tracing::info!(version = %self.model.version, batching = ?self.batching, "extractor stage started");
        // Enough images in flight that every worker has a full batch waiting while others
        // decode or wait for the bus to take their descriptors.
        let in_flight = (4 * self.batching.workers.max(1) * self.batching.max_batch.max(1)).max(8);
        let this = &self;
        let batcher = &batcher;
        consume("extract", subscription, shutdown, in_flight, |d| {
            this.handle(d, batcher)
        })
        .await;
        tracing::info!("extractor stage stopped");
        Ok(())
    }

    async fn handle(&self, delivery: Message, batcher: &Batcher) -> Outcome {
        let message: ImageSubmitted = match messages::decode(&delivery.payload) {
            Ok(m) => m,
            Err(e) => return self.dead_letter(None, &delivery, e.to_string()).await,
        };
        let started = Instant::now();
        let cache_key = message
            .content_hash
            .as_deref()
            .map(|hash| descriptor_key(&self.model.version, hash));
        if let Some(key) = &cache_key
            && let Some(descriptors) = self.cached(key).await
        {
            return self
                .publish(message, descriptors, started.elapsed(), started)
                .await;
        }
        let bytes = match self.store.get(&message.object_key).await {
            Ok(bytes) => bytes,
            Err(StoreError::Unavailable(reason)) => return Outcome::Retry(reason),
            Err(e) => {
                return self
                    .dead_letter(Some(message.image_id), &delivery, e.to_string())
                    .await;
            }
        };
        let (size, limits) = (self.model.input_size, self.limits);
        // Decoding and resizing are CPU-bound: they run on the backbone's worker thread.
        let computed = batcher
            .extract(move || {
                let kind = ImageKind::sniff(&bytes).ok_or("not a JPEG, PNG or WebP image")?;
                let image = image_input::decode(&bytes, kind, &limits)
                    .map_err(|e| format!("cannot decode image: {e}"))?;
                Ok(preprocess::to_pixels(&image, size, false))
            })
            .await;
        let (descriptors, inference) = match computed {
            Ok(result) => result,
            Err(reason) => {
                return self
                    .dead_letter(Some(message.image_id), &delivery, reason)
                    .await;
            }
        };
        if let Some(key) = &cache_key
            && let Err(e) = self.cache.put(key, &descriptors).await
        {
            tracing::warn!(error = %e, "descriptors not cached");
        }
        self.publish(message, descriptors, inference, started).await
    }

    /// Descriptors computed before for the same bytes; a cache that fails counts as a miss.
    async fn cached(&self, key: &str) -> Option<Vec<f32>> {
        let (result, found) = match self.cache.get(key).await {
            Ok(Some(descriptors)) => ("hit", Some(descriptors)),
            Ok(None) => ("miss", None),
            Err(e) => {
                tracing::warn!(error = %e, "descriptor cache lookup failed; computing");
                ("error", None)
            }
        };
        metrics()
            .descriptor_cache
            .with_label_values(&[result])
            .inc();
        found
    }

    /// Sends the image's descriptors on to the heads. `spent` is what this image cost the
    /// extractor: the backbone pass, or the cache lookup.
    async fn publish(
        &self,
        message: ImageSubmitted,
        descriptors: Vec<f32>,
        spent: Duration,
        started: Instant,
    ) -> Outcome {
        let features = FeaturesExtracted {
            v: SCHEMA_VERSION,
            image_id: message.image_id,
            descriptors,
            extractor_version: self.model.version.clone(),
            extract_ms: spent.as_secs_f64() * 1000.0,
            label: message.label,
            submitted_at: message.submitted_at,
        };
        let key = message.image_id.to_string();
        if let Err(e) = self
            .bus
            .publish(topics::IMAGE_FEATURES, &key, messages::encode(&features))
            .await
        {
            return Outcome::Retry(e.to_string());
        }
        metrics()
            .stage_duration
            .with_label_values(&["extract"])
            .observe(started.elapsed().as_secs_f64());
        Outcome::Done
    }

    async fn dead_letter(
        &self,
        image_id: Option<Uuid>,
        message: &Message,
        reason: String,
    ) -> Outcome {
        vision_core::bus::dead_letter(
            &*self.bus,
            message,
            image_id,
            "extract",
            "extractor",
            reason,
        )
        .await
    }
}
