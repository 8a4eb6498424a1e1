//! The distributed mode end to end, every part a real separate process: a Kafka-compatible
//! broker (`tansu`), an S3 server (`moto_server`), the local PostgreSQL, and the gateway and
//! every stage as `vision` processes. 200 uploads; mid-stream the broker stops answering for
//! 5 s (SIGSTOP), then the extractor and a classifier are killed with SIGKILL and restarted. A
//! second test takes the broker away altogether (connections refused) on librdkafka's mock
//! cluster. At the end every accepted upload has exactly one prediction per head, nothing is
//! recorded twice, and every object is in S3.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use vision_testkit::{Moto, Tansu, free_port, postgres};

use crate::images;
use crate::kafka::{pipeline_topics, wait_ready};

const IMAGES: usize = 200;
const HEADS: [&str; 3] = ["fast", "balanced", "accurate"];
/// How long the broker stops answering in the tansu run.
const BROKER_OUTAGE: Duration = Duration::from_secs(5);

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
        self.spawn_as(args, &args.join("-")).await
    }

    /// A process under replica name `instance`.
    async fn spawn_as(&self, args: &[&'static str], instance: &str) -> Process {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_vision"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("VISION_ADDR", format!("127.0.0.1:{port}"))
            // Static group membership, as the Kubernetes workers have (their pod name): a
            // replica restarted after SIGKILL takes its partitions back at once. Without it,
            // tansu keeps the dead member (see README, distributed mode).
            .env("VISION_INSTANCE_ID", instance)
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
    let response = answer(
        client
            .post(format!("{api}/graphql"))
            .header("apollo-require-preflight", "true")
            .multipart(form),
    )
    .await;
    response["data"]["uploadImage"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("upload refused: {response}"))
        .to_string()
}

/// The JSON answer of a GraphQL request.
async fn answer(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Every image's status and heads, as the gateway reports them (all pages).
async fn recorded(client: &reqwest::Client, api: &str) -> Vec<(String, String, Vec<String>)> {
    let mut images = Vec::new();
    let mut after = Value::Null;
    loop {
        let response = answer(client.post(format!("{api}/graphql")).json(&json!({
            "query": "query($after: String) { images(first: 100, after: $after) { \
                      edges { node { id status predictions { model shadow } } } \
                      pageInfo { hasNextPage endCursor } } }",
            "variables": { "after": after },
        })))
        .await;
        let page = &response["data"]["images"];
        for edge in page["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{response}"))
        {
            let node = &edge["node"];
            // The answers: a head's later answer by another version (an image redelivered
            // after a promotion) is kept as a shadow's.
            let models = node["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["shadow"] == false)
                .map(|p| p["model"].as_str().unwrap().to_string())
                .collect();
            images.push((
                node["id"].as_str().unwrap().to_string(),
                node["status"].as_str().unwrap().to_string(),
                models,
            ));
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return images;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

/// The keys of the objects in `bucket`, straight from the S3 server.
async fn bucket_keys(moto: &Moto, bucket: &str) -> BTreeSet<String> {
    let auth = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, \
                SignedHeaders=host, Signature=0";
    let mut keys = BTreeSet::new();
    let mut token = String::new();
    loop {
        let path = format!("/{bucket}?list-type=2&max-keys=1000{token}");
        let (status, _, body) =
            vision_testkit::http(moto.port(), "GET", &path, &[("Authorization", auth)], b"")
                .await
                .unwrap();
        assert_eq!(status, 200, "listing {bucket}");
        let body = String::from_utf8(body).unwrap();
        keys.extend(xml_values(&body, "Key"));
        match xml_values(&body, "NextContinuationToken").first() {
            Some(next) => token = format!("&continuation-token={next}"),
            None => return keys,
        }
    }
}

/// The texts of every `<tag>` element (enough for a ListObjectsV2 answer).
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(value, _)| value.to_string()))
        .collect()
}

/// Waits until every upload is complete, then checks that the images are exactly `uploaded`,
/// each with one prediction per head. `context` is shown on failure.
async fn complete_exactly_once(
    client: &reqwest::Client,
    api_url: &str,
    uploaded: &BTreeSet<String>,
    context: &str,
) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let images = loop {
        let images = recorded(client, api_url).await;
        if images.len() == uploaded.len()
            && images.iter().all(|(_, status, _)| status == "COMPLETED")
        {
            break images;
        }
        assert!(
            Instant::now() < deadline,
            "not all complete: {:?}\n{context}",
            images
                .iter()
                .filter(|(_, status, _)| status != "COMPLETED")
                .collect::<Vec<_>>(),
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let ids: BTreeSet<String> = images.iter().map(|(id, _, _)| id.clone()).collect();
    assert_eq!(&ids, uploaded, "every accepted upload, and nothing else");
    let mut want: Vec<String> = HEADS.iter().map(|h| h.to_string()).collect();
    want.sort();
    for (id, _, mut models) in images {
        models.sort();
        assert_eq!(models, want, "image {id}: one answer per head, none twice");
    }
}

/// Distinct bytes for upload `i`, so that no image reuses another's descriptors.
fn distinct_png(i: usize) -> Vec<u8> {
    images::png([i as u8, 255 - i as u8, (i * 7 % 256) as u8])
}

/// The gateway and the five stages, started in order (the recorder migrates the database).
struct Stages {
    api: Process,
    extractor: Process,
    fast: Process,
    _others: Vec<Process>,
}

impl Cluster {
    async fn start_stages(&self) -> Stages {
        let recorder = self.spawn(&["worker", "recorder"]).await;
        let api = self.spawn(&["api"]).await;
        let extractor = self.spawn(&["worker", "extractor"]).await;
        let fast = self
            .spawn(&["worker", "classifier", "--model", "fast"])
            .await;
        let balanced = self
            .spawn(&["worker", "classifier", "--model", "balanced"])
            .await;
        let accurate = self
            .spawn(&["worker", "classifier", "--model", "accurate"])
            .await;
        Stages {
            api,
            extractor,
            fast,
            _others: vec![recorder, balanced, accurate],
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_processes_on_kafka_and_s3_survive_a_broker_outage_and_sigkill() {
    let broker = Tansu::start().await;
    let moto = Moto::start().await;
    let database = postgres::fresh_database("vision_e2e").await;
    let dir = tempfile::tempdir().unwrap();
    vision_testkit::bundle::write_bundle(&dir.path().join("models"), 32).unwrap();
    let bucket = "vision-e2e";
    let cluster = Cluster {
        env: vec![
            ("KAFKA_BROKERS", broker.brokers()),
            ("DATABASE_URL", database),
            ("S3_ENDPOINT", moto.endpoint()),
            ("S3_BUCKET", bucket.to_string()),
            ("S3_ACCESS_KEY", "vision-e2e".to_string()),
            ("S3_SECRET_KEY", "vision-e2e-secret".to_string()),
            (
                "VISION_MODELS_DIR",
                dir.path().join("models").display().to_string(),
            ),
            (
                "VISION_DATA_DIR",
                dir.path().join("data").display().to_string(),
            ),
            // An upload waits 250 ms for the broker, then leaves its message to the outbox:
            // about 20 uploads are accepted while the broker is frozen.
            ("VISION_PUBLISH_WAIT_MS", "250".to_string()),
            // Nothing finishes while the broker is frozen: room for every upload of the run
            // in the gateway's backlog, so that the outbox, not backpressure, is what this
            // tests (the backlog bound has its own tests).
            ("VISION_MAX_BACKLOG", IMAGES.to_string()),
            ("RUST_LOG", "warn".to_string()),
        ],
    };

    let mut stages = cluster.start_stages().await;
    let api_url = format!("http://127.0.0.1:{}", stages.api.port);
    let client = reqwest::Client::new();
    let mut uploaded = BTreeSet::new();
    let mut outage = None;
    for i in 0..IMAGES {
        uploaded.insert(upload(&client, &api_url, distinct_png(i)).await);
        if i == IMAGES / 3 {
            // The pipeline runs (every group joined) before the broker stops answering; the
            // uploads go on through the outage.
            complete_exactly_once(&client, &api_url, &uploaded, "before the outage").await;
            broker.freeze();
            outage = Some(Instant::now());
        }
        if outage.is_some_and(|since| since.elapsed() > BROKER_OUTAGE) {
            broker.resume();
            outage = None;
        }
        if i == 2 * IMAGES / 3 {
            cluster.kill_and_restart(&mut stages.extractor).await;
            cluster.kill_and_restart(&mut stages.fast).await;
        }
    }
    if outage.is_some() {
        broker.resume();
    }
    let context = format!("broker:\n{}", broker.output());
    complete_exactly_once(&client, &api_url, &uploaded, &context).await;
    // Every image's object is in the bucket, under its id; beside them, the registry's copy
    // of each model of the bundle.
    let (keys, models): (BTreeSet<String>, BTreeSet<String>) = bucket_keys(&moto, bucket)
        .await
        .into_iter()
        .partition(|key| key.starts_with("raw-images/"));
    assert_eq!(keys.len(), IMAGES, "one object per image");
    assert_eq!(
        models.into_iter().collect::<Vec<_>>(),
        [
            "models/accurate/1.onnx",
            "models/balanced/1.onnx",
            "models/extractor/1.onnx",
            "models/fast/1.onnx"
        ],
        "the registry's files"
    );
    for id in &uploaded {
        assert!(
            keys.iter().any(|key| key.contains(id.as_str())),
            "no object for {id}"
        );
    }
}

/// The settings of every process of a run on librdkafka's mock cluster: the local PostgreSQL,
/// a shared object folder and the test bundle in `dir`, and `extra`.
fn mock_cluster(
    brokers: String,
    database: String,
    dir: &std::path::Path,
    extra: &[(&'static str, &str)],
) -> Cluster {
    let mut env = vec![
        ("KAFKA_BROKERS", brokers),
        ("DATABASE_URL", database),
        (
            "VISION_OBJECTS_DIR",
            dir.join("objects").display().to_string(),
        ),
        (
            "VISION_MODELS_DIR",
            dir.join("models").display().to_string(),
        ),
        ("VISION_DATA_DIR", dir.join("data").display().to_string()),
        // Room for every upload of a run (outages and kills stall the pipeline; backpressure
        // has its own tests).
        ("VISION_MAX_BACKLOG", "10000".to_string()),
        ("RUST_LOG", "warn".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Cluster { env }
}

/// A broker outage: librdkafka's mock cluster (the Kafka protocol over TCP, hosted by this test)
/// refuses every connection for a few seconds while uploads go on. Uploads are accepted (those
/// the broker cannot take wait in the outbox), the stages reconnect, and every image still ends
/// with one prediction per head, none twice. (The mock, unlike a real broker, holds one produce
/// request after coming back; the producer gives up on it after 5 s and sends it again.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_loses_nothing_and_duplicates_nothing() {
    let broker = MockCluster::new(1).unwrap();
    let brokers = pipeline_topics(&broker);
    let database = postgres::fresh_database("vision_e2e").await;
    let dir = tempfile::tempdir().unwrap();
    vision_testkit::bundle::write_bundle(&dir.path().join("models"), 32).unwrap();
    // An upload waits 1 s for the broker, then leaves its message to the outbox.
    let cluster = mock_cluster(
        brokers,
        database,
        dir.path(),
        &[("VISION_PUBLISH_WAIT_MS", "1000")],
    );
    let stages = cluster.start_stages().await;
    let api_url = format!("http://127.0.0.1:{}", stages.api.port);
    let client = reqwest::Client::new();
    let mut uploaded = BTreeSet::new();
    const OUTAGE_IMAGES: usize = 100;
    let mut outage = None;
    for i in 0..OUTAGE_IMAGES {
        uploaded.insert(upload(&client, &api_url, distinct_png(i)).await);
        if i == OUTAGE_IMAGES / 3 {
            // The pipeline runs (every group joined) before the broker goes away.
            complete_exactly_once(&client, &api_url, &uploaded, "before the outage").await;
            broker.broker_down(-1).unwrap();
            outage = Some(Instant::now());
        }
        if outage.is_some_and(|since| since.elapsed() > Duration::from_secs(4)) {
            broker.broker_up(-1).unwrap();
            outage = None;
        }
    }
    if outage.is_some() {
        broker.broker_up(-1).unwrap();
    }
    complete_exactly_once(&client, &api_url, &uploaded, "").await;
}

/// Promotion without downtime across processes: two replicas of the `fast` head share its
/// partitions; a new version is promoted in the middle of the uploads and one replica is killed
/// with SIGKILL right after (it restarts on the new version). Every image ends with one answer
/// per head, each `fast` answer by the old or the new version, and no replica goes back to the
/// old version once it served the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_reaches_every_replica_without_losing_an_image() {
    use vision_testkit::bundle::{CIFAR10_CLASSES, HeadSpec, head_onnx};

    use crate::ws::{Protocol, Subscriber};

    const PROMOTION_IMAGES: usize = 120;
    let broker = MockCluster::new(1).unwrap();
    let brokers = pipeline_topics(&broker);
    let database = postgres::fresh_database("vision_e2e").await;
    let dir = tempfile::tempdir().unwrap();
    vision_testkit::bundle::write_bundle(&dir.path().join("models"), 32).unwrap();
    // A replica killed without a goodbye is replaced sooner than Kafka's 45 s default;
    // replicas check the registry (and say what they serve) every 2 s.
    let cluster = mock_cluster(
        brokers,
        database,
        dir.path(),
        &[
            ("KAFKA_SESSION_TIMEOUT_MS", "10000"),
            ("VISION_MODEL_CHECK_MS", "2000"),
        ],
    );
    let mut stages = cluster.start_stages().await;
    // A second replica of `fast`, under another name.
    let _second = cluster
        .spawn_as(&["worker", "classifier", "--model", "fast"], "fast-second")
        .await;
    let api_url = format!("http://127.0.0.1:{}", stages.api.port);
    let client = reqwest::Client::new();

    // fast version 2: other weights.
    let weights =
        HeadSpec::colours("fast", "x", &CIFAR10_CLASSES, ["cat", "dog", "ship"], 5.0).weights;
    let operations = json!({
        "query": "mutation($f: Upload!) { registerModelVersion(file: $f, name: \"fast\", \
                  kind: CLASSIFIER, label: \"fast-cats\") { version } }",
        "variables": { "f": null },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.f"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(head_onnx(&weights)).file_name("fast.onnx"),
        );
    let registered = answer(
        client
            .post(format!("{api_url}/graphql"))
            .header("apollo-require-preflight", "true")
            .multipart(form),
    )
    .await;
    assert_eq!(
        registered["data"]["registerModelVersion"]["version"], 2,
        "{registered}"
    );

    // The rollout, live, from before the promotion.
    let mut rollout = Subscriber::connect(
        &format!("127.0.0.1:{}", stages.api.port),
        Protocol::TransportWs,
    )
    .await;
    rollout
        .subscribe(
            "rollout",
            "subscription { modelRollout(model: \"fast\") { replica production } }",
            json!({}),
        )
        .await;

    let mut uploaded = BTreeSet::new();
    for i in 0..PROMOTION_IMAGES {
        uploaded.insert(upload(&client, &api_url, distinct_png(i)).await);
        if i == PROMOTION_IMAGES / 3 {
            complete_exactly_once(&client, &api_url, &uploaded, "before the promotion").await;
            let promoted = answer(client.post(format!("{api_url}/graphql")).json(&json!({
                "query": "mutation { promoteModelVersion(name: \"fast\", version: 2) { changed } }"
            })))
            .await;
            assert_eq!(
                promoted["data"]["promoteModelVersion"]["changed"], true,
                "{promoted}"
            );
            // One replica dies during the swap; it comes back on the new version.
            cluster.kill_and_restart(&mut stages.fast).await;
        }
    }
    complete_exactly_once(&client, &api_url, &uploaded, "").await;

    // Every `fast` prediction is by the old or the new version, and both answered (a second
    // prediction of a redelivered image is a shadow's: checked above, one answer per head).
    let mut versions = BTreeSet::new();
    let mut after = Value::Null;
    loop {
        let page = answer(client.post(format!("{api_url}/graphql")).json(&json!({
            "query": "query($after: String) { predictions(model: \"fast\", first: 100, \
                      after: $after) { edges { node { modelVersion shadow } } \
                      pageInfo { hasNextPage endCursor } } }",
            "variables": { "after": after },
        })))
        .await;
        let page = &page["data"]["predictions"];
        for edge in page["edges"].as_array().unwrap() {
            versions.insert(edge["node"]["modelVersion"].as_str().unwrap().to_string());
        }
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(
        versions.into_iter().collect::<Vec<_>>(),
        ["fast-cats", "fast-test-v1"]
    );

    // Each replica: the old version, then the new one, never the old again; both end on new.
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 2
        || seen
            .values()
            .any(|served| served.last().map(String::as_str) != Some("fast-cats"))
    {
        assert!(
            Instant::now() < deadline,
            "the rollout never completed: {seen:?}"
        );
        if let Some((_, payload)) = rollout.next_within(Duration::from_secs(5)).await {
            let serving = &payload["data"]["modelRollout"];
            seen.entry(serving["replica"].as_str().unwrap().to_string())
                .or_default()
                .push(serving["production"].as_str().unwrap().to_string());
        }
    }
    for (replica, served) in &seen {
        let first_new = served.iter().position(|l| l == "fast-cats").unwrap();
        assert!(
            served[first_new..].iter().all(|l| l == "fast-cats"),
            "{replica} went back: {served:?}"
        );
    }
}
