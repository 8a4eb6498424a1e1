//! Retention (F23): deletes only what is older than each age, images with their objects, in
//! batches; runs once at a time across processes (a lease), records every run with its
//! report, and never leaves a run "running" after its process died.

use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;
use vision_core::bus::MemoryBus;
use vision_db::sea_orm::sea_query::Expr;
use vision_db::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use vision_db::{Db, images, pipeline_feed, predictions};

use crate::common::{TestApp, config_for, error_code, fast_prediction, prepared_dir};
use crate::images::{self as pictures, BLUE, GREEN, RED};

const RUN: &str = "mutation { runJob(job: RETENTION) { id job status report error finishedAt } }";

async fn gateway() -> TestApp {
    let dir = prepared_dir();
    let config = config_for(dir.path());
    TestApp::start_gateway(dir, config, Arc::new(MemoryBus::new())).await
}

async fn age_images(db: &Db, ids: &[Uuid], days: i64) {
    images::Entity::update_many()
        .col_expr(
            images::Column::CreatedAt,
            Expr::value(Utc::now() - Duration::days(days)),
        )
        .filter(images::Column::Id.is_in(ids.iter().copied()))
        .exec(db.conn())
        .await
        .unwrap();
}

async fn age_predictions(db: &Db, image: Uuid, days: i64) {
    predictions::Entity::update_many()
        .col_expr(
            predictions::Column::CreatedAt,
            Expr::value(Utc::now() - Duration::days(days)),
        )
        .filter(predictions::Column::ImageId.eq(image))
        .exec(db.conn())
        .await
        .unwrap();
}

async fn age_feed(db: &Db, image: Uuid, days: i64) {
    pipeline_feed::Entity::update_many()
        .col_expr(
            pipeline_feed::Column::At,
            Expr::value(Utc::now() - Duration::days(days)),
        )
        .filter(pipeline_feed::Column::ImageId.eq(image))
        .exec(db.conn())
        .await
        .unwrap();
}

fn report(response: &Value) -> Value {
    let run = &response["data"]["runJob"];
    assert_eq!(run["status"], "succeeded", "{response:#}");
    serde_json::from_str(run["report"].as_str().expect("a report")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_what_is_older_with_its_objects() {
    let app = gateway().await;
    let db = app.platform().state.db.clone();
    let mut ids = Vec::new();
    for colour in [RED, GREEN, BLUE, [255, 255, 255]] {
        let id: Uuid = app
            .upload_ok("x.png", pictures::png(colour), None)
            .await
            .parse()
            .unwrap();
        db.record_predictions(vec![fast_prediction(id)])
            .await
            .unwrap();
        ids.push(id);
    }
    assert_eq!(app.object_files().len(), 4);
    // Two images 40 days old (images are kept 30); the third's prediction 35 days old
    // (predictions are kept 30); the fourth's feed rows 10 days old (the feed is kept 7).
    age_images(&db, &ids[..2], 40).await;
    age_predictions(&db, ids[2], 35).await;
    age_feed(&db, ids[3], 10).await;

    let response = app.graphql(RUN, json!({})).await;
    let figures = report(&response);
    assert_eq!(figures["imagesDeleted"], 2, "{figures:#}");
    assert_eq!(figures["objectsDeleted"], 2);
    assert_eq!(figures["objectErrors"], 0);
    assert_eq!(figures["predictionsDeleted"], 1);
    assert_eq!(figures["feedRowsDeleted"], 1);
    assert_eq!(app.image_rows().await, 2);
    assert_eq!(app.object_files().len(), 2);
    for id in &ids[..2] {
        assert!(db.get_image(*id).await.unwrap().is_none());
    }
    assert!(db.get_image(ids[2]).await.unwrap().is_some());
    assert!(
        db.predictions_for_images(&[ids[2]])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.predictions_for_images(&[ids[3]]).await.unwrap().len(), 1);

    // A second run finds nothing more; both are listed, newest first.
    let again = report(&app.graphql(RUN, json!({})).await);
    assert_eq!(again["imagesDeleted"], 0);
    assert_eq!(again["predictionsDeleted"], 0);
    let runs = app
        .query(
            "{ jobRuns(job: RETENTION) { status job report } }",
            json!({}),
        )
        .await;
    let runs = runs["jobRuns"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r["status"] == "succeeded" && r["job"] == "retention")
    );

    // The clock is injected: 31 days on, everything is older than its age.
    let jobs = &app.platform().state;
    let later = vision_api::jobs::retention::purge(
        &jobs.db,
        &jobs.store,
        vision_api::Config::for_data_dir("/unused", "/unused").retention(),
        Utc::now() + Duration::days(31),
    )
    .await
    .unwrap();
    assert_eq!(later.images_deleted, 2);
    assert_eq!(app.image_rows().await, 0);
    assert_eq!(app.object_files().len(), 0);
    assert_eq!(db.feed_oldest().await.unwrap(), None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_at_a_time_and_none_left_running() {
    let app = gateway().await;
    let db = app.platform().state.db.clone();
    // Another replica holds the lease: this one is told, and runs nothing.
    assert!(
        db.try_lock_job("retention", "other-replica", Duration::minutes(2))
            .await
            .unwrap()
    );
    assert!(
        !db.try_lock_job("retention", "third-replica", Duration::minutes(2))
            .await
            .unwrap()
    );
    let busy = app.graphql(RUN, json!({})).await;
    assert_eq!(error_code(&busy), "JOB_BUSY", "{busy:#}");

    // That replica died mid-run: its run stays "running" until its lease expires...
    let dead = db
        .start_job_run("retention", "other-replica")
        .await
        .unwrap();
    assert!(
        db.try_lock_job("retention", "other-replica", Duration::seconds(-1))
            .await
            .unwrap()
    );
    // ...then the next run takes the lease and marks it failed.
    report(&app.graphql(RUN, json!({})).await);
    let runs = db.job_runs(Some("retention"), 10).await.unwrap();
    let abandoned = runs.iter().find(|r| r.id == dead.id).unwrap();
    assert_eq!(abandoned.status, "failed");
    assert!(abandoned.error.as_deref().unwrap().starts_with("abandoned"));
    assert!(abandoned.finished_at.is_some());
    // The lease was given back.
    assert!(
        db.try_lock_job("retention", "third-replica", Duration::minutes(2))
            .await
            .unwrap()
    );
    app.stop().await;
}
