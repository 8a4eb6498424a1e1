//! Connection settings and migrations; every case runs on SQLite and on PostgreSQL (see
//! `common`).

mod common;

use sea_orm::{ConnectionTrait, Statement};
use vision_db::{Db, Migrator};
use vision_migrations::MigratorTrait;

backend_tests!(connection_settings,);

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
        Migrator::migrations().len().to_string(),
        "every migration applied"
    );
}
