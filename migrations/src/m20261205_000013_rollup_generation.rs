//! `stats_rollup_state.generation`: counts the changes to rollup buckets that readers may hold
//! as closed (predictions taken out, predictions added with an old time, a rebuild), so a
//! process that keeps closed time-series points in memory knows when to drop them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum StatsRollupState {
    Table,
    Generation,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StatsRollupState::Table)
                    .add_column(big_integer(StatsRollupState::Generation).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(StatsRollupState::Table)
                    .drop_column(StatsRollupState::Generation)
                    .to_owned(),
            )
            .await
    }
}
