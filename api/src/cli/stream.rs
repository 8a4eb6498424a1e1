//! `vision stream cifar10`: starts a server-side CIFAR-10 replay and follows its progress.

use anyhow::bail;
use serde_json::{Value, json};

use crate::client::{Client, Update};

#[derive(Debug, clap::Args)]
pub struct StreamArgs {
    /// The dataset (only `cifar10`).
    #[arg(value_parser = ["cifar10"])]
    pub dataset: String,
    /// Images per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// `test` or `train`.
    #[arg(long, default_value = "test", value_parser = ["test", "train"])]
    pub split: String,
    /// How many images.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 0)]
    pub seed: u32,
}

const REPLAY: &str = "{ id status split rate limit submitted completed failed correct error \
    scores { model modelVersion answered correct accuracy } }";

pub async fn run(client: &Client, args: StreamArgs) -> anyhow::Result<()> {
    let input = json!({
        "split": args.split.to_uppercase(),
        "rate": args.rate,
        "limit": args.limit,
        "seed": args.seed,
    });
    let data = client
        .query(
            &format!("mutation($input: ReplayInput) {{ startReplay(input: $input) {REPLAY} }}"),
            json!({ "input": input }),
        )
        .await?;
    let id = data["startReplay"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!(
        "replay {id} started: {} {} images at {}/s",
        args.limit, args.split, args.rate
    );
    let mut subscriptions = client.subscriptions().await?;
    subscriptions
        .subscribe(
            "progress",
            &format!("subscription($id: ID) {{ replayProgress(id: $id) {REPLAY} }}"),
            json!({ "id": id }),
        )
        .await?;
    let mut last = data["startReplay"].clone();
    loop {
        let update = tokio::select! {
            update = subscriptions.next() => update?,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\nstopping replay {id}");
                let stopped = client
                    .query(&format!("mutation($id: ID!) {{ stopReplay(id: $id) {REPLAY} }}"), json!({ "id": id }))
                    .await?;
                last = stopped["stopReplay"].clone();
                break;
            }
        };
        match update {
            Some(Update::Next { data, .. }) => {
                last = data["replayProgress"].clone();
                eprint!("\r{}", progress_line(&last));
                if last["status"] != "RUNNING" {
                    break;
                }
            }
            Some(Update::Complete { .. }) => break,
            None => bail!("the server closed the connection"),
        }
    }
    eprintln!();
    println!("{}", progress_line(&last));
    for score in last["scores"].as_array().into_iter().flatten() {
        if let Some(accuracy) = score["accuracy"].as_f64() {
            println!(
                "  {} ({}): right on {:.1}% ({}/{})",
                score["model"].as_str().unwrap_or("?"),
                score["modelVersion"].as_str().unwrap_or("?"),
                accuracy * 100.0,
                score["correct"],
                score["answered"],
            );
        }
    }
    if let Some(error) = last["error"].as_str() {
        println!("last error: {error}");
    }
    if last["status"] == "FAILED" {
        bail!("replay failed");
    }
    Ok(())
}

fn progress_line(r: &Value) -> String {
    let completed = r["completed"].as_u64().unwrap_or(0);
    let correct = r["correct"].as_u64().unwrap_or(0);
    let accuracy = if completed > 0 {
        format!("{:.1}%", correct as f64 * 100.0 / completed as f64)
    } else {
        "-".to_string()
    };
    format!(
        "{}: {}/{} sent, {} completed, {} failed, consensus right on {accuracy}",
        r["status"].as_str().unwrap_or("?"),
        r["submitted"],
        r["limit"],
        completed,
        r["failed"],
    )
}
