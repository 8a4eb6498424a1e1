//! The data-quality job (F23) finds exactly the faults a test plants: a truncated object, an
//! object changed in place, a deleted object, an object without a row, an image stuck, a
//! completed image without predictions, one without its comparison, statistics rollups that
//! no longer match the rows. Its report is stored
//! (`jobRuns`) and counted in metrics.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use vision_core::bus::MemoryBus;
use vision_db::sea_orm::sea_query::Expr;
use vision_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use vision_db::{ImageStatus, images};

use crate::common::{TestApp, config_for, fast_comparison, fast_prediction, prepared_dir};
use crate::images as pictures;

async fn gateway() -> TestApp {
    let dir = prepared_dir();
    let config = config_for(dir.path());
    TestApp::start_gateway(dir, config, Arc::new(MemoryBus::new())).await
}

fn object_path(app: &TestApp, key: &str) -> PathBuf {
    app.dir.path().join("data").join("objects").join(key)
}

fn finding(report: &Value, kind: &str) -> (u64, Vec<String>) {
    let f = &report[kind];
    (
        f["count"]
            .as_u64()
            .unwrap_or_else(|| panic!("{kind} in {report:#}")),
        f["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_quality_finds_exactly_the_planted_faults() {
    let app = gateway().await;
    let db = app.platform().state.db.clone();
    let mut ids = Vec::new();
    for i in 0..7u8 {
        let id: Uuid = app
            .upload_ok("x.png", pictures::png([i * 30, 255 - i * 30, 7]), None)
            .await
            .parse()
            .unwrap();
        ids.push(id);
    }
    // Every image is recent and pending (no stages run here): nothing to report yet but
    // nothing either, except what is planted below.
    let [
        truncated,
        changed,
        deleted,
        stuck,
        unanswered,
        uncompared,
        relabelled,
    ] = ids[..]
    else {
        unreachable!()
    };
    let path = object_path(&app, &db_key(&app, truncated).await);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let path = object_path(&app, &db_key(&app, changed).await);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::remove_file(object_path(&app, &db_key(&app, deleted).await)).unwrap();
    let orphan = format!("raw-images/2026/01/01/{}.png", Uuid::new_v4());
    std::fs::create_dir_all(object_path(&app, &orphan).parent().unwrap()).unwrap();
    std::fs::write(object_path(&app, &orphan), b"left by a dead upload").unwrap();
    images::Entity::update_many()
        .col_expr(
            images::Column::CreatedAt,
            Expr::value(Utc::now() - Duration::hours(2)),
        )
        .filter(images::Column::Id.eq(stuck))
        .exec(db.conn())
        .await
        .unwrap();
    // Completed with its comparison but no prediction.
    db.complete_images(vec![(unanswered, fast_comparison())])
        .await
        .unwrap();
    // A prediction changed behind the repository's back: the statistics rollups still count
    // it as a cat (two groups drift: cat one too many, dog one too few).
    db.record_predictions(vec![fast_prediction(relabelled)])
        .await
        .unwrap();
    vision_db::predictions::Entity::update_many()
        .col_expr(
            vision_db::predictions::Column::PredictedClass,
            Expr::value("dog"),
        )
        .filter(vision_db::predictions::Column::ImageId.eq(relabelled))
        .exec(db.conn())
        .await
        .unwrap();
    // Answered and marked completed, but its comparison never written.
    db.record_predictions(vec![fast_prediction(uncompared)])
        .await
        .unwrap();
    images::Entity::update_many()
        .col_expr(images::Column::Status, Expr::value(ImageStatus::Completed))
        .filter(images::Column::Id.eq(uncompared))
        .exec(db.conn())
        .await
        .unwrap();

    let response = app
        .graphql(
            "mutation { runJob(job: DATA_QUALITY) { job status report error } }",
            json!({}),
        )
        .await;
    let run = &response["data"]["runJob"];
    assert_eq!(run["status"], "succeeded", "{response:#}");
    assert_eq!(run["job"], "data-quality");
    let report: Value = serde_json::from_str(run["report"].as_str().unwrap()).unwrap();
    assert_eq!(report["imagesChecked"], 7, "{report:#}");
    assert_eq!(report["objectsListed"], 7);
    let ids_of = |v: &[Uuid]| v.iter().map(Uuid::to_string).collect::<Vec<_>>();
    let (n, mut corrupt) = finding(&report, "objectsCorrupt");
    corrupt.sort();
    let mut expected = ids_of(&[truncated, changed]);
    expected.sort();
    assert_eq!((n, corrupt), (2, expected), "{report:#}");
    assert_eq!(finding(&report, "objectsMissing"), (1, ids_of(&[deleted])));
    assert_eq!(finding(&report, "objectsWithoutRows"), (1, vec![orphan]));
    assert_eq!(finding(&report, "imagesStuck"), (1, ids_of(&[stuck])));
    assert_eq!(
        finding(&report, "predictionsMissing"),
        (1, ids_of(&[unanswered]))
    );
    assert_eq!(
        finding(&report, "comparisonsMissing"),
        (1, ids_of(&[uncompared]))
    );
    let (n, drift) = finding(&report, "statisticsDrift");
    assert_eq!(n, 2, "{report:#}");
    assert!(
        drift[0].starts_with("fast / fast-test-v1 /  / cat: rollups [2], rows [1]"),
        "{drift:?}"
    );
    assert!(
        drift[1].starts_with("fast / fast-test-v1 /  / dog: rollups [], rows [1]"),
        "{drift:?}"
    );
    assert_eq!(report["auditChainBroken"], Value::Null);

    // Stored with the run, and counted in metrics.
    let runs = app
        .query(
            "{ jobRuns(job: DATA_QUALITY) { status report } }",
            json!({}),
        )
        .await;
    assert_eq!(runs["jobRuns"][0]["report"], run["report"]);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "vision_data_quality_findings{kind=\"objects_corrupt\"} 2",
        "vision_data_quality_findings{kind=\"objects_missing\"} 1",
        "vision_data_quality_findings{kind=\"images_stuck\"} 1",
        "vision_job_runs_total{job=\"data-quality\",status=\"succeeded\"}",
    ] {
        assert!(metrics.contains(line), "{line} not in /metrics");
    }
    app.stop().await;
}

async fn db_key(app: &TestApp, id: Uuid) -> String {
    app.platform()
        .state
        .db
        .get_image(id)
        .await
        .unwrap()
        .unwrap()
        .object_key
}
