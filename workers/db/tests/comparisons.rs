//! Comparisons: completing images, once; every case runs on SQLite and on PostgreSQL (see
//! `common`).

mod common;

use std::collections::HashSet;

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::Query;
use uuid::Uuid;
use vision_db::{Db, DbError, ImageStatus, Migrator, comparisons};
use vision_migrations::MigratorTrait;

use common::*;

backend_tests!(
    complete_images_in_one_transaction,
    complete_image_only_once,
    comparisons_from_before_the_versions,
);

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
        assert_eq!(image.status, ImageStatus::Completed);
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
    assert_eq!(still.status, ImageStatus::Pending);
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
    assert_eq!(done.status, ImageStatus::Completed);
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
    assert_eq!(c.fastest_model_version, "fast-v1");
    assert_eq!(c.most_confident_model, "accurate");
    assert_eq!(c.most_confident_model_version, "accurate-v2");
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

/// A pool of one connection to `db`'s SQLite file; `None` on PostgreSQL.
async fn single_connection(db: &Db) -> Option<sea_orm::DatabaseConnection> {
    if db.backend_name() != "sqlite" {
        return None;
    }
    let row = db
        .conn()
        .query_one(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await
        .unwrap()
        .expect("the main database");
    let file: String = row.try_get("", "file").unwrap();
    let options = sea_orm::ConnectOptions::new(format!("sqlite://{file}"))
        .max_connections(1)
        .to_owned();
    Some(sea_orm::Database::connect(options).await.unwrap())
}

/// Comparisons recorded before `m20261203_000003_comparison_versions` read with empty versions.
async fn comparisons_from_before_the_versions(db: Db) {
    let image = db.insert_image(new_image("upload", None)).await.unwrap();
    // Back to the schema before the migration, a comparison as it was written then, forward.
    let migrations = Migrator::migrations();
    let at = migrations
        .iter()
        .position(|m| m.name() == "m20261203_000003_comparison_versions")
        .expect("the migration is listed");
    let steps = (migrations.len() - at) as u32;
    // On SQLite the schema goes back and forth over one connection of its own (as `Db::connect`
    // migrates): through the pool, a step could run on a connection that kept the schema it read
    // before the step that went down ("duplicate column name" when going up again).
    let single = single_connection(&db).await;
    let conn = single.as_ref().unwrap_or(db.conn());
    Migrator::down(conn, Some(steps)).await.unwrap();
    use comparisons::Column as C;
    let insert = Query::insert()
        .into_table(comparisons::Entity)
        .columns([
            C::ImageId,
            C::FastestModel,
            C::MostConfidentModel,
            C::ConsensusClass,
            C::Agreement,
            C::CreatedAt,
        ])
        .values_panic([
            image.id.into(),
            "fast".into(),
            "accurate".into(),
            "cat".into(),
            0.5.into(),
            vision_db::now().into(),
        ])
        .to_owned();
    let backend = conn.get_database_backend();
    conn.execute(backend.build(&insert)).await.unwrap();
    Migrator::up(conn, None).await.unwrap();
    if let Some(single) = single {
        single.close().await.unwrap();
    }

    let old = db.comparisons_for_images(&[image.id]).await.unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].fastest_model, "fast");
    assert_eq!(old[0].fastest_model_version, "");
    assert_eq!(old[0].most_confident_model, "accurate");
    assert_eq!(old[0].most_confident_model_version, "");
    // New comparisons keep their versions.
    let new = db.insert_image(new_image("upload", None)).await.unwrap();
    assert!(
        db.complete_image(new.id, comparison("balanced"))
            .await
            .unwrap()
    );
    let c = db.comparisons_for_images(&[new.id]).await.unwrap();
    assert_eq!(c[0].fastest_model_version, "balanced-v1");
    assert_eq!(c[0].most_confident_model_version, "accurate-v2");
}
