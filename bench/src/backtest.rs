//! `--backtest ROWS`: how long back-testing a head version takes over ROWS stored images, on
//! SQLite and on PostgreSQL side by side, in one run.
//!
//! For each database: a fresh one, migrated; the bundle imported into its registry (as `vision
//! serve` does); ROWS completed images with real descriptors (those of `--images` distinct
//! CIFAR-10 test images, computed with the bundle's extractor and repeated to fill ROWS rows)
//! and production's answers of every head (computed with the bundle's heads), bulk-inserted;
//! then another head's file registered as the next version of the back-tested head, and
//! `Registry::backtest` timed over the ROWS most recent images (reading the descriptors and
//! production's answers, scoring, pairing), the read alone timed apart.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use vision_core::ObjectStore;
use vision_core::objects::LocalStore;
use vision_db::entities::images::{self, ImageStatus};
use vision_db::entities::model_versions::ModelRole;
use vision_db::entities::{Descriptors, TopK, TopKList, predictions};
use vision_db::{Db, ImageWindow};
use vision_inference::dataset::Sample;
use vision_inference::models::{Classification, ModelBundle};
use vision_inference::{Parallelism, RuntimeKind};
use vision_registry::{Registration, Registry, import_bundle};
use vision_testkit::postgres::fresh_database_on;

use crate::Args;

/// Times each back-test is run on a database (the first reads a cold cache).
const REPEATS: usize = 3;
/// Rows per INSERT (under SQLite's and PostgreSQL's limits on bound parameters).
const INSERT_BATCH: usize = 1000;
/// Who the benchmark's version is registered by.
const BY: &str = "vision-bench";

/// One image as the platform stored it: descriptors and every head's production answer.
struct Scored {
    label: String,
    size_bytes: i64,
    descriptors: Vec<f32>,
    /// (head, version label, answer, milliseconds per image)
    answers: Vec<(String, String, Classification, f64)>,
}

pub async fn run(args: &Args, samples: &[Sample], rows: u64) -> anyhow::Result<()> {
    let runtime = <RuntimeKind as clap::ValueEnum>::from_str(&args.runtime, true)
        .map_err(|e| anyhow::anyhow!("--runtime: {e}"))?;
    let bundle = ModelBundle::load(&args.models, runtime, Parallelism::threads(2))
        .with_context(|| format!("loading the bundle in {}", args.models.display()))?;
    let heads = bundle.manifest.head_names();
    let target = heads.last().context("the bundle has no head")?.clone();
    // The candidate: another head's file registered as the target's next version (every head
    // reads the same descriptors and names the same classes, so the registry accepts it).
    let candidate = bundle
        .manifest
        .head_versions(heads.first().expect("a head"))
        .next()
        .expect("a version")
        .clone();

    println!(
        "Back-test benchmark: {} distinct images -> {rows} stored rows; back-testing `{target}` \
         with `{}`'s file as its next version",
        samples.len(),
        candidate.name
    );
    let started = Instant::now();
    let scored = score(&bundle, samples)?;
    println!(
        "  descriptors and production answers of {} images: {:.1} s ({})",
        scored.len(),
        started.elapsed().as_secs_f64(),
        runtime.as_str()
    );

    let mut results = Vec::new();
    for database in ["sqlite", "postgres"] {
        let dir = tempfile::tempdir()?;
        let url = match database {
            "sqlite" => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("bench.db").display()
            ),
            _ => fresh_database_on(&args.postgres, "vision_bench_backtest").await,
        };
        let db = Db::connect(&url).await?;
        let store: Arc<dyn ObjectStore> = Arc::new(LocalStore::new(dir.path().join("objects"))?);
        let registry = Registry::new(
            db.clone(),
            store,
            runtime,
            bundle.manifest.classes.clone().into(),
        );
        import_bundle(&registry, &bundle.manifest, &args.models).await?;
        let inserted = Instant::now();
        insert(&db, &scored, rows, &bundle.manifest.extractor.version).await?;
        let insert_seconds = inserted.elapsed().as_secs_f64();
        let version = registry
            .register(Registration {
                name: target.clone(),
                role: ModelRole::Classifier,
                bytes: Bytes::from(std::fs::read(args.models.join(&candidate.file))?),
                label: Some(format!("{target}-backtest-bench")),
                extractor_label: None,
                metrics: None,
                card: None,
                lineage: None,
                registered_by: BY.into(),
            })
            .await?
            .version;
        let window = ImageWindow {
            since: None,
            until: None,
            limit: rows,
        };
        let mut read = Vec::new();
        let mut total = Vec::new();
        let mut last = None;
        for _ in 0..REPEATS {
            let t = Instant::now();
            let stored = db
                .stored_answers(&target, &bundle.manifest.extractor.version, &window)
                .await?;
            read.push(t.elapsed().as_secs_f64());
            anyhow::ensure!(
                stored.len() as u64 == rows,
                "{database}: {} stored answers read, {rows} inserted",
                stored.len()
            );
            let t = Instant::now();
            let backtest = registry.backtest(&target, version, &window).await?;
            total.push(t.elapsed().as_secs_f64());
            last = Some(backtest);
        }
        let backtest = last.expect("at least one repeat");
        let c = &backtest.comparison;
        anyhow::ensure!(
            c.n == rows,
            "{database}: the back-test scored {} images of {rows}",
            c.n
        );
        let figures = json!({
            "database": database,
            "insert_seconds": insert_seconds,
            "read_seconds": read,
            "backtest_seconds": total,
            "backtest_median_seconds": median(&total),
            "images": c.n,
            "production_accuracy": c.accuracy_a,
            "candidate_accuracy": c.accuracy_b,
            "agreement": c.agreement,
            "mcnemar_p": c.mcnemar.p_value,
        });
        print_database(&figures);
        results.push(figures);
        db.close().await?;
    }
    let report = json!({
        "rows": rows,
        "distinct_images": samples.len(),
        "descriptor_dim": bundle.manifest.extractor.descriptor_dim,
        "model": target,
        "candidate_file": candidate.file,
        "runtime": runtime.as_str(),
        "repeats": REPEATS,
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "databases": results,
    });
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| "bench/results/backtest.json".into());
    crate::report::write_json(&report, &out)
}

/// Every sample's descriptors (the bundle's extractor) and each head's production answer.
fn score(bundle: &ModelBundle, samples: &[Sample]) -> anyhow::Result<Vec<Scored>> {
    let mut scored = Vec::with_capacity(samples.len());
    for chunk in samples.chunks(32) {
        let images = chunk
            .iter()
            .map(|s| image::load_from_memory(&s.bytes).with_context(|| s.name.clone()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let refs: Vec<&image::DynamicImage> = images.iter().collect();
        let descriptors = bundle.extractor.extract(&refs)?;
        for (sample, descriptors) in chunk.iter().zip(descriptors) {
            let mut answers = Vec::new();
            for (head, versions) in bundle.heads() {
                let production = &versions[0];
                let t = Instant::now();
                let answer = production.classify(&descriptors)?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                answers.push((head, production.version.clone(), answer, ms));
            }
            scored.push(Scored {
                label: sample.class().to_string(),
                size_bytes: sample.bytes.len() as i64,
                descriptors,
                answers,
            });
        }
    }
    Ok(scored)
}

/// `rows` completed images (the scored ones over and over, a millisecond apart, the newest
/// last) with every head's production prediction.
async fn insert(db: &Db, scored: &[Scored], rows: u64, extractor: &str) -> anyhow::Result<()> {
    let base: DateTime<Utc> = Utc::now() - ChronoDuration::milliseconds(rows as i64 + 1000);
    let mut done = 0u64;
    while done < rows {
        let n = (rows - done).min(INSERT_BATCH as u64);
        let mut image_rows = Vec::with_capacity(n as usize);
        let mut prediction_rows = Vec::new();
        for i in done..done + n {
            let s = &scored[i as usize % scored.len()];
            let id = uuid::Uuid::new_v4();
            let at = base + ChronoDuration::milliseconds(i as i64);
            image_rows.push(images::ActiveModel {
                id: Set(id),
                created_at: Set(at),
                object_key: Set(format!("images/{id}")),
                content_hash: Set(format!("{:064x}", i)),
                content_type: Set("image/jpeg".into()),
                size_bytes: Set(s.size_bytes),
                width: Set(32),
                height: Set(32),
                source: Set("benchmark".into()),
                label: Set(Some(s.label.clone())),
                status: Set(ImageStatus::Completed),
                failure_reason: Set(None),
                descriptors: Set(Some(Descriptors(s.descriptors.clone()))),
                extractor_version: Set(Some(extractor.to_string())),
                extract_ms: Set(Some(5.0)),
                completed_at: Set(Some(at)),
                published_at: Set(Some(at)),
            });
            for (head, version, answer, ms) in &s.answers {
                prediction_rows.push(predictions::ActiveModel {
                    id: Set(uuid::Uuid::new_v4()),
                    image_id: Set(id),
                    model: Set(head.clone()),
                    model_version: Set(version.clone()),
                    predicted_class: Set(answer.class.clone()),
                    class_index: Set(answer.class_index as i32),
                    confidence: Set(answer.confidence as f64),
                    top_k: Set(TopKList(
                        answer
                            .top_k
                            .iter()
                            .map(|(class, p)| TopK {
                                class: class.clone(),
                                probability: *p as f64,
                            })
                            .collect(),
                    )),
                    inference_ms: Set(*ms),
                    correct: Set(Some(answer.class == s.label)),
                    created_at: Set(at),
                    shadow: Set(false),
                });
            }
        }
        images::Entity::insert_many(image_rows)
            .exec(db.conn())
            .await?;
        for chunk in prediction_rows.chunks(INSERT_BATCH) {
            predictions::Entity::insert_many(chunk.to_vec())
                .exec(db.conn())
                .await?;
        }
        done += n;
    }
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn print_database(f: &Value) {
    let list = |key: &str| {
        f[key]
            .as_array()
            .map(|v| {
                v.iter()
                    .map(|x| format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)))
                    .collect::<Vec<_>>()
                    .join(" / ")
            })
            .unwrap_or_default()
    };
    println!(
        "  {:<8} insert {:>6.1} s | read {} s | back-test {} s (median {:.2} s) | {} images: \
         production {:.4}, candidate {:.4}, agreement {:.4}",
        f["database"].as_str().unwrap_or_default(),
        f["insert_seconds"].as_f64().unwrap_or_default(),
        list("read_seconds"),
        list("backtest_seconds"),
        f["backtest_median_seconds"].as_f64().unwrap_or_default(),
        f["images"],
        f["production_accuracy"].as_f64().unwrap_or(f64::NAN),
        f["candidate_accuracy"].as_f64().unwrap_or(f64::NAN),
        f["agreement"].as_f64().unwrap_or(f64::NAN),
    );
}
