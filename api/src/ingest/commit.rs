//! Second half of an upload: object, then row, then message. Each step undoes the earlier ones
//! when it fails, so the store never keeps an object without its row nor a row without its object.

use std::sync::Arc;

use bytes::Bytes;
use chrono::Utc;
use uuid::Uuid;
use vision_core::messages::{self, ImageSubmitted, SCHEMA_VERSION};
use vision_core::objects::raw_image_key;
use vision_core::{MessageBus, ObjectStore, topics};
use vision_db::entities::images::Model as ImageRecord;
use vision_db::{Db, NewImage};

use super::prepare::Prepared;
use crate::errors::{ApiError, ApiResult};

/// What has been written so far, to undo on failure.
struct Written {
    id: Uuid,
    object_key: String,
}

pub struct Committer<'a> {
    pub db: &'a Db,
    pub store: &'a Arc<dyn ObjectStore>,
    pub bus: &'a Arc<dyn MessageBus>,
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
        // batch is then rolled back, except when the bus itself fails half-way (those
        // messages then find no object and are dead-lettered).
        for record in &records {
            let message = ImageSubmitted {
                v: SCHEMA_VERSION,
                image_id: record.id,
                object_key: record.object_key.clone(),
                source: record.source.clone(),
                label: record.label.clone(),
                submitted_at: record.created_at,
                content_hash: Some(record.content_hash.clone()),
            };
            let key = record.id.to_string();
            if let Err(e) = self
                .bus
                .publish(topics::IMAGES_INPUT, &key, messages::encode(&message))
                .await
            {
                self.undo(&written).await;
                return Err(ApiError::internal("cannot publish the image", e));
            }
        }
        Ok(records)
    }

    async fn store_one(
        &self,
        mut file: Prepared,
        source: &str,
        written: &mut Vec<Written>,
    ) -> ApiResult<ImageRecord> {
        let id = Uuid::new_v4();
        let object_key = raw_image_key(id, file.kind.extension(), Utc::now());
        let (mut file, bytes) = tokio::task::spawn_blocking(move || {
            let bytes = file.read();
            (file, bytes)
        })
        .await
        .map_err(|e| ApiError::internal("upload read panicked", e))?;
        let bytes = bytes.map_err(|e| ApiError::internal("cannot read the uploaded file", e))?;
        self.store
            .put(&object_key, Bytes::from(bytes), file.kind.mime())
            .await
            .map_err(|e| ApiError::internal("cannot store the image", e))?;
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
                Err(ApiError::internal("cannot record the image", e))
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
