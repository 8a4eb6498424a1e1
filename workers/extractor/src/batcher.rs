//! Micro-batching of backbone passes, as text-embeddings-inference and Triton do: images wait in
//! one queue; a free worker takes the first, then whatever else arrives within `max_wait`, up to
//! `max_batch`, and runs them through the backbone as one tensor. Under load the queue fills
//! while every worker is busy, so batches form without waiting; when idle an image waits at most
//! `max_wait`.
//!
//! Workers are OS threads, not async tasks: a backbone pass holds a core for milliseconds.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use vision_core::metrics::metrics;
use vision_inference::{ExtractorModel, InferenceError};

/// How the extractor groups images into backbone passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Most images in one pass.
    pub max_batch: usize,
    /// Longest a pass waits for more images once it has one.
    pub max_wait: Duration,
    /// Passes running at once (ORT sessions / tract callers); one per core by default.
    pub workers: usize,
}

impl BatchSettings {
    /// Off by default: with one single-threaded pass per core, batches gained nothing on either
    /// runtime here (2 cores, EfficientNet-Lite0 at 160 px) and cost memory (README, Benchmark).
    pub const DEFAULT_MAX_BATCH: usize = 1;
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_millis(1);
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_batch: Self::DEFAULT_MAX_BATCH,
            max_wait: Self::DEFAULT_MAX_WAIT,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What the batcher answers for one image: its descriptors and the duration of the pass that
/// computed them, divided by the images in it (the image's share of the backbone).
pub type Extracted = Result<(Vec<f32>, Duration), String>;

struct Job {
    pixels: Vec<f32>,
    reply: oneshot::Sender<Extracted>,
}

/// Queue in front of the backbone; cheap to share. Dropping the last handle stops the workers
/// once the queue is empty.
#[derive(Clone)]
pub struct Batcher {
    queue: Sender<Job>,
    pixels_per_image: usize,
}

impl Batcher {
    pub fn start(model: Arc<ExtractorModel>, settings: BatchSettings) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        let size = model.input_size as usize;
        for worker in 0..settings.workers.max(1) {
            let (model, jobs) = (model.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("extractor-{worker}"))
                .spawn(move || work(&model, &jobs, settings))
                .expect("cannot start an extractor thread");
        }
        Self {
            queue,
            pixels_per_image: size * size * 3,
        }
    }

    /// Values one image's pixels must have (`size * size * 3`, NHWC).
    pub fn pixels_per_image(&self) -> usize {
        self.pixels_per_image
    }

    /// Runs one preprocessed image through the backbone with whatever else is queued.
    pub async fn extract(&self, pixels: Vec<f32>) -> Extracted {
        if pixels.len() != self.pixels_per_image {
            return Err(format!(
                "{} pixel values, the backbone takes {}",
                pixels.len(),
                self.pixels_per_image
            ));
        }
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { pixels, reply })
            .map_err(|_| "extractor workers stopped".to_string())?;
        answer
            .await
            .map_err(|_| "extractor worker dropped the image".to_string())?
    }
}

fn work(model: &ExtractorModel, jobs: &Mutex<Receiver<Job>>, settings: BatchSettings) {
    while let Some(batch) = next_batch(jobs, settings) {
        run(model, batch);
    }
}

/// Blocks for one job, then collects more until the batch is full or `max_wait` has passed.
/// The queue stays locked while collecting, so one worker gathers while the others compute.
fn next_batch(jobs: &Mutex<Receiver<Job>>, settings: BatchSettings) -> Option<Vec<Job>> {
    let jobs = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = jobs.recv().ok()?;
    let mut batch = vec![first];
    let deadline = Instant::now() + settings.max_wait;
    while batch.len() < settings.max_batch.max(1) {
        let job = match jobs.try_recv() {
            Ok(job) => job,
            Err(_) => match jobs.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            },
        };
        batch.push(job);
    }
    Some(batch)
}

fn run(model: &ExtractorModel, batch: Vec<Job>) {
    let n = batch.len();
    let mut pixels = Vec::with_capacity(n * batch[0].pixels.len());
    for job in &batch {
        pixels.extend_from_slice(&job.pixels);
    }
    let started = Instant::now();
    // A panic in the runtime must not take the worker (and with the last one, the stage) down.
    let output = std::panic::catch_unwind(AssertUnwindSafe(|| model.run_pixels(n, pixels)))
        .unwrap_or_else(|_| Err(InferenceError::Run("the backbone pass panicked".into())));
    let share = started.elapsed() / n as u32;
    let m = metrics();
    match output {
        Ok(tensor) => {
            m.extractor_batch_size.observe(n as f64);
            for (i, job) in batch.into_iter().enumerate() {
                m.inference_duration
                    .with_label_values(&["extractor"])
                    .observe(share.as_secs_f64());
                // A handler that gave up (shutdown) no longer listens: nothing to do.
                let _ = job.reply.send(Ok((tensor.row(i).to_vec(), share)));
            }
        }
        // One image the backbone cannot take must not fail the others: run them one by one.
        Err(e) if n > 1 => {
            tracing::warn!(error = %e, images = n, "batched pass failed; running each alone");
            for job in batch {
                run(model, vec![job]);
            }
        }
        Err(e) => {
            let reason = format!("extractor failed: {e}");
            for job in batch {
                let _ = job.reply.send(Err(reason.clone()));
            }
        }
    }
}
