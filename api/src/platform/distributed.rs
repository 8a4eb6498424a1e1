//! The bus of the split deployment (one process per stage): Kafka at `KAFKA_BROKERS`, with the
//! pipeline's topics created when they are missing.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use vision_core::MessageBus;
use vision_core::bus::{KafkaBus, KafkaSettings};
use vision_core::stage::table;

use crate::config::Config;

pub async fn distributed_bus(config: &Config, role: &str) -> anyhow::Result<Arc<dyn MessageBus>> {
    let brokers = config
        .kafka_brokers
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .context(
            "this subcommand runs one stage of the distributed mode and needs KAFKA_BROKERS \
             (or --kafka-brokers); run `vision serve` for everything in one process",
        )?;
    let mut settings = KafkaSettings::new(brokers);
    settings.partitions = config.kafka_partitions;
    settings.client_id = format!("vision-{role}");
    settings.instance_id = config.instance_id.clone();
    settings.session_timeout = Duration::from_millis(config.kafka_session_timeout_ms);
    let bus = KafkaBus::new(settings).context("cannot configure the Kafka client")?;
    // A broker that is not up yet (a whole stack starting at once, a broker restarting) is
    // waited for, not a reason to exit and be restarted in a loop.
    let mut pause = Duration::from_secs(1);
    // Every topic the stage table names.
    let topics = table::all_topics();
    while let Err(e) = bus.ensure_topics(&topics).await {
        tracing::warn!(%brokers, error = %e, retry_in = ?pause, "cannot reach Kafka to check the topics");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
    Ok(Arc::new(bus))
}

/// Longest pause between two attempts to reach the broker at start-up.
const MAX_PAUSE: Duration = Duration::from_secs(15);
