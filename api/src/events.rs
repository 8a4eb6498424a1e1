//! The pipeline feed of live subscriptions, read from the database so that none is lost.
//!
//! Every prediction recorded, image completed and image failed is a row of `pipeline_feed`,
//! written in the transaction of that change and numbered in commit order (see `vision_db`).
//! The hub of each gateway process tails that table, ONCE for all its subscriptions: a
//! `pipeline-events` message on the bus (live, in no shared group, so every replica hears every
//! one) only wakes it, and it also looks every `poll` in case a wake-up was lost. It hands the
//! new rows to the subscriptions through a broadcast channel.
//!
//! A subscription follows from a cursor (a row's `seq`): the broadcast while it keeps up, the
//! table itself when it falls behind (the channel overflowed) or resumes from an older cursor.
//! A slow subscriber therefore catches up instead of missing events; the only gap possible is
//! rows the retention job deleted, and that is reported ([`FollowError::Expired`]), never
//! skipped silently.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{Notify, broadcast};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vision_core::bus::BusError;
use vision_core::{MessageBus, topics};
use vision_db::{Db, DbError, pipeline_feed};

/// Rows buffered per subscriber; one that falls further behind reads the table instead.
const CAPACITY: usize = 1024;
/// Rows read per query, by the hub and by a subscriber catching up.
const PAGE: u64 = 500;

/// One row of the feed.
pub type FeedRow = Arc<pipeline_feed::Model>;

#[derive(Clone)]
pub struct EventHub {
    db: Db,
    tx: broadcast::Sender<FeedRow>,
    /// The newest row handed to the channel.
    head: Arc<AtomicI64>,
    wake: Arc<Notify>,
}

/// Why a subscription's feed stopped.
#[derive(Debug)]
pub enum FollowError {
    /// The rows after `cursor` were deleted by retention; `resume` is the oldest cursor that
    /// can still be followed (accepting the gap).
    Expired { cursor: i64, resume: i64 },
    /// The database did not answer; following again from `cursor` misses nothing.
    Database { cursor: i64, error: DbError },
}

impl EventHub {
    /// A hub that tails `db` when [`EventHub::tail`] runs (tests drive it by hand).
    pub async fn new(db: Db) -> Result<Self, DbError> {
        let head = db.feed_head().await?;
        let (tx, _) = broadcast::channel(CAPACITY);
        Ok(Self {
            db,
            tx,
            head: Arc::new(AtomicI64::new(head)),
            wake: Arc::new(Notify::new()),
        })
    }

    /// Starts following the feed: woken by `pipeline-events` on `bus`, and every `poll`.
    pub async fn start(
        db: Db,
        bus: Arc<dyn MessageBus>,
        poll: Duration,
        shutdown: CancellationToken,
    ) -> anyhow::Result<(Self, JoinHandle<()>)> {
        let hub = Self::new(db).await?;
        // Live, in no shared group: replicas must not split the wake-ups between them.
        let wake_ups = hub.listen(bus, shutdown.clone()).await?;
        let tailing = hub.clone();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(poll);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tailing.wake.notified() => {}
                    _ = ticks.tick() => {}
                }
                if let Err(e) = tailing.tail().await {
                    tracing::warn!(error = %e, "the pipeline feed cannot be read; trying again");
                }
            }
            let _ = wake_ups.await;
            tracing::debug!("pipeline event feed stopped");
        });
        Ok((hub, task))
    }

    /// Turns every `pipeline-events` message into a wake-up (several pending become one).
    async fn listen(
        &self,
        bus: Arc<dyn MessageBus>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        let mut subscription = bus.subscribe_live(topics::PIPELINE_EVENTS.name()).await?;
        let wake = self.wake.clone();
        Ok(tokio::spawn(async move {
            loop {
                let delivery = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = subscription.next() => match next {
                        Some(delivery) => delivery,
                        None => break,
                    },
                };
                wake.notify_one();
                // A wake-up carries nothing to keep: the feed is in the database.
                if let Err(e) = delivery.ack() {
                    tracing::warn!(error = %e, "pipeline event not acknowledged");
                }
            }
        }))
    }

    /// Hands the rows written since the last call to the subscriptions, in order.
    pub async fn tail(&self) -> Result<(), DbError> {
        loop {
            let rows = self
                .db
                .feed_after(self.head.load(Ordering::SeqCst), PAGE)
                .await?;
            let full = rows.len() as u64 == PAGE;
            for row in rows {
                // The head moves before the row is sent: a subscriber that starts in between
                // starts at this row and skips it when it arrives, rather than missing it.
                self.head.store(row.seq, Ordering::SeqCst);
                // No receiver is not an error: nobody is subscribed right now.
                let _ = self.tx.send(Arc::new(row));
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// The newest row handed to subscriptions (the cursor of "from now on").
    pub fn head(&self) -> i64 {
        self.head.load(Ordering::SeqCst)
    }

    /// A change signal for subscriptions that only need to know something was recorded.
    pub fn subscribe(&self) -> broadcast::Receiver<FeedRow> {
        self.tx.subscribe()
    }

    /// Every row after `after` (from now on when `None`), in order, none skipped; ends with
    /// an error only when rows cannot be delivered (see [`FollowError`]).
    pub fn follow(
        &self,
        after: Option<i64>,
    ) -> impl Stream<Item = Result<FeedRow, FollowError>> + use<> {
        // Subscribe before reading the head: every row after it comes through the channel.
        let mut rows = self.tx.subscribe();
        let mut cursor = after.unwrap_or_else(|| self.head());
        let db = self.db.clone();
        async_stream::stream! {
            // A cursor given is read from the table until it is caught up.
            let mut behind = after.is_some();
            loop {
                if behind {
                    let page = match db.feed_after(cursor, PAGE).await {
                        Ok(page) => page,
                        Err(error) => {
                            yield Err(FollowError::Database { cursor, error });
                            return;
                        }
                    };
                    if let Some(first) = page.first()
                        && let Err(e) = expired(&db, cursor, first.seq).await
                    {
                        yield Err(e);
                        return;
                    }
                    behind = page.len() as u64 == PAGE;
                    for row in page {
                        cursor = row.seq;
                        yield Ok(Arc::new(row));
                    }
                    continue;
                }
                match rows.recv().await {
                    Ok(row) if row.seq > cursor => {
                        cursor = row.seq;
                        yield Ok(row);
                    }
                    // Already read from the table while catching up.
                    Ok(_) => {}
                    // The channel moved on without this subscriber: the table still has it all.
                    Err(broadcast::error::RecvError::Lagged(_)) => behind = true,
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}

/// Whether rows after `cursor` were deleted by retention, `first` being the first row after it
/// still kept. Numbers can have holes (PostgreSQL does not give back the numbers of a
/// transaction rolled back), so a gap alone proves nothing: retention deletes oldest first, so
/// rows were deleted after `cursor` only if none at or before it is left. Cursor 0 is "the
/// oldest kept".
async fn expired(db: &Db, cursor: i64, first: i64) -> Result<(), FollowError> {
    if cursor == 0 || first == cursor + 1 {
        return Ok(());
    }
    match db.feed_oldest().await {
        Ok(Some(oldest)) if oldest == first => Err(FollowError::Expired {
            cursor,
            resume: oldest - 1,
        }),
        Ok(_) => Ok(()),
        Err(error) => Err(FollowError::Database { cursor, error }),
    }
}
