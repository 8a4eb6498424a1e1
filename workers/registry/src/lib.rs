//! The model registry (F20): model versions in the database, their ONNX files in the object
//! store (`models/<name>/<version>.onnx`), aliases that point at versions (`production`,
//! `staging`, `archived`, or any name, as MLflow 2.9+ does) with an append-only history.
//!
//! - [`Registry::register`] checks a model before anything is stored ([`validate`]): a refusal
//!   leaves no row and no object.
//! - [`Registry::promote`], [`Registry::rollback`], [`Registry::archive`] move aliases.
//! - [`Registry::import_bundle`] registers the shipped bundle as version 1 of each model on a
//!   first start (the bundle in `models/` stays the offline default).

mod experiments;
mod extractors;
mod import;
pub mod paired;
mod serving;
pub mod validate;

use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use vision_core::messages::{ModelEvent, SCHEMA_VERSION};
use vision_core::objects::StoreError;
use vision_core::{MessageBus, ObjectStore, topics};
use vision_db::entities::model_versions::{self, ModelRole};
use vision_db::entities::{model_alias_history, model_aliases};
use vision_db::{AliasChange, Db, DbError, NewModelVersion};
use vision_inference::RuntimeKind;

pub use experiments::{AbComparison, Backtest, ShadowComparison};
pub use extractors::{ExtractorPlan, ExtractorWatcher};
pub use import::import_bundle;
pub use serving::{HeadPlan, HeadWatcher};
pub use validate::{Checked, Expected};

pub use vision_db::entities::model_alias_history::MoveKind;
pub use vision_db::{AB, ARCHIVED, PRODUCTION, SHADOW, STAGING};

/// Why the registry refused something. Each maps to a stable API code.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Not a model the runtime can run (`INVALID_MODEL`).
    #[error("invalid model: {0}")]
    InvalidModel(String),
    /// Its shapes do not fit its role, its extractor or the classes (`SHAPE_MISMATCH`).
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// The label is taken for this model (`VERSION_EXISTS`).
    #[error("{0}")]
    VersionExists(String),
    /// Over the size limit (`MODEL_TOO_LARGE`).
    #[error("the model is {size} bytes, the limit is {limit}")]
    TooLarge { size: usize, limit: usize },
    /// A name, label or alias that is not a short identifier, a head registered with another
    /// role, or a classes list that is not the platform's (`INVALID_ARGUMENT`).
    #[error("{0}")]
    InvalidArgument(String),
    /// No such model, version or alias (`NOT_FOUND`).
    #[error("{0}")]
    NotFound(String),
    /// The artifact store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
}

impl From<DbError> for RegistryError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Conflict(message) => RegistryError::VersionExists(message),
            DbError::UnknownModelVersion { name, version } => {
                RegistryError::NotFound(format!("model {name} has no version {version}"))
            }
            other => RegistryError::Db(other),
        }
    }
}

pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// A model to register.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub role: ModelRole,
    pub bytes: Bytes,
    /// The version string predictions will carry; `{name}-v{number}` when `None`.
    pub label: Option<String>,
    /// A head's extractor (its label); the production extractor's when `None`.
    pub extractor_label: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub card: Option<serde_json::Value>,
    pub lineage: Option<serde_json::Value>,
    pub registered_by: String,
}

/// Limits of registrations.
#[derive(Debug, Clone, Copy)]
pub struct RegistryLimits {
    /// Largest ONNX file accepted.
    pub max_model_bytes: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        // The shipped extractor is 13.5 MB.
        Self {
            max_model_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The registry service. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    db: Db,
    store: Arc<dyn ObjectStore>,
    runtime: RuntimeKind,
    /// The class names every head must predict, in order (the platform's).
    classes: Arc<[String]>,
    limits: RegistryLimits,
    /// Where alias moves are announced (`model-events`), when set.
    bus: Option<Arc<dyn MessageBus>>,
}

impl Registry {
    pub fn new(
        db: Db,
        store: Arc<dyn ObjectStore>,
        runtime: RuntimeKind,
        classes: Arc<[String]>,
    ) -> Self {
        Self {
            db,
            store,
            runtime,
            classes,
            limits: RegistryLimits::default(),
            bus: None,
        }
    }

    /// Announces every alias move on `bus` (`model-events`), so serving processes swap at once
    /// rather than at their next periodic check.
    pub fn with_bus(mut self, bus: Arc<dyn MessageBus>) -> Self {
        self.bus = Some(bus);
        self
    }

    pub fn with_limits(mut self, limits: RegistryLimits) -> Self {
        self.limits = limits;
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Checks and registers a model as its next version: the row, then the file in the object
    /// store (the row is removed again when the file cannot be stored). Nothing is stored when
    /// a check fails.
    pub async fn register(&self, registration: Registration) -> Result<model_versions::Model> {
        check_identifier("model name", &registration.name)?;
        if let Some(label) = &registration.label {
            check_identifier("version label", label)?;
        }
        let size = registration.bytes.len();
        if size > self.limits.max_model_bytes {
            return Err(RegistryError::TooLarge {
                size,
                limit: self.limits.max_model_bytes,
            });
        }
        if let Some(existing) = self
            .db
            .model_versions(Some(&registration.name))
            .await?
            .first()
            && existing.role != registration.role
        {
            return Err(RegistryError::InvalidArgument(format!(
                "{} is registered as {:?}, not {:?}",
                registration.name, existing.role, registration.role
            )));
        }
        let (expected, extractor_label) = self.expectation(&registration).await?;
        let bytes = registration.bytes.clone();
        let runtime = self.runtime;
        let checked = {
            let expected = expected.clone();
            tokio::task::spawn_blocking(move || validate::check(&bytes, &expected, runtime))
                .await
                .map_err(|e| RegistryError::InvalidModel(format!("the check panicked: {e}")))??
        };
        let new = NewModelVersion {
            name: registration.name.clone(),
            label: registration.label.clone(),
            role: registration.role,
            sha256: hex::encode(Sha256::digest(&registration.bytes)),
            size_bytes: size as i64,
            input_shape: checked.signature.input.clone(),
            output_shape: checked.signature.output.clone(),
            descriptor_dim: checked.descriptor_dim as i32,
            input_size: checked.input_size.map(|s| s as i32),
            classes: matches!(expected, Expected::Classifier { .. }).then(|| self.classes.to_vec()),
            extractor_label,
            metrics: registration.metrics,
            card: registration.card,
            lineage: registration.lineage,
            registered_by: registration.registered_by,
        };
        let row = self.db.register_model_version(new).await?;
        if let Err(e) = self
            .store
            .put(
                &row.artifact_key,
                registration.bytes,
                "application/octet-stream",
            )
            .await
        {
            // Leave no row without its file.
            if let Err(undo) = self.db.delete_model_version(&row.name, row.version).await {
                tracing::error!(name = %row.name, version = row.version, error = %undo, "cannot remove the row of a version whose file was not stored");
            }
            return Err(e.into());
        }
        tracing::info!(name = %row.name, version = row.version, label = %row.label, "model version registered");
        Ok(row)
    }

    /// What a registration must fit, and the extractor a head is bound to.
    async fn expectation(&self, registration: &Registration) -> Result<(Expected, Option<String>)> {
        match registration.role {
            ModelRole::Extractor => Ok((Expected::Extractor, None)),
            ModelRole::Classifier => {
                let extractor = match &registration.extractor_label {
                    Some(label) => self
                        .db
                        .model_versions(None)
                        .await?
                        .into_iter()
                        .find(|v| v.role == ModelRole::Extractor && &v.label == label)
                        .ok_or_else(|| {
                            RegistryError::NotFound(format!(
                                "no extractor version labelled {label}"
                            ))
                        })?,
                    None => self.production_extractor().await?,
                };
                Ok((
                    Expected::Classifier {
                        descriptor_dim: extractor.descriptor_dim as usize,
                        classes: self.classes.len(),
                    },
                    Some(extractor.label),
                ))
            }
        }
    }

    /// The extractor version `production` points at.
    pub async fn production_extractor(&self) -> Result<model_versions::Model> {
        let aliases = self.db.model_aliases(None).await?;
        let versions = self.db.model_versions(None).await?;
        aliases
            .iter()
            .filter(|a| a.alias == PRODUCTION)
            .find_map(|a| {
                versions.iter().find(|v| {
                    v.name == a.name && v.version == a.version && v.role == ModelRole::Extractor
                })
            })
            .cloned()
            .ok_or_else(|| RegistryError::NotFound("no extractor is in production".into()))
    }

    /// Every version (of `name` when given).
    pub async fn versions(&self, name: Option<&str>) -> Result<Vec<model_versions::Model>> {
        Ok(self.db.model_versions(name).await?)
    }

    /// The versions `alias` points at, one per model that has it, by name.
    pub async fn aliased(&self, alias: &str) -> Result<Vec<model_versions::Model>> {
        Ok(self.db.aliased_versions(alias).await?)
    }

    /// Every alias (of `name` when given).
    pub async fn aliases(&self, name: Option<&str>) -> Result<Vec<model_aliases::Model>> {
        Ok(self.db.model_aliases(name).await?)
    }

    /// The moves of `alias` (every alias when `None`) of `name`, newest first.
    pub async fn history(
        &self,
        name: &str,
        alias: Option<&str>,
    ) -> Result<Vec<model_alias_history::Model>> {
        Ok(self.db.alias_history(name, alias).await?)
    }

    /// Points `alias` of `name` at `version` (removes it when `None`). `production` cannot be
    /// removed (a head without it answers nothing); `ab` is not an alias (see
    /// [`Registry::start_ab`]).
    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: Option<i32>,
        by: &str,
        reason: Option<&str>,
    ) -> Result<AliasChange> {
        self.move_alias(name, alias, version, by, reason, MoveKind::Set)
            .await
    }

    async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: Option<i32>,
        by: &str,
        reason: Option<&str>,
        kind: MoveKind,
    ) -> Result<AliasChange> {
        check_identifier("alias", alias)?;
        if alias == PRODUCTION && version.is_none() {
            return Err(RegistryError::InvalidArgument(format!(
                "{name}'s production version cannot be removed: promote another version"
            )));
        }
        if alias == AB {
            return Err(RegistryError::InvalidArgument(
                "`ab` is not an alias: start an A/B test instead".into(),
            ));
        }
        let change = self
            .db
            .move_alias(name, alias, version, by, reason, kind)
            .await?;
        if change.changed() {
            tracing::info!(name, alias, previous = ?change.previous, version = ?change.current, by, "alias moved");
            self.announce(&change).await;
        }
        Ok(change)
    }

    /// Tells serving processes that an alias moved. Best effort: the move is in the database,
    /// which every process also checks periodically.
    async fn announce(&self, change: &AliasChange) {
        let Some(bus) = &self.bus else { return };
        let event = ModelEvent::AliasMoved {
            v: SCHEMA_VERSION,
            model: change.name.clone(),
            alias: change.alias.clone(),
            version: change.current,
            previous: change.previous,
        };
        if let Err(e) = topics::MODEL_EVENTS
            .publish(bus.as_ref(), &change.name, &event)
            .await
        {
            tracing::warn!(name = %change.name, error = %e, "alias move not announced; processes see it at their next check");
        }
    }

    /// Makes `version` of `name` the one that answers.
    pub async fn promote(
        &self,
        name: &str,
        version: i32,
        by: &str,
        reason: Option<&str>,
    ) -> Result<AliasChange> {
        let change = self
            .set_alias(name, PRODUCTION, Some(version), by, reason)
            .await?;
        // A version promoted from staging, from the archive or from an A/B test is no longer
        // being tried nor archived.
        for alias in self.db.model_aliases(Some(name)).await? {
            if alias.version == version && [STAGING, ARCHIVED].contains(&alias.alias.as_str()) {
                self.set_alias(name, &alias.alias, None, by, Some("promoted"))
                    .await?;
            }
        }
        self.stop_ab_of(name, version, by).await?;
        Ok(change)
    }

    /// Undoes the last forward move of `production` of `name` that is not undone yet: its
    /// history is a stack (promote 1 -> 2 -> 3, then rollback goes to 2, and again to 1).
    pub async fn rollback(
        &self,
        name: &str,
        by: &str,
        reason: Option<&str>,
    ) -> Result<AliasChange> {
        let mut history = self.db.alias_history(name, Some(PRODUCTION)).await?;
        history.reverse();
        let mut undo: Vec<i32> = Vec::new();
        for moved in &history {
            match moved.kind {
                MoveKind::Rollback => {
                    undo.pop();
                }
                _ => undo.extend(moved.previous_version),
            }
        }
        let Some(target) = undo.pop() else {
            return Err(RegistryError::NotFound(format!(
                "{name} has no earlier production version to roll back to"
            )));
        };
        self.move_alias(
            name,
            PRODUCTION,
            Some(target),
            by,
            reason,
            MoveKind::Rollback,
        )
        .await
    }

    /// Takes `version` of `name` out of service: the aliases that point at it go, and
    /// `archived` points at it. The production version cannot be archived (promote another
    /// first).
    pub async fn archive(
        &self,
        name: &str,
        version: i32,
        by: &str,
        reason: Option<&str>,
    ) -> Result<AliasChange> {
        let aliases = self.db.model_aliases(Some(name)).await?;
        if aliases
            .iter()
            .any(|a| a.alias == PRODUCTION && a.version == version)
        {
            return Err(RegistryError::InvalidArgument(format!(
                "version {version} of {name} is in production: promote another version first"
            )));
        }
        for alias in aliases.iter().filter(|a| a.version == version) {
            self.set_alias(name, &alias.alias, None, by, Some("archived"))
                .await?;
        }
        // An archived version answers nothing: an A/B test of it stops.
        self.stop_ab_of(name, version, by).await?;
        self.set_alias(name, ARCHIVED, Some(version), by, reason)
            .await
    }

    /// Stops the A/B test of `name` if `version` is its candidate.
    async fn stop_ab_of(&self, name: &str, version: i32, by: &str) -> Result<()> {
        let split = self.db.traffic_split(name).await?;
        if split.is_some_and(|split| split.version == version) {
            self.stop_ab(name, by).await?;
        }
        Ok(())
    }

    /// The version `production` of `name` pointed at, at `at`.
    pub async fn production_at(&self, name: &str, at: DateTime<Utc>) -> Result<Option<i32>> {
        Ok(self.db.alias_at(name, PRODUCTION, at).await?)
    }

    /// The ONNX file of a version, checked against its recorded checksum.
    pub async fn artifact(&self, version: &model_versions::Model) -> Result<Bytes> {
        let bytes = self.store.get(&version.artifact_key).await?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != version.sha256 {
            return Err(RegistryError::InvalidModel(format!(
                "{} version {}: the stored file's sha256 is {actual}, the registry records {}",
                version.name, version.version, version.sha256
            )));
        }
        Ok(bytes)
    }
}

/// Names, labels and aliases are short identifiers: they go into object keys, metric labels and
/// consumer-group names.
fn check_identifier(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !value.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(RegistryError::InvalidArgument(format!(
            "{what} {value:?} must be 1 to 64 letters, digits or -_. characters"
        )))
    }
}
