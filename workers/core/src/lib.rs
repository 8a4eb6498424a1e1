//! Shared vocabulary of the platform: the messages that travel between stages, the message-bus
//! seam, the object-store seam, the descriptor-cache seam, the CIFAR-10 classes and the process-wide Prometheus metrics.
//!
//! Every stage (gateway, extractor, classifiers, recorder) depends on this crate and on nothing of
//! each other, so a stage can run in the same process as the others or in its own.

pub mod bus;
pub mod cache;
pub mod classes;
pub mod messages;
pub mod metrics;
pub mod objects;

pub use bus::{
    Delivery, Message, MessageBus, Outcome, Subscription, consume, consume_batches, topics,
};
pub use objects::ObjectStore;
