//! Maintenance jobs (retention, data quality): `job_runs` keeps every run with its report,
//! `job_locks` lets one run of a job at a time across replicas (a lease: a holder that dies
//! stops renewing it and another may take it after it expires).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum JobRuns {
    Table,
    Id,
    Job,
    Holder,
    StartedAt,
    FinishedAt,
    Status,
    Report,
    Error,
}

#[derive(DeriveIden, Clone, Copy)]
enum JobLocks {
    Table,
    Job,
    Holder,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobRuns::Table)
                    .if_not_exists()
                    .col(uuid(JobRuns::Id).primary_key())
                    .col(text(JobRuns::Job))
                    .col(text(JobRuns::Holder))
                    .col(timestamp_with_time_zone(JobRuns::StartedAt))
                    .col(timestamp_with_time_zone_null(JobRuns::FinishedAt))
                    .col(text(JobRuns::Status))
                    .col(text_null(JobRuns::Report))
                    .col(text_null(JobRuns::Error))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_job_runs_job_started")
                    .table(JobRuns::Table)
                    .col(JobRuns::Job)
                    .col(JobRuns::StartedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(JobLocks::Table)
                    .if_not_exists()
                    .col(text(JobLocks::Job).primary_key())
                    .col(text(JobLocks::Holder))
                    .col(timestamp_with_time_zone(JobLocks::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobLocks::Table).if_exists().to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(JobRuns::Table).if_exists().to_owned())
            .await
    }
}
