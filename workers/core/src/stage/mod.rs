//! A pipeline stage: what it reads, the work it does on each message, what it publishes. The
//! stages only write the work ([`Stage::handle`]); decoding, publishing, dead-lettering,
//! retrying and acknowledging are done once, by [`run`], for every stage.
//!
//! [`table`] declares every stage of the pipeline (topics, consumer groups, batching, what
//! happens to a message that cannot be read); the one-process mode and the split processes both
//! start from it.

mod runner;
pub mod table;

use async_trait::async_trait;
use uuid::Uuid;

use crate::bus::Topic;
use crate::messages::Wire;

pub use runner::run;
pub use table::{Dependency, Group, Input, Poison, STAGES, StageKind, StageSpec};

/// The work of one stage on the messages of one topic.
#[async_trait]
pub trait Stage: Send + Sync + 'static {
    /// The message type of the topic the stage reads.
    type Input: Wire + Send + Sync + 'static;

    /// Handles one message. `Err` means a dependency failed (database, object store): the
    /// message is handled again later, after a backoff, and is not acknowledged meanwhile.
    async fn handle(&self, message: Self::Input) -> Result<Verdict, Retry>;

    /// Handles the messages that waited together (entries of the table with `max_batch` > 1),
    /// one verdict per message, in order. By default one at a time.
    async fn handle_batch(&self, batch: Vec<Self::Input>) -> Result<Vec<Verdict>, Retry> {
        let mut verdicts = Vec::with_capacity(batch.len());
        for message in batch {
            verdicts.push(self.handle(message).await?);
        }
        Ok(verdicts)
    }
}

/// What became of one message.
#[derive(Debug)]
pub enum Verdict {
    /// Done: these messages go on, published before the input is acknowledged.
    Done(Vec<Output>),
    /// The message can never be processed (corrupt image, missing object, a head that fails on
    /// it): dead-lettered with the reason, or dropped, as the stage's table entry says.
    Reject {
        image_id: Option<Uuid>,
        reason: String,
    },
}

impl Verdict {
    /// Done, nothing to publish.
    pub fn done() -> Self {
        Verdict::Done(Vec::new())
    }

    /// Done, one message to publish.
    pub fn publish(output: Output) -> Self {
        Verdict::Done(vec![output])
    }

    pub fn reject(image_id: Option<Uuid>, reason: impl Into<String>) -> Self {
        Verdict::Reject {
            image_id,
            reason: reason.into(),
        }
    }
}

/// An encoded message for one topic; only [`Output::new`] makes one, from a message of the
/// topic's type.
#[derive(Debug, Clone)]
pub struct Output {
    topic: &'static str,
    key: String,
    payload: Vec<u8>,
}

impl Output {
    pub fn new<M: Wire>(topic: Topic<M>, key: impl Into<String>, message: &M) -> Self {
        Self {
            topic: topic.name(),
            key: key.into(),
            payload: message.to_wire(),
        }
    }

    pub fn topic(&self) -> &'static str {
        self.topic
    }
}

/// A dependency failed; the message is tried again. Holds the typed error of the stage (a
/// database, object-store or bus error) for the logs.
#[derive(Debug)]
pub struct Retry(Box<dyn std::error::Error + Send + Sync>);

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Retry {
    fn from(error: E) -> Self {
        Retry(Box::new(error))
    }
}

impl std::fmt::Display for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Retry {
    /// The error, for a caller that wants its type back.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync> {
        self.0
    }
}
