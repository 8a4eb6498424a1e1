//! The bus of the distributed mode: Apache Kafka (or any broker that speaks its protocol)
//! through librdkafka.
//!
//! - Publishing is idempotent (`enable.idempotence`: no duplicates from the producer's own
//!   retries) and returns once the broker has the message on every in-sync replica.
//! - A group subscription is a consumer in that Kafka consumer group: the group's members share
//!   the topic's partitions, and a message keyed by image id always lands on one partition.
//! - Acknowledging stores the offset and librdkafka commits stored offsets every second (and on
//!   close or rebalance). The consume loop acknowledges out of order (it runs several handlers
//!   at once), so [`OffsetTracker`] stores, per partition, only up to the oldest delivery still in
//!   flight: a crash redelivers everything unfinished, never skips it (at-least-once).
//! - Each group consumer reports its lag (`vision_consumer_lag`) periodically.
//! - A live subscription reads every partition from its end, in no group and committing nothing:
//!   what gateways fan out to their WebSocket clients.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::metadata::Metadata;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::{BusError, Delivery, MessageBus, Subscription};

/// How long a publish may wait for the broker before it is reported as failed (librdkafka keeps
/// retrying within it).
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// Metadata requests (ping, live subscriptions, topic creation).
const METADATA_TIMEOUT: Duration = Duration::from_secs(5);
/// A consumer logs one error per this interval at most (with how many it left out).
const CONSUMER_ERROR_LOG_EVERY: Duration = Duration::from_secs(5);

/// Where the brokers are and how new topics are made.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `host:port[,host:port...]`.
    pub brokers: String,
    /// Partitions of the topics this process creates when they are missing.
    pub partitions: i32,
    /// Replication factor of those topics.
    pub replication: i32,
    /// Name of this client in the broker's logs and metrics.
    pub client_id: String,
    /// How often group consumers report their lag.
    pub lag_every: Duration,
    /// A stable name of this replica (static group membership, KIP-345): restarted with the same
    /// name, it takes its partitions back at once instead of waiting for the group to notice
    /// the old process is gone. `None`: a new member at every start.
    pub instance_id: Option<String>,
    /// How long a group member may go without a heartbeat before the group drops it (Kafka's
    /// default, 45 s). Long enough that a broker outage of a few seconds times no session out:
    /// tansu 0.6.0's group coordinator can keep a dropped leader's id and then assign no
    /// partitions at all (README, distributed mode). A replica restarted with the same
    /// `instance_id` takes its partitions back at once whatever this is; one gone for good
    /// gives them up after it.
    pub session_timeout: Duration,
}

impl KafkaSettings {
    /// Kafka's own default group session (see [`KafkaSettings::session_timeout`]).
    pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_secs(45);

    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            partitions: 3,
            replication: 1,
            client_id: "vision".into(),
            lag_every: Duration::from_secs(10),
            instance_id: None,
            session_timeout: Self::DEFAULT_SESSION_TIMEOUT,
        }
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", &self.client_id)
            // A broker that stops answering (frozen, or a network that drops packets) is given
            // up on after 5 s instead of librdkafka's 60, and reconnects are tried at least
            // every second, so that the pipeline resumes within a second or two of its return.
            // (Not much lower: tansu holds a static member's JoinGroup and SyncGroup ~3 s.)
            .set("socket.timeout.ms", "5000")
            .set("reconnect.backoff.max.ms", "1000");
        config
    }
}

pub struct KafkaBus {
    settings: KafkaSettings,
    producer: FutureProducer,
}

impl KafkaBus {
    /// A producer for `settings.brokers`. No connection is made yet: librdkafka connects in the
    /// background and reconnects on its own; [`MessageBus::ping`] tells whether it can.
    pub fn new(settings: KafkaSettings) -> Result<Self, BusError> {
        let producer = settings
            .client_config()
            .set("enable.idempotence", "true")
            .set(
                "message.timeout.ms",
                PUBLISH_TIMEOUT.as_millis().to_string(),
            )
            .set("linger.ms", "2")
            // One request waits at most this for its answer, then is retried (idempotently).
            .set("request.timeout.ms", "5000")
            .create()
            .map_err(unavailable)?;
        Ok(Self { settings, producer })
    }

    /// Creates the topics that do not exist yet, with the configured partitions and replication;
    /// existing topics are left as they are, and when all exist no admin request is made.
    pub async fn ensure_topics(&self, topics: &[&str]) -> Result<(), BusError> {
        let metadata = self.cluster_metadata().await?;
        let existing: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
        let missing: Vec<&str> = topics
            .iter()
            .copied()
            .filter(|t| !existing.contains(t))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = self
            .settings
            .client_config()
            .create()
            .map_err(unavailable)?;
        let new: Vec<NewTopic> = missing
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.settings.partitions,
                    TopicReplication::Fixed(self.settings.replication),
                )
            })
            .collect();
        let options = AdminOptions::new()
            .operation_timeout(Some(METADATA_TIMEOUT))
            .request_timeout(Some(METADATA_TIMEOUT));
        // The request timeout starts only once a broker is connected: bound the wait for one too.
        let results = tokio::time::timeout(
            METADATA_TIMEOUT * 2,
            admin.create_topics(new.iter(), &options),
        )
        .await
        .map_err(|_| BusError::Unavailable("no broker answered the topic check".into()))?
        .map_err(unavailable)?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(BusError::Unavailable(format!(
                        "cannot create topic {topic}: {code}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Every topic of the cluster (a blocking librdkafka call, so off the async workers).
    async fn cluster_metadata(&self) -> Result<Metadata, BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, METADATA_TIMEOUT)
        })
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))?
        .map_err(unavailable)
    }

    fn consumer(
        &self,
        topic: &str,
        group: &str,
        from: &str,
        commits: bool,
    ) -> Result<StreamConsumer, BusError> {
        let mut config = self.settings.client_config();
        if commits && let Some(instance) = &self.settings.instance_id {
            // One static member per consumer: a process reading several topics in one group
            // (the recorder) has one consumer per topic, and two members with the same
            // instance id would fence each other off.
            config.set("group.instance.id", format!("{group}-{topic}-{instance}"));
        }
        config
            .set("group.id", group)
            .set("auto.offset.reset", from)
            .set("enable.auto.commit", commits.to_string())
            .set("auto.commit.interval.ms", "1000")
            // Offsets are stored by acknowledgements only (see OffsetTracker).
            .set("enable.auto.offset.store", "false")
            .set(
                "session.timeout.ms",
                self.settings.session_timeout.as_millis().to_string(),
            )
            .set("heartbeat.interval.ms", "1000")
            // A broker that answers a fetch only when this wait ends (tansu appears to, whatever
            // fetch.min.bytes says) adds it to every hop of the pipeline: at 20 images/s through
            // tansu, accepted -> recorded p50 was 1.8 s with the default 500 ms, 375 ms with
            // 50 ms, 112 ms with 20 ms. The price: an idle consumer asks 50 times a second.
            .set("fetch.wait.max.ms", "20")
            .create()
            .map_err(unavailable)
    }

    /// The partitions of `topic`, from the broker's metadata.
    async fn partitions(
        &self,
        consumer: &Arc<StreamConsumer>,
        topic: &str,
    ) -> Result<Vec<i32>, BusError> {
        let (consumer, name) = (consumer.clone(), topic.to_string());
        let metadata = tokio::task::spawn_blocking(move || {
            consumer.fetch_metadata(Some(&name), METADATA_TIMEOUT)
        })
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))?
        .map_err(unavailable)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(BusError::Unavailable(format!(
                "topic {topic} has no partitions"
            )));
        }
        Ok(partitions)
    }
}

fn unavailable(e: KafkaError) -> BusError {
    BusError::Unavailable(e.to_string())
}

#[async_trait]
impl MessageBus for KafkaBus {
    async fn publish_bytes(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
    ) -> Result<(), BusError> {
        super::record_size(topic, &payload);
        let record = FutureRecord::to(topic).key(key).payload(&payload);
        self.producer
            .send(record, PUBLISH_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(e, _)| unavailable(e))
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Subscription, BusError> {
        let consumer = Arc::new(self.consumer(topic, group, "earliest", true)?);
        consumer.subscribe(&[topic]).map_err(unavailable)?;
        tokio::spawn(report_lag(
            Arc::downgrade(&consumer),
            group.to_string(),
            self.settings.lag_every,
        ));
        Ok(deliveries(consumer, topic, true))
    }

    async fn subscribe_live(&self, topic: &str) -> Result<Subscription, BusError> {
        let group = format!("{}-live-{}", self.settings.client_id, uuid::Uuid::new_v4());
        let consumer = Arc::new(self.consumer(topic, &group, "latest", false)?);
        let mut assignment = TopicPartitionList::new();
        for partition in self.partitions(&consumer, topic).await? {
            assignment
                .add_partition_offset(topic, partition, Offset::End)
                .map_err(unavailable)?;
        }
        consumer.assign(&assignment).map_err(unavailable)?;
        Ok(deliveries(consumer, topic, false))
    }

    fn kind(&self) -> &'static str {
        "kafka"
    }

    async fn ping(&self) -> Result<(), BusError> {
        let producer = self.producer.clone();
        tokio::task::spawn_blocking(move || {
            producer.client().fetch_metadata(None, METADATA_TIMEOUT)
        })
        .await
        .map_err(|e| BusError::Unavailable(e.to_string()))?
        .map(|_| ())
        .map_err(unavailable)
    }
}

/// Every `every`, sets `vision_consumer_lag{topic, group}` to the messages of this
/// consumer's partitions not yet committed (high watermark - committed offset), until the
/// subscription is dropped. Each replica reports its own partitions; dashboards sum them.
async fn report_lag(consumer: Weak<StreamConsumer>, group: String, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        let Some(consumer) = consumer.upgrade() else {
            return;
        };
        let lag = tokio::task::spawn_blocking(move || lag_by_topic(&consumer)).await;
        match lag {
            Ok(Ok(lag)) => {
                for (topic, messages) in lag {
                    crate::metrics::metrics()
                        .consumer_lag
                        .with_label_values(&[topic.as_str(), group.as_str()])
                        .set(messages as f64);
                }
            }
            Ok(Err(e)) => tracing::debug!(%group, error = %e, "consumer lag unknown"),
            Err(_) => return,
        }
    }
}

/// Uncommitted messages per topic over the consumer's current assignment.
fn lag_by_topic(consumer: &StreamConsumer) -> Result<HashMap<String, i64>, KafkaError> {
    let committed = consumer.committed(METADATA_TIMEOUT)?;
    let mut lag = HashMap::new();
    for tp in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(tp.topic(), tp.partition(), METADATA_TIMEOUT)?;
        let done = match tp.offset() {
            Offset::Offset(n) => n,
            _ => low,
        };
        *lag.entry(tp.topic().to_string()).or_insert(0) += (high - done).max(0);
    }
    Ok(lag)
}

/// The consumer's messages as deliveries; acknowledging stores offsets when `commits`.
fn deliveries(consumer: Arc<StreamConsumer>, topic: &str, commits: bool) -> Subscription {
    let tracker = Arc::new(Mutex::new(OffsetTracker::default()));
    let topic = topic.to_string();
    let mut errors = ErrorLog::default();
    Subscription::new(async_stream::stream! {
        loop {
            let received = match consumer.recv().await {
                Ok(message) => {
                    let key = message.key().map(|k| String::from_utf8_lossy(k).into_owned());
                    let payload = Bytes::copy_from_slice(message.payload().unwrap_or_default());
                    Ok((message.partition(), message.offset(), key.unwrap_or_default(), payload))
                }
                Err(e) => Err(e),
            };
            let (partition, offset, key, payload) = match received {
                Ok(parts) => parts,
                Err(e) => {
                    // The broker is away or the group rebalances: librdkafka reconnects itself.
                    // Errors queue up in front of the group's assignment while the broker is
                    // down, so they are drained at once: pausing on each one held a stage that
                    // joined during an outage idle for 36 s after a 4 s outage.
                    errors.report(&topic, &e);
                    continue;
                }
            };
            let delivery = Delivery::new(topic.clone(), key, payload);
            if !commits {
                yield delivery;
                continue;
            }
            tracker.lock().expect("offset tracker poisoned").received(partition, offset);
            let (tracker, consumer, topic) = (tracker.clone(), consumer.clone(), topic.clone());
            yield delivery.with_acker(Box::new(move || {
                let next = tracker.lock().expect("offset tracker poisoned").done(partition, offset);
                let Some(next) = next else { return Ok(()) };
                let mut offsets = TopicPartitionList::new();
                offsets
                    .add_partition_offset(&topic, partition, Offset::Offset(next))
                    .map_err(unavailable)?;
                consumer.store_offsets(&offsets).map_err(unavailable)
            }));
        }
    })
}

/// Logs consumer errors, at most one per [`CONSUMER_ERROR_LOG_EVERY`]: during an outage
/// librdkafka reports every failed reconnection.
#[derive(Default)]
struct ErrorLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl ErrorLog {
    fn report(&mut self, topic: &str, error: &KafkaError) {
        if self
            .last
            .is_some_and(|last| last.elapsed() < CONSUMER_ERROR_LOG_EVERY)
        {
            self.suppressed += 1;
            return;
        }
        tracing::warn!(topic, %error, suppressed = self.suppressed, "Kafka consumer error");
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }
}

/// Per partition, the offsets handed out and not yet acknowledged, and so the offset that may be
/// committed: the oldest one still in flight, or one past the newest acknowledged.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, PartitionOffsets>,
}

#[derive(Debug, Default)]
struct PartitionOffsets {
    in_flight: BTreeSet<i64>,
    newest_done: Option<i64>,
}

impl OffsetTracker {
    pub fn received(&mut self, partition: i32, offset: i64) {
        self.partitions
            .entry(partition)
            .or_default()
            .in_flight
            .insert(offset);
    }

    /// Marks `offset` done; returns the offset now committable for its partition (the next one
    /// to read after a restart), or `None` when nothing changed (an unknown or repeated ack, as
    /// after a rebalance handed the message out twice).
    pub fn done(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let p = self.partitions.get_mut(&partition)?;
        if !p.in_flight.remove(&offset) {
            return None;
        }
        p.newest_done = Some(p.newest_done.map_or(offset, |n| n.max(offset)));
        let next = match p.in_flight.first() {
            Some(&oldest) => oldest,
            None => p.newest_done? + 1,
        };
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::OffsetTracker;

    #[test]
    fn commits_never_pass_a_delivery_in_flight() {
        let mut t = OffsetTracker::default();
        for offset in 10..14 {
            t.received(0, offset);
        }
        t.received(1, 5);
        // 11 and 13 finish first: 10 still runs, so a restart must begin at 10.
        assert_eq!(t.done(0, 11), Some(10));
        assert_eq!(t.done(0, 13), Some(10));
        // 10 done: 12 is the oldest unfinished.
        assert_eq!(t.done(0, 10), Some(12));
        assert_eq!(t.done(0, 12), Some(14));
        // Partitions are independent; repeated or unknown acks change nothing.
        assert_eq!(t.done(1, 5), Some(6));
        assert_eq!(t.done(1, 5), None);
        assert_eq!(t.done(7, 1), None);
    }
}
