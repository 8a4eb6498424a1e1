//! Statistics rollups: after predictions are recorded (at many times, some shadow), images
//! deleted and predictions purged, every statistic read from the rollups equals the same
//! statistic recomputed here from the raw rows, over ranges that cut buckets at every level;
//! and the rollups maintained step by step equal those rebuilt from scratch. Every case runs
//! on SQLite and on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, DurationRound, Utc};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use uuid::Uuid;
use vision_db::{Db, RELATIVE_ERROR, images, nearest_rank, predictions};

use common::*;

backend_tests!(
    rollups_equal_a_recomputation_from_the_rows,
    concurrent_writers_and_deleters_keep_rollups_exact,
    time_series_points_kept_in_memory_follow_every_change,
);

const MODELS: [&str; 3] = ["fast", "balanced", "accurate"];
const CLASSES: [&str; 4] = ["cat", "dog", "ship", "frog"];

/// A small deterministic generator (no extra dependency).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Records `images` images with a prediction per model (and a shadow one for `accurate`), at
/// `at`; some images labelled.
async fn record(db: &Db, rng: &mut Lcg, at: DateTime<Utc>, images: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut batch = Vec::new();
    for _ in 0..images {
        let label = (rng.next(3) > 0).then(|| CLASSES[rng.next(4) as usize]);
        let image = db.insert_image(new_image("upload", label)).await.unwrap();
        ids.push(image.id);
        for (m, model) in MODELS.iter().enumerate() {
            let class = CLASSES[rng.next(4) as usize];
            let version = if rng.next(4) == 0 { "v2" } else { "v1" };
            let mut p = new_prediction(image.id, model, version, class);
            p.inference_ms = (rng.next(10_000) as f64 / 100.0 + 0.01) * (m + 1) as f64;
            p.confidence = rng.next(100) as f64 / 100.0;
            p.correct = label.map(|l| l == class);
            batch.push(p.clone());
            if *model == "accurate" {
                p.model_version = "candidate".into();
                p.shadow = true;
                p.inference_ms = 999.0;
                batch.push(p);
            }
        }
    }
    db.record_predictions_at(batch, at).await.unwrap();
    ids
}

/// What the rows say: every non-shadow prediction with its image's label.
struct Row {
    model: String,
    version: String,
    label: Option<String>,
    predicted: String,
    correct: Option<bool>,
    ms: f64,
    confidence: f64,
    at: DateTime<Utc>,
}

async fn rows(db: &Db) -> Vec<Row> {
    let labels: BTreeMap<Uuid, Option<String>> = images::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.label))
        .collect();
    predictions::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .into_iter()
        .filter(|p| !p.shadow)
        .map(|p| Row {
            label: labels[&p.image_id].clone(),
            model: p.model,
            version: p.model_version,
            predicted: p.predicted_class,
            correct: p.correct,
            ms: p.inference_ms,
            confidence: p.confidence,
            at: p.created_at,
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Checks one group of rows against figures read from the rollups.
fn check_figures(what: &str, sel: &[&Row], f: &vision_db::Figures) {
    let n = sel.len() as u64;
    assert_eq!(f.count, n, "{what}: count");
    let labeled = sel.iter().filter(|r| r.correct.is_some()).count() as u64;
    let correct = sel.iter().filter(|r| r.correct == Some(true)).count() as u64;
    assert_eq!(
        (f.labeled, f.correct),
        (labeled, correct),
        "{what}: accuracy"
    );
    let mut versions: Vec<String> = sel.iter().map(|r| r.version.clone()).collect();
    versions.sort();
    versions.dedup();
    assert_eq!(
        f.versions.iter().cloned().collect::<Vec<_>>(),
        versions,
        "{what}"
    );
    assert!(
        close(f.sum_inference_ms, sel.iter().map(|r| r.ms).sum()),
        "{what}: sum ms"
    );
    assert!(
        close(f.sum_confidence, sel.iter().map(|r| r.confidence).sum()),
        "{what}"
    );
    let mut ms: Vec<f64> = sel.iter().map(|r| r.ms).collect();
    ms.sort_by(f64::total_cmp);
    for p in [1, 50, 90, 95, 99, 100] {
        let exact = ms[(nearest_rank(p, n) - 1) as usize];
        let got = f.latency_percentile(p);
        assert!(
            (got - exact).abs() <= exact * RELATIVE_ERROR + 1e-12,
            "{what}: p{p} {got} vs {exact}"
        );
    }
}

/// `[since, until)`, open ends when `None`.
type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

async fn check_against_rows(db: &Db, ranges: &[Range]) {
    let all = rows(db).await;
    assert!(!all.is_empty());
    for &(since, until) in ranges {
        let inside = |r: &&Row| since.is_none_or(|s| r.at >= s) && until.is_none_or(|u| r.at < u);
        let what = format!("{since:?}..{until:?}");

        // Per model.
        let figures = db.model_figures(since, until).await.unwrap();
        let mut expected_models: Vec<&str> = MODELS
            .into_iter()
            .filter(|m| all.iter().filter(inside).any(|r| r.model == *m))
            .collect();
        expected_models.sort();
        let got_models: Vec<&str> = figures.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(got_models, expected_models, "{what}");
        for (model, f) in &figures {
            let sel: Vec<&Row> = all
                .iter()
                .filter(inside)
                .filter(|r| r.model == *model)
                .collect();
            check_figures(&format!("{what} {model}"), &sel, f);
        }

        // Per class, one model and all together.
        for model in [None, Some("balanced")] {
            let mut expected: BTreeMap<(Option<String>, String), u64> = BTreeMap::new();
            for r in all
                .iter()
                .filter(inside)
                .filter(|r| model.is_none_or(|m| r.model == m))
            {
                *expected
                    .entry((r.label.clone(), r.predicted.clone()))
                    .or_default() += 1;
            }
            let got: BTreeMap<(Option<String>, String), u64> = db
                .class_counts(model, since, until)
                .await
                .unwrap()
                .into_iter()
                .map(|(l, p, n)| ((l, p), n))
                .collect();
            assert_eq!(got, expected, "{what} {model:?}");
        }

        // Time series, at sizes served by each level.
        if let (Some(since), Some(until)) = (since, until) {
            for bucket in [5i64, 10, 60, 300, 3_600, 86_400] {
                let points = db.series(bucket, since, until).await.unwrap();
                let mut expected: BTreeMap<(String, i64), Vec<&Row>> = BTreeMap::new();
                for r in all.iter().filter(inside) {
                    let start = r.at.timestamp().div_euclid(bucket) * bucket;
                    expected
                        .entry((r.model.clone(), start))
                        .or_default()
                        .push(r);
                }
                assert_eq!(points.len(), expected.len(), "{what} /{bucket}");
                for (p, ((model, start), sel)) in points.iter().zip(&expected) {
                    assert_eq!((&p.model, p.start.timestamp()), (model, *start));
                    check_figures(
                        &format!("{what} /{bucket} {model} {start}"),
                        sel,
                        &p.figures,
                    );
                }
            }
        }
    }
}

/// Both rollup tables, sorted, as text (sums rounded: added in another order they may differ
/// in the last bits).
async fn dump(db: &Db) -> Vec<String> {
    let backend = db.conn().get_database_backend();
    let mut out = Vec::new();
    for sql in [
        "SELECT level, bucket, model, model_version, count, labeled, correct, sum_inference_ms, \
         sum_confidence, sketch FROM stats_by_model ORDER BY level, bucket, model, model_version",
        "SELECT level, bucket, model, model_version, label, predicted_class, count \
         FROM stats_by_class ORDER BY level, bucket, model, model_version, label, predicted_class",
    ] {
        for row in db
            .conn()
            .query_all(Statement::from_string(backend, sql))
            .await
            .unwrap()
        {
            let level: i32 = row.try_get("", "level").unwrap();
            let bucket: i64 = row.try_get("", "bucket").unwrap();
            let model: String = row.try_get("", "model").unwrap();
            let version: String = row.try_get("", "model_version").unwrap();
            let count: i64 = row.try_get("", "count").unwrap();
            let rest = match row.try_get::<Vec<u8>>("", "sketch") {
                Ok(sketch) => format!(
                    "{} {} {:.6} {:.6} {sketch:?}",
                    row.try_get::<i64>("", "labeled").unwrap(),
                    row.try_get::<i64>("", "correct").unwrap(),
                    row.try_get::<f64>("", "sum_inference_ms").unwrap(),
                    row.try_get::<f64>("", "sum_confidence").unwrap(),
                ),
                Err(_) => format!(
                    "{} {}",
                    row.try_get::<String>("", "label").unwrap(),
                    row.try_get::<String>("", "predicted_class").unwrap()
                ),
            };
            out.push(format!("{level} {bucket} {model} {version} {count} {rest}"));
        }
    }
    out
}

async fn rollups_equal_a_recomputation_from_the_rows(db: Db) {
    let mut rng = Lcg(42);
    let day0 = (Utc::now() - Duration::days(10))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let mut recorded = Vec::new();
    // 120 moments over 4 days, at millisecond precision: buckets of every level are cut.
    for _ in 0..120 {
        let at = day0 + Duration::milliseconds(rng.next(4 * 86_400_000) as i64);
        let n = 1 + rng.next(4) as usize;
        recorded.extend(record(&db, &mut rng, at, n).await);
    }
    // A burst inside one 5-second bucket and one right at a day's boundary.
    for ms in [
        86_400_000i64 * 2,
        86_400_000 * 2 + 1_250,
        86_400_000 * 2 + 4_999,
    ] {
        recorded.extend(record(&db, &mut rng, day0 + Duration::milliseconds(ms), 3).await);
    }
    // Deletions: images one by one, in a batch, and predictions purged before a moment.
    for id in &recorded[..5] {
        assert!(db.delete_image(*id).await.unwrap());
    }
    assert_eq!(db.delete_images(&recorded[5..15]).await.unwrap(), 10);
    let cut = day0 + Duration::hours(20) + Duration::milliseconds(123);
    let purged = db.purge_predictions_batch(cut, 10_000).await.unwrap();
    assert!(purged > 0);

    let at = |ms: i64| Some(day0 + Duration::milliseconds(ms));
    let ranges = [
        (None, None),
        (
            at(3 * 86_400_000 + 7 * 3_600_000 + 13 * 60_000 + 27_250),
            None,
        ),
        (None, at(2 * 86_400_000 + 2_000)),
        (at(17_000), at(3 * 86_400_000 + 59_999)),
        (at(86_400_000 + 3_599_999), at(2 * 86_400_000 + 3_600_001)),
        (at(2 * 86_400_000), at(2 * 86_400_000 + 5_000)),
        (at(2 * 86_400_000 + 1_000), at(2 * 86_400_000 + 1_300)),
        (at(-86_400_000), at(5 * 86_400_000)),
    ];
    check_against_rows(&db, &ranges).await;

    // Step by step equals from scratch.
    let maintained = dump(&db).await;
    assert!(maintained.len() > 100);
    let counted = db.rebuild_stats_rollups().await.unwrap();
    assert_eq!(counted as usize, rows(&db).await.len());
    assert_eq!(dump(&db).await, maintained);

    // Everything deleted: nothing left in the rollups.
    let ids: Vec<Uuid> = images::Entity::find()
        .all(db.conn())
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    db.delete_images(&ids).await.unwrap();
    assert_eq!(dump(&db).await, Vec::<String>::new());
    assert!(db.model_stats(None).await.unwrap().is_empty());
}

/// A second process (another `Db` handle: its own memory) reads time series over closed and
/// open time while the first changes closed points in every way there is: each read equals
/// the rows. Rollup rows changed behind the repository's back (no generation bump) are not
/// seen, which shows the closed points are served from memory.
async fn time_series_points_kept_in_memory_follow_every_change(db: Db) {
    let mut rng = Lcg(7);
    let now = Utc::now();
    let t0 = (now - Duration::hours(3))
        .duration_trunc(Duration::minutes(1))
        .unwrap();
    let mut old = Vec::new();
    for _ in 0..40 {
        let at = t0 + Duration::milliseconds(rng.next(2 * 3_600_000) as i64);
        old.extend(record(&db, &mut rng, at, 2).await);
    }
    // Open points: recorded just now.
    record(&db, &mut rng, Utc::now(), 3).await;
    let reader = Db::from_connection(db.conn().clone());
    let until = Some(Utc::now() + Duration::minutes(1));
    let ranges = [
        (Some(t0 - Duration::hours(1)), until),
        (Some(t0 + Duration::milliseconds(17_250)), until),
    ];
    check_against_rows(&reader, &ranges).await;
    // Again, from memory.
    check_against_rows(&reader, &ranges).await;

    // Closed points changed without telling anyone: the reader still serves what it read.
    let backend = db.conn().get_database_backend();
    let (since, until_) = (t0 - Duration::hours(1), Utc::now());
    let before = reader.series(60, since, until_).await.unwrap();
    db.conn()
        .execute(Statement::from_string(
            backend,
            format!(
                "UPDATE stats_by_model SET count = count + 1000 WHERE bucket < {}",
                (Utc::now() - Duration::minutes(10)).timestamp()
            ),
        ))
        .await
        .unwrap();
    let fresh = Db::from_connection(db.conn().clone());
    assert_ne!(
        fresh.series(60, since, until_).await.unwrap(),
        before,
        "the rows changed"
    );
    assert_eq!(reader.series(60, since, until_).await.unwrap(), before);
    db.rebuild_stats_rollups().await.unwrap();
    check_against_rows(&reader, &ranges).await;

    // Every change the repository makes to closed points is seen at the next read.
    assert!(db.delete_image(old[0]).await.unwrap());
    check_against_rows(&reader, &ranges).await;
    assert_eq!(db.delete_images(&old[1..4]).await.unwrap(), 3);
    check_against_rows(&reader, &ranges).await;
    record(&db, &mut rng, t0 + Duration::minutes(30), 2).await;
    check_against_rows(&reader, &ranges).await;
    let purged = db
        .purge_predictions_batch(t0 + Duration::hours(1), 10_000)
        .await
        .unwrap();
    assert!(purged > 0);
    check_against_rows(&reader, &ranges).await;
}

async fn concurrent_writers_and_deleters_keep_rollups_exact(db: Db) {
    let now = Utc::now();
    let mut tasks = Vec::new();
    for w in 0..6u64 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Lcg(w);
            let mut mine = Vec::new();
            for i in 0..25 {
                let at = now - Duration::milliseconds(rng.next(600_000) as i64);
                mine.extend(record(&db, &mut rng, at, 2).await);
                if i % 5 == 4 {
                    // Delete one of this writer's images while the others write.
                    let id = mine.remove(0);
                    db.delete_image(id).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    check_against_rows(
        &db,
        &[(None, None), (Some(now - Duration::seconds(300)), None)],
    )
    .await;
    let maintained = dump(&db).await;
    db.rebuild_stats_rollups().await.unwrap();
    assert_eq!(dump(&db).await, maintained);
}
