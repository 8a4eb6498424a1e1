//! `predictions.shadow`: a shadow version's prediction (stored and compared, never the answer).
//! `false` for every row from before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::boolean;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Predictions {
    Table,
    Shadow,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Predictions::Table)
                    .add_column(boolean(Predictions::Shadow).default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Predictions::Table)
                    .drop_column(Predictions::Shadow)
                    .to_owned(),
            )
            .await
    }
}
