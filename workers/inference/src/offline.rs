//! Offline tools over a labelled dataset, sharing the serving code path (decode, preprocess,
//! runtime): backbone features for fitting the PCA and the heads (so training sees exactly what
//! serving sees), and the evaluation behind the model cards.

pub mod evaluate;
pub mod timing;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::dataset::{self, Split};
use crate::runtime::{self, RuntimeKind, Session, Tensor};
use crate::{npy, preprocess};

#[derive(Debug, Clone)]
pub struct FeaturizeOptions {
    pub dataset: PathBuf,
    pub split: Split,
    /// A backbone graph: `pixels` [N,S,S,3] -> `features` [N,F].
    pub model: PathBuf,
    pub size: u32,
    pub runtime: RuntimeKind,
    pub threads: usize,
    pub batch: usize,
    /// Also compute the features of the horizontally flipped images.
    pub flip: bool,
    pub limit: Option<usize>,
    pub out: PathBuf,
}

#[derive(Debug)]
pub struct FeaturizeReport {
    pub images: usize,
    pub width: usize,
    pub seconds: f64,
}

/// Computes features for every image of the dataset and writes `features.npy`,
/// `features_flip.npy` (with `flip`), `labels.npy` and `names.txt` into `out`.
pub fn featurize(options: &FeaturizeOptions) -> anyhow::Result<FeaturizeReport> {
    let started = Instant::now();
    let mut samples = dataset::read_samples(&options.dataset, options.split)?;
    if let Some(limit) = options.limit {
        samples = spread(samples, limit);
    }
    std::fs::create_dir_all(&options.out)?;
    // ORT parallelises inside a call; tract runs one call per thread.
    let (workers, intra) = match options.runtime {
        RuntimeKind::Ort => (1, options.threads.max(1)),
        RuntimeKind::Tract => (options.threads.max(1), 1),
    };
    let session = runtime::load(
        &options.model,
        options.runtime,
        runtime::Parallelism::threads(intra),
    )?;
    let variants: &[bool] = if options.flip {
        &[false, true]
    } else {
        &[false]
    };
    let mut width = 0;
    for &flip in variants {
        let rows = run_parallel(&session, &samples, options, flip, workers)?;
        width = rows.first().map_or(0, Vec::len);
        let flat: Vec<f32> = rows.into_iter().flatten().collect();
        let name = if flip {
            "features_flip.npy"
        } else {
            "features.npy"
        };
        npy::write_f32(&options.out.join(name), &[samples.len(), width], &flat)?;
    }
    let labels: Vec<i64> = samples.iter().map(|s| s.class_index as i64).collect();
    npy::write_i64(&options.out.join("labels.npy"), &labels)?;
    let names: Vec<String> = samples
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                crate::dataset::CIFAR10_CLASSES[s.class_index],
                s.name
            )
        })
        .collect();
    std::fs::write(options.out.join("names.txt"), names.join("\n") + "\n")?;
    Ok(FeaturizeReport {
        images: samples.len(),
        width,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Keeps `limit` samples spread evenly over the sorted list (so every class is represented).
pub fn spread<T>(samples: Vec<T>, limit: usize) -> Vec<T> {
    let n = samples.len();
    if limit >= n {
        return samples;
    }
    let step = n as f64 / limit as f64;
    let wanted: std::collections::HashSet<usize> =
        (0..limit).map(|i| (i as f64 * step) as usize).collect();
    samples
        .into_iter()
        .enumerate()
        .filter(|(i, _)| wanted.contains(i))
        .map(|(_, s)| s)
        .collect()
}

fn run_parallel(
    session: &Arc<dyn Session>,
    samples: &[dataset::Sample],
    options: &FeaturizeOptions,
    flip: bool,
    workers: usize,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let chunk = samples.len().div_ceil(workers).max(1);
    let done = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<anyhow::Result<Vec<Vec<f32>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = samples
            .chunks(chunk)
            .map(|part| {
                let done = &done;
                scope.spawn(move || -> anyhow::Result<Vec<Vec<f32>>> {
                    let mut rows = Vec::with_capacity(part.len());
                    for batch in part.chunks(options.batch.max(1)) {
                        rows.extend(features_of(session, batch, options.size, flip)?);
                        let total = done
                            .fetch_add(batch.len(), std::sync::atomic::Ordering::Relaxed)
                            + batch.len();
                        if total % 2000 < batch.len() {
                            tracing::info!(total, of = samples.len(), flip, "featurized");
                        }
                    }
                    Ok(rows)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("featurize worker panicked"))
            .collect()
    });
    let mut rows = Vec::with_capacity(samples.len());
    for part in results {
        rows.extend(part?);
    }
    Ok(rows)
}

fn features_of(
    session: &Arc<dyn Session>,
    batch: &[dataset::Sample],
    size: u32,
    flip: bool,
) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut pixels = Vec::with_capacity(batch.len() * (size * size * 3) as usize);
    for sample in batch {
        let image = image::load_from_memory(&sample.bytes)
            .map_err(|e| anyhow::anyhow!("{}: {e}", sample.name))?;
        pixels.extend(preprocess::to_pixels(&image, size, flip));
    }
    let s = size as usize;
    let output = session.run(Tensor::new(vec![batch.len(), s, s, 3], pixels)?)?;
    Ok((0..batch.len()).map(|i| output.row(i).to_vec()).collect())
}

/// Default location of the CIFAR-10 archives beside the project.
pub fn default_archive(split: Split) -> PathBuf {
    let name = match split {
        Split::Train => "train.tar.gz",
        Split::Test => "test.tar.gz",
    };
    Path::new("../shared/data/cifar10").join(name)
}
