//! API keys; every case runs on SQLite and on PostgreSQL (see `common`).

mod common;

use vision_db::{Db, NewApiKey, Role};

backend_tests!(keys_are_found_by_hash_until_revoked, a_hash_is_stored_once,);

fn key(hash: &str, role: Role) -> NewApiKey {
    NewApiKey {
        name: "k".into(),
        role,
        prefix: "vsk_0000".into(),
        key_hash: hash.into(),
        created_by: "test".into(),
    }
}

async fn keys_are_found_by_hash_until_revoked(db: Db) {
    assert!(!db.any_active_api_key().await.unwrap());
    let viewer = db.create_api_key(key("h1", Role::Viewer)).await.unwrap();
    let admin = db.create_api_key(key("h2", Role::Admin)).await.unwrap();
    assert!(db.any_active_api_key().await.unwrap());
    assert_eq!(
        db.active_api_key("h1").await.unwrap().unwrap().role,
        Role::Viewer
    );
    assert!(db.active_api_key("nope").await.unwrap().is_none());
    assert!(Role::Admin > Role::Uploader && Role::Uploader > Role::Viewer);

    let revoked = db
        .revoke_api_key(viewer.id, "admin")
        .await
        .unwrap()
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    assert_eq!(revoked.revoked_by.as_deref(), Some("admin"));
    assert!(db.active_api_key("h1").await.unwrap().is_none());
    // Revoking again changes nothing; an unknown id is none.
    let again = db
        .revoke_api_key(viewer.id, "other")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.revoked_by.as_deref(), Some("admin"));
    assert!(
        db.revoke_api_key(uuid::Uuid::new_v4(), "x")
            .await
            .unwrap()
            .is_none()
    );

    let listed = db.api_keys().await.unwrap();
    assert_eq!(listed.len(), 2);
    db.revoke_api_key(admin.id, "admin").await.unwrap();
    assert!(!db.any_active_api_key().await.unwrap());
}

async fn a_hash_is_stored_once(db: Db) {
    db.create_api_key(key("same", Role::Viewer)).await.unwrap();
    assert!(db.create_api_key(key("same", Role::Admin)).await.is_err());
    assert_eq!(db.api_keys().await.unwrap().len(), 1);
}
