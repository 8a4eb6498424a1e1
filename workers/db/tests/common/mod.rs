//! Test harness: runs one repository test case against a fresh SQLite file or a fresh
//! PostgreSQL database; the fixtures the test files share (module `fixtures`).
//!
//! Every test file includes this module and uses part of it.
#![allow(dead_code)]

mod fixtures;

#[allow(unused_imports)] // Not every test file needs the fixtures.
pub use fixtures::*;

use std::future::Future;
use std::panic::resume_unwind;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;
use vision_db::Db;

/// Default PostgreSQL server used by the tests; override with `VISION_TEST_POSTGRES_URL`.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `case` on a fresh database of `backend`, then removes the database (also when the case
/// panics, whose panic is then re-raised).
pub async fn run<F, Fut>(backend: Backend, case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let path = dir.path().join("vision.db");
            let url = format!("sqlite://{}", path.display());
            let db = Db::connect(&url).await.expect("connect to SQLite");
            assert_eq!(db.backend_name(), "sqlite");
            let result = tokio::spawn(case(db.clone())).await;
            db.close().await.expect("close SQLite");
            drop(dir);
            if let Err(err) = result {
                resume_unwind(err.into_panic());
            }
        }
        Backend::Postgres => {
            let base = std::env::var("VISION_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
            let admin = admin_connection(&base).await;
            let name = format!("vision_test_{}", Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {base}: {e}"));
            let url = with_database(&base, &name);
            let result = match Db::connect(&url).await {
                Ok(db) => {
                    assert_eq!(db.backend_name(), "postgres");
                    let result = tokio::spawn(case(db.clone())).await;
                    db.close().await.expect("close PostgreSQL pool");
                    Ok(result)
                }
                Err(e) => Err(e),
            };
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await
                .unwrap_or_else(|e| panic!("DROP DATABASE {name}: {e}"));
            admin.close().await.ok();
            match result {
                Ok(Ok(())) => {}
                Ok(Err(err)) => resume_unwind(err.into_panic()),
                Err(e) => panic!("Db::connect({url}) failed: {e}"),
            }
        }
    }
}

async fn admin_connection(base: &str) -> DatabaseConnection {
    let mut opts = ConnectOptions::new(base.to_owned());
    opts.max_connections(1)
        .sqlx_logging(false)
        .connect_timeout(std::time::Duration::from_secs(5));
    match Database::connect(opts).await {
        Ok(conn) => conn,
        Err(e) => panic!(
            "\n\nPostgreSQL is not reachable at {base}: {e}\n\
             These tests need a PostgreSQL server (they never skip). Start one, e.g.\n  \
             service postgresql start   (then: createdb -U postgres test)\n  \
             or: docker run -d -p 5432:5432 -e POSTGRES_HOST_AUTH_METHOD=trust \
             -e POSTGRES_DB=test postgres:16\n\
             or point VISION_TEST_POSTGRES_URL at a server where the user may CREATE DATABASE.\n"
        ),
    }
}

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (without_query, query) = match base.split_once('?') {
        Some((u, q)) => (u, Some(q)),
        None => (base, None),
    };
    let scheme_end = without_query.find("://").map_or(0, |i| i + 3);
    let server = match without_query[scheme_end..].find('/') {
        Some(i) => &without_query[..scheme_end + i],
        None => without_query,
    };
    match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    }
}

/// Declares every listed case (an `async fn(Db)` in scope) once per backend:
/// `sqlite::<case>` and `postgres::<case>`.
#[macro_export]
macro_rules! backend_tests {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::common::run($crate::common::Backend::Sqlite, super::$case).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::common::run($crate::common::Backend::Postgres, super::$case).await;
                }
            )*
        }
    };
}

#[test]
fn with_database_replaces_the_name() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
