//! `model_alias_history`: every move of an alias, append-only. `version` is `null` when the
//! alias was removed.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a move was. Stored as text; an unknown stored value is an error.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
#[serde(rename_all = "lowercase")]
pub enum MoveKind {
    /// An alias set (a promotion, an archive, a shadow...).
    #[sea_orm(string_value = "set")]
    Set,
    /// `production` put back where it was before its last forward move.
    #[sea_orm(string_value = "rollback")]
    Rollback,
    /// An A/B test started, changed (`version` the candidate) or stopped (`version` null).
    #[sea_orm(string_value = "ab")]
    Ab,
}

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "model_alias_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub alias: String,
    pub version: Option<i32>,
    pub previous_version: Option<i32>,
    pub changed_at: DateTimeUtc,
    pub changed_by: String,
    pub reason: Option<String>,
    pub kind: MoveKind,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
