//! `vision models ...`: the model registry of a running server, through GraphQL: list versions
//! and aliases, register a new version, promote, roll back, archive.

use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::client::Client;

#[derive(Debug, clap::Subcommand)]
pub enum ModelsCommand {
    /// Every registered model: its versions, and where its aliases point.
    List {
        /// Print the server's answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Registers an ONNX file as the next version of a model (checked by the server first).
    Register {
        /// The ONNX file.
        file: PathBuf,
        /// The model (a head's name, or `extractor`).
        #[arg(long)]
        name: String,
        /// What it is.
        #[arg(long, value_parser = ["classifier", "extractor"], default_value = "classifier")]
        kind: String,
        /// The version string its predictions will carry (default `{name}-v{number}`).
        #[arg(long)]
        label: Option<String>,
        /// A head's extractor (its label); the production extractor when absent.
        #[arg(long)]
        extractor_label: Option<String>,
        /// The model card, a JSON file.
        #[arg(long)]
        card: Option<PathBuf>,
    },
    /// Puts a version in production; every process serving the model swaps to it.
    Promote {
        name: String,
        version: i32,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Puts back in production the version that was there before the last promotion.
    Rollback {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Takes a version (not the production one) out of service.
    Archive {
        name: String,
        version: i32,
        #[arg(long)]
        reason: Option<String>,
    },
}

const VERSION: &str =
    "{ name version label kind sha256 sizeBytes registeredAt registeredBy aliases }";
const UPDATE: &str = "{ name alias previousVersion version changed }";

pub async fn run(client: &Client, command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::List { json } => list(client, json).await,
        ModelsCommand::Register {
            file,
            name,
            kind,
            label,
            extractor_label,
            card,
        } => {
            let card: Option<Value> = match card {
                Some(path) => Some(
                    serde_json::from_slice(
                        &std::fs::read(&path)
                            .with_context(|| format!("cannot read {}", path.display()))?,
                    )
                    .with_context(|| format!("{} is not JSON", path.display()))?,
                ),
                None => None,
            };
            let query = format!(
                "mutation($file: Upload!, $name: String!, $kind: ModelKind!, $label: String, \
                 $extractorLabel: String, $card: JSON) {{ registerModelVersion(file: $file, \
                 name: $name, kind: $kind, label: $label, extractorLabel: $extractorLabel, \
                 card: $card) {VERSION} }}"
            );
            let variables = json!({
                "file": null, "name": name, "kind": kind.to_uppercase(), "label": label,
                "extractorLabel": extractor_label, "card": card,
            });
            let data = client.with_file(&query, variables, &file).await?;
            let v = &data["registerModelVersion"];
            println!(
                "registered {} version {} ({}), sha256 {}",
                v["name"].as_str().unwrap_or("?"),
                v["version"],
                v["label"].as_str().unwrap_or("?"),
                v["sha256"].as_str().unwrap_or("?"),
            );
            Ok(())
        }
        ModelsCommand::Promote {
            name,
            version,
            reason,
        } => {
            let data = client
                .query(
                    &format!(
                        "mutation($name: String!, $version: Int!, $reason: String) \
                         {{ promoteModelVersion(name: $name, version: $version, reason: $reason) {UPDATE} }}"
                    ),
                    json!({ "name": name, "version": version, "reason": reason }),
                )
                .await?;
            print_update(&data["promoteModelVersion"]);
            Ok(())
        }
        ModelsCommand::Rollback { name, reason } => {
            let data = client
                .query(
                    &format!(
                        "mutation($name: String!, $reason: String) \
                         {{ rollbackModel(name: $name, reason: $reason) {UPDATE} }}"
                    ),
                    json!({ "name": name, "reason": reason }),
                )
                .await?;
            print_update(&data["rollbackModel"]);
            Ok(())
        }
        ModelsCommand::Archive {
            name,
            version,
            reason,
        } => {
            let data = client
                .query(
                    &format!(
                        "mutation($name: String!, $version: Int!, $reason: String) \
                         {{ archiveModelVersion(name: $name, version: $version, reason: $reason) {UPDATE} }}"
                    ),
                    json!({ "name": name, "version": version, "reason": reason }),
                )
                .await?;
            print_update(&data["archiveModelVersion"]);
            Ok(())
        }
    }
}

async fn list(client: &Client, as_json: bool) -> anyhow::Result<()> {
    let data = client
        .query(
            &format!("{{ registeredModels {{ name kind versions {VERSION} }} }}"),
            json!({}),
        )
        .await?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&data["registeredModels"])?
        );
        return Ok(());
    }
    println!(
        "{:<12} {:>7}  {:<34} {:<10} {:<24} aliases",
        "model", "version", "label", "kind", "registered"
    );
    for model in data["registeredModels"].as_array().into_iter().flatten() {
        for v in model["versions"].as_array().into_iter().flatten() {
            let aliases: Vec<&str> = v["aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            println!(
                "{:<12} {:>7}  {:<34} {:<10} {:<24} {}",
                v["name"].as_str().unwrap_or("?"),
                v["version"],
                v["label"].as_str().unwrap_or("?"),
                v["kind"].as_str().unwrap_or("?").to_lowercase(),
                v["registeredAt"].as_str().unwrap_or("?"),
                aliases.join(", "),
            );
        }
    }
    Ok(())
}

fn print_update(update: &Value) {
    let at = |v: &Value| v.as_i64().map_or("none".to_string(), |n| n.to_string());
    if update["changed"] == true {
        println!(
            "{} {}: version {} -> {}",
            update["name"].as_str().unwrap_or("?"),
            update["alias"].as_str().unwrap_or("?"),
            at(&update["previousVersion"]),
            at(&update["version"]),
        );
    } else {
        println!(
            "{} {}: already version {}, nothing changed",
            update["name"].as_str().unwrap_or("?"),
            update["alias"].as_str().unwrap_or("?"),
            at(&update["version"]),
        );
    }
}
