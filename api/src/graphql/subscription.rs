//! Live subscriptions (F11), fed by the process's one reader of the pipeline feed (see
//! [`crate::events`]). The feed says *what* became durable; the payload is read from the
//! database, so a subscriber sees exactly what a query would.
//!
//! Nothing is lost: a subscriber that reads slowly catches up from the database, and every
//! subscription takes `after`, a cursor (`PipelineEvent.cursor`, or the `cursor` extension of
//! the error that ended a stream) to resume right after it. The one gap possible is events that
//! retention deleted: that ends the stream with SUBSCRIBER_LAGGED and the cursor to go on from.
//!
//! With an `imageId` (and no `after`), a subscription first replays what is already recorded
//! for that image, so a client that subscribes just after its upload cannot miss a fast
//! pipeline.

use std::collections::HashSet;

use async_graphql::{Context, ID, MergedSubscription, Result, Subscription};
use futures::{Stream, StreamExt};
use uuid::Uuid;
use vision_db::entities::images;
use vision_db::{DbError, FeedKind};

use super::ids;
use super::live::LiveSubscription;
use super::registry::RegistrySubscription;
use super::types::{Image, ImageStatus, PipelineEvent, PipelineEventKind, Prediction, cursor_text};
use crate::errors::{ApiError, ErrorCode};
use crate::events::{FeedRow, FollowError};
use crate::state::AppState;

// Every subscription: the pipeline's here, the dashboard's in `live.rs`.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(PipelineSubscription, LiveSubscription, RegistrySubscription);

#[derive(Default)]
pub struct PipelineSubscription;

/// `after` as a feed position; anything but a cursor this API gave is BAD_CURSOR.
fn parse_after(after: Option<&str>) -> Result<Option<i64>, ApiError> {
    after
        .map(|text| {
            text.parse::<i64>()
                .ok()
                .filter(|seq| *seq >= 0)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::BadCursor,
                        format!("{text:?} is not a cursor of the pipeline feed"),
                    )
                })
        })
        .transpose()
}

/// A stopped feed as the error that ends the stream, with where to resume.
fn follow_error(error: FollowError) -> async_graphql::Error {
    match error {
        FollowError::Expired { cursor, resume } => ApiError::new(
            ErrorCode::SubscriberLagged,
            format!(
                "the events after cursor {cursor} were deleted by retention; \
                 the oldest kept follow cursor {resume}"
            ),
        )
        .resume_from(cursor_text(resume)),
        FollowError::Database { cursor, error } => {
            ApiError::from(error).resume_from(cursor_text(cursor))
        }
    }
    .into()
}

/// The feed's rows for a subscription, from `after` or from now; a stop is the error that ends
/// the stream.
fn feed(state: &AppState, after: Option<i64>) -> impl Stream<Item = Result<FeedRow>> + use<> {
    state
        .events
        .follow(after)
        .map(|row| row.map_err(follow_error))
        .boxed()
}

/// A payload read that failed for the row `seq`: following again from before it misses
/// nothing.
fn read_error(seq: i64) -> impl FnOnce(DbError) -> async_graphql::Error {
    move |e| ApiError::from(e).resume_from(cursor_text(seq - 1)).into()
}

async fn existing_image(state: &AppState, id: Uuid) -> Result<images::Model> {
    state
        .db
        .get_image(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found(format!("image {id}")).into())
}

/// Images reaching `status` (the feed's `kind`), optionally one image only.
async fn image_reaching(
    ctx: &Context<'_>,
    image_id: Option<ID>,
    after: Option<String>,
    status: ImageStatus,
    kind: FeedKind,
) -> Result<impl Stream<Item = Result<Image>> + use<>> {
    let state = ctx.data_unchecked::<AppState>().clone();
    let image_id = ids::parse_opt(image_id.as_ref())?;
    let after = parse_after(after.as_deref())?;
    // Follow before reading the current state, so nothing falls between the two.
    let mut rows = feed(&state, after);
    let replay = match image_id {
        Some(id) => Some(existing_image(&state, id).await?),
        None => None,
    };
    Ok(async_stream::try_stream! {
        if let Some(image) = replay
            && after.is_none()
            && ImageStatus::from_db(image.status) == status
        {
            yield Image(image);
            // An image reaches a final status once: nothing more will come.
            return;
        }
        while let Some(row) = rows.next().await {
            let row = row?;
            if row.kind != kind || image_id.is_some_and(|id| id != row.image_id) {
                continue;
            }
            // None: deleted since.
            if let Some(image) = state.db.get_image(row.image_id).await.map_err(read_error(row.seq))? {
                yield Image(image);
                if image_id.is_some() {
                    return;
                }
            }
        }
    })
}

#[Subscription]
impl PipelineSubscription {
    /// Everything that becomes durable in the pipeline, in order, each with its cursor:
    /// predictions recorded, images completed, images failed. Optionally one image, one model
    /// (its predictions) and some kinds only.
    ///
    /// `after`: resume right after this cursor (from an event, or from the `cursor` extension
    /// of the error that ended a stream); without it, from now on. A slow subscriber is never
    /// skipped over: it catches up from the database. Events deleted by retention end the
    /// stream with SUBSCRIBER_LAGGED and the cursor of the oldest kept.
    async fn pipeline_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
        image_id: Option<ID>,
        model: Option<String>,
        kinds: Option<Vec<PipelineEventKind>>,
    ) -> Result<impl Stream<Item = Result<PipelineEvent>> + use<>> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let image_id = ids::parse_opt(image_id.as_ref())?;
        let after = parse_after(after.as_deref())?;
        let mut rows = feed(&state, after);
        Ok(async_stream::try_stream! {
            while let Some(row) = rows.next().await {
                let row = row?;
                let kind = PipelineEventKind::from(row.kind);
                let wanted = image_id.is_none_or(|id| id == row.image_id)
                    && kinds.as_ref().is_none_or(|k| k.contains(&kind))
                    && model
                        .as_deref()
                        .is_none_or(|m| row.model.as_deref() == Some(m));
                if wanted {
                    yield PipelineEvent(row);
                }
            }
        })
    }

    /// A prediction was recorded; optionally only for one image and/or one model. `after`:
    /// resume after a cursor (see `pipelineEvents`).
    async fn prediction_added(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
        model: Option<String>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Prediction>>> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let image_id = ids::parse_opt(image_id.as_ref())?;
        let after = parse_after(after.as_deref())?;
        // Follow before reading what exists, so nothing falls between the two.
        let mut rows = feed(&state, after);
        let replay = match (image_id, after) {
            (Some(id), None) => {
                existing_image(&state, id).await?;
                state
                    .db
                    .predictions_for_images(&[id])
                    .await
                    .map_err(ApiError::from)?
            }
            (Some(id), Some(_)) => {
                existing_image(&state, id).await?;
                Vec::new()
            }
            (None, _) => Vec::new(),
        };
        let wanted = move |m: &str| model.as_deref().is_none_or(|want| want == m);
        Ok(async_stream::try_stream! {
            let mut sent = HashSet::new();
            for row in replay {
                if wanted(&row.model) && sent.insert(row.id) {
                    yield Prediction(row);
                }
            }
            while let Some(row) = rows.next().await {
                let row = row?;
                let (FeedKind::PredictionRecorded, Some(id), Some(model)) =
                    (row.kind, row.prediction_id, row.model.as_deref())
                else {
                    continue;
                };
                if image_id.is_some_and(|want| want != row.image_id) || !wanted(model) {
                    continue;
                }
                if !sent.insert(id) {
                    continue;
                }
                let stored = state
                    .db
                    .predictions_for_images(&[row.image_id])
                    .await
                    .map_err(read_error(row.seq))?;
                if let Some(prediction) = stored.into_iter().find(|p| p.id == id) {
                    yield Prediction(prediction);
                }
            }
        })
    }

    /// Every classifier answered an image (its comparison is available); optionally one image
    /// only, in which case the stream ends after it. `after`: resume after a cursor (see
    /// `pipelineEvents`).
    async fn image_completed(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Image>>> {
        image_reaching(
            ctx,
            image_id,
            after,
            ImageStatus::Completed,
            FeedKind::ImageCompleted,
        )
        .await
    }

    /// An image cannot be processed (`failureReason` says why); optionally one image only, in
    /// which case the stream ends after it. `after`: resume after a cursor (see
    /// `pipelineEvents`).
    async fn image_failed(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Image>>> {
        image_reaching(
            ctx,
            image_id,
            after,
            ImageStatus::Failed,
            FeedKind::ImageFailed,
        )
        .await
    }
}
