//! `--compare-python`: our `vision serve`, then the reference Python stack (`bench/python_ref`),
//! one after the other on the same machine, each driven by the same client with the same images
//! and load; the figures side by side with ratios, and one JSON file with both reports.

use serde::Serialize;
use vision_inference::dataset::Sample;

use crate::client::Bundle;
use crate::report::{self, Percentiles, Report};
use crate::server::Server;
use crate::{Args, measure};

/// Where the comparison goes unless `--out` says otherwise.
const DEFAULT_OUT: &str = "bench/results/compare-python.json";

#[derive(Debug, Serialize)]
struct Row {
    metric: String,
    rust: Option<f64>,
    python: Option<f64>,
    /// How many times better ours is: rust / python where higher is better (throughput),
    /// python / rust where lower is better (latency, memory). Above 1: ours is better.
    ratio: Option<f64>,
}

impl Row {
    fn new(metric: String, rust: Option<f64>, python: Option<f64>, higher: bool) -> Self {
        let ratio = match (rust, python) {
            (Some(r), Some(p)) if r > 0.0 && p > 0.0 => Some(if higher { r / p } else { p / r }),
            _ => None,
        };
        Self {
            metric,
            rust,
            python,
            ratio,
        }
    }
}

#[derive(Debug, Serialize)]
struct Comparison {
    rows: Vec<Row>,
    rust: Report,
    python: Report,
}

fn rows(rust: &Report, python: &Report) -> Vec<Row> {
    type Latency = fn(&Report) -> Option<&Percentiles>;
    type Quantile = fn(&Percentiles) -> f64;
    let latencies: [(&str, Latency); 3] = [
        ("upload", |r| r.upload_latency.as_ref()),
        ("end-to-end", |r| r.end_to_end_latency.as_ref()),
        ("sent-to-recorded", |r| r.sent_to_recorded_latency.as_ref()),
    ];
    let quantiles: [(&str, Quantile); 3] = [
        ("p50", |p| p.p50_ms),
        ("p95", |p| p.p95_ms),
        ("p99", |p| p.p99_ms),
    ];
    let mut rows = vec![Row::new(
        "throughput (images/s)".into(),
        Some(rust.images_per_second),
        Some(python.images_per_second),
        true,
    )];
    for (name, latency) in latencies {
        for (quantile, at) in quantiles {
            rows.push(Row::new(
                format!("{name} {quantile} (ms)"),
                latency(rust).map(at),
                latency(python).map(at),
                false,
            ));
        }
    }
    rows.push(Row::new(
        "peak RSS (MB)".into(),
        rust.peak_rss_mb,
        python.peak_rss_mb,
        false,
    ));
    rows.push(Row::new(
        "CPU per image (ms)".into(),
        rust.cpu_ms_per_image.get("all").copied(),
        python.cpu_ms_per_image.get("all").copied(),
        false,
    ));
    rows
}

/// Accuracy of each head in one report's `modelStats`.
fn accuracy(report: &Report, model: &str) -> Option<f64> {
    report
        .model_stats
        .as_array()?
        .iter()
        .find(|s| s["model"] == model)?["accuracy"]
        .as_f64()
}

fn print(rows: &[Row], rust: &Report, python: &Report, heads: &[String]) {
    let cell = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.1}"));
    println!("comparison: same client, images and load; ratio = how many times better ours is");
    println!("  (end-to-end: upload accepted -> recorded; sent-to-recorded adds the upload)");
    println!(
        "  {:<28} {:>14} {:>16} {:>8}",
        "", "rust (vision)", "python (ref)", "ratio"
    );
    for row in rows {
        println!(
            "  {:<28} {:>14} {:>16} {:>8}",
            row.metric,
            cell(row.rust),
            cell(row.python),
            row.ratio.map_or("n/a".to_string(), |r| format!("{r:.2}x"))
        );
    }
    // Same models on both sides: equal accuracy up to the JPEG decoders' differences.
    for model in heads {
        let pct =
            |r| accuracy(r, model).map_or("n/a".to_string(), |a| format!("{:.1}%", a * 100.0));
        println!(
            "  {:<28} {:>14} {:>16}",
            format!("accuracy {model}"),
            pct(rust),
            pct(python)
        );
    }
}

pub async fn run(args: &Args, samples: &[Sample], warm_up: &[Sample]) -> anyhow::Result<()> {
    if args.runtime != "ort" {
        eprintln!(
            "note: the reference stack runs ONNX Runtime; `--runtime ort` compares like with like"
        );
    }
    let server = Server::start(args).await?;
    let rust = async {
        let bundle = Bundle::fetch(&server.url).await?;
        let report = measure(&server, &bundle, samples, warm_up, args).await?;
        anyhow::Ok((bundle, report))
    }
    .await;
    server.stop().await;
    let (bundle, rust) = rust?;

    // The reference stack serves the same bundle (`--models`) but has no `classes` or `models`
    // query: ours named the classes and heads for both.
    let server = Server::start_python(args).await?;
    let python = measure(&server, &bundle, samples, warm_up, args).await;
    server.stop().await;
    let mut python = python?;
    python.mode = "python-reference".into();
    python.runtime = "onnxruntime (Python)".into();

    rust.print();
    python.print();
    let rows = rows(&rust, &python);
    print(&rows, &rust, &python, &bundle.heads);
    let out = args.out.clone().unwrap_or_else(|| DEFAULT_OUT.into());
    let comparison = Comparison { rows, rust, python };
    report::write_json(&comparison, &out)?;
    comparison.rust.ensure_complete()?;
    comparison.python.ensure_complete()
}
