//! Test helpers (cargo feature `testing`): [`Db`] methods that only tests call. The test crates
//! enable the feature in their `[dev-dependencies]`; production builds do not have these.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::{DateTimeUtc, Db, NewComparison, NewPrediction, Result, events, images};

impl Db {
    /// Records one prediction ([`Db::record_predictions`] of one): `true` if inserted, `false`
    /// if this (image, model, model version) was already recorded (the stored row is kept).
    /// [`DbError::NotFound`](crate::DbError::NotFound) if the image does not exist.
    pub async fn insert_prediction(&self, new: NewPrediction) -> Result<bool> {
        let recorded = self.record_predictions(vec![new]).await?;
        Ok(recorded.inserted.contains(&true))
    }

    /// Completes one image ([`Db::complete_images`] of one): `true` the first time only; later
    /// calls change nothing. [`DbError::NotFound`](crate::DbError::NotFound) if the image does
    /// not exist.
    pub async fn complete_image(&self, id: Uuid, comparison: NewComparison) -> Result<bool> {
        Ok(!self
            .complete_images(vec![(id, comparison)])
            .await?
            .is_empty())
    }

    /// Deletes every prediction created before `cutoff`, in the retention job's batches
    /// ([`Db::purge_predictions_batch`]); returns how many.
    pub async fn purge_predictions_before(&self, cutoff: DateTimeUtc) -> Result<u64> {
        const BATCH: u64 = 500;
        let mut deleted = 0;
        loop {
            let batch = self.purge_predictions_batch(cutoff, BATCH).await?;
            deleted += batch;
            if batch < BATCH {
                return Ok(deleted);
            }
        }
    }

    /// The `limit` most recent events, newest first.
    pub async fn recent_events(&self, limit: u64) -> Result<Vec<events::Model>> {
        Ok(events::Entity::find()
            .order_by_desc(events::Column::CreatedAt)
            .order_by_desc(events::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The most recent image with this content hash that has descriptors. (The extractor's
    /// descriptor reuse, F4, goes through the descriptor cache of `vision-core` instead.)
    pub async fn find_extracted_by_hash(
        &self,
        content_hash: &str,
    ) -> Result<Option<images::Model>> {
        Ok(images::Entity::find()
            .filter(images::Column::ContentHash.eq(content_hash))
            .filter(images::Column::Descriptors.is_not_null())
            .order_by_desc(images::Column::CreatedAt)
            .order_by_desc(images::Column::Id)
            .one(&self.conn)
            .await?)
    }
}
