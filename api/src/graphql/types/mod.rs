//! GraphQL object types. Each wraps a database row and resolves its relations through the
//! dataloaders.

mod comparison;
mod connection;
mod experiments;
mod feed;
mod image;
mod model;
mod prediction;
mod registry;
mod replay;
mod statistics;
mod stats;

pub use comparison::Comparison;
pub use connection::{ImageConnection, ImageEdge, PageInfo, PredictionConnection, PredictionEdge};
pub use experiments::{AbComparison, Backtest, PairedComparison, ShadowComparison};
pub use feed::{PipelineEvent, PipelineEventKind, cursor_text};
pub use image::{Image, ImageFilter, ImageStatus};
pub use model::{ModelInfo, ModelKind};
pub use prediction::{ClassScore, Prediction};
pub use registry::{
    AbTest, AliasMove, AliasMoveKind, AliasUpdate, ModelAlias, ModelVersion, RegisteredModel,
};
pub use replay::{Replay, ReplayInput};
pub use statistics::{ClassCount, ClassMetrics, ConfusionMatrix, Throughput, TimeBucket};
pub use stats::ModelStats;
