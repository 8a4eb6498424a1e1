//! One replay: its settings, its progress and the task that drives it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_db::{Db, images};
use vision_inference::dataset::Sample;

use super::dataset::{CifarDatasets, Split};
use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::ingest::{Incoming, Ingest, Patience};

/// How often the task looks at its images' statuses and publishes its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);
/// After the last upload, how long the replay waits for stragglers without any progress.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// Source recorded on the replayed images.
pub const SOURCE: &str = "cifar10";

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ReplayStatus {
    Running,
    Finished,
    Stopped,
    Failed,
}

/// What a client asked for.
#[derive(Debug, Clone, Copy)]
pub struct ReplaySettings {
    pub split: Split,
    /// Images per second.
    pub rate: f64,
    pub limit: usize,
    pub seed: u64,
}

impl ReplaySettings {
    pub const MIN_RATE: f64 = 0.1;
    pub const MAX_RATE: f64 = 500.0;

    pub fn validate(&self) -> ApiResult<()> {
        if !(Self::MIN_RATE..=Self::MAX_RATE).contains(&self.rate) {
            return Err(invalid(format!(
                "rate must be in {}..={} images/s, not {}",
                Self::MIN_RATE,
                Self::MAX_RATE,
                self.rate
            )));
        }
        let most = self.split.size();
        if !(1..=most).contains(&self.limit) {
            return Err(invalid(format!(
                "limit must be in 1..={most} for the {} split, not {}",
                self.split.name(),
                self.limit
            )));
        }
        Ok(())
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidArgument, message)
}

/// What a replay needs: the upload path every image goes through, the database to follow its
/// images, and the classes the models know (the dataset's other classes are left out).
#[derive(Clone)]
pub struct ReplayContext {
    pub ingest: Ingest,
    pub db: Db,
    pub classes: Arc<[String]>,
}

/// How one head version did on a replay's completed labelled images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HeadScore {
    pub answered: usize,
    pub correct: usize,
}

/// A replay's state at one moment.
#[derive(Debug, Clone)]
pub struct ReplaySnapshot {
    pub id: Uuid,
    pub settings: ReplaySettings,
    pub submitted: usize,
    pub completed: usize,
    pub failed: usize,
    /// Completed images whose consensus class (most heads' answer) is their label.
    pub correct: usize,
    /// Per (head, version), in name order.
    pub scores: BTreeMap<(String, String), HeadScore>,
    pub status: ReplayStatus,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

pub(super) struct Run {
    pub id: Uuid,
    state: Mutex<ReplaySnapshot>,
    stop: CancellationToken,
    /// Cancelled by the task once it has published its final state.
    ended: CancellationToken,
}

impl Run {
    pub fn new(settings: ReplaySettings) -> Self {
        let id = Uuid::new_v4();
        Self {
            id,
            state: Mutex::new(ReplaySnapshot {
                id,
                settings,
                submitted: 0,
                completed: 0,
                failed: 0,
                correct: 0,
                scores: BTreeMap::new(),
                status: ReplayStatus::Running,
                error: None,
                started_at: Utc::now(),
                finished_at: None,
            }),
            stop: CancellationToken::new(),
            ended: CancellationToken::new(),
        }
    }

    pub fn snapshot(&self) -> ReplaySnapshot {
        self.state.lock().expect("replay state poisoned").clone()
    }

    pub fn is_running(&self) -> bool {
        self.snapshot().status == ReplayStatus::Running
    }

    /// Asks the task to stop and waits until it has.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.ended.cancelled().await;
    }

    fn update(&self, change: impl FnOnce(&mut ReplaySnapshot)) -> ReplaySnapshot {
        let mut state = self.state.lock().expect("replay state poisoned");
        change(&mut state);
        state.clone()
    }

    fn end(&self, status: ReplayStatus, error: Option<String>) -> ReplaySnapshot {
        self.update(|s| {
            s.status = status;
            if error.is_some() {
                s.error = error;
            }
            s.finished_at = Some(Utc::now());
        })
    }
}

/// The replay's task: uploads at the asked rate, follows its images to their end, publishes
/// progress, and ends as finished, stopped or failed.
pub(super) async fn drive(
    context: ReplayContext,
    datasets: CifarDatasets,
    run: Arc<Run>,
    progress: broadcast::Sender<ReplaySnapshot>,
) {
    let settings = run.snapshot().settings;
    let outcome = tokio::select! {
        outcome = replay(&context, &datasets, &run, &progress, settings) => outcome,
        _ = run.stop.cancelled() => Ok(ReplayStatus::Stopped),
    };
    let last = match outcome {
        Ok(status) => run.end(status, None),
        Err(error) => {
            tracing::warn!(replay = %run.id, %error, "replay failed");
            run.end(ReplayStatus::Failed, Some(error))
        }
    };
    tracing::info!(
        replay = %run.id,
        status = ?last.status,
        submitted = last.submitted,
        completed = last.completed,
        failed = last.failed,
        "replay ended"
    );
    let _ = progress.send(last);
    run.ended.cancel();
}

async fn replay(
    context: &ReplayContext,
    datasets: &CifarDatasets,
    run: &Run,
    progress: &broadcast::Sender<ReplaySnapshot>,
    settings: ReplaySettings,
) -> Result<ReplayStatus, String> {
    let all = datasets.load(settings.split).await.map_err(|e| e.message)?;
    let samples = known_classes(&all, &context.classes)?;
    if settings.limit > samples.len() {
        return Err(format!(
            "the {} split has {} images of the models' classes, fewer than the {} asked for",
            settings.split.name(),
            samples.len(),
            settings.limit
        ));
    }
    let order = shuffled(samples.len(), settings.seed);
    let period = Duration::from_secs_f64(1.0 / settings.rate);
    let mut next_upload = Instant::now();
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut in_flight: HashSet<Uuid> = HashSet::new();
    let mut sent = 0usize;
    let mut last_change = Instant::now();
    loop {
        if sent == settings.limit {
            if in_flight.is_empty() {
                return Ok(ReplayStatus::Finished);
            }
            if last_change.elapsed() > DRAIN_TIMEOUT {
                return Err(format!(
                    "{} images still unfinished {} s after the last upload",
                    in_flight.len(),
                    DRAIN_TIMEOUT.as_secs()
                ));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_upload), if sent < settings.limit => {
                let (sample, label) = &samples[order[sent]];
                sent += 1;
                match upload(&context.ingest, sample, label).await {
                    Ok(id) => {
                        in_flight.insert(id);
                        run.update(|s| s.submitted += 1);
                    }
                    Err(e) => {
                        tracing::warn!(replay = %run.id, error = %e.message, "replay upload refused");
                        run.update(|s| {
                            s.failed += 1;
                            s.error = Some(format!("{}: {}", sample.name, e.message));
                        });
                    }
                }
                last_change = Instant::now();
                // Keep the average rate, but never burst to catch up more than a second.
                next_upload = (next_upload + period).max(Instant::now() - Duration::from_secs(1));
            }
            _ = ticks.tick() => {
                if follow(&context.db, run, &mut in_flight).await? {
                    last_change = Instant::now();
                }
                let _ = progress.send(run.snapshot());
            }
        }
    }
}

/// The samples of classes the models know, each with its label (the models' spelling of the
/// class); refused when the dataset and the models share no class.
fn known_classes<'a>(
    samples: &'a [Sample],
    classes: &[String],
) -> Result<Vec<(&'a Sample, String)>, String> {
    let known: Vec<(&Sample, String)> = samples
        .iter()
        .filter_map(|s| {
            let class = classes.iter().find(|c| c.eq_ignore_ascii_case(s.class()))?;
            Some((s, class.clone()))
        })
        .collect();
    if known.is_empty() {
        let mut found: Vec<&str> = samples.iter().map(|s| s.class()).collect();
        found.dedup();
        return Err(format!(
            "the dataset's classes ({}) share none with the models' ({})",
            found.join(", "),
            classes.join(", ")
        ));
    }
    Ok(known)
}

/// Moves the images that reached the end of the pipeline out of `in_flight` into the counts.
/// `true` when any did.
async fn follow(db: &Db, run: &Run, in_flight: &mut HashSet<Uuid>) -> Result<bool, String> {
    if in_flight.is_empty() {
        return Ok(false);
    }
    let ids: Vec<Uuid> = in_flight.iter().copied().collect();
    let rows = match db.get_images(&ids).await {
        Ok(rows) => rows,
        // The database may be briefly away: try again at the next tick.
        Err(e) => {
            tracing::warn!(replay = %run.id, error = %e, "cannot read replay images");
            return Ok(false);
        }
    };
    let completed: Vec<&images::Model> = rows
        .iter()
        .filter(|r| r.status == images::ImageStatus::Completed)
        .collect();
    let failed: Vec<Uuid> = rows
        .iter()
        .filter(|r| r.status == images::ImageStatus::Failed)
        .map(|r| r.id)
        .collect();
    if completed.is_empty() && failed.is_empty() {
        return Ok(false);
    }
    let scored = match score(db, &completed).await {
        Ok(scored) => scored,
        Err(e) => {
            tracing::warn!(replay = %run.id, error = %e, "cannot read replay predictions");
            return Ok(false);
        }
    };
    for id in completed.iter().map(|r| r.id).chain(failed.iter().copied()) {
        in_flight.remove(&id);
    }
    run.update(|s| {
        s.completed += completed.len();
        s.failed += failed.len();
        s.correct += scored.consensus_correct;
        for (head, score) in scored.heads {
            let total = s.scores.entry(head).or_default();
            total.answered += score.answered;
            total.correct += score.correct;
        }
    });
    Ok(true)
}

/// How the heads did on some completed images.
struct Scored {
    consensus_correct: usize,
    heads: HashMap<(String, String), HeadScore>,
}

async fn score(db: &Db, completed: &[&images::Model]) -> Result<Scored, vision_db::DbError> {
    let mut scored = Scored {
        consensus_correct: 0,
        heads: HashMap::new(),
    };
    if completed.is_empty() {
        return Ok(scored);
    }
    let ids: Vec<Uuid> = completed.iter().map(|r| r.id).collect();
    for p in db.predictions_for_images(&ids).await? {
        let Some(correct) = p.correct else { continue };
        let head = scored.heads.entry((p.model, p.model_version)).or_default();
        head.answered += 1;
        head.correct += usize::from(correct);
    }
    let labels: HashMap<Uuid, &str> = completed
        .iter()
        .filter_map(|r| Some((r.id, r.label.as_deref()?)))
        .collect();
    scored.consensus_correct = db
        .comparisons_for_images(&ids)
        .await?
        .iter()
        .filter(|c| {
            let label = labels.get(&c.image_id);
            c.consensus_class
                .as_deref()
                .is_some_and(|class| Some(&class) == label)
        })
        .count();
    Ok(scored)
}

/// Uploads one sample as a client would, with its class as the label.
async fn upload(ingest: &Ingest, sample: &Sample, label: &str) -> ApiResult<Uuid> {
    let bytes = sample.bytes.clone();
    let content = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let mut file = tempfile::tempfile()?;
        file.write_all(&bytes)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    })
    .await??;
    let incoming = Incoming {
        filename: sample.name.clone(),
        content,
        label: Some(label.to_string()),
    };
    let record = ingest
        .upload_one(incoming, SOURCE, Patience::Unbounded)
        .await?;
    Ok(record.id)
}

/// `0..n` shuffled by a seeded Fisher-Yates (splitmix64): the same seed gives the same order on
/// every machine.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = shuffled(1000, 7);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(a, shuffled(1000, 7));
        assert_ne!(a, shuffled(1000, 8));
        // Mixed classes early on: the first 50 do not come from one class folder of 100.
        assert!(a[..50].iter().any(|&i| i / 100 != a[0] / 100));
    }

    #[test]
    fn settings_are_checked() {
        let ok = ReplaySettings {
            split: Split::Test,
            rate: 10.0,
            limit: 100,
            seed: 0,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            ReplaySettings { rate: 0.0, ..ok },
            ReplaySettings {
                rate: f64::NAN,
                ..ok
            },
            ReplaySettings { rate: 501.0, ..ok },
            ReplaySettings { limit: 0, ..ok },
            ReplaySettings {
                limit: 10_001,
                ..ok
            },
        ] {
            assert_eq!(bad.validate().unwrap_err().code, ErrorCode::InvalidArgument);
        }
        assert!(
            ReplaySettings {
                split: Split::Train,
                limit: 50_000,
                ..ok
            }
            .validate()
            .is_ok()
        );
    }
}
