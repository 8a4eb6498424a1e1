//! The rollout view (F21): which versions each replica serves, live, and the registry's changes
//! as they happen. Every serving replica says
//! what it serves on `model-events` after its start, after every swap and at every periodic
//! check; each gateway reads the topic live (no shared group), keeps the latest word of every
//! (replica, stage) and fans the changes out to `modelRollout` subscribers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vision_core::bus::BusError;
use vision_core::messages::{self, ModelEvent};
use vision_core::{MessageBus, topics};

/// Replica reports buffered per slow subscriber.
const CAPACITY: usize = 256;

/// What one replica of one stage serves.
#[derive(Debug, Clone, PartialEq, async_graphql::SimpleObject)]
pub struct ReplicaServing {
    /// The replica (`VISION_INSTANCE_ID`, else host and process id).
    pub replica: String,
    /// Its stage instance (`classifier-fast`).
    pub stage: String,
    pub model: String,
    /// The label of the production version it serves.
    pub production: String,
    /// The label of the shadow version it serves beside it, if any.
    pub shadow: Option<String>,
    /// The label of an A/B candidate answering a share of the images, if any.
    pub candidate: Option<String>,
    /// The candidate's share of the images.
    pub share: Option<f64>,
    /// When it last said so.
    pub at: DateTime<Utc>,
}

/// A change in the registry: an alias moved, or an A/B test started, changed or stopped.
#[derive(Debug, Clone, PartialEq, async_graphql::SimpleObject)]
pub struct ModelChange {
    pub model: String,
    /// `alias` for an alias move, `ab` for an A/B test.
    pub kind: String,
    /// The alias that moved (null for an A/B test).
    pub alias: Option<String>,
    /// Where it points now (the candidate for an A/B test); null when removed or stopped.
    pub version: Option<i32>,
    /// Where the alias pointed before.
    pub previous_version: Option<i32>,
    /// The candidate's share of an A/B test.
    pub share: Option<f64>,
}

/// The latest word of every replica. Cheap to clone.
#[derive(Clone)]
pub struct Rollout {
    latest: Arc<Mutex<BTreeMap<(String, String), ReplicaServing>>>,
    /// A replica not heard from for this long is gone from the view (replicas speak at every
    /// registry check).
    stale_after: chrono::Duration,
    tx: broadcast::Sender<ReplicaServing>,
    changes: broadcast::Sender<ModelChange>,
}

impl Rollout {
    /// A view fed by nothing yet, forgetting replicas silent for `stale_after`.
    pub fn detached(stale_after: std::time::Duration) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        let (changes, _) = broadcast::channel(CAPACITY);
        Self {
            stale_after: chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX),
            latest: Arc::default(),
            tx,
            changes,
        }
    }

    /// Reads `model-events` live until `shutdown`, keeping the view.
    pub async fn start(
        bus: Arc<dyn MessageBus>,
        stale_after: std::time::Duration,
        shutdown: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), BusError> {
        let rollout = Self::detached(stale_after);
        let mut events = bus.subscribe_live(topics::MODEL_EVENTS.name()).await?;
        let feed = rollout.clone();
        let task = tokio::spawn(async move {
            loop {
                let delivery = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = events.next() => match next {
                        Some(delivery) => delivery,
                        None => break,
                    },
                };
                match messages::decode::<ModelEvent>(&delivery.payload) {
                    Ok(ModelEvent::Serving {
                        replica,
                        stage,
                        model,
                        production,
                        shadow,
                        candidate,
                        share,
                        at,
                        ..
                    }) => feed.record(ReplicaServing {
                        replica,
                        stage,
                        model,
                        production,
                        shadow,
                        candidate,
                        share,
                        at,
                    }),
                    Ok(ModelEvent::AliasMoved {
                        model,
                        alias,
                        version,
                        previous,
                        ..
                    }) => {
                        let _ = feed.changes.send(ModelChange {
                            model,
                            kind: "alias".into(),
                            alias: Some(alias),
                            version,
                            previous_version: previous,
                            share: None,
                        });
                    }
                    Ok(ModelEvent::SplitChanged {
                        model,
                        version,
                        share,
                        ..
                    }) => {
                        let _ = feed.changes.send(ModelChange {
                            model,
                            kind: "ab".into(),
                            alias: None,
                            version,
                            previous_version: None,
                            share,
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable model event skipped"),
                }
                let _ = delivery.ack();
            }
        });
        Ok((rollout, task))
    }

    fn record(&self, serving: ReplicaServing) {
        let key = (serving.replica.clone(), serving.stage.clone());
        let changed = {
            let mut latest = self.latest.lock().expect("rollout lock");
            let changed = latest.get(&key).is_none_or(|old| {
                (&old.production, &old.shadow, &old.candidate, old.share)
                    != (
                        &serving.production,
                        &serving.shadow,
                        &serving.candidate,
                        serving.share,
                    )
            });
            latest.insert(key, serving.clone());
            changed
        };
        if changed {
            let _ = self.tx.send(serving);
        }
    }

    /// Every replica's latest word, by replica and stage (of `model` only when given); a
    /// replica silent for longer than the view's `stale_after` (stopped, or scaled down) is
    /// left out.
    pub fn current(&self, model: Option<&str>) -> Vec<ReplicaServing> {
        let fresh_since = Utc::now() - self.stale_after;
        self.latest
            .lock()
            .expect("rollout lock")
            .values()
            .filter(|s| model.is_none_or(|m| m == s.model) && s.at >= fresh_since)
            .cloned()
            .collect()
    }

    /// Every change from now on (a replica that starts serving other versions).
    pub fn changes(&self) -> broadcast::Receiver<ReplicaServing> {
        self.tx.subscribe()
    }

    /// Every registry change from now on (alias moves, A/B tests).
    pub fn model_changes(&self) -> broadcast::Receiver<ModelChange> {
        self.changes.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serving(replica: &str, production: &str, seconds_ago: i64) -> ReplicaServing {
        ReplicaServing {
            replica: replica.into(),
            stage: "classifier-fast".into(),
            model: "fast".into(),
            production: production.into(),
            shadow: None,
            candidate: None,
            share: None,
            at: Utc::now() - chrono::Duration::seconds(seconds_ago),
        }
    }

    #[test]
    fn the_view_keeps_each_replica_s_latest_word_and_forgets_silent_ones() {
        let rollout = Rollout::detached(std::time::Duration::from_secs(30));
        let mut changes = rollout.changes();
        rollout.record(serving("a", "v1", 0));
        rollout.record(serving("b", "v1", 0));
        rollout.record(serving("a", "v2", 0));
        // The same word again is no change.
        rollout.record(serving("a", "v2", 0));
        let told: Vec<String> = std::iter::from_fn(|| changes.try_recv().ok())
            .map(|s| format!("{} {}", s.replica, s.production))
            .collect();
        assert_eq!(told, ["a v1", "b v1", "a v2"]);
        rollout.record(serving("b", "v1", 60));
        let now: Vec<String> = rollout
            .current(Some("fast"))
            .into_iter()
            .map(|s| format!("{} {}", s.replica, s.production))
            .collect();
        assert_eq!(now, ["a v2"], "b has been silent for a minute");
        assert!(rollout.current(Some("other")).is_empty());
    }
}
