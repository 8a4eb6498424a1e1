//! `pipeline_feed`: what became durable in the pipeline, in commit order (the cursor source of
//! live subscriptions).

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "pipeline_feed")]
pub struct Model {
    /// Grows in commit order; a number is never reused.
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub at: DateTimeUtc,
    pub kind: FeedKind,
    pub image_id: Uuid,
    /// The head, for [`FeedKind::PredictionRecorded`].
    pub model: Option<String>,
    pub model_version: Option<String>,
    pub prediction_id: Option<Uuid>,
}

/// What happened.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum FeedKind {
    /// A prediction is in the database.
    #[sea_orm(string_value = "prediction_recorded")]
    PredictionRecorded,
    /// Every expected head answered; the comparison is in the database.
    #[sea_orm(string_value = "image_completed")]
    ImageCompleted,
    /// The image cannot be processed; the reason is on the image.
    #[sea_orm(string_value = "image_failed")]
    ImageFailed,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
