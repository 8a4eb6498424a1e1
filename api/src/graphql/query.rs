//! Queries (F10).

use async_graphql::{Context, ID, MergedObject, Object};
use chrono::{DateTime, Utc};
use vision_db::PredictionFilter;

use super::access::AccessQuery;
use super::experiments::ExperimentsQuery;
use super::jobs::JobsQuery;
use super::pagination::{self, MAX_PAGE};
use super::registry::RegistryQuery;
use super::replay::ReplayQuery;
use super::statistics::StatisticsQuery;
use super::types::{
    Image, ImageConnection, ImageFilter, ModelInfo, ModelStats, Prediction, PredictionConnection,
};
use super::{Loaders, ids};
use crate::errors::ApiResult;
use crate::health::HealthReport;
use crate::state::AppState;
use vision_db::entities::model_versions::ModelRole;

// Every query: the core ones here, the dashboard's in their own files.
#[derive(MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    CoreQuery,
    StatisticsQuery,
    ReplayQuery,
    RegistryQuery,
    ExperimentsQuery,
    AccessQuery,
    JobsQuery,
);

#[derive(Default)]
pub struct CoreQuery;

/// Predictions `recentPredictions` returns when the client gives no limit (or null).
const RECENT: i32 = 50;

#[Object]
impl CoreQuery {
    /// One image; null when no image has this id.
    async fn image(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Image>> {
        let id = ids::parse(&id)?;
        Ok(ctx
            .data_unchecked::<Loaders>()
            .images
            .load_one(id)
            .await?
            .map(Image))
    }

    /// Images, newest first.
    async fn images(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20, desc = "Page size, at most 100.")] first: Option<i32>,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
        filter: Option<ImageFilter>,
    ) -> ApiResult<ImageConnection> {
        let state = ctx.data_unchecked::<AppState>();
        let size = pagination::page_size(first);
        let after = pagination::decode_after(after.as_deref())?;
        let filter: vision_db::ImageFilter = filter.unwrap_or_default().into();
        let rows = state.db.list_images(&filter, after, size + 1).await?;
        let (rows, more) = pagination::split_page(rows, size);
        Ok(ImageConnection::new(rows, more, filter))
    }

    /// Predictions, newest first, by image, model and time (`since` inclusive, `until`
    /// exclusive).
    #[allow(clippy::too_many_arguments)]
    async fn predictions(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
        model: Option<String>,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        #[graphql(default = 20, desc = "Page size, at most 100.")] first: Option<i32>,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
    ) -> ApiResult<PredictionConnection> {
        let state = ctx.data_unchecked::<AppState>();
        let size = pagination::page_size(first);
        let after = pagination::decode_after(after.as_deref())?;
        let filter = PredictionFilter {
            image_id: ids::parse_opt(image_id.as_ref())?,
            model,
            since,
            until,
        };
        let rows = state.db.list_predictions(&filter, after, size + 1).await?;
        let (rows, more) = pagination::split_page(rows, size);
        Ok(PredictionConnection::new(rows, more))
    }

    /// The latest predictions of every model, newest first.
    async fn recent_predictions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50, desc = "At most 100.")] limit: Option<i32>,
    ) -> ApiResult<Vec<Prediction>> {
        let state = ctx.data_unchecked::<AppState>();
        let rows = state
            .db
            .recent_predictions(limit.unwrap_or(RECENT).clamp(0, MAX_PAGE) as u64)
            .await?;
        Ok(rows.into_iter().map(Prediction).collect())
    }

    /// Latency, confidence and accuracy per model, over predictions made since `since` (all
    /// time when null).
    async fn model_stats(
        &self,
        ctx: &Context<'_>,
        since: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<ModelStats>> {
        let state = ctx.data_unchecked::<AppState>();
        let stats = state.statistics.model_stats(since).await?;
        Ok(stats.into_iter().map(ModelStats::from).collect())
    }

    /// The model versions served now (the registry's): the production extractor, then each
    /// head's production version, each followed by its shadow version when one is set. Heads
    /// in the bundle's display order, then any other by name.
    async fn models(&self, ctx: &Context<'_>) -> ApiResult<Vec<ModelInfo>> {
        let state = ctx.data_unchecked::<AppState>();
        let runtime = state.models.runtime;
        let production = state.registry.aliased(vision_registry::PRODUCTION).await?;
        let shadows = state.registry.aliased(vision_registry::SHADOW).await?;
        let order = state.models.manifest.head_names();
        let rank = |name: &str| order.iter().position(|n| n == name).unwrap_or(order.len());
        let mut heads: Vec<_> = production
            .iter()
            .filter(|v| v.role == ModelRole::Classifier)
            .collect();
        heads.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)).then(a.name.cmp(&b.name)));
        let mut out: Vec<ModelInfo> = production
            .iter()
            .filter(|v| v.role == ModelRole::Extractor)
            .map(|v| ModelInfo::new(v, runtime, false))
            .collect();
        for head in heads {
            out.push(ModelInfo::new(head, runtime, false));
            if let Some(shadow) = shadows
                .iter()
                .find(|s| s.name == head.name && s.version != head.version)
            {
                out.push(ModelInfo::new(shadow, runtime, true));
            }
        }
        Ok(out)
    }

    /// The class names the heads predict, in the index order of their outputs (from the model
    /// bundle). Labels must be one of them.
    async fn classes(&self, ctx: &Context<'_>) -> Vec<String> {
        ctx.data_unchecked::<AppState>().models.classes.to_vec()
    }

    /// The state of every dependency, as on `/health`.
    async fn health(&self, ctx: &Context<'_>) -> HealthReport {
        ctx.data_unchecked::<AppState>().health.check().await
    }
}
