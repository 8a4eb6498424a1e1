//! The model registry (F20): versions, aliases and the alias history.
//!
//! A version is immutable once registered. An alias (`production`, `staging`, `archived`, or any
//! name) points at one version of a model; every move of an alias is appended to its history,
//! so [`Db::alias_at`] answers "which version did `production` point at at 14:00".

use sea_orm::sea_query::{Expr, Func, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use crate::entities::model_alias_history::MoveKind;
use crate::entities::model_versions::ModelRole;
use crate::entities::{model_alias_history, model_aliases, model_traffic_splits, model_versions};
use crate::{DateTimeUtc, Db, DbError, Result, now};

/// The alias of the version that answers.
pub const PRODUCTION: &str = "production";
/// The alias of a version being tried.
pub const STAGING: &str = "staging";
/// The alias of the version last taken out of service.
pub const ARCHIVED: &str = "archived";
/// The alias of a version that scores every image beside production, its predictions stored
/// and flagged, never the answer.
pub const SHADOW: &str = "shadow";
/// The history's name for a head's A/B test (its candidate), not an alias one can set.
pub const AB: &str = "ab";

/// Times an alias move is tried again while SQLite is busy with other writers.
const BUSY_TRIES: usize = 20;

/// SQLite's "database is locked" (`SQLITE_BUSY`, also its `_SNAPSHOT` variant).
fn is_busy(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string();
    text.contains("database is locked")
        || text.contains("(code: 5)")
        || text.contains("(code: 517)")
}

/// Registrations tried again when another one took the same version number meanwhile.
const NUMBER_RACES: usize = 5;

/// A version to register; its number is the model's next one.
#[derive(Clone, Debug, PartialEq)]
pub struct NewModelVersion {
    pub name: String,
    /// The version string predictions will carry; `{name}-v{number}` when `None`.
    pub label: Option<String>,
    pub role: ModelRole,
    pub sha256: String,
    pub size_bytes: i64,
    pub input_shape: Vec<Option<i64>>,
    pub output_shape: Vec<Option<i64>>,
    pub descriptor_dim: i32,
    pub input_size: Option<i32>,
    pub classes: Option<Vec<String>>,
    pub extractor_label: Option<String>,
    pub metrics: Option<Value>,
    pub card: Option<Value>,
    pub lineage: Option<Value>,
    pub registered_by: String,
}

/// Where a version's ONNX file is kept in the object store.
pub fn artifact_key(name: &str, version: i32) -> String {
    format!("models/{name}/{version}.onnx")
}

/// What [`Db::set_alias`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasChange {
    pub name: String,
    pub alias: String,
    pub previous: Option<i32>,
    pub current: Option<i32>,
}

impl AliasChange {
    /// Whether the alias moved (setting it to where it was changes nothing).
    pub fn changed(&self) -> bool {
        self.previous != self.current
    }
}

impl Db {
    /// Registers the next version of `new.name` (one more than its highest, 1 for a new model).
    /// [`DbError::Conflict`] when the label is taken for this name.
    pub async fn register_model_version(
        &self,
        new: NewModelVersion,
    ) -> Result<model_versions::Model> {
        use model_versions::Column as V;
        for _ in 0..NUMBER_RACES {
            let highest: Option<i32> = model_versions::Entity::find()
                .select_only()
                .expr(Func::max(Expr::col(V::Version)))
                .filter(V::Name.eq(new.name.as_str()))
                .into_tuple::<Option<i32>>()
                .one(&self.conn)
                .await?
                .flatten();
            let version = highest.unwrap_or(0) + 1;
            let label = new
                .label
                .clone()
                .unwrap_or_else(|| format!("{}-v{version}", new.name));
            let taken = model_versions::Entity::find()
                .filter(V::Name.eq(new.name.as_str()))
                .filter(V::Label.eq(label.as_str()))
                .one(&self.conn)
                .await?;
            if taken.is_some() {
                return Err(DbError::Conflict(format!(
                    "{} already has a version labelled {label}",
                    new.name
                )));
            }
            let row = model_versions::Model {
                id: Uuid::new_v4(),
                name: new.name.clone(),
                version,
                label,
                role: new.role,
                sha256: new.sha256.clone(),
                size_bytes: new.size_bytes,
                artifact_key: artifact_key(&new.name, version),
                input_shape: serde_json::to_value(&new.input_shape).unwrap_or_default(),
                output_shape: serde_json::to_value(&new.output_shape).unwrap_or_default(),
                descriptor_dim: new.descriptor_dim,
                input_size: new.input_size,
                classes: new.classes.as_ref().map(|c| serde_json::json!(c)),
                extractor_label: new.extractor_label.clone(),
                metrics: new.metrics.clone(),
                card: new.card.clone(),
                lineage: new.lineage.clone(),
                registered_by: new.registered_by.clone(),
                registered_at: now(),
            };
            let am: model_versions::ActiveModel = row.clone().into();
            match model_versions::Entity::insert(am)
                .exec_without_returning(&self.conn)
                .await
            {
                Ok(_) => return Ok(row),
                // Another registration took the number (or the label) meanwhile: look again.
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(DbError::Conflict(format!(
            "{} is being registered by others too often; try again",
            new.name
        )))
    }

    /// Removes a version row: only for a registration whose artifact could not be stored (a
    /// registered version is otherwise immutable). Its aliases, if any, go with it.
    pub async fn delete_model_version(&self, name: &str, version: i32) -> Result<()> {
        let txn = self.conn.begin().await?;
        model_aliases::Entity::delete_many()
            .filter(model_aliases::Column::Name.eq(name))
            .filter(model_aliases::Column::Version.eq(version))
            .exec(&txn)
            .await?;
        model_versions::Entity::delete_many()
            .filter(model_versions::Column::Name.eq(name))
            .filter(model_versions::Column::Version.eq(version))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// The versions of `name` (of every model when `None`), by name then number.
    pub async fn model_versions(&self, name: Option<&str>) -> Result<Vec<model_versions::Model>> {
        let mut query = model_versions::Entity::find();
        if let Some(name) = name {
            query = query.filter(model_versions::Column::Name.eq(name));
        }
        Ok(query
            .order_by_asc(model_versions::Column::Name)
            .order_by_asc(model_versions::Column::Version)
            .all(&self.conn)
            .await?)
    }

    /// Version `version` of `name`.
    pub async fn model_version(
        &self,
        name: &str,
        version: i32,
    ) -> Result<Option<model_versions::Model>> {
        Ok(model_versions::Entity::find()
            .filter(model_versions::Column::Name.eq(name))
            .filter(model_versions::Column::Version.eq(version))
            .one(&self.conn)
            .await?)
    }

    /// The aliases of `name` (of every model when `None`), by name then alias.
    pub async fn model_aliases(&self, name: Option<&str>) -> Result<Vec<model_aliases::Model>> {
        let mut query = model_aliases::Entity::find();
        if let Some(name) = name {
            query = query.filter(model_aliases::Column::Name.eq(name));
        }
        Ok(query
            .order_by_asc(model_aliases::Column::Name)
            .order_by_asc(model_aliases::Column::Alias)
            .all(&self.conn)
            .await?)
    }

    /// Points `alias` of `name` at `version` (removes it when `None`) and appends the move to
    /// the history, in one transaction; an alias set to where it is changes nothing.
    /// [`DbError::UnknownModelVersion`] when the version does not exist.
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

    /// [`Db::set_alias`], recording the move as `kind`.
    pub async fn move_alias(
        &self,
        name: &str,
        alias: &str,
        version: Option<i32>,
        by: &str,
        reason: Option<&str>,
        kind: MoveKind,
    ) -> Result<AliasChange> {
        // On SQLite a transaction that reads first cannot wait for the write lock when another
        // connection wrote meanwhile (SQLITE_BUSY): it is tried again, with its reads redone.
        let mut pause = std::time::Duration::from_millis(5);
        for _ in 0..BUSY_TRIES {
            match self
                .try_set_alias(name, alias, version, by, reason, kind)
                .await
            {
                Err(DbError::Database(e)) if is_busy(&e) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_millis(200));
                }
                outcome => return outcome,
            }
        }
        self.try_set_alias(name, alias, version, by, reason, kind)
            .await
    }

    async fn try_set_alias(
        &self,
        name: &str,
        alias: &str,
        version: Option<i32>,
        by: &str,
        reason: Option<&str>,
        kind: MoveKind,
    ) -> Result<AliasChange> {
        use model_aliases::Column as A;
        let txn = self.conn.begin().await?;
        if let Some(version) = version {
            let exists = model_versions::Entity::find()
                .filter(model_versions::Column::Name.eq(name))
                .filter(model_versions::Column::Version.eq(version))
                .one(&txn)
                .await?;
            if exists.is_none() {
                return Err(DbError::UnknownModelVersion {
                    name: name.to_string(),
                    version,
                });
            }
        }
        let previous = model_aliases::Entity::find()
            .filter(A::Name.eq(name))
            .filter(A::Alias.eq(alias))
            .one(&txn)
            .await?
            .map(|a| a.version);
        let change = AliasChange {
            name: name.to_string(),
            alias: alias.to_string(),
            previous,
            current: version,
        };
        if !change.changed() {
            txn.commit().await?;
            return Ok(change);
        }
        let at = now();
        match version {
            Some(version) => {
                let row = model_aliases::ActiveModel {
                    name: Set(name.to_string()),
                    alias: Set(alias.to_string()),
                    version: Set(version),
                    updated_at: Set(at),
                    updated_by: Set(by.to_string()),
                };
                model_aliases::Entity::insert(row)
                    .on_conflict(
                        OnConflict::columns([A::Name, A::Alias])
                            .update_columns([A::Version, A::UpdatedAt, A::UpdatedBy])
                            .to_owned(),
                    )
                    .exec_without_returning(&txn)
                    .await?;
            }
            None => {
                model_aliases::Entity::delete_many()
                    .filter(A::Name.eq(name))
                    .filter(A::Alias.eq(alias))
                    .exec(&txn)
                    .await?;
            }
        }
        let history = model_alias_history::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.to_string()),
            alias: Set(alias.to_string()),
            version: Set(version),
            previous_version: Set(previous),
            changed_at: Set(at),
            changed_by: Set(by.to_string()),
            reason: Set(reason.map(str::to_string)),
            kind: Set(kind),
        };
        model_alias_history::Entity::insert(history)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
        Ok(change)
    }

    /// The versions `alias` points at, one per model that has it, by name.
    pub async fn aliased_versions(&self, alias: &str) -> Result<Vec<model_versions::Model>> {
        let aliased = model_aliases::Entity::find()
            .filter(model_aliases::Column::Alias.eq(alias))
            .all(&self.conn)
            .await?;
        let mut out = Vec::with_capacity(aliased.len());
        for a in aliased {
            if let Some(version) = self.model_version(&a.name, a.version).await? {
                out.push(version);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The A/B test of head `name`, if one runs.
    pub async fn traffic_split(&self, name: &str) -> Result<Option<model_traffic_splits::Model>> {
        Ok(model_traffic_splits::Entity::find_by_id(name.to_string())
            .one(&self.conn)
            .await?)
    }

    /// Starts (or changes) the A/B test of head `name`: `version` answers `share` of the
    /// images. [`DbError::UnknownModelVersion`] when the version does not exist.
    pub async fn set_traffic_split(
        &self,
        name: &str,
        version: i32,
        share: f64,
        by: &str,
    ) -> Result<model_traffic_splits::Model> {
        if !(share > 0.0 && share <= 1.0) {
            return Err(DbError::InvalidInput(format!(
                "an A/B share is in (0, 1], not {share}"
            )));
        }
        if self.model_version(name, version).await?.is_none() {
            return Err(DbError::UnknownModelVersion {
                name: name.to_string(),
                version,
            });
        }
        use model_traffic_splits::Column as T;
        let previous = self.traffic_split(name).await?;
        let row = model_traffic_splits::Model {
            name: name.to_string(),
            version,
            share,
            updated_at: now(),
            updated_by: by.to_string(),
        };
        let am: model_traffic_splits::ActiveModel = row.clone().into();
        model_traffic_splits::Entity::insert(am)
            .on_conflict(
                OnConflict::column(T::Name)
                    .update_columns([T::Version, T::Share, T::UpdatedAt, T::UpdatedBy])
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        self.record_ab_move(
            name,
            Some(version),
            previous.map(|p| p.version),
            by,
            &format!("share {share}"),
        )
        .await?;
        Ok(row)
    }

    /// Appends an A/B test's start, change or stop to the history (alias `ab`).
    async fn record_ab_move(
        &self,
        name: &str,
        version: Option<i32>,
        previous: Option<i32>,
        by: &str,
        reason: &str,
    ) -> Result<()> {
        let history = model_alias_history::ActiveModel {
            id: Set(Uuid::new_v4()),
            name: Set(name.to_string()),
            alias: Set(AB.to_string()),
            version: Set(version),
            previous_version: Set(previous),
            changed_at: Set(now()),
            changed_by: Set(by.to_string()),
            reason: Set(Some(reason.to_string())),
            kind: Set(MoveKind::Ab),
        };
        model_alias_history::Entity::insert(history)
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// Stops the A/B test of head `name`; `false` when none ran.
    pub async fn clear_traffic_split(&self, name: &str, by: &str, reason: &str) -> Result<bool> {
        let Some(previous) = self.traffic_split(name).await? else {
            return Ok(false);
        };
        let res = model_traffic_splits::Entity::delete_by_id(name.to_string())
            .exec(&self.conn)
            .await?;
        if res.rows_affected > 0 {
            self.record_ab_move(name, None, Some(previous.version), by, reason)
                .await?;
        }
        Ok(res.rows_affected > 0)
    }

    /// The moves of `alias` of `name` (every alias of it when `None`), newest first.
    pub async fn alias_history(
        &self,
        name: &str,
        alias: Option<&str>,
    ) -> Result<Vec<model_alias_history::Model>> {
        use model_alias_history::Column as H;
        let mut query = model_alias_history::Entity::find().filter(H::Name.eq(name));
        if let Some(alias) = alias {
            query = query.filter(H::Alias.eq(alias));
        }
        Ok(query
            .order_by_desc(H::ChangedAt)
            .order_by_desc(H::Id)
            .all(&self.conn)
            .await?)
    }

    /// The version `alias` of `name` pointed at, at `at` (`None` if it pointed nowhere then).
    pub async fn alias_at(&self, name: &str, alias: &str, at: DateTimeUtc) -> Result<Option<i32>> {
        use model_alias_history::Column as H;
        let mut q = Query::select();
        q.column(H::Version)
            .from(model_alias_history::Entity)
            .and_where(Expr::col(H::Name).eq(name))
            .and_where(Expr::col(H::Alias).eq(alias))
            .and_where(Expr::col(H::ChangedAt).lte(at))
            .order_by(H::ChangedAt, sea_orm::Order::Desc)
            .limit(1);
        let backend = self.conn.get_database_backend();
        let row = self.conn.query_one(backend.build(&q)).await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i32>>("", "version")?,
            None => None,
        })
    }
}
