//! The `vision` command line: one binary for every role of the platform.

mod audit;
mod dataset;
mod job;
mod keys;
mod models;
mod serve;
mod stats;
mod stream;
mod upload;
mod watch;
mod worker;

use clap::{Parser, Subcommand};

use crate::client::Client;
use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "vision",
    version,
    about = "Real-time multi-model vision platform"
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Everything in one process: gateway, extractor, classifiers and recorder.
    Serve,
    /// The GraphQL gateway alone (distributed mode).
    Api,
    /// One processing stage of the stage table (distributed mode).
    Worker {
        /// The stage to run.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(
            vision_core::stage::STAGES.iter().map(|s| s.name)
        ))]
        stage: String,
        /// For a stage per head (`classifier`): the head to run; repeat for several; every
        /// head of the bundle when absent.
        #[arg(long = "model")]
        models: Vec<String>,
    },
    /// Prints the GraphQL schema (SDL), as kept in `schema.graphql`.
    Schema,
    /// The audit log in the configured database: verify its hash chain, list entries.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Runs a maintenance job once against the configured database and object store (for a
    /// Kubernetes CronJob); prints its report. One run at a time across replicas: if another
    /// process runs it now, says so and exits 0.
    Job {
        #[command(subcommand)]
        command: job::JobCommand,
    },
    /// API keys and their roles, in the configured database.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Datasets for replays.
    Dataset {
        #[command(subcommand)]
        command: dataset::DatasetCommand,
    },
    /// Uploads images to a running server and prints their predictions (a GraphQL client).
    Upload {
        #[command(flatten)]
        server: ServerUrl,
        #[command(flatten)]
        args: upload::UploadArgs,
    },
    /// Prints predictions live as a running server records them.
    Watch {
        #[command(flatten)]
        server: ServerUrl,
        #[command(flatten)]
        args: watch::WatchArgs,
    },
    /// Prints the models' statistics of a running server.
    Stats {
        #[command(flatten)]
        server: ServerUrl,
        #[command(flatten)]
        args: stats::StatsArgs,
    },
    /// The model registry of a running server: list, register, promote, roll back, archive.
    Models {
        #[command(flatten)]
        server: ServerUrl,
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Replays a dataset through a running server and follows its progress.
    Stream {
        #[command(flatten)]
        server: ServerUrl,
        #[command(flatten)]
        args: stream::StreamArgs,
    },
}

/// The server a client command talks to.
#[derive(Debug, clap::Args)]
pub struct ServerUrl {
    /// Root URL of the server.
    #[arg(
        long,
        env = "VISION_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
}

impl Cli {
    pub async fn run(mut self) -> anyhow::Result<()> {
        if matches!(
            self.command,
            Command::Serve | Command::Api | Command::Worker { .. }
        ) {
            self.config.resolve_runtime();
        }
        match self.command {
            Command::Serve => serve::serve(&self.config).await,
            Command::Api => serve::api(&self.config).await,
            Command::Worker { stage, models } => {
                let kind = vision_core::stage::StageKind::named(&stage)
                    .expect("clap only lets the table's stage names through");
                if !models.is_empty() && !kind.spec().per_head {
                    anyhow::bail!("--model is for a stage per head; {stage} is not one");
                }
                worker::run(&self.config, kind, models).await
            }
            Command::Schema => {
                print!("{}", crate::graphql::sdl());
                Ok(())
            }
            Command::Dataset { command } => dataset::run(&self.config, command).await,
            Command::Keys { command } => keys::run(&self.config, command).await,
            Command::Job { command } => job::run(&self.config, command).await,
            Command::Audit { command } => audit::run(&self.config, command).await,
            Command::Upload { server, args } => upload::run(&Client::new(&server.url), args).await,
            Command::Watch { server, args } => watch::run(&Client::new(&server.url), args).await,
            Command::Stats { server, args } => stats::run(&Client::new(&server.url), args).await,
            Command::Stream { server, args } => stream::run(&Client::new(&server.url), args).await,
            Command::Models { server, command } => {
                models::run(&Client::new(&server.url), command).await
            }
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutdown requested");
}
