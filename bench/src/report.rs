//! The benchmark's figures: computed, printed as a table, written as JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::Args;
use crate::client::{RunResult, Scrape};

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

impl Percentiles {
    pub fn of(mut ms: Vec<f64>) -> Option<Self> {
        if ms.is_empty() {
            return None;
        }
        ms.sort_by(f64::total_cmp);
        // Nearest rank.
        let at = |p: f64| ms[((p * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Some(Self {
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: String,
    pub runtime: String,
    pub images: usize,
    pub accepted: usize,
    pub completed: usize,
    pub failed_uploads: usize,
    pub concurrency: usize,
    pub rate: Option<f64>,
    pub wall_seconds: f64,
    /// Completed images / (last completion - first upload sent).
    pub images_per_second: f64,
    /// Images recorded per second while uploads were still being sent (first to last send):
    /// the pipeline's pace under the load, before an unbounded backlog drains with the load
    /// gone (which favours running without a bound in `images_per_second`).
    pub images_per_second_under_load: f64,
    /// Upload request sent -> response (image stored and queued).
    pub upload_latency: Option<Percentiles>,
    /// Upload accepted -> every head's prediction recorded (imageCompleted received).
    pub end_to_end_latency: Option<Percentiles>,
    /// Upload sent -> every head's prediction recorded: the whole wait, wherever the queue forms.
    pub sent_to_recorded_latency: Option<Percentiles>,
    /// Mean seconds per message in each stage, from the server's histograms (ms).
    pub stage_mean_ms: serde_json::Map<String, Value>,
    /// Mean size of the messages published on each topic (bytes on the wire).
    pub message_mean_bytes: serde_json::Map<String, Value>,
    /// Mean model inference time alone (ms).
    pub inference_mean_ms: serde_json::Map<String, Value>,
    pub peak_rss_mb: Option<f64>,
    /// CPU time per completed image over the run, by process (ms; "all" is their sum: at
    /// saturation, divided by the cores, the time one image costs the machine).
    pub cpu_ms_per_image: BTreeMap<String, f64>,
    pub model_stats: Value,
    pub machine_cores: usize,
}

/// What the server's processes used: peak memory (summed) and CPU per image (by process).
pub struct Usage {
    /// How many processes we started to serve the run (distributed: the gateway, the recorder,
    /// the extractor and one per head).
    pub processes: usize,
    pub peak_rss: Option<u64>,
    pub cpu_ms_per_image: BTreeMap<String, f64>,
}

/// Mean of a histogram's observations over the run, by label value, times `scale`.
fn histogram_means(
    before: &Scrape,
    after: &Scrape,
    name: &str,
    label: &str,
    scale: f64,
) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    let prefix = format!("{name}_count{{{label}=\"");
    for (key, count) in after {
        let Some(rest) = key.strip_prefix(&prefix) else {
            continue;
        };
        let value = rest.trim_end_matches("\"}");
        let sum_key = key.replacen("_count{", "_sum{", 1);
        let d_count = count - before.get(key).copied().unwrap_or(0.0);
        let d_sum = after.get(&sum_key).copied().unwrap_or(0.0)
            - before.get(&sum_key).copied().unwrap_or(0.0);
        if d_count > 0.0 {
            out.insert(value.to_string(), Value::from(d_sum / d_count * scale));
        }
    }
    out
}

impl Report {
    pub fn new(
        args: &Args,
        run: &RunResult,
        wall: Duration,
        before: &Scrape,
        after: &Scrape,
        model_stats: Value,
        usage: Usage,
    ) -> Self {
        let upload = Percentiles::of(
            run.uploads
                .iter()
                .filter_map(|u| Some((u.accepted? - u.sent).as_secs_f64() * 1000.0))
                .collect(),
        );
        let mut last = None;
        let e2e: Vec<f64> = run
            .uploads
            .iter()
            .filter_map(|u| {
                let done = *run.completions.get(u.id.as_ref()?)?;
                last = Some(last.map_or(done, |l: std::time::Instant| l.max(done)));
                Some(done.saturating_duration_since(u.accepted?).as_secs_f64() * 1000.0)
            })
            .collect();
        let total = Percentiles::of(
            run.uploads
                .iter()
                .filter_map(|u| {
                    let done = *run.completions.get(u.id.as_ref()?)?;
                    Some(done.saturating_duration_since(u.sent).as_secs_f64() * 1000.0)
                })
                .collect(),
        );
        let completed = e2e.len();
        let span = last.map_or(wall, |l| l - run.first_sent).as_secs_f64();
        let last_sent = run.uploads.iter().map(|u| u.sent).max();
        let under_load = last_sent.map_or(0.0, |last_sent| {
            let recorded = run
                .completions
                .values()
                .filter(|done| **done <= last_sent)
                .count();
            recorded as f64 / (last_sent - run.first_sent).as_secs_f64().max(1e-9)
        });
        Self {
            mode: if args.url.is_some() {
                "external".into()
            } else if args.distributed {
                format!("distributed ({} processes)", usage.processes)
            } else {
                "embedded".into()
            },
            runtime: args.runtime.clone(),
            images: run.uploads.len(),
            accepted: run.uploads.iter().filter(|u| u.id.is_some()).count(),
            completed,
            failed_uploads: run.uploads.iter().filter(|u| u.error.is_some()).count(),
            concurrency: args.concurrency,
            rate: args.rate,
            wall_seconds: wall.as_secs_f64(),
            images_per_second: completed as f64 / span.max(1e-9),
            images_per_second_under_load: under_load,
            upload_latency: upload,
            end_to_end_latency: Percentiles::of(e2e),
            sent_to_recorded_latency: total,
            stage_mean_ms: histogram_means(
                before,
                after,
                "vision_stage_duration_seconds",
                "stage",
                1000.0,
            ),
            inference_mean_ms: histogram_means(
                before,
                after,
                "vision_inference_duration_seconds",
                "model",
                1000.0,
            ),
            message_mean_bytes: histogram_means(
                before,
                after,
                "vision_message_bytes",
                "topic",
                1.0,
            ),
            peak_rss_mb: usage.peak_rss.map(|b| b as f64 / (1024.0 * 1024.0)),
            cpu_ms_per_image: usage.cpu_ms_per_image,
            model_stats,
            machine_cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    pub fn print(&self) {
        println!(
            "vision-bench: {} mode, runtime {}, {} cores",
            self.mode, self.runtime, self.machine_cores
        );
        match self.rate {
            Some(r) => println!("  load: fixed rate {r} images/s"),
            None => println!("  load: saturation, {} uploads in flight", self.concurrency),
        }
        println!(
            "  images: {} sent, {} accepted, {} completed, {} failed uploads",
            self.images, self.accepted, self.completed, self.failed_uploads
        );
        println!(
            "  throughput: {:.1} images/s sustained ({:.1} s wall), {:.1} images/s while uploads \
             were being sent",
            self.images_per_second, self.wall_seconds, self.images_per_second_under_load
        );
        let show = |name: &str, p: &Option<Percentiles>| {
            if let Some(p) = p {
                println!(
                    "  {name}: p50 {:.1} ms  p95 {:.1} ms  p99 {:.1} ms  mean {:.1} ms",
                    p.p50_ms, p.p95_ms, p.p99_ms, p.mean_ms
                );
            }
        };
        show("upload (sent -> accepted)        ", &self.upload_latency);
        show(
            "end-to-end (accepted -> recorded)",
            &self.end_to_end_latency,
        );
        for (stage, ms) in &self.stage_mean_ms {
            println!(
                "  stage {stage:<16} mean {:.3} ms/image",
                ms.as_f64().unwrap_or_default()
            );
        }
        for (model, ms) in &self.inference_mean_ms {
            println!(
                "  inference {model:<12} mean {:.3} ms/image",
                ms.as_f64().unwrap_or_default()
            );
        }
        for (topic, bytes) in &self.message_mean_bytes {
            println!(
                "  messages {topic:<26} mean {:.0} bytes",
                bytes.as_f64().unwrap_or_default()
            );
        }
        if let Some(rss) = self.peak_rss_mb {
            println!("  server peak RSS: {rss:.0} MB");
        }
        for (process, ms) in &self.cpu_ms_per_image {
            println!("  cpu {process:<28} {ms:.2} ms/image");
        }
        if let Some(stats) = self.model_stats.as_array() {
            for s in stats {
                println!(
                    "  model {:<9} count {:>6}  accuracy {}",
                    s["model"].as_str().unwrap_or("?"),
                    s["count"],
                    s["accuracy"]
                        .as_f64()
                        .map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0))
                );
            }
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        write_json(self, path)
    }

    /// Fails unless every image sent was completed.
    pub fn ensure_complete(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.completed == self.images,
            "{}: {} of {} images completed",
            self.mode,
            self.completed,
            self.images
        );
        Ok(())
    }
}

pub fn write_json(value: &impl Serialize, path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)?;
    println!("  written to {}", path.display());
    Ok(())
}
