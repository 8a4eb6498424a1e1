//! Serving from the registry (F21): a process loads the versions the registry's aliases name
//! (a head's `production`, and its `shadow` when one is set; the extractors: see `extractors`) from
//! their files in the object store, checked against their sha256, and keeps a head's served
//! versions equal to the registry's without a restart.
//!
//! A [`HeadWatcher`] looks at the registry (the source of truth) whenever an alias of its head
//! moves (`model-events`, which every process reads live) and every `check_every` (so a replica
//! that missed the event, or restarted, converges). New versions are loaded and warmed before
//! the swap (never unload before load); the swap replaces the served set at once, and an image
//! already being scored finishes on the versions it started with. After its start, after every
//! swap and at every periodic check, a replica says what it serves (`ModelEvent::Serving`).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use vision_core::messages::{ModelEvent, SCHEMA_VERSION};
use vision_core::{MessageBus, topics};
use vision_db::entities::model_versions::{self, ModelRole};
use vision_inference::runtime::{self, Parallelism};
use vision_inference::{ClassifierModel, ServedHead, ServedLabels};

use crate::{PRODUCTION, Registry, RegistryError, Result, SHADOW};

/// The versions a head should serve, as registry rows.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadPlan {
    pub production: model_versions::Model,
    pub shadow: Option<model_versions::Model>,
    /// An A/B candidate and the share of images it answers.
    pub candidate: Option<(model_versions::Model, f64)>,
}

impl HeadPlan {
    fn labels(&self) -> ServedLabels {
        ServedLabels {
            production: self.production.label.clone(),
            shadow: self.shadow.as_ref().map(|s| s.label.clone()),
            candidate: self
                .candidate
                .as_ref()
                .map(|(c, share)| (c.label.clone(), (share * 1e6).round() as u32)),
        }
    }
}

impl Registry {
    /// The classifiers with a production version, by name.
    pub async fn head_names(&self) -> Result<Vec<String>> {
        Ok(self
            .db
            .aliased_versions(PRODUCTION)
            .await?
            .into_iter()
            .filter(|v| v.role == ModelRole::Classifier)
            .map(|v| v.name)
            .collect())
    }

    /// What head `name` should serve now.
    pub async fn head_plan(&self, name: &str) -> Result<HeadPlan> {
        let aliases = self.db.model_aliases(Some(name)).await?;
        let version_of = |alias: &str| aliases.iter().find(|a| a.alias == alias).map(|a| a.version);
        let production = version_of(PRODUCTION)
            .ok_or_else(|| RegistryError::NotFound(format!("{name} has no production version")))?;
        let row = |version| async move {
            self.db
                .model_version(name, version)
                .await?
                .ok_or_else(|| RegistryError::NotFound(format!("{name} has no version {version}")))
        };
        let production = row(production).await?;
        let shadow = match version_of(SHADOW) {
            Some(v) if v != production.version => Some(row(v).await?),
            _ => None,
        };
        let candidate = match self.db.traffic_split(name).await? {
            Some(split) if split.version != production.version => {
                Some((row(split.version).await?, split.share))
            }
            _ => None,
        };
        Ok(HeadPlan {
            production,
            shadow,
            candidate,
        })
    }

    /// Loads a classifier version from its file (checked), on one thread, and warms it.
    pub async fn load_classifier(
        &self,
        version: &model_versions::Model,
    ) -> Result<Arc<ClassifierModel>> {
        let session = self.load_session(version, Parallelism::threads(1)).await?;
        let classes: Vec<String> = version
            .classes
            .clone()
            .and_then(|c| serde_json::from_value(c).ok())
            .unwrap_or_else(|| self.classes.to_vec());
        let model = ClassifierModel::from_session(
            version.name.clone(),
            version.label.clone(),
            classes,
            session,
        )
        .bound_to(version.extractor_label.clone());
        let dim = version.descriptor_dim as usize;
        let model = Arc::new(model);
        let warm = model.clone();
        tokio::task::spawn_blocking(move || warm.classify(&vec![0.0; dim]))
            .await
            .map_err(|e| RegistryError::InvalidModel(e.to_string()))?
            .map_err(|e| RegistryError::InvalidModel(format!("{} warm-up: {e}", version.label)))?;
        Ok(model)
    }

    pub(crate) async fn load_session(
        &self,
        version: &model_versions::Model,
        parallelism: Parallelism,
    ) -> Result<Arc<dyn runtime::Session>> {
        let bytes = self.artifact(version).await?;
        let kind = self.runtime;
        let label = version.label.clone();
        tokio::task::spawn_blocking(move || {
            let mut file = tempfile::NamedTempFile::new()?;
            file.write_all(&bytes)?;
            runtime::load(file.path(), kind, parallelism)
                .map_err(|e| std::io::Error::other(format!("{label}: {e}")))
        })
        .await
        .map_err(|e| RegistryError::InvalidModel(e.to_string()))?
        .map_err(|e| RegistryError::InvalidModel(e.to_string()))
    }

    /// Loads what `plan` names.
    pub async fn load_head(&self, plan: &HeadPlan) -> Result<ServedHead> {
        let production = self.load_classifier(&plan.production).await?;
        let shadow = match &plan.shadow {
            Some(shadow) => Some(self.load_classifier(shadow).await?),
            None => None,
        };
        let candidate = match &plan.candidate {
            Some((candidate, share)) => Some((self.load_classifier(candidate).await?, *share)),
            None => None,
        };
        Ok(ServedHead {
            production,
            shadow,
            candidate,
        })
    }
}

/// Keeps one head's served versions equal to the registry's (see the module docs).
pub struct HeadWatcher {
    registry: Registry,
    bus: Arc<dyn MessageBus>,
    head: String,
    /// The stage instance (`classifier-fast`) and this replica's name, for `Serving` events.
    stage: String,
    replica: String,
    served: Arc<ArcSwap<ServedHead>>,
    check_every: Duration,
}

/// How long a head waits for the registry to name its production version at start (another
/// process may still be importing the bundle).
const FIRST_PLAN_WAIT: Duration = Duration::from_secs(120);

impl HeadWatcher {
    /// Loads what the registry names for `head` (waiting for it to name a production version)
    /// and returns the watcher with the served set it keeps up to date.
    pub async fn start(
        registry: Registry,
        bus: Arc<dyn MessageBus>,
        head: &str,
        stage: &str,
        replica: &str,
        check_every: Duration,
    ) -> Result<Self> {
        let deadline = tokio::time::Instant::now() + FIRST_PLAN_WAIT;
        let plan = loop {
            match registry.head_plan(head).await {
                Ok(plan) => break plan,
                Err(RegistryError::NotFound(reason)) if tokio::time::Instant::now() < deadline => {
                    tracing::info!(head, reason, "waiting for the registry to name a version");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let served = registry.load_head(&plan).await?;
        let watcher = Self {
            registry,
            bus,
            head: head.to_string(),
            stage: stage.to_string(),
            replica: replica.to_string(),
            served: Arc::new(ArcSwap::from_pointee(served)),
            check_every,
        };
        watcher.announce().await;
        Ok(watcher)
    }

    /// The served set, for the head's stage.
    pub fn served(&self) -> Arc<ArcSwap<ServedHead>> {
        self.served.clone()
    }

    /// Follows the registry until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut changes = RegistryChanges::start(self.bus.as_ref(), self.check_every).await?;
        let mine = |event: &ModelEvent| {
            matches!(event, ModelEvent::AliasMoved { model, .. } | ModelEvent::SplitChanged { model, .. }
                if *model == self.head)
        };
        while changes.next(&shutdown, mine).await {
            if let Err(e) = self.follow().await {
                tracing::warn!(head = %self.head, error = %e, "cannot follow the registry; serving what it served");
            }
            // Also when nothing changed: a gateway that started since learns what is served.
            self.announce().await;
        }
        Ok(())
    }

    /// Swaps to what the registry names, when it differs from what is served.
    async fn follow(&self) -> Result<()> {
        let plan = self.registry.head_plan(&self.head).await?;
        if plan.labels() == self.served.load().labels() {
            return Ok(());
        }
        let from = self.served.load().labels();
        let served = self.registry.load_head(&plan).await?;
        self.served.store(Arc::new(served));
        tracing::info!(head = %self.head, ?from, to = ?plan.labels(), "now serving");
        Ok(())
    }

    /// Says what this replica serves (best effort: the rollout view, not the pipeline).
    async fn announce(&self) {
        let served = self.served.load();
        let labels = served.labels();
        let event = ModelEvent::Serving {
            v: SCHEMA_VERSION,
            replica: self.replica.clone(),
            stage: self.stage.clone(),
            model: self.head.clone(),
            production: labels.production,
            shadow: labels.shadow,
            candidate: labels.candidate.map(|(label, _)| label),
            share: served.candidate.as_ref().map(|(_, share)| *share),
            at: chrono::Utc::now(),
        };
        if let Err(e) = topics::MODEL_EVENTS
            .publish(self.bus.as_ref(), &self.head, &event)
            .await
        {
            tracing::warn!(head = %self.head, error = %e, "cannot say what this replica serves");
        }
    }
}

/// When a watcher looks at the registry again: on a model event it cares about (read live from
/// `model-events`), and every `check_every` whatever happened.
pub(crate) struct RegistryChanges {
    events: vision_core::Subscription,
    ticks: tokio::time::Interval,
}

impl RegistryChanges {
    pub(crate) async fn start(bus: &dyn MessageBus, check_every: Duration) -> anyhow::Result<Self> {
        let events = bus.subscribe_live(topics::MODEL_EVENTS.name()).await?;
        let mut ticks = tokio::time::interval(check_every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Self { events, ticks })
    }

    /// Waits for the next tick or event `wanted` accepts: `false` once `shutdown` fires or
    /// the events end.
    pub(crate) async fn next(
        &mut self,
        shutdown: &CancellationToken,
        wanted: impl Fn(&ModelEvent) -> bool,
    ) -> bool {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = self.ticks.tick() => return true,
                delivery = self.events.next() => {
                    let Some(delivery) = delivery else { return false };
                    let event = vision_core::messages::decode::<ModelEvent>(&delivery.payload);
                    let _ = delivery.ack();
                    if event.is_ok_and(|e| wanted(&e)) {
                        return true;
                    }
                }
            }
        }
    }
}
