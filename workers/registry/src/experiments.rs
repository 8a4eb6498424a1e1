//! Experiments (F24): a shadow version compared with production on the live images both
//! scored, and back-testing: any registered head version scored on the stored descriptors of
//! past images, compared with what production answered, before any traffic is shifted (heads
//! cost microseconds and descriptors are kept, so this takes seconds).

use std::time::Instant;

use vision_db::ImageWindow;
use vision_db::entities::model_versions::ModelRole;

use vision_core::messages::{ModelEvent, SCHEMA_VERSION};
use vision_core::topics;

use crate::paired::{self, PairedAnswer, PairedComparison};
use crate::{PRODUCTION, Registry, RegistryError, Result, SHADOW};

/// Images a back-test scores per inference call.
const BACKTEST_BATCH: usize = 4096;

/// A shadow version against production.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowComparison {
    pub model: String,
    /// The shadow version's label.
    pub shadow: String,
    /// A is production (whatever version answered each image), B the shadow.
    pub comparison: PairedComparison,
}

/// An A/B test: the candidate against production on the images both scored (each scores
/// every image; one answers).
#[derive(Debug, Clone, PartialEq)]
pub struct AbComparison {
    pub model: String,
    pub production: String,
    pub candidate: String,
    /// The share of images the candidate answers.
    pub share: f64,
    /// A: production; B: the candidate.
    pub comparison: PairedComparison,
}

/// A registered version scored on past images.
#[derive(Debug, Clone, PartialEq)]
pub struct Backtest {
    pub model: String,
    pub version: i32,
    pub label: String,
    /// A is what production answered, B the version back-tested.
    pub comparison: PairedComparison,
    /// Time to read the descriptors and score them, in seconds.
    pub seconds: f64,
}

fn answers(rows: Vec<vision_db::PairedRow>) -> Vec<PairedAnswer> {
    rows.into_iter()
        .map(|r| PairedAnswer {
            truth: r.label,
            a: r.a_class,
            b: r.b_class,
            a_ms: r.a_ms,
            b_ms: r.b_ms,
        })
        .collect()
}

impl Registry {
    /// Starts (or changes) an A/B test of head `name`: `version` answers `share` of the images
    /// (chosen by the image's content hash, so sticky), production the rest; both score every image.
    pub async fn start_ab(&self, name: &str, version: i32, share: f64, by: &str) -> Result<()> {
        let production = self.db.model_aliases(Some(name)).await?;
        if production
            .iter()
            .any(|a| a.alias == PRODUCTION && a.version == version)
        {
            return Err(RegistryError::InvalidArgument(format!(
                "version {version} of {name} is production: an A/B test needs another version"
            )));
        }
        if !(share > 0.0 && share <= 1.0) {
            return Err(RegistryError::InvalidArgument(format!(
                "the candidate's share is in (0, 1], not {share}"
            )));
        }
        self.db.set_traffic_split(name, version, share, by).await?;
        tracing::info!(name, version, share, by, "A/B test started");
        self.announce_split(name, Some(version), Some(share)).await;
        Ok(())
    }

    /// The A/B test of head `name`, if one runs.
    pub async fn ab_test(
        &self,
        name: &str,
    ) -> Result<Option<vision_db::entities::model_traffic_splits::Model>> {
        Ok(self.db.traffic_split(name).await?)
    }

    /// Stops the A/B test of head `name`; `false` when none ran.
    pub async fn stop_ab(&self, name: &str, by: &str) -> Result<bool> {
        let stopped = self
            .db
            .clear_traffic_split(name, by, "A/B test stopped")
            .await?;
        if stopped {
            tracing::info!(name, by, "A/B test stopped");
            self.announce_split(name, None, None).await;
        }
        Ok(stopped)
    }

    async fn announce_split(&self, name: &str, version: Option<i32>, share: Option<f64>) {
        let Some(bus) = &self.bus else { return };
        let event = ModelEvent::SplitChanged {
            v: SCHEMA_VERSION,
            model: name.to_string(),
            version,
            share,
        };
        if let Err(e) = topics::MODEL_EVENTS
            .publish(bus.as_ref(), name, &event)
            .await
        {
            tracing::warn!(name, error = %e, "A/B change not announced; processes see it at their next check");
        }
    }

    /// The A/B test of `name`: candidate against production on the latest `limit` images both
    /// scored; `None` when none runs.
    pub async fn ab_comparison(&self, name: &str, limit: u64) -> Result<Option<AbComparison>> {
        let Some(split) = self.db.traffic_split(name).await? else {
            return Ok(None);
        };
        let plan = self.head_plan(name).await?;
        let candidate = self
            .db
            .model_version(name, split.version)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("{name} {}", split.version)))?;
        let rows = self
            .db
            .version_pairs(name, &plan.production.label, &candidate.label, limit)
            .await?;
        Ok(Some(AbComparison {
            model: name.to_string(),
            production: plan.production.label,
            candidate: candidate.label,
            share: split.share,
            comparison: paired::compare(&answers(rows)),
        }))
    }

    /// `name`'s shadow version against production on the latest `limit` images both scored;
    /// `None` when the head has no shadow.
    pub async fn shadow_comparison(
        &self,
        name: &str,
        limit: u64,
    ) -> Result<Option<ShadowComparison>> {
        let aliases = self.db.model_aliases(Some(name)).await?;
        let Some(shadow) = aliases.iter().find(|a| a.alias == SHADOW) else {
            return Ok(None);
        };
        let version = self
            .db
            .model_version(name, shadow.version)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("{name} {}", shadow.version)))?;
        let rows = self.db.shadow_pairs(name, &version.label, limit).await?;
        Ok(Some(ShadowComparison {
            model: name.to_string(),
            shadow: version.label,
            comparison: paired::compare(&answers(rows)),
        }))
    }

    /// Scores version `version` of head `name` on the stored descriptors of the past images in
    /// `window` (those its extractor made) and compares it with production's answers there.
    pub async fn backtest(
        &self,
        name: &str,
        version: i32,
        window: &ImageWindow,
    ) -> Result<Backtest> {
        let started = Instant::now();
        let row = self.db.model_version(name, version).await?.ok_or_else(|| {
            RegistryError::NotFound(format!("model {name} has no version {version}"))
        })?;
        if row.role != ModelRole::Classifier {
            return Err(RegistryError::InvalidArgument(format!(
                "{name} is not a head: only heads are back-tested"
            )));
        }
        let extractor = row.extractor_label.clone().unwrap_or_default();
        // Only production's descriptors are stored: a head reading another extractor (another
        // descriptor size) has none to be scored on, unless its extractor was production once.
        let production = self.production_extractor().await?;
        if extractor != production.label && !self.db.has_descriptors_of(&extractor).await? {
            return Err(RegistryError::InvalidArgument(format!(
                "{} reads extractor {extractor}, whose descriptors are not stored (only the \
                 production extractor's are): compare it live, as a shadow or an A/B candidate",
                row.label
            )));
        }
        let stored = self.db.stored_answers(name, &extractor, window).await?;
        let model = self.load_classifier(&row).await?;
        let dim = row.descriptor_dim as usize;
        let scored = tokio::task::spawn_blocking(move || {
            let mut answers = Vec::with_capacity(stored.len());
            for chunk in stored.chunks(BACKTEST_BATCH) {
                let flat: Vec<f32> = chunk
                    .iter()
                    .flat_map(|s| {
                        let mut d = s.descriptors.clone();
                        d.resize(dim, 0.0);
                        d
                    })
                    .collect();
                let timer = Instant::now();
                let classes = model
                    .classify_batch(chunk.len(), flat)
                    .map_err(|e| RegistryError::InvalidModel(e.to_string()))?;
                let per_image = timer.elapsed().as_secs_f64() * 1000.0 / chunk.len() as f64;
                for (s, c) in chunk.iter().zip(classes) {
                    answers.push(PairedAnswer {
                        truth: s.label.clone(),
                        a: s.class.clone(),
                        b: c.class,
                        a_ms: s.inference_ms,
                        b_ms: per_image,
                    });
                }
            }
            Ok::<_, RegistryError>(answers)
        })
        .await
        .map_err(|e| RegistryError::InvalidModel(e.to_string()))??;
        Ok(Backtest {
            model: name.to_string(),
            version,
            label: row.label,
            comparison: paired::compare(&scored),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}
