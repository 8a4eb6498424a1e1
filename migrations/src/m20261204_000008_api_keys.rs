//! `api_keys`: the API keys callers present (`Authorization: Bearer <key>`), each with a role
//! (F29). Only a key's SHA-256 is stored (the key itself is shown once, when created), with its
//! first characters to tell keys apart in lists. A revoked key stays, marked, for the record.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    text, text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Role,
    Prefix,
    KeyHash,
    CreatedAt,
    CreatedBy,
    RevokedAt,
    RevokedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(uuid(ApiKeys::Id).primary_key())
                    .col(text(ApiKeys::Name))
                    .col(text(ApiKeys::Role))
                    .col(text(ApiKeys::Prefix))
                    .col(text(ApiKeys::KeyHash).unique_key())
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(text(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(text_null(ApiKeys::RevokedBy))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).if_exists().to_owned())
            .await
    }
}
