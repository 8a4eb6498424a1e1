//! Shared vocabulary of the platform: the messages that travel between stages and their typed
//! topics, the message-bus seam, the stage table and the [`Stage`] runner every stage shares, the
//! object-store seam, the descriptor-cache seam and the process-wide Prometheus metrics.
//!
//! Every stage (gateway, extractor, classifiers, recorder) depends on this crate and on nothing of
//! each other, so a stage can run in the same process as the others or in its own.

pub mod bus;
pub mod cache;
pub mod messages;
pub mod metrics;
pub mod objects;
pub mod stage;

pub use bus::{
    Delivery, Message, MessageBus, Outcome, Subscription, Topic, consume, consume_batches, topics,
};
pub use objects::ObjectStore;
pub use stage::{Output, Retry, Stage, StageKind, Verdict};
