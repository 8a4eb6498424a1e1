//! `--distributed`: the platform as separate processes, as deployed: the gateway (`vision api`)
//! and the stages (`vision worker ...`: the recorder, the extractor and one classifier per head
//! of the bundle in `--models`) on Kafka (`--brokers`, or a tansu broker started here) and a
//! fresh PostgreSQL database (on `--postgres`), sharing an object folder. The same client then
//! measures it through the gateway; the peak RSS is the sum over the processes.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context as _;
use tokio::process::Command;
use vision_inference::Manifest;
use vision_testkit::free_port;

use crate::Args;
use crate::server::{Process, Server, vision_binary, wait_ready};

/// Every stage's arguments, in start order: the recorder first (it migrates the database), the
/// extractor, then one classifier per head of the bundle in `models` (`manifest.json`): each
/// head name once, in the bundle's order, whatever versions it comes with.
fn stages(models: &Path) -> anyhow::Result<Vec<Vec<String>>> {
    let path = models.join("manifest.json");
    let manifest =
        Manifest::load(&path).with_context(|| format!("the model bundle {}", path.display()))?;
    let heads = manifest.head_names();
    anyhow::ensure!(!heads.is_empty(), "{}: no classifier head", path.display());
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut stages = vec![
        args(&["worker", "recorder"]),
        args(&["worker", "extractor"]),
    ];
    stages.extend(
        heads
            .into_iter()
            .map(|h| args(&["worker", "classifier", "--model", &h])),
    );
    Ok(stages)
}

pub async fn start(args: &Args) -> anyhow::Result<Server> {
    let binary = vision_binary(args)?;
    // Before anything starts: a bundle that cannot be read stops the run here.
    let stages = stages(&args.models)?;
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
    let spawn = async |stage: &[String]| -> anyhow::Result<Process> {
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
            // The benchmark measures the pipeline at saturation from one address, not the
            // rate limits.
            .env("VISION_RATE_PER_KEY", "0")
            .env("VISION_RATE_PER_IP", "0")
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
            .filter(|a| *a != "worker" && !a.starts_with("--"))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Process { name, child, url })
    };
    let recorder = spawn(&stages[0]).await?;
    // The gateway first: the stack's URL is its.
    let mut processes = vec![spawn(&["api".to_string()]).await?, recorder];
    for stage in &stages[1..] {
        processes.push(spawn(stage).await?);
    }
    keep.push(Box::new(data));
    Ok(Server::stack(processes, helpers, keep))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped manifest with its heads replaced by `heads` (name, version) entries, each a
    /// copy of its first head: the files and checksums do not matter to the stage list.
    fn bundle_with(heads: &[(&str, &str)]) -> tempfile::TempDir {
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/manifest.json");
        let mut manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(shipped).unwrap()).unwrap();
        let models = manifest["models"].as_array().unwrap().clone();
        let extractor = models.iter().find(|m| m["role"] == "extractor").unwrap();
        let head = models.iter().find(|m| m["role"] == "classifier").unwrap();
        let mut entries = vec![extractor.clone()];
        for (name, version) in heads {
            let mut entry = head.clone();
            entry["name"] = (*name).into();
            entry["version"] = (*version).into();
            entries.push(entry);
        }
        manifest["models"] = entries.into();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("manifest.json"),
            serde_json::to_string(&manifest).unwrap(),
        )
        .unwrap();
        dir
    }

    fn classifier_models(stages: &[Vec<String>]) -> Vec<&str> {
        stages[2..]
            .iter()
            .map(|s| {
                assert_eq!(s[..3], ["worker", "classifier", "--model"]);
                s[3].as_str()
            })
            .collect()
    }

    #[test]
    fn one_classifier_per_head_name_of_the_bundle_in_its_order() {
        let dir = bundle_with(&[("small", "v1"), ("large", "v1"), ("small", "v2")]);
        let started = stages(dir.path()).unwrap();
        assert_eq!(started[0], ["worker", "recorder"]);
        assert_eq!(started[1], ["worker", "extractor"]);
        assert_eq!(classifier_models(&started), ["small", "large"]);

        let four = bundle_with(&[("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]);
        assert_eq!(
            classifier_models(&stages(four.path()).unwrap()),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn the_shipped_bundle_starts_its_heads() {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
        let manifest = Manifest::load(&models.join("manifest.json")).unwrap();
        let all = stages(&models).unwrap();
        let started = classifier_models(&all);
        for head in &manifest.classifiers {
            let n = started.iter().filter(|m| **m == head.name).count();
            assert_eq!(n, 1, "{} started once", head.name);
        }
        assert_eq!(started.len(), all.len() - 2);
    }

    #[test]
    fn a_missing_bundle_is_an_error_naming_it() {
        let error = stages(Path::new("/nonexistent-models")).unwrap_err();
        assert!(format!("{error:#}").contains("/nonexistent-models/manifest.json"));
    }
}
