//! `pipeline_feed`: what became durable in the pipeline, in commit order, so a live subscription
//! can resume from a cursor and a slow subscriber catches up instead of missing events. One row
//! per prediction recorded, image completed and image failed, written in the same transaction as
//! the change it tells of.
//!
//! `seq` grows in commit order: SQLite has one writer at a time, and on PostgreSQL the writers
//! take an advisory lock before appending (`vision_db`'s `repository::feed`), so a reader that
//! has seen `seq` n has seen everything up to n. Rows are never updated; the retention job
//! deletes the oldest.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{text, text_null, timestamp_with_time_zone, uuid, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum PipelineFeed {
    Table,
    Seq,
    At,
    Kind,
    ImageId,
    Model,
    ModelVersion,
    PredictionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(PipelineFeed::Table)
                    .if_not_exists()
                    // `INTEGER PRIMARY KEY AUTOINCREMENT` on SQLite (a number is never reused,
                    // even after the newest rows are deleted), `BIGSERIAL` on PostgreSQL.
                    .col(
                        ColumnDef::new(PipelineFeed::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(timestamp_with_time_zone(PipelineFeed::At))
                    .col(text(PipelineFeed::Kind))
                    .col(uuid(PipelineFeed::ImageId))
                    .col(text_null(PipelineFeed::Model))
                    .col(text_null(PipelineFeed::ModelVersion))
                    .col(uuid_null(PipelineFeed::PredictionId))
                    .to_owned(),
            )
            .await?;
        // The retention purge deletes by age.
        manager
            .create_index(
                Index::create()
                    .name("idx_pipeline_feed_at")
                    .table(PipelineFeed::Table)
                    .col(PipelineFeed::At)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(PipelineFeed::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
