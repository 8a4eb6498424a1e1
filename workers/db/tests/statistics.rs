//! Per-model statistics; every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use chrono::{Duration, Utc};
use vision_db::{Db, RELATIVE_ERROR, nearest_rank};

use common::*;

backend_tests!(model_stats_match_values_computed_here,);

async fn model_stats_match_values_computed_here(db: Db) {
    struct Row {
        model: &'static str,
        version: &'static str,
        ms: f64,
        confidence: f64,
        correct: Option<bool>,
        old: bool,
    }
    let models = ["accurate", "balanced", "fast"];
    let mut rows = Vec::new();
    // A deterministic spread of values; `accurate` has 2 versions, `fast` has no labels.
    for i in 0..40u32 {
        for (m, model) in models.iter().enumerate() {
            if *model == "balanced" && i % 3 == 0 {
                continue; // different counts per model
            }
            let ms = ((i * 37 + m as u32 * 11) % 101) as f64 * 0.25 + 0.5 * m as f64;
            let confidence = ((i * 13 + m as u32 * 7) % 97) as f64 / 100.0;
            let correct = match *model {
                "fast" => None,
                _ if i % 4 == 0 => None,
                _ => Some(!(i + m as u32).is_multiple_of(3)),
            };
            let version = if *model == "accurate" && i >= 30 {
                "v2"
            } else {
                "v1"
            };
            rows.push(Row {
                model,
                version,
                ms,
                confidence,
                correct,
                old: i % 5 == 0,
            });
        }
    }
    let old_time = Utc::now() - Duration::days(3);
    for (i, r) in rows.iter().enumerate() {
        let image = db.insert_image(new_image("cifar10", None)).await.unwrap();
        let mut p = new_prediction(image.id, r.model, r.version, "cat");
        p.inference_ms = r.ms;
        p.confidence = r.confidence;
        p.correct = r.correct;
        p.class_index = i as i32 % 10;
        assert!(db.insert_prediction(p).await.unwrap());
        if r.old {
            set_prediction_time(&db, image.id, old_time).await;
        }
    }

    let expect = |since_filter: bool| {
        let mut out = Vec::new();
        for model in models {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.model == model && !(since_filter && r.old))
                .collect();
            let mut ms: Vec<f64> = sel.iter().map(|r| r.ms).collect();
            ms.sort_by(f64::total_cmp);
            let n = ms.len();
            // Nearest rank: the value at 1-based rank ceil(p/100 * n).
            let pct = |p: f64| ms[((p / 100.0 * n as f64).ceil() as usize).max(1) - 1];
            let labeled = sel.iter().filter(|r| r.correct.is_some()).count() as u64;
            let correct = sel.iter().filter(|r| r.correct == Some(true)).count() as u64;
            let mut versions: Vec<String> = sel.iter().map(|r| r.version.to_owned()).collect();
            versions.sort();
            versions.dedup();
            out.push((
                model,
                versions,
                n as u64,
                [pct(50.0), pct(95.0), pct(99.0)],
                ms.iter().sum::<f64>() / n as f64,
                sel.iter().map(|r| r.confidence).sum::<f64>() / n as f64,
                labeled,
                correct,
            ));
        }
        out
    };

    for (since, expected) in [
        (None, expect(false)),
        (Some(Utc::now() - Duration::days(1)), expect(true)),
    ] {
        let stats = db.model_stats(since).await.unwrap();
        assert_eq!(stats.len(), 3, "{since:?}");
        for (s, (model, versions, n, pcts, mean_ms, mean_conf, labeled, correct)) in
            stats.iter().zip(expected)
        {
            assert_eq!(s.model, model);
            assert_eq!(s.model_versions, versions, "{model}");
            assert_eq!(s.count, n, "{model}");
            // Percentiles come from sketches: within their relative error of the exact value.
            for (got, exact) in [s.latency_p50_ms, s.latency_p95_ms, s.latency_p99_ms]
                .into_iter()
                .zip(pcts)
            {
                assert!(
                    (got - exact).abs() <= exact * RELATIVE_ERROR + 1e-12,
                    "{model} {since:?}: {got} vs {exact}"
                );
            }
            assert!(s.latency_p50_ms <= s.latency_p95_ms && s.latency_p95_ms <= s.latency_p99_ms);
            assert!(approx(s.mean_latency_ms, mean_ms), "{model}");
            assert!(approx(s.mean_confidence, mean_conf), "{model}");
            assert_eq!(s.labeled, labeled, "{model}");
            assert_eq!(s.correct, correct, "{model}");
            if labeled == 0 {
                assert_eq!(s.accuracy, None, "{model}");
            } else {
                assert!(approx(s.accuracy.unwrap(), correct as f64 / labeled as f64));
            }
        }
    }
    // The p50 of the rank helper agrees with the formula used above.
    assert_eq!(nearest_rank(50, 40), 20);

    // Nothing in the window: no rows.
    assert!(
        db.model_stats(Some(Utc::now() + Duration::days(1)))
            .await
            .unwrap()
            .is_empty()
    );
}
