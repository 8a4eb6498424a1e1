//! `vision stats`: the models' figures, as on the dashboard's statistics page.

use serde_json::{Value, json};

use crate::client::Client;

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Print the raw JSON answer.
    #[arg(long)]
    pub json: bool,
}

const QUERY: &str = "{ modelStats { model modelVersions count latencyP50Ms latencyP95Ms \
    meanConfidence labeled correct accuracy } throughput(windowSeconds: 60) { imagesCompleted \
    imagesPerSecond predictionsPerSecond } images(first: 0) { totalCount } }";

pub async fn run(client: &Client, args: StatsArgs) -> anyhow::Result<()> {
    let data = client.query(QUERY, json!({})).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&data)?);
        return Ok(());
    }
    println!(
        "{:<9} {:>8} {:>9} {:>9} {:>9} {:>10}",
        "model", "count", "p50 ms", "p95 ms", "conf", "accuracy"
    );
    for m in data["modelStats"].as_array().into_iter().flatten() {
        println!(
            "{:<9} {:>8} {:>9.3} {:>9.3} {:>8.1}% {:>10}",
            m["model"].as_str().unwrap_or("?"),
            m["count"],
            m["latencyP50Ms"].as_f64().unwrap_or(0.0),
            m["latencyP95Ms"].as_f64().unwrap_or(0.0),
            m["meanConfidence"].as_f64().unwrap_or(0.0) * 100.0,
            accuracy(m),
        );
    }
    let t = &data["throughput"];
    println!(
        "\nimages: {} in all; last minute: {} completed, {:.2} images/s, {:.2} predictions/s",
        data["images"]["totalCount"],
        t["imagesCompleted"],
        t["imagesPerSecond"].as_f64().unwrap_or(0.0),
        t["predictionsPerSecond"].as_f64().unwrap_or(0.0),
    );
    Ok(())
}

fn accuracy(m: &Value) -> String {
    match m["accuracy"].as_f64() {
        Some(a) => format!("{:.1}% ({}/{})", a * 100.0, m["correct"], m["labeled"]),
        None => "-".to_string(),
    }
}
