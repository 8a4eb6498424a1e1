//! Image rows: insert and read, pagination and filters, status transitions, descriptors,
//! deletion; every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;
use vision_db::{Cursor, Db, DbError, ImageFilter, ImageStatus};

use common::*;

backend_tests!(
    insert_and_get,
    pagination_has_no_duplicates_or_gaps,
    pagination_with_equal_timestamps,
    filters_and_counts,
    bad_cursor_is_a_typed_error,
    cascade_delete,
    status_transitions_and_incomplete_images,
    descriptor_reuse_by_hash,
    non_finite_numbers_are_refused,
    descriptors_are_stored_compactly,
    other_extractors_descriptors_are_kept_and_back_tested,
    unknown_status_is_an_error,
);

async fn insert_and_get(db: Db) {
    db.ping().await.unwrap();
    let a = db
        .insert_image(new_image("upload", Some("cat")))
        .await
        .unwrap();
    let b = db.insert_image(new_image("batch", None)).await.unwrap();
    assert_eq!(a.status, ImageStatus::Pending);
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
    let f = |source: Option<&str>, status: Option<ImageStatus>, label: Option<&str>| ImageFilter {
        source: source.map(str::to_owned),
        status,
        label: label.map(str::to_owned),
    };
    check(f(None, None, None), &[0, 1, 2, 3, 4, 5]).await;
    check(f(Some("upload"), None, None), &[0, 1, 2]).await;
    check(f(None, None, Some("cat")), &[0, 3, 4]).await;
    check(f(Some("cifar10"), None, Some("cat")), &[3, 4]).await;
    check(f(None, Some(ImageStatus::Pending), None), &[1, 2, 4, 5]).await;
    check(f(None, Some(ImageStatus::Failed), None), &[0]).await;
    check(f(None, Some(ImageStatus::Extracted), Some("cat")), &[3]).await;
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
    assert_eq!(extracted.status, ImageStatus::Extracted);
    assert_eq!(extracted.descriptors.as_deref(), Some(&descriptors[..]));
    assert_eq!(extracted.extractor_version.as_deref(), Some("ext-1"));
    assert_eq!(extracted.extract_ms, Some(4.25));
    let failed = db.get_image(ids[2]).await.unwrap().unwrap();
    assert_eq!(failed.status, ImageStatus::Failed);
    assert_eq!(failed.failure_reason.as_deref(), Some("cannot decode"));

    // A completed or failed image is not moved back by a late extraction.
    assert!(!db.set_extracted(ids[3], &[1.0], "x", 1.0).await.unwrap());
    assert!(!db.set_extracted(ids[2], &[1.0], "x", 1.0).await.unwrap());
    let completed = db.get_image(ids[3]).await.unwrap().unwrap();
    assert_eq!(completed.status, ImageStatus::Completed);
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
        ImageStatus::Completed
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
    assert_eq!(stored.status, ImageStatus::Pending);
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

/// A stored status that is not an [`ImageStatus`] is an error when read, not taken for another
/// status.
async fn unknown_status_is_an_error(db: Db) {
    let good = db.insert_image(new_image("upload", None)).await.unwrap();
    let id = Uuid::new_v4();
    let conn = db.conn();
    let backend = conn.get_database_backend();
    let values = match db.backend_name() {
        "postgres" => "($1, $2, 'k', 'h', 'image/png', 1, 1, 1, 'upload', 'bogus')",
        _ => "(?, ?, 'k', 'h', 'image/png', 1, 1, 1, 'upload', 'bogus')",
    };
    let sql = format!(
        "INSERT INTO images (id, created_at, object_key, content_hash, content_type, \
         size_bytes, width, height, source, status) VALUES {values}"
    );
    conn.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [id.into(), vision_db::now().into()],
    ))
    .await
    .unwrap();

    let unreadable = |result: Result<_, DbError>| match result {
        Err(e @ DbError::Database(_)) => assert!(e.to_string().contains("bogus"), "{e}"),
        Err(e) => panic!("expected a database error, got {e:?}"),
        Ok(rows) => panic!("read an unknown status as {rows:?}"),
    };
    unreadable(db.get_image(id).await.map(|m| vec![m.unwrap()]));
    unreadable(db.get_images(&[good.id, id]).await);
    unreadable(db.list_images(&ImageFilter::default(), None, 10).await);
    // The row is there; the ones with a known status still read.
    assert_eq!(db.count_images(&ImageFilter::default()).await.unwrap(), 2);
    let pending = ImageFilter {
        status: Some(ImageStatus::Pending),
        ..Default::default()
    };
    assert_eq!(
        db.list_images(&pending, None, 10).await.unwrap(),
        vec![good]
    );
}

/// Descriptors of another extractor version (a head of another descriptor size) are kept beside
/// the image's own, once, go with the image, and are what a back-test of that extractor's heads
/// reads; the image's own stay what a back-test of its extractor reads.
async fn other_extractors_descriptors_are_kept_and_back_tested(db: Db) {
    let image = db
        .insert_image(new_image("upload", Some("cat")))
        .await
        .unwrap();
    db.set_extracted(image.id, &[0.25; 3], "e20", 1.0)
        .await
        .unwrap();
    assert!(!db.has_descriptors_of("e50").await.unwrap());
    db.set_other_descriptors(image.id, &[("e50".into(), vec![0.5; 5])])
        .await
        .unwrap();
    // A redelivery keeps what is stored.
    db.set_other_descriptors(image.id, &[("e50".into(), vec![0.75; 5])])
        .await
        .unwrap();
    assert_eq!(
        db.other_descriptors(image.id).await.unwrap(),
        vec![("e50".to_string(), vec![0.5; 5])]
    );
    let refused = db
        .set_other_descriptors(image.id, &[("e10".into(), vec![f32::NAN])])
        .await;
    assert!(
        matches!(refused, Err(DbError::InvalidInput(_))),
        "{refused:?}"
    );
    assert!(db.has_descriptors_of("e50").await.unwrap());
    assert!(db.has_descriptors_of("e20").await.unwrap());
    assert!(!db.has_descriptors_of("e10").await.unwrap());

    db.insert_prediction(new_prediction(image.id, "fast", "v1", "dog"))
        .await
        .unwrap();
    let window = vision_db::ImageWindow {
        since: None,
        until: None,
        limit: 10,
    };
    let other = db.stored_answers("fast", "e50", &window).await.unwrap();
    assert_eq!(other.len(), 1);
    assert_eq!(other[0].descriptors, vec![0.5; 5]);
    assert_eq!(
        (other[0].class.as_str(), other[0].label.as_deref()),
        ("dog", Some("cat"))
    );
    let own = db.stored_answers("fast", "e20", &window).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].descriptors, vec![0.25; 3]);
    assert!(
        db.stored_answers("fast", "e10", &window)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(db.delete_image(image.id).await.unwrap());
    assert!(db.other_descriptors(image.id).await.unwrap().is_empty());
    assert!(!db.has_descriptors_of("e50").await.unwrap());
}
