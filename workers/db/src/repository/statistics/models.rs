//! Per-model statistics ([`Db::model_stats`]): counts, means, accuracy and nearest-rank latency
//! percentiles, all computed by the database inside one read transaction.

use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement};
use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, IdenStatic, IsolationLevel, Order, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use crate::repository::non_negative;
use crate::{DateTimeUtc, Db, Result, predictions};

/// Statistics of one model over the predictions selected by [`Db::model_stats`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStats {
    pub model: String,
    /// Every version seen, sorted.
    pub model_versions: Vec<String>,
    /// Number of predictions.
    pub count: u64,
    /// Nearest-rank percentiles of `inference_ms`.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    pub latency_p99_ms: f64,
    pub mean_latency_ms: f64,
    pub mean_confidence: f64,
    /// Predictions on labelled images (`correct` not null).
    pub labeled: u64,
    /// Predictions equal to the label.
    pub correct: u64,
    /// `correct / labeled`, `None` when nothing is labelled.
    pub accuracy: Option<f64>,
}

/// 1-based nearest rank of the `p`-th percentile (`p` in 1..=100) among `n` sorted values:
/// `ceil(p * n / 100)`, at least 1.
pub fn nearest_rank(p: u64, n: u64) -> u64 {
    (p * n).div_ceil(100).max(1)
}

impl Db {
    /// Per-model statistics of the predictions created at or after `since` (all if `None`),
    /// sorted by model name. Models without predictions in the window are absent.
    pub async fn model_stats(&self, since: Option<DateTimeUtc>) -> Result<Vec<ModelStats>> {
        use predictions::Column as P;

        let backend = self.conn.get_database_backend();
        let txn = match backend {
            DbBackend::Postgres => {
                self.conn
                    .begin_with_config(
                        Some(IsolationLevel::RepeatableRead),
                        Some(AccessMode::ReadOnly),
                    )
                    .await?
            }
            _ => self.conn.begin().await?,
        };
        let window = |q: &mut SelectStatement| {
            q.from(predictions::Entity);
            // A shadow's answers are compared in experiments, not counted as the model's.
            q.and_where(Expr::col(P::Shadow).eq(false));
            if let Some(since) = since {
                q.and_where(Expr::col(P::CreatedAt).gte(since));
            }
        };

        let mut agg = Query::select();
        window(&mut agg);
        agg.column(P::Model)
            .expr_as(Func::count(Expr::col(P::Id)), Alias::new("n"))
            .expr_as(Func::avg(Expr::col(P::InferenceMs)), Alias::new("mean_ms"))
            .expr_as(Func::avg(Expr::col(P::Confidence)), Alias::new("mean_conf"))
            .expr_as(
                Func::sum(Expr::case(Expr::col(P::Correct).is_null(), 0).finally(1)),
                Alias::new("labeled"),
            )
            .expr_as(
                Func::sum(Expr::case(Expr::col(P::Correct).eq(true), 1).finally(0)),
                Alias::new("correct"),
            )
            .group_by_col(P::Model)
            .order_by(P::Model, Order::Asc);
        let rows = txn.query_all(backend.build(&agg)).await?;

        let mut versions = Query::select();
        window(&mut versions);
        versions
            .distinct()
            .column(P::Model)
            .column(P::ModelVersion)
            .order_by(P::Model, Order::Asc)
            .order_by(P::ModelVersion, Order::Asc);
        let version_rows = txn.query_all(backend.build(&versions)).await?;
        let mut model_versions: Vec<(String, String)> = Vec::with_capacity(version_rows.len());
        for row in version_rows {
            model_versions.push((
                row.try_get("", P::Model.as_str())?,
                row.try_get("", P::ModelVersion.as_str())?,
            ));
        }

        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let model: String = row.try_get("", P::Model.as_str())?;
            let count = non_negative(row.try_get::<i64>("", "n")?);
            let labeled = non_negative(row.try_get::<i64>("", "labeled")?);
            let correct = non_negative(row.try_get::<i64>("", "correct")?);
            let mut percentiles = [0.0f64; 3];
            for (slot, p) in percentiles.iter_mut().zip([50u64, 95, 99]) {
                let rank = nearest_rank(p, count);
                let mut q = Query::select();
                window(&mut q);
                q.column(P::InferenceMs)
                    .and_where(Expr::col(P::Model).eq(model.as_str()))
                    .order_by(P::InferenceMs, Order::Asc)
                    .limit(1)
                    .offset(rank.saturating_sub(1));
                if let Some(row) = txn.query_one(backend.build(&q)).await? {
                    *slot = row.try_get("", P::InferenceMs.as_str())?;
                }
            }
            out.push(ModelStats {
                model_versions: model_versions
                    .iter()
                    .filter(|(m, _)| *m == model)
                    .map(|(_, v)| v.clone())
                    .collect(),
                model,
                count,
                latency_p50_ms: percentiles[0],
                latency_p95_ms: percentiles[1],
                latency_p99_ms: percentiles[2],
                mean_latency_ms: row.try_get::<Option<f64>>("", "mean_ms")?.unwrap_or(0.0),
                mean_confidence: row.try_get::<Option<f64>>("", "mean_conf")?.unwrap_or(0.0),
                labeled,
                correct,
                accuracy: (labeled > 0).then(|| correct as f64 / labeled as f64),
            });
        }
        txn.commit().await?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_values() {
        assert_eq!(nearest_rank(50, 1), 1);
        assert_eq!(nearest_rank(50, 10), 5);
        assert_eq!(nearest_rank(95, 20), 19);
        assert_eq!(nearest_rank(99, 20), 20);
        assert_eq!(nearest_rank(99, 0), 1);
    }
}
