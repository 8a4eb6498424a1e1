//! `vision worker <stage>`: one stage of the stage table per process, scaled by running more of
//! them. Each serves its operator port (`/health`, `/ready`, `/metrics`) on `VISION_ADDR`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vision_core::stage::{Dependency, StageKind};

use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::http::{WorkerProbes, worker_router};
use crate::platform::stages::Stages;
use crate::platform::{self, Tasks};

/// Runs the stage `kind`; for a stage per head, the heads in `heads` (every head of the bundle
/// when empty).
pub async fn run(config: &Config, kind: StageKind, heads: Vec<String>) -> anyhow::Result<()> {
    let spec = kind.spec();
    let role = match heads.as_slice() {
        [head] if spec.per_head => spec.instance(Some(head)),
        _ => spec.name.to_string(),
    };
    // First, so that a missing bus is reported before models load.
    let bus = platform::distributed_bus(config, &role).await?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        token.cancel();
    });

    let catalog = ModelCatalog::load(&config.models_dir, config.runtime).with_context(|| {
        format!(
            "cannot read the model manifest in {}",
            config.models_dir.display()
        )
    })?;
    let store = match spec.uses.contains(&Dependency::ObjectStore) {
        true => Some(platform::object_store(config).await?),
        false => None,
    };
    let db = match spec.uses.contains(&Dependency::Database) {
        true => Some(platform::connect_db(config).await?),
        false => None,
    };
    // A stage that serves models loads them from the registry: its rows and its files.
    let registry = match (&db, &store) {
        (Some(db), Some(store)) => Some(
            platform::registry(config, &catalog, db.clone(), store.clone(), bus.clone()).await?,
        ),
        _ => None,
    };
    if let Some(registry) = &registry {
        let known = registry.head_names().await?;
        if let Some(unknown) = heads.iter().find(|h| !known.contains(h)) {
            anyhow::bail!(
                "no head named {unknown} is in production (the heads: {})",
                known.join(", ")
            );
        }
    }
    let ready = Arc::new(AtomicBool::new(false));
    let probes = WorkerProbes {
        bus: bus.clone(),
        store: store.clone(),
        db: db.clone(),
        ready: ready.clone(),
    };
    serve_operator_port(config, probes, &shutdown).await?;

    let stages = Stages {
        config,
        registry,
        bus,
        store,
        db,
        shutdown: &shutdown,
    };
    let mut tasks = Tasks::new();
    stages.launch(spec, &heads, &mut tasks).await?;
    ready.store(true, Ordering::Release);
    // Until shutdown, or until a stage stops by itself (an error).
    let outcome = match tasks.join_next().await {
        Some(Ok((_, Ok(())))) if shutdown.is_cancelled() => Ok(()),
        Some(Ok((name, Ok(())))) => Err(anyhow::anyhow!("{name} stopped unexpectedly")),
        Some(Ok((name, Err(e)))) => Err(e.context(format!("{name} failed"))),
        Some(Err(e)) => Err(anyhow::anyhow!("a stage panicked: {e}")),
        None => Ok(()),
    };
    shutdown.cancel();
    while tasks.join_next().await.is_some() {}
    outcome
}

/// `/health`, `/ready` and `/metrics` on `VISION_ADDR` until shutdown.
async fn serve_operator_port(
    config: &Config,
    probes: WorkerProbes,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for /health, /ready and /metrics (give each process on one \
             machine its own VISION_ADDR)",
                config.addr
            )
        })?;
    let addr = listener.local_addr()?;
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, worker_router(probes))
            .with_graceful_shutdown(stop.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "operator port failed");
        }
    });
    tracing::info!(%addr, "operator port: /health /ready /metrics");
    Ok(())
}
