//! The images table doubles as the upload outbox: `published_at` is set once the image's
//! message is on the bus. A gateway that could not publish (Kafka unreachable) still accepts the
//! upload; its relay publishes the rows still unpublished later.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::timestamp_with_time_zone_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Images {
    Table,
    CreatedAt,
    PublishedAt,
}

/// Partial index: the relay only ever looks for the (few) unpublished rows.
const UNPUBLISHED_INDEX: &str = "idx_images_unpublished";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .add_column(timestamp_with_time_zone_null(Images::PublishedAt))
                    .to_owned(),
            )
            .await?;
        // Rows from before the outbox were published when they were accepted.
        manager
            .exec_stmt(
                Query::update()
                    .table(Images::Table)
                    .value(Images::PublishedAt, Expr::col(Images::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // sea-query has no partial indexes; this statement is the same in SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX IF NOT EXISTS {UNPUBLISHED_INDEX} ON images (created_at) \
                 WHERE published_at IS NULL"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX IF EXISTS {UNPUBLISHED_INDEX}"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Images::Table)
                    .drop_column(Images::PublishedAt)
                    .to_owned(),
            )
            .await
    }
}
