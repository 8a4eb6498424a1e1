//! The bus of the split deployment (one process per stage). Until the Kafka bus lands, the
//! split subcommands stop here with a clear message instead of running on a bus no other
//! process can reach.

use std::sync::Arc;

use vision_core::MessageBus;

pub fn distributed_bus() -> anyhow::Result<Arc<dyn MessageBus>> {
    let brokers = std::env::var("KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.trim().is_empty());
    match brokers {
        None => anyhow::bail!(
            "this subcommand needs KAFKA_BROKERS (distributed mode arrives with the Kafka bus); \
             run `vision serve` for everything in one process"
        ),
        Some(brokers) => anyhow::bail!(
            "KAFKA_BROKERS={brokers} is set, but this build has no Kafka bus yet \
             (distributed mode arrives with the Kafka bus); run `vision serve` for everything in \
             one process"
        ),
    }
}
