//! Replay queries and mutations (F16).

use async_graphql::{Context, ID, Object, Result};

use super::ids;
use super::types::{Replay, ReplayInput};
use crate::state::AppState;

#[derive(Default)]
pub struct ReplayQuery;

#[Object]
impl ReplayQuery {
    /// One replay of this process; null when unknown.
    async fn replay(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Replay>> {
        let id = ids::parse(&id)?;
        Ok(ctx.data_unchecked::<AppState>().replays.get(id).map(Replay))
    }

    /// Replays of this process, newest first.
    async fn replays(&self, ctx: &Context<'_>) -> Vec<Replay> {
        let state = ctx.data_unchecked::<AppState>();
        state.replays.list().into_iter().map(Replay).collect()
    }
}

#[derive(Default)]
pub struct ReplayMutation;

#[Object]
impl ReplayMutation {
    /// Starts a server-side CIFAR-10 replay: images of the split whose class is one of the
    /// models' `classes`, shuffled by `seed`, uploaded at `rate` with their class as label
    /// (source `cifar10`). Error code DATASET_UNAVAILABLE when the split cannot be found,
    /// INVALID_ARGUMENT for settings out of range.
    async fn start_replay(&self, ctx: &Context<'_>, input: Option<ReplayInput>) -> Result<Replay> {
        let state = ctx.data_unchecked::<AppState>();
        let settings = input.unwrap_or_default().settings();
        Ok(Replay(state.replays.start(settings)?))
    }

    /// Stops a replay and returns it once stopped; unchanged when it had already ended.
    async fn stop_replay(&self, ctx: &Context<'_>, id: ID) -> Result<Replay> {
        let id = ids::parse(&id)?;
        let state = ctx.data_unchecked::<AppState>();
        Ok(Replay(state.replays.stop(id).await?))
    }
}
