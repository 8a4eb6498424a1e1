//! Dashboard subscriptions: replay progress and live model statistics.

use std::time::Duration;

use async_graphql::{Context, ID, Result, Subscription};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use vision_db::FeedKind;

use super::ids;
use super::types::{ModelStats, Replay};
use crate::errors::ApiError;
use crate::replay::ReplayStatus;
use crate::state::AppState;

#[derive(Default)]
pub struct LiveSubscription;

/// Shortest `statsUpdated` interval, against clients hammering the database.
const MIN_STATS_INTERVAL_MS: i32 = 250;

#[Subscription]
impl LiveSubscription {
    /// Progress of one replay (or of every replay when `id` is null), about 5 times a second
    /// while it runs. With an `id`, the current state comes first and the stream ends with the
    /// replay.
    async fn replay_progress(
        &self,
        ctx: &Context<'_>,
        id: Option<ID>,
    ) -> Result<impl Stream<Item = Replay> + use<>> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let id = ids::parse_opt(id.as_ref())?;
        // Subscribe before reading the current state, so nothing falls between the two.
        let mut updates = state.replays.progress();
        let current = match id {
            Some(id) => Some(
                state
                    .replays
                    .get(id)
                    .ok_or_else(|| ApiError::not_found(format!("replay {id}")))?,
            ),
            None => None,
        };
        Ok(async_stream::stream! {
            if let Some(current) = current {
                let ended = current.status != ReplayStatus::Running;
                yield Replay(current);
                if ended {
                    return;
                }
            }
            loop {
                let snapshot = match updates.recv().await {
                    Ok(snapshot) => snapshot,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return,
                };
                if id.is_some_and(|id| id != snapshot.id) {
                    continue;
                }
                let ended = snapshot.status != ReplayStatus::Running;
                yield Replay(snapshot);
                if ended && id.is_some() {
                    return;
                }
            }
        })
    }

    /// `modelStats(since: null)` now, then again at most once per `intervalMs` (at least 250)
    /// whenever predictions were recorded in between.
    async fn stats_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 1000)] interval_ms: i32,
    ) -> Result<impl Stream<Item = Result<Vec<ModelStats>>> + use<>> {
        let state = ctx.data_unchecked::<AppState>().clone();
        let interval = Duration::from_millis(interval_ms.max(MIN_STATS_INTERVAL_MS) as u64);
        let mut events = state.events.subscribe();
        Ok(async_stream::stream! {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut changed = true;
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        if !changed {
                            continue;
                        }
                        changed = false;
                        match state.statistics.model_stats(None).await {
                            Ok(stats) => yield Ok(stats.into_iter().map(ModelStats::from).collect()),
                            Err(e) => yield Err(e.into()),
                        }
                    }
                    event = events.recv() => match event {
                        Ok(row) if row.kind == FeedKind::PredictionRecorded => changed = true,
                        Err(RecvError::Lagged(_)) => changed = true,
                        Ok(_) => {}
                        Err(RecvError::Closed) => return,
                    },
                }
            }
        })
    }
}
