//! Backpressure: the images this gateway accepted and the pipeline has not finished are
//! bounded (a batch is let in whole while the backlog is under the bound, so it may pass the
//! bound by one batch). Past the bound an upload waits for room, and one that waited too long is refused
//! with OVERLOADED and `retryAfter` (HTTP 503 with `Retry-After`), before anything is stored, so
//! a refusal loses nothing. Replays are patient: they wait as long as it takes, which paces them
//! at the pipeline's speed.
//!
//! Without a bound, uploads at saturation are accepted faster than the pipeline runs and the
//! time from upload to result grows with the backlog (seconds, then minutes). With it, that
//! time stays near `bound / throughput` plus the wait.
//!
//! An image leaves the backlog when the pipeline feed says it completed or failed (whichever
//! process did the work, so this holds in the distributed mode as well, where the backlog is
//! the consumer lag between this gateway and the recorder). One that never finishes (a stage
//! lost it; the recorder's sweep sends it again) stops counting after [`STUCK_AFTER`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_db::FeedKind;

use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::events::{EventHub, FollowError};

/// An accepted image that has not finished after this no longer counts against the bound.
pub const STUCK_AFTER: Duration = Duration::from_secs(60);

/// How an upload waits for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Patience {
    /// At most the configured wait, then OVERLOADED (callers of the API).
    Bounded,
    /// As long as it takes (replays).
    Unbounded,
}

#[derive(Clone)]
pub struct Admission {
    /// 0: no bound.
    bound: usize,
    wait: Duration,
    backlog: Arc<Mutex<Backlog>>,
    /// Woken whenever room is given back.
    room: Arc<Notify>,
}

#[derive(Default)]
struct Backlog {
    /// Images stored or being stored, since when.
    held: HashMap<Uuid, Instant>,
    /// Images admitted whose ids are not held yet.
    reserved: usize,
}

impl Backlog {
    fn len(&self) -> usize {
        self.held.len() + self.reserved
    }
}

/// Room for some images, taken before they are checked and stored: [`Admission::hold`] turns
/// it into images that count; dropped unused (a file refused, an upload abandoned), it gives
/// the room back.
#[must_use = "a ticket holds room until its images are held"]
pub struct Ticket {
    images: usize,
    backlog: Option<(Arc<Mutex<Backlog>>, Arc<Notify>)>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some((backlog, room)) = self.backlog.take()
            && self.images > 0
        {
            backlog.lock().expect("admission lock").reserved -= self.images;
            room.notify_one();
        }
    }
}

impl Admission {
    /// `bound` images in flight (0: no bound); an upload waits at most `wait` for room.
    pub fn new(bound: usize, wait: Duration) -> Self {
        Self {
            bound,
            wait,
            backlog: Arc::default(),
            room: Arc::new(Notify::new()),
        }
    }

    /// Room for `images` images: granted while the backlog is under the bound (a batch is
    /// let in whole, so the backlog may pass the bound by one batch, never by more).
    pub async fn admit(&self, images: usize, patience: Patience) -> ApiResult<Ticket> {
        if self.bound == 0 {
            return Ok(Ticket {
                images: 0,
                backlog: None,
            });
        }
        let deadline = tokio::time::Instant::now() + self.wait;
        loop {
            // Registered before the check, so room given back in between is not missed.
            let freed = self.room.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut backlog = self.backlog.lock().expect("admission lock");
                if backlog.len() < self.bound {
                    backlog.reserved += images;
                    return Ok(Ticket {
                        images,
                        backlog: Some((self.backlog.clone(), self.room.clone())),
                    });
                }
            }
            match patience {
                Patience::Unbounded => freed.await,
                Patience::Bounded => {
                    // Counted in `images_rejected` by the ingest, as every refusal.
                    if tokio::time::timeout_at(deadline, freed).await.is_err() {
                        return Err(overloaded(self.bound, self.wait));
                    }
                }
            }
        }
    }

    /// The images of `ticket` will be stored under `ids`: each counts until it finishes (or
    /// [`Admission::release`]). Called before they are announced, so a fast pipeline cannot
    /// finish one before it is held.
    pub fn hold(&self, mut ticket: Ticket, ids: &[Uuid]) {
        let mut backlog = self.backlog.lock().expect("admission lock");
        backlog.reserved -= ticket.images;
        ticket.images = 0;
        if self.bound > 0 {
            let now = Instant::now();
            backlog.held.extend(ids.iter().map(|id| (*id, now)));
        }
        gauge(backlog.len());
    }

    /// Images that will not be stored after all (the upload failed) give their room back.
    pub fn release(&self, ids: &[Uuid]) {
        let mut backlog = self.backlog.lock().expect("admission lock");
        for id in ids {
            if backlog.held.remove(id).is_some() {
                self.room.notify_one();
            }
        }
        gauge(backlog.len());
    }

    /// Images accepted and not finished.
    pub fn backlog(&self) -> usize {
        self.backlog.lock().expect("admission lock").len()
    }

    fn finished(&self, id: Uuid) {
        let mut backlog = self.backlog.lock().expect("admission lock");
        if backlog.held.remove(&id).is_some() {
            gauge(backlog.len());
            self.room.notify_one();
        }
    }

    /// Drops the images that stayed longer than `after` (see [`STUCK_AFTER`]).
    fn expire(&self, after: Duration) -> usize {
        let mut backlog = self.backlog.lock().expect("admission lock");
        let before = backlog.held.len();
        backlog.held.retain(|_, since| since.elapsed() < after);
        gauge(backlog.len());
        let expired = before - backlog.held.len();
        for _ in 0..expired {
            self.room.notify_one();
        }
        expired
    }

    /// Gives room back as the feed tells of images finished, until `shutdown`.
    pub async fn run(self, events: EventHub, shutdown: CancellationToken) {
        if self.bound == 0 {
            // Nothing to give back; a task of the process still runs until shutdown.
            shutdown.cancelled().await;
            return;
        }
        let mut expiry = tokio::time::interval(STUCK_AFTER / 6);
        // Followed from a cursor: if the feed stops (the database went away), it is followed
        // again from where it stopped, so no image finished meanwhile keeps its room.
        let mut cursor = events.head();
        loop {
            let mut rows = events.follow(Some(cursor)).boxed();
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = expiry.tick() => {
                        let stuck = self.expire(STUCK_AFTER);
                        if stuck > 0 {
                            tracing::warn!(stuck, "accepted images unfinished for a minute no longer count against the backlog bound");
                        }
                    }
                    row = rows.next() => match row {
                        Some(Ok(row)) => {
                            cursor = row.seq;
                            if matches!(row.kind, FeedKind::ImageCompleted | FeedKind::ImageFailed) {
                                self.finished(row.image_id);
                            }
                        }
                        Some(Err(FollowError::Database { error, .. })) => {
                            tracing::warn!(%error, "backlog: the pipeline feed cannot be read");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            break;
                        }
                        // Retention deleted rows not read yet: go on after them.
                        Some(Err(FollowError::Expired { resume, .. })) => {
                            cursor = resume;
                            break;
                        }
                        None => return,
                    },
                }
            }
        }
    }
}

fn gauge(backlog: usize) {
    vision_core::metrics::metrics()
        .pipeline_backlog
        .set(backlog as f64);
}

fn overloaded(bound: usize, waited: Duration) -> ApiError {
    ApiError::new(
        ErrorCode::Overloaded,
        format!(
            "the pipeline has {bound} images in hand and none finished within {} ms: \
             try again in {RETRY_AFTER_SECONDS} s",
            waited.as_millis()
        ),
    )
    .retry_after(RETRY_AFTER_SECONDS)
}

/// What an OVERLOADED refusal advises: about the time the backlog takes to drain.
const RETRY_AFTER_SECONDS: u64 = 1;
