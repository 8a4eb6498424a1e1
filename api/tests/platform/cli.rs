//! F12 and the `vision` binary: `schema.graphql` is the served schema; the split subcommands
//! say what they need instead of pretending.

use std::process::Command;

use crate::kafka::{free_port, pipeline_topics, wait_ready};

#[test]
fn schema_graphql_is_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let served = vision_api::graphql::sdl();
    assert!(
        committed == served,
        "schema.graphql differs from the served schema; regenerate it with \
         `cargo run -p vision-api -- schema > schema.graphql`"
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_vision"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), served);
}

#[test]
fn split_subcommands_need_the_kafka_bus() {
    for args in [
        &["api"][..],
        &["worker", "extractor"],
        &["worker", "classifier", "--model", "fast"],
        &["worker", "recorder"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_vision"))
            .args(args)
            .env_remove("KAFKA_BROKERS")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("needs KAFKA_BROKERS"), "{args:?}: {stderr}");
    }
}

/// Runs `vision ARGS --url <app>` (a client command) and returns (success, stdout, stderr).
async fn client_command(app: &crate::common::TestApp, args: &[&str]) -> (bool, String, String) {
    run_vision(args.iter().copied().chain(["--url", app.base.as_str()])).await
}

/// Runs `vision ARGS` and returns (success, stdout, stderr).
async fn run_vision<'a>(args: impl IntoIterator<Item = &'a str>) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
        .args(args)
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[tokio::test]
async fn client_commands_upload_watch_stats_and_stream() {
    use crate::common::{TestApp, prepared_dir, write_cifar10};
    use crate::images::{self, BLUE, RED};

    let dir = prepared_dir();
    write_cifar10(dir.path(), &[(RED, "airplane"), (BLUE, "bird")], 2);
    let app = TestApp::start_in(dir).await;
    let files = tempfile::tempdir().unwrap();
    let red = files.path().join("red.png");
    std::fs::write(&red, images::png(RED)).unwrap();
    let broken = files.path().join("broken.png");
    std::fs::write(&broken, images::corrupt_png()).unwrap();

    // `watch` prints the predictions of the upload below as they arrive.
    let watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
        .args(["watch", "--count", "3", "--url", &app.base])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let (ok, stdout, stderr) = client_command(
        &app,
        &["upload", red.to_str().unwrap(), "--label", "airplane"],
    )
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    for model in ["fast", "balanced", "accurate"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(model) && l.contains("airplane") && l.contains("right")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("consensus airplane"), "{stdout}");

    let watched =
        tokio::time::timeout(std::time::Duration::from_secs(30), watch.wait_with_output())
            .await
            .expect("watch ends after 3 predictions")
            .unwrap();
    let watched = String::from_utf8_lossy(&watched.stdout);
    assert_eq!(
        watched.lines().filter(|l| l.contains("airplane")).count(),
        3,
        "{watched}"
    );

    // A refused file: its code on stderr, a failing exit status.
    let (ok, _, stderr) = client_command(&app, &["upload", broken.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(stderr.contains("CORRUPT_IMAGE"), "{stderr}");

    let (ok, stdout, stderr) =
        client_command(&app, &["stream", "cifar10", "--limit", "4", "--rate", "50"]).await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FINISHED: 4/4 sent, 4 completed, 0 failed"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = client_command(&app, &["stats", "--json"]).await;
    assert!(ok, "{stderr}");
    let stats: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let counts: Vec<i64> = stats["modelStats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, vec![5, 5, 5]);
    let (ok, table, _) = client_command(&app, &["stats"]).await;
    assert!(
        ok && table.contains("accurate") && table.contains("100.0% (5/5)"),
        "{table}"
    );
    app.stop().await;
}

/// A tiny archive in the official binary layout: `n_train` + `n_test` solid 32x32 records.
fn official_archive(n_train: usize, n_test: usize) -> Vec<u8> {
    let record = |class: u8| {
        let mut r = vec![class];
        r.extend(std::iter::repeat_n(40 * class, 3072));
        r
    };
    let batch = |n: usize| {
        (0..n)
            .flat_map(|i| record((i % 10) as u8))
            .collect::<Vec<u8>>()
    };
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, bytes) in [
        ("cifar-10-batches-bin/data_batch_1.bin", batch(n_train)),
        ("cifar-10-batches-bin/test_batch.bin", batch(n_test)),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, name, bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// `vision dataset download-cifar10` against a local server standing in for the official site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cifar10_download_checks_the_archive_before_a_replay_can_use_it() {
    use crate::common::{TestApp, prepared_dir};
    use axum::routing::get;

    let archive = official_archive(3, 2);
    let site = axum::Router::new()
        .route("/cifar.tar.gz", get(move || async move { archive.clone() }))
        .route("/broken.tar.gz", get(|| async { "<html>moved</html>" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, site).await.unwrap() });
    let download = |url: String, dir: std::path::PathBuf| async move {
        let dir = dir.to_string_lossy().into_owned();
        run_vision(["dataset", "download-cifar10", "--url", &url, "--dir", &dir]).await
    };

    // Not an archive, or not there: an error that says so, and nothing left behind.
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = download(format!("{base}/broken.tar.gz"), empty.path().into()).await;
    assert!(!ok);
    assert!(stderr.contains("not a CIFAR-10 binary archive"), "{stderr}");
    let (ok, _, stderr) = download(format!("{base}/missing"), empty.path().into()).await;
    assert!(!ok);
    assert!(stderr.contains("404"), "{stderr}");
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);

    // A good one lands where replays look, and is not fetched twice.
    let dir = prepared_dir();
    let target = dir.path().join("cifar10");
    let (ok, stdout, stderr) = download(format!("{base}/cifar.tar.gz"), target.clone()).await;
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("downloaded") && stdout.contains("3 train and 2 test images"),
        "{stdout}"
    );
    assert!(
        stderr.contains("the official set has 50000 train"),
        "{stderr}"
    );
    let (ok, stdout, _) = download(format!("{base}/missing"), target.clone()).await;
    assert!(ok && stdout.contains("already there"), "{stdout}");

    let app = TestApp::start_in(dir).await;
    let started = app
        .query(
            "mutation { startReplay(input: { split: TEST, limit: 2, rate: 50 }) { id } }",
            serde_json::json!({}),
        )
        .await;
    let id = started["startReplay"]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let replay = app
            .query(
                "query($id: ID!) { replay(id: $id) { status submitted completed } }",
                serde_json::json!({ "id": id }),
            )
            .await["replay"]
            .clone();
        if replay["status"] != "RUNNING" {
            assert_eq!(replay["status"], "FINISHED", "{replay:#}");
            assert_eq!(
                (replay["submitted"].as_i64(), replay["completed"].as_i64()),
                (Some(2), Some(2))
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replay stuck: {replay:#}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    app.stop().await;
}

/// `vision worker classifier` as its own process on Kafka (librdkafka's mock cluster, in this
/// test process): it answers a features message with a prediction, and serves its probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_classifier_worker_process_answers_over_kafka_and_serves_its_probes() {
    use rdkafka::mocking::MockCluster;
    use vision_core::bus::{KafkaBus, KafkaSettings};
    use vision_core::messages::{self, PredictionMade};
    use vision_core::{MessageBus, topics};

    let cluster = MockCluster::new(1).unwrap();
    let brokers = pipeline_topics(&cluster);
    let dir = crate::common::prepared_dir();
    let port = free_port();
    let mut worker = ready_classifier(&brokers, dir.path(), port).await;
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let health: serde_json::Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "UP", "{health:#}");
    assert_eq!(health["components"][0]["kind"], "kafka", "{health:#}");

    let bus = KafkaBus::new(KafkaSettings::new(brokers)).unwrap();
    let mut predictions = bus
        .subscribe(topics::PREDICTIONS_OUTPUT.name(), "test-reader")
        .await
        .unwrap();
    let image_id = publish_features(&bus).await;
    let delivery = tokio::time::timeout(std::time::Duration::from_secs(30), predictions.next())
        .await
        .expect("a prediction in time")
        .unwrap();
    let prediction: PredictionMade = messages::decode(&delivery.payload).unwrap();
    assert_eq!(prediction.image_id, image_id);
    assert_eq!(prediction.model, "fast");
    assert_eq!(prediction.label.as_deref(), Some("cat"));
    assert_eq!(delivery.key, image_id.to_string());

    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("vision_predictions_total{model=\"fast\"} 1"),
        "{metrics}"
    );
    worker.kill().await.unwrap();
}

/// A `vision worker classifier --model fast` process on `brokers`, once its `/ready` says so.
async fn ready_classifier(
    brokers: &str,
    dir: &std::path::Path,
    port: u16,
) -> tokio::process::Child {
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
        .args(["worker", "classifier", "--model", "fast"])
        .env("KAFKA_BROKERS", brokers)
        .env("VISION_ADDR", format!("127.0.0.1:{port}"))
        .env("VISION_MODELS_DIR", dir.join("models"))
        .env("VISION_DATA_DIR", dir.join("data"))
        // Faster failover than the 45 s default, as a deployment without stable replica
        // names would set it.
        .env("KAFKA_SESSION_TIMEOUT_MS", "10000")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_ready(&mut worker, port, "classifier worker").await;
    worker
}

/// Publishes a features message for a new image; returns the image's id.
async fn publish_features(bus: &dyn vision_core::MessageBus) -> uuid::Uuid {
    use vision_core::messages::{self, FeaturesExtracted};
    let image_id = uuid::Uuid::new_v4();
    let features = FeaturesExtracted {
        v: messages::SCHEMA_VERSION,
        image_id,
        // The test bundle's heads read the mean colour (3 values).
        descriptors: vec![0.5; 3],
        // The heads read the production extractor's descriptors, named by its label.
        extractor_version: vision_testkit::bundle::EXTRACTOR_VERSION.into(),
        extract_ms: 1.0,
        label: Some("cat".into()),
        submitted_at: chrono::Utc::now(),
        content_key: None,
        other_descriptors: Vec::new(),
    };
    vision_core::topics::IMAGE_FEATURES
        .publish(bus, &image_id.to_string(), &features)
        .await
        .unwrap();
    image_id
}

/// A worker killed with SIGKILL (no goodbye to the group) is replaced: its successor gets the
/// partitions once the dead member's session (`KAFKA_SESSION_TIMEOUT_MS`, 10 s here) times
/// out, and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_partitions_move_to_its_replacement() {
    use rdkafka::mocking::MockCluster;
    use vision_core::bus::{KafkaBus, KafkaSettings};
    use vision_core::messages::{self, PredictionMade};
    use vision_core::{MessageBus, topics};

    let cluster = MockCluster::new(1).unwrap();
    let brokers = pipeline_topics(&cluster);
    let dir = crate::common::prepared_dir();
    let bus = KafkaBus::new(KafkaSettings::new(brokers.clone())).unwrap();
    let mut predictions = bus
        .subscribe(topics::PREDICTIONS_OUTPUT.name(), "test-reader")
        .await
        .unwrap();

    let mut first = ready_classifier(&brokers, dir.path(), free_port()).await;
    let answered = publish_features(&bus).await;
    let d = tokio::time::timeout(std::time::Duration::from_secs(30), predictions.next())
        .await
        .expect("first worker answers")
        .unwrap();
    assert_eq!(
        messages::decode::<PredictionMade>(&d.payload)
            .unwrap()
            .image_id,
        answered
    );
    d.ack().unwrap();
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();

    let _second = ready_classifier(&brokers, dir.path(), free_port()).await;
    let ids = [publish_features(&bus).await, publish_features(&bus).await];
    let mut got = std::collections::BTreeSet::new();
    while !ids.iter().all(|id| got.contains(id)) {
        // Session timeout (10 s) plus a rebalance.
        let d = tokio::time::timeout(std::time::Duration::from_secs(40), predictions.next())
            .await
            .expect("the replacement answers")
            .unwrap();
        let id = messages::decode::<PredictionMade>(&d.payload)
            .unwrap()
            .image_id;
        // At-least-once: the killed worker may not have committed its last offset, so the
        // replacement may answer that image again (the recorder's writes are idempotent).
        assert!(
            ids.contains(&id) || id == answered,
            "unexpected prediction for {id}"
        );
        got.insert(id);
        d.ack().unwrap();
    }
}

/// `vision serve` with no runtime configured serves with ONNX Runtime when its library loads,
/// and says which in `/health` and the `models` query; without the library it falls back to
/// tract and says why in its log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_onnx_runtime_by_default_else_tract() {
    let library = vision_inference::runtime::ort_backend::library_path();
    assert!(
        library.exists(),
        "this test needs ONNX Runtime: set ORT_DYLIB_PATH (scripts/test.sh does) or run \
         scripts/onnxruntime.sh; {} does not exist",
        library.display()
    );
    for (ort_path, expected) in [
        (library.as_os_str().to_owned(), "ort"),
        ("/nonexistent/libonnxruntime.so".into(), "tract"),
    ] {
        let dir = crate::common::prepared_dir();
        let port = free_port();
        let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_vision"))
            .arg("serve")
            .env_remove("VISION_RUNTIME")
            .env("ORT_DYLIB_PATH", &ort_path)
            .env("RUST_LOG", "warn")
            .env("VISION_ADDR", format!("127.0.0.1:{port}"))
            .env("VISION_MODELS_DIR", dir.path().join("models"))
            .env("VISION_DATA_DIR", dir.path().join("data"))
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_ready(&mut server, port, "vision serve").await;
        let base = format!("http://127.0.0.1:{port}");
        let health: serde_json::Value = reqwest::get(format!("{base}/health"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let models = health["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "models")
            .expect("a models component")
            .clone();
        assert_eq!(models["kind"], expected, "{health}");
        let answer: serde_json::Value = reqwest::Client::new()
            .post(format!("{base}/graphql"))
            .json(&serde_json::json!({ "query": "{ models { name runtime } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let runtimes: Vec<&str> = answer["data"]["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["runtime"].as_str().unwrap())
            .collect();
        assert!(
            !runtimes.is_empty() && runtimes.iter().all(|r| *r == expected),
            "{answer}"
        );
        server.start_kill().unwrap();
        let output = server.wait_with_output().await.unwrap();
        let log = String::from_utf8_lossy(&output.stdout).to_string()
            + &String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            log.contains("ONNX Runtime unavailable: serving with tract"),
            expected == "tract",
            "{log}"
        );
    }
}

/// `vision keys` and `vision audit` on the configured database: a bootstrap key only when none
/// exists, a list without secrets, a revocation, and the audit chain verified.
#[test]
fn keys_and_audit_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let vision = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_vision"))
            .args(args)
            .env("VISION_DATA_DIR", dir.path())
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    };
    let key = vision(&[
        "keys",
        "create",
        "--role",
        "admin",
        "--name",
        "boot",
        "--if-none",
    ]);
    assert!(
        key.trim().starts_with("vsk_") && key.trim().len() == 68,
        "{key}"
    );
    assert_eq!(
        vision(&["keys", "create", "--role", "admin", "--if-none"]),
        ""
    );
    let viewer = vision(&["keys", "create", "--role", "viewer", "--name", "ci"]);
    let list = vision(&["keys", "list"]);
    assert!(
        list.contains("boot") && list.contains("ci") && list.contains("viewer"),
        "{list}"
    );
    assert!(
        !list.contains(key.trim()) && !list.contains(viewer.trim()),
        "{list}"
    );
    let viewer_id = list
        .lines()
        .find(|line| line.contains(" ci "))
        .and_then(|line| line.split_whitespace().next())
        .unwrap()
        .to_string();
    vision(&["keys", "revoke", &viewer_id]);
    let list = vision(&["keys", "list"]);
    let revoked = list.lines().find(|line| line.contains(" ci ")).unwrap();
    assert!(revoked.trim_end().ends_with("UTC"), "{revoked}");
    // Three key changes on the record.
    assert_eq!(
        vision(&["audit", "verify"]).trim(),
        "audit log intact: 3 entries"
    );
    let log = vision(&["audit", "list"]);
    assert_eq!(log.matches("keys create").count(), 2, "{log}");
    assert_eq!(log.matches("keys revoke").count(), 1, "{log}");
}
