//! The benchmark's GraphQL client: multipart uploads, the `imageCompleted` subscription over
//! `graphql-transport-ws`, `/metrics` scraping and `modelStats`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vision_inference::dataset::Sample;

use crate::Args;

const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// What happened to one upload.
#[derive(Debug, Clone)]
pub struct Upload {
    pub sent: Instant,
    pub accepted: Option<Instant>,
    pub id: Option<String>,
    pub error: Option<String>,
}

pub struct RunResult {
    pub uploads: Vec<Upload>,
    pub completions: HashMap<String, Instant>,
    pub first_sent: Instant,
}

impl RunResult {
    pub fn completed(&self) -> usize {
        self.uploads
            .iter()
            .filter(|u| {
                u.id.as_ref()
                    .is_some_and(|id| self.completions.contains_key(id))
            })
            .count()
    }
}

/// Uploads every sample and waits for each image's completion event.
pub async fn run(
    url: &str,
    samples: &[Sample],
    args: &Args,
    timeout: Duration,
) -> anyhow::Result<RunResult> {
    let completions: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let listener = tokio::spawn(listen_completions(url.to_string(), completions.clone()));
    // Give the subscription a moment to be registered before the first upload.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(1))
        .build()?;
    let endpoint = format!("{url}/graphql");
    let first_sent = Instant::now();
    let uploads: Vec<Upload> = match args.rate {
        Some(rate) => {
            // Fixed arrival rate: each upload starts at its scheduled time, whatever came before.
            let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
            let handles: Vec<_> = samples
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let (http, endpoint, bytes) = (http.clone(), endpoint.clone(), s.bytes.clone());
                    let label = CLASSES[s.class_index];
                    let at = tokio::time::Instant::from_std(first_sent) + interval * i as u32;
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        upload(&http, &endpoint, bytes, label).await
                    })
                })
                .collect();
            let mut out = Vec::with_capacity(handles.len());
            for h in handles {
                out.push(h.await?);
            }
            out
        }
        None => {
            futures::stream::iter(samples.iter().map(|s| {
                let (http, endpoint) = (&http, &endpoint);
                async move { upload(http, endpoint, s.bytes.clone(), CLASSES[s.class_index]).await }
            }))
            .buffered(args.concurrency.max(1))
            .collect()
            .await
        }
    };
    let wanted: Vec<String> = uploads.iter().filter_map(|u| u.id.clone()).collect();
    let deadline = Instant::now() + timeout;
    loop {
        let done = {
            let c = completions.lock().unwrap();
            wanted.iter().filter(|id| c.contains_key(*id)).count()
        };
        if done == wanted.len() || Instant::now() > deadline || listener.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    listener.abort();
    let completions = completions.lock().unwrap().clone();
    Ok(RunResult {
        uploads,
        completions,
        first_sent,
    })
}

async fn upload(http: &reqwest::Client, endpoint: &str, bytes: Vec<u8>, label: &str) -> Upload {
    let sent = Instant::now();
    let operations = json!({
        "query": "mutation($file: Upload!, $label: String) { uploadImage(file: $file, label: $label, source: \"benchmark\") { id } }",
        "variables": { "file": null, "label": label },
    });
    let form = reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("image.jpg")
                .mime_str("image/jpeg")
                .expect("valid mime"),
        );
    let result = async {
        let body: Value = http
            .post(endpoint)
            .multipart(form)
            .send()
            .await?
            .json()
            .await?;
        body["data"]["uploadImage"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("upload refused: {}", body["errors"]))
    }
    .await;
    match result {
        Ok(id) => Upload {
            sent,
            accepted: Some(Instant::now()),
            id: Some(id),
            error: None,
        },
        Err(e) => Upload {
            sent,
            accepted: None,
            id: None,
            error: Some(e.to_string()),
        },
    }
}

async fn listen_completions(
    url: String,
    completions: Arc<Mutex<HashMap<String, Instant>>>,
) -> anyhow::Result<()> {
    let ws_url = format!("{}/graphql", url.replacen("http", "ws", 1));
    let mut request = ws_url.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    ws.send(Message::text(
        json!({"type": "connection_init"}).to_string(),
    ))
    .await?;
    ws.send(Message::text(
        json!({
            "id": "completed",
            "type": "subscribe",
            "payload": { "query": "subscription { imageCompleted { id } }" }
        })
        .to_string(),
    ))
    .await?;
    while let Some(message) = ws.next().await {
        let Message::Text(text) = message? else {
            continue;
        };
        let value: Value = serde_json::from_str(&text)?;
        match value["type"].as_str() {
            Some("next") => {
                if let Some(id) = value["payload"]["data"]["imageCompleted"]["id"].as_str() {
                    completions
                        .lock()
                        .unwrap()
                        .insert(id.to_string(), Instant::now());
                }
            }
            Some("ping") => {
                ws.send(Message::text(json!({"type": "pong"}).to_string()))
                    .await?;
            }
            Some("error") => anyhow::bail!("subscription error: {value}"),
            _ => {}
        }
    }
    Ok(())
}

/// Parsed Prometheus text: `name{labels}` -> value.
pub type Scrape = HashMap<String, f64>;

/// Every process's metrics, summed by series (the stages' histograms are theirs alone; summing
/// a series that two report, like the message sizes, still gives the right mean).
pub async fn scrape_all(urls: &[String]) -> anyhow::Result<Scrape> {
    let mut all = Scrape::new();
    for url in urls {
        for (key, value) in scrape_metrics(url).await? {
            *all.entry(key).or_default() += value;
        }
    }
    Ok(all)
}

/// One process's `/metrics`; empty when it has none (the reference Python stack), so the
/// figures drawn from them are left out rather than made up.
async fn scrape_metrics(url: &str) -> anyhow::Result<Scrape> {
    let response = reqwest::get(format!("{url}/metrics")).await?;
    if response.status() == reqwest::StatusCode::NOT_FOUND {
        return Ok(Scrape::new());
    }
    let text = response.error_for_status()?.text().await?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect())
}

pub async fn model_stats(url: &str) -> anyhow::Result<Value> {
    let body: Value = reqwest::Client::new()
        .post(format!("{url}/graphql"))
        .json(&json!({
            "query": "{ modelStats { model count latencyP50Ms latencyP95Ms latencyP99Ms meanConfidence accuracy } }"
        }))
        .send()
        .await?
        .json()
        .await?;
    Ok(body["data"]["modelStats"].clone())
}
