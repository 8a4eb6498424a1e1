//! `vision models ...`: the model registry of a running server, through GraphQL: list versions
//! and aliases, register a new version, promote, roll back, archive; run a shadow or an A/B
//! test, compare, back-test.

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
    /// Registers a bundle directory (`manifest.json` and its ONNX files, as
    /// `scripts/build-variants.sh` writes them in `models/variants/pca<D>/`): its extractor,
    /// then its heads bound to it, each labelled as the manifest says, with its figures as
    /// metrics and its provenance as lineage. Nothing is promoted.
    Import { dir: PathBuf },
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
    /// Runs a version as the head's shadow (it scores every image, never the answer); `--stop`
    /// removes the shadow.
    Shadow {
        name: String,
        version: Option<i32>,
        #[arg(long, conflicts_with = "version")]
        stop: bool,
    },
    /// Starts an A/B test: the version answers `--share` of the images; `--stop` ends it.
    Ab {
        name: String,
        version: Option<i32>,
        #[arg(long, default_value_t = 0.1)]
        share: f64,
        #[arg(long, conflicts_with = "version")]
        stop: bool,
    },
    /// The head's shadow and A/B comparisons with production (paired, on the images both
    /// scored).
    Compare {
        name: String,
        /// The latest images compared, at most.
        #[arg(long, default_value_t = 10_000)]
        last: i32,
    },
    /// Scores a registered version on the stored descriptors of past images, against what
    /// production answered them.
    Backtest {
        name: String,
        version: i32,
        /// The latest images scored, at most.
        #[arg(long, default_value_t = 10_000)]
        last: i32,
    },
}

const PAIRED: &str = "n labeled accuracyA accuracyB weightedF1A weightedF1B difference \
    differenceLow differenceHigh mcnemarB mcnemarC mcnemarP agreement latencyP50MsA latencyP50MsB";

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
        ModelsCommand::Import { dir } => import(client, &dir).await,
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
        command @ (ModelsCommand::Shadow { .. }
        | ModelsCommand::Ab { .. }
        | ModelsCommand::Compare { .. }
        | ModelsCommand::Backtest { .. }) => experiments(client, command).await,
    }
}

/// `vision models import DIR` (see [`ModelsCommand::Import`]).
async fn import(client: &Client, dir: &std::path::Path) -> anyhow::Result<()> {
    let path = dir.join("manifest.json");
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("{} is not JSON", path.display()))?;
    let models = manifest["models"]
        .as_array()
        .with_context(|| format!("{}: no models list", path.display()))?;
    let extractor = models
        .iter()
        .find(|m| m["role"] == "extractor")
        .with_context(|| format!("{}: no extractor", path.display()))?;
    let extractor_label = extractor["version"]
        .as_str()
        .context("an extractor without a version")?;
    // The extractor first: its heads are bound to it.
    let heads = models.iter().filter(|m| m["role"] == "classifier");
    for model in std::iter::once(extractor).chain(heads) {
        let field = |key: &str| {
            model[key]
                .as_str()
                .with_context(|| format!("{}: a model without {key}", path.display()))
        };
        let (name, label, file) = (field("name")?, field("version")?, field("file")?);
        let is_extractor = model["role"] == "extractor";
        let metrics: serde_json::Map<String, Value> = ["validation_accuracy", "test_accuracy"]
            .into_iter()
            .filter_map(|k| model.get(k).map(|v| (k.to_string(), v.clone())))
            .collect();
        let query = format!(
            "mutation($file: Upload!, $name: String!, $kind: ModelKind!, $label: String,              $extractorLabel: String, $metrics: JSON, $lineage: JSON) {{ registerModelVersion(             file: $file, name: $name, kind: $kind, label: $label, extractorLabel:              $extractorLabel, metrics: $metrics, lineage: $lineage) {VERSION} }}"
        );
        let variables = json!({
            "file": null, "name": name,
            "kind": if is_extractor { "EXTRACTOR" } else { "CLASSIFIER" },
            "label": label,
            "extractorLabel": (!is_extractor).then_some(extractor_label),
            "metrics": (!metrics.is_empty()).then_some(Value::Object(metrics)),
            "lineage": model.get("provenance"),
        });
        let data = client
            .with_file(&query, variables, &dir.join(file))
            .await
            .with_context(|| format!("cannot register {label}"))?;
        let v = &data["registerModelVersion"];
        println!(
            "registered {} version {} ({label}){}",
            v["name"].as_str().unwrap_or("?"),
            v["version"],
            if is_extractor {
                String::new()
            } else {
                format!(", reading {extractor_label}")
            }
        );
    }
    Ok(())
}

async fn experiments(client: &Client, command: ModelsCommand) -> anyhow::Result<()> {
    match command {
        ModelsCommand::Shadow {
            name,
            version,
            stop,
        } => {
            if version.is_none() && !stop {
                anyhow::bail!("give the version to run as the shadow, or --stop");
            }
            let data = client
                .query(
                    &format!(
                        "mutation($name: String!, $version: Int) {{ setModelAlias(name: $name, \
                         alias: \"shadow\", version: $version) {UPDATE} }}"
                    ),
                    json!({ "name": name, "version": version }),
                )
                .await?;
            print_update(&data["setModelAlias"]);
        }
        ModelsCommand::Ab {
            name,
            version,
            share,
            stop,
        } => match (version, stop) {
            (_, true) => {
                let data = client
                    .query(
                        "mutation($name: String!) { stopAbTest(model: $name) }",
                        json!({ "name": name }),
                    )
                    .await?;
                match data["stopAbTest"].as_bool() {
                    Some(true) => println!("{name}: A/B test stopped"),
                    _ => println!("{name}: no A/B test was running"),
                }
            }
            (Some(version), false) => {
                client
                    .query(
                        "mutation($name: String!, $version: Int!, $share: Float!) \
                         { startAbTest(model: $name, version: $version, share: $share) }",
                        json!({ "name": name, "version": version, "share": share }),
                    )
                    .await?;
                println!(
                    "{name}: version {version} answers {:.1}% of the images",
                    share * 100.0
                );
            }
            (None, false) => anyhow::bail!("give the candidate version, or --stop"),
        },
        ModelsCommand::Compare { name, last } => {
            let data = client
                .query(
                    &format!(
                        "query($name: String!, $last: Int!) {{ \
                         shadowComparison(model: $name, last: $last) {{ shadow comparison {{ {PAIRED} }} }} \
                         abComparison(model: $name, last: $last) {{ production candidate share comparison {{ {PAIRED} }} }} }}"
                    ),
                    json!({ "name": name, "last": last }),
                )
                .await?;
            let shadow = &data["shadowComparison"];
            let ab = &data["abComparison"];
            if shadow.is_null() && ab.is_null() {
                println!("{name}: no shadow and no A/B test");
            }
            if !shadow.is_null() {
                println!(
                    "{name}: production (A) against shadow {} (B)",
                    shadow["shadow"].as_str().unwrap_or("?")
                );
                print_paired(&shadow["comparison"]);
            }
            if !ab.is_null() {
                println!(
                    "{name}: production {} (A) against candidate {} (B), answering {:.1}%",
                    ab["production"].as_str().unwrap_or("?"),
                    ab["candidate"].as_str().unwrap_or("?"),
                    ab["share"].as_f64().unwrap_or(0.0) * 100.0
                );
                print_paired(&ab["comparison"]);
            }
        }
        ModelsCommand::Backtest {
            name,
            version,
            last,
        } => {
            let data = client
                .query(
                    &format!(
                        "query($name: String!, $version: Int!, $last: Int!) {{ backtest(model: $name, \
                         version: $version, last: $last) {{ label seconds comparison {{ {PAIRED} }} }} }}"
                    ),
                    json!({ "name": name, "version": version, "last": last }),
                )
                .await?;
            let b = &data["backtest"];
            println!(
                "{name}: what production answered (A) against {} (B), scored in {:.3} s",
                b["label"].as_str().unwrap_or("?"),
                b["seconds"].as_f64().unwrap_or(0.0)
            );
            print_paired(&b["comparison"]);
        }
        _ => unreachable!("not an experiment command"),
    }
    Ok(())
}

/// A paired comparison, a line per figure.
fn print_paired(c: &Value) {
    let pct = |v: &Value| {
        v.as_f64()
            .map_or("-".to_string(), |x| format!("{:.2}%", x * 100.0))
    };
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"));
    println!(
        "  images {} ({} labelled), agreement {}",
        c["n"],
        c["labeled"],
        pct(&c["agreement"])
    );
    println!(
        "  accuracy A {}  B {}",
        pct(&c["accuracyA"]),
        pct(&c["accuracyB"])
    );
    println!(
        "  weighted F1 A {}  B {}",
        num(&c["weightedF1A"]),
        num(&c["weightedF1B"])
    );
    println!(
        "  B - A {} (95% interval {} .. {})",
        pct(&c["difference"]),
        pct(&c["differenceLow"]),
        pct(&c["differenceHigh"])
    );
    println!(
        "  McNemar: A right B wrong {}, A wrong B right {}, p = {}",
        c["mcnemarB"],
        c["mcnemarC"],
        num(&c["mcnemarP"])
    );
    println!(
        "  latency p50 A {} ms  B {} ms",
        num(&c["latencyP50MsA"]),
        num(&c["latencyP50MsB"])
    );
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
