//! Wiring: everything a process runs, started in order and stopped together. `serve` starts the
//! whole platform in one process (what the integration tests do too, on a random port); the
//! split subcommands start one part each.

mod distributed;
mod gateway;
pub(crate) mod stages;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vision_core::bus::MemoryBus;
use vision_core::cache::{DescriptorCache, RedisCache};
use vision_core::objects::{LocalStore, S3Settings, S3Store};
use vision_core::stage::STAGES;
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;

pub use distributed::distributed_bus;

use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::state::AppState;
use vision_registry::Registry;

/// How long running work may take to finish after a shutdown request.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The tasks of one process: each ends with its name and outcome.
pub(crate) type Tasks = JoinSet<(String, anyhow::Result<()>)>;

/// A running process: its HTTP address, its state, its tasks.
pub struct Platform {
    pub addr: SocketAddr,
    pub state: AppState,
    bus: Arc<dyn MessageBus>,
    shutdown: CancellationToken,
    tasks: Tasks,
}

impl Platform {
    /// The whole platform in one process (embedded mode): in-process bus, local object store,
    /// SQLite (or `DATABASE_URL`), and every stage of the stage table (the extractor, one
    /// classifier per head, the recorder) behind the gateway. Returns once everything runs and
    /// earlier incomplete work is requeued.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let bus: Arc<dyn MessageBus> = Arc::new(MemoryBus::new());
        let mut platform = Self::launch_gateway(config, bus).await?;
        let state = &platform.state;
        let stages = stages::Stages {
            config,
            registry: Some(state.registry.clone()),
            bus: platform.bus.clone(),
            store: Some(state.store.clone()),
            db: Some(state.db.clone()),
            shutdown: &platform.shutdown,
        };
        stages.declare_groups().await?;
        for spec in STAGES {
            stages.launch(spec, &[], &mut platform.tasks).await?;
        }
        // Maintenance on a schedule (distributed, CronJobs run `vision job ...` instead).
        for (job, minutes) in [
            (crate::jobs::Job::Retention, config.retention_every_minutes),
            (crate::jobs::Job::DataQuality, config.quality_every_minutes),
        ] {
            if minutes == 0 {
                continue;
            }
            let (jobs, stop) = (state.jobs.clone(), platform.shutdown.clone());
            let every = std::time::Duration::from_secs(minutes * 60);
            platform.tasks.spawn(async move {
                jobs.schedule(job, every, stop).await;
                (format!("{} schedule", job.name()), Ok(()))
            });
        }
        let readiness = state.health.readiness();
        readiness.mark_models_loaded();
        readiness.mark_recovered();
        let heads = state.registry.head_names().await?;
        tracing::info!(addr = %platform.addr, runtime = %config.runtime, ?heads, "vision platform ready");
        Ok(platform)
    }

    /// The gateway alone, over `bus`. The stages run elsewhere; the recorder recovers
    /// interrupted work, so this process is ready once serving.
    pub async fn start_gateway(config: &Config, bus: Arc<dyn MessageBus>) -> anyhow::Result<Self> {
        let platform = Self::launch_gateway(config, bus).await?;
        // The gateway needs only the manifest, read at launch.
        let readiness = platform.state.health.readiness();
        readiness.mark_models_loaded();
        readiness.mark_recovered();
        Ok(platform)
    }

    /// Serves HTTP as early as possible: `/health` and `/ready` answer while models load.
    async fn launch_gateway(config: &Config, bus: Arc<dyn MessageBus>) -> anyhow::Result<Self> {
        let db = connect_db(config).await?;
        let store = object_store(config).await?;
        let shutdown = CancellationToken::new();
        let mut tasks = Tasks::new();
        let (state, addr) =
            gateway::start(config, db, bus.clone(), store, &shutdown, &mut tasks).await?;
        Ok(Self {
            addr,
            state,
            bus,
            shutdown,
            tasks,
        })
    }

    /// Cancelling this token stops the process (what SIGINT/SIGTERM do).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Runs until shutdown is requested or a part stops by itself (an error, which is returned).
    pub async fn run(mut self) -> anyhow::Result<()> {
        let outcome = tokio::select! {
            biased;
            _ = self.shutdown.cancelled() => Ok(()),
            Some(ended) = self.tasks.join_next() => match ended {
                // A signal cancels the token and the tasks end with it: one may be seen ending
                // first, which is the shutdown asked for, not a failure.
                _ if self.shutdown.is_cancelled() => Ok(()),
                Ok((name, Ok(()))) => Err(anyhow::anyhow!("{name} stopped unexpectedly")),
                Ok((name, Err(e))) => Err(e.context(format!("{name} failed"))),
                Err(e) => Err(anyhow::anyhow!("a task panicked: {e}")),
            },
        };
        if let Err(e) = &outcome {
            tracing::error!(error = format!("{e:#}"), "shutting down");
        }
        self.stop().await?;
        outcome
    }

    /// Stops everything: no new work is taken, running work gets [`DRAIN_TIMEOUT`] to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Some(ended) = self.tasks.join_next().await {
                match ended {
                    Ok((name, Err(e))) => {
                        tracing::warn!(%name, error = format!("{e:#}"), "stopped with an error")
                    }
                    Ok((name, Ok(()))) => tracing::debug!(%name, "stopped"),
                    Err(e) => tracing::warn!(error = %e, "a task panicked"),
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?DRAIN_TIMEOUT, "work still running at shutdown was abandoned");
            self.tasks.shutdown().await;
        }
        Ok(())
    }
}

/// The model registry of a process, announcing alias moves on `bus`, with the shipped bundle
/// imported (its first versions; nothing changes once they are there).
pub(crate) async fn registry(
    config: &Config,
    models: &ModelCatalog,
    db: Db,
    store: Arc<dyn ObjectStore>,
    bus: Arc<dyn MessageBus>,
) -> anyhow::Result<Registry> {
    let registry = Registry::new(db, store, config.runtime, models.classes.clone()).with_bus(bus);
    vision_registry::import_bundle(&registry, &models.manifest, &config.models_dir)
        .await
        .with_context(|| {
            format!(
                "cannot import the model bundle in {} into the registry",
                config.models_dir.display()
            )
        })?;
    Ok(registry)
}

/// Connects (and migrates) the database.
pub async fn connect_db(config: &Config) -> anyhow::Result<Db> {
    if config.database_url.is_none() {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    }
    let url = config.database_url();
    Db::connect(&url)
        .await
        .with_context(|| format!("cannot open the database at {}", redact(&url)))
}

/// The object store: S3/MinIO at `S3_ENDPOINT` (the bucket is created when missing), else the
/// local folder.
pub async fn object_store(config: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let Some(endpoint) = &config.s3_endpoint else {
        return local_store(config);
    };
    let settings = S3Settings {
        endpoint: endpoint.clone(),
        bucket: config.s3_bucket.clone(),
        region: config.s3_region.clone(),
        access_key: config.s3_access_key.clone(),
        secret_key: config.s3_secret_key.clone(),
    };
    let store = S3Store::connect(settings).await.with_context(|| {
        format!(
            "cannot use bucket {} at {endpoint} as the object store",
            config.s3_bucket
        )
    })?;
    Ok(Arc::new(store))
}

/// The local-folder object store of the embedded default.
fn local_store(config: &Config) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let dir = config.objects_dir();
    let store = LocalStore::new(&dir)
        .with_context(|| format!("cannot open the object store at {}", dir.display()))?;
    Ok(Arc::new(store))
}

/// The extractor's descriptor cache: Redis at `REDIS_URL` (shared by every extractor replica),
/// else `None` (the extractor keeps its own in-process one). A Redis that cannot be reached at
/// start is reported and replaced by the in-process cache: it is an optimisation, not a
/// dependency.
pub async fn descriptor_cache(config: &Config) -> Option<Arc<dyn DescriptorCache>> {
    let url = config.redis_url.as_deref()?;
    match RedisCache::connect(url).await {
        Ok(cache) => {
            tracing::info!(url = %redact(url), "descriptor cache: redis");
            Some(Arc::new(cache))
        }
        Err(e) => {
            tracing::warn!(url = %redact(url), error = %e, "descriptor cache: redis unreachable, using this process's own");
            None
        }
    }
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(
            redact("postgres://vision:s3cret@db:5432/vision"),
            "postgres://vision:***@db:5432/vision"
        );
        assert_eq!(
            redact("sqlite://data/vision.db?mode=rwc"),
            "sqlite://data/vision.db?mode=rwc"
        );
    }
}
