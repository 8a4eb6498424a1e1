//! Comparisons (F8): recording one completes its image (status `completed`), in one
//! transaction; the first comparison of an image is the one kept.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait, TryInsertResult,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IN_CHUNK;
use super::feed::{self, FeedEntry};
use crate::entities::pipeline_feed::FeedKind;
use crate::error::{check_finite, map_fk};
use crate::{Db, ImageStatus, Result, comparisons, images, now};

/// The comparison of the models on one image (F8). A model is named with its version: the
/// version of the prediction that made it the fastest or the most confident.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewComparison {
    pub fastest_model: String,
    pub fastest_model_version: String,
    pub most_confident_model: String,
    pub most_confident_model_version: String,
    pub consensus_class: Option<String>,
    /// Fraction of models that voted for the consensus class.
    pub agreement: f64,
}

impl Db {
    /// In one transaction (one commit), for each image: records the comparison and sets the
    /// image `completed` with `completed_at` now. Returns the images this call completed: the
    /// first comparison of an image completes it, later ones change nothing.
    /// [`DbError::NotFound`](crate::DbError::NotFound) (and nothing written) if one of them does
    /// not exist.
    pub async fn complete_images(
        &self,
        mut completions: Vec<(Uuid, NewComparison)>,
    ) -> Result<Vec<Uuid>> {
        // One order for every caller, so that two transactions completing the same images
        // never wait for each other crosswise (a deadlock on PostgreSQL).
        completions.sort_by_key(|(id, _)| *id);
        for (_, comparison) in &completions {
            check_finite("agreement", comparison.agreement)?;
        }
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let completed_at = now();
        let txn = self.conn.begin().await?;
        let mut completed = Vec::new();
        for (id, comparison) in completions {
            let am = comparisons::ActiveModel {
                image_id: Set(id),
                fastest_model: Set(comparison.fastest_model),
                fastest_model_version: Set(comparison.fastest_model_version),
                most_confident_model: Set(comparison.most_confident_model),
                most_confident_model_version: Set(comparison.most_confident_model_version),
                consensus_class: Set(comparison.consensus_class),
                agreement: Set(comparison.agreement),
                created_at: Set(completed_at),
            };
            // The insert comes first so that, on SQLite, the transaction takes the write lock
            // at once (waiting under the busy timeout) instead of failing to upgrade a read
            // lock. It decides: the first comparison of an image completes it, later ones
            // change nothing.
            let res = comparisons::Entity::insert(am)
                .on_conflict(
                    OnConflict::column(comparisons::Column::ImageId)
                        .do_nothing()
                        .to_owned(),
                )
                .do_nothing()
                .exec_without_returning(&txn)
                .await
                .map_err(|e| map_fk(e, "image", id))?;
            if !matches!(res, TryInsertResult::Inserted(n) if n > 0) {
                continue;
            }
            images::Entity::update_many()
                .col_expr(images::Column::Status, Expr::value(ImageStatus::Completed))
                .col_expr(images::Column::CompletedAt, Expr::value(completed_at))
                .filter(images::Column::Id.eq(id))
                .exec(&txn)
                .await?;
            completed.push(id);
        }
        let entries = completed
            .iter()
            .map(|id| FeedEntry::image(FeedKind::ImageCompleted, *id))
            .collect();
        feed::append(&txn, entries).await?;
        txn.commit().await?;
        Ok(completed)
    }

    /// The comparisons of these images (those that are completed), in no particular order.
    pub async fn comparisons_for_images(&self, ids: &[Uuid]) -> Result<Vec<comparisons::Model>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(
                comparisons::Entity::find()
                    .filter(comparisons::Column::ImageId.is_in(chunk.iter().copied()))
                    .all(&self.conn)
                    .await?,
            );
        }
        Ok(out)
    }
}
