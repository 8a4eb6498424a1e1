//! Runs a [`Stage`] on one of its inputs: decode -> work -> publish -> dead-letter ->
//! acknowledge, the same for every stage.

use std::collections::BTreeMap;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::table::{Input, Poison, StageSpec};
use super::{Output, Stage, Verdict};
use crate::bus::{BusError, Message, MessageBus, Outcome, consume_batches, topics};
use crate::messages::{self, DeadLetter};
use crate::metrics::metrics;

/// Runs `stage` on the input of `spec` that reads `topic` until `shutdown` (or the bus closes).
///
/// - A message that cannot be decoded is a rejection (the entry's [`Poison`] says whether it is
///   dead-lettered or dropped).
/// - A rejection is sent to the dead-letter topic, named `instance` as the stage.
/// - The stage's outputs are published (in order per key, keys at once) before the input is
///   acknowledged; a bus or dependency failure retries the batch after a backoff.
///
/// `concurrency` overrides the entry's batches in flight.
pub async fn run<S: Stage>(
    stage: &S,
    spec: &StageSpec,
    topic: &str,
    head: Option<&str>,
    bus: &dyn MessageBus,
    shutdown: CancellationToken,
    concurrency: Option<usize>,
) -> Result<(), BusError> {
    let input = spec.input(topic);
    let instance = spec.instance(head);
    let subscription = bus.subscribe(input.topic, &input.group.name(head)).await?;
    let worker = Worker {
        stage,
        input,
        instance: &instance,
        bus,
    };
    let worker = &worker;
    consume_batches(
        input.metric,
        subscription,
        shutdown,
        concurrency.unwrap_or(input.concurrency),
        input.max_batch,
        |batch| worker.process(batch),
    )
    .await;
    Ok(())
}

struct Worker<'a, S> {
    stage: &'a S,
    input: &'a Input,
    instance: &'a str,
    bus: &'a dyn MessageBus,
}

impl<S: Stage> Worker<'_, S> {
    async fn process(&self, batch: Vec<Message>) -> Outcome {
        let started = Instant::now();
        let count = batch.len();
        // Decode; a message that does not decode gets its verdict now.
        let mut decoded = Vec::with_capacity(count);
        let mut verdicts: Vec<Option<Verdict>> = Vec::with_capacity(count);
        for message in &batch {
            match messages::decode::<S::Input>(&message.payload) {
                Ok(m) => {
                    decoded.push(m);
                    verdicts.push(None);
                }
                Err(e) => verdicts.push(Some(Verdict::reject(
                    message.key.parse().ok(),
                    e.to_string(),
                ))),
            }
        }
        if !decoded.is_empty() {
            let expected = decoded.len();
            let handled = match self.stage.handle_batch(decoded).await {
                Ok(handled) => handled,
                Err(retry) => return Outcome::Retry(retry.to_string()),
            };
            assert_eq!(handled.len(), expected, "one verdict per message");
            let mut handled = handled.into_iter();
            for slot in verdicts.iter_mut().filter(|v| v.is_none()) {
                *slot = handled.next();
            }
        }
        let mut outputs = Vec::new();
        for (message, verdict) in batch.iter().zip(verdicts) {
            match verdict.expect("every message has a verdict") {
                Verdict::Done(out) => outputs.extend(out),
                Verdict::Reject { image_id, reason } => {
                    if let Some(letter) = self.reject(message, image_id, reason) {
                        outputs.push(letter);
                    }
                }
            }
        }
        if let Err(e) = publish(self.bus, outputs).await {
            return Outcome::Retry(e.to_string());
        }
        let per_message = started.elapsed().as_secs_f64() / count.max(1) as f64;
        let histogram = metrics()
            .stage_duration
            .with_label_values(&[self.input.metric]);
        for _ in 0..count {
            histogram.observe(per_message);
        }
        Outcome::Done
    }

    /// The dead letter of a message that cannot be processed, or `None` when the entry drops
    /// such messages.
    fn reject(
        &self,
        message: &Message,
        image_id: Option<uuid::Uuid>,
        reason: String,
    ) -> Option<Output> {
        let metric = self.input.metric;
        match self.input.poison {
            Poison::Drop => {
                tracing::warn!(stage = self.instance, ?image_id, %reason, "unreadable message dropped");
                metrics()
                    .errors
                    .with_label_values(&[metric, "malformed"])
                    .inc();
                None
            }
            Poison::DeadLetter => {
                tracing::warn!(stage = self.instance, ?image_id, %reason, "message cannot be processed: dead-lettered");
                metrics()
                    .errors
                    .with_label_values(&[metric, "dead_letter"])
                    .inc();
                let letter = DeadLetter::new(
                    image_id,
                    &message.topic,
                    self.instance,
                    reason,
                    &message.payload,
                );
                Some(Output::new(
                    topics::DEAD_LETTER,
                    message.key.clone(),
                    &letter,
                ))
            }
        }
    }
}

/// Publishes `outputs`: the messages of one key in order, different keys at once (a completion
/// never overtakes the predictions of its image; a batch does not wait a round trip per image).
async fn publish(bus: &dyn MessageBus, outputs: Vec<Output>) -> Result<(), BusError> {
    let mut by_key: BTreeMap<String, Vec<Output>> = BTreeMap::new();
    for output in outputs {
        by_key.entry(output.key.clone()).or_default().push(output);
    }
    let sends = by_key.into_values().map(|outputs| async move {
        for output in outputs {
            bus.publish_bytes(output.topic, &output.key, output.payload)
                .await?;
        }
        Ok::<(), BusError>(())
    });
    futures::future::join_all(sends).await.into_iter().collect()
}
