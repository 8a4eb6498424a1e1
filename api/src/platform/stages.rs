//! Starting the pipeline's stages from the stage table (`vision_core::stage::STAGES`): the
//! one-process mode starts every entry, `vision worker <stage>` one. Each stage gets the
//! services its entry uses and the models it serves, read from the bundle's manifest.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vision_classifier::ClassifierStage;
use vision_core::stage::{StageKind, StageSpec, table};
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;
use vision_extractor::ExtractorStage;
use vision_inference::{ClassifierModel, ExtractorModel, Manifest, ModelBundle};
use vision_recorder::{HeadVersion, RecorderStage};

use super::Tasks;
use crate::config::Config;

/// What the stages of one process are started with.
pub(crate) struct Stages<'a> {
    pub config: &'a Config,
    pub manifest: &'a Manifest,
    pub bus: Arc<dyn MessageBus>,
    /// For the stages that use it (`Dependency::ObjectStore`).
    pub store: Option<Arc<dyn ObjectStore>>,
    /// For the stages that use it (`Dependency::Database`).
    pub db: Option<Db>,
    pub shutdown: &'a CancellationToken,
}

impl Stages<'_> {
    /// Creates every consumer group of the pipeline before any stage runs. The in-memory bus
    /// hands a message only to the groups that exist when it is published (like Kafka with
    /// `auto.offset.reset=latest`), so a stage that subscribes a moment late would otherwise
    /// miss the first messages, among them those recovery sends right away.
    pub async fn declare_groups(&self) -> anyhow::Result<()> {
        for (topic, group) in table::consumer_groups(&self.manifest.head_names()) {
            // Dropping the subscription leaves the group (and what it has not consumed) in place.
            drop(self.bus.subscribe(topic, &group).await?);
        }
        Ok(())
    }

    /// Loads the models of `spec`'s stage and starts it in `tasks`: for a stage per head, one
    /// instance per head of `heads` (every head of the bundle when empty). The recorder first
    /// re-sends the images an earlier run left incomplete.
    pub async fn launch(
        &self,
        spec: &StageSpec,
        heads: &[String],
        tasks: &mut Tasks,
    ) -> anyhow::Result<()> {
        let stop = self.shutdown.clone();
        match spec.kind {
            StageKind::Extractor => {
                let store = self
                    .store
                    .clone()
                    .context("the extractor needs an object store")?;
                let model = load_extractor(self.config).await?;
                let mut stage =
                    ExtractorStage::new(self.bus.clone(), store, model, self.config.image_limits())
                        .with_batching(self.config.batching());
                if let Some(cache) = super::descriptor_cache(self.config).await {
                    stage = stage.with_cache(cache);
                }
                let name = spec.instance(None);
                tasks.spawn(async move { (name, stage.run(stop).await) });
            }
            StageKind::Classifier => {
                let all = self.manifest.head_names();
                let heads = if heads.is_empty() { &all } else { heads };
                for head in heads {
                    let versions = load_head(self.config, head).await?;
                    let stage = ClassifierStage::new(self.bus.clone(), head.clone(), versions);
                    let (name, stop) = (spec.instance(Some(head)), stop.clone());
                    tasks.spawn(async move { (name, stage.run(stop).await) });
                }
            }
            StageKind::Recorder => {
                let db = self.db.clone().context("the recorder needs a database")?;
                let resent = vision_recorder::recover(&db, self.bus.as_ref())
                    .await
                    .context("cannot recover incomplete images")?;
                if resent > 0 {
                    tracing::info!(resent, "incomplete images from an earlier run requeued");
                }
                let stage = RecorderStage::new(self.bus.clone(), db, served_heads(self.manifest));
                let name = spec.instance(None);
                tasks.spawn(async move { (name, stage.run(stop).await) });
            }
        }
        Ok(())
    }
}

/// Every (head, version) of the bundle: an image is complete once each has answered.
pub(crate) fn served_heads(manifest: &Manifest) -> Vec<HeadVersion> {
    manifest
        .classifiers
        .iter()
        .map(|c| HeadVersion::new(&c.name, &c.version))
        .collect()
}

/// The extractor of the bundle (checksum verified), loaded off the async workers.
async fn load_extractor(config: &Config) -> anyhow::Result<Arc<ExtractorModel>> {
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

/// Every version of head `name` (checksums verified).
async fn load_head(config: &Config, name: &str) -> anyhow::Result<Vec<Arc<ClassifierModel>>> {
    let (dir, runtime, head) = (config.models_dir.clone(), config.runtime, name.to_string());
    tokio::task::spawn_blocking(move || ModelBundle::load_head(&dir, runtime, &head))
        .await
        .context("model loading panicked")?
        .with_context(|| format!("cannot load head {name} in {}", config.models_dir.display()))
}
