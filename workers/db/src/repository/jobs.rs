//! Maintenance jobs: their runs (with reports) and the lease that lets one run of a job at a
//! time across replicas; what retention deletes, in batches.

use chrono::Duration;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use uuid::Uuid;

use super::IN_CHUNK;
use crate::entities::{job_locks, job_runs};
use crate::rollups;
use crate::{DateTimeUtc, Db, Result, images, now, predictions};

/// A run's status.
pub const RUNNING: &str = "running";
pub const SUCCEEDED: &str = "succeeded";
pub const FAILED: &str = "failed";

impl Db {
    /// Takes the lease of `job` for `holder` until `lease` from now, if nobody else holds it
    /// (or their lease expired); `true` if `holder` has it now. Renewing is taking it again.
    pub async fn try_lock_job(&self, job: &str, holder: &str, lease: Duration) -> Result<bool> {
        let at = now();
        let row = job_locks::ActiveModel {
            job: Set(job.to_owned()),
            holder: Set(holder.to_owned()),
            expires_at: Set(at + lease),
        };
        // One statement, so two replicas cannot both take it: the row is written only where
        // there is none, or where the lease is the holder's own or has expired.
        let taken = job_locks::Entity::insert(row)
            .on_conflict(
                OnConflict::column(job_locks::Column::Job)
                    .update_columns([job_locks::Column::Holder, job_locks::Column::ExpiresAt])
                    .action_and_where(
                        Expr::col((job_locks::Entity, job_locks::Column::ExpiresAt))
                            .lt(at)
                            .or(Expr::col((job_locks::Entity, job_locks::Column::Holder))
                                .eq(holder)),
                    )
                    .to_owned(),
            )
            .exec_without_returning(&self.conn)
            .await?;
        Ok(taken > 0)
    }

    /// Gives the lease of `job` back, if `holder` has it.
    pub async fn unlock_job(&self, job: &str, holder: &str) -> Result<()> {
        job_locks::Entity::delete_many()
            .filter(job_locks::Column::Job.eq(job))
            .filter(job_locks::Column::Holder.eq(holder))
            .exec(&self.conn)
            .await?;
        Ok(())
    }

    /// Records that `holder` started a run of `job`. Runs of `job` still marked running whose
    /// holder no longer has the lease (it died, was killed) are marked failed first: a crash
    /// never leaves a run "running" for ever.
    pub async fn start_job_run(&self, job: &str, holder: &str) -> Result<job_runs::Model> {
        job_runs::Entity::update_many()
            .col_expr(job_runs::Column::Status, Expr::value(FAILED))
            .col_expr(job_runs::Column::FinishedAt, Expr::value(now()))
            .col_expr(
                job_runs::Column::Error,
                Expr::value("abandoned: its process stopped before the end"),
            )
            .filter(job_runs::Column::Job.eq(job))
            .filter(job_runs::Column::Status.eq(RUNNING))
            .exec(&self.conn)
            .await?;
        let run = job_runs::Model {
            id: Uuid::new_v4(),
            job: job.to_owned(),
            holder: holder.to_owned(),
            started_at: now(),
            finished_at: None,
            status: RUNNING.to_owned(),
            report: None,
            error: None,
        };
        let row: job_runs::ActiveModel = run.clone().into();
        job_runs::Entity::insert(row)
            .exec_without_returning(&self.conn)
            .await?;
        Ok(run)
    }

    /// Records how `run` ended, with its report (JSON) or its error; returns it as stored.
    pub async fn finish_job_run(
        &self,
        run: job_runs::Model,
        report: Option<String>,
        error: Option<String>,
    ) -> Result<job_runs::Model> {
        let finished = job_runs::Model {
            status: if error.is_some() { FAILED } else { SUCCEEDED }.to_owned(),
            finished_at: Some(now()),
            report,
            error,
            ..run
        };
        job_runs::Entity::update_many()
            .col_expr(
                job_runs::Column::Status,
                Expr::value(finished.status.clone()),
            )
            .col_expr(
                job_runs::Column::FinishedAt,
                Expr::value(finished.finished_at),
            )
            .col_expr(
                job_runs::Column::Report,
                Expr::value(finished.report.clone()),
            )
            .col_expr(job_runs::Column::Error, Expr::value(finished.error.clone()))
            .filter(job_runs::Column::Id.eq(finished.id))
            .exec(&self.conn)
            .await?;
        Ok(finished)
    }

    /// The latest runs, newest first; of one job when given.
    pub async fn job_runs(&self, job: Option<&str>, limit: u64) -> Result<Vec<job_runs::Model>> {
        let mut query = job_runs::Entity::find();
        if let Some(job) = job {
            query = query.filter(job_runs::Column::Job.eq(job));
        }
        Ok(query
            .order_by_desc(job_runs::Column::StartedAt)
            .order_by_desc(job_runs::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// At most `limit` images uploaded before `before`, oldest first: (id, object key).
    pub async fn images_before(
        &self,
        before: DateTimeUtc,
        limit: u64,
    ) -> Result<Vec<(Uuid, String)>> {
        Ok(images::Entity::find()
            .select_only()
            .column(images::Column::Id)
            .column(images::Column::ObjectKey)
            .filter(images::Column::CreatedAt.lt(before))
            .order_by_asc(images::Column::CreatedAt)
            .order_by_asc(images::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await?)
    }

    /// Deletes these images' rows (their predictions and comparison go with them); returns
    /// how many.
    pub async fn delete_images(&self, ids: &[Uuid]) -> Result<u64> {
        let mut deleted = 0;
        for chunk in ids.chunks(IN_CHUNK) {
            let txn = self.conn.begin().await?;
            rollups::remove_matching(
                &txn,
                Condition::all().add(
                    Expr::col((predictions::Entity, predictions::Column::ImageId))
                        .is_in(chunk.iter().copied()),
                ),
            )
            .await?;
            deleted += images::Entity::delete_many()
                .filter(images::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?
                .rows_affected;
            txn.commit().await?;
        }
        Ok(deleted)
    }

    /// Deletes at most `batch` predictions recorded before `before`, oldest first; returns
    /// how many. Retention calls it in a loop, so that no one statement holds the write lock
    /// long.
    pub async fn purge_predictions_batch(&self, before: DateTimeUtc, batch: u64) -> Result<u64> {
        let ids: Vec<Uuid> = predictions::Entity::find()
            .select_only()
            .column(predictions::Column::Id)
            .filter(predictions::Column::CreatedAt.lt(before))
            .order_by_asc(predictions::Column::CreatedAt)
            .limit(batch)
            .into_tuple()
            .all(&self.conn)
            .await?;
        let mut deleted = 0;
        for chunk in ids.chunks(IN_CHUNK) {
            let txn = self.conn.begin().await?;
            rollups::remove_matching(
                &txn,
                Condition::all().add(
                    Expr::col((predictions::Entity, predictions::Column::Id))
                        .is_in(chunk.iter().copied()),
                ),
            )
            .await?;
            deleted += predictions::Entity::delete_many()
                .filter(predictions::Column::Id.is_in(chunk.iter().copied()))
                .exec(&txn)
                .await?
                .rows_affected;
            txn.commit().await?;
        }
        Ok(deleted)
    }
}
