//! The model registry over GraphQL (F20, F21): versions, aliases with their history,
//! registration of a new version (a multipart upload), promotion, rollback and archiving.

use std::io::Read;

use async_graphql::{Context, Json, Object, Subscription, Upload};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use vision_db::entities::model_versions::ModelRole;
use vision_registry::Registration;

use super::types::{AliasMove, AliasUpdate, ModelAlias, ModelKind, ModelVersion, RegisteredModel};
use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::rollout::{ModelChange, ReplicaServing};
use crate::state::AppState;

#[derive(Default)]
pub struct RegistryQuery;

#[Object]
impl RegistryQuery {
    /// Every registered model with its versions, aliases and history, by name.
    async fn registered_models(&self, ctx: &Context<'_>) -> ApiResult<Vec<RegisteredModel>> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let versions = registry.versions(None).await?;
        let mut names: Vec<String> = versions.iter().map(|v| v.name.clone()).collect();
        names.dedup();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(model) = registered_model(ctx, &name).await? {
                out.push(model);
            }
        }
        Ok(out)
    }

    /// One registered model; null when no version of it is registered.
    async fn registered_model(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> ApiResult<Option<RegisteredModel>> {
        registered_model(ctx, &name).await
    }

    /// Which versions each serving replica serves (of `model` only when given), by replica and
    /// stage, as each last said.
    async fn model_rollout(&self, ctx: &Context<'_>, model: Option<String>) -> Vec<ReplicaServing> {
        ctx.data_unchecked::<AppState>()
            .rollout
            .current(model.as_deref())
    }

    /// The version of `model` that was in production at `at` (null when none was): the alias
    /// history answers "which version served at 14:00".
    async fn production_at(
        &self,
        ctx: &Context<'_>,
        model: String,
        at: DateTime<Utc>,
    ) -> ApiResult<Option<ModelVersion>> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let Some(version) = registry.production_at(&model, at).await? else {
            return Ok(None);
        };
        let aliases = registry.aliases(Some(&model)).await?;
        Ok(registry
            .versions(Some(&model))
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .map(|row| ModelVersion::new(row, &aliases)))
    }
}

async fn registered_model(ctx: &Context<'_>, name: &str) -> ApiResult<Option<RegisteredModel>> {
    let registry = &ctx.data_unchecked::<AppState>().registry;
    let rows = registry.versions(Some(name)).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let kind = match first.role {
        ModelRole::Extractor => ModelKind::Extractor,
        ModelRole::Classifier => ModelKind::Classifier,
    };
    let aliases = registry.aliases(Some(name)).await?;
    let versions: Vec<ModelVersion> = rows
        .into_iter()
        .map(|row| ModelVersion::new(row, &aliases))
        .collect();
    let production = versions
        .iter()
        .find(|v| v.aliases.iter().any(|a| a == vision_registry::PRODUCTION))
        .cloned();
    let history = registry.history(name, None).await?;
    let ab_test = registry.ab_test(name).await?;
    Ok(Some(RegisteredModel {
        ab_test: ab_test.map(Into::into),
        name: name.to_string(),
        kind,
        versions,
        aliases: aliases.into_iter().map(ModelAlias::from).collect(),
        production,
        history: history.into_iter().map(AliasMove::from).collect(),
    }))
}

#[derive(Default)]
pub struct RegistryMutation;

#[Object]
impl RegistryMutation {
    /// Registers an ONNX file as the next version of model `name` (a multipart upload). It is
    /// checked before anything is stored: it loads on the serving runtime, its shapes fit its
    /// kind (a head reads its extractor's descriptors and gives one probability per class of
    /// `classes`), a warm-up inference runs. Refusals: INVALID_MODEL, SHAPE_MISMATCH,
    /// VERSION_EXISTS (the label is taken), MODEL_TOO_LARGE, INVALID_ARGUMENT, NOT_FOUND (an
    /// unknown extractor); a refused model leaves no row and no file.
    #[allow(clippy::too_many_arguments)]
    async fn register_model_version(
        &self,
        ctx: &Context<'_>,
        file: Upload,
        name: String,
        kind: ModelKind,
        #[graphql(
            desc = "The version string its predictions will carry; `{name}-v{number}` \
                          when absent."
        )]
        label: Option<String>,
        #[graphql(
            desc = "A head's extractor (its label); the production extractor's when \
                          absent."
        )]
        extractor_label: Option<String>,
        metrics: Option<Json<serde_json::Value>>,
        card: Option<Json<serde_json::Value>>,
        lineage: Option<Json<serde_json::Value>>,
    ) -> ApiResult<ModelVersion> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let mut content = file.value(ctx)?.content;
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            content.read_to_end(&mut bytes).map(|_| bytes)
        })
        .await??;
        if bytes.is_empty() {
            return Err(ApiError::new(
                ErrorCode::EmptyFile,
                "the model file is empty",
            ));
        }
        let registration = Registration {
            name: name.clone(),
            role: match kind {
                ModelKind::Extractor => ModelRole::Extractor,
                ModelKind::Classifier => ModelRole::Classifier,
            },
            bytes: Bytes::from(bytes),
            label,
            extractor_label,
            metrics: metrics.map(|j| j.0),
            card: card.map(|j| j.0),
            lineage: lineage.map(|j| j.0),
            registered_by: super::actor(ctx),
        };
        let row = registry.register(registration).await?;
        let aliases = registry.aliases(Some(&name)).await?;
        Ok(ModelVersion::new(row, &aliases))
    }

    /// Puts `version` of `name` in production (its `production` alias moves; staging is
    /// cleared when it pointed there). Every process serving the model swaps to it.
    async fn promote_model_version(
        &self,
        ctx: &Context<'_>,
        name: String,
        version: i32,
        reason: Option<String>,
    ) -> ApiResult<AliasUpdate> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let change = registry
            .promote(&name, version, &super::actor(ctx), reason.as_deref())
            .await?;
        Ok(change.into())
    }

    /// Undoes the last promotion not undone yet: production's moves are a stack (promote 1 ->
    /// 2 -> 3, then rollback goes to 2, and again to 1).
    async fn rollback_model(
        &self,
        ctx: &Context<'_>,
        name: String,
        reason: Option<String>,
    ) -> ApiResult<AliasUpdate> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        Ok(registry
            .rollback(&name, &super::actor(ctx), reason.as_deref())
            .await?
            .into())
    }

    /// Takes a version out of service (not the production one): its aliases go and
    /// `archived` points at it.
    async fn archive_model_version(
        &self,
        ctx: &Context<'_>,
        name: String,
        version: i32,
        reason: Option<String>,
    ) -> ApiResult<AliasUpdate> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        Ok(registry
            .archive(&name, version, &super::actor(ctx), reason.as_deref())
            .await?
            .into())
    }

    /// Points any alias of `name` at `version` (removes it when `version` is null; `production`
    /// cannot be removed).
    async fn set_model_alias(
        &self,
        ctx: &Context<'_>,
        name: String,
        alias: String,
        version: Option<i32>,
        reason: Option<String>,
    ) -> ApiResult<AliasUpdate> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        Ok(registry
            .set_alias(
                &name,
                &alias,
                version,
                &super::actor(ctx),
                reason.as_deref(),
            )
            .await?
            .into())
    }
}

#[derive(Default)]
pub struct RegistrySubscription;

#[Subscription]
impl RegistrySubscription {
    /// The registry's changes as they happen (of `model` only when given): alias moves
    /// (promotions, rollbacks, archives, shadows) and A/B tests started, changed or stopped.
    ///
    /// A subscriber too slow to follow gets the error SUBSCRIBER_LAGGED (then the stream goes
    /// on): read `registeredModels` again, nothing is silently skipped.
    async fn model_changed(
        &self,
        ctx: &Context<'_>,
        model: Option<String>,
    ) -> impl Stream<Item = async_graphql::Result<ModelChange>> + use<> {
        let mut changes = ctx.data_unchecked::<AppState>().rollout.model_changes();
        async_stream::stream! {
            loop {
                match changes.recv().await {
                    Ok(change) if model.as_deref().is_none_or(|m| m == change.model) => {
                        yield Ok(change)
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        yield Err(ApiError::new(
                            ErrorCode::SubscriberLagged,
                            format!("{missed} model changes missed: read registeredModels again"),
                        )
                        .into());
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }

    /// The rollout, live: every replica's current versions first (of `model` only when given),
    /// then each replica that starts serving other versions (after a promotion, a rollback, a
    /// restart).
    async fn model_rollout(
        &self,
        ctx: &Context<'_>,
        model: Option<String>,
    ) -> impl Stream<Item = ReplicaServing> + use<> {
        let rollout = ctx.data_unchecked::<AppState>().rollout.clone();
        // Subscribe before reading the current state, so nothing falls between the two.
        let mut changes = rollout.changes();
        let current = rollout.current(model.as_deref());
        async_stream::stream! {
            for serving in current {
                yield serving;
            }
            loop {
                match changes.recv().await {
                    Ok(serving) if model.as_deref().is_none_or(|m| m == serving.model) => {
                        yield serving
                    }
                    Ok(_) => continue,
                    // Too slow to follow every change: the whole view again, nothing lost.
                    Err(RecvError::Lagged(_)) => {
                        for serving in rollout.current(model.as_deref()) {
                            yield serving;
                        }
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
    }
}
