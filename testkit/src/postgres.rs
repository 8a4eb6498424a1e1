//! Fresh databases on the local PostgreSQL (`VISION_TEST_POSTGRES_URL` overrides the server;
//! scripts/services.sh starts the local one).

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

/// The server's URL, ending in a database the tests may use for administration.
pub fn server_url() -> String {
    std::env::var("VISION_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Databases this kit made longer ago than this are dropped when it makes a new one (a test
/// cannot drop its own: it may end in a panic, and its processes may still hold connections).
const KEEP_FOR: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// Creates a database with a unique name starting with `prefix` on [`server_url`]; returns
/// its URL.
pub async fn fresh_database(prefix: &str) -> String {
    fresh_database_on(&server_url(), prefix).await
}

/// [`fresh_database`] on the server of `base` (a URL ending in a database to administer from).
/// The name holds its creation time, so that earlier runs' databases can be dropped.
pub async fn fresh_database_on(base: &str, prefix: &str) -> String {
    let admin = Database::connect(base).await.unwrap_or_else(|e| {
        panic!("this test needs PostgreSQL at {base} (scripts/services.sh starts it): {e}")
    });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    drop_stale(&admin, prefix, now).await;
    let name = format!(
        "{prefix}_{now}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let _ = admin.close().await;
    let (server, _) = base.rsplit_once('/').expect("a database in the URL");
    format!("{server}/{name}")
}

/// Drops the databases named `{prefix}_{seconds}_{id}` made more than [`KEEP_FOR`] before
/// `now`. Best effort: a database another session still uses is left for next time.
async fn drop_stale(admin: &DatabaseConnection, prefix: &str, now: u64) {
    let Ok(rows) = admin
        .query_all(Statement::from_string(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database",
        ))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let Some(made) = made_at(&name, prefix) else {
            continue;
        };
        if now.saturating_sub(made) > KEEP_FOR.as_secs() {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

/// The creation time in a name this kit made with `prefix`.
fn made_at(name: &str, prefix: &str) -> Option<u64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('_')?;
    let (seconds, id) = rest.split_once('_')?;
    (id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| seconds.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::made_at;

    #[test]
    fn only_names_this_kit_made_have_a_creation_time() {
        assert_eq!(
            made_at("vision_e2e_1700000000_0123456789ab", "vision_e2e"),
            Some(1_700_000_000)
        );
        assert_eq!(
            made_at("vision_e2e_1700000000_0123456789", "vision_e2e"),
            None
        );
        assert_eq!(made_at("vision_e2e_abc_0123456789ab", "vision_e2e"), None);
        assert_eq!(
            made_at("vision_bench_1700000000_0123456789ab", "vision_e2e"),
            None
        );
        assert_eq!(made_at("test", "vision_e2e"), None);
    }
}
