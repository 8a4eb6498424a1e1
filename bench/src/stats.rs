//! `--stats 10000,1000000,10000000`: how long every statistics query takes as predictions
//! pile up, on SQLite and on PostgreSQL side by side, in one run.
//!
//! For each database: a fresh one, migrated; predictions recorded through the repository
//! (`Db::record_predictions_at`, so the rollups are maintained as in production), three heads
//! per image, 500 images at a time (three batches at once on PostgreSQL): the newest (up to
//! 1,000 batches) one batch per 5 s up to now, so every finest rollup bucket of the last 83
//! minutes is full, the others spread over the 30 days before, until each size is reached; at
//! each size, every query the dashboard and `statsUpdated` make is timed `--stats-repeats`
//! times (the first read apart: time series keep their closed points in memory after it; p50,
//! p99). For scale, a plain `GROUP BY` over the raw rows (what statistics cost before rollups)
//! is timed once beside them.

use std::time::Instant;

use anyhow::Context;
use chrono::{Duration, Utc};
use futures::{StreamExt, TryStreamExt};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;
use vision_db::entities::images::{self, ImageStatus};
use vision_db::{Db, NewPrediction, TopK};
use vision_inference::dataset::CIFAR10_CLASSES;
use vision_testkit::postgres::fresh_database_on;

use crate::Args;

const HEADS: [(&str, f64); 3] = [("fast", 0.8), ("balanced", 1.6), ("accurate", 3.2)];
const CLASSES: [&str; 10] = CIFAR10_CLASSES;
/// Images per recorded batch (three predictions each; 12 bound values per prediction stay
/// under SQLite's limit of 32,766).
const BATCH: usize = 500;
/// Batches seeded one per 5 s at the end of each size (1,000: the last 83 minutes).
const DENSE_BATCHES: u64 = 1_000;
/// How far back the seeded predictions go.
const SPREAD_DAYS: i64 = 30;

pub async fn run(args: &Args, sizes: &[u64]) -> anyhow::Result<()> {
    anyhow::ensure!(!sizes.is_empty(), "--stats needs at least one size");
    let dir = tempfile::tempdir()?;
    let mut results = Vec::new();
    for backend in &args.stats_backends {
        let backend = backend.as_str();
        anyhow::ensure!(
            matches!(backend, "sqlite" | "postgres"),
            "--stats-backends: sqlite or postgres, not {backend}"
        );
        let url = match backend {
            "sqlite" => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("stats.db").display()
            ),
            _ => fresh_database_on(&args.postgres, "vision_bench_stats").await,
        };
        let db = Db::connect(&url)
            .await
            .with_context(|| format!("connecting to {backend}"))?;
        let mut seeded = 0u64;
        for &size in sizes {
            let started = Instant::now();
            let batches = (size.saturating_sub(seeded)).div_ceil(3 * BATCH as u64);
            // The newest batches one per 5 s (every finest bucket of the last 83 minutes
            // full, the time series' worst case); the others spread over 30 days.
            let dense = (batches / 2).min(DENSE_BATCHES);
            let now = Utc::now();
            let mut plan = Vec::new();
            for k in 0..batches {
                let at = if k + dense >= batches {
                    now - Duration::seconds(5 * (batches - k) as i64)
                } else {
                    let sparse = Duration::days(SPREAD_DAYS) - Duration::seconds(5 * dense as i64);
                    now - Duration::days(SPREAD_DAYS)
                        + Duration::milliseconds(
                            (sparse.num_milliseconds() as f64 * k as f64 / (batches - dense) as f64)
                                as i64,
                        )
                };
                let images = ((size - seeded).div_ceil(3) as usize).min(BATCH);
                plan.push((seeded, at, images));
                seeded += 3 * images as u64;
            }
            // PostgreSQL records several batches at once (the rollups' lock orders their
            // updates); SQLite has one writer.
            let parallel = if backend == "postgres" { 3 } else { 1 };
            futures::stream::iter(plan)
                .map(|(first, at, images)| {
                    let db = &db;
                    async move {
                        let mut rng = 7 ^ first.wrapping_mul(0x9e37_79b9_7f4a_7c15);
                        seed_batch(db, &mut rng, images, at).await
                    }
                })
                .buffer_unordered(parallel)
                .try_collect::<Vec<()>>()
                .await?;
            let seed_s = started.elapsed().as_secs_f64();
            if backend == "postgres" {
                // What a running server does soon after a bulk load, not timed: autovacuum
                // analyzes the tables (without statistics the planner scans tables it believes
                // empty, e.g. to count the images of the last minute; the PostgreSQL here runs
                // with autovacuum off), and the checkpointer writes the load's dirty pages out
                // (otherwise the reads timed compete with that writing).
                db.conn()
                    .execute_unprepared("ANALYZE")
                    .await
                    .context("ANALYZE after seeding")?;
                if let Err(e) = db.conn().execute_unprepared("CHECKPOINT").await {
                    eprintln!("CHECKPOINT after seeding refused ({e}): reads may compete with it");
                }
            }
            println!("{backend}: {seeded} predictions (seeding {seed_s:.0} s)");
            let queries = time_queries(&db, args.stats_repeats).await?;
            let raw_ms = raw_group_by(&db).await?;
            println!(
                "  {:<44} {:>9} {:>9} {:>9}",
                "query", "first ms", "p50 ms", "p99 ms"
            );
            for (name, first, p50, p99) in &queries {
                println!("  {name:<44} {first:>9.2} {p50:>9.2} {p99:>9.2}");
            }
            println!(
                "  {:<44} {:>9.2}   (raw rows, once)",
                "GROUP BY model over predictions", raw_ms
            );
            results.push(json!({
                "backend": backend,
                "predictions": seeded,
                "seed_seconds": seed_s,
                "queries": queries.iter().map(|(n, first, p50, p99)| json!({
                    "query": n, "first_ms": first, "p50_ms": p50, "p99_ms": p99,
                })).collect::<Vec<Value>>(),
                "raw_group_by_ms": raw_ms,
            }));
            // Written after every size: a long run stopped early keeps what it measured.
            write(args, &results)?;
        }
    }
    Ok(())
}

fn write(args: &Args, results: &[Value]) -> anyhow::Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| "bench/results/stats.json".into());
    let report = json!({
        "what": "statistics queries over N predictions (rollups), p50/p99 of repeated runs",
        "repeats": args.stats_repeats,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "results": results,
    });
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("figures written to {}", out.display());
    Ok(())
}

fn next(rng: &mut u64, n: u64) -> u64 {
    *rng = rng
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*rng >> 33) % n
}

/// `images` images (three quarters labelled) and their heads' predictions, recorded at `at`.
async fn seed_batch(
    db: &Db,
    rng: &mut u64,
    images: usize,
    at: chrono::DateTime<Utc>,
) -> anyhow::Result<()> {
    let mut rows = Vec::with_capacity(images);
    let mut predictions = Vec::with_capacity(images * 3);
    for _ in 0..images {
        let id = Uuid::new_v4();
        let label = (next(rng, 4) > 0).then(|| CLASSES[next(rng, 10) as usize]);
        rows.push(images::ActiveModel {
            id: Set(id),
            created_at: Set(at),
            object_key: Set(format!("images/{id}")),
            content_hash: Set(format!("{:064x}", id.as_u128())),
            content_type: Set("image/jpeg".into()),
            size_bytes: Set(1_000),
            width: Set(32),
            height: Set(32),
            source: Set("benchmark".into()),
            label: Set(label.map(str::to_owned)),
            status: Set(ImageStatus::Completed),
            failure_reason: Set(None),
            descriptors: Set(None),
            extractor_version: Set(None),
            extract_ms: Set(None),
            completed_at: Set(Some(at)),
            published_at: Set(Some(at)),
        });
        for (head, base_ms) in HEADS {
            let class = CLASSES[next(rng, 10) as usize];
            predictions.push(NewPrediction {
                image_id: id,
                model: head.into(),
                model_version: "v1".into(),
                predicted_class: class.into(),
                class_index: 0,
                confidence: next(rng, 1000) as f64 / 1000.0,
                top_k: vec![TopK {
                    class: class.into(),
                    probability: 0.5,
                }],
                inference_ms: base_ms * (0.5 + next(rng, 1000) as f64 / 500.0),
                correct: label.map(|l| l == class),
                shadow: false,
            });
        }
    }
    images::Entity::insert_many(rows)
        .exec_without_returning(db.conn())
        .await?;
    db.record_predictions_at(predictions, at).await?;
    Ok(())
}

/// Every statistics read of the dashboard (`modelStats`, `statsUpdated`, the Stats page's
/// confusion matrix, class metrics, distribution, time series at its bucket sizes,
/// throughput), as the statistics service calls the repository.
async fn time_queries(db: &Db, repeats: usize) -> anyhow::Result<Vec<(String, f64, f64, f64)>> {
    let mut out = Vec::new();
    macro_rules! time {
        ($name:expr, $call:expr) => {{
            let mut ms = Vec::with_capacity(repeats);
            for _ in 0..repeats {
                let t = Instant::now();
                let r = $call.await?;
                std::hint::black_box(&r);
                ms.push(t.elapsed().as_secs_f64() * 1e3);
            }
            // The first read: nothing kept in memory yet (time series keep closed points).
            let first = ms[0];
            ms.sort_by(f64::total_cmp);
            let at = |p: usize| ms[(p * ms.len()).div_ceil(100).max(1) - 1];
            out.push(($name.to_string(), first, at(50), at(99)));
        }};
    }
    let now = Utc::now;
    time!("modelStats (all time; statsUpdated)", db.model_stats(None));
    time!(
        "modelStats (since 1 h 17 min 3.5 s ago)",
        db.model_stats(Some(now() - Duration::milliseconds(4_623_500)))
    );
    time!(
        "confusionMatrix(balanced)",
        db.confusion_counts("balanced", None)
    );
    time!(
        "classMetrics(balanced) predicted counts",
        db.predicted_class_counts(Some("balanced"), None)
    );
    time!(
        "classDistribution (all models)",
        db.predicted_class_counts(None, None)
    );
    time!(
        "confusionMatrix(balanced, since 2 days 3 h ago)",
        db.confusion_counts("balanced", Some(now() - Duration::minutes(3_060)))
    );
    time!(
        "timeSeries(bucketSeconds: 10), 500 buckets",
        db.series(10, now() - Duration::seconds(5_000), now())
    );
    time!(
        "timeSeries(bucketSeconds: 60), 500 buckets",
        db.series(60, now() - Duration::seconds(30_000), now())
    );
    time!(
        "timeSeries(bucketSeconds: 300), 500 buckets",
        db.series(300, now() - Duration::seconds(150_000), now())
    );
    time!(
        "timeSeries(bucketSeconds: 3600), 500 buckets",
        db.series(3_600, now() - Duration::hours(500), now())
    );
    time!(
        "timeSeries(bucketSeconds: 86400), 30 days",
        db.series(86_400, now() - Duration::days(31), now())
    );
    time!(
        "throughput(windowSeconds: 60)",
        db.activity_since(now() - Duration::seconds(60))
    );
    Ok(out)
}

/// One `GROUP BY model` over the raw predictions, in milliseconds.
async fn raw_group_by(db: &Db) -> anyhow::Result<f64> {
    let backend = db.conn().get_database_backend();
    let t = Instant::now();
    db.conn()
        .query_all(Statement::from_string(
            backend,
            "SELECT model, COUNT(*), AVG(inference_ms) FROM predictions WHERE shadow = false \
             GROUP BY model",
        ))
        .await?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}
