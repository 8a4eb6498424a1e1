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

/// Makes one image's pixels (decoding, resizing); an `Err` is the reason it cannot be read.
pub type Prepare = Box<dyn FnOnce() -> Result<Vec<f32>, String> + Send>;

struct Job {
    prepare: Prepare,
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
        let pixels_per_image = size * size * 3;
        for worker in 0..settings.workers.max(1) {
            let (model, jobs) = (model.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("extractor-{worker}"))
                .spawn(move || work(&model, &jobs, settings, pixels_per_image))
                .expect("cannot start an extractor thread");
        }
        Self {
            queue,
            pixels_per_image,
        }
    }

    /// Values one image's pixels must have (`size * size * 3`, NHWC).
    pub fn pixels_per_image(&self) -> usize {
        self.pixels_per_image
    }

    /// Prepares one image and runs it through the backbone with whatever else is queued.
    /// `prepare` runs on the worker that makes the pass: decoding and resizing cost a fraction
    /// of the pass, and doing them there saves a hand-off to another thread and back per image.
    pub async fn extract(
        &self,
        prepare: impl FnOnce() -> Result<Vec<f32>, String> + Send + 'static,
    ) -> Extracted {
        let (reply, answer) = oneshot::channel();
        let prepare = Box::new(prepare);
        self.queue
            .send(Job { prepare, reply })
            .map_err(|_| "extractor workers stopped".to_string())?;
        answer
            .await
            .map_err(|_| "extractor worker dropped the image".to_string())?
    }
}

fn work(
    model: &ExtractorModel,
    jobs: &Mutex<Receiver<Job>>,
    settings: BatchSettings,
    pixels_per_image: usize,
) {
    while let Some(batch) = next_batch(jobs, settings) {
        let mut images = Vec::with_capacity(batch.len());
        for job in batch {
            match prepare(job.prepare, pixels_per_image) {
                Ok(pixels) => images.push((pixels, job.reply)),
                // Unreadable: answered now, the others go on without it.
                Err(reason) => {
                    let _ = job.reply.send(Err(reason));
                }
            }
        }
        if !images.is_empty() {
            run(model, images);
        }
    }
}

/// Runs `prepare`; a panic (a decoder bug on hostile bytes) is this image's error, not the
/// worker's end.
fn prepare(prepare: Prepare, pixels_per_image: usize) -> Result<Vec<f32>, String> {
    let pixels = std::panic::catch_unwind(AssertUnwindSafe(prepare))
        .unwrap_or_else(|_| Err("image preparation panicked".to_string()))?;
    // A tensor of the wrong size is refused before it can spoil a batch.
    if pixels.len() != pixels_per_image {
        return Err(format!(
            "{} pixel values, the backbone takes {pixels_per_image}",
            pixels.len()
        ));
    }
    Ok(pixels)
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

/// One backbone pass over prepared images, each answered with its own row.
fn run(model: &ExtractorModel, mut images: Vec<(Vec<f32>, oneshot::Sender<Extracted>)>) {
    let n = images.len();
    let pixels = if n == 1 {
        std::mem::take(&mut images[0].0)
    } else {
        images.iter().flat_map(|(p, _)| p.iter().copied()).collect()
    };
    let started = Instant::now();
    // A panic in the runtime must not take the worker (and with the last one, the stage) down.
    let output = std::panic::catch_unwind(AssertUnwindSafe(|| model.run_pixels(n, pixels)))
        .unwrap_or_else(|_| Err(InferenceError::Run("the backbone pass panicked".into())));
    let share = started.elapsed() / n as u32;
    let m = metrics();
    match output {
        Ok(tensor) => {
            m.extractor_batch_size.observe(n as f64);
            for (i, (_, reply)) in images.into_iter().enumerate() {
                m.inference_duration
                    .with_label_values(&["extractor"])
                    .observe(share.as_secs_f64());
                // A handler that gave up (shutdown) no longer listens: nothing to do.
                let _ = reply.send(Ok((tensor.row(i).to_vec(), share)));
            }
        }
        // One image the backbone cannot take must not fail the others: run them one by one.
        // (A batch of one gave its pixels to the pass; it has nothing left to retry.)
        Err(e) if n > 1 => {
            tracing::warn!(error = %e, images = n, "batched pass failed; running each alone");
            for image in images {
                run(model, vec![image]);
            }
        }
        Err(e) => {
            let reason = format!("extractor failed: {e}");
            for (_, reply) in images {
                let _ = reply.send(Err(reason.clone()));
            }
        }
    }
}
