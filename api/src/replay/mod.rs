//! Server-side CIFAR-10 replays (F16): a background task uploads dataset images at a fixed rate
//! through the same path as a client upload (checked, stored, recorded, announced), with their
//! true class as label, and reports its progress live.
//!
//! - [`dataset`]: finding and caching the CIFAR-10 splits;
//! - [`download`]: fetching the official archive;
//! - [`run`]: one replay's task and its progress;
//! - this file: the registry of replays of the process.

pub mod dataset;
pub mod download;
mod run;

use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use uuid::Uuid;

pub use dataset::{CifarDatasets, Split};
pub use run::{HeadScore, ReplayContext, ReplaySettings, ReplaySnapshot, ReplayStatus};

use crate::errors::{ApiError, ApiResult, ErrorCode};
use run::Run;

/// Replays running at once, at most: each holds a split in memory and uploads continuously.
pub const MAX_RUNNING: usize = 4;
/// Replays kept for `replays` (the oldest ended ones are forgotten first).
const MAX_KEPT: usize = 50;
/// Progress snapshots buffered per slow subscriber.
const PROGRESS_CAPACITY: usize = 256;

/// Every replay of this process. Cheap to clone.
#[derive(Clone)]
pub struct Replays {
    inner: Arc<Inner>,
}

struct Inner {
    context: ReplayContext,
    datasets: CifarDatasets,
    runs: Mutex<Vec<Arc<Run>>>,
    progress: broadcast::Sender<ReplaySnapshot>,
}

impl Replays {
    pub fn new(context: ReplayContext, datasets: CifarDatasets) -> Self {
        let (progress, _) = broadcast::channel(PROGRESS_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                context,
                datasets,
                runs: Mutex::new(Vec::new()),
                progress,
            }),
        }
    }

    /// Checks the settings and the dataset, then starts the replay in the background.
    pub fn start(&self, settings: ReplaySettings) -> ApiResult<ReplaySnapshot> {
        settings.validate()?;
        // Fail now, not in the background, when the split cannot be found.
        self.inner.datasets.locate(settings.split)?;
        let run = {
            let mut runs = self.inner.runs.lock().expect("replay registry poisoned");
            let running = runs.iter().filter(|r| r.is_running()).count();
            if running >= MAX_RUNNING {
                return Err(ApiError::new(
                    ErrorCode::InvalidArgument,
                    format!("{running} replays are running, the limit is {MAX_RUNNING}: stop one"),
                ));
            }
            let run = Arc::new(Run::new(settings));
            runs.insert(0, run.clone());
            forget_old(&mut runs);
            run
        };
        let snapshot = run.snapshot();
        tokio::spawn(run::drive(
            self.inner.context.clone(),
            self.inner.datasets.clone(),
            run,
            self.inner.progress.clone(),
        ));
        Ok(snapshot)
    }

    /// Asks a replay to stop; its snapshot once stopped (unchanged when it had ended).
    pub async fn stop(&self, id: Uuid) -> ApiResult<ReplaySnapshot> {
        let run = self
            .find(id)
            .ok_or_else(|| ApiError::not_found(format!("replay {id}")))?;
        run.stop().await;
        Ok(run.snapshot())
    }

    pub fn get(&self, id: Uuid) -> Option<ReplaySnapshot> {
        self.find(id).map(|run| run.snapshot())
    }

    /// Newest first.
    pub fn list(&self) -> Vec<ReplaySnapshot> {
        let runs = self.inner.runs.lock().expect("replay registry poisoned");
        runs.iter().map(|run| run.snapshot()).collect()
    }

    /// Every snapshot published from now on.
    pub fn progress(&self) -> broadcast::Receiver<ReplaySnapshot> {
        self.inner.progress.subscribe()
    }

    /// Stops every running replay (on shutdown).
    pub async fn stop_all(&self) {
        let runs: Vec<Arc<Run>> = self
            .inner
            .runs
            .lock()
            .expect("replay registry poisoned")
            .clone();
        for run in runs {
            run.stop().await;
        }
    }

    fn find(&self, id: Uuid) -> Option<Arc<Run>> {
        let runs = self.inner.runs.lock().expect("replay registry poisoned");
        runs.iter().find(|run| run.id == id).cloned()
    }
}

/// Drops the oldest ended replays beyond [`MAX_KEPT`].
fn forget_old(runs: &mut Vec<Arc<Run>>) {
    while runs.len() > MAX_KEPT {
        match runs.iter().rposition(|r| !r.is_running()) {
            Some(oldest_ended) => {
                runs.remove(oldest_ended);
            }
            None => break,
        }
    }
}
