//! Reading figures out of the rollups: a time range becomes the fewest bucket rows that make
//! it up ([`cover`]), plus raw predictions finer than the finest bucket; the rows are merged
//! here. Nothing reads a number of rows that grows with the number of predictions.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Condition, Expr, Query};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend,
    IsolationLevel, TransactionTrait,
};

use super::cover::{Cover, at, ceil_to, cover, floor_to};
use super::points::{self, CLOSED_AFTER};
use super::sketch::LatencySketch;
use super::write::{Fact, Labels, Sign, apply, facts_page, load_facts, lock};
use super::{CLASS_LEVELS, MODEL_COLUMNS, MODEL_LEVELS, ModelKey, Totals, read_model_row};

/// Predictions per page of a rebuild.
const REBUILD_PAGE: u64 = 20_000;
use crate::repository::non_negative;
use crate::{DateTimeUtc, Db, DbError, Result, now, predictions};

/// What the rollups tell of a set of predictions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Figures {
    /// Model versions among them.
    pub versions: BTreeSet<String>,
    pub count: u64,
    /// On labelled images.
    pub labeled: u64,
    pub correct: u64,
    pub sum_inference_ms: f64,
    pub sum_confidence: f64,
    pub latency: LatencySketch,
}

impl Figures {
    /// Adds the totals of one model version.
    fn add(&mut self, version: &str, t: &Totals) {
        self.versions.insert(version.to_owned());
        self.count += non_negative(t.count);
        self.labeled += non_negative(t.labeled);
        self.correct += non_negative(t.correct);
        self.sum_inference_ms += t.sum_ms;
        self.sum_confidence += t.sum_confidence;
        self.latency.merge(&t.sketch);
    }

    /// Adds one prediction read raw.
    fn add_fact(&mut self, f: &Fact) {
        let mut t = Totals::default();
        t.add_fact(f);
        self.add(&f.model_version, &t);
    }

    pub fn mean_inference_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_inference_ms / self.count as f64
        }
    }

    pub fn mean_confidence(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_confidence / self.count as f64
        }
    }

    /// `correct / labeled`, `None` when nothing is labelled.
    pub fn accuracy(&self) -> Option<f64> {
        (self.labeled > 0).then(|| self.correct as f64 / self.labeled as f64)
    }

    /// The nearest-rank `p`-th percentile of latency (`p` in 1..=100), within
    /// [`RELATIVE_ERROR`](super::sketch::RELATIVE_ERROR).
    pub fn latency_percentile(&self, p: u64) -> f64 {
        self.latency
            .value_at_rank(crate::nearest_rank(p, self.count))
    }
}

/// One model in one time-series bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPoint {
    pub model: String,
    pub start: DateTimeUtc,
    pub figures: Figures,
}

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// `SUM(col)` as a bigint on both backends (PostgreSQL sums bigints into a numeric).
pub(crate) fn sum_bigint(col: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(format!(r#"CAST(SUM("{col}") AS BIGINT)"#))
}

/// A transaction whose reads all see one snapshot (PostgreSQL: repeatable read, read only;
/// a SQLite transaction reads one snapshot anyway).
pub(crate) async fn read_txn(conn: &DatabaseConnection) -> Result<DatabaseTransaction> {
    Ok(match conn.get_database_backend() {
        DbBackend::Postgres => {
            conn.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => conn.begin().await?,
    })
}

fn ranges_cond(c: &Cover) -> Condition {
    c.ranges.iter().fold(Condition::any(), |cond, r| {
        cond.add(
            Condition::all()
                .add(Expr::col(t("level")).eq(r.level as i32))
                .add(Expr::col(t("bucket")).gte(r.from))
                .add(Expr::col(t("bucket")).lt(r.to)),
        )
    })
}

fn raw_cond(c: &Cover) -> Condition {
    use predictions::Column as P;
    c.raw.iter().fold(Condition::any(), |cond, (a, b)| {
        cond.add(
            Condition::all()
                .add(Expr::col((predictions::Entity, P::CreatedAt)).gte(*a))
                .add(Expr::col((predictions::Entity, P::CreatedAt)).lt(*b)),
        )
    })
}

/// The predictions of `c`'s raw ranges (of `model` when given), as facts; with their images'
/// labels when `labels` says so (class counts), without otherwise (model figures: no join).
async fn raw_facts<C: ConnectionTrait>(
    conn: &C,
    c: &Cover,
    model: Option<&str>,
    labels: Labels,
) -> Result<Vec<Fact>> {
    if c.raw.is_empty() {
        return Ok(Vec::new());
    }
    let mut cond = Condition::all().add(raw_cond(c));
    if let Some(model) = model {
        cond = cond.add(Expr::col((predictions::Entity, predictions::Column::Model)).eq(model));
    }
    load_facts(conn, cond, labels).await
}

/// The `stats_by_model` rows of `c`.
async fn model_rows<C: ConnectionTrait>(conn: &C, c: &Cover) -> Result<Vec<(ModelKey, Totals)>> {
    if c.ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::select();
    q.from(t("stats_by_model"))
        .columns(MODEL_COLUMNS.map(t))
        .cond_where(ranges_cond(c));
    let backend = conn.get_database_backend();
    let rows = conn.query_all(backend.build(&q)).await?;
    rows.iter().map(read_model_row).collect()
}

/// Whether a cover is read with one statement (rollup rows or raw rows, not both): one
/// statement sees one snapshot without a transaction, which on PostgreSQL spares two round
/// trips (`BEGIN`, `COMMIT`) per read.
fn one_statement(c: &Cover) -> bool {
    c.ranges.is_empty() || c.raw.is_empty()
}

/// (label, predicted class, count) summed over the `stats_by_class` rows of `c`, of `model`
/// (every model when `None`).
async fn class_rows<C: ConnectionTrait>(
    conn: &C,
    c: &Cover,
    model: Option<&str>,
) -> Result<Vec<(String, String, i64)>> {
    if c.ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Query::select();
    q.from(t("stats_by_class"))
        .columns(["label", "predicted_class"].map(t))
        .expr_as(sum_bigint("count"), t("n"))
        .cond_where(ranges_cond(c))
        .group_by_col(t("label"))
        .group_by_col(t("predicted_class"));
    if let Some(model) = model {
        q.and_where(Expr::col(t("model")).eq(model));
    }
    let backend = conn.get_database_backend();
    let mut out = Vec::new();
    for row in conn.query_all(backend.build(&q)).await? {
        out.push((
            row.try_get("", "label")?,
            row.try_get("", "predicted_class")?,
            row.try_get("", "n")?,
        ));
    }
    Ok(out)
}

impl Db {
    /// Figures per model of the (non-shadow) predictions made in `[since, until)` (open ends
    /// when `None`), sorted by model; models without predictions there are absent.
    pub async fn model_figures(
        &self,
        since: Option<DateTimeUtc>,
        until: Option<DateTimeUtc>,
    ) -> Result<Vec<(String, Figures)>> {
        let c = cover(since, until, &MODEL_LEVELS);
        let (rows, raw) = if one_statement(&c) {
            (
                model_rows(&self.conn, &c).await?,
                raw_facts(&self.conn, &c, None, Labels::Without).await?,
            )
        } else {
            // One snapshot: rollups and raw rows agree with each other.
            let txn = read_txn(&self.conn).await?;
            let rows = model_rows(&txn, &c).await?;
            let raw = raw_facts(&txn, &c, None, Labels::Without).await?;
            txn.commit().await?;
            (rows, raw)
        };
        let mut by_model: BTreeMap<String, Figures> = BTreeMap::new();
        for ((_, _, model, version), totals) in rows {
            by_model.entry(model).or_default().add(&version, &totals);
        }
        for f in &raw {
            by_model.entry(f.model.clone()).or_default().add_fact(f);
        }
        Ok(by_model.into_iter().filter(|(_, f)| f.count > 0).collect())
    }

    /// Figures per model and per `bucket_seconds`-long bucket (aligned on the Unix epoch) of
    /// the predictions made in `[since, until)`, sorted by model then time; empty buckets are
    /// left out. `bucket_seconds` must be a multiple of [`MODEL_LEVELS`]' finest (5 s): the
    /// rows read are those of the largest level that divides it. Points that ended
    /// [`CLOSED_AFTER`] ago are read once and then kept in memory (up to ~20 MB) until the
    /// rollups' generation changes: a dashboard that asks every second reads only its newest
    /// points.
    pub async fn series(
        &self,
        bucket_seconds: i64,
        since: DateTimeUtc,
        until: DateTimeUtc,
    ) -> Result<Vec<SeriesPoint>> {
        let levels: Vec<i64> = MODEL_LEVELS
            .into_iter()
            .filter(|l| bucket_seconds % l == 0)
            .collect();
        if levels.is_empty() {
            return Err(DbError::InvalidInput(format!(
                "a time series bucket must be a multiple of {} s",
                MODEL_LEVELS[0]
            )));
        }
        // The whole points that are over are kept in memory between reads (see `points`);
        // the rest is read: the partial point at the start, points not kept, the open end.
        let bucket = bucket_seconds;
        let first = ceil_to(since, bucket);
        let end = floor_to(until.min(now() - CLOSED_AFTER), bucket);
        let cacheable = first < end && (end - first) / bucket <= points::MOST_LOOKED_UP;
        let txn = read_txn(&self.conn).await?;
        let (generation, hits, misses, spans) = if cacheable {
            let generation = points::generation(&txn).await?;
            let lookup = self.points.lookup(generation, bucket, first, end);
            let mut spans = vec![(since, at(first)), (at(end), until)];
            spans.extend(lookup.misses.iter().map(|&(a, b)| (at(a), at(b))));
            (generation, lookup.hits, lookup.misses, spans)
        } else {
            (0, Vec::new(), Vec::new(), vec![(since, until)])
        };
        let mut c = Cover::default();
        for (a, b) in spans.into_iter().filter(|(a, b)| a < b) {
            let part = cover(Some(a), Some(b), &levels);
            c.ranges.extend(part.ranges);
            c.raw.extend(part.raw);
        }
        let rows = model_rows(&txn, &c).await?;
        let raw = raw_facts(&txn, &c, None, Labels::Without).await?;
        txn.commit().await?;
        let start = |s: i64| s.div_euclid(bucket) * bucket;
        let mut by_point: BTreeMap<(String, i64), Figures> = BTreeMap::new();
        for ((_, row_bucket, model, version), totals) in rows {
            by_point
                .entry((model, start(row_bucket)))
                .or_default()
                .add(&version, &totals);
        }
        for f in &raw {
            by_point
                .entry((f.model.clone(), start(f.created_at.timestamp())))
                .or_default()
                .add_fact(f);
        }
        if !misses.is_empty() {
            // Keep the closed points just read, the empty ones too.
            let mut fresh: BTreeMap<i64, Vec<(String, Figures)>> = misses
                .iter()
                .flat_map(|&(a, b)| (a..b).step_by(bucket as usize))
                .map(|s| (s, Vec::new()))
                .collect();
            for ((model, s), figures) in &by_point {
                if figures.count > 0
                    && let Some(point) = fresh.get_mut(s)
                {
                    point.push((model.clone(), figures.clone()));
                }
            }
            self.points.insert(
                generation,
                bucket,
                fresh.into_iter().map(|(s, p)| (s, Arc::new(p))).collect(),
            );
        }
        for (s, point) in hits {
            for (model, figures) in point.iter() {
                by_point.insert((model.clone(), s), figures.clone());
            }
        }
        Ok(by_point
            .into_iter()
            .filter(|(_, f)| f.count > 0)
            .map(|((model, s), figures)| SeriesPoint {
                model,
                start: at(s),
                figures,
            })
            .collect())
    }

    /// (label, predicted class, count) of the predictions of `model` (every model when
    /// `None`) made in `[since, until)`; the label is `None` for unlabelled images. Sorted.
    pub async fn class_counts(
        &self,
        model: Option<&str>,
        since: Option<DateTimeUtc>,
        until: Option<DateTimeUtc>,
    ) -> Result<Vec<(Option<String>, String, u64)>> {
        let c = cover(since, until, &CLASS_LEVELS);
        let (rows, raw) = if one_statement(&c) {
            (
                class_rows(&self.conn, &c, model).await?,
                raw_facts(&self.conn, &c, model, Labels::With).await?,
            )
        } else {
            let txn = read_txn(&self.conn).await?;
            let rows = class_rows(&txn, &c, model).await?;
            let raw = raw_facts(&txn, &c, model, Labels::With).await?;
            txn.commit().await?;
            (rows, raw)
        };
        let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (label, predicted, n) in rows {
            *counts.entry((label, predicted)).or_default() += non_negative(n);
        }
        for f in raw {
            *counts
                .entry((f.label.unwrap_or_default(), f.predicted_class))
                .or_default() += 1;
        }
        Ok(counts
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|((label, predicted), n)| ((!label.is_empty()).then_some(label), predicted, n))
            .collect())
    }

    /// Recomputes every rollup from the predictions stored (after rows were changed behind
    /// the repository's back, or to check them); returns how many predictions it counted.
    pub async fn rebuild_stats_rollups(&self) -> Result<u64> {
        let txn = self.conn.begin().await?;
        lock(&txn).await?;
        // Write first: on SQLite the transaction then holds the write lock throughout.
        for table in ["stats_by_model", "stats_by_class"] {
            let mut delete = Query::delete();
            delete.from_table(t(table));
            txn.execute(txn.get_database_backend().build(&delete))
                .await?;
        }
        // Page by page: a large table is not read into memory at once.
        let (mut counted, mut after) = (0u64, None);
        loop {
            let page = facts_page(&txn, after, REBUILD_PAGE).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            counted += page.len() as u64;
            let facts: Vec<Fact> = page.into_iter().map(|(_, f)| f).collect();
            apply(&txn, &facts, Sign::Add).await?;
        }
        let mut mark = Query::update();
        mark.table(t("stats_rollup_state"))
            .value(t("rebuilt_at"), now())
            .and_where(Expr::col(t("id")).eq(1));
        txn.execute(txn.get_database_backend().build(&mark)).await?;
        points::bump_generation(&txn).await?;
        txn.commit().await?;
        Ok(counted)
    }

    /// Builds the rollups from the predictions already stored, once: the first start after
    /// the migration that added them.
    pub(crate) async fn ensure_stats_rollups(&self) -> Result<()> {
        let mut q = Query::select();
        q.from(t("stats_rollup_state"))
            .column(t("id"))
            .and_where(Expr::col(t("id")).eq(1))
            .and_where(Expr::col(t("rebuilt_at")).is_null());
        let backend = self.conn.get_database_backend();
        if self.conn.query_one(backend.build(&q)).await?.is_some() {
            let n = self.rebuild_stats_rollups().await?;
            tracing::info!(
                predictions = n,
                "statistics rollups built from the stored predictions"
            );
        }
        Ok(())
    }
}
