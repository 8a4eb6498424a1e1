//! The outbox relay: publishes the messages of accepted images that are not on the bus yet (the
//! bus was unreachable when they were uploaded, or the gateway stopped between writing the row
//! and publishing). The images table is the outbox: a row with no `published_at`.
//!
//! Every gateway replica runs one. Two replicas may publish the same row: a duplicate message,
//! which the stages already tolerate (at-least-once, idempotent writes).

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vision_core::metrics::metrics;
use vision_core::{MessageBus, topics};
use vision_db::Db;

/// When and how much the relay publishes.
#[derive(Debug, Clone, Copy)]
pub struct Relay {
    /// Pause between passes while the bus answers.
    pub every: Duration,
    /// Rows younger than this are left to the upload that is still publishing them.
    pub grace: Duration,
    /// Longest pause after failed passes (doubling from `every`).
    pub max_backoff: Duration,
    /// Rows published per pass at most.
    pub batch: u64,
}

impl Relay {
    /// Settings for uploads that wait `publish_wait` for the bus.
    pub fn for_publish_wait(publish_wait: Duration) -> Self {
        Self {
            every: Duration::from_secs(2),
            grace: publish_wait * 2 + Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            batch: 500,
        }
    }

    /// Runs passes until `shutdown`.
    pub async fn run(
        self,
        db: Db,
        bus: std::sync::Arc<dyn MessageBus>,
        shutdown: CancellationToken,
    ) {
        let mut pause = Duration::ZERO;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.cancelled() => return,
            }
            pause = match self.pass(&db, bus.as_ref()).await {
                Ok(published) if published as u64 == self.batch => Duration::ZERO,
                Ok(_) => self.every,
                Err(e) => {
                    let next = (pause.max(self.every) * 2).min(self.max_backoff);
                    tracing::warn!(error = %e, retry_in = ?next, "outbox relay cannot publish");
                    next
                }
            };
        }
    }

    /// Publishes one batch of waiting rows; returns how many went out.
    pub async fn pass(&self, db: &Db, bus: &dyn MessageBus) -> anyhow::Result<usize> {
        let before = chrono::Utc::now() - chrono::Duration::from_std(self.grace)?;
        let waiting = db.unpublished_images(before, self.batch).await?;
        let mut published = Vec::with_capacity(waiting.len());
        let mut failure = None;
        for image in &waiting {
            match topics::IMAGES_INPUT
                .publish(bus, &image.id.to_string(), &image.submitted())
                .await
            {
                Ok(()) => published.push(image.id),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        db.mark_published(&published).await?;
        metrics()
            .outbox_pending
            .set((waiting.len() - published.len()) as f64);
        if !published.is_empty() {
            tracing::info!(
                count = published.len(),
                "outbox relay published waiting images"
            );
        }
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(published.len()),
        }
    }
}
