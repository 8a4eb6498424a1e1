//! Nothing accepted is lost: the database is the source of truth. At start-up, images whose
//! predictions are incomplete (a crash, a restart, a lost in-process message) are sent through
//! the pipeline again, from their stored descriptors when the extractor had finished.

use vision_core::messages::{self, FeaturesExtracted, ImageSubmitted, SCHEMA_VERSION};
use vision_core::{MessageBus, topics};
use vision_db::Db;

/// How many incomplete images one recovery pass re-sends at most.
const RECOVERY_BATCH: u64 = 100_000;

/// Re-publishes every incomplete image; returns how many.
pub async fn recover(db: &Db, bus: &dyn MessageBus) -> anyhow::Result<usize> {
    let images = db.incomplete_images(RECOVERY_BATCH).await?;
    for image in &images {
        let key = image.id.to_string();
        let descriptors = image.descriptors.as_ref().map(|d| d.0.clone());
        match (descriptors, &image.extractor_version) {
            (Some(descriptors), Some(version)) if image.status == "extracted" => {
                let features = FeaturesExtracted {
                    v: SCHEMA_VERSION,
                    image_id: image.id,
                    descriptors,
                    extractor_version: version.clone(),
                    extract_ms: image.extract_ms.unwrap_or_default(),
                    label: image.label.clone(),
                    submitted_at: image.created_at,
                };
                bus.publish(topics::IMAGE_FEATURES, &key, messages::encode(&features))
                    .await?;
            }
            _ => {
                let submitted = ImageSubmitted {
                    v: SCHEMA_VERSION,
                    image_id: image.id,
                    object_key: image.object_key.clone(),
                    source: image.source.clone(),
                    label: image.label.clone(),
                    submitted_at: image.created_at,
                    content_hash: Some(image.content_hash.clone()),
                };
                bus.publish(topics::IMAGES_INPUT, &key, messages::encode(&submitted))
                    .await?;
            }
        }
    }
    if !images.is_empty() {
        tracing::info!(
            count = images.len(),
            "re-sent incomplete images through the pipeline"
        );
    }
    Ok(images.len())
}
