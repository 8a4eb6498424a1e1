//! `vision-models time`: one model's time per image on each runtime, with the same input,
//! threads and batch, beside Python's onnxruntime on the same file (`bench/python_ref/
//! time_backbone.py`): the model-only figure the benchmark's end-to-end numbers cannot isolate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::runtime::{self, Parallelism, RuntimeKind, Session, Tensor};

pub struct TimingOptions {
    pub model: PathBuf,
    pub size: usize,
    pub threads: usize,
    pub batch: usize,
    /// Images per repetition (best of three is kept).
    pub images: usize,
    /// Python with onnxruntime, to time the same file there; `None` skips it.
    pub python: Option<PathBuf>,
    pub script: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct Timing {
    pub runtime: String,
    pub ms_per_image: f64,
    /// This runtime's time over Python onnxruntime's (1.0 = the same; lower is faster).
    pub vs_python_onnxruntime: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct TimingReport {
    pub model: String,
    pub size: usize,
    pub threads: usize,
    pub batch: usize,
    pub timings: Vec<Timing>,
}

/// Times the model on tract, on ONNX Runtime (when the library loads) and in Python.
pub fn time_model(options: &TimingOptions) -> anyhow::Result<TimingReport> {
    let python = match &options.python {
        Some(python) => Some(time_in_python(python, options)?),
        None => None,
    };
    let mut timings = Vec::new();
    for kind in [RuntimeKind::Tract, RuntimeKind::Ort] {
        let session =
            match runtime::load(&options.model, kind, Parallelism::threads(options.threads)) {
                Ok(session) => session,
                Err(e) if kind == RuntimeKind::Ort => {
                    eprintln!("ONNX Runtime skipped: {e}");
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
        let ms = time_session(&*session, options)?;
        timings.push(Timing {
            runtime: kind.to_string(),
            ms_per_image: ms,
            vs_python_onnxruntime: python.map(|p| ms / p),
        });
    }
    if let Some(ms) = python {
        timings.push(Timing {
            runtime: "python onnxruntime".into(),
            ms_per_image: ms,
            vs_python_onnxruntime: Some(1.0),
        });
    }
    Ok(TimingReport {
        model: options.model.display().to_string(),
        size: options.size,
        threads: options.threads,
        batch: options.batch,
        timings,
    })
}

/// Fixed pseudo-random pixels in 0..255, the same on every run.
fn input(options: &TimingOptions) -> Tensor {
    let n = options.batch * options.size * options.size * 3;
    let mut state: u32 = 12345;
    let data = (0..n)
        .map(|_| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
            ((state >> 16) % 256) as f32
        })
        .collect();
    Tensor::new(vec![options.batch, options.size, options.size, 3], data)
        .expect("shape matches the data")
}

/// Five warm-up runs, then the best of three repetitions, in ms per image.
fn time_session(session: &dyn Session, options: &TimingOptions) -> anyhow::Result<f64> {
    let input = input(options);
    for _ in 0..5 {
        session.run(input.clone())?;
    }
    let runs = (options.images / options.batch).max(1);
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        for _ in 0..runs {
            session.run(input.clone())?;
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0 / (runs * options.batch) as f64;
        best = best.min(ms);
    }
    Ok(best)
}

fn time_in_python(python: &Path, options: &TimingOptions) -> anyhow::Result<f64> {
    let output = Command::new(python)
        .arg(&options.script)
        .arg(&options.model)
        .args([options.size, options.threads, options.batch, options.images].map(|v| v.to_string()))
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{} failed: {}",
        options.script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    answer["ms_per_image"]
        .as_f64()
        .ok_or_else(|| anyhow::anyhow!("no ms_per_image in {answer}"))
}
