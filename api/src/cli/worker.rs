//! `vision worker ...`: one processing stage per process, scaled by running more of them.

use tokio_util::sync::CancellationToken;
use vision_classifier::ClassifierStage;
use vision_extractor::ExtractorStage;
use vision_recorder::RecorderStage;

use super::WorkerStage;
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::platform::{self, pipeline};

pub async fn run(config: &Config, stage: WorkerStage) -> anyhow::Result<()> {
    // First, so that a missing bus is reported before models load.
    let role = match &stage {
        WorkerStage::Extractor => "extractor".to_string(),
        WorkerStage::Classifier { model } => format!("classifier-{model}"),
        WorkerStage::Recorder => "recorder".to_string(),
    };
    let bus = platform::distributed_bus(config, &role).await?;
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    tokio::spawn(async move {
        super::shutdown_signal().await;
        token.cancel();
    });
    match stage {
        WorkerStage::Extractor => {
            let bundle = pipeline::load_bundle(config).await?;
            let store = platform::local_store(config)?;
            ExtractorStage::new(bus, store, bundle.extractor.clone(), config.image_limits())
                .run(shutdown)
                .await
        }
        WorkerStage::Classifier { model } => {
            let bundle = pipeline::load_bundle(config).await?;
            let head = pipeline::head(&bundle, &model)?;
            ClassifierStage::new(bus, head).run(shutdown).await
        }
        WorkerStage::Recorder => {
            let db = platform::connect_db(config).await?;
            let heads = ModelCatalog::load(&config.models_dir, config.runtime)?.classifier_names();
            let resent = vision_recorder::recover(&db, bus.as_ref()).await?;
            tracing::info!(resent, "incomplete images requeued");
            RecorderStage::new(bus, db, heads).run(shutdown).await
        }
    }
}
