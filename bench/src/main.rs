//! `vision-bench`: uploads CIFAR-10 test images through GraphQL, concurrently or at a fixed rate,
//! and measures the platform end to end: sustained images/s, latency from upload to every head's
//! prediction being recorded (via the `imageCompleted` subscription), time per stage (from the
//! server's Prometheus histograms) and the server's peak RSS. Prints the figures and writes them
//! as JSON (default `bench/results/embedded.json`).
//!
//! By default it starts `vision serve` itself (the release binary beside this one) on a free
//! port with a fresh data directory; `--url` measures a server that is already running instead.
//! The class names (the uploads' labels) and the heads come from the model bundle the server
//! serves (its `classes` and `models` queries), never from a copy here.
//!
//! `--compare-python` measures `vision serve` and then the reference Python stack
//! (`bench/python_ref`: FastAPI + strawberry-graphql + onnxruntime under uvicorn) with the same
//! client, images and load, and prints and writes (`bench/results/compare-python.json`) both
//! side by side with ratios.
//!
//! `--backtest ROWS` times back-testing a head version over ROWS stored images on SQLite and
//! PostgreSQL (`bench/results/backtest.json`); `--swap` measures latency before, during and
//! after a version is registered and promoted under a fixed load
//! (`bench/results/swap-rate20.json`); `--hostile SECONDS` samples the server's memory under
//! hostile requests (`bench/results/hostile-memory.json`).

mod backtest;
mod client;
mod compare;
mod cpu;
mod distributed;
mod hostile;
mod report;
mod server;
mod stats;
mod swap;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use vision_inference::dataset::{self, Sample, Split};
use vision_inference::offline;

#[derive(Parser, Debug, Clone)]
#[command(about = "End-to-end benchmark of the vision platform through GraphQL")]
pub struct Args {
    /// Images to upload (CIFAR-10 test split, spread over the classes).
    #[arg(long, default_value_t = 1000)]
    pub images: usize,
    /// Uploads in flight at once (saturation mode).
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Fixed arrival rate in images/s instead of saturation.
    #[arg(long)]
    pub rate: Option<f64>,
    /// CIFAR-10 archive or folder.
    #[arg(long)]
    pub dataset: Option<PathBuf>,
    /// Measure this running server instead of starting one (no RSS figure then).
    #[arg(long)]
    pub url: Option<String>,
    /// The `vision` binary to start (default: beside this one).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Model runtime of the started server (tract or ort).
    #[arg(long, default_value = "tract")]
    pub runtime: String,
    /// Models directory of the started server.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Where to write the JSON figures (default `bench/results/embedded.json`, or
    /// `bench/results/compare-python.json` with `--compare-python`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Give up waiting for completions after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Also measure the reference Python stack (bench/python_ref) after ours, the same way, and
    /// print both side by side.
    #[arg(long, conflicts_with = "url")]
    pub compare_python: bool,
    /// Start the platform as separate processes on Kafka and PostgreSQL (the gateway, the
    /// recorder, the extractor and one classifier per head of `--models`) instead of `vision serve`.
    #[arg(long, conflicts_with_all = ["url", "compare_python"])]
    pub distributed: bool,
    /// Kafka brokers of `--distributed` (default: a tansu broker started for the run).
    #[arg(long, requires = "distributed")]
    pub brokers: Option<String>,
    /// PostgreSQL of `--distributed`, where a fresh database is created for the run.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub postgres: String,
    /// Python interpreter of the reference stack (with bench/python_ref/requirements.txt).
    #[arg(long, default_value = ".venv/bin/python")]
    pub python: PathBuf,
    /// Folder of the reference stack's `app.py`.
    #[arg(long, default_value = "bench/python_ref")]
    pub python_app: PathBuf,
    /// Instead of uploading: time back-testing a head version over this many stored images
    /// (descriptors of `--images` distinct test images, repeated), on SQLite and on the
    /// PostgreSQL of `--postgres`, side by side.
    #[arg(long, conflicts_with_all = ["url", "compare_python", "distributed", "swap"])]
    pub backtest: Option<u64>,
    /// Register and promote a new head version a third of the way through a fixed-rate run
    /// (`--rate`, default 20/s) of `vision serve`; latency before, during and after the swap.
    #[arg(long, conflicts_with_all = ["url", "compare_python", "distributed"])]
    pub swap: bool,
    /// Instead of uploading: send hostile requests for this many seconds from `--concurrency`
    /// attackers (plus slow-header connections and full WebSocket sessions) and sample the
    /// server's memory (`bench/results/hostile-memory.json`).
    #[arg(long, conflicts_with_all = ["url", "compare_python", "distributed", "swap", "backtest"])]
    pub hostile: Option<u64>,
    /// Instead of uploading: record predictions through the repository up to each of these
    /// sizes (comma-separated, ascending) and time every statistics query at each, on SQLite
    /// and on the PostgreSQL of `--postgres` (`bench/results/stats.json`).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["url", "compare_python", "distributed", "swap", "backtest", "hostile"])]
    pub stats: Option<Vec<u64>>,
    /// Databases of `--stats`, in order.
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    pub stats_backends: Vec<String>,
    /// Runs of each statistics query per size (`--stats`).
    #[arg(long, default_value_t = 200)]
    pub stats_repeats: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let args = Args::parse();
    if let Some(sizes) = &args.stats {
        return stats::run(&args, sizes).await;
    }
    let archive = args
        .dataset
        .clone()
        .unwrap_or_else(|| offline::default_archive(Split::Test));
    let (samples, warm_up) =
        split_warm_up(dataset::read_samples(&archive, Split::Test)?, args.images);
    anyhow::ensure!(!samples.is_empty(), "no images in {}", archive.display());

    if args.compare_python {
        return compare::run(&args, &samples, &warm_up).await;
    }
    if let Some(rows) = args.backtest {
        return backtest::run(&args, &samples, rows).await;
    }
    if args.swap {
        return swap::run(&args, &samples, &warm_up).await;
    }
    if let Some(seconds) = args.hostile {
        return hostile::run(&args, seconds).await;
    }
    let server = match &args.url {
        Some(url) => server::Server::external(url.clone()),
        None if args.distributed => distributed::start(&args).await?,
        None => server::Server::start(&args).await?,
    };
    let report = async {
        let bundle = client::Bundle::fetch(&server.url).await?;
        measure(&server, &bundle, &samples, &warm_up, &args).await
    }
    .await;
    server.stop().await;
    let report = report?;
    report.print();
    let out = args.out.clone().unwrap_or_else(|| match args.distributed {
        true => "bench/results/distributed.json".into(),
        false => "bench/results/embedded.json".into(),
    });
    report.write(&out)?;
    report.ensure_complete()
}

/// Images sent (one at a time, each awaited) before measuring. A server's `/ready` says its
/// processes run, not that every consumer group has its partitions yet: distributed, the first
/// seconds' images waited for the groups to settle (p95 at 20 images/s was 5.3 s over 300
/// images, 3.2 s over 1,200: the delay falls on the first seconds, whatever the run length).
const WARM_UP_IMAGES: usize = 8;

/// `limit` images spread over the split to measure, and a few others to warm up with (never the
/// same bytes: the descriptor cache would answer the measured ones).
fn split_warm_up(all: Vec<Sample>, limit: usize) -> (Vec<Sample>, Vec<Sample>) {
    let indexed: Vec<(usize, Sample)> = all.into_iter().enumerate().collect();
    let chosen: std::collections::HashSet<usize> =
        offline::spread(indexed.iter().map(|(i, _)| *i).collect::<Vec<_>>(), limit)
            .into_iter()
            .collect();
    let (measured, others): (Vec<_>, Vec<_>) =
        indexed.into_iter().partition(|(i, _)| chosen.contains(i));
    (
        measured.into_iter().map(|(_, s)| s).collect(),
        others
            .into_iter()
            .take(WARM_UP_IMAGES)
            .map(|(_, s)| s)
            .collect(),
    )
}

/// Drives one server with every sample (labelled with `bundle`'s classes) and computes its
/// figures.
pub async fn measure(
    server: &server::Server,
    bundle: &client::Bundle,
    samples: &[Sample],
    warm_up: &[Sample],
    args: &Args,
) -> anyhow::Result<report::Report> {
    let warm_args = Args {
        rate: None,
        concurrency: 1,
        ..args.clone()
    };
    let warmed = client::run(
        &server.url,
        bundle,
        warm_up,
        &warm_args,
        Duration::from_secs(args.timeout),
    )
    .await?;
    anyhow::ensure!(
        warmed.completed() == warm_up.len(),
        "warm-up: {} of {} images completed",
        warmed.completed(),
        warm_up.len()
    );
    let before = client::scrape_all(&server.metrics_urls()).await?;
    let cpu_before = cpu::CpuSnapshot::take(server, args.distributed);
    let started = Instant::now();
    let run = client::run(
        &server.url,
        bundle,
        samples,
        args,
        Duration::from_secs(args.timeout),
    )
    .await?;
    let wall = started.elapsed();
    let cpu = cpu_before.per_image(
        &cpu::CpuSnapshot::take(server, args.distributed),
        run.completed(),
    );
    let after = client::scrape_all(&server.metrics_urls()).await?;
    let stats = client::model_stats(&server.url).await?;
    let usage = report::Usage {
        processes: server.process_count(),
        peak_rss: server.peak_rss_bytes(),
        cpu_ms_per_image: cpu,
    };
    Ok(report::Report::new(
        args, &run, wall, &before, &after, stats, usage,
    ))
}
