//! Adding predictions to the rollups and taking them out, in the caller's transaction.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Condition, Expr, OnConflict, Order, Query, SelectStatement};
use sea_orm::{ConnectionTrait, DbBackend, Value};
use uuid::Uuid;

use super::cover::floor_to;
use super::{
    CLASS_LEVELS, MODEL_COLUMNS, MODEL_LEVELS, ModelKey, ROLLUP_LOCK_KEY, Totals, points,
    read_model_row,
};
use crate::{DateTimeUtc, Result, images, predictions};

/// What the rollups keep of one prediction.
#[derive(Clone, Debug)]
pub(crate) struct Fact {
    pub model: String,
    pub model_version: String,
    /// The image's label.
    pub label: Option<String>,
    pub predicted_class: String,
    pub correct: Option<bool>,
    pub inference_ms: f64,
    pub confidence: f64,
    pub created_at: DateTimeUtc,
}

/// Whether predictions are being added or taken out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sign {
    Add,
    Remove,
}

impl Fact {
    /// The fact of a stored prediction of an image labelled `label`.
    pub(crate) fn of(p: &predictions::Model, label: Option<String>) -> Self {
        Self {
            model: p.model.clone(),
            model_version: p.model_version.clone(),
            label,
            predicted_class: p.predicted_class.clone(),
            correct: p.correct,
            inference_ms: p.inference_ms,
            confidence: p.confidence,
            created_at: p.created_at,
        }
    }
}

/// Whether facts are read with their image's label (what class counts need) or without it
/// (what model figures need: no join, so reading many is cheaper).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Labels {
    With,
    Without,
}

/// The stored, non-shadow predictions matching `cond`, with their image's label (or `None`
/// for every one, `Labels::Without`), as facts (and the prediction's id).
fn facts_query(cond: Condition, labels: Labels) -> SelectStatement {
    use images::Column as I;
    use predictions::Column as P;
    let (p, i) = (predictions::Entity, images::Entity);
    let mut q = Query::select();
    q.from(p);
    match labels {
        Labels::With => {
            q.inner_join(i, Expr::col((i, I::Id)).equals((p, P::ImageId)))
                .column((i, I::Label));
        }
        Labels::Without => {
            q.expr_as(Expr::cust("CAST(NULL AS TEXT)"), Alias::new("label"));
        }
    }
    q.columns([
        (p, P::Id),
        (p, P::Model),
        (p, P::ModelVersion),
        (p, P::PredictedClass),
        (p, P::Correct),
        (p, P::InferenceMs),
        (p, P::Confidence),
        (p, P::CreatedAt),
    ])
    .and_where(Expr::col((p, P::Shadow)).eq(false))
    .cond_where(cond);
    q
}

async fn run_facts<C: ConnectionTrait>(conn: &C, q: &SelectStatement) -> Result<Vec<(Uuid, Fact)>> {
    let rows = conn.query_all(conn.get_database_backend().build(q)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push((
            row.try_get("", "id")?,
            Fact {
                model: row.try_get("", "model")?,
                model_version: row.try_get("", "model_version")?,
                label: row.try_get("", "label")?,
                predicted_class: row.try_get("", "predicted_class")?,
                correct: row.try_get("", "correct")?,
                inference_ms: row.try_get("", "inference_ms")?,
                confidence: row.try_get("", "confidence")?,
                created_at: row.try_get("", "created_at")?,
            },
        ));
    }
    Ok(out)
}

/// The facts of the stored, non-shadow predictions matching `cond` (on `predictions`).
pub(crate) async fn load_facts<C: ConnectionTrait>(
    conn: &C,
    cond: Condition,
    labels: Labels,
) -> Result<Vec<Fact>> {
    let facts = run_facts(conn, &facts_query(cond, labels)).await?;
    Ok(facts.into_iter().map(|(_, f)| f).collect())
}

/// At most `limit` facts of stored, non-shadow predictions, by id, after `after`: a
/// rebuild reads them page by page.
pub(crate) async fn facts_page<C: ConnectionTrait>(
    conn: &C,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<(Uuid, Fact)>> {
    let id = (predictions::Entity, predictions::Column::Id);
    let mut q = facts_query(
        match after {
            Some(after) => Condition::all().add(Expr::col(id).gt(after)),
            None => Condition::all(),
        },
        Labels::With,
    );
    q.order_by(id, Order::Asc).limit(limit);
    run_facts(conn, &q).await
}

/// Takes the rollups' lock until `txn` ends (PostgreSQL; SQLite has one writer). Taking it
/// again in the same transaction is free.
pub(crate) async fn lock<C: ConnectionTrait>(txn: &C) -> Result<()> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({ROLLUP_LOCK_KEY})"))
            .await?;
    }
    Ok(())
}

/// Takes the predictions matching `cond` out of the rollups, in the transaction that is about
/// to delete them (call it before the delete).
pub(crate) async fn remove_matching<C: ConnectionTrait>(txn: &C, cond: Condition) -> Result<()> {
    // The lock before the state row, in this order everywhere (PostgreSQL), then a write
    // before reading: on SQLite the transaction then holds the write lock, and nothing can
    // change the rows between this read and the delete. The write is the one that tells
    // readers that closed time-series points change.
    lock(txn).await?;
    points::bump_generation(txn).await?;
    let facts = load_facts(txn, cond, Labels::With).await?;
    apply(txn, &facts, Sign::Remove).await
}

type ClassKey = (i64, i64, String, String, String, String);

fn t(name: &str) -> Alias {
    Alias::new(name)
}

/// Adds `facts` to the rollups, or takes them out, inside `txn`, which must be a transaction
/// that has already written (on SQLite, so that it holds the write lock).
pub(crate) async fn apply<C: ConnectionTrait>(txn: &C, facts: &[Fact], sign: Sign) -> Result<()> {
    if facts.is_empty() {
        return Ok(());
    }
    lock(txn).await?;
    let now = crate::now();
    if sign == Sign::Add
        && facts
            .iter()
            .any(|f| points::may_be_closed(f.created_at, now))
    {
        points::bump_generation(txn).await?;
    }
    let mut models: BTreeMap<ModelKey, Totals> = BTreeMap::new();
    let mut classes: BTreeMap<ClassKey, i64> = BTreeMap::new();
    for f in facts {
        for level in MODEL_LEVELS {
            let d = models
                .entry((
                    level,
                    floor_to(f.created_at, level),
                    f.model.clone(),
                    f.model_version.clone(),
                ))
                .or_default();
            d.add_fact(f);
        }
        for level in CLASS_LEVELS {
            *classes
                .entry((
                    level,
                    floor_to(f.created_at, level),
                    f.model.clone(),
                    f.model_version.clone(),
                    f.label.clone().unwrap_or_default(),
                    f.predicted_class.clone(),
                ))
                .or_default() += 1;
        }
    }
    apply_models(txn, models, sign).await?;
    apply_classes(txn, classes, sign).await
}

fn model_key_cond(k: &ModelKey) -> Condition {
    Condition::all()
        .add(Expr::col(t("level")).eq(k.0))
        .add(Expr::col(t("bucket")).eq(k.1))
        .add(Expr::col(t("model")).eq(k.2.as_str()))
        .add(Expr::col(t("model_version")).eq(k.3.as_str()))
}

/// Rows per statement: a few bound values each, well under SQLite's limit.
const CHUNK: usize = 200;

async fn apply_models<C: ConnectionTrait>(
    txn: &C,
    deltas: BTreeMap<ModelKey, Totals>,
    sign: Sign,
) -> Result<()> {
    let backend = txn.get_database_backend();
    let deltas: Vec<(ModelKey, Totals)> = deltas.into_iter().collect();
    for chunk in deltas.chunks(CHUNK) {
        // Read what is there, add or subtract in Rust (sketches do not add up in SQL), write.
        let mut q = Query::select();
        q.from(t("stats_by_model"))
            .columns(MODEL_COLUMNS.map(t))
            .cond_where(
                chunk
                    .iter()
                    .fold(Condition::any(), |c, (k, _)| c.add(model_key_cond(k))),
            );
        let mut stored: BTreeMap<ModelKey, Totals> = BTreeMap::new();
        for row in txn.query_all(backend.build(&q)).await? {
            let (key, totals) = read_model_row(&row)?;
            stored.insert(key, totals);
        }
        let mut upserts = Vec::new();
        let mut emptied = Vec::new();
        for (key, d) in chunk {
            let mut row = stored.remove(key).unwrap_or_default();
            match sign {
                Sign::Add => row.merge(d),
                Sign::Remove => row.subtract(d),
            }
            if row.count == 0 {
                emptied.push(key);
            } else {
                upserts.push((key, row));
            }
        }
        if !upserts.is_empty() {
            let mut insert = Query::insert();
            insert
                .into_table(t("stats_by_model"))
                .columns(MODEL_COLUMNS.map(t));
            for (k, r) in upserts {
                insert.values_panic([
                    Value::from(k.0 as i32).into(),
                    k.1.into(),
                    k.2.as_str().into(),
                    k.3.as_str().into(),
                    r.count.into(),
                    r.labeled.into(),
                    r.correct.into(),
                    r.sum_ms.into(),
                    r.sum_confidence.into(),
                    r.sketch.encode().into(),
                ]);
            }
            insert.on_conflict(
                OnConflict::columns(["level", "bucket", "model", "model_version"].map(t))
                    .update_columns(MODEL_COLUMNS[4..].iter().copied().map(t))
                    .to_owned(),
            );
            txn.execute(backend.build(&insert)).await?;
        }
        if !emptied.is_empty() {
            let mut delete = Query::delete();
            delete.from_table(t("stats_by_model")).cond_where(
                emptied
                    .into_iter()
                    .fold(Condition::any(), |c, k| c.add(model_key_cond(k))),
            );
            txn.execute(backend.build(&delete)).await?;
        }
    }
    Ok(())
}

fn class_key_cond(k: &ClassKey) -> Condition {
    Condition::all()
        .add(Expr::col(t("level")).eq(k.0))
        .add(Expr::col(t("bucket")).eq(k.1))
        .add(Expr::col(t("model")).eq(k.2.as_str()))
        .add(Expr::col(t("model_version")).eq(k.3.as_str()))
        .add(Expr::col(t("label")).eq(k.4.as_str()))
        .add(Expr::col(t("predicted_class")).eq(k.5.as_str()))
}

async fn apply_classes<C: ConnectionTrait>(
    txn: &C,
    deltas: BTreeMap<ClassKey, i64>,
    sign: Sign,
) -> Result<()> {
    let backend = txn.get_database_backend();
    let deltas: Vec<(ClassKey, i64)> = deltas.into_iter().collect();
    for chunk in deltas.chunks(CHUNK) {
        // Counts add up in SQL: one upsert adds (or takes out) every delta.
        let mut insert = Query::insert();
        insert.into_table(t("stats_by_class")).columns(
            [
                "level",
                "bucket",
                "model",
                "model_version",
                "label",
                "predicted_class",
                "count",
            ]
            .map(t),
        );
        for (k, n) in chunk {
            let n = if sign == Sign::Add { *n } else { -*n };
            insert.values_panic([
                Value::from(k.0 as i32).into(),
                k.1.into(),
                k.2.as_str().into(),
                k.3.as_str().into(),
                k.4.as_str().into(),
                k.5.as_str().into(),
                n.into(),
            ]);
        }
        insert.on_conflict(
            OnConflict::columns(
                [
                    "level",
                    "bucket",
                    "model",
                    "model_version",
                    "label",
                    "predicted_class",
                ]
                .map(t),
            )
            .value(
                t("count"),
                Expr::cust(r#""stats_by_class"."count" + "excluded"."count""#),
            )
            .to_owned(),
        );
        txn.execute(backend.build(&insert)).await?;
        if sign == Sign::Remove {
            let mut delete = Query::delete();
            delete.from_table(t("stats_by_class")).cond_where(
                Condition::all().add(Expr::col(t("count")).lte(0)).add(
                    chunk
                        .iter()
                        .fold(Condition::any(), |c, (k, _)| c.add(class_key_cond(k))),
                ),
            );
            txn.execute(backend.build(&delete)).await?;
        }
    }
    Ok(())
}
