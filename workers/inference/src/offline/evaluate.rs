//! Model cards: the shipped bundle run on a labelled split exactly as serving runs it (decode,
//! preprocess, extractor, each head), with accuracy, macro F1, per-class precision/recall,
//! confusion matrix, expected calibration error, latency and size.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::dataset::{self, Split};
use crate::models::ModelBundle;
use crate::runtime::{Parallelism, RuntimeKind};
use crate::{manifest, preprocess};

#[derive(Debug, Clone)]
pub struct EvaluateOptions {
    pub models: PathBuf,
    pub dataset: PathBuf,
    pub split: Split,
    pub runtime: RuntimeKind,
    pub threads: usize,
    pub limit: Option<usize>,
    /// Images timed one at a time for the latency figures.
    pub timing_images: usize,
    pub out: PathBuf,
}

/// Quality figures of one head on one split.
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    pub images: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub expected_calibration_error: f64,
    pub mean_confidence: f64,
    pub per_class: Vec<ClassQuality>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClassQuality {
    pub class: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// One image at a time, single call, mean and p95 in milliseconds.
    pub mean_ms: f64,
    pub p95_ms: f64,
    pub runtime: String,
    pub threads: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelCard {
    pub name: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    pub size_bytes: u64,
    pub descriptor_dim: usize,
    pub input_size: u32,
    pub split: String,
    pub quality: Option<Quality>,
    pub latency: Latency,
    pub details: serde_json::Value,
}

/// Computes the quality figures from true and predicted classes and the predicted confidence.
pub fn quality(
    classes: &[String],
    truth: &[usize],
    predicted: &[usize],
    confidence: &[f32],
) -> Quality {
    let k = classes.len();
    let mut confusion = vec![vec![0u64; k]; k];
    for (&t, &p) in truth.iter().zip(predicted) {
        confusion[t][p] += 1;
    }
    let n = truth.len().max(1) as f64;
    let correct: u64 = (0..k).map(|i| confusion[i][i]).sum();
    let per_class: Vec<ClassQuality> = (0..k)
        .map(|c| {
            let tp = confusion[c][c] as f64;
            let predicted_c: u64 = (0..k).map(|t| confusion[t][c]).sum();
            let support: u64 = confusion[c].iter().sum();
            let precision = if predicted_c > 0 {
                tp / predicted_c as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassQuality {
                class: classes[c].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    Quality {
        images: truth.len(),
        accuracy: correct as f64 / n,
        macro_f1: per_class.iter().map(|c| c.f1).sum::<f64>() / k as f64,
        expected_calibration_error: ece(truth, predicted, confidence, 15),
        mean_confidence: confidence.iter().map(|&c| f64::from(c)).sum::<f64>() / n,
        per_class,
        confusion,
    }
}

/// Expected calibration error with `bins` equal-width confidence bins.
pub fn ece(truth: &[usize], predicted: &[usize], confidence: &[f32], bins: usize) -> f64 {
    let mut count = vec![0usize; bins];
    let mut hits = vec![0usize; bins];
    let mut conf = vec![0f64; bins];
    for ((&t, &p), &c) in truth.iter().zip(predicted).zip(confidence) {
        let b = ((f64::from(c) * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        hits[b] += usize::from(t == p);
        conf[b] += f64::from(c);
    }
    let n = truth.len().max(1) as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let m = count[b] as f64;
            (m / n) * (hits[b] as f64 / m - conf[b] / m).abs()
        })
        .sum()
}

fn latency(mut samples_ms: Vec<f64>, runtime: RuntimeKind, threads: usize) -> Latency {
    samples_ms.sort_by(f64::total_cmp);
    let n = samples_ms.len().max(1);
    Latency {
        mean_ms: samples_ms.iter().sum::<f64>() / n as f64,
        p95_ms: samples_ms
            .get(((n as f64 * 0.95).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or_default(),
        runtime: runtime.to_string(),
        threads,
    }
}

/// Runs the bundle over the split and writes `cards.json` and one Markdown card per model.
pub fn evaluate(options: &EvaluateOptions) -> anyhow::Result<Vec<ModelCard>> {
    let bundle = ModelBundle::load(
        &options.models,
        options.runtime,
        Parallelism::threads(options.threads),
    )?;
    let mut samples = dataset::read_samples(&options.dataset, options.split)?;
    if let Some(limit) = options.limit {
        samples = super::spread(samples, limit);
    }
    let classes = bundle.manifest.classes.clone();
    let size = bundle.extractor.input_size;

    // Quality: batched, the way throughput runs.
    let truth: Vec<usize> = samples.iter().map(|s| s.class_index).collect();
    let mut descriptors: Vec<f32> = Vec::new();
    for (i, batch) in samples.chunks(32).enumerate() {
        let mut pixels = Vec::new();
        for s in batch {
            let image = image::load_from_memory(&s.bytes)?;
            pixels.extend(preprocess::to_pixels(&image, size, false));
        }
        let out = bundle.extractor.run_pixels(batch.len(), pixels)?;
        descriptors.extend(out.data);
        if (i + 1) % 50 == 0 {
            tracing::info!(done = (i + 1) * 32, of = samples.len(), "evaluated");
        }
    }
    // Latency: one image per call, on the first `timing_images`.
    let timed = &samples[..options.timing_images.min(samples.len())];
    let mut extractor_ms = Vec::new();
    for s in timed {
        let image = image::load_from_memory(&s.bytes)?;
        let t = Instant::now();
        bundle.extractor.extract(&[&image])?;
        extractor_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let dim = bundle.extractor.descriptor_dim;
    let mut cards = vec![card(
        &options.models,
        &bundle.manifest.extractor,
        size,
        options,
        None,
        latency(extractor_ms, options.runtime, options.threads),
    )?];
    for (head, entry) in bundle.classifiers.iter().zip(&bundle.manifest.classifiers) {
        let results = head.classify_batch(samples.len(), descriptors.clone())?;
        let predicted: Vec<usize> = results.iter().map(|r| r.class_index).collect();
        let confidence: Vec<f32> = results.iter().map(|r| r.confidence).collect();
        let q = quality(&classes, &truth, &predicted, &confidence);
        let mut head_ms = Vec::new();
        for row in descriptors
            .chunks(dim)
            .take(options.timing_images.max(1000))
        {
            let t = Instant::now();
            head.classify(row)?;
            head_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        cards.push(card(
            &options.models,
            entry,
            size,
            options,
            Some(q),
            latency(head_ms, options.runtime, 1),
        )?);
    }
    std::fs::create_dir_all(&options.out)?;
    std::fs::write(
        options.out.join("cards.json"),
        serde_json::to_vec_pretty(&cards)?,
    )?;
    for c in &cards {
        std::fs::write(options.out.join(format!("{}.md", c.name)), markdown(c))?;
    }
    Ok(cards)
}

fn card(
    dir: &Path,
    entry: &manifest::ModelEntry,
    input_size: u32,
    options: &EvaluateOptions,
    quality: Option<Quality>,
    latency: Latency,
) -> anyhow::Result<ModelCard> {
    Ok(ModelCard {
        name: entry.name.clone(),
        version: entry.version.clone(),
        file: entry.file.clone(),
        sha256: entry.sha256.clone(),
        size_bytes: std::fs::metadata(dir.join(&entry.file))?.len(),
        descriptor_dim: entry.descriptor_dim,
        input_size,
        split: format!(
            "CIFAR-10 {} ({} images, {})",
            match options.split {
                Split::Train => "train",
                Split::Test => "test",
            },
            quality.as_ref().map_or(0, |q| q.images),
            options.dataset.display()
        ),
        quality,
        latency,
        details: serde_json::to_value(&entry.details)?,
    })
}

/// The human-readable card.
pub fn markdown(card: &ModelCard) -> String {
    let mut md = format!(
        "# Model card: `{}`\n\n| | |\n|---|---|\n| version | `{}` |\n| file | `{}` ({:.2} MB) |\n| sha256 | `{}` |\n| descriptor dimension | {} |\n| input resolution | {}x{} (CIFAR-10 32x32 upsampled) |\n| latency, one image per call | mean {:.3} ms, p95 {:.3} ms ({} runtime, {} thread(s), 2-core machine) |\n",
        card.name,
        card.version,
        card.file,
        card.size_bytes as f64 / 1e6,
        card.sha256,
        card.descriptor_dim,
        card.input_size,
        card.input_size,
        card.latency.mean_ms,
        card.latency.p95_ms,
        card.latency.runtime,
        card.latency.threads,
    );
    if let Some(q) = &card.quality {
        md.push_str(&format!(
            "| evaluated on | {} |\n| top-1 accuracy | **{:.2}%** |\n| macro F1 | {:.4} |\n| expected calibration error (15 bins) | {:.4} |\n| mean confidence | {:.4} |\n\n## Per class\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n",
            card.split,
            q.accuracy * 100.0,
            q.macro_f1,
            q.expected_calibration_error,
            q.mean_confidence
        ));
        for c in &q.per_class {
            md.push_str(&format!(
                "| {} | {:.4} | {:.4} | {:.4} | {} |\n",
                c.class, c.precision, c.recall, c.f1, c.support
            ));
        }
        md.push_str("\n## Confusion matrix (rows: true class, columns: predicted)\n\n| |");
        for c in &q.per_class {
            md.push_str(&format!(" {} |", &c.class[..c.class.len().min(5)]));
        }
        md.push_str("\n|---|");
        md.push_str(&"---|".repeat(q.per_class.len()));
        md.push('\n');
        for (c, row) in q.per_class.iter().zip(&q.confusion) {
            md.push_str(&format!("| {} |", c.class));
            for v in row {
                md.push_str(&format!(" {v} |"));
            }
            md.push('\n');
        }
    }
    if !card.details.is_null() && card.details != serde_json::json!({}) {
        md.push_str(&format!(
            "\n## Provenance and training\n\n```json\n{}\n```\n",
            serde_json::to_string_pretty(&card.details).unwrap_or_default()
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_figures() {
        let classes: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let truth = [0, 0, 1, 1];
        let predicted = [0, 1, 1, 1];
        let q = quality(&classes, &truth, &predicted, &[0.9, 0.6, 0.8, 0.7]);
        assert!((q.accuracy - 0.75).abs() < 1e-12);
        assert_eq!(q.confusion, vec![vec![1, 1], vec![0, 2]]);
        // a: P 1, R 0.5, F1 2/3; b: P 2/3, R 1, F1 0.8.
        assert!((q.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-12);
        // Bins: 0.9 (hit), 0.6 (miss), 0.8 (hit), 0.7 (hit), each alone in its bin.
        let expected = (0.1 + 0.6 + 0.2 + 0.3) / 4.0;
        assert!((q.expected_calibration_error - expected).abs() < 1e-6);
    }
}
