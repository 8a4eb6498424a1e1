//! Second half of an upload: object, then row, then message. Storing undoes the earlier writes
//! when it fails, so the store never keeps an object without its row nor a row without its
//! object; once every row is written the upload is accepted, and a message the bus cannot take
//! now waits in the outbox (the unpublished rows).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;
use vision_core::metrics::metrics;
use vision_core::objects::{StoreError, raw_image_key};
use vision_core::{MessageBus, ObjectStore, topics};
use vision_db::entities::images::Model as ImageRecord;
use vision_db::{Db, NewImage};

use super::prepare::Prepared;
use crate::errors::ApiResult;

/// Pauses between tries of an object put while the store is unreachable.
const STORE_RETRY_PAUSES: [Duration; 5] = [
    Duration::from_millis(200),
    Duration::from_millis(400),
    Duration::from_millis(800),
    Duration::from_millis(1600),
    Duration::from_millis(3200),
];

/// What has been written so far, to undo on failure.
struct Written {
    id: Uuid,
    object_key: String,
}

pub struct Committer<'a> {
    pub db: &'a Db,
    pub store: &'a Arc<dyn ObjectStore>,
    pub bus: &'a Arc<dyn MessageBus>,
    /// Where the rows whose message went out are marked published.
    pub marks: &'a super::PublishedMarks,
    /// How long one publish may wait for the bus before the rest is left to the relay.
    pub publish_wait: Duration,
}

impl Committer<'_> {
    /// Stores every prepared file and announces them, all or none.
    pub async fn commit(
        &self,
        prepared: Vec<Prepared>,
        source: &str,
    ) -> ApiResult<Vec<ImageRecord>> {
        let mut written = Vec::with_capacity(prepared.len());
        let mut records = Vec::with_capacity(prepared.len());
        for file in prepared {
            match self.store_one(file, source, &mut written).await {
                Ok(record) => records.push(record),
                Err(e) => {
                    self.undo(&written).await;
                    return Err(e);
                }
            }
        }
        // Announce only once the whole batch is durable: a consumer never sees an image whose
        // batch is then rolled back. From here on the upload is accepted whatever the bus
        // does: the rows are the outbox, and what cannot be published now is published by
        // the relay (`super::outbox`) once the bus answers again.
        let mut published = Vec::with_capacity(records.len());
        for record in &records {
            let message = record.submitted();
            let key = record.id.to_string();
            let publish = topics::IMAGES_INPUT.publish(self.bus.as_ref(), &key, &message);
            match tokio::time::timeout(self.publish_wait, publish).await {
                Ok(Ok(())) => published.push(record.id),
                outcome => {
                    let reason = match outcome {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {:?}", self.publish_wait),
                    };
                    tracing::warn!(
                        reason,
                        deferred = records.len() - published.len(),
                        "bus unavailable: upload accepted, its messages left to the outbox relay"
                    );
                    metrics()
                        .errors
                        .with_label_values(&["ingest", "publish_deferred"])
                        .inc_by((records.len() - published.len()) as f64);
                    break;
                }
            }
        }
        self.marks.mark(&published);
        Ok(records)
    }

    async fn store_one(
        &self,
        mut file: Prepared,
        source: &str,
        written: &mut Vec<Written>,
    ) -> ApiResult<ImageRecord> {
        let id = file.id;
        let object_key = raw_image_key(id, file.kind.extension(), Utc::now());
        let (mut file, bytes) = tokio::task::spawn_blocking(move || {
            let bytes = file.read();
            (file, bytes)
        })
        .await?;
        self.put_object(&object_key, Bytes::from(bytes?), file.kind.mime())
            .await?;
        let row = NewImage {
            id,
            object_key: object_key.clone(),
            content_hash: file.content_hash,
            content_type: file.kind.mime().to_string(),
            size_bytes: file.size as i64,
            width: file.width as i32,
            height: file.height as i32,
            source: source.to_string(),
            label: file.label.take(),
        };
        match self.db.insert_image(row).await {
            Ok(record) => {
                written.push(Written { id, object_key });
                Ok(record)
            }
            Err(e) => {
                self.delete_object(&object_key).await;
                Err(e.into())
            }
        }
    }

    /// Puts an object, trying again while the store is unreachable (a restart, a network
    /// blip) for up to ~6 s before the upload is refused.
    async fn put_object(&self, key: &str, bytes: Bytes, mime: &str) -> Result<(), StoreError> {
        let mut pauses = STORE_RETRY_PAUSES.iter();
        loop {
            match self.store.put(key, bytes.clone(), mime).await {
                Err(StoreError::Unavailable(reason)) => match pauses.next() {
                    Some(pause) => {
                        tracing::warn!(%key, reason, "object store unavailable, trying again");
                        tokio::time::sleep(*pause).await;
                    }
                    None => return Err(StoreError::Unavailable(reason)),
                },
                outcome => return outcome,
            }
        }
    }

    async fn undo(&self, written: &[Written]) {
        for w in written {
            if let Err(e) = self.db.delete_image(w.id).await {
                tracing::error!(image_id = %w.id, error = %e, "cannot roll back an image row");
            }
            self.delete_object(&w.object_key).await;
        }
    }

    async fn delete_object(&self, key: &str) {
        if let Err(e) = self.store.delete(key).await {
            // Left for the data-quality job, which removes objects without a row.
            tracing::error!(%key, error = %e, "cannot roll back an object");
        }
    }
}
