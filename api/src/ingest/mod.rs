//! Accepting images: check everything first, then write object, row and message.
//!
//! A batch is all or nothing: every file is checked before the first is stored, and one bad file
//! refuses the whole batch with the file's `index` and `filename` in the error's extensions. A
//! client fixes or drops that file and sends the batch again, without wondering which images of
//! the first attempt were kept.

mod admission;
mod commit;
mod fields;
mod marks;
mod outbox;
mod prepare;

use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use vision_core::metrics::metrics;
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;
use vision_db::entities::images::Model as ImageRecord;
use vision_inference::ImageLimits;

pub use admission::{Admission, Patience};
pub use marks::PublishedMarks;
pub use outbox::Relay;
pub use prepare::Incoming;

use crate::errors::{ApiError, ApiResult, ErrorCode};
use commit::Committer;

#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub image: ImageLimits,
    /// Most files in one `uploadImages`.
    pub max_batch: usize,
    /// Files of one batch checked (decoded) at once.
    pub check_parallelism: usize,
    /// How long an upload waits for the bus to take its messages before leaving them to the
    /// outbox relay (the upload is accepted either way).
    pub publish_wait: Duration,
}

/// The upload service: checks images and their labels against the models' classes, stores
/// them, records them and announces them. Cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    db: Db,
    store: Arc<dyn ObjectStore>,
    bus: Arc<dyn MessageBus>,
    /// Marks uploads published (batched; see [`PublishedMarks`]).
    marks: PublishedMarks,
    limits: UploadLimits,
    /// The class names a label must be one of (the model bundle's).
    classes: Arc<[String]>,
    /// The bound on images accepted and not finished (backpressure).
    admission: Admission,
}

impl Ingest {
    pub fn new(
        db: Db,
        store: Arc<dyn ObjectStore>,
        bus: Arc<dyn MessageBus>,
        marks: PublishedMarks,
        limits: UploadLimits,
        classes: Arc<[String]>,
        admission: Admission,
    ) -> Self {
        Self {
            db,
            store,
            bus,
            marks,
            limits,
            classes,
            admission,
        }
    }

    /// The bound on images accepted and not finished.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    pub fn limits(&self) -> &UploadLimits {
        &self.limits
    }

    /// Accepts one image; `patience`: how long it may wait for room in the backlog.
    pub async fn upload_one(
        &self,
        incoming: Incoming,
        source: &str,
        patience: Patience,
    ) -> ApiResult<ImageRecord> {
        let mut records = self
            .accept(vec![incoming], source, false, patience)
            .await
            .map_err(rejected)?;
        accepted(&records);
        Ok(records.pop().expect("one file in, one record out"))
    }

    /// Accepts a batch of images, all or none.
    pub async fn upload_batch(
        &self,
        incoming: Vec<Incoming>,
        source: &str,
    ) -> ApiResult<Vec<ImageRecord>> {
        self.check_batch_size(incoming.len())?;
        let records = self
            .accept(incoming, source, true, Patience::Bounded)
            .await
            .map_err(rejected)?;
        accepted(&records);
        Ok(records)
    }

    /// Refuses a batch over the limit before any file is opened.
    pub fn check_batch_size(&self, files: usize) -> ApiResult<()> {
        let max = self.limits.max_batch;
        if files > max {
            return Err(rejected(ApiError::new(
                ErrorCode::BatchTooLarge,
                format!("{files} files in one batch, the limit is {max}"),
            )));
        }
        Ok(())
    }

    async fn accept(
        &self,
        incoming: Vec<Incoming>,
        source: &str,
        batch: bool,
        patience: Patience,
    ) -> ApiResult<Vec<ImageRecord>> {
        let source = fields::source(source)?;
        // Room in the backlog before the files are decoded: past the bound, a refusal costs
        // the server next to nothing, which is the point of refusing (checking first spent
        // the CPU the pipeline lacked on uploads then refused). Dropped if a file is refused.
        let ticket = self.admission.admit(incoming.len(), patience).await?;
        let limits = self.limits.image;
        let classes = &self.classes;
        // Checks decode whole images: run a few at once, at most one per core.
        let prepared: Vec<prepare::Prepared> =
            futures::stream::iter(incoming.into_iter().enumerate())
                .map(|(index, file)| async move {
                    let filename = file.filename.clone();
                    prepare::prepare(file, limits, classes)
                        .await
                        .map_err(|e| if batch { e.at(index, &filename) } else { e })
                })
                .buffered(self.limits.check_parallelism.max(1))
                .try_collect()
                .await?;
        let ids: Vec<_> = prepared.iter().map(|file| file.id).collect();
        self.admission.hold(ticket, &ids);
        let committer = Committer {
            db: &self.db,
            store: &self.store,
            bus: &self.bus,
            marks: &self.marks,
            publish_wait: self.limits.publish_wait,
        };
        let committed = committer.commit(prepared, &source).await;
        if committed.is_err() {
            self.admission.release(&ids);
        }
        committed
    }
}

fn accepted(records: &[ImageRecord]) {
    for record in records {
        metrics()
            .images_accepted
            .with_label_values(&[record.source.as_str()])
            .inc();
    }
}

fn rejected(error: ApiError) -> ApiError {
    metrics()
        .images_rejected
        .with_label_values(&[error.code.as_str()])
        .inc();
    error
}
