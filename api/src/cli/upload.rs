//! `vision upload FILES...`: uploads images and prints each one's three predictions as they
//! arrive.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use crate::client::{Client, Update};

#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// JPEG, PNG or WebP files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Ground-truth class of every file (one of the server's `classes`).
    #[arg(long)]
    pub label: Option<String>,
    /// Source recorded on the images.
    #[arg(long, default_value = "cli")]
    pub source: String,
    /// Print the ids and return, without waiting for the predictions.
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the predictions, in seconds.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

const RESULT: &str = "{ id status failureReason \
    predictions { model modelVersion predictedClass confidence inferenceMs correct } \
    comparison { fastestModel mostConfidentModel consensusClass agreement } }";

pub async fn run(client: &Client, args: UploadArgs) -> anyhow::Result<()> {
    let mut accepted: Vec<(PathBuf, String)> = Vec::new();
    let mut refused = 0;
    for path in &args.files {
        match client
            .upload(path, args.label.as_deref(), &args.source, "{ id }")
            .await
        {
            Ok(image) => {
                let id = image["id"].as_str().unwrap_or_default().to_string();
                println!("{}: accepted as {id}", path.display());
                accepted.push((path.clone(), id));
            }
            Err(e) => {
                refused += 1;
                eprintln!("{}: refused: {e:#}", path.display());
            }
        }
    }
    if !args.no_wait && !accepted.is_empty() {
        let waited = tokio::time::timeout(
            Duration::from_secs(args.timeout),
            wait_and_print(client, &accepted),
        )
        .await;
        match waited {
            Ok(result) => result?,
            Err(_) => bail!("no result within {} s", args.timeout),
        }
    }
    if refused > 0 {
        bail!("{refused} of {} files refused", args.files.len());
    }
    Ok(())
}

/// Follows every image to its end (completed or failed), then prints its result.
async fn wait_and_print(client: &Client, accepted: &[(PathBuf, String)]) -> anyhow::Result<()> {
    let mut subscriptions = client.subscriptions().await?;
    // Per-image subscriptions first send what is already recorded: nothing can be missed.
    for (i, (_, id)) in accepted.iter().enumerate() {
        let vars = json!({ "id": id });
        subscriptions
            .subscribe(
                &format!("done-{i}"),
                "subscription($id: ID) { imageCompleted(imageId: $id) { id } }",
                vars.clone(),
            )
            .await?;
        subscriptions
            .subscribe(
                &format!("fail-{i}"),
                "subscription($id: ID) { imageFailed(imageId: $id) { id } }",
                vars,
            )
            .await?;
    }
    let mut pending: Vec<bool> = vec![true; accepted.len()];
    while pending.iter().any(|p| *p) {
        let Some(update) = subscriptions.next().await? else {
            bail!("the server closed the connection");
        };
        let Update::Next { id, .. } = update else {
            continue;
        };
        let Some(index) = id
            .split_once('-')
            .and_then(|(_, i)| i.parse::<usize>().ok())
        else {
            continue;
        };
        if !pending.get(index).copied().unwrap_or(false) {
            continue;
        }
        pending[index] = false;
        let (path, image_id) = &accepted[index];
        let data = client
            .query(
                &format!("query($id: ID!) {{ image(id: $id) {RESULT} }}"),
                json!({ "id": image_id }),
            )
            .await?;
        print_result(path, &data["image"]);
    }
    Ok(())
}

fn print_result(path: &std::path::Path, image: &Value) {
    println!(
        "\n{} ({})",
        path.display(),
        image["id"].as_str().unwrap_or("?")
    );
    if image["status"] == "FAILED" {
        println!(
            "  failed: {}",
            image["failureReason"].as_str().unwrap_or("?")
        );
        return;
    }
    for p in image["predictions"].as_array().into_iter().flatten() {
        let verdict = match p["correct"].as_bool() {
            Some(true) => "  right",
            Some(false) => "  wrong",
            None => "",
        };
        println!(
            "  {:<9} {:<11} {:>5.1}%  {:>7.3} ms{verdict}  ({})",
            p["model"].as_str().unwrap_or("?"),
            p["predictedClass"].as_str().unwrap_or("?"),
            p["confidence"].as_f64().unwrap_or(0.0) * 100.0,
            p["inferenceMs"].as_f64().unwrap_or(0.0),
            p["modelVersion"].as_str().unwrap_or("?"),
        );
    }
    let c = &image["comparison"];
    if c.is_object() {
        println!(
            "  fastest {}, most confident {}, consensus {} ({:.0}% agree)",
            c["fastestModel"].as_str().unwrap_or("?"),
            c["mostConfidentModel"].as_str().unwrap_or("?"),
            c["consensusClass"].as_str().unwrap_or("none"),
            c["agreement"].as_f64().unwrap_or(0.0) * 100.0,
        );
    }
}
