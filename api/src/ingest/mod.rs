//! Accepting images: check everything first, then write object, row and message.
//!
//! A batch is all or nothing: every file is checked before the first is stored, and one bad file
//! refuses the whole batch with the file's `index` and `filename` in the error's extensions. A
//! client fixes or drops that file and sends the batch again, without wondering which images of
//! the first attempt were kept.

mod commit;
mod fields;
mod marks;
mod outbox;
mod prepare;

use futures::{StreamExt, TryStreamExt};
use vision_core::metrics::metrics;
use vision_db::entities::images::Model as ImageRecord;

pub use marks::PublishedMarks;
pub use outbox::Relay;
pub use prepare::Incoming;

use crate::errors::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use commit::Committer;

/// Accepts one image.
pub async fn upload_one(
    state: &AppState,
    incoming: Incoming,
    source: &str,
) -> ApiResult<ImageRecord> {
    let mut records = accept(state, vec![incoming], source, false)
        .await
        .map_err(rejected)?;
    accepted(&records);
    Ok(records.pop().expect("one file in, one record out"))
}

/// Accepts a batch of images, all or none.
pub async fn upload_batch(
    state: &AppState,
    incoming: Vec<Incoming>,
    source: &str,
) -> ApiResult<Vec<ImageRecord>> {
    check_batch_size(state, incoming.len())?;
    let records = accept(state, incoming, source, true)
        .await
        .map_err(rejected)?;
    accepted(&records);
    Ok(records)
}

/// Refuses a batch over the limit before any file is opened.
pub fn check_batch_size(state: &AppState, files: usize) -> ApiResult<()> {
    let max = state.limits.max_batch;
    if files > max {
        return Err(rejected(ApiError::new(
            ErrorCode::BatchTooLarge,
            format!("{files} files in one batch, the limit is {max}"),
        )));
    }
    Ok(())
}

async fn accept(
    state: &AppState,
    incoming: Vec<Incoming>,
    source: &str,
    batch: bool,
) -> ApiResult<Vec<ImageRecord>> {
    let source = fields::source(source)?;
    let limits = state.limits.image;
    // Checks decode whole images: run a few at once, at most one per core.
    let prepared: Vec<prepare::Prepared> = futures::stream::iter(incoming.into_iter().enumerate())
        .map(|(index, file)| async move {
            let filename = file.filename.clone();
            prepare::prepare(file, limits)
                .await
                .map_err(|e| if batch { e.at(index, &filename) } else { e })
        })
        .buffered(state.limits.check_parallelism.max(1))
        .try_collect()
        .await?;
    let committer = Committer {
        db: &state.db,
        store: &state.store,
        bus: &state.bus,
        marks: &state.published,
        publish_wait: state.limits.publish_wait,
    };
    committer.commit(prepared, &source).await
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
