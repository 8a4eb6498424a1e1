//! Maintenance jobs: retention and data quality. A job runs on a schedule in the
//! embedded process and as `vision job <name>` (a Kubernetes CronJob) elsewhere; either way
//! one run at a time across replicas, through a lease in the database that the runner renews
//! while it works (a killed runner's lease expires, and its run is then marked failed). Every
//! run is recorded with its report (`jobRuns`) and counted in metrics.

pub mod quality;
pub mod retention;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;
use vision_core::ObjectStore;
use vision_db::{Db, DbError, job_runs};

pub use quality::{QualityPolicy, QualityReport};
pub use retention::{RetentionPolicy, RetentionReport};

/// How long a lease lasts without renewal; the runner renews it every third of that.
const LEASE: Duration = Duration::from_secs(120);

/// The jobs there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Retention,
    DataQuality,
}

impl Job {
    pub fn name(self) -> &'static str {
        match self {
            Job::Retention => "retention",
            Job::DataQuality => "data-quality",
        }
    }
}

/// What a call to [`Jobs::run`] did.
#[derive(Debug)]
pub enum Outcome {
    /// The run, finished (succeeded or failed: see its status).
    Ran(job_runs::Model),
    /// Another process holds the job's lease: it runs now.
    Busy,
}

/// Runs jobs for one process (`holder`: its instance id).
#[derive(Clone)]
pub struct Jobs {
    db: Db,
    store: Arc<dyn ObjectStore>,
    holder: String,
    retention: RetentionPolicy,
    quality: QualityPolicy,
}

impl Jobs {
    pub fn new(
        db: Db,
        store: Arc<dyn ObjectStore>,
        holder: String,
        retention: RetentionPolicy,
        quality: QualityPolicy,
    ) -> Self {
        Self {
            db,
            store,
            holder,
            retention,
            quality,
        }
    }

    /// Runs `job` now (as of `now`), unless another process runs it.
    pub async fn run(&self, job: Job, now: DateTime<Utc>) -> Result<Outcome, DbError> {
        let lease = chrono::Duration::from_std(LEASE).expect("a short lease");
        if !self
            .db
            .try_lock_job(job.name(), &self.holder, lease)
            .await?
        {
            return Ok(Outcome::Busy);
        }
        let outcome = self.run_locked(job, now, lease).await;
        if let Err(e) = self.db.unlock_job(job.name(), &self.holder).await {
            tracing::warn!(job = job.name(), error = %e, "job lease not given back; it expires");
        }
        outcome.map(Outcome::Ran)
    }

    async fn run_locked(
        &self,
        job: Job,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<job_runs::Model, DbError> {
        let run = self.db.start_job_run(job.name(), &self.holder).await?;
        tracing::info!(job = job.name(), run = %run.id, "job started");
        let work = async {
            match job {
                Job::Retention => retention::purge(&self.db, &self.store, self.retention, now)
                    .await
                    .map(|report| serde_json::to_string(&report).expect("a report serializes"))
                    .map_err(|e| e.to_string()),
                Job::DataQuality => quality::check(&self.db, &self.store, self.quality, now)
                    .await
                    .map(|report| serde_json::to_string(&report).expect("a report serializes"))
                    .map_err(|e| e.to_string()),
            }
        };
        tokio::pin!(work);
        let mut renew = tokio::time::interval(LEASE / 3);
        renew.tick().await;
        let result = loop {
            tokio::select! {
                result = &mut work => break result,
                _ = renew.tick() => {
                    if let Err(e) = self.db.try_lock_job(job.name(), &self.holder, lease).await {
                        tracing::warn!(job = job.name(), error = %e, "job lease not renewed");
                    }
                }
            }
        };
        let (report, error) = match result {
            Ok(report) => (Some(report), None),
            Err(e) => (None, Some(e)),
        };
        let run = self.db.finish_job_run(run, report, error).await?;
        vision_core::metrics::metrics()
            .job_runs
            .with_label_values(&[job.name(), &run.status])
            .inc();
        match &run.error {
            Some(error) => tracing::warn!(job = job.name(), run = %run.id, error, "job failed"),
            None => {
                tracing::info!(job = job.name(), run = %run.id, report = ?run.report, "job done")
            }
        }
        Ok(run)
    }

    /// Runs `job` every `every` until `shutdown` (the embedded process's schedule); the first
    /// run comes one period after start.
    pub async fn schedule(self, job: Job, every: Duration, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => {}
            }
            match self.run(job, Utc::now()).await {
                Ok(Outcome::Busy) => {
                    tracing::info!(job = job.name(), "job skipped: another process runs it")
                }
                Ok(Outcome::Ran(_)) => {}
                Err(e) => tracing::warn!(job = job.name(), error = %e, "job not run"),
            }
        }
    }
}
