//! The distributed mode end to end: the gateway and every stage as separate `vision` processes
//! on a Kafka broker (librdkafka's mock cluster, hosted by this test: the real protocol over
//! TCP), the local PostgreSQL and a shared object folder. Mid-stream the extractor and a
//! classifier are killed with SIGKILL and restarted; at the end every image has exactly one
//! prediction per head and nothing is recorded twice. (A broker outage is not simulated here:
//! the mock's `broker_down` leaves a produce request hanging past the message timeout, unlike a
//! broker that dies; the outage was checked by hand against tansu, see the README.)

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use vision_db::sea_orm::{ConnectionTrait, Database};

use crate::images;
use crate::kafka::{free_port, pipeline_topics, wait_ready};

const IMAGES: usize = 60;
const HEADS: [&str; 3] = ["fast", "balanced", "accurate"];

/// A fresh database on the local PostgreSQL (`VISION_TEST_POSTGRES_URL` overrides the server).
async fn fresh_database() -> String {
    let base = std::env::var("VISION_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let admin = Database::connect(&base).await.unwrap_or_else(|e| {
        panic!("this test needs PostgreSQL at {base} (scripts/services.sh starts it): {e}")
    });
    let name = format!("vision_e2e_{}", uuid::Uuid::new_v4().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    format!("{server}/{name}")
}

/// One `vision` process with the shared settings, on its own operator port.
struct Process {
    args: Vec<&'static str>,
    port: u16,
    child: Child,
}

struct Cluster {
    env: Vec<(&'static str, String)>,
}

impl Cluster {
    async fn spawn(&self, args: &[&'static str]) -> Process {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_vision"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("VISION_ADDR", format!("127.0.0.1:{port}"))
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut process = Process {
            args: args.to_vec(),
            port,
            child,
        };
        process.wait_ready().await;
        process
    }

    /// SIGKILL, then the same stage again.
    async fn kill_and_restart(&self, process: &mut Process) {
        process.child.start_kill().unwrap();
        process.child.wait().await.unwrap();
        *process = self.spawn(&process.args.clone()).await;
    }
}

impl Process {
    async fn wait_ready(&mut self) {
        let what = format!("{:?}", self.args);
        wait_ready(&mut self.child, self.port, &what).await;
    }
}

async fn upload(client: &reqwest::Client, api: &str, bytes: Vec<u8>) -> String {
    let operations = json!({
        "query": "mutation($f: Upload!) { uploadImage(file: $f) { id } }",
        "variables": { "f": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes).file_name("image.png"),
        );
    let response: Value = client
        .post(format!("{api}/graphql"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["data"]["uploadImage"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("upload refused: {response}"))
        .to_string()
}

/// Every image's heads, as the gateway reports them.
async fn recorded(client: &reqwest::Client, api: &str) -> Vec<(String, String, Vec<String>)> {
    let response: Value = client
        .post(format!("{api}/graphql"))
        .json(&json!({ "query": "{ images(first: 100) { edges { node { id status predictions { model } } } } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    response["data"]["images"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("{response}"))
        .iter()
        .map(|e| {
            let node = &e["node"];
            let models = node["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["model"].as_str().unwrap().to_string())
                .collect();
            (
                node["id"].as_str().unwrap().to_string(),
                node["status"].as_str().unwrap().to_string(),
                models,
            )
        })
        .collect()
}

fn shared_settings(dir: &Path, brokers: &str, database: &str) -> Vec<(&'static str, String)> {
    vec![
        ("KAFKA_BROKERS", brokers.to_string()),
        ("DATABASE_URL", database.to_string()),
        (
            "VISION_MODELS_DIR",
            dir.join("models").display().to_string(),
        ),
        ("VISION_DATA_DIR", dir.join("data").display().to_string()),
        (
            "VISION_OBJECTS_DIR",
            dir.join("objects").display().to_string(),
        ),
        ("RUST_LOG", "warn".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_survive_sigkill_without_loss_or_duplicates() {
    let broker = MockCluster::new(1).unwrap();
    let brokers = pipeline_topics(&broker);
    let dir = tempfile::tempdir().unwrap();
    vision_inference::testkit::write_bundle(&dir.path().join("models"), 32).unwrap();
    let database = fresh_database().await;
    let cluster = Cluster {
        env: shared_settings(dir.path(), &brokers, &database),
    };

    // The recorder first: it migrates the database.
    let _recorder = cluster.spawn(&["worker", "recorder"]).await;
    let api = cluster.spawn(&["api"]).await;
    let mut extractor = cluster.spawn(&["worker", "extractor"]).await;
    let mut fast = cluster
        .spawn(&["worker", "classifier", "--model", "fast"])
        .await;
    let _balanced = cluster
        .spawn(&["worker", "classifier", "--model", "balanced"])
        .await;
    let _accurate = cluster
        .spawn(&["worker", "classifier", "--model", "accurate"])
        .await;
    let api_url = format!("http://127.0.0.1:{}", api.port);

    let client = reqwest::Client::new();
    let mut uploaded = BTreeSet::new();
    for i in 0..IMAGES {
        // Distinct bytes, so that no image reuses another's descriptors.
        let colour = [(i * 4) as u8, 255 - (i * 4) as u8, (i * 7 % 256) as u8];
        uploaded.insert(upload(&client, &api_url, images::png(colour)).await);
        if i == IMAGES / 3 {
            cluster.kill_and_restart(&mut extractor).await;
            cluster.kill_and_restart(&mut fast).await;
        }
    }

    // Killed members leave the groups after their 10 s session timeout; then all completes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let images = loop {
        let images = recorded(&client, &api_url).await;
        if images.len() == IMAGES && images.iter().all(|(_, status, _)| status == "COMPLETED") {
            break images;
        }
        assert!(
            Instant::now() < deadline,
            "not all complete: {:?}",
            images
                .iter()
                .filter(|(_, status, _)| status != "COMPLETED")
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let ids: BTreeSet<String> = images.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(ids, uploaded, "every accepted upload, and nothing else");
    for (id, _, mut models) in images {
        models.sort();
        let mut want: Vec<String> = HEADS.iter().map(|h| h.to_string()).collect();
        want.sort();
        assert_eq!(
            models, want,
            "image {id}: one prediction per head, none twice"
        );
    }
}
