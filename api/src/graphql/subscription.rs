//! Live subscriptions (F11), fed by the process's one pipeline-event consumer (see
//! [`crate::events`]). Events only say *what* became durable; the payload is read from the
//! database, so a subscriber sees exactly what a query would.
//!
//! With an `imageId`, a subscription first replays what is already recorded for that image, so
//! a client that subscribes just after its upload cannot miss a fast pipeline.

use std::collections::HashSet;

use async_graphql::{Context, ID, MergedSubscription, Result, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;
use vision_core::messages::PipelineEvent;
use vision_db::entities::images;

use super::ids;
use super::live::LiveSubscription;
use super::registry::RegistrySubscription;
use super::types::{Image, ImageStatus, Prediction};
use crate::errors::ApiError;
use crate::state::AppState;

// Every subscription: the pipeline's here, the dashboard's in `live.rs`.
#[derive(MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(PipelineSubscription, LiveSubscription, RegistrySubscription);

#[derive(Default)]
pub struct PipelineSubscription;

/// The next event, skipping over those a slow subscriber missed; `None` once the feed closes.
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<PipelineEvent>,
) -> Option<PipelineEvent> {
    loop {
        match events.recv().await {
            Ok(event) => return Some(event),
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "a slow subscriber missed pipeline events");
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

async fn existing_image(state: &AppState, id: Uuid) -> Result<images::Model> {
    state
        .db
        .get_image(id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::not_found(format!("image {id}")).into())
}

/// Images reaching `status` (on the events `matches` picks), optionally one image only.
async fn image_reaching(
    ctx: &Context<'_>,
    image_id: Option<ID>,
    status: ImageStatus,
    matches: fn(&PipelineEvent) -> bool,
) -> Result<impl Stream<Item = Result<Image>> + use<>> {
    let state = ctx.data_unchecked::<AppState>().clone();
    let image_id = ids::parse_opt(image_id.as_ref())?;
    // Subscribe before reading the current state, so nothing falls between the two.
    let mut events = state.events.subscribe();
    let replay = match image_id {
        Some(id) => Some(existing_image(&state, id).await?),
        None => None,
    };
    Ok(async_stream::stream! {
        if let Some(image) = replay
            && ImageStatus::from_db(image.status) == status
        {
            yield Ok(Image(image));
            // An image reaches a final status once: nothing more will come.
            return;
        }
        while let Some(event) = next_event(&mut events).await {
            if !matches(&event) || image_id.is_some_and(|id| id != event.image_id()) {
                continue;
            }
            match state.db.get_image(event.image_id()).await {
                Ok(Some(image)) => yield Ok(Image(image)),
                Ok(None) => continue,
                Err(e) => yield Err(ApiError::from(e).into()),
            }
            if image_id.is_some() {
                return;
            }
        }
    })
}

#[Subscription]
impl PipelineSubscription {
    /// A prediction was recorded; optionally only for one image and/or one model.
    async fn prediction_added(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
        model: Option<String>,
    ) -> Result<impl Stream<Item = Result<Prediction>>> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let image_id = ids::parse_opt(image_id.as_ref())?;
        // Subscribe before reading what exists, so nothing falls between the two.
        let mut events = state.events.subscribe();
        let replay = match image_id {
            Some(id) => {
                existing_image(&state, id).await?;
                state
                    .db
                    .predictions_for_images(&[id])
                    .await
                    .map_err(ApiError::from)?
            }
            None => Vec::new(),
        };
        let wanted = move |m: &str| model.as_deref().is_none_or(|want| want == m);
        Ok(async_stream::stream! {
            let mut sent = HashSet::new();
            for row in replay {
                if wanted(&row.model) && sent.insert(row.id) {
                    yield Ok(Prediction(row));
                }
            }
            while let Some(event) = next_event(&mut events).await {
                let PipelineEvent::PredictionRecorded { image_id: id, model, model_version, .. } = event
                else {
                    continue;
                };
                if image_id.is_some_and(|want| want != id) || !wanted(&model) {
                    continue;
                }
                let rows = match state.db.predictions_for_images(&[id]).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        yield Err(ApiError::from(e).into());
                        continue;
                    }
                };
                let recorded = rows
                    .into_iter()
                    .find(|r| r.model == model && r.model_version == model_version);
                if let Some(row) = recorded
                    && sent.insert(row.id)
                {
                    yield Ok(Prediction(row));
                }
            }
        })
    }

    /// Every classifier answered an image (its comparison is available); optionally one image
    /// only, in which case the stream ends after it.
    async fn image_completed(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Image>>> {
        image_reaching(ctx, image_id, ImageStatus::Completed, |e| {
            matches!(e, PipelineEvent::ImageCompleted { .. })
        })
        .await
    }

    /// An image cannot be processed (`failureReason` says why); optionally one image only, in
    /// which case the stream ends after it.
    async fn image_failed(
        &self,
        ctx: &Context<'_>,
        image_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<Image>>> {
        image_reaching(ctx, image_id, ImageStatus::Failed, |e| {
            matches!(e, PipelineEvent::ImageFailed { .. })
        })
        .await
    }
}
