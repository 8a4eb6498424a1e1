//! `vision worker ...`: one processing stage per process, scaled by running more of them. Each
//! serves its operator port (`/health`, `/ready`, `/metrics`) on `VISION_ADDR`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vision_classifier::ClassifierStage;
use vision_extractor::ExtractorStage;
use vision_recorder::RecorderStage;

use super::WorkerStage;
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::http::{WorkerProbes, worker_router};
use crate::platform::{self, pipeline};

pub async fn run(config: &Config, stage: WorkerStage) -> anyhow::Result<()> {
    let role = match &stage {
        WorkerStage::Extractor => "extractor".to_string(),
        WorkerStage::Classifier { model } => format!("classifier-{model}"),
        WorkerStage::Recorder => "recorder".to_string(),
    };
    // First, so that a missing bus is reported before models load.
    let bus = platform::distributed_bus(config, &role).await?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        token.cancel();
    });

    let (store, db) = match &stage {
        WorkerStage::Extractor => (Some(platform::object_store(config).await?), None),
        WorkerStage::Classifier { .. } => (None, None),
        WorkerStage::Recorder => (None, Some(platform::connect_db(config).await?)),
    };
    let ready = Arc::new(AtomicBool::new(false));
    let probes = WorkerProbes {
        bus: bus.clone(),
        store: store.clone(),
        db: db.clone(),
        ready: ready.clone(),
    };
    serve_operator_port(config, probes, &shutdown).await?;

    match stage {
        WorkerStage::Extractor => {
            let extractor = pipeline::load_extractor(config).await?;
            let store = store.expect("the extractor has a store");
            let mut stage = ExtractorStage::new(bus, store, extractor, config.image_limits())
                .with_batching(config.batching());
            if let Some(cache) = platform::descriptor_cache(config).await {
                stage = stage.with_cache(cache);
            }
            ready.store(true, Ordering::Release);
            stage.run(shutdown).await
        }
        WorkerStage::Classifier { model } => {
            let head = pipeline::load_head(config, &model).await?;
            ready.store(true, Ordering::Release);
            ClassifierStage::new(bus, head).run(shutdown).await
        }
        WorkerStage::Recorder => {
            let db = db.expect("the recorder has a database");
            let heads = ModelCatalog::load(&config.models_dir, config.runtime)?.classifier_names();
            let resent = vision_recorder::recover(&db, bus.as_ref()).await?;
            tracing::info!(resent, "incomplete images requeued");
            ready.store(true, Ordering::Release);
            RecorderStage::new(bus, db, heads).run(shutdown).await
        }
    }
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
