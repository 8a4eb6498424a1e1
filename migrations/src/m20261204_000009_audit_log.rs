//! `audit_log`: what callers did (F25): every mutation, key change, promotion and refused or
//! failed authentication, append-only, with who (the key's id, never the key), their role, IP,
//! the operation, its outcome code and the request id. Each entry's hash covers its fields and
//! the previous entry's hash, and `seq` counts without gaps, so an entry changed, removed or
//! inserted afterwards breaks the chain (`vision audit verify`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, text, text_null, timestamp_with_time_zone};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Seq,
    At,
    Actor,
    Role,
    Ip,
    RequestId,
    Operation,
    Outcome,
    Detail,
    PrevHash,
    Hash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .if_not_exists()
                    .col(big_integer(AuditLog::Seq).primary_key())
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(text(AuditLog::Actor))
                    .col(text_null(AuditLog::Role))
                    .col(text_null(AuditLog::Ip))
                    .col(text(AuditLog::RequestId))
                    .col(text(AuditLog::Operation))
                    .col(text(AuditLog::Outcome))
                    .col(text_null(AuditLog::Detail))
                    .col(text(AuditLog::PrevHash))
                    .col(text(AuditLog::Hash))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_audit_log_actor")
                    .table(AuditLog::Table)
                    .col(AuditLog::Actor)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuditLog::Table).if_exists().to_owned())
            .await
    }
}
