//! `vision job retention|data-quality`: a maintenance job, once, against the configured database and object
//! store (what a Kubernetes CronJob runs). Prints the run's report as JSON.

use clap::Subcommand;

use crate::config::Config;
use crate::jobs::{Job, Jobs, Outcome};

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Deletes images (with their objects), predictions and pipeline-feed rows older than the
    /// configured ages (`VISION_RETENTION_*_DAYS`), in batches.
    Retention,
    /// Checks rows against objects (missing, corrupt, without rows), images stuck,
    /// predictions and comparisons missing, and the audit chain; reports, repairs nothing.
    DataQuality,
}

pub async fn run(config: &Config, command: JobCommand) -> anyhow::Result<()> {
    let job = match command {
        JobCommand::Retention => Job::Retention,
        JobCommand::DataQuality => Job::DataQuality,
    };
    let db = crate::platform::connect_db(config).await?;
    let store = crate::platform::object_store(config).await?;
    let jobs = Jobs::new(
        db,
        store,
        config.replica_name(),
        config.retention(),
        config.quality(),
    );
    match jobs.run(job, chrono::Utc::now()).await? {
        Outcome::Busy => println!("{}: another process runs it now", job.name()),
        Outcome::Ran(run) => {
            println!("{}", run.report.as_deref().unwrap_or("null"));
            if let Some(error) = run.error {
                anyhow::bail!("{} failed: {error}", job.name());
            }
        }
    }
    Ok(())
}
