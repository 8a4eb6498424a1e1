//! Helpers for tests that run `vision` processes on Kafka: librdkafka's mock cluster, hosted by
//! the test process, speaks the real protocol over TCP to the child processes.

use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use tokio::process::Child;
use vision_core::stage::table;

pub use vision_testkit::free_port;

/// Creates the pipeline's topics (those of the stage table, 2 partitions) on the mock cluster;
/// returns its brokers.
pub fn pipeline_topics(cluster: &MockCluster<'static, DefaultProducerContext>) -> String {
    for topic in table::all_topics() {
        cluster.create_topic(topic, 2, 1).unwrap();
    }
    cluster.bootstrap_servers()
}

/// Waits until the process on `port` answers `/ready` with 200; fails if it exits first.
pub async fn wait_ready(child: &mut Child, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/ready")).await
            && r.status() == 200
        {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "{what} exited");
        assert!(Instant::now() < deadline, "{what} never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
