//! The benchmark's GraphQL client: the served bundle (`classes`, `models`), multipart uploads,
//! the `imageCompleted` subscription over `graphql-transport-ws`, `/metrics` scraping and
//! `modelStats`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use vision_inference::dataset::Sample;

use crate::Args;

/// The model bundle a server serves, as its `classes` and `models` queries name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Class names in the index order of the heads' outputs.
    pub classes: Vec<String>,
    /// The heads: the distinct CLASSIFIER names of `models`, in the bundle's display order (a
    /// name may be listed once per version).
    pub heads: Vec<String>,
}

impl Bundle {
    /// Asks the server at `url`.
    pub async fn fetch(url: &str) -> anyhow::Result<Self> {
        let body: Value = reqwest::Client::new()
            .post(format!("{url}/graphql"))
            .json(&json!({ "query": "{ classes models { name kind } }" }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Self::from_response(&body)
    }

    /// The bundle in a GraphQL response to `{ classes models { name kind } }`.
    fn from_response(body: &Value) -> anyhow::Result<Self> {
        let data = &body["data"];
        let (Some(classes), Some(models)) = (data["classes"].as_array(), data["models"].as_array())
        else {
            anyhow::bail!(
                "the server did not name its classes and models: {}",
                body["errors"]
            );
        };
        let classes: Vec<String> = classes
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        let mut heads: Vec<String> = Vec::new();
        for model in models.iter().filter(|m| m["kind"] == "CLASSIFIER") {
            if let Some(name) = model["name"].as_str()
                && !heads.iter().any(|h| h == name)
            {
                heads.push(name.to_string());
            }
        }
        anyhow::ensure!(!classes.is_empty(), "the server names no class");
        anyhow::ensure!(!heads.is_empty(), "the server names no classifier head");
        Ok(Self { classes, heads })
    }

    /// Each sample's label: its class name (`Sample::class`), which must be one of the
    /// server's `classes` (the server refuses any other label).
    fn labels(&self, samples: &[Sample]) -> anyhow::Result<Vec<String>> {
        samples
            .iter()
            .map(|s| {
                let class = s.class();
                anyhow::ensure!(
                    self.classes.iter().any(|c| c == class),
                    "{} is a {class}, a class the server does not know (its classes: {})",
                    s.name,
                    self.classes.join(", ")
                );
                Ok(class.to_string())
            })
            .collect()
    }
}

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

/// Uploads every sample, labelled with `bundle`'s class names, and waits for each image's
/// completion event.
pub async fn run(
    url: &str,
    bundle: &Bundle,
    samples: &[Sample],
    args: &Args,
    timeout: Duration,
) -> anyhow::Result<RunResult> {
    let labels = bundle.labels(samples)?;
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
                .zip(&labels)
                .enumerate()
                .map(|(i, (s, label))| {
                    let (http, endpoint, bytes) = (http.clone(), endpoint.clone(), s.bytes.clone());
                    let label = label.clone();
                    let at = tokio::time::Instant::from_std(first_sent) + interval * i as u32;
                    tokio::spawn(async move {
                        tokio::time::sleep_until(at).await;
                        upload(&http, &endpoint, bytes, &label).await
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
            futures::stream::iter(samples.iter().zip(&labels).map(|(s, label)| {
                let (http, endpoint) = (&http, &endpoint);
                async move { upload(http, endpoint, s.bytes.clone(), label).await }
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
    let form = multipart(&operations, bytes, "image.jpg", "image/jpeg");
    let result = async {
        let body: Value = http
            .post(endpoint)
            .header("apollo-require-preflight", "true")
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

/// A GraphQL multipart request (the multipart request spec): `operations` with one file as
/// `variables.file`.
pub fn multipart(
    operations: &Value,
    bytes: Vec<u8>,
    file_name: &'static str,
    mime: &str,
) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file"] }).to_string())
        .part(
            "0",
            reqwest::multipart::Part::bytes(bytes)
                .file_name(file_name)
                .mime_str(mime)
                .expect("a valid MIME type"),
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundle_is_the_classes_and_the_distinct_heads_in_order() {
        let body = json!({ "data": {
            "classes": ["cat", "dog", "owl"],
            "models": [
                { "name": "extractor", "kind": "EXTRACTOR" },
                { "name": "small", "kind": "CLASSIFIER" },
                { "name": "big", "kind": "CLASSIFIER" },
                { "name": "small", "kind": "CLASSIFIER" },
            ],
        }});
        let bundle = Bundle::from_response(&body).unwrap();
        assert_eq!(bundle.classes, ["cat", "dog", "owl"]);
        assert_eq!(bundle.heads, ["small", "big"]);
    }

    fn sample(class_index: usize) -> Sample {
        Sample {
            class_index,
            name: format!("{class_index}.jpg"),
            bytes: Vec::new(),
        }
    }

    #[test]
    fn samples_are_labelled_by_class_name_whatever_the_server_order() {
        // CIFAR-10 indices: 0 airplane, 3 cat, 5 dog, 7 horse.
        let body = json!({ "data": {
            "classes": ["dog", "cat", "airplane"],
            "models": [{ "name": "small", "kind": "CLASSIFIER" }],
        }});
        let bundle = Bundle::from_response(&body).unwrap();
        assert_eq!(
            bundle.labels(&[sample(3), sample(0), sample(5)]).unwrap(),
            ["cat", "airplane", "dog"]
        );
        let error = bundle
            .labels(&[sample(3), sample(7)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("7.jpg is a horse"), "{error}");
        assert!(error.contains("dog, cat, airplane"), "{error}");
    }

    #[test]
    fn a_server_without_the_bundle_queries_is_an_error() {
        let body = json!({ "data": null, "errors": [{ "message": "Unknown field \"classes\"" }] });
        let error = Bundle::from_response(&body).unwrap_err().to_string();
        assert!(error.contains("Unknown field"), "{error}");
        let no_heads = json!({ "data": { "classes": ["a"], "models": [{ "name": "x", "kind": "EXTRACTOR" }] } });
        assert!(Bundle::from_response(&no_heads).is_err());
    }
}
