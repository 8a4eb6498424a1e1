//! In-process bus for the embedded mode: bounded channels, one per consumer group, so a slow
//! stage pushes back on its producers instead of growing memory without limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{BusError, Delivery, MessageBus, Subscription};

const GROUP_CAPACITY: usize = 4096;

type Message = (String, Bytes);

#[derive(Default)]
struct Topic {
    groups: HashMap<String, Group>,
    /// Messages published before any group joined; handed to the first group that does.
    backlog: Vec<Message>,
}

#[derive(Clone)]
struct Group {
    tx: mpsc::Sender<Message>,
    rx: Arc<tokio::sync::Mutex<mpsc::Receiver<Message>>>,
}

#[derive(Clone, Default)]
pub struct MemoryBus {
    topics: Arc<Mutex<HashMap<String, Topic>>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl MessageBus for MemoryBus {
    async fn publish_bytes(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
    ) -> Result<(), BusError> {
        super::record_size(topic, &payload);
        let payload = Bytes::from(payload);
        let senders: Vec<mpsc::Sender<Message>> = {
            let mut topics = self.topics.lock().expect("bus lock");
            let entry = topics.entry(topic.to_string()).or_default();
            if entry.groups.is_empty() {
                entry.backlog.push((key.to_string(), payload));
                return Ok(());
            }
            entry.groups.values().map(|g| g.tx.clone()).collect()
        };
        for tx in senders {
            tx.send((key.to_string(), payload.clone()))
                .await
                .map_err(|_| BusError::Closed)?;
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str, group: &str) -> Result<Subscription, BusError> {
        let (group_handle, backlog) = {
            let mut topics = self.topics.lock().expect("bus lock");
            let entry = topics.entry(topic.to_string()).or_default();
            let first = entry.groups.is_empty();
            let handle = entry
                .groups
                .entry(group.to_string())
                .or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(GROUP_CAPACITY);
                    Group {
                        tx,
                        rx: Arc::new(tokio::sync::Mutex::new(rx)),
                    }
                })
                .clone();
            let backlog = if first {
                std::mem::take(&mut entry.backlog)
            } else {
                Vec::new()
            };
            (handle, backlog)
        };
        for message in backlog {
            group_handle
                .tx
                .send(message)
                .await
                .map_err(|_| BusError::Closed)?;
        }
        let topic = topic.to_string();
        let rx = group_handle.rx.clone();
        let stream = futures::stream::unfold((rx, topic), |(rx, topic)| async move {
            let next = rx.lock().await.recv().await;
            next.map(|(key, payload)| (Delivery::new(topic.clone(), key, payload), (rx, topic)))
        });
        Ok(Subscription::new(stream))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_group_sees_every_message_and_members_share() {
        let bus = MemoryBus::new();
        bus.publish_bytes("t", "early", b"0".to_vec())
            .await
            .unwrap();
        let mut a1 = bus.subscribe("t", "a").await.unwrap();
        let mut a2 = bus.subscribe("t", "a").await.unwrap();
        let mut b = bus.subscribe("t", "b").await.unwrap();
        // The backlog went to the first group only.
        assert_eq!(a1.next().await.unwrap().key, "early");
        for i in 1..=4 {
            bus.publish_bytes("t", &i.to_string(), vec![i])
                .await
                .unwrap();
        }
        let mut seen_a = Vec::new();
        for _ in 0..2 {
            seen_a.push(a1.next().await.unwrap().key);
            seen_a.push(a2.next().await.unwrap().key);
        }
        seen_a.sort();
        assert_eq!(seen_a, ["1", "2", "3", "4"]);
        for i in 1..=4 {
            let d = b.next().await.unwrap();
            assert_eq!(d.key, i.to_string());
            d.ack().unwrap();
        }
    }

    #[tokio::test]
    async fn published_sizes_are_counted_by_topic() {
        let bus = MemoryBus::new();
        let sizes = || {
            let h = crate::metrics::metrics()
                .message_bytes
                .with_label_values(&["sizes-topic"]);
            (h.get_sample_count(), h.get_sample_sum())
        };
        let before = sizes();
        bus.publish_bytes("sizes-topic", "k", vec![0; 160])
            .await
            .unwrap();
        bus.publish_bytes("sizes-topic", "k", vec![0; 40])
            .await
            .unwrap();
        let after = sizes();
        assert_eq!(after.0 - before.0, 2);
        assert_eq!(after.1 - before.1, 200.0);
    }
}
