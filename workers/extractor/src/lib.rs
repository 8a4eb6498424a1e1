//! The feature-extractor stage: `images-input-stream` -> object store -> decode -> backbone + PCA
//! -> `image-features-stream`. One backbone pass per image; the heads only ever see descriptors.
//! While a head bound to another extractor version is served (a shadow or candidate of another
//! descriptor size), that version runs on every image as well and its descriptors travel in the
//! same message (see [`vision_inference::ServedExtractors`]); the set follows the registry.
//!
//! An image whose bytes were seen before (same SHA-256, same extractor versions) reuses the
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

pub use batcher::{BatchSettings, Batcher, Extraction};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use vision_core::cache::{DescriptorCache, MemoryCache, descriptor_key};
use vision_core::messages::{
    FeaturesExtracted, ImageSubmitted, SCHEMA_VERSION, VersionedDescriptors, content_key,
};
use vision_core::metrics::metrics;
use vision_core::objects::StoreError;
use vision_core::stage::{self, StageKind};
use vision_core::{MessageBus, ObjectStore, Output, Retry, Stage, Verdict, topics};
use vision_inference::image_input::{self, ImageKind};
use vision_inference::{ExtractorModel, ImageLimits, ServedExtractors, preprocess};

/// Vectors the default in-process cache keeps (about 1 KiB each at 256 floats).
const MEMORY_CACHE_ENTRIES: usize = 10_000;

pub struct ExtractorStage {
    bus: Arc<dyn MessageBus>,
    store: Arc<dyn ObjectStore>,
    served: Arc<ArcSwap<ServedExtractors>>,
    limits: ImageLimits,
    batching: BatchSettings,
    cache: Arc<dyn DescriptorCache>,
}

impl ExtractorStage {
    /// A stage that runs `model` alone.
    pub fn new(
        bus: Arc<dyn MessageBus>,
        store: Arc<dyn ObjectStore>,
        model: Arc<ExtractorModel>,
        limits: ImageLimits,
    ) -> Self {
        let served = Arc::new(ArcSwap::from_pointee(ServedExtractors::production(model)));
        Self::serving(bus, store, served, limits)
    }

    /// A stage that runs what `served` holds (swapped from outside).
    pub fn serving(
        bus: Arc<dyn MessageBus>,
        store: Arc<dyn ObjectStore>,
        served: Arc<ArcSwap<ServedExtractors>>,
        limits: ImageLimits,
    ) -> Self {
        Self {
            bus,
            store,
            served,
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
        let versions = self.served.load().labels();
        tracing::info!(?versions, batching = ?self.batching, "extractor stage started");
        // Enough images in flight that every worker has a full batch waiting while others
        // decode or wait for the bus to take their descriptors.
        let in_flight = (4 * self.batching.workers.max(1) * self.batching.max_batch.max(1)).max(8);
        let bus = self.bus.clone();
        let worker = Extracting {
            batcher: Batcher::start(self.served.clone(), self.batching),
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
        let labels = this.served.load().labels();
        if let Some(hash) = message.content_hash.as_deref()
            && let Some(extraction) = self.cached(&labels, hash).await
        {
            let spent = started.elapsed();
            return Ok(self.features(
                message,
                Extraction {
                    spent,
                    ..extraction
                },
            ));
        }
        let bytes = match this.store.get(&message.object_key).await {
            Ok(bytes) => bytes,
            Err(e @ StoreError::Unavailable(_)) => return Err(e.into()),
            Err(e) => return Ok(Verdict::reject(Some(message.image_id), e.to_string())),
        };
        let limits = this.limits;
        // Decoding and resizing are CPU-bound: they run on the backbone's worker thread.
        let computed = self
            .batcher
            .extract(move |size| {
                let kind = ImageKind::sniff(&bytes).ok_or("not a JPEG, PNG or WebP image")?;
                let image = image_input::decode(&bytes, kind, &limits)
                    .map_err(|e| format!("cannot decode image: {e}"))?;
                Ok(preprocess::to_pixels(&image, size, false))
            })
            .await;
        let extraction = match computed {
            Ok(extraction) => extraction,
            Err(reason) => return Ok(Verdict::reject(Some(message.image_id), reason)),
        };
        if let Some(hash) = message.content_hash.as_deref() {
            self.cache(hash, &extraction).await;
        }
        Ok(self.features(message, extraction))
    }
}

impl Extracting {
    /// Descriptors computed before for the same bytes by every version in `labels`
    /// (production first); a cache that fails, or misses one of them, counts as a miss.
    async fn cached(&self, labels: &[String], hash: &str) -> Option<Extraction> {
        let mut found = Vec::with_capacity(labels.len());
        let mut result = "hit";
        for label in labels {
            match self.stage.cache.get(&descriptor_key(label, hash)).await {
                Ok(Some(descriptors)) => found.push(VersionedDescriptors {
                    extractor_version: label.clone(),
                    descriptors,
                }),
                Ok(None) => {
                    result = "miss";
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "descriptor cache lookup failed; computing");
                    result = "error";
                    break;
                }
            }
        }
        metrics()
            .descriptor_cache
            .with_label_values(&[result])
            .inc();
        if result != "hit" {
            return None;
        }
        let mut found = found.into_iter();
        let production = found.next()?;
        Some(Extraction {
            extractor_version: production.extractor_version,
            descriptors: production.descriptors,
            others: found.collect(),
            spent: Duration::ZERO,
        })
    }

    /// Keeps what was computed for the next upload of the same bytes.
    async fn cache(&self, hash: &str, extraction: &Extraction) {
        let production = (&extraction.extractor_version, &extraction.descriptors);
        let others = extraction
            .others
            .iter()
            .map(|o| (&o.extractor_version, &o.descriptors));
        for (label, descriptors) in std::iter::once(production).chain(others) {
            if let Err(e) = self
                .stage
                .cache
                .put(&descriptor_key(label, hash), descriptors)
                .await
            {
                tracing::warn!(error = %e, "descriptors not cached");
            }
        }
    }

    /// The image's descriptors, for the heads. `extraction.spent` is what this image cost the
    /// extractor: the passes, or the cache lookups.
    fn features(&self, message: ImageSubmitted, extraction: Extraction) -> Verdict {
        let features = FeaturesExtracted {
            v: SCHEMA_VERSION,
            image_id: message.image_id,
            descriptors: extraction.descriptors,
            extractor_version: extraction.extractor_version,
            extract_ms: extraction.spent.as_secs_f64() * 1000.0,
            content_key: message.content_hash.as_deref().and_then(content_key),
            label: message.label,
            submitted_at: message.submitted_at,
            other_descriptors: extraction.others,
        };
        Verdict::publish(Output::new(
            topics::IMAGE_FEATURES,
            message.image_id.to_string(),
            &features,
        ))
    }
}
