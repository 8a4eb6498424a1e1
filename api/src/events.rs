//! Fan-out of pipeline events to live subscriptions. Each gateway process reads
//! `pipeline-events` ONCE, live and in no shared group, so every replica sees every event; the
//! WebSocket subscriptions of the process then share that one feed through a broadcast channel
//! instead of each holding a bus consumer.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use vision_core::bus::BusError;
use vision_core::messages::{self, PipelineEvent};
use vision_core::{MessageBus, topics};

/// Events buffered per slow subscriber before it starts missing some.
const CAPACITY: usize = 1024;

#[derive(Clone)]
pub struct EventHub {
    tx: broadcast::Sender<PipelineEvent>,
}

impl EventHub {
    /// A hub fed by nothing (for a gateway without a bus, and tests).
    pub fn detached() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }

    /// Joins `pipeline-events` and forwards every event until `shutdown`.
    pub async fn start(
        bus: Arc<dyn MessageBus>,
        shutdown: CancellationToken,
    ) -> Result<(Self, JoinHandle<()>), BusError> {
        let hub = Self::detached();
        // Live, in no shared group: replicas must not split the events between them.
        let mut subscription = bus.subscribe_live(topics::PIPELINE_EVENTS.name()).await?;
        let tx = hub.tx.clone();
        let task = tokio::spawn(async move {
            loop {
                let delivery = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = subscription.next() => match next {
                        Some(delivery) => delivery,
                        None => break,
                    },
                };
                match messages::decode::<PipelineEvent>(&delivery.payload) {
                    // No receiver is not an error: nobody is subscribed right now.
                    Ok(event) => {
                        let _ = tx.send(event);
                    }
                    Err(e) => tracing::warn!(error = %e, "unreadable pipeline event skipped"),
                }
                // Events are live notifications; a missed one is not replayed, so ack at once.
                if let Err(e) = delivery.ack() {
                    tracing::warn!(error = %e, "pipeline event not acknowledged");
                }
            }
            tracing::debug!("pipeline event feed stopped");
        });
        Ok((hub, task))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<PipelineEvent> {
        self.tx.subscribe()
    }
}
