//! The upload outbox (`published_at`); every case runs on SQLite and on PostgreSQL (see
//! `common`).

mod common;

use chrono::{Duration, Utc};
use uuid::Uuid;
use vision_db::Db;

use common::*;

backend_tests!(outbox_of_unpublished_images,);

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
