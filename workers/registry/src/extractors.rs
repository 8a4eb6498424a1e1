//! Serving extractors from the registry: an extractor stage runs the production extractor and
//! every other extractor version a served head version is bound to (a shadow or A/B candidate
//! of another descriptor size: 10 or 50 against production's 20), so every head reads the
//! descriptors it was trained on. Promoting another extractor keeps the old one running for as
//! long as heads bound to it are served.
//!
//! An [`ExtractorWatcher`] follows the registry as a [`crate::HeadWatcher`] does: on every alias
//! or traffic-split move of any model (`model-events`) and every `check_every`; new versions are
//! loaded and warmed before the swap, those already loaded are kept.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;
use vision_core::MessageBus;
use vision_core::messages::ModelEvent;
use vision_db::entities::model_versions::{self, ModelRole};
use vision_inference::runtime::Parallelism;
use vision_inference::{ExtractorModel, ServedExtractors};

use crate::serving::RegistryChanges;
use crate::{Registry, RegistryError, Result};

/// The extractor versions to run, as registry rows.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtractorPlan {
    pub production: model_versions::Model,
    /// Bound by a served head version, by label. All take production's input size.
    pub others: Vec<model_versions::Model>,
}

impl ExtractorPlan {
    /// Production's label, then the others'.
    pub fn labels(&self) -> Vec<String> {
        std::iter::once(&self.production)
            .chain(&self.others)
            .map(|v| v.label.clone())
            .collect()
    }
}

impl Registry {
    /// What an extractor stage should run now.
    pub async fn extractor_plan(&self) -> Result<ExtractorPlan> {
        let production = self.production_extractor().await?;
        let mut bound = BTreeSet::new();
        for head in self.head_names().await? {
            let plan = self.head_plan(&head).await?;
            let served = [Some(&plan.production), plan.shadow.as_ref()]
                .into_iter()
                .chain([plan.candidate.as_ref().map(|(c, _)| c)])
                .flatten();
            bound.extend(
                served
                    .filter_map(|v| v.extractor_label.clone())
                    .filter(|label| *label != production.label),
            );
        }
        let versions = self.db.model_versions(None).await?;
        let mut others = Vec::new();
        for label in bound {
            match versions
                .iter()
                .find(|v| v.role == ModelRole::Extractor && v.label == label)
            {
                Some(v) if v.input_size == production.input_size => others.push(v.clone()),
                // One decoded image feeds every version at one size (see `ServedExtractors`).
                Some(v) => tracing::warn!(
                    extractor = %label,
                    size = ?v.input_size,
                    production = ?production.input_size,
                    "a served head reads an extractor of another input size: not run"
                ),
                None => {
                    tracing::warn!(extractor = %label, "a served head reads an extractor the registry does not have")
                }
            }
        }
        Ok(ExtractorPlan { production, others })
    }

    /// Loads an extractor version from its file (checked), `parallelism` passes at once, and
    /// warms it.
    pub async fn load_extractor(
        &self,
        version: &model_versions::Model,
        parallelism: Parallelism,
    ) -> Result<Arc<ExtractorModel>> {
        let session = self.load_session(version, parallelism).await?;
        let side = version.input_size.unwrap_or(1) as usize;
        let model = Arc::new(ExtractorModel::from_session(
            version.label.clone(),
            side as u32,
            version.descriptor_dim as usize,
            session,
        ));
        let warm = model.clone();
        tokio::task::spawn_blocking(move || warm.run_pixels(1, vec![0.0; side * side * 3]))
            .await
            .map_err(|e| RegistryError::InvalidModel(e.to_string()))?
            .map_err(|e| RegistryError::InvalidModel(format!("{} warm-up: {e}", version.label)))?;
        Ok(model)
    }

    /// Loads what `plan` names, keeping the versions `loaded` already holds.
    pub async fn load_extractors(
        &self,
        plan: &ExtractorPlan,
        parallelism: Parallelism,
        loaded: Option<&ServedExtractors>,
    ) -> Result<ServedExtractors> {
        let load = async |version: &model_versions::Model| {
            let kept = loaded
                .into_iter()
                .flat_map(|l| l.all())
                .find(|m| m.version == version.label);
            match kept {
                Some(model) => Ok(model.clone()),
                None => self.load_extractor(version, parallelism).await,
            }
        };
        let production = load(&plan.production).await?;
        let mut others = Vec::with_capacity(plan.others.len());
        for version in &plan.others {
            others.push(load(version).await?);
        }
        Ok(ServedExtractors { production, others })
    }
}

/// Keeps an extractor stage's versions equal to what the registry's served heads read.
pub struct ExtractorWatcher {
    registry: Registry,
    bus: Arc<dyn MessageBus>,
    parallelism: Parallelism,
    served: Arc<ArcSwap<ServedExtractors>>,
    check_every: Duration,
}

impl ExtractorWatcher {
    /// Loads what the registry names now and returns the watcher with the served set it keeps
    /// up to date.
    pub async fn start(
        registry: Registry,
        bus: Arc<dyn MessageBus>,
        parallelism: Parallelism,
        check_every: Duration,
    ) -> Result<Self> {
        let plan = registry.extractor_plan().await?;
        let served = registry.load_extractors(&plan, parallelism, None).await?;
        Ok(Self {
            registry,
            bus,
            parallelism,
            served: Arc::new(ArcSwap::from_pointee(served)),
            check_every,
        })
    }

    /// The served set, for the extractor stage.
    pub fn served(&self) -> Arc<ArcSwap<ServedExtractors>> {
        self.served.clone()
    }

    /// Follows the registry until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut changes = RegistryChanges::start(self.bus.as_ref(), self.check_every).await?;
        // Any head's versions may read another extractor.
        let any_move = |event: &ModelEvent| {
            matches!(
                event,
                ModelEvent::AliasMoved { .. } | ModelEvent::SplitChanged { .. }
            )
        };
        while changes.next(&shutdown, any_move).await {
            if let Err(e) = self.follow().await {
                tracing::warn!(error = %e, "cannot follow the registry; running what ran");
            }
        }
        Ok(())
    }

    /// Swaps to what the registry names, when it differs from what runs.
    async fn follow(&self) -> Result<()> {
        let plan = self.registry.extractor_plan().await?;
        let from = self.served.load().labels();
        if plan.labels() == from {
            return Ok(());
        }
        let current = self.served.load_full();
        let served = self
            .registry
            .load_extractors(&plan, self.parallelism, Some(&current))
            .await?;
        self.served.store(Arc::new(served));
        tracing::info!(?from, to = ?plan.labels(), "extractors now running");
        Ok(())
    }
}
