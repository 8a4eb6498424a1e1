//! Checking the rollups against the rows (the data-quality job): totals per model version, and
//! per model version, label and predicted class, must be the same counted either way.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, Func, Query, SelectStatement};

use super::read::{read_txn, sum_bigint};
use crate::repository::non_negative;
use crate::{Db, Result, images, predictions};

/// Where the rollups and the rows disagree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupDrift {
    /// Groups that differ.
    pub count: u64,
    /// The first few, as "what: rollups N, rows M".
    pub examples: Vec<String>,
}

fn t(name: &str) -> Alias {
    Alias::new(name)
}

fn sum(row: &sea_orm::QueryResult, col: &str) -> Result<u64> {
    Ok(non_negative(
        row.try_get::<Option<i64>>("", col)?.unwrap_or(0),
    ))
}

async fn counts<C: ConnectionTrait>(
    conn: &C,
    q: &SelectStatement,
    keys: &[&str],
    values: &[&str],
) -> Result<BTreeMap<Vec<String>, Vec<u64>>> {
    let mut out = BTreeMap::new();
    for row in conn.query_all(conn.get_database_backend().build(q)).await? {
        let key = keys
            .iter()
            .map(|k| {
                row.try_get::<Option<String>>("", k)
                    .map(Option::unwrap_or_default)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let vals = values
            .iter()
            .map(|v| sum(&row, v))
            .collect::<Result<Vec<_>>>()?;
        out.insert(key, vals);
    }
    Ok(out)
}

impl Db {
    /// Compares the rollups with a count over the rows, in one snapshot; reports at most
    /// `limit` examples. Reads every prediction: for the daily data-quality job, not for
    /// queries.
    pub async fn rollup_drift(&self, limit: usize) -> Result<RollupDrift> {
        use images::Column as I;
        use predictions::Column as P;
        let (p, i) = (predictions::Entity, images::Entity);
        let day = super::MODEL_LEVELS[super::MODEL_LEVELS.len() - 1] as i32;
        let txn = read_txn(&self.conn).await?;

        let mut rows_by_model = Query::select();
        rows_by_model
            .from(p)
            .columns([P::Model, P::ModelVersion])
            .expr_as(Func::count(Expr::col(P::Id)), t("n"))
            .expr_as(
                Func::sum(Expr::case(Expr::col(P::Correct).is_null(), 0).finally(1)),
                t("labeled"),
            )
            .expr_as(
                Func::sum(Expr::case(Expr::col(P::Correct).eq(true), 1).finally(0)),
                t("correct"),
            )
            .and_where(Expr::col(P::Shadow).eq(false))
            .group_by_col(P::Model)
            .group_by_col(P::ModelVersion);
        let mut rollups_by_model = Query::select();
        rollups_by_model
            .from(t("stats_by_model"))
            .columns(["model", "model_version"].map(t))
            .expr_as(sum_bigint("count"), t("n"))
            .expr_as(sum_bigint("labeled"), t("labeled"))
            .expr_as(sum_bigint("correct"), t("correct"))
            .and_where(Expr::col(t("level")).eq(day))
            .group_by_col(t("model"))
            .group_by_col(t("model_version"));
        let keys = ["model", "model_version"];
        let values = ["n", "labeled", "correct"];
        let by_model = [
            counts(&txn, &rows_by_model, &keys, &values).await?,
            counts(&txn, &rollups_by_model, &keys, &values).await?,
        ];

        let mut rows_by_class = Query::select();
        rows_by_class
            .from(p)
            .inner_join(i, Expr::col((i, I::Id)).equals((p, P::ImageId)))
            .columns([(p, P::Model), (p, P::ModelVersion), (p, P::PredictedClass)])
            .column((i, I::Label))
            .expr_as(Func::count(Expr::col((p, P::Id))), t("n"))
            .and_where(Expr::col((p, P::Shadow)).eq(false))
            .group_by_col((p, P::Model))
            .group_by_col((p, P::ModelVersion))
            .group_by_col((i, I::Label))
            .group_by_col((p, P::PredictedClass));
        let mut rollups_by_class = Query::select();
        rollups_by_class
            .from(t("stats_by_class"))
            .columns(["model", "model_version", "label", "predicted_class"].map(t))
            .expr_as(sum_bigint("count"), t("n"))
            .and_where(Expr::col(t("level")).eq(day))
            .group_by_col(t("model"))
            .group_by_col(t("model_version"))
            .group_by_col(t("label"))
            .group_by_col(t("predicted_class"));
        let keys = ["model", "model_version", "label", "predicted_class"];
        let by_class = [
            counts(&txn, &rows_by_class, &keys, &["n"]).await?,
            counts(&txn, &rollups_by_class, &keys, &["n"]).await?,
        ];
        txn.commit().await?;

        let mut drift = RollupDrift::default();
        for [rows, rollups] in [by_model, by_class] {
            let mut groups: Vec<&Vec<String>> = rows.keys().chain(rollups.keys()).collect();
            groups.sort();
            groups.dedup();
            for g in groups {
                let (a, b) = (rollups.get(g), rows.get(g));
                if a != b {
                    drift.count += 1;
                    if drift.examples.len() < limit {
                        drift.examples.push(format!(
                            "{}: rollups {:?}, rows {:?}",
                            g.join(" / "),
                            a.cloned().unwrap_or_default(),
                            b.cloned().unwrap_or_default()
                        ));
                    }
                }
            }
        }
        Ok(drift)
    }
}
