//! `vision audit verify|list`: the audit log in the configured database. `verify` walks the
//! whole hash chain and fails (exit status 1) at the first entry changed, removed or inserted
//! afterwards.

use clap::Subcommand;

use crate::config::Config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Checks the hash chain from the first entry to the last.
    Verify,
    /// Prints the latest entries, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

pub async fn run(config: &Config, command: AuditCommand) -> anyhow::Result<()> {
    let db = crate::platform::connect_db(config).await?;
    match command {
        AuditCommand::Verify => {
            let verification = db.verify_audit_log().await?;
            match verification.broken {
                None => println!("audit log intact: {} entries", verification.entries),
                Some((seq, why)) => anyhow::bail!(
                    "audit log BROKEN at entry {seq}: {why} ({} entries before it are intact)",
                    verification.entries
                ),
            }
        }
        AuditCommand::List { limit } => {
            let filter = vision_db::AuditFilter {
                limit,
                ..Default::default()
            };
            for entry in db.audit_log(&filter).await? {
                println!(
                    "{:>6}  {}  {:<44}  {:<8}  {:<15}  {:<32}  {}",
                    entry.seq,
                    entry.at.format("%Y-%m-%d %H:%M:%S"),
                    entry.actor,
                    entry.role.as_deref().unwrap_or("-"),
                    entry.ip.as_deref().unwrap_or("-"),
                    entry.operation,
                    entry.outcome
                );
            }
        }
    }
    Ok(())
}
