//! `Comparison`: how the classifiers did on one image (F8). Every head version that answered is
//! a contestant: two versions of one head are compared like two heads.

use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use vision_db::entities::comparisons;

#[derive(Debug, Clone, SimpleObject)]
pub struct Comparison {
    /// The head with the shortest inference time.
    pub fastest_model: String,
    /// Its version (empty for images completed before versions were compared).
    pub fastest_model_version: String,
    /// The head with the highest confidence.
    pub most_confident_model: String,
    /// Its version (empty for images completed before versions were compared).
    pub most_confident_model_version: String,
    /// The class most heads chose; null when the most voted classes tie.
    pub consensus_class: Option<String>,
    /// Share of the heads that chose the most voted class, in 0..1.
    pub agreement: f64,
    pub created_at: DateTime<Utc>,
}

impl From<comparisons::Model> for Comparison {
    fn from(row: comparisons::Model) -> Self {
        Self {
            fastest_model: row.fastest_model,
            fastest_model_version: row.fastest_model_version,
            most_confident_model: row.most_confident_model,
            most_confident_model_version: row.most_confident_model_version,
            consensus_class: row.consensus_class,
            agreement: row.agreement,
            created_at: row.created_at,
        }
    }
}
