//! `vision watch`: prints predictions live, as the `predictionAdded` subscription delivers them.

use anyhow::bail;
use serde_json::json;

use crate::client::{Client, Update};

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Only this head's predictions.
    #[arg(long)]
    pub model: Option<String>,
    /// Only this image's predictions.
    #[arg(long)]
    pub image: Option<String>,
    /// Stop after this many predictions.
    #[arg(long)]
    pub count: Option<usize>,
}

pub async fn run(client: &Client, args: WatchArgs) -> anyhow::Result<()> {
    let mut subscriptions = client.subscriptions().await?;
    subscriptions
        .subscribe(
            "predictions",
            "subscription($model: String, $image: ID) { predictionAdded(model: $model, imageId: $image) \
             { imageId model predictedClass confidence inferenceMs correct createdAt image { source label } } }",
            json!({ "model": args.model, "image": args.image }),
        )
        .await?;
    eprintln!("watching predictions (Ctrl-C to stop)");
    let mut seen = 0;
    loop {
        let update = tokio::select! {
            update = subscriptions.next() => update?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        match update {
            Some(Update::Next { data, .. }) => {
                let p = &data["predictionAdded"];
                let label = p["image"]["label"].as_str();
                let verdict = match p["correct"].as_bool() {
                    Some(true) => " right",
                    Some(false) => " wrong",
                    None => "",
                };
                println!(
                    "{} {} {:<9} {:<11} {:>5.1}% {:>8.3} ms  [{}{}]{verdict}",
                    p["createdAt"].as_str().unwrap_or(""),
                    p["imageId"].as_str().unwrap_or(""),
                    p["model"].as_str().unwrap_or(""),
                    p["predictedClass"].as_str().unwrap_or(""),
                    p["confidence"].as_f64().unwrap_or(0.0) * 100.0,
                    p["inferenceMs"].as_f64().unwrap_or(0.0),
                    p["image"]["source"].as_str().unwrap_or(""),
                    label.map(|l| format!(", label {l}")).unwrap_or_default(),
                );
                seen += 1;
                if args.count.is_some_and(|n| seen >= n) {
                    return Ok(());
                }
            }
            Some(Update::Complete { .. }) => return Ok(()),
            None => bail!("the server closed the connection"),
        }
    }
}
