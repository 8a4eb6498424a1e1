//! The upload outbox: the images table doubles as it (`published_at` is null until the image's
//! message is on the bus); the gateway's relay publishes what is left.

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::IN_CHUNK;
use crate::{DateTimeUtc, Db, Result, images, now};

impl Db {
    /// Records that the messages of `ids` are on the bus.
    pub async fn mark_published(&self, ids: &[Uuid]) -> Result<()> {
        for chunk in ids.chunks(IN_CHUNK) {
            images::Entity::update_many()
                .col_expr(images::Column::PublishedAt, Expr::value(now()))
                .filter(images::Column::Id.is_in(chunk.iter().copied()))
                .filter(images::Column::PublishedAt.is_null())
                .exec(&self.conn)
                .await?;
        }
        Ok(())
    }

    /// Accepted images whose message is not on the bus yet, uploaded before `before`, oldest
    /// first (the outbox relay publishes them).
    pub async fn unpublished_images(
        &self,
        before: DateTimeUtc,
        limit: u64,
    ) -> Result<Vec<images::Model>> {
        Ok(images::Entity::find()
            .filter(images::Column::PublishedAt.is_null())
            .filter(images::Column::CreatedAt.lt(before))
            .order_by_asc(images::Column::CreatedAt)
            .order_by_asc(images::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }
}
