//! Statistics rollups: figures kept up to date as predictions are recorded or deleted, so
//! that statistics read a bounded number of rows whatever the number of predictions.
//!
//! - `stats_by_model`: per time bucket (at several sizes, `level` seconds) and model version,
//!   counts, sums and a latency sketch (see `vision_db::LatencySketch`).
//! - `stats_by_class`: per time bucket, model version, true label (`''` when unlabelled) and
//!   predicted class, a count: confusion matrices and class distributions.
//! - An index on `images.completed_at`, for `throughput`.
//! - `stats_rollup_state`: one row; `rebuilt_at` is null until the rollups were computed
//!   from the predictions already stored (done once, at the first start after this
//!   migration).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, blob, double, integer, text, timestamp_with_time_zone_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum StatsByModel {
    Table,
    Level,
    Bucket,
    Model,
    ModelVersion,
    Count,
    Labeled,
    Correct,
    SumInferenceMs,
    SumConfidence,
    Sketch,
}

#[derive(DeriveIden, Clone, Copy)]
enum StatsByClass {
    Table,
    Level,
    Bucket,
    Model,
    ModelVersion,
    Label,
    PredictedClass,
    Count,
}

#[derive(DeriveIden, Clone, Copy)]
enum Images {
    Table,
    CompletedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum StatsRollupState {
    Table,
    Id,
    RebuiltAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use StatsByClass as C;
        use StatsByModel as M;
        manager
            .create_table(
                Table::create()
                    .table(M::Table)
                    .if_not_exists()
                    .col(integer(M::Level))
                    .col(big_integer(M::Bucket))
                    .col(text(M::Model))
                    .col(text(M::ModelVersion))
                    .col(big_integer(M::Count))
                    .col(big_integer(M::Labeled))
                    .col(big_integer(M::Correct))
                    .col(double(M::SumInferenceMs))
                    .col(double(M::SumConfidence))
                    .col(blob(M::Sketch))
                    .primary_key(
                        Index::create()
                            .col(M::Level)
                            .col(M::Bucket)
                            .col(M::Model)
                            .col(M::ModelVersion),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(C::Table)
                    .if_not_exists()
                    .col(integer(C::Level))
                    .col(big_integer(C::Bucket))
                    .col(text(C::Model))
                    .col(text(C::ModelVersion))
                    .col(text(C::Label))
                    .col(text(C::PredictedClass))
                    .col(big_integer(C::Count))
                    .primary_key(
                        Index::create()
                            .col(C::Level)
                            .col(C::Bucket)
                            .col(C::Model)
                            .col(C::ModelVersion)
                            .col(C::Label)
                            .col(C::PredictedClass),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StatsRollupState::Table)
                    .if_not_exists()
                    .col(integer(StatsRollupState::Id).primary_key())
                    .col(timestamp_with_time_zone_null(StatsRollupState::RebuiltAt))
                    .to_owned(),
            )
            .await?;
        // `throughput` counts the images completed in its window.
        manager
            .create_index(
                Index::create()
                    .name("idx_images_completed_at")
                    .table(Images::Table)
                    .col(Images::CompletedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        let mut insert = Query::insert();
        insert
            .into_table(StatsRollupState::Table)
            .columns([StatsRollupState::Id])
            .values_panic([1.into()]);
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_images_completed_at")
                    .table(Images::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        for table in [
            StatsRollupState::Table.into_iden(),
            StatsByClass::Table.into_iden(),
            StatsByModel::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
