//! Raw figures for the dashboard's statistics (F17-F19): counts grouped by the database, and the
//! per-prediction samples of a bounded time window. The shaping (matrices, per-class metrics,
//! time buckets) is left to the caller, which knows the class list and the bucket size.

use sea_orm::sea_query::{Alias, Expr, Func, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, IdenStatic, Order, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use crate::repository::non_negative;
use crate::{DateTimeUtc, Db, Result, images, predictions};

/// How often one model answered `predicted` for images labelled `label`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledCount {
    pub label: String,
    pub predicted: String,
    pub count: u64,
}

/// One prediction reduced to what time series need.
#[derive(Clone, Debug, PartialEq)]
pub struct PredictionSample {
    pub model: String,
    pub created_at: DateTimeUtc,
    pub inference_ms: f64,
    pub correct: Option<bool>,
}

/// Activity since a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Images whose last prediction arrived in the window (`completed_at >= since`).
    pub images_completed: u64,
    /// Predictions made in the window.
    pub predictions: u64,
}

impl Db {
    /// (label, predicted class) counts of `model`'s predictions on labelled images made at or
    /// after `since`: the cells of its confusion matrix.
    pub async fn confusion_counts(
        &self,
        model: &str,
        since: Option<DateTimeUtc>,
    ) -> Result<Vec<LabelledCount>> {
        use images::Column as I;
        use predictions::Column as P;
        let (p, i) = (predictions::Entity, images::Entity);
        let mut q = Query::select();
        q.from(p)
            .inner_join(i, Expr::col((i, I::Id)).equals((p, P::ImageId)))
            .expr_as(Expr::col((i, I::Label)), Alias::new("label"))
            .expr_as(Expr::col((p, P::PredictedClass)), Alias::new("predicted"))
            .expr_as(Func::count(Expr::col((p, P::Id))), Alias::new("n"))
            .and_where(Expr::col((p, P::Model)).eq(model))
            .and_where(Expr::col((p, P::Shadow)).eq(false))
            .and_where(Expr::col((i, I::Label)).is_not_null())
            .group_by_col((i, I::Label))
            .group_by_col((p, P::PredictedClass));
        if let Some(since) = since {
            q.and_where(Expr::col((p, P::CreatedAt)).gte(since));
        }
        let backend = self.conn.get_database_backend();
        let rows = self.conn.query_all(backend.build(&q)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(LabelledCount {
                label: row.try_get("", "label")?,
                predicted: row.try_get("", "predicted")?,
                count: non_negative(row.try_get::<i64>("", "n")?),
            });
        }
        Ok(out)
    }

    /// How often each class was predicted (labelled images or not) since `since`, by one model
    /// or by all together; sorted by class name. Here and in every figure of this module, a
    /// shadow version's predictions are left out: they are compared in experiments, they are
    /// not the model's answers.
    pub async fn predicted_class_counts(
        &self,
        model: Option<&str>,
        since: Option<DateTimeUtc>,
    ) -> Result<Vec<(String, u64)>> {
        use predictions::Column as P;
        let mut q = Query::select();
        q.from(predictions::Entity)
            .column(P::PredictedClass)
            .expr_as(Func::count(Expr::col(P::Id)), Alias::new("n"))
            .and_where(Expr::col(P::Shadow).eq(false))
            .group_by_col(P::PredictedClass)
            .order_by(P::PredictedClass, Order::Asc);
        if let Some(model) = model {
            q.and_where(Expr::col(P::Model).eq(model));
        }
        if let Some(since) = since {
            q.and_where(Expr::col(P::CreatedAt).gte(since));
        }
        let backend = self.conn.get_database_backend();
        let rows = self.conn.query_all(backend.build(&q)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push((
                row.try_get("", P::PredictedClass.as_str())?,
                non_negative(row.try_get::<i64>("", "n")?),
            ));
        }
        Ok(out)
    }

    /// Every prediction made in `[since, until)`, oldest first. Callers bound the window: this
    /// reads one small row per prediction.
    pub async fn prediction_samples(
        &self,
        since: DateTimeUtc,
        until: DateTimeUtc,
    ) -> Result<Vec<PredictionSample>> {
        use predictions::Column as P;
        let rows = predictions::Entity::find()
            .select_only()
            .columns([P::Model, P::CreatedAt, P::InferenceMs, P::Correct])
            .filter(P::CreatedAt.gte(since))
            .filter(P::CreatedAt.lt(until))
            .filter(P::Shadow.eq(false))
            .order_by_asc(P::CreatedAt)
            .into_tuple::<(String, DateTimeUtc, f64, Option<bool>)>()
            .all(&self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(
                |(model, created_at, inference_ms, correct)| PredictionSample {
                    model,
                    created_at,
                    inference_ms,
                    correct,
                },
            )
            .collect())
    }

    /// Images completed and predictions made at or after `since`.
    pub async fn activity_since(&self, since: DateTimeUtc) -> Result<Activity> {
        let images_completed = images::Entity::find()
            .filter(images::Column::CompletedAt.gte(since))
            .count(&self.conn)
            .await?;
        let predictions = predictions::Entity::find()
            .filter(predictions::Column::CreatedAt.gte(since))
            .filter(predictions::Column::Shadow.eq(false))
            .count(&self.conn)
            .await?;
        Ok(Activity {
            images_completed,
            predictions,
        })
    }
}
