//! Marks uploads published in batches: one UPDATE for every row published meanwhile instead of
//! one per upload (a commit each). A mark that is lost (a crash, a database error) only means
//! the relay publishes that image again once its grace has passed: a duplicate message, which
//! every stage tolerates (at-least-once).

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;
use vision_db::Db;

/// Rows marked by one statement at most.
const MAX_MARKS: usize = 500;

/// Where uploads report the rows whose message the bus took. Cheap to clone.
#[derive(Clone)]
pub struct PublishedMarks {
    tx: mpsc::UnboundedSender<Uuid>,
}

impl PublishedMarks {
    /// The handle, and the task that writes the marks: it ends at `shutdown`, once what was
    /// sent before is written.
    pub fn start(db: Db, shutdown: CancellationToken) -> (Self, impl Future<Output = ()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, write_marks(db, rx, shutdown))
    }

    /// Marks these rows published (soon: see the module docs).
    pub fn mark(&self, ids: &[Uuid]) {
        for id in ids {
            // Closed only when the gateway shuts down: the relay covers what is left.
            let _ = self.tx.send(*id);
        }
    }
}

/// Writes what has arrived, all of it at once (up to [`MAX_MARKS`]); while one write runs the
/// next batch gathers, so there is no timer and no delay at low load. At `shutdown` it takes no
/// more and ends once what was sent before is written.
async fn write_marks(db: Db, mut rx: mpsc::UnboundedReceiver<Uuid>, shutdown: CancellationToken) {
    let mut ids = Vec::with_capacity(MAX_MARKS);
    let mut closing = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled(), if !closing => {
                rx.close();
                closing = true;
            }
            received = rx.recv_many(&mut ids, MAX_MARKS) => {
                if received == 0 {
                    return;
                }
                if let Err(e) = db.mark_published(&ids).await {
                    tracing::warn!(
                        error = %e,
                        rows = ids.len(),
                        "cannot mark images published; the relay will send them again"
                    );
                }
                ids.clear();
            }
        }
    }
}
