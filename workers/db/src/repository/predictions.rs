//! Predictions: recorded idempotently per `(image_id, model, model_version)`, read per image or
//! listed newest first (keyset pagination).

use std::collections::HashSet;

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    SqlErr, TransactionTrait,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::feed::{self, FeedEntry};
use super::{IN_CHUNK, insert_groups};
use crate::cursor::before_cursor;
use crate::entities::pipeline_feed::FeedKind;
use crate::error::check_finite;
use crate::rollups;
use crate::{Cursor, DateTimeUtc, Db, DbError, Result, TopK, TopKList, images, now, predictions};

/// A classifier's answer for one image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPrediction {
    pub image_id: Uuid,
    pub model: String,
    pub model_version: String,
    pub predicted_class: String,
    pub class_index: i32,
    pub confidence: f64,
    /// Most probable first.
    pub top_k: Vec<TopK>,
    pub inference_ms: f64,
    /// `None` when the image has no label.
    pub correct: Option<bool>,
    /// A shadow version's prediction (never the answer).
    pub shadow: bool,
}

/// What [`Db::record_predictions`] stored.
#[derive(Clone, Debug)]
pub struct RecordedPredictions {
    /// Every prediction of the images concerned, oldest first (as
    /// [`Db::predictions_for_images`]).
    pub stored: Vec<predictions::Model>,
    /// For each row of `stored`: whether this call inserted it.
    pub inserted: Vec<bool>,
}

/// Filter of [`Db::list_predictions`]; `None` means any. `since` is inclusive, `until`
/// exclusive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionFilter {
    pub image_id: Option<Uuid>,
    pub model: Option<String>,
    pub since: Option<DateTimeUtc>,
    pub until: Option<DateTimeUtc>,
}

impl Db {
    /// Records several predictions with one statement, each idempotent on `(image_id, model,
    /// model_version)` (one already stored, or twice in `new`, is skipped and the stored row
    /// kept), and returns every prediction of their images afterwards, marking those this call
    /// inserted. Nothing is written if any value is refused or any image is missing
    /// ([`DbError::NotFound`] names one of them).
    pub async fn record_predictions(&self, new: Vec<NewPrediction>) -> Result<RecordedPredictions> {
        self.record_predictions_at(new, now()).await
    }

    /// [`Db::record_predictions`] with the time they were made given (an import of past
    /// predictions; a benchmark seeding months of them).
    pub async fn record_predictions_at(
        &self,
        new: Vec<NewPrediction>,
        created_at: DateTimeUtc,
    ) -> Result<RecordedPredictions> {
        for p in &new {
            check_finite("confidence", p.confidence)?;
            check_finite("inference_ms", p.inference_ms)?;
            for t in &p.top_k {
                check_finite("top_k probability", t.probability)?;
            }
        }
        let mut image_ids: Vec<Uuid> = new.iter().map(|p| p.image_id).collect();
        image_ids.sort();
        image_ids.dedup();
        // Our rows carry ids made here: afterwards, a stored row with one of them is one we
        // inserted (no RETURNING, which sea-orm offers on SQLite only behind a feature).
        let ours: HashSet<Uuid> = new.iter().map(|_| Uuid::new_v4()).collect();
        let rows: Vec<predictions::ActiveModel> = new
            .into_iter()
            .zip(&ours)
            .map(|(p, id)| predictions::ActiveModel {
                id: Set(*id),
                image_id: Set(p.image_id),
                model: Set(p.model),
                model_version: Set(p.model_version),
                predicted_class: Set(p.predicted_class),
                class_index: Set(p.class_index),
                confidence: Set(p.confidence),
                top_k: Set(TopKList(p.top_k)),
                inference_ms: Set(p.inference_ms),
                correct: Set(p.correct),
                created_at: Set(created_at),
                shadow: Set(p.shadow),
            })
            .collect();
        if !rows.is_empty() {
            // The rows and their feed entries commit together.
            let txn = self.conn.begin().await?;
            let inserted: std::result::Result<(), sea_orm::DbErr> = async {
                for group in insert_groups(rows) {
                    predictions::Entity::insert_many(group)
                        .on_conflict(
                            OnConflict::columns([
                                predictions::Column::ImageId,
                                predictions::Column::Model,
                                predictions::Column::ModelVersion,
                            ])
                            .do_nothing()
                            .to_owned(),
                        )
                        .do_nothing()
                        .exec_without_returning(&txn)
                        .await?;
                }
                Ok(())
            }
            .await;
            if let Err(e) = inserted {
                txn.rollback().await?;
                if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) {
                    let found: HashSet<Uuid> = self
                        .get_images(&image_ids)
                        .await?
                        .iter()
                        .map(|i| i.id)
                        .collect();
                    if let Some(missing) = image_ids.iter().find(|id| !found.contains(id)) {
                        return Err(DbError::NotFound {
                            entity: "image",
                            id: *missing,
                        });
                    }
                }
                return Err(DbError::Database(e));
            }
            // Those of ours that went in (one already stored was skipped) are told in the feed.
            let ours: Vec<Uuid> = ours.iter().copied().collect();
            let mut went_in = Vec::new();
            for chunk in ours.chunks(IN_CHUNK) {
                went_in.extend(
                    predictions::Entity::find()
                        .filter(predictions::Column::Id.is_in(chunk.iter().copied()))
                        .all(&txn)
                        .await?,
                );
            }
            went_in.sort_by(|a, b| (a.image_id, &a.model).cmp(&(b.image_id, &b.model)));
            // The statistics rollups count them in the same transaction, with their images'
            // labels (the rows just read say the rest).
            let mut labels = std::collections::HashMap::new();
            for chunk in image_ids.chunks(IN_CHUNK) {
                labels.extend(
                    images::Entity::find()
                        .select_only()
                        .columns([images::Column::Id, images::Column::Label])
                        .filter(images::Column::Id.is_in(chunk.iter().copied()))
                        .into_tuple::<(Uuid, Option<String>)>()
                        .all(&txn)
                        .await?,
                );
            }
            let facts: Vec<rollups::Fact> = went_in
                .iter()
                .filter(|p| !p.shadow)
                .map(|p| rollups::Fact::of(p, labels.get(&p.image_id).cloned().flatten()))
                .collect();
            rollups::apply(&txn, &facts, rollups::Sign::Add).await?;
            let entries = went_in
                .into_iter()
                .map(|p| FeedEntry {
                    kind: FeedKind::PredictionRecorded,
                    image_id: p.image_id,
                    model: Some(p.model),
                    model_version: Some(p.model_version),
                    prediction_id: Some(p.id),
                })
                .collect();
            feed::append(&txn, entries).await?;
            txn.commit().await?;
        }
        let stored = self.predictions_for_images(&image_ids).await?;
        let inserted = stored.iter().map(|r| ours.contains(&r.id)).collect();
        Ok(RecordedPredictions { stored, inserted })
    }

    /// Every prediction of these images, oldest first.
    pub async fn predictions_for_images(&self, ids: &[Uuid]) -> Result<Vec<predictions::Model>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            out.extend(
                predictions::Entity::find()
                    .filter(predictions::Column::ImageId.is_in(chunk.iter().copied()))
                    .order_by_asc(predictions::Column::CreatedAt)
                    .order_by_asc(predictions::Column::Id)
                    .all(&self.conn)
                    .await?,
            );
        }
        Ok(out)
    }

    /// Predictions matching `filter`, newest first (`created_at DESC, id DESC`), keyset
    /// pagination as in [`Db::list_images`].
    pub async fn list_predictions(
        &self,
        filter: &PredictionFilter,
        after: Option<Cursor>,
        limit: u64,
    ) -> Result<Vec<predictions::Model>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut cond = Condition::all();
        if let Some(image_id) = filter.image_id {
            cond = cond.add(predictions::Column::ImageId.eq(image_id));
        }
        if let Some(model) = &filter.model {
            cond = cond.add(predictions::Column::Model.eq(model.as_str()));
        }
        if let Some(since) = filter.since {
            cond = cond.add(predictions::Column::CreatedAt.gte(since));
        }
        if let Some(until) = filter.until {
            cond = cond.add(predictions::Column::CreatedAt.lt(until));
        }
        if let Some(cursor) = &after {
            cond = cond.add(before_cursor(
                predictions::Column::CreatedAt,
                predictions::Column::Id,
                cursor,
            ));
        }
        Ok(predictions::Entity::find()
            .filter(cond)
            .order_by_desc(predictions::Column::CreatedAt)
            .order_by_desc(predictions::Column::Id)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The `limit` most recent predictions, newest first.
    pub async fn recent_predictions(&self, limit: u64) -> Result<Vec<predictions::Model>> {
        self.list_predictions(&PredictionFilter::default(), None, limit)
            .await
    }
}
