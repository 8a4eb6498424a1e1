//! Experiments over GraphQL (F24): a shadow version against production on live traffic, and
//! back-testing a registered version on past images.

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use vision_db::ImageWindow;

use super::types::{AbComparison, Backtest, ShadowComparison};
use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;

/// Most images one comparison reads.
const MAX_IMAGES: i32 = 1_000_000;

fn images(last: i32) -> ApiResult<u64> {
    if !(1..=MAX_IMAGES).contains(&last) {
        return Err(ApiError::new(
            ErrorCode::InvalidArgument,
            format!("last must be in 1..={MAX_IMAGES}, not {last}"),
        ));
    }
    Ok(last as u64)
}

#[derive(Default)]
pub struct ExperimentsQuery;

#[Object]
impl ExperimentsQuery {
    /// `model`'s shadow version against its production answers on the latest `last` images
    /// both scored (paired: accuracies, weighted F1, the difference with its 95% interval,
    /// McNemar's exact test, agreement, latencies); null when the head has no shadow.
    async fn shadow_comparison(
        &self,
        ctx: &Context<'_>,
        model: String,
        #[graphql(default = 10_000)] last: i32,
    ) -> ApiResult<Option<ShadowComparison>> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let comparison = registry.shadow_comparison(&model, images(last)?).await?;
        Ok(comparison.map(|c| ShadowComparison {
            model: c.model,
            shadow: c.shadow,
            comparison: c.comparison.into(),
        }))
    }

    /// `model`'s A/B test: the candidate against production on the latest `last` images both
    /// scored (each version scores every image; the candidate answers its share); null when
    /// none runs.
    async fn ab_comparison(
        &self,
        ctx: &Context<'_>,
        model: String,
        #[graphql(default = 10_000)] last: i32,
    ) -> ApiResult<Option<AbComparison>> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let comparison = registry.ab_comparison(&model, images(last)?).await?;
        Ok(comparison.map(|c| AbComparison {
            model: c.model,
            production: c.production,
            candidate: c.candidate,
            share: c.share,
            comparison: c.comparison.into(),
        }))
    }

    /// Back-testing: version `version` of head `model` scored on the stored descriptors of the
    /// latest `last` past images uploaded in `[since, until)` (those its extractor made),
    /// against the answer each image got (production's, or an A/B candidate's for its share):
    /// the same paired comparison, before any traffic is shifted. A's latencies are those
    /// measured live per image, B's the back-test's, averaged per batch.
    async fn backtest(
        &self,
        ctx: &Context<'_>,
        model: String,
        version: i32,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
        #[graphql(default = 10_000)] last: i32,
    ) -> ApiResult<Backtest> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        let window = ImageWindow {
            since,
            until,
            limit: images(last)?,
        };
        let b = registry.backtest(&model, version, &window).await?;
        Ok(Backtest {
            model: b.model,
            version: b.version,
            label: b.label,
            comparison: b.comparison.into(),
            seconds: b.seconds,
        })
    }
}

#[derive(Default)]
pub struct ExperimentsMutation;

#[Object]
impl ExperimentsMutation {
    /// Starts (or changes) an A/B test of head `model`: version `version` answers `share` of
    /// the images (0 < share <= 1; chosen by the image's content hash, so a redelivered image
    /// and the same bytes uploaded again go to the same arm), production the rest; each scores every image, the other arm's prediction stored
    /// as a shadow's. Every replica of the head swaps to it.
    async fn start_ab_test(
        &self,
        ctx: &Context<'_>,
        model: String,
        version: i32,
        share: f64,
    ) -> ApiResult<bool> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        registry
            .start_ab(&model, version, share, &super::actor(ctx))
            .await?;
        Ok(true)
    }

    /// Stops the A/B test of head `model`: production answers every image again. False when
    /// none ran.
    async fn stop_ab_test(&self, ctx: &Context<'_>, model: String) -> ApiResult<bool> {
        let registry = &ctx.data_unchecked::<AppState>().registry;
        Ok(registry.stop_ab(&model, &super::actor(ctx)).await?)
    }
}
