//! The pipeline feed: what each write appends, in commit order, read from a cursor, purged by
//! age. Every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use std::collections::BTreeSet;

use chrono::{Duration, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{EntityTrait, QueryFilter};
use uuid::Uuid;
use vision_db::{Db, FeedKind, pipeline_feed};

use common::*;

backend_tests!(
    writes_append_what_they_changed,
    a_follower_misses_nothing_among_concurrent_writers,
    purge_removes_only_older_rows_in_batches,
);

/// (kind, image, model) of every row after `after`.
async fn rows_after(db: &Db, after: i64) -> Vec<(FeedKind, Uuid, Option<String>)> {
    db.feed_after(after, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.kind, r.image_id, r.model))
        .collect()
}

async fn writes_append_what_they_changed(db: Db) {
    assert_eq!(db.feed_head().await.unwrap(), 0);
    assert_eq!(db.feed_oldest().await.unwrap(), None);
    let a = db.insert_image(new_image("upload", None)).await.unwrap().id;
    let b = db.insert_image(new_image("upload", None)).await.unwrap().id;

    let recorded = db
        .record_predictions(vec![
            new_prediction(a, "logreg", "1", "cat"),
            new_prediction(a, "mlp", "1", "cat"),
        ])
        .await
        .unwrap();
    let ids: Vec<Uuid> = recorded.stored.iter().map(|p| p.id).collect();
    // A redelivery (one old, one new) appends the new one only.
    db.record_predictions(vec![
        new_prediction(a, "mlp", "1", "cat"),
        new_prediction(b, "mlp", "1", "dog"),
    ])
    .await
    .unwrap();
    assert!(db.complete_image(a, comparison("mlp")).await.unwrap());
    assert!(!db.complete_image(a, comparison("mlp")).await.unwrap());
    assert!(db.mark_failed(b, "corrupt").await.unwrap());
    // Failing again keeps the newest reason and tells nobody.
    assert!(db.mark_failed(b, "corrupt again").await.unwrap());
    assert!(!db.mark_failed(a, "late").await.unwrap());

    let rows = db.feed_after(0, 100).await.unwrap();
    let seen: Vec<_> = rows
        .iter()
        .map(|r| (r.kind, r.image_id, r.model.clone()))
        .collect();
    let (logreg, mlp) = (Some("logreg".to_owned()), Some("mlp".to_owned()));
    assert_eq!(
        seen,
        [
            (FeedKind::PredictionRecorded, a, logreg),
            (FeedKind::PredictionRecorded, a, mlp.clone()),
            (FeedKind::PredictionRecorded, b, mlp),
            (FeedKind::ImageCompleted, a, None),
            (FeedKind::ImageFailed, b, None),
        ]
    );
    // Rows name the prediction they tell of, with its version.
    assert!(ids.contains(&rows[0].prediction_id.unwrap()));
    assert_eq!(rows[0].model_version.as_deref(), Some("1"));
    assert!(rows.windows(2).all(|w| w[0].seq < w[1].seq));
    let head = rows.last().unwrap().seq;
    assert_eq!(db.feed_head().await.unwrap(), head);
    assert_eq!(db.feed_oldest().await.unwrap(), Some(rows[0].seq));
    assert_eq!(rows_after(&db, rows[2].seq).await.len(), 2);
    assert!(db.feed_after(head, 10).await.unwrap().is_empty());
    assert_eq!(db.feed_after(0, 2).await.unwrap().len(), 2);
}

/// Eight writers at once, a follower reading from its cursor all along: when the writers are
/// done, the follower has seen every row, each once. (Without the order the writers take on
/// PostgreSQL, a follower can pass a number whose transaction commits later, and miss it.)
async fn a_follower_misses_nothing_among_concurrent_writers(db: Db) {
    const WRITERS: usize = 8;
    const IMAGES: usize = 25;
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        writers.push(tokio::spawn(async move {
            for _ in 0..IMAGES {
                let id = db.insert_image(new_image("upload", None)).await.unwrap().id;
                let model = format!("head-{w}");
                db.record_predictions(vec![new_prediction(id, &model, "1", "cat")])
                    .await
                    .unwrap();
                db.complete_image(id, comparison(&model)).await.unwrap();
            }
        }));
    }
    let follower = {
        let db = db.clone();
        tokio::spawn(async move {
            let (mut cursor, mut seen) = (0, Vec::new());
            loop {
                let rows = db.feed_after(cursor, 7).await.unwrap();
                if rows.is_empty() {
                    if seen.len() == WRITERS * IMAGES * 2 {
                        return seen;
                    }
                    tokio::task::yield_now().await;
                    continue;
                }
                for row in rows {
                    cursor = row.seq;
                    seen.push(row.seq);
                }
            }
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = tokio::time::timeout(std::time::Duration::from_secs(60), follower)
        .await
        .expect("the follower saw every row")
        .unwrap();
    let all: Vec<i64> = db
        .feed_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.seq)
        .collect();
    assert_eq!(seen, all, "the follower saw every row once, in order");
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        WRITERS * IMAGES * 2
    );
}

async fn purge_removes_only_older_rows_in_batches(db: Db) {
    let mut images = Vec::new();
    for _ in 0..5 {
        let id = db.insert_image(new_image("upload", None)).await.unwrap().id;
        db.mark_failed(id, "corrupt").await.unwrap();
        images.push(id);
    }
    // The first three rows are a day old.
    let rows = db.feed_after(0, 10).await.unwrap();
    pipeline_feed::Entity::update_many()
        .col_expr(
            pipeline_feed::Column::At,
            Expr::value(Utc::now() - Duration::days(1)),
        )
        .filter(Expr::col(pipeline_feed::Column::Seq).lte(rows[2].seq))
        .exec(db.conn())
        .await
        .unwrap();
    let cutoff = Utc::now() - Duration::hours(1);
    assert_eq!(db.purge_feed_before(cutoff, 2).await.unwrap(), 2);
    assert_eq!(db.feed_oldest().await.unwrap(), Some(rows[2].seq));
    assert_eq!(db.purge_feed_before(cutoff, 2).await.unwrap(), 1);
    assert_eq!(db.purge_feed_before(cutoff, 2).await.unwrap(), 0);
    let kept: Vec<Uuid> = rows_after(&db, 0).await.into_iter().map(|r| r.1).collect();
    assert_eq!(kept, images[3..]);
    // Numbers are never reused: a new row comes after the newest ever written.
    let id = db.insert_image(new_image("upload", None)).await.unwrap().id;
    db.mark_failed(id, "corrupt").await.unwrap();
    assert!(db.feed_head().await.unwrap() > rows[4].seq);
}
