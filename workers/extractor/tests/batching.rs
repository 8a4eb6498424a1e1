//! Micro-batching: images submitted together go through the backbone in shared passes of at most
//! `max_batch`, and each caller gets its own image's row back, never a neighbour's.

use std::sync::Arc;
use std::time::Duration;

use vision_core::metrics::metrics;
use vision_extractor::{BatchSettings, Batcher};
use vision_inference::{ModelBundle, Parallelism, RuntimeKind};
use vision_testkit::bundle as testkit;

const SIZE: usize = 32;

/// One solid colour: the test extractor's descriptors are the mean colour in 0..1.
fn solid(r: f32, g: f32, b: f32) -> Vec<f32> {
    [r, g, b].repeat(SIZE * SIZE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_waiting_together_share_passes_and_keep_their_own_rows() {
    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), SIZE as u32).unwrap();
    let bundle =
        ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    // One worker that waits long enough for all eight to arrive: two full passes of four.
    let batcher = Batcher::start(
        bundle.extractor.clone(),
        BatchSettings {
            max_batch: 4,
            max_wait: Duration::from_millis(500),
            workers: 1,
        },
    );
    let (passes, images) = (
        metrics().extractor_batch_size.get_sample_count(),
        metrics().extractor_batch_size.get_sample_sum(),
    );

    let colours: Vec<[f32; 3]> = (0..8)
        .map(|i| [i as f32 * 30.0, 255.0 - i as f32 * 30.0, 100.0])
        .collect();
    let batcher = Arc::new(batcher);
    let answers = futures::future::join_all(colours.iter().map(|&[r, g, b]| {
        let batcher = batcher.clone();
        async move { batcher.extract(move || Ok(solid(r, g, b))).await }
    }))
    .await;

    for (answer, colour) in answers.into_iter().zip(&colours) {
        let (descriptors, _) = answer.expect("extracted");
        let expected: Vec<f32> = colour.iter().map(|c| c / 255.0).collect();
        for (got, want) in descriptors.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-5, "{descriptors:?} != {expected:?}");
        }
    }
    assert_eq!(
        metrics().extractor_batch_size.get_sample_count() - passes,
        2,
        "eight images, batches of four"
    );
    assert_eq!(
        metrics().extractor_batch_size.get_sample_sum() - images,
        8.0
    );

    // A tensor of the wrong size is refused before it can spoil a batch; so is an image that
    // cannot be prepared, or whose preparation panics, and the worker goes on.
    let refused = batcher.extract(|| Ok(vec![0.0; 7])).await.unwrap_err();
    assert!(refused.contains("pixel values"), "{refused}");
    let refused = batcher.extract(|| Err("corrupt".into())).await.unwrap_err();
    assert_eq!(refused, "corrupt");
    let refused = batcher.extract(|| panic!("decoder bug")).await.unwrap_err();
    assert!(refused.contains("panicked"), "{refused}");
    let (descriptors, _) = batcher
        .extract(|| Ok(solid(255.0, 0.0, 0.0)))
        .await
        .unwrap();
    assert!((descriptors[0] - 1.0).abs() < 1e-5, "{descriptors:?}");
}
