//! The audit log; every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use serde_json::json;
use uuid::Uuid;
use vision_db::Db;

backend_tests!(events_audit_log,);

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
