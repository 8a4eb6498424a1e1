//! The processing stages of the embedded mode: the extractor, one classifier per head and the
//! recorder, all on the process's in-memory bus.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vision_classifier::ClassifierStage;
use vision_core::cache::DescriptorCache;
use vision_core::{MessageBus, topics};
use vision_extractor::{BatchSettings, ExtractorStage};
use vision_inference::{ClassifierModel, ExtractorModel, ModelBundle};
use vision_recorder::RecorderStage;

use super::Tasks;
use crate::config::Config;
use crate::state::AppState;

/// Loads the model bundle (checksums verified) off the async workers.
async fn load_bundle(config: &Config) -> anyhow::Result<ModelBundle> {
    let dir = config.models_dir.clone();
    let (runtime, extractor) = (config.runtime, config.extractor_parallelism());
    tokio::task::spawn_blocking(move || ModelBundle::load(&dir, runtime, extractor))
        .await
        .context("model loading panicked")?
        .with_context(|| format!("cannot load the models in {}", config.models_dir.display()))
}

pub struct Pipeline {
    bundle: ModelBundle,
    cache: Option<Arc<dyn DescriptorCache>>,
    batching: BatchSettings,
}

impl Pipeline {
    pub async fn load(config: &Config) -> anyhow::Result<Self> {
        let bundle = load_bundle(config).await?;
        tracing::info!(
            extractor = %bundle.extractor.version,
            heads = ?bundle.classifiers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            runtime = %config.runtime,
            "models loaded"
        );
        let cache = super::descriptor_cache(config).await;
        Ok(Self {
            bundle,
            cache,
            batching: config.batching(),
        })
    }

    /// Starts every stage, then re-sends the images an earlier run left incomplete.
    pub async fn start(
        self,
        state: &AppState,
        shutdown: &CancellationToken,
        tasks: &mut Tasks,
    ) -> anyhow::Result<()> {
        let heads: Vec<String> = self
            .bundle
            .classifiers
            .iter()
            .map(|c| c.name.clone())
            .collect();
        declare_groups(state.bus.as_ref(), &heads).await?;

        let mut extractor = ExtractorStage::new(
            state.bus.clone(),
            state.store.clone(),
            self.bundle.extractor.clone(),
            state.limits.image,
        )
        .with_batching(self.batching);
        if let Some(cache) = self.cache.clone() {
            extractor = extractor.with_cache(cache);
        }
        let stop = shutdown.clone();
        tasks.spawn(async move { ("extractor".to_string(), extractor.run(stop).await) });
        for head in &self.bundle.classifiers {
            let stage = ClassifierStage::new(state.bus.clone(), head.clone());
            let (name, stop) = (format!("classifier {}", head.name), shutdown.clone());
            tasks.spawn(async move { (name, stage.run(stop).await) });
        }
        let recorder = RecorderStage::new(state.bus.clone(), state.db.clone(), heads);
        let stop = shutdown.clone();
        tasks.spawn(async move { ("recorder".to_string(), recorder.run(stop).await) });

        let resent = vision_recorder::recover(&state.db, state.bus.as_ref())
            .await
            .context("cannot recover incomplete images")?;
        if resent > 0 {
            tracing::info!(resent, "incomplete images from an earlier run requeued");
        }
        Ok(())
    }
}

/// Creates every consumer group before any stage runs. The in-memory bus hands a message only
/// to the groups that exist when it is published (like Kafka with `auto.offset.reset=latest`),
/// so a stage that subscribes a moment late would otherwise miss the first messages, among them
/// those recovery sends right away.
async fn declare_groups(bus: &dyn MessageBus, heads: &[String]) -> anyhow::Result<()> {
    let mut groups = vec![
        (topics::IMAGES_INPUT, vision_extractor::GROUP.to_string()),
        (
            topics::PREDICTIONS_OUTPUT,
            vision_recorder::GROUP.to_string(),
        ),
        (topics::IMAGE_FEATURES, vision_recorder::GROUP.to_string()),
        (topics::DEAD_LETTER, vision_recorder::GROUP.to_string()),
    ];
    for head in heads {
        groups.push((topics::IMAGE_FEATURES, vision_classifier::group(head)));
    }
    for (topic, group) in groups {
        // Dropping the subscription leaves the group (and what it has not consumed) in place.
        drop(bus.subscribe(topic, &group).await?);
    }
    Ok(())
}

/// Only the extractor, for a `worker extractor` process.
pub async fn load_extractor(config: &Config) -> anyhow::Result<Arc<ExtractorModel>> {
    let dir = config.models_dir.clone();
    let (runtime, parallelism) = (config.runtime, config.extractor_parallelism());
    tokio::task::spawn_blocking(move || ModelBundle::load_extractor(&dir, runtime, parallelism))
        .await
        .context("model loading panicked")?
        .with_context(|| {
            format!(
                "cannot load the extractor in {}",
                config.models_dir.display()
            )
        })
}

/// Only the head `name`, for a `worker classifier` process.
pub async fn load_head(config: &Config, name: &str) -> anyhow::Result<Arc<ClassifierModel>> {
    let (dir, runtime, head) = (config.models_dir.clone(), config.runtime, name.to_string());
    tokio::task::spawn_blocking(move || ModelBundle::load_classifier(&dir, runtime, &head))
        .await
        .context("model loading panicked")?
        .with_context(|| format!("cannot load head {name} in {}", config.models_dir.display()))
}
