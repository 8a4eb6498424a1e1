//! Starting the pipeline's stages from the stage table (`vision_core::stage::STAGES`): the
//! one-process mode starts every entry, `vision worker <stage>` one. Each stage gets the
//! services its entry uses and serves the versions the model registry names (a head's
//! `production` and `shadow`; the production extractor and those served heads read), following
//! the registry as it changes.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vision_classifier::ClassifierStage;
use vision_core::stage::{StageKind, StageSpec, table};
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;
use vision_extractor::ExtractorStage;
use vision_recorder::{ExpectedHeads, RecorderStage};
use vision_registry::{ExtractorWatcher, HeadWatcher, Registry};

use super::Tasks;
use crate::config::Config;

/// What the stages of one process are started with.
pub(crate) struct Stages<'a> {
    pub config: &'a Config,
    /// For the stages that serve models.
    pub registry: Option<Registry>,
    pub bus: Arc<dyn MessageBus>,
    /// For the stages that use it (`Dependency::ObjectStore`).
    pub store: Option<Arc<dyn ObjectStore>>,
    /// For the stages that use it (`Dependency::Database`).
    pub db: Option<Db>,
    pub shutdown: &'a CancellationToken,
}

impl Stages<'_> {
    fn registry(&self) -> anyhow::Result<&Registry> {
        self.registry
            .as_ref()
            .context("this stage serves models: it needs the model registry")
    }

    /// Creates every consumer group of the pipeline before any stage runs. The in-memory bus
    /// hands a message only to the groups that exist when it is published (like Kafka with
    /// `auto.offset.reset=latest`), so a stage that subscribes a moment late would otherwise
    /// miss the first messages, among them those recovery sends right away.
    pub async fn declare_groups(&self) -> anyhow::Result<()> {
        let heads = self.registry()?.head_names().await?;
        for (topic, group) in table::consumer_groups(&heads) {
            // Dropping the subscription leaves the group (and what it has not consumed) in place.
            drop(self.bus.subscribe(topic, &group).await?);
        }
        Ok(())
    }

    /// Loads the models of `spec`'s stage and starts it in `tasks`: for a stage per head, one
    /// instance per head of `heads` (every head in production when empty), each with the
    /// watcher that swaps its versions when the registry changes. The recorder first re-sends
    /// the images an earlier run left incomplete.
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
                let watcher = ExtractorWatcher::start(
                    self.registry()?.clone(),
                    self.bus.clone(),
                    self.config.extractor_parallelism(),
                    self.config.model_check(),
                )
                .await
                .context("cannot load the production extractor")?;
                let mut stage = ExtractorStage::serving(
                    self.bus.clone(),
                    store,
                    watcher.served(),
                    self.config.image_limits(),
                )
                .with_batching(self.config.batching());
                if let Some(cache) = super::descriptor_cache(self.config).await {
                    stage = stage.with_cache(cache);
                }
                let name = spec.instance(None);
                tasks.spawn(async move { (name, stage.run(stop.clone()).await) });
                let watch_stop = self.shutdown.clone();
                let name = format!("{} registry watcher", spec.instance(None));
                tasks.spawn(async move { (name, watcher.run(watch_stop).await) });
            }
            StageKind::Classifier => {
                let registry = self.registry()?;
                let heads = match heads {
                    [] => registry.head_names().await?,
                    some => some.to_vec(),
                };
                for head in heads {
                    let instance = spec.instance(Some(&head));
                    let watcher = HeadWatcher::start(
                        registry.clone(),
                        self.bus.clone(),
                        &head,
                        &instance,
                        &self.config.replica_name(),
                        self.config.model_check(),
                    )
                    .await
                    .with_context(|| format!("cannot load head {head} from the registry"))?;
                    let stage = ClassifierStage::new(self.bus.clone(), head, watcher.served());
                    let (name, stage_stop) = (instance.clone(), stop.clone());
                    tasks.spawn(async move { (name, stage.run(stage_stop).await) });
                    let (name, watch_stop) = (format!("{instance} registry watcher"), stop.clone());
                    tasks.spawn(async move { (name, watcher.run(watch_stop).await) });
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
                let stage = RecorderStage::new(self.bus.clone(), db, ExpectedHeads::Registry);
                let name = spec.instance(None);
                tasks.spawn(async move { (name, stage.run(stop).await) });
            }
        }
        Ok(())
    }
}
