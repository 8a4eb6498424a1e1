//! Nothing accepted is lost: the database is the source of truth. At start-up, images whose
//! predictions are incomplete (a crash, a restart, a lost in-process message) are sent through
//! the pipeline again, from their stored descriptors when the extractor had finished; while the
//! recorder runs, [`sweep`] does the same for images that stay incomplete for too long.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_core::messages::{FeaturesExtracted, SCHEMA_VERSION, VersionedDescriptors, content_key};
use vision_core::metrics::metrics;
use vision_core::{MessageBus, topics};
use vision_db::{Db, images};

/// How many incomplete images one recovery pass re-sends at most.
const RECOVERY_BATCH: u64 = 100_000;

/// Re-publishes every incomplete image; returns how many.
pub async fn recover(db: &Db, bus: &dyn MessageBus) -> anyhow::Result<usize> {
    let images = db.incomplete_images(RECOVERY_BATCH).await?;
    for image in &images {
        resend(db, bus, image).await?;
    }
    if !images.is_empty() {
        tracing::info!(
            count = images.len(),
            "re-sent incomplete images through the pipeline"
        );
    }
    Ok(images.len())
}

/// Sends one incomplete image through the pipeline again: its descriptors to the heads when the
/// extractor had finished, else the image to the extractor.
async fn resend(db: &Db, bus: &dyn MessageBus, image: &images::Model) -> anyhow::Result<()> {
    let key = image.id.to_string();
    let descriptors = image.descriptors.as_ref().map(|d| d.0.clone());
    match (descriptors, &image.extractor_version) {
        (Some(descriptors), Some(version)) if image.status == images::ImageStatus::Extracted => {
            let features = FeaturesExtracted {
                v: SCHEMA_VERSION,
                image_id: image.id,
                descriptors,
                extractor_version: version.clone(),
                extract_ms: image.extract_ms.unwrap_or_default(),
                label: image.label.clone(),
                submitted_at: image.created_at,
                content_key: content_key(&image.content_hash),
                // Those kept of other extractor versions, for the heads that read them.
                other_descriptors: db
                    .other_descriptors(image.id)
                    .await?
                    .into_iter()
                    .map(|(extractor_version, descriptors)| VersionedDescriptors {
                        extractor_version,
                        descriptors,
                    })
                    .collect(),
            };
            topics::IMAGE_FEATURES.publish(bus, &key, &features).await?;
        }
        _ => {
            topics::IMAGES_INPUT
                .publish(bus, &key, &image.submitted())
                .await?;
        }
    }
    Ok(())
}

/// How the recorder watches for images that stay incomplete while it runs (a message lost by
/// a broker, a stage down for long): checked `every`, an image is sent again once it has been
/// incomplete for `stale_after`, and again at most once per `stale_after`, `most` per check, so
/// that a large backlog is not multiplied.
#[derive(Debug, Clone, Copy)]
pub struct Sweep {
    pub every: Duration,
    pub stale_after: Duration,
    pub most: u64,
}

impl Default for Sweep {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(60),
            stale_after: Duration::from_secs(600),
            most: 500,
        }
    }
}

/// Runs [`Sweep`] until `shutdown`.
pub async fn sweep(db: &Db, bus: &dyn MessageBus, settings: Sweep, shutdown: CancellationToken) {
    let stale_after = chrono::Duration::from_std(settings.stale_after).unwrap_or_default();
    let mut last_sent: HashMap<Uuid, Instant> = HashMap::new();
    let mut ticks = tokio::time::interval(settings.every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let before = chrono::Utc::now() - stale_after;
        let stale = match db
            .incomplete_images_before(Some(before), settings.most)
            .await
        {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for stale images");
                continue;
            }
        };
        last_sent.retain(|id, at| {
            at.elapsed() < settings.stale_after && stale.iter().any(|i| i.id == *id)
        });
        let mut resent = 0;
        for image in &stale {
            if last_sent.contains_key(&image.id) {
                continue;
            }
            match resend(db, bus, image).await {
                Ok(()) => {
                    last_sent.insert(image.id, Instant::now());
                    resent += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot re-send a stale image");
                    break;
                }
            }
        }
        if resent > 0 {
            metrics()
                .errors
                .with_label_values(&["record", "stale_resent"])
                .inc_by(resent as f64);
            tracing::warn!(
                resent,
                "images incomplete for too long sent through the pipeline again"
            );
        }
    }
}
