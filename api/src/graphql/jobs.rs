//! Maintenance jobs over GraphQL: their runs with reports (`jobRuns`, viewers), and running one
//! now (`runJob`, admins).

use async_graphql::{Context, Enum, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use vision_db::job_runs;

use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::jobs::{Job, Outcome};
use crate::state::AppState;

/// A maintenance job.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// Deletes images (with their objects), predictions and pipeline-feed rows older than the
    /// configured ages.
    Retention,
    /// Checks rows against objects, images stuck, predictions and comparisons missing, and
    /// the audit chain; reports what it finds.
    DataQuality,
}

impl From<JobKind> for Job {
    fn from(kind: JobKind) -> Self {
        match kind {
            JobKind::Retention => Job::Retention,
            JobKind::DataQuality => Job::DataQuality,
        }
    }
}

/// One run of a maintenance job.
#[derive(SimpleObject)]
pub struct JobRun {
    pub id: ID,
    /// `retention` or `data-quality`.
    pub job: String,
    /// The process that ran it.
    pub holder: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// What it did, as JSON (retention: what it deleted and the cut-off times; data quality:
    /// each kind of finding with its count and first examples).
    pub report: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<job_runs::Model> for JobRun {
    fn from(run: job_runs::Model) -> Self {
        Self {
            id: ID(run.id.to_string()),
            job: run.job,
            holder: run.holder,
            started_at: run.started_at,
            finished_at: run.finished_at,
            status: run.status,
            report: run.report,
            error: run.error,
        }
    }
}

#[derive(Default)]
pub struct JobsQuery;

#[Object]
impl JobsQuery {
    /// The latest runs of maintenance jobs, newest first (of one job when given; `limit` at
    /// most 200).
    async fn job_runs(
        &self,
        ctx: &Context<'_>,
        job: Option<JobKind>,
        #[graphql(default = 20)] limit: i32,
    ) -> ApiResult<Vec<JobRun>> {
        if !(1..=200).contains(&limit) {
            return Err(ApiError::new(
                ErrorCode::InvalidArgument,
                "limit is between 1 and 200",
            ));
        }
        let name = job.map(|kind| Job::from(kind).name());
        let db = &ctx.data_unchecked::<AppState>().db;
        Ok(db
            .job_runs(name, limit as u64)
            .await?
            .into_iter()
            .map(JobRun::from)
            .collect())
    }
}

#[derive(Default)]
pub struct JobsMutation;

#[Object]
impl JobsMutation {
    /// Runs a maintenance job now and returns its run once it ends (admin). JOB_BUSY if
    /// another process runs it at the moment.
    async fn run_job(&self, ctx: &Context<'_>, job: JobKind) -> ApiResult<JobRun> {
        let jobs = &ctx.data_unchecked::<AppState>().jobs;
        match jobs.run(job.into(), Utc::now()).await? {
            Outcome::Ran(run) => Ok(run.into()),
            Outcome::Busy => Err(ApiError::new(
                ErrorCode::JobBusy,
                "another process runs this job now; see jobRuns",
            )),
        }
    }
}
