//! `Replay`: a server-side CIFAR-10 replay and its progress (F16).

use async_graphql::{ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use crate::replay::{ReplaySettings, ReplaySnapshot, ReplayStatus, Split};

pub struct Replay(pub ReplaySnapshot);

#[Object]
impl Replay {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn split(&self) -> Split {
        self.0.settings.split
    }

    /// Images per second asked for.
    async fn rate(&self) -> f64 {
        self.0.settings.rate
    }

    /// How many images the replay sends in all.
    async fn limit(&self) -> i32 {
        self.0.settings.limit as i32
    }

    /// Seed of the shuffle.
    async fn seed(&self) -> i64 {
        self.0.settings.seed as i64
    }

    /// Images uploaded so far (accepted by the pipeline).
    async fn submitted(&self) -> i32 {
        self.0.submitted as i32
    }

    /// Images with every prediction recorded.
    async fn completed(&self) -> i32 {
        self.0.completed as i32
    }

    /// Images refused at upload or failed in the pipeline.
    async fn failed(&self) -> i32 {
        self.0.failed as i32
    }

    /// Completed images whose consensus class (the class most heads chose) is their label.
    async fn correct(&self) -> i32 {
        self.0.correct as i32
    }

    /// How each head version did on the completed images, by head name and version.
    async fn scores(&self) -> Vec<ReplayScore> {
        self.0
            .scores
            .iter()
            .map(|((model, version), score)| ReplayScore {
                model: model.clone(),
                model_version: version.clone(),
                answered: score.answered as i32,
                correct: score.correct as i32,
                accuracy: (score.answered > 0)
                    .then(|| score.correct as f64 / score.answered as f64),
            })
            .collect()
    }

    async fn status(&self) -> ReplayStatus {
        self.0.status
    }

    /// Why the replay failed, or the last refused image.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
}

/// One head version's answers on a replay's completed images.
#[derive(Debug, Clone, SimpleObject)]
pub struct ReplayScore {
    pub model: String,
    pub model_version: String,
    /// Completed replay images it answered.
    pub answered: i32,
    /// Of those, the ones it got right.
    pub correct: i32,
    /// `correct / answered`; null before any answer.
    pub accuracy: Option<f64>,
}

#[derive(Debug, Clone, InputObject)]
pub struct ReplayInput {
    #[graphql(default_with = "Split::Test")]
    pub split: Split,
    /// Images per second, 0.1 ..= 500.
    #[graphql(default = 10.0)]
    pub rate: f64,
    /// 1 ..= 10000 (TEST) or 50000 (TRAIN).
    #[graphql(default = 100)]
    pub limit: i32,
    /// Seed of the shuffle: same seed, same images in the same order.
    #[graphql(default = 0)]
    pub seed: i32,
}

impl ReplayInput {
    pub fn settings(&self) -> ReplaySettings {
        ReplaySettings {
            split: self.split,
            rate: self.rate,
            limit: usize::try_from(self.limit).unwrap_or(0),
            seed: self.seed as u32 as u64,
        }
    }
}

impl Default for ReplayInput {
    fn default() -> Self {
        Self {
            split: Split::Test,
            rate: 10.0,
            limit: 100,
            seed: 0,
        }
    }
}
