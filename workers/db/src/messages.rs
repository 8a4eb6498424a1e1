//! The bus messages a stored row becomes: the gateway (upload, outbox relay) and the recorder
//! (recovery) send an image to the extractor with the same message, made here once.

use vision_core::messages::{ImageSubmitted, SCHEMA_VERSION};

use crate::images;

impl images::Model {
    /// The `images-input-stream` message that sends this stored image to the extractor.
    pub fn submitted(&self) -> ImageSubmitted {
        ImageSubmitted {
            v: SCHEMA_VERSION,
            image_id: self.id,
            object_key: self.object_key.clone(),
            source: self.source.clone(),
            label: self.label.clone(),
            submitted_at: self.created_at,
            content_hash: Some(self.content_hash.clone()),
        }
    }
}
