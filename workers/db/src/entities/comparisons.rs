//! `comparisons`: one row per completed image (F8).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "comparisons")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub image_id: Uuid,
    pub fastest_model: String,
    /// Version of `fastest_model` that answered (`''` in rows from before versions were kept).
    pub fastest_model_version: String,
    pub most_confident_model: String,
    /// Version of `most_confident_model` that answered (`''` in rows from before versions were
    /// kept).
    pub most_confident_model_version: String,
    /// Class most models voted for; `None` when there is no majority.
    pub consensus_class: Option<String>,
    /// Fraction of models that voted for the consensus class, in `[0, 1]`.
    pub agreement: f64,
    pub created_at: DateTimeUtc,
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
