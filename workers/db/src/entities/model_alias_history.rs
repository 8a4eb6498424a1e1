//! `model_alias_history`: every move of an alias, append-only. `version` is `null` when the
//! alias was removed.

use sea_orm::entity::prelude::*;

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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
