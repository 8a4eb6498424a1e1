//! The model registry (F20): `model_versions` (immutable: one row per registered version of a
//! model, its artifact in the object store), `model_aliases` (an alias such as `production`
//! points at one version of a model, as in MLflow 2.9+) and `model_alias_history` (append-only:
//! every move of an alias, so "which version served at 14:00" has an answer).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, integer, integer_null, json_binary, json_binary_null, text, text_null,
    timestamp_with_time_zone, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ModelVersions {
    Table,
    Id,
    Name,
    Version,
    Label,
    Role,
    Sha256,
    SizeBytes,
    ArtifactKey,
    InputShape,
    OutputShape,
    DescriptorDim,
    InputSize,
    Classes,
    ExtractorLabel,
    Metrics,
    Card,
    Lineage,
    RegisteredBy,
    RegisteredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ModelAliases {
    Table,
    Name,
    Alias,
    Version,
    UpdatedAt,
    UpdatedBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum ModelAliasHistory {
    Table,
    Id,
    Name,
    Alias,
    Version,
    PreviousVersion,
    ChangedAt,
    ChangedBy,
    Reason,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ModelVersions::Table)
                    .if_not_exists()
                    .col(uuid(ModelVersions::Id).primary_key())
                    .col(text(ModelVersions::Name))
                    .col(integer(ModelVersions::Version))
                    .col(text(ModelVersions::Label))
                    .col(text(ModelVersions::Role))
                    .col(text(ModelVersions::Sha256))
                    .col(big_integer(ModelVersions::SizeBytes))
                    .col(text(ModelVersions::ArtifactKey))
                    .col(json_binary(ModelVersions::InputShape))
                    .col(json_binary(ModelVersions::OutputShape))
                    .col(integer(ModelVersions::DescriptorDim))
                    .col(integer_null(ModelVersions::InputSize))
                    .col(json_binary_null(ModelVersions::Classes))
                    .col(text_null(ModelVersions::ExtractorLabel))
                    .col(json_binary_null(ModelVersions::Metrics))
                    .col(json_binary_null(ModelVersions::Card))
                    .col(json_binary_null(ModelVersions::Lineage))
                    .col(text(ModelVersions::RegisteredBy))
                    .col(timestamp_with_time_zone(ModelVersions::RegisteredAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("model_versions_name_version", ModelVersions::Version),
            ("model_versions_name_label", ModelVersions::Label),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ModelVersions::Table)
                        .col(ModelVersions::Name)
                        .col(column)
                        .unique()
                        .if_not_exists()
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(ModelAliases::Table)
                    .if_not_exists()
                    .col(text(ModelAliases::Name))
                    .col(text(ModelAliases::Alias))
                    .col(integer(ModelAliases::Version))
                    .col(timestamp_with_time_zone(ModelAliases::UpdatedAt))
                    .col(text(ModelAliases::UpdatedBy))
                    .primary_key(
                        Index::create()
                            .col(ModelAliases::Name)
                            .col(ModelAliases::Alias),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ModelAliasHistory::Table)
                    .if_not_exists()
                    .col(uuid(ModelAliasHistory::Id).primary_key())
                    .col(text(ModelAliasHistory::Name))
                    .col(text(ModelAliasHistory::Alias))
                    .col(integer_null(ModelAliasHistory::Version))
                    .col(integer_null(ModelAliasHistory::PreviousVersion))
                    .col(timestamp_with_time_zone(ModelAliasHistory::ChangedAt))
                    .col(text(ModelAliasHistory::ChangedBy))
                    .col(text_null(ModelAliasHistory::Reason))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("model_alias_history_alias_time")
                    .table(ModelAliasHistory::Table)
                    .col(ModelAliasHistory::Name)
                    .col(ModelAliasHistory::Alias)
                    .col(ModelAliasHistory::ChangedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ModelAliasHistory::Table.into_iden(),
            ModelAliases::Table.into_iden(),
            ModelVersions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
