//! The message-bus seam. Stages publish bytes to a topic under a key (the image id) and consume a
//! topic as members of a consumer group: every group sees every message, the members of one group
//! share them. Kafka implements it for the distributed mode, [`MemoryBus`] for the embedded one.
//!
//! A consumer acknowledges a delivery only once its work is durable; on Kafka that commits the
//! offset, which gives at-least-once processing (writes downstream are idempotent).

mod consume;
mod kafka;
mod memory;
pub mod topics;

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};

pub use consume::{Outcome, consume, consume_batches};
pub use kafka::{KafkaBus, KafkaSettings, OffsetTracker};
pub use memory::MemoryBus;
pub use topics::Topic;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("message bus unavailable: {0}")]
    Unavailable(String),
    #[error("message bus closed")]
    Closed,
}

#[async_trait]
pub trait MessageBus: Send + Sync + 'static {
    /// Publishes one encoded message; returns once the bus has accepted it. This is the
    /// transport: the stages publish typed messages through [`Topic::publish`], which picks the
    /// topic of the message's type.
    async fn publish_bytes(&self, topic: &str, key: &str, payload: Vec<u8>)
    -> Result<(), BusError>;
    /// Joins `group` on `topic`.
    async fn subscribe(&self, topic: &str, group: &str) -> Result<Subscription, BusError>;
    /// Every message published on `topic` from now on, shared with no one and never
    /// acknowledged: for fanning events out to live clients (each gateway replica has its own).
    async fn subscribe_live(&self, topic: &str) -> Result<Subscription, BusError> {
        self.subscribe(topic, &format!("live-{}", uuid::Uuid::new_v4()))
            .await
    }
    /// Short name for health reports ("memory", "kafka").
    fn kind(&self) -> &'static str;
    /// Whether the bus can currently be reached.
    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// Counts a message's size on the wire (`vision_message_bytes{topic}`): the feature message's
/// size is a figure the deployment sizes Kafka by.
fn record_size(topic: &str, payload: &[u8]) {
    crate::metrics::metrics()
        .message_bytes
        .with_label_values(&[topic])
        .observe(payload.len() as f64);
}

/// The content of a delivery, cheap to clone (the payload is shared), handed to handlers.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub key: String,
    pub payload: Bytes,
}

type Acker = Box<dyn FnOnce() -> Result<(), BusError> + Send + Sync>;

/// One message handed to a consumer.
pub struct Delivery {
    pub topic: String,
    pub key: String,
    pub payload: Bytes,
    acker: Option<Acker>,
}

impl Delivery {
    pub fn new(topic: impl Into<String>, key: impl Into<String>, payload: Bytes) -> Self {
        Self {
            topic: topic.into(),
            key: key.into(),
            payload,
            acker: None,
        }
    }

    pub fn with_acker(mut self, acker: Acker) -> Self {
        self.acker = Some(acker);
        self
    }

    /// Marks the message as processed (its effects are durable).
    pub fn ack(mut self) -> Result<(), BusError> {
        match self.acker.take() {
            Some(ack) => ack(),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.topic)
            .field("key", &self.key)
            .field("bytes", &self.payload.len())
            .finish()
    }
}

/// The stream of deliveries of one consumer; ends when the bus shuts down.
pub struct Subscription {
    inner: Pin<Box<dyn Stream<Item = Delivery> + Send>>,
}

impl Subscription {
    pub fn new(stream: impl Stream<Item = Delivery> + Send + 'static) -> Self {
        Self {
            inner: Box::pin(stream),
        }
    }

    pub async fn next(&mut self) -> Option<Delivery> {
        self.inner.next().await
    }

    pub fn into_stream(self) -> Pin<Box<dyn Stream<Item = Delivery> + Send>> {
        self.inner
    }
}
