//! The consume loop every stage shares: take deliveries until shutdown, run the handler with
//! bounded concurrency, retry transient failures with backoff, and acknowledge a delivery only
//! once its handler reports the work durable.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{Message, Subscription};

/// What a handler made of one delivery.
#[derive(Debug)]
pub enum Outcome {
    /// Done (or dead-lettered): acknowledge.
    Done,
    /// A dependency failed; try the same delivery again later.
    Retry(String),
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs `handler` on every delivery of `subscription` until `shutdown` is cancelled or the bus
/// closes. Up to `concurrency` deliveries are in flight at once.
pub async fn consume<F, Fut>(
    stage: &str,
    subscription: Subscription,
    shutdown: CancellationToken,
    concurrency: usize,
    handler: F,
) where
    F: Fn(Message) -> Fut + Send + Sync,
    Fut: Future<Output = Outcome> + Send,
{
    let handler = &handler;
    let shutdown_ref = &shutdown;
    subscription
        .into_stream()
        .take_until(shutdown.cancelled())
        .for_each_concurrent(concurrency.max(1), |delivery| async move {
            let message = Message {
                topic: delivery.topic.clone(),
                key: delivery.key.clone(),
                payload: delivery.payload.clone(),
            };
            let mut backoff = FIRST_BACKOFF;
            loop {
                match handler(message.clone()).await {
                    Outcome::Done => break,
                    Outcome::Retry(reason) => {
                        crate::metrics::metrics()
                            .errors
                            .with_label_values(&[stage, "retry"])
                            .inc();
                        tracing::warn!(stage, %reason, ?backoff, "transient failure, retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            // Not acknowledged: redelivered after a restart (recovery / Kafka).
                            _ = shutdown_ref.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            if let Err(e) = delivery.ack() {
                tracing::warn!(stage, error = %e, "acknowledgement failed");
            }
        })
        .await;
}

/// Sends `message` to the dead-letter topic with `reason`, counted as a `dead_letter` error of
/// `metric_stage`. Done once the letter is on the bus; a bus failure is retried like any other.
pub async fn dead_letter(
    bus: &dyn super::MessageBus,
    message: &Message,
    image_id: Option<uuid::Uuid>,
    metric_stage: &str,
    stage: &str,
    reason: String,
) -> Outcome {
    tracing::warn!(?image_id, stage, %reason, "message cannot be processed: dead-lettered");
    crate::metrics::metrics()
        .errors
        .with_label_values(&[metric_stage, "dead_letter"])
        .inc();
    let letter =
        crate::messages::DeadLetter::new(image_id, &message.topic, stage, reason, &message.payload);
    match bus
        .publish(
            super::topics::DEAD_LETTER,
            &message.key,
            crate::messages::encode(&letter),
        )
        .await
    {
        Ok(()) => Outcome::Done,
        Err(e) => Outcome::Retry(e.to_string()),
    }
}
