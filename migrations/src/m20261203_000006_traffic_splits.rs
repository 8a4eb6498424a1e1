//! `model_traffic_splits`: an A/B test of a head (F24): a candidate version answers a share of
//! the images (chosen by the image, so a redelivered image goes to the same arm); production
//! answers the rest. One row per head under test.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{double, integer, text, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ModelTrafficSplits {
    Table,
    Name,
    Version,
    Share,
    UpdatedAt,
    UpdatedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ModelTrafficSplits::Table)
                    .if_not_exists()
                    .col(text(ModelTrafficSplits::Name).primary_key())
                    .col(integer(ModelTrafficSplits::Version))
                    .col(double(ModelTrafficSplits::Share))
                    .col(timestamp_with_time_zone(ModelTrafficSplits::UpdatedAt))
                    .col(text(ModelTrafficSplits::UpdatedBy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(ModelTrafficSplits::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
