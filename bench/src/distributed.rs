//! `--distributed`: the platform as separate processes, as deployed: the gateway (`vision api`)
//! and the five stages (`vision worker ...`) on Kafka (`--brokers`, or a tansu broker started
//! here) and a fresh PostgreSQL database (on `--postgres`), sharing an object folder. The same
//! client then measures it through the gateway; the peak RSS is the sum over the six processes.

use std::process::Stdio;

use tokio::process::Command;
use vision_testkit::free_port;

use crate::Args;
use crate::server::{Process, Server, vision_binary, wait_ready};

/// Every stage, in start order (the recorder first: it migrates the database).
const STAGES: [&[&str]; 5] = [
    &["worker", "recorder"],
    &["worker", "extractor"],
    &["worker", "classifier", "--model", "fast"],
    &["worker", "classifier", "--model", "balanced"],
    &["worker", "classifier", "--model", "accurate"],
];

pub async fn start(args: &Args) -> anyhow::Result<Server> {
    let binary = vision_binary(args)?;
    let mut keep: Vec<Box<dyn Send + Sync>> = Vec::new();
    let mut helpers = Vec::new();
    let brokers = match &args.brokers {
        Some(brokers) => brokers.clone(),
        None => {
            let broker = vision_testkit::Tansu::start().await;
            let brokers = broker.brokers();
            helpers.extend(broker.pid().map(|pid| ("tansu".to_string(), pid)));
            keep.push(Box::new(broker));
            brokers
        }
    };
    let database =
        vision_testkit::postgres::fresh_database_on(&args.postgres, "vision_bench").await;
    let data = tempfile::tempdir()?;
    // One process, once it is ready.
    let spawn = async |stage: &[&str]| -> anyhow::Result<Process> {
        let port = free_port();
        let mut child = Command::new(&binary)
            .args(stage)
            .env("KAFKA_BROKERS", &brokers)
            .env("DATABASE_URL", &database)
            .env("VISION_ADDR", format!("127.0.0.1:{port}"))
            .env("VISION_INSTANCE_ID", stage.join("-"))
            .env("VISION_DATA_DIR", data.path())
            .env("VISION_OBJECTS_DIR", data.path().join("objects"))
            .env("VISION_MODELS_DIR", &args.models)
            .env("VISION_RUNTIME", &args.runtime)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let url = format!("http://127.0.0.1:{port}");
        wait_ready(&mut child, &url, &stage.join(" ")).await?;
        // "worker classifier --model fast" -> "classifier fast".
        let name = stage
            .iter()
            .filter(|a| **a != "worker" && !a.starts_with("--"))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Process { name, child, url })
    };
    let recorder = spawn(STAGES[0]).await?;
    // The gateway first: the stack's URL is its.
    let mut processes = vec![spawn(&["api"]).await?, recorder];
    for stage in &STAGES[1..] {
        processes.push(spawn(stage).await?);
    }
    keep.push(Box::new(data));
    Ok(Server::stack(processes, helpers, keep))
}
