//! Predictions: idempotent recording, listing, purging; every case runs on SQLite and on
//! PostgreSQL (see `common`).

mod common;

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use uuid::Uuid;
use vision_db::{Cursor, Db, DbError, PredictionFilter};

use common::*;

backend_tests!(
    insert_prediction_is_idempotent,
    concurrent_duplicate_predictions_insert_once,
    prediction_for_missing_image_is_not_found,
    list_and_recent_predictions,
    record_predictions_in_one_call,
    record_more_predictions_than_one_statement_binds,
    purge_old_predictions,
);

async fn insert_prediction_is_idempotent(db: Db) {
    let image = db
        .insert_image(new_image("upload", Some("cat")))
        .await
        .unwrap();
    let mut p = new_prediction(image.id, "fast", "v1", "cat");
    p.correct = Some(true);
    assert!(db.insert_prediction(p.clone()).await.unwrap());

    // Redelivery, even with different numbers, changes nothing.
    let mut again = p.clone();
    again.confidence = 0.1;
    assert!(!db.insert_prediction(again).await.unwrap());
    assert!(!db.insert_prediction(p.clone()).await.unwrap());

    // Another model, or another version of the same model, is a new prediction.
    assert!(
        db.insert_prediction(new_prediction(image.id, "fast", "v2", "cat"))
            .await
            .unwrap()
    );
    assert!(
        db.insert_prediction(new_prediction(image.id, "accurate", "v1", "dog"))
            .await
            .unwrap()
    );

    let stored = db.predictions_for_images(&[image.id]).await.unwrap();
    assert_eq!(stored.len(), 3);
    let first = stored
        .iter()
        .find(|r| r.model == "fast" && r.model_version == "v1")
        .unwrap();
    assert_eq!(first.confidence, 0.75);
    assert_eq!(first.correct, Some(true));
    assert_eq!(first.top_k.0, p.top_k);
    assert_eq!(first.predicted_class, "cat");
    assert_eq!(first.class_index, 3);
    assert_eq!(first.inference_ms, 1.5);
    assert_eq!(first.image_id, image.id);
    let other = stored.iter().find(|r| r.model == "accurate").unwrap();
    assert_eq!(other.correct, None);
}

async fn concurrent_duplicate_predictions_insert_once(db: Db) {
    let image = db.insert_image(new_image("upload", None)).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let db = db.clone();
        let p = new_prediction(image.id, "balanced", "v1", "cat");
        tasks.push(tokio::spawn(async move { db.insert_prediction(p).await }));
    }
    let mut inserted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1);
    assert_eq!(
        db.predictions_for_images(&[image.id]).await.unwrap().len(),
        1
    );

    let mut tasks = Vec::new();
    for i in 0..8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.complete_image(image.id, comparison(&format!("m{i}")))
                .await
        }));
    }
    let mut firsts = 0;
    for t in tasks {
        if t.await.unwrap().unwrap() {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1);
}

async fn prediction_for_missing_image_is_not_found(db: Db) {
    let missing = Uuid::new_v4();
    match db
        .insert_prediction(new_prediction(missing, "fast", "v1", "cat"))
        .await
    {
        Err(DbError::NotFound { entity, id }) => {
            assert_eq!(entity, "image");
            assert_eq!(id, missing);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        db.complete_image(missing, comparison("fast")).await,
        Err(DbError::NotFound { .. })
    ));
    assert!(matches!(
        db.set_extracted(missing, &[1.0], "v1", 1.0).await,
        Err(DbError::NotFound { .. })
    ));
    assert!(matches!(
        db.mark_failed(missing, "x").await,
        Err(DbError::NotFound { .. })
    ));
}

async fn list_and_recent_predictions(db: Db) {
    let base = Utc.with_ymd_and_hms(2025, 5, 1, 0, 0, 0).unwrap();
    let mut all = Vec::new();
    let mut image_ids = Vec::new();
    for i in 0..9i64 {
        let image = db.insert_image(new_image("upload", None)).await.unwrap();
        image_ids.push(image.id);
        for model in ["fast", "balanced", "accurate"] {
            db.insert_prediction(new_prediction(image.id, model, "v1", "cat"))
                .await
                .unwrap();
        }
        // Image i's predictions are all at base + i minutes (ties broken by id).
        set_prediction_time(&db, image.id, base + Duration::minutes(i)).await;
    }
    for p in db.predictions_for_images(&image_ids).await.unwrap() {
        all.push(p);
    }
    assert_eq!(all.len(), 27);
    let expected = newest_first(all.iter().map(|p| (p.created_at, p.id)).collect());

    // Every page size walks all predictions exactly once, newest first.
    for page in [1, 4, 10, 27, 50] {
        let mut got = Vec::new();
        let mut after = None;
        loop {
            let rows = db
                .list_predictions(&PredictionFilter::default(), after, page)
                .await
                .unwrap();
            if rows.is_empty() {
                break;
            }
            after = Some(Cursor::decode(&Cursor::from(rows.last().unwrap()).encode()).unwrap());
            got.extend(rows.iter().map(|p| p.id));
        }
        assert_eq!(got, expected, "page size {page}");
    }

    let recent = db.recent_predictions(5).await.unwrap();
    assert_eq!(
        recent.iter().map(|p| p.id).collect::<Vec<_>>(),
        expected[..5]
    );

    let by_model = db
        .list_predictions(
            &PredictionFilter {
                model: Some("fast".to_owned()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(by_model.len(), 9);
    assert!(by_model.iter().all(|p| p.model == "fast"));
    assert!(
        by_model
            .windows(2)
            .all(|w| w[0].created_at > w[1].created_at)
    );

    let by_image = db
        .list_predictions(
            &PredictionFilter {
                image_id: Some(image_ids[4]),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(by_image.len(), 3);
    assert!(by_image.iter().all(|p| p.image_id == image_ids[4]));

    // since inclusive, until exclusive: minutes 2, 3, 4.
    let window = db
        .list_predictions(
            &PredictionFilter {
                since: Some(base + Duration::minutes(2)),
                until: Some(base + Duration::minutes(5)),
                model: Some("accurate".to_owned()),
                ..Default::default()
            },
            None,
            100,
        )
        .await
        .unwrap();
    let got: Vec<Uuid> = window.iter().map(|p| p.image_id).collect();
    assert_eq!(got, vec![image_ids[4], image_ids[3], image_ids[2]]);
}

async fn record_predictions_in_one_call(db: Db) {
    let a = db.insert_image(new_image("upload", None)).await.unwrap();
    let b = db.insert_image(new_image("upload", None)).await.unwrap();
    assert!(
        db.insert_prediction(new_prediction(a.id, "fast", "v1", "cat"))
            .await
            .unwrap()
    );
    let mut changed = new_prediction(a.id, "fast", "v1", "dog");
    changed.confidence = 0.1;
    let batch = vec![
        // Already stored (a redelivery): skipped, the stored row kept.
        changed,
        new_prediction(a.id, "accurate", "v1", "cat"),
        new_prediction(b.id, "fast", "v1", "ship"),
        // Twice in one batch: once.
        new_prediction(b.id, "balanced", "v1", "ship"),
        new_prediction(b.id, "balanced", "v1", "ship"),
    ];
    let recorded = db.record_predictions(batch).await.unwrap();
    assert_eq!(recorded.stored.len(), 4);
    assert_eq!(recorded.inserted.len(), 4);
    let new: HashSet<(Uuid, String)> = recorded
        .stored
        .iter()
        .zip(&recorded.inserted)
        .filter(|(_, inserted)| **inserted)
        .map(|(r, _)| (r.image_id, r.model.clone()))
        .collect();
    let expected: HashSet<(Uuid, String)> = [
        (a.id, "accurate".to_string()),
        (b.id, "fast".to_string()),
        (b.id, "balanced".to_string()),
    ]
    .into();
    assert_eq!(new, expected);
    let kept = recorded
        .stored
        .iter()
        .find(|r| r.model == "fast" && r.image_id == a.id);
    assert_eq!(kept.unwrap().predicted_class, "cat");
    // The same batch again inserts nothing and reads the same rows.
    let again = db
        .record_predictions(vec![new_prediction(b.id, "fast", "v1", "ship")])
        .await
        .unwrap();
    assert_eq!(again.stored.len(), 2, "b's predictions");
    assert!(again.inserted.iter().all(|i| !i));

    // A missing image fails the whole call, names the image and writes nothing.
    let missing = Uuid::new_v4();
    let c = db.insert_image(new_image("upload", None)).await.unwrap();
    match db
        .record_predictions(vec![
            new_prediction(c.id, "fast", "v1", "cat"),
            new_prediction(missing, "fast", "v1", "cat"),
        ])
        .await
    {
        Err(DbError::NotFound { entity, id }) => {
            assert_eq!(entity, "image");
            assert_eq!(id, missing);
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(db.predictions_for_images(&[c.id]).await.unwrap().is_empty());
    // A refused value writes nothing either; an empty batch is fine.
    let mut bad = new_prediction(c.id, "fast", "v1", "cat");
    bad.confidence = f64::NAN;
    assert!(matches!(
        db.record_predictions(vec![new_prediction(c.id, "balanced", "v1", "cat"), bad])
            .await,
        Err(DbError::InvalidInput(_))
    ));
    assert!(db.predictions_for_images(&[c.id]).await.unwrap().is_empty());
    assert!(
        db.record_predictions(Vec::new())
            .await
            .unwrap()
            .stored
            .is_empty()
    );
}

async fn purge_old_predictions(db: Db) {
    let old = db.insert_image(new_image("upload", None)).await.unwrap();
    let new = db.insert_image(new_image("upload", None)).await.unwrap();
    for image in [&old, &new] {
        for model in ["fast", "balanced"] {
            db.insert_prediction(new_prediction(image.id, model, "v1", "cat"))
                .await
                .unwrap();
        }
    }
    set_prediction_time(&db, old.id, Utc::now() - Duration::days(40)).await;
    let purged = db
        .purge_predictions_before(Utc::now() - Duration::days(30))
        .await
        .unwrap();
    assert_eq!(purged, 2);
    let left = db.recent_predictions(10).await.unwrap();
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|p| p.image_id == new.id));
}

/// 3,600 predictions bind 43,200 parameters, past SQLite's 32,766 for one statement: they are
/// recorded in groups, in one transaction, each once, each told in the feed.
async fn record_more_predictions_than_one_statement_binds(db: Db) {
    let head = db.feed_head().await.unwrap();
    let mut batch = Vec::new();
    for _ in 0..1_200 {
        let image = db.insert_image(new_image("upload", None)).await.unwrap();
        for model in ["fast", "balanced", "accurate"] {
            batch.push(new_prediction(image.id, model, "v1", "cat"));
        }
    }
    let recorded = db.record_predictions(batch).await.unwrap();
    assert_eq!(recorded.stored.len(), 3_600);
    assert!(recorded.inserted.iter().all(|inserted| *inserted));
    let told = db.feed_after(head, 10_000).await.unwrap();
    assert_eq!(
        told.iter()
            .filter(|row| row.kind == vision_db::FeedKind::PredictionRecorded)
            .count(),
        3_600
    );
}
