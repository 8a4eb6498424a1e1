//! The gateway part of a process: its services, the event feed, the GraphQL schema and the HTTP
//! server.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use vision_core::{MessageBus, ObjectStore};
use vision_db::Db;

use super::Tasks;
use crate::catalog::ModelCatalog;
use crate::config::Config;
use crate::events::EventHub;
use crate::graphql;
use crate::health::Health;
use crate::http::{self, HttpOptions};
use crate::ingest::{self, Ingest, UploadLimits};
use crate::replay::{CifarDatasets, ReplayContext, Replays};
use crate::rollout::Rollout;
use crate::state::AppState;
use crate::stats::Statistics;

/// How often the pipeline feed is read when no bus message woke its reader (one was lost, or
/// the bus is down): the latency of live events in that case.
const FEED_POLL: std::time::Duration = std::time::Duration::from_secs(1);

pub async fn start(
    config: &Config,
    db: Db,
    bus: Arc<dyn MessageBus>,
    store: Arc<dyn ObjectStore>,
    shutdown: &CancellationToken,
    tasks: &mut Tasks,
) -> anyhow::Result<(AppState, SocketAddr)> {
    let models = ModelCatalog::load(&config.models_dir, config.runtime).with_context(|| {
        format!(
            "cannot read the model manifest in {}",
            config.models_dir.display()
        )
    })?;
    let models = Arc::new(models);
    let (events, feed) = EventHub::start(db.clone(), bus.clone(), FEED_POLL, shutdown.clone())
        .await
        .context("cannot follow the pipeline feed")?;
    tasks.spawn(async move {
        let outcome = feed
            .await
            .map_err(|e| anyhow::anyhow!("event feed panicked: {e}"));
        ("pipeline event feed".to_string(), outcome)
    });
    // Replicas speak at every registry check: three missed checks (at least 30 s) and a
    // replica is gone from the view.
    let stale_after = (config.model_check() * 3).max(std::time::Duration::from_secs(30));
    let (rollout, rollout_feed) = Rollout::start(bus.clone(), stale_after, shutdown.clone())
        .await
        .context("cannot subscribe to model events")?;
    tasks.spawn(async move {
        let outcome = rollout_feed
            .await
            .map_err(|e| anyhow::anyhow!("rollout feed panicked: {e}"));
        ("model event feed".to_string(), outcome)
    });
    let (published, marking) = ingest::PublishedMarks::start(db.clone(), shutdown.clone());
    tasks.spawn(async move {
        marking.await;
        ("published marks".to_string(), Ok(()))
    });
    let limits = UploadLimits {
        image: config.image_limits(),
        max_batch: config.max_batch,
        check_parallelism: config.cores(),
        publish_wait: config.publish_wait(),
    };
    let admission = ingest::Admission::new(config.max_backlog, config.admission_wait());
    let (draining, feed_for_admission, stop) =
        (admission.clone(), events.clone(), shutdown.clone());
    tasks.spawn(async move {
        draining.run(feed_for_admission, stop).await;
        ("backlog admission".to_string(), Ok(()))
    });
    let ingest = Ingest::new(
        db.clone(),
        store.clone(),
        bus.clone(),
        published,
        limits,
        models.classes.clone(),
        admission,
    );
    let replays = Replays::new(
        ReplayContext {
            ingest: ingest.clone(),
            db: db.clone(),
            classes: models.classes.clone(),
        },
        CifarDatasets::new(config.cifar10_dir()),
    );
    let registry = super::registry(config, &models, db.clone(), store.clone(), bus.clone()).await?;
    let jwt = crate::auth::jwt::JwtVerifier::from_settings(&config.jwt_settings())?;
    let open =
        crate::auth::open_allowed(&db, config.addr, config.allow_open, jwt.is_some()).await?;
    // Rate limits and WebSocket sessions counted across replicas, when there is a Redis.
    let shared_limits = match config.redis_url.as_deref() {
        Some(url) => Some(crate::auth::shared::SharedCounters::start(url).await?),
        None => None,
    };
    let jobs = crate::jobs::Jobs::new(
        db.clone(),
        store.clone(),
        config.replica_name(),
        config.retention(),
        config.quality(),
    );
    let state = AppState {
        auth: crate::auth::Authenticator::new(db.clone(), open).with_jwt(jwt),
        audit: crate::auth::audit::Audit::new(db.clone()),
        limiter: crate::auth::rate::RateLimiter::new(crate::auth::rate::RateLimits {
            per_caller: config.rate_per_key,
            per_ip: config.rate_per_ip,
        })
        .with_shared(shared_limits),
        statistics: Statistics::new(db.clone(), models.classes.clone()),
        registry,
        rollout,
        health: Health::new(db.clone(), bus.clone(), store.clone(), models.clone()),
        db,
        store,
        models,
        ingest,
        replays,
        events,
        jobs,
    };
    let relay = ingest::Relay::for_publish_wait(config.publish_wait());
    let (db, stop) = (state.db.clone(), shutdown.clone());
    tasks.spawn(async move {
        relay.run(db, bus, stop).await;
        ("outbox relay".to_string(), Ok(()))
    });
    let schema = graphql::schema(
        state.clone(),
        graphql::Exposure {
            introspection: config.introspection,
            suggestions: config.suggestions,
        },
    );
    let options = HttpOptions {
        max_body_bytes: config.max_body_bytes(),
        cors_origins: config.cors_origins.clone(),
        frontend_dir: config.frontend_dir(),
        // The ingest refuses a file over the upload limit with FILE_TOO_LARGE and its index;
        // one that goes on a MiB past it is cut off while it streams in.
        max_file_bytes: config.max_upload_bytes.saturating_add(1024 * 1024),
        max_files: config.max_batch,
        // A registration's ONNX file is checked against the registry's own limit; the HTTP
        // layer only stops one far over it.
        max_model_bytes: vision_registry::RegistryLimits::default()
            .max_model_bytes
            .saturating_add(1024 * 1024),
        graphiql: config.graphiql,
    };
    let router = http::router(state.clone(), schema, &options);
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let stop = shutdown.clone();
    tasks.spawn(async move {
        http::serve(listener, router, stop).await;
        let outcome = Ok(());
        ("HTTP server".to_string(), outcome)
    });
    tracing::info!(%addr, "serving GraphQL on http://{addr}/graphql");
    Ok((state, addr))
}
