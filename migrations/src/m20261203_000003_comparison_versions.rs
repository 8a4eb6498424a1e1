//! A comparison names each chosen model with its version: `comparisons.fastest_model_version`
//! and `comparisons.most_confident_model_version` (text, not null). Rows from before hold `''`
//! (the version that answered was not kept).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::text;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Comparisons {
    Table,
    FastestModelVersion,
    MostConfidentModelVersion,
}

const COLUMNS: [Comparisons; 2] = [
    Comparisons::FastestModelVersion,
    Comparisons::MostConfidentModelVersion,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Comparisons::Table)
                        .add_column(text(column).default(""))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Comparisons::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
