//! `audit_log`: callers' actions, append-only and hash-chained.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    /// 1, 2, 3... without gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    pub at: DateTimeUtc,
    /// `key:<id>`, `anonymous`, `cli:<user>`: never a secret.
    pub actor: String,
    pub role: Option<String>,
    pub ip: Option<String>,
    pub request_id: String,
    /// e.g. `mutation uploadImage`, `authenticate`.
    pub operation: String,
    /// `OK` or the refusal's code.
    pub outcome: String,
    pub detail: Option<String>,
    pub prev_hash: String,
    /// Hex SHA-256 of this entry's fields and `prev_hash`.
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
