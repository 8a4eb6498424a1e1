//! `model_alias_history.kind`: what a move was: `set` (a promotion, an archive, any alias set),
//! `rollback` (undoing the last forward move of production), or `ab` (an A/B test started,
//! changed or stopped: `version` is the candidate, the reason holds its share). `set` for every
//! row from before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ModelAliasHistory {
    Table,
    Kind,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ModelAliasHistory::Table)
                    .add_column(text(ModelAliasHistory::Kind).default("set"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ModelAliasHistory::Table)
                    .drop_column(ModelAliasHistory::Kind)
                    .to_owned(),
            )
            .await
    }
}
