//! `events`: audit log of system events (F25).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub created_at: DateTimeUtc,
    /// Dotted kind, e.g. `image.accepted`, `image.failed`, `model.loaded`.
    pub kind: String,
    /// What the event is about (an image id, a model name), if anything.
    pub subject: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub detail: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
