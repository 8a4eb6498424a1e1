//! What the data-quality job reads: image rows page by page (without their descriptors), and
//! the rows that break the pipeline's invariants.

use sea_orm::sea_query::{Expr, Query, SelectStatement};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::IN_CHUNK;
use crate::{DateTimeUtc, Db, ImageStatus, Result, comparisons, images, predictions};

/// An image row as the data-quality job checks it against its object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredImage {
    pub id: Uuid,
    pub created_at: DateTimeUtc,
    pub object_key: String,
    pub content_hash: String,
    pub size_bytes: i64,
}

/// Some rows breaking one invariant: how many, and the first few ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations {
    pub count: u64,
    pub examples: Vec<Uuid>,
}

/// The columns of a [`StoredImage`], in the order of [`Row`].
const STORED_COLUMNS: [images::Column; 5] = [
    images::Column::Id,
    images::Column::CreatedAt,
    images::Column::ObjectKey,
    images::Column::ContentHash,
    images::Column::SizeBytes,
];

type Row = (Uuid, DateTimeUtc, String, String, i64);

fn stored(row: Row) -> StoredImage {
    StoredImage {
        id: row.0,
        created_at: row.1,
        object_key: row.2,
        content_hash: row.3,
        size_bytes: row.4,
    }
}

impl Db {
    /// Image rows after `after` in id order, at most `limit`.
    pub async fn stored_images(&self, after: Option<Uuid>, limit: u64) -> Result<Vec<StoredImage>> {
        let mut query = images::Entity::find()
            .select_only()
            .columns(STORED_COLUMNS)
            .order_by_asc(images::Column::Id)
            .limit(limit);
        if let Some(after) = after {
            query = query.filter(images::Column::Id.gt(after));
        }
        let rows: Vec<Row> = query.into_tuple().all(&self.conn).await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    /// The `limit` most recent image rows, newest first.
    pub async fn newest_stored_images(&self, limit: u64) -> Result<Vec<StoredImage>> {
        let rows: Vec<Row> = images::Entity::find()
            .select_only()
            .columns(STORED_COLUMNS)
            .order_by_desc(images::Column::CreatedAt)
            .order_by_desc(images::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(&self.conn)
            .await?;
        Ok(rows.into_iter().map(stored).collect())
    }

    /// Of these object keys, those an image row names.
    pub async fn keys_with_rows(&self, keys: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in keys.chunks(IN_CHUNK) {
            let found: Vec<String> = images::Entity::find()
                .select_only()
                .column(images::Column::ObjectKey)
                .filter(images::Column::ObjectKey.is_in(chunk.iter().cloned()))
                .into_tuple()
                .all(&self.conn)
                .await?;
            out.extend(found);
        }
        Ok(out)
    }

    /// Images still `pending` or `extracted` that were uploaded before `before`.
    pub async fn stuck_images(&self, before: DateTimeUtc, examples: u64) -> Result<Violations> {
        let stuck = images::Entity::find()
            .filter(images::Column::Status.is_in([ImageStatus::Pending, ImageStatus::Extracted]))
            .filter(images::Column::CreatedAt.lt(before));
        violations(self, stuck, examples).await
    }

    /// Completed images without any answer (a non-shadow prediction).
    pub async fn completed_without_predictions(&self, examples: u64) -> Result<Violations> {
        let answers = Query::select()
            .expr(Expr::val(1))
            .from(predictions::Entity)
            .and_where(
                Expr::col((predictions::Entity, predictions::Column::ImageId))
                    .equals((images::Entity, images::Column::Id)),
            )
            .and_where(Expr::col((predictions::Entity, predictions::Column::Shadow)).eq(false))
            .to_owned();
        violations(self, completed_without(answers), examples).await
    }

    /// Completed images without their comparison.
    pub async fn completed_without_comparison(&self, examples: u64) -> Result<Violations> {
        let comparison = Query::select()
            .expr(Expr::val(1))
            .from(comparisons::Entity)
            .and_where(
                Expr::col((comparisons::Entity, comparisons::Column::ImageId))
                    .equals((images::Entity, images::Column::Id)),
            )
            .to_owned();
        violations(self, completed_without(comparison), examples).await
    }
}

/// Completed images for which `rows` (a subquery on the image's id) finds nothing.
fn completed_without(rows: SelectStatement) -> sea_orm::Select<images::Entity> {
    images::Entity::find()
        .filter(images::Column::Status.eq(ImageStatus::Completed))
        .filter(Expr::exists(rows).not())
}

/// How many images `query` finds, and the oldest few.
async fn violations(
    db: &Db,
    query: sea_orm::Select<images::Entity>,
    examples: u64,
) -> Result<Violations> {
    let count = query.clone().count(&db.conn).await?;
    let examples: Vec<Uuid> = query
        .select_only()
        .column(images::Column::Id)
        .order_by_asc(images::Column::CreatedAt)
        .limit(examples)
        .into_tuple()
        .all(&db.conn)
        .await?;
    Ok(Violations { count, examples })
}
