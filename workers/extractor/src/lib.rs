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

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use vision_core::cache::{DescriptorCache, MemoryCache, descriptor_key};
use vision_core::messages::{FeaturesExtracted, ImageSubmitted, SCHEMA_VERSION, content_key};
use vision_core::metrics::metrics;
use vision_core::objects::StoreError;
use vision_core::stage::{self, StageKind};
use vision_core::{MessageBus, ObjectStore, Output, Retry, Stage, Verdict, topics};
use vision_inference::image_input::{self, ImageKind};
use vision_inference::{ExtractorModel, ImageLimits, preprocess};

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
        tracing::info!(version = %self.model.version, batching = ?self.batching, "extractor stage started");
        // Enough images in flight that every worker has a full batch waiting while others
        // decode or wait for the bus to take their descriptors.
        let in_flight = (4 * self.batching.workers.max(1) * self.batching.max_batch.max(1)).max(8);
        let bus = self.bus.clone();
        let worker = Extracting {
            batcher: Batcher::start(self.model.clone(), self.batching),
            stage: self,
        };
        stage::run(
            &worker,
            StageKind::Extractor.spec(),
            topics::IMAGES_INPUT.name(),
            None,
            bus.as_ref(),
            shutdown,
            Some(in_flight),
        )
        .await?;
        tracing::info!("extractor stage stopped");
        Ok(())
    }
}

/// The running stage: its settings and the backbone's queue.
struct Extracting {
    stage: ExtractorStage,
    batcher: Batcher,
}

#[async_trait]
impl Stage for Extracting {
    type Input = ImageSubmitted;

    async fn handle(&self, message: ImageSubmitted) -> Result<Verdict, Retry> {
        let this = &self.stage;
        let started = Instant::now();
        let cache_key = message
            .content_hash
            .as_deref()
            .map(|hash| descriptor_key(&this.model.version, hash));
        if let Some(key) = &cache_key
            && let Some(descriptors) = self.cached(key).await
        {
            return Ok(self.features(message, descriptors, started.elapsed()));
        }
        let bytes = match this.store.get(&message.object_key).await {
            Ok(bytes) => bytes,
            Err(e @ StoreError::Unavailable(_)) => return Err(e.into()),
            Err(e) => return Ok(Verdict::reject(Some(message.image_id), e.to_string())),
        };
        let (size, limits) = (this.model.input_size, this.limits);
        // Decoding and resizing are CPU-bound: they run on the backbone's worker thread.
        let computed = self
            .batcher
            .extract(move || {
                let kind = ImageKind::sniff(&bytes).ok_or("not a JPEG, PNG or WebP image")?;
                let image = image_input::decode(&bytes, kind, &limits)
                    .map_err(|e| format!("cannot decode image: {e}"))?;
                Ok(preprocess::to_pixels(&image, size, false))
            })
            .await;
        let (descriptors, inference) = match computed {
            Ok(result) => result,
            Err(reason) => return Ok(Verdict::reject(Some(message.image_id), reason)),
        };
        if let Some(key) = &cache_key
            && let Err(e) = this.cache.put(key, &descriptors).await
        {
            tracing::warn!(error = %e, "descriptors not cached");
        }
        Ok(self.features(message, descriptors, inference))
    }
}

impl Extracting {
    /// Descriptors computed before for the same bytes; a cache that fails counts as a miss.
    async fn cached(&self, key: &str) -> Option<Vec<f32>> {
        let (result, found) = match self.stage.cache.get(key).await {
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

    /// The image's descriptors, for the heads. `spent` is what this image cost the extractor:
    /// the backbone pass, or the cache lookup.
    fn features(&self, message: ImageSubmitted, descriptors: Vec<f32>, spent: Duration) -> Verdict {
        let features = FeaturesExtracted {
            v: SCHEMA_VERSION,
            image_id: message.image_id,
            descriptors,
            extractor_version: self.stage.model.version.clone(),
            extract_ms: spent.as_secs_f64() * 1000.0,
            content_key: message.content_hash.as_deref().and_then(content_key),
            label: message.label,
            submitted_at: message.submitted_at,
        };
        Verdict::publish(Output::new(
            topics::IMAGE_FEATURES,
            message.image_id.to_string(),
            &features,
        ))
    }
}
