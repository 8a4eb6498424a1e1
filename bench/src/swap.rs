//! `--swap`: a promotion under load. `vision serve` takes images at a fixed rate (`--rate`,
//! default 20/s) while, a third of the way through, a new version of a head is registered
//! through GraphQL (`registerModelVersion`, a multipart upload of another head's file) and
//! promoted (`promoteModelVersion`); the swap is done when the rollout (`modelRollout`) shows
//! every replica serving it. Upload-to-completion latency is reported for the images sent
//! before the registration, during it (until two seconds after the swap) and after, and every
//! image must complete: a promotion loses nothing and stops nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use vision_inference::Manifest;
use vision_inference::dataset::Sample;

use crate::report::{Percentiles, write_json};
use crate::{Args, client, server};

/// After the swap, the images sent this long still count as "during" (their uploads were
/// already in flight or queued behind the swap).
const SETTLE: Duration = Duration::from_secs(2);

/// When each step of the promotion ended.
struct SwapTimes {
    started: Instant,
    registered: Instant,
    promoted: Instant,
    served: Instant,
    version: i64,
    label: String,
}

pub async fn run(args: &Args, samples: &[Sample], warm_up: &[Sample]) -> anyhow::Result<()> {
    let rate = args.rate.unwrap_or(20.0);
    let args = Args {
        rate: Some(rate),
        ..args.clone()
    };
    let manifest = Manifest::load(&args.models.join("manifest.json"))?;
    let heads = manifest.head_names();
    let target = heads.last().context("the bundle has no head")?.clone();
    let candidate = manifest
        .head_versions(heads.first().expect("a head"))
        .next()
        .expect("a version")
        .clone();
    let run_seconds = samples.len() as f64 / rate;
    let swap_after = Duration::from_secs_f64(run_seconds / 3.0);
    println!(
        "Swap benchmark: {} images at {rate}/s ({run_seconds:.0} s); after {:.0} s `{target}` \
         gets `{}`'s file as a new version, promoted",
        samples.len(),
        swap_after.as_secs_f64(),
        candidate.name
    );

    let server = server::Server::start(&args).await?;
    let result = async {
        let bundle = client::Bundle::fetch(&server.url).await?;
        let warm = Args {
            rate: None,
            concurrency: 1,
            ..args.clone()
        };
        let timeout = Duration::from_secs(args.timeout);
        client::run(&server.url, &bundle, warm_up, &warm, timeout).await?;
        let bytes = std::fs::read(args.models.join(&candidate.file))?;
        let (run, swap) = tokio::join!(
            client::run(&server.url, &bundle, samples, &args, timeout),
            swap(&server.url, &target, bytes, swap_after)
        );
        Ok::<_, anyhow::Error>((run?, swap?))
    }
    .await;
    server.stop().await;
    let (run, swap) = result?;

    let mut phases: [(&str, Vec<f64>); 3] = [
        ("before", Vec::new()),
        ("during", Vec::new()),
        ("after", Vec::new()),
    ];
    let mut lost = 0;
    for upload in &run.uploads {
        let done = upload.id.as_ref().and_then(|id| run.completions.get(id));
        let Some(done) = done else {
            lost += 1;
            continue;
        };
        let ms = done.duration_since(upload.sent).as_secs_f64() * 1000.0;
        let phase = if upload.sent < swap.started {
            0
        } else if upload.sent < swap.served + SETTLE {
            1
        } else {
            2
        };
        phases[phase].1.push(ms);
    }
    let seconds = |a: Instant, b: Instant| b.duration_since(a).as_secs_f64();
    let report = json!({
        "rate": rate,
        "images": samples.len(),
        "completed": run.completed(),
        "errors": run.uploads.iter().filter(|u| u.error.is_some()).count(),
        "model": target,
        "version": swap.version,
        "label": swap.label,
        "register_seconds": seconds(swap.started, swap.registered),
        "promote_seconds": seconds(swap.registered, swap.promoted),
        "promoted_to_served_seconds": seconds(swap.promoted, swap.served),
        "swap_at_seconds": seconds(run.first_sent, swap.started),
        "phases": phases.iter().map(|(name, ms)| json!({
            "phase": name,
            "images": ms.len(),
            "latency": Percentiles::of(ms.clone()),
        })).collect::<Vec<_>>(),
    });
    print(&report);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| format!("bench/results/swap-rate{rate}.json").into());
    write_json(&report, Path::new(&out))?;
    anyhow::ensure!(
        lost == 0,
        "{lost} of {} images did not complete",
        samples.len()
    );
    Ok(())
}

/// After `delay`: registers `bytes` as the next version of head `model`, promotes it and waits
/// until every replica serves it.
async fn swap(
    url: &str,
    model: &str,
    bytes: Vec<u8>,
    delay: Duration,
) -> anyhow::Result<SwapTimes> {
    tokio::time::sleep(delay).await;
    let http = reqwest::Client::new();
    let endpoint = format!("{url}/graphql");
    let started = Instant::now();
    let label = format!("{model}-swap-bench");
    let operations = json!({
        "query": "mutation($file: Upload!, $name: String!, $label: String) { registerModelVersion(file: $file, name: $name, kind: CLASSIFIER, label: $label) { version label } }",
        "variables": { "file": null, "name": model, "label": label },
    });
    let form = client::multipart(&operations, bytes, "head.onnx", "application/octet-stream");
    let body: Value = http
        .post(&endpoint)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .await?
        .json()
        .await?;
    let version = body["data"]["registerModelVersion"]["version"]
        .as_i64()
        .ok_or_else(|| anyhow::anyhow!("registration refused: {}", body["errors"]))?;
    let registered = Instant::now();
    let body = graphql(
        &http,
        &endpoint,
        "mutation($name: String!, $version: Int!) { promoteModelVersion(name: $name, version: $version, reason: \"swap benchmark\") { changed } }",
        json!({ "name": model, "version": version }),
    )
    .await?;
    anyhow::ensure!(
        body["data"]["promoteModelVersion"]["changed"] == true,
        "promotion refused: {}",
        body["errors"]
    );
    let promoted = Instant::now();
    let deadline = promoted + Duration::from_secs(60);
    loop {
        let body = graphql(
            &http,
            &endpoint,
            "query($model: String) { modelRollout(model: $model) { production } }",
            json!({ "model": model }),
        )
        .await?;
        let replicas = body["data"]["modelRollout"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !replicas.is_empty() && replicas.iter().all(|r| r["production"] == label.as_str()) {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no swap to {label} within 60 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(SwapTimes {
        started,
        registered,
        promoted,
        served: Instant::now(),
        version,
        label,
    })
}

async fn graphql(
    http: &reqwest::Client,
    endpoint: &str,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    Ok(http
        .post(endpoint)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await?
        .json()
        .await?)
}

fn print(report: &Value) {
    println!(
        "  register {:.3} s, promote {:.3} s, promoted -> served {:.3} s (at {:.1} s into the run); \
         {} of {} images completed, {} upload errors",
        report["register_seconds"].as_f64().unwrap_or_default(),
        report["promote_seconds"].as_f64().unwrap_or_default(),
        report["promoted_to_served_seconds"]
            .as_f64()
            .unwrap_or_default(),
        report["swap_at_seconds"].as_f64().unwrap_or_default(),
        report["completed"],
        report["images"],
        report["errors"],
    );
    println!(
        "  {:<8} {:>7} {:>9} {:>9} {:>9}",
        "phase", "images", "p50 ms", "p95 ms", "p99 ms"
    );
    for phase in report["phases"].as_array().into_iter().flatten() {
        let l = &phase["latency"];
        println!(
            "  {:<8} {:>7} {:>9.1} {:>9.1} {:>9.1}",
            phase["phase"].as_str().unwrap_or_default(),
            phase["images"],
            l["p50_ms"].as_f64().unwrap_or(f64::NAN),
            l["p95_ms"].as_f64().unwrap_or(f64::NAN),
            l["p99_ms"].as_f64().unwrap_or(f64::NAN),
        );
    }
}
