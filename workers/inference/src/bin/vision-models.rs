//! `vision-models`: offline model tools (features for training, model cards).
//!
//! ```text
//! vision-models featurize --model models/build/out/backbone_128.onnx --size 128 \
//!     --split train --flip --out data/features/train_128
//! ```

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use vision_inference::RuntimeKind;
use vision_inference::dataset::Split;
use vision_inference::offline::evaluate::{self, EvaluateOptions};
use vision_inference::offline::timing::{self, TimingOptions};
use vision_inference::offline::{self, FeaturizeOptions};

#[derive(Parser)]
#[command(about = "Offline model tools: training features and model cards")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Backbone features of a CIFAR-10 split, as .npy files for models/build/train_heads.py.
    Featurize {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        size: u32,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: String,
        /// Archive or folder; default ../shared/data/cifar10/<split>.tar.gz.
        #[arg(long)]
        dataset: Option<PathBuf>,
        #[arg(long, default_value = "tract")]
        runtime: RuntimeKind,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 16)]
        batch: usize,
        #[arg(long)]
        flip: bool,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        out: PathBuf,
    },
    /// One model's time per image on tract, ONNX Runtime and Python's onnxruntime (same input,
    /// threads and batch); prints the figures and writes them as JSON.
    Time {
        #[arg(long, default_value = "models/extractor.onnx")]
        model: PathBuf,
        /// Input side in pixels (the extractor's `input_size` in the manifest).
        #[arg(long, default_value_t = 160)]
        size: usize,
        #[arg(long, default_value_t = 1)]
        threads: usize,
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Images per repetition (best of three).
        #[arg(long, default_value_t = 200)]
        images: usize,
        /// Python with onnxruntime for the reference figure; `none` to skip it.
        #[arg(long, default_value = ".venv/bin/python")]
        python: String,
        #[arg(long, default_value = "bench/python_ref/time_backbone.py")]
        script: PathBuf,
        #[arg(long, default_value = "bench/results/backbone-time.json")]
        out: PathBuf,
    },
    /// Runs the bundle on a CIFAR-10 split as serving does and writes the model cards.
    Evaluate {
        #[arg(long, default_value = "models")]
        models: PathBuf,
        #[arg(long, default_value = "test")]
        split: String,
        #[arg(long)]
        dataset: Option<PathBuf>,
        #[arg(long, default_value = "tract")]
        runtime: RuntimeKind,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, default_value_t = 200)]
        timing_images: usize,
        #[arg(long, default_value = "models/cards")]
        out: PathBuf,
    },
}

fn parse_split(s: &str) -> anyhow::Result<Split> {
    match s {
        "train" => Ok(Split::Train),
        "test" => Ok(Split::Test),
        other => anyhow::bail!("unknown split {other:?} (train or test)"),
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Featurize {
            model,
            size,
            split,
            dataset,
            runtime,
            threads,
            batch,
            flip,
            limit,
            out,
        } => {
            let split = parse_split(&split)?;
            let options = FeaturizeOptions {
                dataset: dataset.unwrap_or_else(|| offline::default_archive(split)),
                split,
                model,
                size,
                runtime,
                threads,
                batch,
                flip,
                limit,
                out,
            };
            let report = offline::featurize(&options)?;
            println!(
                "{} images x {} features in {:.1} s ({:.2} ms/image) -> {}",
                report.images,
                report.width,
                report.seconds,
                report.seconds * 1000.0
                    / report.images.max(1) as f64
                    / if flip { 2.0 } else { 1.0 },
                options.out.display()
            );
        }
        Command::Time {
            model,
            size,
            threads,
            batch,
            images,
            python,
            script,
            out,
        } => {
            let options = TimingOptions {
                model,
                size,
                threads,
                batch,
                images,
                python: (python != "none").then(|| PathBuf::from(python)),
                script,
            };
            let report = timing::time_model(&options)?;
            println!(
                "{} at {} px, {} thread(s), batch {}:",
                report.model, report.size, report.threads, report.batch
            );
            for t in &report.timings {
                let ratio = t
                    .vs_python_onnxruntime
                    .map(|r| format!("  ({r:.2}x Python onnxruntime's time)"))
                    .unwrap_or_default();
                println!(
                    "  {:<20} {:>8.2} ms/image{ratio}",
                    t.runtime, t.ms_per_image
                );
            }
            if let Some(dir) = out.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
            println!("written to {}", out.display());
        }
        Command::Evaluate {
            models,
            split,
            dataset,
            runtime,
            threads,
            limit,
            timing_images,
            out,
        } => {
            let split = parse_split(&split)?;
            let options = EvaluateOptions {
                models,
                dataset: dataset.unwrap_or_else(|| offline::default_archive(split)),
                split,
                runtime,
                threads,
                limit,
                timing_images,
                out,
            };
            for card in evaluate::evaluate(&options)? {
                let accuracy = card
                    .quality
                    .as_ref()
                    .map(|q| {
                        format!(
                            "accuracy {:.2}%  macro-F1 {:.4}  ECE {:.4}",
                            q.accuracy * 100.0,
                            q.macro_f1,
                            q.expected_calibration_error
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "{:<10} {:<28} {:>8.3} ms/image  {}",
                    card.name, card.version, card.latency.mean_ms, accuracy
                );
            }
        }
    }
    Ok(())
}
