//! The bus of the split deployment (one process per stage): Kafka at `KAFKA_BROKERS`, with the
//! pipeline's topics created when they are missing.

use std::sync::Arc;

use anyhow::Context as _;
use vision_core::bus::{KafkaBus, KafkaSettings};
use vision_core::{MessageBus, topics};

use crate::config::Config;

/// Every topic the stages publish to or read.
const TOPICS: [&str; 5] = [
    topics::IMAGES_INPUT,
    topics::IMAGE_FEATURES,
    topics::PREDICTIONS_OUTPUT,
    topics::PIPELINE_EVENTS,
    topics::DEAD_LETTER,
];

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
    let bus = KafkaBus::new(settings).context("cannot configure the Kafka client")?;
    bus.ensure_topics(&TOPICS)
        .await
        .with_context(|| format!("cannot reach Kafka at {brokers} to check the topics"))?;
    Ok(Arc::new(bus))
}
