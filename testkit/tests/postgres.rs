//! Fresh databases on the local PostgreSQL: made with their creation time in the name, and
//! those an earlier run left more than six hours ago dropped when a new one is made.

use sea_orm::{ConnectionTrait, Database, Statement};
use vision_testkit::postgres::{fresh_database, server_url};

async fn exists(name: &str) -> bool {
    let admin = Database::connect(server_url()).await.unwrap();
    let rows = admin
        .query_all(Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        ))
        .await
        .unwrap();
    let _ = admin.close().await;
    !rows.is_empty()
}

#[tokio::test]
async fn databases_left_by_earlier_runs_are_dropped_and_recent_ones_kept() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (stale, recent, foreign) = (
        format!("vision_kitcheck_{}_0123456789ab", now - 7 * 3600),
        format!("vision_kitcheck_{}_0123456789ab", now - 3600),
        "vision_kitcheck_not_ours".to_string(),
    );
    let admin = Database::connect(server_url()).await.unwrap();
    for name in [&stale, &recent, &foreign] {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .unwrap();
    }

    let url = fresh_database("vision_kitcheck").await;
    let made = url.rsplit('/').next().unwrap().to_string();
    let kept = (
        exists(&made).await,
        exists(&recent).await,
        exists(&foreign).await,
    );
    let dropped = !exists(&stale).await;
    for name in [&made, &recent, &foreign] {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await
            .unwrap();
    }
    assert_eq!(
        kept,
        (true, true, true),
        "new, recent and foreign databases kept"
    );
    assert!(dropped, "{stale} dropped");
}
