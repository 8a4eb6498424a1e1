//! Image rows: insert, read, list (keyset pagination), count, delete, and the status
//! transitions ([`ImageStatus`]): `pending` -> `extracted` -> `completed`, or `failed`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IN_CHUNK;
use super::feed::{self, FeedEntry};
use crate::cursor::before_cursor;
use crate::entities::pipeline_feed::FeedKind;
use crate::error::check_finite;
use crate::rollups;
use crate::{
    Cursor, DateTimeUtc, Db, DbError, Descriptors, ImageStatus, Result, images, now, predictions,
};

/// A new image, as accepted by the API (status `pending`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewImage {
    pub id: Uuid,
    pub object_key: String,
    /// Hex SHA-256 of the content.
    pub content_hash: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: i32,
    pub height: i32,
    /// `upload`, `batch`, `webcam`, `cifar10`, ...
    pub source: String,
    /// Ground-truth class name, when known.
    pub label: Option<String>,
}

/// Filter of [`Db::list_images`] and [`Db::count_images`]; `None` means any.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFilter {
    pub source: Option<String>,
    pub status: Option<ImageStatus>,
    pub label: Option<String>,
}

impl ImageFilter {
    fn condition(&self) -> Condition {
        let mut cond = Condition::all();
        if let Some(source) = &self.source {
            cond = cond.add(images::Column::Source.eq(source.as_str()));
        }
        if let Some(status) = self.status {
            cond = cond.add(images::Column::Status.eq(status));
        }
        if let Some(label) = &self.label {
            cond = cond.add(images::Column::Label.eq(label.as_str()));
        }
        cond
    }
}

impl Db {
    /// Inserts a new image with status `pending` and `created_at` now.
    pub async fn insert_image(&self, new: NewImage) -> Result<images::Model> {
        let model = images::Model {
            id: new.id,
            created_at: now(),
            object_key: new.object_key,
            content_hash: new.content_hash,
            content_type: new.content_type,
            size_bytes: new.size_bytes,
            width: new.width,
            height: new.height,
            source: new.source,
            label: new.label,
            status: ImageStatus::Pending,
            failure_reason: None,
            descriptors: None,
            extractor_version: None,
            extract_ms: None,
            completed_at: None,
            published_at: None,
        };
        let am: images::ActiveModel = model.clone().into();
        images::Entity::insert(am)
            .exec_without_returning(&self.conn)
            .await?;
        Ok(model)
    }

    /// Deletes an image with its predictions and comparison; `false` if there was none.
    pub async fn delete_image(&self, id: Uuid) -> Result<bool> {
        let txn = self.conn.begin().await?;
        rollups::remove_matching(
            &txn,
            Condition::all()
                .add(Expr::col((predictions::Entity, predictions::Column::ImageId)).eq(id)),
        )
        .await?;
        let res = images::Entity::delete_by_id(id).exec(&txn).await?;
        txn.commit().await?;
        Ok(res.rows_affected > 0)
    }

    /// One image.
    pub async fn get_image(&self, id: Uuid) -> Result<Option<images::Model>> {
        Ok(images::Entity::find_by_id(id).one(&self.conn).await?)
    }

    /// The images among `ids` that exist, in no particular order.
    pub async fn get_images(&self, ids: &[Uuid]) -> Result<Vec<images::Model>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(
                images::Entity::find()
                    .filter(images::Column::Id.is_in(chunk.iter().copied()))
                    .all(&self.conn)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Images matching `filter`, newest first (`created_at DESC, id DESC`), at most `limit`,
    /// strictly after `after` (the cursor of the last row of the previous page).
    pub async fn list_images(
        &self,
        filter: &ImageFilter,
        after: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<images::Model>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cond = filter.condition();
        if let Some(cursor) = &after {
            cond = cond.add(before_cursor(
                images::Column::CreatedAt,
                images::Column::Id,
                cursor,
            ));
        }
        Ok(images::Entity::find()
            .filter(cond)
            .order_by_desc(images::Column::CreatedAt)
            .order_by_desc(images::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// Number of images matching `filter`.
    pub async fn count_images(&self, filter: &ImageFilter) -> Result<u64> {
        Ok(images::Entity::find()
            .filter(filter.condition())
            .count(&self.conn)
            .await?)
    }

    async fn require_image(&self, id: Uuid) -> Result<()> {
        let found = images::Entity::find_by_id(id)
            .select_only()
            .column(images::Column::Id)
            .into_tuple::<Uuid>()
            .one(&self.conn)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(DbError::NotFound {
                entity: "image",
                id,
            }),
        }
    }

    /// Stores the extractor's output. The status becomes `extracted` if it was `pending`;
    /// an image already `completed` or `failed` keeps its status and `false` is returned. A
    /// `completed` image gets the descriptors all the same (the recorder may see the classifiers'
    /// answers before the extractor's, and the figures belong to the image); a `failed` one
    /// does not. [`DbError::NotFound`] if there is no such image.
    pub async fn set_extracted(
        &self,
        id: Uuid,
        descriptors: &[f32],
        extractor_version: &str,
        extract_ms: f64,
    ) -> Result<bool> {
        if let Some(i) = descriptors.iter().position(|x| !x.is_finite()) {
            return Err(DbError::InvalidInput(format!(
                "descriptor {i} of image {id} is {}",
                descriptors[i]
            )));
        }
        check_finite("extract_ms", extract_ms)?;
        let stored = images::Entity::update_many()
            .col_expr(
                images::Column::Descriptors,
                Expr::value(Descriptors(descriptors.to_vec())),
            )
            .col_expr(
                images::Column::ExtractorVersion,
                Expr::value(extractor_version),
            )
            .col_expr(images::Column::ExtractMs, Expr::value(extract_ms))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::Status.ne(ImageStatus::Failed))
            .exec(&self.conn)
            .await?;
        if stored.rows_affected == 0 {
            self.require_image(id).await?;
            return Ok(false);
        }
        let res = images::Entity::update_many()
            .col_expr(images::Column::Status, Expr::value(ImageStatus::Extracted))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::Status.is_in([ImageStatus::Pending, ImageStatus::Extracted]))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Keeps image `id`'s descriptors from other extractor versions (`(version, descriptors)`),
    /// for back-tests of the heads that read them; one already stored is kept.
    pub async fn set_other_descriptors(
        &self,
        id: Uuid,
        others: &[(String, Vec<f32>)],
    ) -> Result<()> {
        use crate::entities::image_descriptors;
        use sea_orm::sea_query::OnConflict;
        if others.is_empty() {
            return Ok(());
        }
        for (version, descriptors) in others {
            if let Some(i) = descriptors.iter().position(|x| !x.is_finite()) {
                return Err(DbError::InvalidInput(format!(
                    "descriptor {i} of image {id} by {version} is {}",
                    descriptors[i]
                )));
            }
        }
        let rows = others
            .iter()
            .map(|(version, descriptors)| image_descriptors::ActiveModel {
                image_id: sea_orm::Set(id),
                extractor_version: sea_orm::Set(version.clone()),
                descriptors: sea_orm::Set(Descriptors(descriptors.clone())),
            });
        image_descriptors::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([
                    image_descriptors::Column::ImageId,
                    image_descriptors::Column::ExtractorVersion,
                ])
                .do_nothing()
                .to_owned(),
            )
            .do_nothing()
            .exec_without_returning(&self.conn)
            .await?;
        Ok(())
    }

    /// Image `id`'s descriptors from other extractor versions, as `(version, descriptors)`.
    pub async fn other_descriptors(&self, id: Uuid) -> Result<Vec<(String, Vec<f32>)>> {
        use crate::entities::image_descriptors;
        Ok(image_descriptors::Entity::find()
            .filter(image_descriptors::Column::ImageId.eq(id))
            .all(&self.conn)
            .await?
            .into_iter()
            .map(|row| (row.extractor_version, row.descriptors.0))
            .collect())
    }

    /// Marks an image `failed` with a reason. A `completed` image is left untouched and `false`
    /// is returned. [`DbError::NotFound`] if there is no such image.
    pub async fn mark_failed(&self, id: Uuid, reason: &str) -> Result<bool> {
        let txn = self.conn.begin().await?;
        // Told in the feed the first time only (a failed image stays failed).
        let res = images::Entity::update_many()
            .col_expr(images::Column::Status, Expr::value(ImageStatus::Failed))
            .col_expr(images::Column::FailureReason, Expr::value(reason))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::Status.is_not_in([ImageStatus::Completed, ImageStatus::Failed]))
            .exec(&txn)
            .await?;
        if res.rows_affected > 0 {
            feed::append(&txn, vec![FeedEntry::image(FeedKind::ImageFailed, id)]).await?;
            txn.commit().await?;
            return Ok(true);
        }
        // Failed again (a redelivered dead letter): the latest reason stands, nothing to tell.
        let res = images::Entity::update_many()
            .col_expr(images::Column::FailureReason, Expr::value(reason))
            .filter(images::Column::Id.eq(id))
            .filter(images::Column::Status.eq(ImageStatus::Failed))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        if res.rows_affected > 0 {
            return Ok(true);
        }
        self.require_image(id).await?;
        Ok(false)
    }

    /// Images still `pending` or `extracted`, oldest first (to resume work after a crash).
    pub async fn incomplete_images(&self, limit: u64) -> Result<Vec<images::Model>> {
        self.incomplete_images_before(None, limit).await
    }

    /// [`Db::incomplete_images`] uploaded before `before` (all of them when `None`).
    pub async fn incomplete_images_before(
        &self,
        before: Option<DateTimeUtc>,
        limit: u64,
    ) -> Result<Vec<images::Model>> {
        let mut query = images::Entity::find()
            .filter(images::Column::Status.is_in([ImageStatus::Pending, ImageStatus::Extracted]));
        if let Some(before) = before {
            query = query.filter(images::Column::CreatedAt.lt(before));
        }
        Ok(query
            .order_by_asc(images::Column::CreatedAt)
            .order_by_asc(images::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }
}
