//! The pipeline's topics, each typed by the message it carries: a message can only be published
//! to its own topic ([`Topic::publish`]), and a consumer knows what it reads.

use std::marker::PhantomData;

use super::{BusError, MessageBus};
use crate::messages::{
    DeadLetter, FeaturesExtracted, ImageSubmitted, ModelEvent, PipelineEvent, PredictionMade, Wire,
};

/// A topic carrying messages of type `M`.
pub struct Topic<M> {
    name: &'static str,
    message: PhantomData<fn() -> M>,
}

// Derives would require `M: Clone`; a topic is only a name.
impl<M> Clone for Topic<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for Topic<M> {}

impl<M> std::fmt::Debug for Topic<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl<M> Topic<M> {
    pub const fn new(name: &'static str) -> Self {
        Self {
            name,
            message: PhantomData,
        }
    }

    /// The topic's name on the bus.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<M: Wire> Topic<M> {
    /// Publishes `message` on this topic under `key` (the image id); returns once the bus
    /// has taken it.
    pub async fn publish(
        &self,
        bus: &dyn MessageBus,
        key: &str,
        message: &M,
    ) -> Result<(), BusError> {
        bus.publish_bytes(self.name, key, message.to_wire()).await
    }
}

/// `images-input-stream`: accepted images, stored, waiting for the extractor.
pub const IMAGES_INPUT: Topic<ImageSubmitted> = Topic::new("images-input-stream");
/// `image-features-stream`: one image's descriptors, for every head.
pub const IMAGE_FEATURES: Topic<FeaturesExtracted> = Topic::new("image-features-stream");
/// `predictions-output-stream`: one head's answer for one image.
pub const PREDICTIONS_OUTPUT: Topic<PredictionMade> = Topic::new("predictions-output-stream");
/// What the recorder made durable; feeds GraphQL subscriptions.
pub const PIPELINE_EVENTS: Topic<PipelineEvent> = Topic::new("pipeline-events");
/// Messages that cannot be processed, with the reason.
pub const DEAD_LETTER: Topic<DeadLetter> = Topic::new("dead-letter");
/// Registry changes and what each serving replica serves; read live by every process.
pub const MODEL_EVENTS: Topic<ModelEvent> = Topic::new("model-events");
