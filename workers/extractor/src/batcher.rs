//! Micro-batching of backbone passes, as text-embeddings-inference and Triton do: images wait in
//! one queue; a free worker takes the first, then whatever else arrives within `max_wait`, up to
//! `max_batch`, and runs them through the backbone as one tensor. Under load the queue fills
//! while every worker is busy, so batches form without waiting; when idle an image waits at most
//! `max_wait`.
//!
//! Workers are OS threads, not async tasks: a backbone pass holds a core for milliseconds.
//!
//! A pass runs every extractor version served at its start (see [`ServedExtractors`]):
//! production's descriptors are the image's; the others' feed the heads bound to them. The
//! served set is swapped from outside (the registry's watcher); a batch keeps the set it
//! started with.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::sync::oneshot;
use vision_core::messages::VersionedDescriptors;
use vision_core::metrics::metrics;
use vision_inference::{ExtractorModel, InferenceError, ServedExtractors};

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

/// One image's descriptors from every extractor version served.
#[derive(Debug, Clone, PartialEq)]
pub struct Extraction {
    /// Production's.
    pub extractor_version: String,
    pub descriptors: Vec<f32>,
    /// The other versions' (one whose pass failed is left out: a shadow never holds the
    /// answer back).
    pub others: Vec<VersionedDescriptors>,
    /// The passes that computed them divided by the images in them: the image's share.
    pub spent: Duration,
}

/// What the batcher answers for one image; an `Err` is the reason it cannot be read.
pub type Extracted = Result<Extraction, String>;

/// Makes one image's pixels (decoding, resizing) at the side it is given; an `Err` is the
/// reason it cannot be read.
pub type Prepare = Box<dyn FnOnce(u32) -> Result<Vec<f32>, String> + Send>;

struct Job {
    prepare: Prepare,
    reply: oneshot::Sender<Extracted>,
}

/// Queue in front of the backbone; cheap to share. Dropping the last handle stops the workers
/// once the queue is empty.
#[derive(Clone)]
pub struct Batcher {
    queue: Sender<Job>,
}

impl Batcher {
    /// Workers that run what `served` holds when each pass starts.
    pub fn start(served: Arc<ArcSwap<ServedExtractors>>, settings: BatchSettings) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        let jobs = Arc::new(Mutex::new(jobs));
        for worker in 0..settings.workers.max(1) {
            let (served, jobs) = (served.clone(), jobs.clone());
            std::thread::Builder::new()
                .name(format!("extractor-{worker}"))
                .spawn(move || work(&served, &jobs, settings))
                .expect("cannot start an extractor thread");
        }
        Self { queue }
    }

    /// Workers that run `model` alone.
    pub fn start_with(model: Arc<ExtractorModel>, settings: BatchSettings) -> Self {
        let served = ArcSwap::from_pointee(ServedExtractors::production(model));
        Self::start(Arc::new(served), settings)
    }

    /// Prepares one image and runs it through the backbone with whatever else is queued.
    /// `prepare` runs on the worker that makes the pass, given the side the served extractors
    /// take: decoding and resizing cost a fraction of the pass, and doing them there saves a
    /// hand-off to another thread and back per image.
    pub async fn extract(
        &self,
        prepare: impl FnOnce(u32) -> Result<Vec<f32>, String> + Send + 'static,
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

fn work(served: &ArcSwap<ServedExtractors>, jobs: &Mutex<Receiver<Job>>, settings: BatchSettings) {
    while let Some(batch) = next_batch(jobs, settings) {
        // This batch runs the versions served now, whatever is swapped meanwhile.
        let served = served.load_full();
        let side = served.production.input_size;
        let pixels_per_image = (side * side * 3) as usize;
        let mut images = Vec::with_capacity(batch.len());
        for job in batch {
            match prepare(job.prepare, side, pixels_per_image) {
                Ok(pixels) => images.push((pixels, job.reply)),
                // Unreadable: answered now, the others go on without it.
                Err(reason) => {
                    let _ = job.reply.send(Err(reason));
                }
            }
        }
        if !images.is_empty() {
            run(&served, images);
        }
    }
}

/// Runs `prepare`; a panic (a decoder bug on hostile bytes) is this image's error, not the
/// worker's end.
fn prepare(prepare: Prepare, side: u32, pixels_per_image: usize) -> Result<Vec<f32>, String> {
    let pixels = std::panic::catch_unwind(AssertUnwindSafe(|| prepare(side)))
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

/// One pass of every served extractor over prepared images, each answered with its own rows.
fn run(served: &ServedExtractors, mut images: Vec<(Vec<f32>, oneshot::Sender<Extracted>)>) {
    let n = images.len();
    let pixels = if n == 1 {
        std::mem::take(&mut images[0].0)
    } else {
        images.iter().flat_map(|(p, _)| p.iter().copied()).collect()
    };
    // The other versions take the same pixels (kept only when there are any).
    let for_others = (!served.others.is_empty()).then(|| pixels.clone());
    let started = Instant::now();
    let output = pass(&served.production, n, pixels);
    let share = started.elapsed() / n as u32;
    let m = metrics();
    match output {
        Ok(tensor) => {
            m.extractor_batch_size.observe(n as f64);
            let others = for_others
                .map(|pixels| run_others(served, n, pixels))
                .unwrap_or_default();
            for (i, (_, reply)) in images.into_iter().enumerate() {
                m.inference_duration
                    .with_label_values(&["extractor"])
                    .observe(share.as_secs_f64());
                let extraction = Extraction {
                    extractor_version: served.production.version.clone(),
                    descriptors: tensor.row(i).to_vec(),
                    others: others
                        .iter()
                        .map(|(version, tensor, _)| VersionedDescriptors {
                            extractor_version: version.clone(),
                            descriptors: tensor.row(i).to_vec(),
                        })
                        .collect(),
                    spent: share + others.iter().map(|(_, _, spent)| *spent).sum::<Duration>(),
                };
                // A handler that gave up (shutdown) no longer listens: nothing to do.
                let _ = reply.send(Ok(extraction));
            }
        }
        // One image the backbone cannot take must not fail the others: run them one by one.
        // (A batch of one gave its pixels to the pass; it has nothing left to retry.)
        Err(e) if n > 1 => {
            tracing::warn!(error = %e, images = n, "batched pass failed; running each alone");
            for image in images {
                run(served, vec![image]);
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

/// A panic in the runtime must not take the worker (and with the last one, the stage) down.
fn pass(
    model: &ExtractorModel,
    n: usize,
    pixels: Vec<f32>,
) -> Result<vision_inference::Tensor, InferenceError> {
    std::panic::catch_unwind(AssertUnwindSafe(|| model.run_pixels(n, pixels)))
        .unwrap_or_else(|_| Err(InferenceError::Run("the backbone pass panicked".into())))
}

/// The other served versions over the same pixels: their label, rows and each image's share
/// of the pass. One that fails is logged, counted and left out.
fn run_others(
    served: &ServedExtractors,
    n: usize,
    pixels: Vec<f32>,
) -> Vec<(String, vision_inference::Tensor, Duration)> {
    let mut out = Vec::with_capacity(served.others.len());
    for model in &served.others {
        let started = Instant::now();
        match pass(model, n, pixels.clone()) {
            Ok(tensor) => out.push((model.version.clone(), tensor, started.elapsed() / n as u32)),
            Err(e) => {
                tracing::warn!(extractor = %model.version, error = %e, images = n, "other extractor failed");
                metrics()
                    .errors
                    .with_label_values(&["extract", "other_extractor"])
                    .inc();
            }
        }
    }
    out
}
