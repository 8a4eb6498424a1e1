//! The repository test suite; every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement};
use serde_json::json;
use uuid::Uuid;
use vision_db::{
    Cursor, Db, DbError, ImageFilter, NewComparison, NewImage, NewPrediction, PredictionFilter,
    TopK, images, nearest_rank, predictions,
};

backend_tests!(
    insert_and_get,
    pagination_has_no_duplicates_or_gaps,
    pagination_with_equal_timestamps,
    filters_and_counts,
    bad_cursor_is_a_typed_error,
    insert_prediction_is_idempotent,
    concurrent_duplicate_predictions_insert_once,
    prediction_for_missing_image_is_not_found,
    list_and_recent_predictions,
    complete_image_only_once,
    record_predictions_in_one_call,
    complete_images_in_one_transaction,
    cascade_delete,
    status_transitions_and_incomplete_images,
    descriptor_reuse_by_hash,
    outbox_of_unpublished_images,
    model_stats_match_values_computed_here,
    purge_old_predictions,
    events_audit_log,
    connection_settings,
    non_finite_numbers_are_refused,
    descriptors_are_stored_compactly,
);

// ----- helpers -------------------------------------------------------------------------------

fn new_image(source: &str, label: Option<&str>) -> NewImage {
    let id = Uuid::new_v4();
    NewImage {
        id,
        object_key: format!("raw-images/2025/01/01/{id}.png"),
        content_hash: format!("{:064x}", id.as_u128()),
        content_type: "image/png".to_owned(),
        size_bytes: 1234,
        width: 32,
        height: 32,
        source: source.to_owned(),
        label: label.map(str::to_owned),
    }
}

fn new_prediction(image_id: Uuid, model: &str, version: &str, class: &str) -> NewPrediction {
    NewPrediction {
        image_id,
        model: model.to_owned(),
        model_version: version.to_owned(),
        predicted_class: class.to_owned(),
        class_index: 3,
        confidence: 0.75,
        top_k: vec![
            TopK {
                class: class.to_owned(),
                probability: 0.75,
            },
            TopK {
                class: "dog".to_owned(),
                probability: 0.25,
            },
        ],
        inference_ms: 1.5,
        correct: None,
    }
}

fn comparison(fastest: &str) -> NewComparison {
    NewComparison {
        fastest_model: fastest.to_owned(),
        most_confident_model: "accurate".to_owned(),
        consensus_class: Some("cat".to_owned()),
        agreement: 2.0 / 3.0,
    }
}

/// Sets `created_at` of an image (to build ties and known orders).
async fn set_image_time(db: &Db, id: Uuid, at: chrono::DateTime<Utc>) {
    images::Entity::update_many()
        .col_expr(images::Column::CreatedAt, Expr::value(at))
        .filter(images::Column::Id.eq(id))
        .exec(db.conn())
        .await
        .unwrap();
}

async fn set_prediction_time(db: &Db, image_id: Uuid, at: chrono::DateTime<Utc>) {
    predictions::Entity::update_many()
        .col_expr(predictions::Column::CreatedAt, Expr::value(at))
        .filter(predictions::Column::ImageId.eq(image_id))
        .exec(db.conn())
        .await
        .unwrap();
}

/// Reads every page of `list_images` with `page` rows per page, passing the cursor through its
/// string form as a client would.
async fn all_pages(db: &Db, filter: &ImageFilter, page: u64) -> Vec<images::Model> {
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let rows = db.list_images(filter, after, page).await.unwrap();
        assert!(rows.len() as u64 <= page);
        let Some(last) = rows.last() else { break };
        let token = Cursor::from(last).encode();
        after = Some(Cursor::decode(&token).unwrap());
        let full = rows.len() as u64 == page;
        out.extend(rows);
        if !full {
            break;
        }
    }
    out
}

fn newest_first(mut rows: Vec<(chrono::DateTime<Utc>, Uuid)>) -> Vec<Uuid> {
    rows.sort_by(|a, b| b.cmp(a));
    rows.into_iter().map(|(_, id)| id).collect()
}

fn approx(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

// ----- cases ---------------------------------------------------------------------------------

async fn insert_and_get(db: Db) {
    db.ping().await.unwrap();
    let a = db
        .insert_image(new_image("upload", Some("cat")))
        .await
        .unwrap();
    let b = db.insert_image(new_image("batch", None)).await.unwrap();
    assert_eq!(a.status, images::STATUS_PENDING);
    assert!(a.descriptors.is_none() && a.completed_at.is_none());
    assert_eq!(a.created_at.timestamp_subsec_nanos() % 1000, 0);

    assert_eq!(db.get_image(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(db.get_image(b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(db.get_image(Uuid::new_v4()).await.unwrap(), None);

    let mut got = db.get_images(&[b.id, Uuid::new_v4(), a.id]).await.unwrap();
    got.sort_by_key(|m| m.id);
    let mut want = vec![a.clone(), b.clone()];
    want.sort_by_key(|m| m.id);
    assert_eq!(got, want);
    assert!(db.get_images(&[]).await.unwrap().is_empty());

    // The same content may be uploaded twice.
    let mut again = new_image("upload", None);
    again.content_hash = a.content_hash.clone();
    db.insert_image(again).await.unwrap();
    // The id is the primary key.
    let mut dup = new_image("upload", None);
    dup.id = a.id;
    assert!(matches!(
        db.insert_image(dup).await,
        Err(DbError::Database(_))
    ));
    // Migrations are idempotent.
    db.migrate().await.unwrap();
}

async fn pagination_has_no_duplicates_or_gaps(db: Db) {
    let mut expected = Vec::new();
    for i in 0..23 {
        let m = db
            .insert_image(new_image(if i % 2 == 0 { "even" } else { "odd" }, None))
            .await
            .unwrap();
        expected.push((m.created_at, m.id));
    }
    let expected = newest_first(expected);
    for page in [1, 5, 7, 23, 100] {
        let got: Vec<Uuid> = all_pages(&db, &ImageFilter::default(), page)
            .await
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(got, expected, "page size {page}");
    }
    // Pagination combined with a filter.
    let filter = ImageFilter {
        source: Some("odd".to_owned()),
        ..Default::default()
    };
    let odd = all_pages(&db, &filter, 4).await;
    assert_eq!(odd.len(), 11);
    assert!(odd.iter().all(|m| m.source == "odd"));
    let unique: HashSet<Uuid> = odd.iter().map(|m| m.id).collect();
    assert_eq!(unique.len(), 11);
    assert_eq!(db.list_images(&filter, None, 0).await.unwrap(), vec![]);
}

async fn pagination_with_equal_timestamps(db: Db) {
    // Groups of images share one timestamp, so the order relies on the id tie-break.
    let base = Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap();
    let stamps = [
        base,
        base + Duration::microseconds(1),
        base + Duration::milliseconds(100),
        base + Duration::milliseconds(100) + Duration::microseconds(1),
        base + Duration::seconds(1),
        base + Duration::milliseconds(1500) + Duration::microseconds(999_999 - 500_000),
    ];
    let mut expected = Vec::new();
    for i in 0..30 {
        let m = db.insert_image(new_image("upload", None)).await.unwrap();
        let at = stamps[i % stamps.len()];
        set_image_time(&db, m.id, at).await;
        expected.push((at, m.id));
    }
    let expected = newest_first(expected);
    for page in [1, 2, 3, 4, 7, 29, 30, 31] {
        let got: Vec<Uuid> = all_pages(&db, &ImageFilter::default(), page)
            .await
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(got, expected, "page size {page}");
    }
    // A cursor that names no row still positions the listing.
    let cursor = Cursor::new(base + Duration::milliseconds(100), Uuid::nil());
    let rest = db
        .list_images(&ImageFilter::default(), Some(cursor), 100)
        .await
        .unwrap();
    assert_eq!(rest.len(), 10);
    assert!(
        rest.iter()
            .all(|m| m.created_at < base + Duration::milliseconds(100))
    );
}

async fn filters_and_counts(db: Db) {
    let specs = [
        ("upload", Some("cat")),
        ("upload", Some("dog")),
        ("upload", None),
        ("cifar10", Some("cat")),
        ("cifar10", Some("cat")),
        ("webcam", None),
    ];
    let mut ids = Vec::new();
    for (source, label) in specs {
        ids.push(db.insert_image(new_image(source, label)).await.unwrap().id);
    }
    db.mark_failed(ids[0], "corrupt").await.unwrap();
    db.set_extracted(ids[3], &[0.5, 0.25], "v1", 3.0)
        .await
        .unwrap();

    let check = async |filter: ImageFilter, want: &[usize]| {
        let mut got: Vec<Uuid> = db
            .list_images(&filter, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        got.sort();
        let mut want: Vec<Uuid> = want.iter().map(|&i| ids[i]).collect();
        want.sort();
        assert_eq!(got, want, "{filter:?}");
        assert_eq!(
            db.count_images(&filter).await.unwrap(),
            want.len() as u64,
            "{filter:?}"
        );
    };
    let f = |source: Option<&str>, status: Option<&str>, label: Option<&str>| ImageFilter {
        source: source.map(str::to_owned),
        status: status.map(str::to_owned),
        label: label.map(str::to_owned),
    };
    check(f(None, None, None), &[0, 1, 2, 3, 4, 5]).await;
    check(f(Some("upload"), None, None), &[0, 1, 2]).await;
    check(f(None, None, Some("cat")), &[0, 3, 4]).await;
    check(f(Some("cifar10"), None, Some("cat")), &[3, 4]).await;
    check(f(None, Some(images::STATUS_PENDING), None), &[1, 2, 4, 5]).await;
    check(f(None, Some(images::STATUS_FAILED), None), &[0]).await;
    check(f(None, Some(images::STATUS_EXTRACTED), Some("cat")), &[3]).await;
    check(f(Some("nowhere"), None, None), &[]).await;
}

async fn bad_cursor_is_a_typed_error(db: Db) {
    let m = db.insert_image(new_image("upload", None)).await.unwrap();
    let good = Cursor::from(&m).encode();
    assert_eq!(Cursor::decode(&good).unwrap(), Cursor::from(&m));
    assert_eq!(good.parse::<Cursor>().unwrap().encode(), good);
    for bad in [
        "",
        "not a cursor",
        "zz",
        &good[..good.len() - 2],
        &format!("{good}00"),
        &format!("ff{}", &good[2..]),
    ] {
        match Cursor::decode(bad) {
            Err(DbError::InvalidCursor(msg)) => assert!(msg.contains("cursor") || !msg.is_empty()),
            other => panic!("decode({bad:?}) gave {other:?}"),
        }
    }
}

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

async fn complete_images_in_one_transaction(db: Db) {
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(db.insert_image(new_image("upload", None)).await.unwrap().id);
    }
    assert!(db.complete_image(ids[0], comparison("fast")).await.unwrap());
    let completed = db
        .complete_images(ids.iter().map(|id| (*id, comparison("balanced"))).collect())
        .await
        .unwrap();
    let completed: HashSet<Uuid> = completed.into_iter().collect();
    assert_eq!(completed, HashSet::from([ids[1], ids[2]]));
    for id in &ids {
        let image = db.get_image(*id).await.unwrap().unwrap();
        assert_eq!(image.status, images::STATUS_COMPLETED);
        assert!(image.completed_at.is_some());
    }
    let comps = db.comparisons_for_images(&ids).await.unwrap();
    let first = comps.iter().find(|c| c.image_id == ids[0]).unwrap();
    assert_eq!(first.fastest_model, "fast", "the first comparison stays");
    assert!(db.complete_images(Vec::new()).await.unwrap().is_empty());

    // A missing image: nothing of the call is written.
    let pending = db.insert_image(new_image("upload", None)).await.unwrap();
    assert!(matches!(
        db.complete_images(vec![
            (pending.id, comparison("fast")),
            (Uuid::new_v4(), comparison("fast")),
        ])
        .await,
        Err(DbError::NotFound { .. })
    ));
    let still = db.get_image(pending.id).await.unwrap().unwrap();
    assert_eq!(still.status, images::STATUS_PENDING);
    assert!(
        db.comparisons_for_images(&[pending.id])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn complete_image_only_once(db: Db) {
    let image = db.insert_image(new_image("upload", None)).await.unwrap();
    db.set_extracted(image.id, &[0.1, 0.2], "ext-1", 2.0)
        .await
        .unwrap();
    assert!(
        db.complete_image(image.id, comparison("fast"))
            .await
            .unwrap()
    );
    let done = db.get_image(image.id).await.unwrap().unwrap();
    assert_eq!(done.status, images::STATUS_COMPLETED);
    let completed_at = done.completed_at.expect("completed_at set");
    assert!(completed_at >= done.created_at);

    assert!(
        !db.complete_image(image.id, comparison("balanced"))
            .await
            .unwrap()
    );
    let again = db.get_image(image.id).await.unwrap().unwrap();
    assert_eq!(again.completed_at, Some(completed_at));

    let other = db.insert_image(new_image("upload", None)).await.unwrap();
    let comps = db
        .comparisons_for_images(&[image.id, other.id])
        .await
        .unwrap();
    assert_eq!(comps.len(), 1);
    let c = &comps[0];
    assert_eq!(c.image_id, image.id);
    assert_eq!(c.fastest_model, "fast");
    assert_eq!(c.most_confident_model, "accurate");
    assert_eq!(c.consensus_class.as_deref(), Some("cat"));
    assert!(approx(c.agreement, 2.0 / 3.0));
    assert_eq!(c.created_at, completed_at);

    // No consensus is representable.
    let mut none = comparison("fast");
    none.consensus_class = None;
    none.agreement = 1.0 / 3.0;
    assert!(db.complete_image(other.id, none).await.unwrap());
    let c = db.comparisons_for_images(&[other.id]).await.unwrap();
    assert_eq!(c[0].consensus_class, None);
}

async fn cascade_delete(db: Db) {
    let keep = db.insert_image(new_image("upload", None)).await.unwrap();
    let gone = db.insert_image(new_image("upload", None)).await.unwrap();
    for image in [&keep, &gone] {
        for model in ["fast", "balanced", "accurate"] {
            db.insert_prediction(new_prediction(image.id, model, "v1", "cat"))
                .await
                .unwrap();
        }
        db.complete_image(image.id, comparison("fast"))
            .await
            .unwrap();
    }
    assert!(db.delete_image(gone.id).await.unwrap());
    assert!(!db.delete_image(gone.id).await.unwrap());
    assert_eq!(db.get_image(gone.id).await.unwrap(), None);
    assert!(
        db.predictions_for_images(&[gone.id])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.comparisons_for_images(&[gone.id])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.predictions_for_images(&[keep.id]).await.unwrap().len(),
        3
    );
    assert_eq!(
        db.comparisons_for_images(&[keep.id]).await.unwrap().len(),
        1
    );
    assert_eq!(db.recent_predictions(100).await.unwrap().len(), 3);
}

async fn status_transitions_and_incomplete_images(db: Db) {
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut ids = Vec::new();
    for i in 0..5i64 {
        let m = db.insert_image(new_image("upload", None)).await.unwrap();
        // Inserted in reverse time order, so "oldest first" differs from insertion order.
        set_image_time(&db, m.id, base - Duration::minutes(i)).await;
        ids.push(m.id);
    }
    let descriptors = [0.1f32, -2.5, 3.333_333, 1e-7, 42.0];
    assert!(
        db.set_extracted(ids[1], &descriptors, "ext-1", 4.25)
            .await
            .unwrap()
    );
    // Redelivered extraction: still extracted, fine.
    assert!(
        db.set_extracted(ids[1], &descriptors, "ext-1", 4.25)
            .await
            .unwrap()
    );
    assert!(db.mark_failed(ids[2], "cannot decode").await.unwrap());
    assert!(db.complete_image(ids[3], comparison("fast")).await.unwrap());

    let extracted = db.get_image(ids[1]).await.unwrap().unwrap();
    assert_eq!(extracted.status, images::STATUS_EXTRACTED);
    assert_eq!(extracted.descriptors.as_deref(), Some(&descriptors[..]));
    assert_eq!(extracted.extractor_version.as_deref(), Some("ext-1"));
    assert_eq!(extracted.extract_ms, Some(4.25));
    let failed = db.get_image(ids[2]).await.unwrap().unwrap();
    assert_eq!(failed.status, images::STATUS_FAILED);
    assert_eq!(failed.failure_reason.as_deref(), Some("cannot decode"));

    // A completed or failed image is not moved back by a late extraction.
    assert!(!db.set_extracted(ids[3], &[1.0], "x", 1.0).await.unwrap());
    assert!(!db.set_extracted(ids[2], &[1.0], "x", 1.0).await.unwrap());
    let completed = db.get_image(ids[3]).await.unwrap().unwrap();
    assert_eq!(completed.status, images::STATUS_COMPLETED);
    // ...but a completed one keeps the late descriptors (the recorder may see the heads first).
    assert_eq!(completed.descriptors.as_deref(), Some(&[1.0f32][..]));
    assert_eq!(completed.extractor_version.as_deref(), Some("x"));
    assert_eq!(
        db.get_image(ids[2]).await.unwrap().unwrap().descriptors,
        None
    );
    // A completed image does not become failed.
    assert!(!db.mark_failed(ids[3], "late").await.unwrap());
    assert_eq!(
        db.get_image(ids[3]).await.unwrap().unwrap().status,
        images::STATUS_COMPLETED
    );

    // pending: 0, 4; extracted: 1. Oldest first: 4 (base-4m), 1 (base-1m), 0 (base).
    let incomplete: Vec<Uuid> = db
        .incomplete_images(100)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(incomplete, vec![ids[4], ids[1], ids[0]]);
    let first_two: Vec<Uuid> = db
        .incomplete_images(2)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(first_two, vec![ids[4], ids[1]]);
}

async fn descriptor_reuse_by_hash(db: Db) {
    let first = db.insert_image(new_image("upload", None)).await.unwrap();
    assert_eq!(
        db.find_extracted_by_hash(&first.content_hash)
            .await
            .unwrap(),
        None
    );
    db.set_extracted(first.id, &[1.0, 2.0], "ext-1", 1.0)
        .await
        .unwrap();
    let mut second = new_image("upload", None);
    second.content_hash = first.content_hash.clone();
    let second = db.insert_image(second).await.unwrap();
    let found = db
        .find_extracted_by_hash(&second.content_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(found.descriptors.unwrap().0, vec![1.0, 2.0]);
    assert_eq!(db.find_extracted_by_hash("00").await.unwrap(), None);
}

async fn outbox_of_unpublished_images(db: Db) {
    let published = db.insert_image(new_image("upload", None)).await.unwrap();
    let waiting = db.insert_image(new_image("upload", None)).await.unwrap();
    let young = db.insert_image(new_image("upload", None)).await.unwrap();
    assert_eq!(published.published_at, None, "new rows wait in the outbox");
    db.mark_published(&[published.id]).await.unwrap();
    set_image_time(&db, waiting.id, Utc::now() - Duration::seconds(60)).await;
    set_image_time(&db, published.id, Utc::now() - Duration::seconds(60)).await;

    // Only unpublished rows older than the cut-off, oldest first.
    let before = Utc::now() - Duration::seconds(30);
    let found = db.unpublished_images(before, 10).await.unwrap();
    assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), [waiting.id]);
    let all = db
        .unpublished_images(Utc::now() + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|i| i.id).collect::<Vec<_>>(),
        [waiting.id, young.id]
    );
    assert_eq!(db.unpublished_images(Utc::now(), 1).await.unwrap().len(), 1);

    // Marking keeps the first time and ignores unknown ids.
    let first_mark = db
        .get_image(published.id)
        .await
        .unwrap()
        .unwrap()
        .published_at;
    assert!(first_mark.is_some());
    db.mark_published(&[published.id, waiting.id, Uuid::new_v4()])
        .await
        .unwrap();
    assert_eq!(
        db.get_image(published.id)
            .await
            .unwrap()
            .unwrap()
            .published_at,
        first_mark
    );
    let rest = db
        .unpublished_images(Utc::now() + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(rest.iter().map(|i| i.id).collect::<Vec<_>>(), [young.id]);
    db.mark_published(&[]).await.unwrap();
}

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
            assert_eq!(
                [s.latency_p50_ms, s.latency_p95_ms, s.latency_p99_ms],
                pcts,
                "{model} {since:?}"
            );
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

async fn events_audit_log(db: Db) {
    let image_id = Uuid::new_v4().to_string();
    let a = db
        .record_event(
            "image.accepted",
            Some(&image_id),
            Some(json!({"source": "upload", "bytes": 1234, "nested": {"ok": true}})),
        )
        .await
        .unwrap();
    let b = db.record_event("model.loaded", None, None).await.unwrap();
    let c = db
        .record_event(
            "image.failed",
            Some(&image_id),
            Some(json!({"reason": "cannot decode"})),
        )
        .await
        .unwrap();
    let recent = db.recent_events(10).await.unwrap();
    assert_eq!(recent.len(), 3);
    // Newest first; equal timestamps (possible on a fast machine) fall back to the id order.
    let mut expected = vec![&a, &b, &c];
    expected.sort_by_key(|e| std::cmp::Reverse((e.created_at, e.id)));
    assert_eq!(recent.iter().collect::<Vec<_>>(), expected);
    let stored_a = recent.iter().find(|e| e.id == a.id).unwrap();
    assert_eq!(stored_a.kind, "image.accepted");
    assert_eq!(stored_a.subject.as_deref(), Some(image_id.as_str()));
    assert_eq!(
        stored_a.detail.as_ref().unwrap()["nested"]["ok"],
        json!(true)
    );
    assert_eq!(stored_a.detail.as_ref().unwrap()["bytes"], json!(1234));
    let stored_b = recent.iter().find(|e| e.id == b.id).unwrap();
    assert_eq!(stored_b.subject, None);
    assert_eq!(stored_b.detail, None);
    assert_eq!(db.recent_events(1).await.unwrap().len(), 1);
}

async fn connection_settings(db: Db) {
    let conn = db.conn();
    let backend = conn.get_database_backend();
    let scalar = async |sql: &str| -> String {
        let row = conn
            .query_one(Statement::from_string(backend, sql))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
            .unwrap()
    };
    match db.backend_name() {
        "sqlite" => {
            assert_eq!(scalar("PRAGMA journal_mode").await, "wal");
            assert_eq!(scalar("PRAGMA foreign_keys").await, "1");
            assert_eq!(scalar("PRAGMA busy_timeout").await, "10000");
        }
        "postgres" => {
            let version: i64 = scalar("SHOW server_version_num").await.parse().unwrap();
            assert!(version >= 120000, "{version}");
        }
        other => panic!("unexpected backend {other}"),
    }
    assert_eq!(
        scalar("SELECT COUNT(*) FROM seaql_migrations").await,
        "2",
        "every migration applied"
    );
}

async fn non_finite_numbers_are_refused(db: Db) {
    let image = db.insert_image(new_image("upload", None)).await.unwrap();
    assert!(matches!(
        db.set_extracted(image.id, &[1.0, f32::NAN], "v1", 1.0)
            .await,
        Err(DbError::InvalidInput(_))
    ));
    assert!(matches!(
        db.set_extracted(image.id, &[1.0], "v1", f64::INFINITY)
            .await,
        Err(DbError::InvalidInput(_))
    ));
    let mut p = new_prediction(image.id, "fast", "v1", "cat");
    p.confidence = f64::NAN;
    assert!(matches!(
        db.insert_prediction(p).await,
        Err(DbError::InvalidInput(_))
    ));
    let mut p = new_prediction(image.id, "fast", "v1", "cat");
    p.top_k[1].probability = f64::NEG_INFINITY;
    assert!(matches!(
        db.insert_prediction(p).await,
        Err(DbError::InvalidInput(_))
    ));
    let mut c = comparison("fast");
    c.agreement = f64::NAN;
    assert!(matches!(
        db.complete_image(image.id, c).await,
        Err(DbError::InvalidInput(_))
    ));
    // Nothing was written.
    let stored = db.get_image(image.id).await.unwrap().unwrap();
    assert_eq!(stored.status, images::STATUS_PENDING);
    assert!(
        db.predictions_for_images(&[image.id])
            .await
            .unwrap()
            .is_empty()
    );
}

async fn descriptors_are_stored_compactly(db: Db) {
    let image = db.insert_image(new_image("upload", None)).await.unwrap();
    let values: Vec<f32> = (0..20).map(|i| i as f32 * 0.1 - 0.95).collect();
    db.set_extracted(image.id, &values, "v1", 1.0)
        .await
        .unwrap();
    // Read the stored JSON text itself.
    let conn = db.conn();
    let backend = conn.get_database_backend();
    let sql = match db.backend_name() {
        "postgres" => "SELECT descriptors::text FROM images",
        _ => "SELECT descriptors FROM images",
    };
    let row = conn
        .query_one(Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    let text: String = row.try_get_by_index(0).unwrap();
    let parsed: Vec<f64> = serde_json::from_str(&text).unwrap();
    for (stored, original) in parsed.iter().zip(&values) {
        assert_eq!(stored.to_string(), original.to_string(), "{text}");
    }
    assert!(text.len() < 20 * 12, "{} bytes: {text}", text.len());
    // And it reads back bit for bit.
    let back = db.get_image(image.id).await.unwrap().unwrap();
    assert_eq!(back.descriptors.unwrap().0, values);
}
