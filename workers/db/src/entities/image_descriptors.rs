//! `image_descriptors`: an image's descriptors from the extractor versions other than its own
//! (`images.extractor_version`): those a served head of another descriptor size read.

use sea_orm::entity::prelude::*;

use super::Descriptors;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "image_descriptors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub image_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub extractor_version: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub descriptors: Descriptors,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
