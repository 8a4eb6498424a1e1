//! Backpressure: the images this gateway accepted and the pipeline has not finished are
//! bounded (a batch is let in whole while the backlog is under the bound, so it may pass the
//! bound by one batch). Past the bound an upload waits for room, and one that waited too long
//! is refused with OVERLOADED and `retryAfter` (HTTP 503 with `Retry-After`), before anything
//! is stored, so a refusal loses nothing. Room is handed to the newest waiting upload first
//! (see [`Backlog::next_waiter`]). Replays are patient: they wait as long as it takes, which
//! paces them at the pipeline's speed.
//!
//! Without a bound, uploads at saturation are accepted faster than the pipeline runs and the
//! time from upload to result grows with the backlog (seconds, then minutes). With it, that
//! time stays near `bound / throughput`.
//!
//! An image leaves the backlog when the pipeline feed says it completed or failed (whichever
//! process did the work, so this holds in the distributed mode as well, where the backlog is
//! the consumer lag between this gateway and the recorder). One that never finishes (a stage
//! lost it; the recorder's sweep sends it again) stops counting after [`STUCK_AFTER`].

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::oneshot;
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
    wait: Duration,
    shared: Arc<Shared>,
}

struct Shared {
    /// 0: no bound.
    bound: usize,
    backlog: Mutex<Backlog>,
}

#[derive(Default)]
struct Backlog {
    /// Images stored or being stored, since when.
    held: HashMap<Uuid, Instant>,
    /// Images admitted whose ids are not held yet.
    reserved: usize,
    /// Uploads waiting for room, oldest first.
    waiting: VecDeque<Waiter>,
}

/// An upload waiting for room: given its ticket when room is reserved for it.
struct Waiter {
    images: usize,
    patience: Patience,
    granted: oneshot::Sender<Ticket>,
}

impl Backlog {
    fn len(&self) -> usize {
        self.held.len() + self.reserved
    }

    /// Who gets room next. Uploads that wait with a deadline are served newest first (the
    /// adaptive LIFO of Facebook's servers, "Fail at Scale", 2015): at saturation the oldest
    /// would be admitted only just before their deadline, so every accepted upload would have
    /// waited nearly the whole wait; newest first, an accepted upload waits milliseconds and
    /// the ones refused are those that waited longest. Replays (no deadline) come after them,
    /// oldest first.
    fn next_waiter(&mut self) -> Option<Waiter> {
        // Those that stopped waiting (refused at their deadline, or their caller went away).
        self.waiting.retain(|w| !w.granted.is_closed());
        match self
            .waiting
            .iter()
            .rposition(|w| w.patience == Patience::Bounded)
        {
            Some(newest) => self.waiting.remove(newest),
            None => self.waiting.pop_front(),
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Backlog> {
        self.backlog.lock().expect("admission lock")
    }

    /// Hands the room there is to waiting uploads (called with the backlog locked, whenever
    /// room is given back).
    fn give_room(self: &Arc<Self>, backlog: &mut Backlog) {
        while backlog.len() < self.bound {
            let Some(waiter) = backlog.next_waiter() else {
                break;
            };
            backlog.reserved += waiter.images;
            let ticket = Ticket {
                images: waiter.images,
                shared: Some(self.clone()),
            };
            // It stopped waiting just now: the room is not taken (nor given back through the
            // ticket's drop, which would lock the backlog again).
            if let Err(mut ticket) = waiter.granted.send(ticket) {
                ticket.shared = None;
                backlog.reserved -= waiter.images;
            }
        }
        gauge(backlog.len());
    }
}

/// Room for some images, taken before they are checked and stored: [`Admission::hold`] turns
/// it into images that count; dropped unused (a file refused, an upload abandoned), it gives
/// the room back.
#[must_use = "a ticket holds room until its images are held"]
pub struct Ticket {
    images: usize,
    shared: Option<Arc<Shared>>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take()
            && self.images > 0
        {
            let mut backlog = shared.lock();
            backlog.reserved -= self.images;
            shared.give_room(&mut backlog);
        }
    }
}

impl Admission {
    /// `bound` images in flight (0: no bound); an upload waits at most `wait` for room.
    pub fn new(bound: usize, wait: Duration) -> Self {
        Self {
            wait,
            shared: Arc::new(Shared {
                bound,
                backlog: Mutex::default(),
            }),
        }
    }

    /// Room for `images` images: granted while the backlog is under the bound (a batch is
    /// let in whole, so the backlog may pass the bound by one batch, never by more).
    pub async fn admit(&self, images: usize, patience: Patience) -> ApiResult<Ticket> {
        if self.shared.bound == 0 {
            return Ok(Ticket {
                images: 0,
                shared: None,
            });
        }
        let mut granted = {
            let mut backlog = self.shared.lock();
            if backlog.len() < self.shared.bound {
                backlog.reserved += images;
                return Ok(Ticket {
                    images,
                    shared: Some(self.shared.clone()),
                });
            }
            let (tx, rx) = oneshot::channel();
            backlog.waiting.push_back(Waiter {
                images,
                patience,
                granted: tx,
            });
            rx
        };
        let waited = match patience {
            Patience::Bounded => tokio::time::timeout(self.wait, &mut granted).await.ok(),
            // A replay paces itself at the pipeline's speed.
            Patience::Unbounded => Some((&mut granted).await),
        };
        match waited {
            Some(Ok(ticket)) => Ok(ticket),
            // Never: a waiter is dropped only once it is sent its ticket or stopped waiting.
            Some(Err(_)) => Err(overloaded(self.shared.bound, self.wait)),
            None => {
                // Room handed over as the deadline passed is taken rather than lost. Checked
                // and dropped under the lock, so none can be handed over after this.
                let _backlog = self.shared.lock();
                let last_chance = granted.try_recv();
                drop(granted);
                match last_chance {
                    Ok(ticket) => Ok(ticket),
                    // Counted in `images_rejected` by the ingest, as every refusal.
                    Err(_) => Err(overloaded(self.shared.bound, self.wait)),
                }
            }
        }
    }

    /// The images of `ticket` will be stored under `ids`: each counts until it finishes (or
    /// [`Admission::release`]). Called before they are announced, so a fast pipeline cannot
    /// finish one before it is held.
    pub fn hold(&self, mut ticket: Ticket, ids: &[Uuid]) {
        let mut backlog = self.shared.lock();
        backlog.reserved -= ticket.images;
        ticket.images = 0;
        if self.shared.bound > 0 {
            let now = Instant::now();
            backlog.held.extend(ids.iter().map(|id| (*id, now)));
        }
        gauge(backlog.len());
    }

    /// Images that will not be stored after all (the upload failed) give their room back.
    pub fn release(&self, ids: &[Uuid]) {
        let mut backlog = self.shared.lock();
        for id in ids {
            backlog.held.remove(id);
        }
        self.shared.give_room(&mut backlog);
    }

    /// Images accepted and not finished.
    pub fn backlog(&self) -> usize {
        self.shared.lock().len()
    }

    fn finished(&self, id: Uuid) {
        let mut backlog = self.shared.lock();
        if backlog.held.remove(&id).is_some() {
            self.shared.give_room(&mut backlog);
        }
    }

    /// Drops the images that stayed longer than `after` (see [`STUCK_AFTER`]).
    fn expire(&self, after: Duration) -> usize {
        let mut backlog = self.shared.lock();
        let before = backlog.held.len();
        backlog.held.retain(|_, since| since.elapsed() < after);
        let expired = before - backlog.held.len();
        self.shared.give_room(&mut backlog);
        expired
    }

    /// Gives room back as the feed tells of images finished, until `shutdown`.
    pub async fn run(self, events: EventHub, shutdown: CancellationToken) {
        if self.shared.bound == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A backlog of `bound` whose room is all held, by the returned ids.
    async fn full(bound: usize, wait: Duration) -> (Admission, Vec<Uuid>) {
        let admission = Admission::new(bound, wait);
        let ids: Vec<Uuid> = (0..bound).map(|_| Uuid::new_v4()).collect();
        for id in &ids {
            let ticket = admission.admit(1, Patience::Bounded).await.expect("room");
            admission.hold(ticket, &[*id]);
        }
        (admission, ids)
    }

    /// Waits until `n` uploads wait for room.
    async fn waiting(admission: &Admission, n: usize) {
        while admission.shared.lock().waiting.len() < n {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn room_goes_to_the_newest_waiting_upload_and_the_oldest_is_refused() {
        let (admission, held) = full(1, Duration::from_millis(300)).await;
        let first = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(1, Patience::Bounded).await }
        });
        waiting(&admission, 1).await;
        let second = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(1, Patience::Bounded).await }
        });
        waiting(&admission, 2).await;
        admission.finished(held[0]);
        let second = second.await.unwrap().expect("the newest gets the room");
        let first = first.await.unwrap();
        assert_eq!(
            first.err().map(|e| e.code),
            Some(ErrorCode::Overloaded),
            "the oldest waited its whole wait"
        );
        // The room is the second's until it is given back: nothing else counts.
        assert_eq!(admission.backlog(), 1);
        drop(second);
        assert_eq!(admission.backlog(), 0);
    }

    #[tokio::test]
    async fn a_replay_waits_behind_uploads_and_gets_room_when_none_waits() {
        let (admission, held) = full(1, Duration::from_secs(30)).await;
        let replay = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(1, Patience::Unbounded).await }
        });
        waiting(&admission, 1).await;
        let upload = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(1, Patience::Bounded).await }
        });
        waiting(&admission, 2).await;
        admission.finished(held[0]);
        let upload = upload.await.unwrap().expect("the upload first");
        assert!(!replay.is_finished());
        let id = Uuid::new_v4();
        admission.hold(upload, &[id]);
        admission.finished(id);
        let replay = replay.await.unwrap().expect("then the replay");
        drop(replay);
        assert_eq!(admission.backlog(), 0);
    }

    #[tokio::test]
    async fn uploads_that_stop_waiting_take_no_room_with_them() {
        let (admission, held) = full(2, Duration::from_millis(50)).await;
        // One refused at its deadline, one abandoned by its caller, both before room comes.
        let refused = admission.admit(1, Patience::Bounded).await;
        assert!(refused.is_err());
        let abandoned = tokio::spawn({
            let admission = admission.clone();
            async move { admission.admit(1, Patience::Unbounded).await }
        });
        waiting(&admission, 1).await;
        abandoned.abort();
        let _ = abandoned.await;
        admission.finished(held[0]);
        admission.finished(held[1]);
        assert_eq!(admission.backlog(), 0, "no room kept for uploads gone");
        assert!(admission.shared.lock().waiting.is_empty());
        // And the bound holds again from empty.
        let a = admission.admit(1, Patience::Bounded).await.expect("room");
        let b = admission.admit(1, Patience::Bounded).await.expect("room");
        assert!(admission.admit(1, Patience::Bounded).await.is_err());
        drop((a, b));
        assert_eq!(admission.backlog(), 0);
    }
}
