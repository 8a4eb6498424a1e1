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
    consume_batches(
        stage,
        subscription,
        shutdown,
        concurrency,
        1,
        |mut batch| async move { handler(batch.pop().expect("a batch of one")).await },
    )
    .await;
}

/// Like [`consume`], but hands the handler every delivery that is already waiting, up to
/// `max_batch`, at once (never waiting for more: at low load a batch is one message, under load
/// one database round trip serves many). The whole batch is retried on [`Outcome::Retry`] and
/// acknowledged together once the handler is done.
pub async fn consume_batches<F, Fut>(
    stage: &str,
    subscription: Subscription,
    shutdown: CancellationToken,
    concurrency: usize,
    max_batch: usize,
    handler: F,
) where
    F: Fn(Vec<Message>) -> Fut + Send + Sync,
    Fut: Future<Output = Outcome> + Send,
{
    let handler = &handler;
    let shutdown_ref = &shutdown;
    subscription
        .into_stream()
        .take_until(shutdown.cancelled())
        .ready_chunks(max_batch.max(1))
        .for_each_concurrent(concurrency.max(1), |deliveries| async move {
            let messages: Vec<Message> = deliveries
                .iter()
                .map(|d| Message {
                    topic: d.topic.clone(),
                    key: d.key.clone(),
                    payload: d.payload.clone(),
                })
                .collect();
            let mut backoff = FIRST_BACKOFF;
            loop {
                match handler(messages.clone()).await {
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
            for delivery in deliveries {
                if let Err(e) = delivery.ack() {
                    tracing::warn!(stage, error = %e, "acknowledgement failed");
                }
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::bus::{MemoryBus, MessageBus};

    #[tokio::test]
    async fn batches_take_what_is_waiting_and_a_retry_repeats_the_whole_batch() {
        let bus = MemoryBus::new();
        // Ten messages wait before the consumer starts: they come in batches of at most four.
        for i in 0..10 {
            bus.publish_bytes("batches", &i.to_string(), vec![i])
                .await
                .unwrap();
        }
        let subscription = bus.subscribe("batches", "g").await.unwrap();
        let shutdown = CancellationToken::new();
        let calls: Mutex<Vec<Vec<String>>> = Mutex::default();
        let failed_once = Mutex::new(false);
        let consumer = consume_batches("test", subscription, shutdown.clone(), 1, 4, |batch| {
            let keys: Vec<String> = batch.iter().map(|m| m.key.clone()).collect();
            calls.lock().unwrap().push(keys.clone());
            let retry = !std::mem::replace(&mut *failed_once.lock().unwrap(), true);
            let shutdown = shutdown.clone();
            async move {
                if keys.contains(&"9".to_string()) {
                    shutdown.cancel();
                }
                match retry {
                    true => Outcome::Retry("first call fails".into()),
                    false => Outcome::Done,
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), consumer)
            .await
            .expect("consumer stops");
        let calls = calls.into_inner().unwrap();
        // The first batch failed and came back whole.
        assert_eq!(calls[0], calls[1]);
        assert!(
            calls.iter().all(|b| !b.is_empty() && b.len() <= 4),
            "{calls:?}"
        );
        assert!(
            calls[0].len() > 1,
            "waiting messages are batched: {calls:?}"
        );
        let handled: Vec<String> = calls[1..].concat();
        let expected: Vec<String> = (0..10).map(|i| i.to_string()).collect();
        assert_eq!(
            handled, expected,
            "each message once after the retry, in order"
        );
    }
}
