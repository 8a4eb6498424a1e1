//! `predictions`: one row per (image, model, model version).

use sea_orm::entity::prelude::*;

use super::TopKList;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "predictions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub image_id: Uuid,
    /// The head (`fast`, `balanced`, ...).
    pub model: String,
    pub model_version: String,
    pub predicted_class: String,
    pub class_index: i32,
    pub confidence: f64,
    #[sea_orm(column_type = "JsonBinary")]
    pub top_k: TopKList,
    pub inference_ms: f64,
    /// Whether `predicted_class` equals the image label; `None` when the image has no label.
    pub correct: Option<bool>,
    pub created_at: DateTimeUtc,
    /// A shadow version's prediction: stored and compared, never the answer (left out of the
    /// comparison and of the statistics).
    pub shadow: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::images::Entity",
        from = "Column::ImageId",
        to = "super::images::Column::Id",
        on_update = "Cascade",
        on_delete = "Cascade"
    )]
    Image,
}

impl Related<super::images::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Image.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
