//! sea-orm entities, one module per table (see the `vision-migrations` crate for the schema).

pub mod api_keys;
pub mod audit_log;
pub mod comparisons;
pub mod events;
pub mod image_descriptors;
pub mod images;
pub mod job_locks;
pub mod job_runs;
pub mod model_alias_history;
pub mod model_aliases;
pub mod model_traffic_splits;
pub mod model_versions;
pub mod pipeline_feed;
pub mod predictions;

use serde::{Deserialize, Serialize};

/// Image descriptors written by the feature extractor (stored as a JSON array of numbers).
///
/// Each value is written with the shortest decimal that reads back as the same `f32`
/// (`0.1`, not `0.10000000149011612`), keeping the stored array small. Values must be finite.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, sea_orm::FromJsonQueryResult)]
#[serde(transparent)]
pub struct Descriptors(pub Vec<f32>);

impl Serialize for Descriptors {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|&x| shortest_f64(x)))
    }
}

/// The `f64` whose shortest decimal form is the shortest decimal form of `x`.
fn shortest_f64(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

impl std::ops::Deref for Descriptors {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

/// One entry of a prediction's top-k list: `{"class": "cat", "probability": 0.83}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopK {
    /// Class name.
    pub class: String,
    /// Probability in `[0, 1]`.
    pub probability: f64,
}

/// A prediction's top-k list, most probable first (stored as a JSON array of [`TopK`]).
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, sea_orm::FromJsonQueryResult,
)]
#[serde(transparent)]
pub struct TopKList(pub Vec<TopK>);

impl std::ops::Deref for TopKList {
    type Target = [TopK];
    fn deref(&self) -> &[TopK] {
        &self.0
    }
}
