//! `vision keys create|list|revoke`: API keys, straight in the database of the configuration
//! (`DATABASE_URL` / `VISION_DATA_DIR`), so that the first admin key can be made before any
//! server runs; admins can do the same over GraphQL (`createApiKey`, `apiKeys`,
//! `revokeApiKey`).

use clap::Subcommand;

use crate::auth::{self, Role};
use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Creates a key and prints it, once (only its hash is stored).
    Create {
        /// viewer (queries, subscriptions), uploader (also uploads), admin (everything).
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A name to tell the key apart (who or what uses it).
        #[arg(long, default_value = "cli")]
        name: String,
        /// Only when no key is in force (a bootstrap job that may run again).
        #[arg(long)]
        if_none: bool,
    },
    /// Lists every key (never the keys themselves).
    List,
    /// Revokes a key for good, by its id (from `list`).
    Revoke { id: uuid::Uuid },
}

fn parse_role(text: &str) -> Result<Role, String> {
    Role::parse(text).ok_or_else(|| format!("{text:?} is not a role: viewer, uploader or admin"))
}

pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let db = crate::platform::connect_db(config).await?;
    let by = format!("cli:{}", whoami());
    match command {
        KeysCommand::Create {
            role,
            name,
            if_none,
        } => {
            if if_none && db.any_active_api_key().await? {
                eprintln!("a key is in force already: none created");
                return Ok(());
            }
            let created = auth::keys::create(&db, &name, role, &by)
                .await
                .map_err(|e| anyhow::anyhow!("{}: {}", e.code.as_str(), e.message))?;
            record(
                &db,
                &by,
                "keys create",
                Some(format!("key {} ({})", created.row.id, role.as_str())),
            )
            .await?;
            eprintln!(
                "created {} key {} ({}): shown this once, keep it secret",
                created.row.role.as_str(),
                created.row.id,
                created.row.name
            );
            println!("{}", created.key);
        }
        KeysCommand::List => {
            println!(
                "{:<36}  {:<8}  {:<12}  {:<20}  {:<25}  revoked",
                "id", "role", "prefix", "name", "created"
            );
            for key in db.api_keys().await? {
                println!(
                    "{:<36}  {:<8}  {:<12}  {:<20}  {:<25}  {}",
                    key.id,
                    key.role.as_str(),
                    key.prefix,
                    key.name,
                    key.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    key.revoked_at.map_or_else(
                        || "-".to_string(),
                        |at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
                    ),
                );
            }
        }
        KeysCommand::Revoke { id } => match db.revoke_api_key(id, &by).await? {
            Some(key) => {
                record(&db, &by, "keys revoke", Some(format!("key {}", key.id))).await?;
                eprintln!("revoked key {} ({})", key.id, key.name);
            }
            None => anyhow::bail!("no API key {id}"),
        },
    }
    Ok(())
}

/// Key changes made here are on the audit log too (actor `cli:<user>`).
async fn record(
    db: &vision_db::Db,
    by: &str,
    operation: &str,
    detail: Option<String>,
) -> anyhow::Result<()> {
    db.append_audit(vision_db::NewAuditEntry {
        actor: by.to_string(),
        role: Some("admin".into()),
        ip: None,
        request_id: uuid::Uuid::new_v4().to_string(),
        operation: operation.to_string(),
        outcome: "OK".into(),
        detail,
    })
    .await?;
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}
