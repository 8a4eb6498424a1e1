//! Fresh databases on the local PostgreSQL (`VISION_TEST_POSTGRES_URL` overrides the server;
//! scripts/services.sh starts the local one).

use sea_orm::{ConnectionTrait, Database};

/// The server's URL, ending in a database the tests may use for administration.
pub fn server_url() -> String {
    std::env::var("VISION_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Creates a database with a unique name starting with `prefix` on [`server_url`]; returns
/// its URL.
pub async fn fresh_database(prefix: &str) -> String {
    fresh_database_on(&server_url(), prefix).await
}

/// [`fresh_database`] on the server of `base` (a URL ending in a database to administer from).
pub async fn fresh_database_on(base: &str, prefix: &str) -> String {
    let admin = Database::connect(base).await.unwrap_or_else(|e| {
        panic!("this test needs PostgreSQL at {base} (scripts/services.sh starts it): {e}")
    });
    let name = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let _ = admin.close().await;
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    format!("{server}/{name}")
}
