//! Retention: deletes what is older than the configured ages, in batches with a pause between
//! them, so that ingest (which writes the same tables) never waits long.
//!
//! - images with their objects (their predictions and comparison go with the rows);
//! - predictions of images kept (a shorter age for predictions than for images);
//! - the pipeline feed (subscriptions resume from it; a cursor older than what is kept gets
//!   SUBSCRIBER_LAGGED with where to go on).
//!
//! Objects go before their rows: if the run stops in between, rows without objects are left,
//! which the next run deletes anyway (deleting a missing object is not an error), and never
//! objects without rows, which nothing would find.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use vision_core::ObjectStore;
use vision_db::{Db, DbError};

/// How old things may get, and how the deletes are paced.
#[derive(Debug, Clone, Copy)]
pub struct RetentionPolicy {
    pub images: chrono::Duration,
    pub predictions: chrono::Duration,
    pub feed: chrono::Duration,
    /// Rows per statement.
    pub batch: u64,
    /// Between two batches.
    pub pause: Duration,
}

/// What a run deleted.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    /// Images uploaded before this were deleted, with their objects.
    pub images_before: DateTime<Utc>,
    pub predictions_before: DateTime<Utc>,
    pub feed_before: DateTime<Utc>,
    pub images_deleted: u64,
    pub objects_deleted: u64,
    /// Objects the store would not delete (their rows are kept for the next run).
    pub object_errors: u64,
    pub predictions_deleted: u64,
    pub feed_rows_deleted: u64,
    pub duration_ms: u64,
}

/// Runs retention as of `now` (injected, so tests can age the data instead of waiting).
pub async fn purge(
    db: &Db,
    store: &Arc<dyn ObjectStore>,
    policy: RetentionPolicy,
    now: DateTime<Utc>,
) -> Result<RetentionReport, DbError> {
    let started = Instant::now();
    let mut report = RetentionReport {
        images_before: now - policy.images,
        predictions_before: now - policy.predictions,
        feed_before: now - policy.feed,
        ..Default::default()
    };
    loop {
        let batch = db.images_before(report.images_before, policy.batch).await?;
        if batch.is_empty() {
            break;
        }
        let mut gone = Vec::with_capacity(batch.len());
        for (id, key) in &batch {
            match store.delete(key).await {
                Ok(()) => {
                    report.objects_deleted += 1;
                    gone.push(*id);
                }
                Err(e) => {
                    report.object_errors += 1;
                    tracing::warn!(%key, error = %e, "retention: object not deleted; its row is kept");
                }
            }
        }
        report.images_deleted += db.delete_images(&gone).await?;
        // A batch the store refused entirely would come back unchanged: stop until next run.
        if gone.is_empty() {
            break;
        }
        tokio::time::sleep(policy.pause).await;
    }
    loop {
        let deleted = db
            .purge_predictions_batch(report.predictions_before, policy.batch)
            .await?;
        report.predictions_deleted += deleted;
        if deleted < policy.batch {
            break;
        }
        tokio::time::sleep(policy.pause).await;
    }
    loop {
        let deleted = db
            .purge_feed_before(report.feed_before, policy.batch)
            .await?;
        report.feed_rows_deleted += deleted;
        if deleted < policy.batch {
            break;
        }
        tokio::time::sleep(policy.pause).await;
    }
    report.duration_ms = started.elapsed().as_millis() as u64;
    let deleted = &vision_core::metrics::metrics().retention_deleted;
    for (kind, n) in [
        ("images", report.images_deleted),
        ("objects", report.objects_deleted),
        ("predictions", report.predictions_deleted),
        ("feed_rows", report.feed_rows_deleted),
    ] {
        deleted.with_label_values(&[kind]).inc_by(n as f64);
    }
    Ok(report)
}
