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
    let batcher = Batcher::start_with(
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
        async move { batcher.extract(move |_| Ok(solid(r, g, b))).await }
    }))
    .await;

    for (answer, colour) in answers.into_iter().zip(&colours) {
        let descriptors = answer.expect("extracted").descriptors;
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
    let refused = batcher.extract(|_| Ok(vec![0.0; 7])).await.unwrap_err();
    assert!(refused.contains("pixel values"), "{refused}");
    let refused = batcher
        .extract(|_| Err("corrupt".into()))
        .await
        .unwrap_err();
    assert_eq!(refused, "corrupt");
    let refused = batcher
        .extract(|_| panic!("decoder bug"))
        .await
        .unwrap_err();
    assert!(refused.contains("panicked"), "{refused}");
    let descriptors = batcher
        .extract(|_| Ok(solid(255.0, 0.0, 0.0)))
        .await
        .unwrap()
        .descriptors;
    assert!((descriptors[0] - 1.0).abs() < 1e-5, "{descriptors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_served_extractor_runs_on_each_image_and_the_set_swaps_whole() {
    use arc_swap::ArcSwap;
    use vision_inference::{ExtractorModel, ServedExtractors, runtime};

    let dir = tempfile::tempdir().unwrap();
    testkit::write_bundle(dir.path(), SIZE as u32).unwrap();
    let bundle =
        ModelBundle::load(dir.path(), RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    let path = dir.path().join("wide.onnx");
    std::fs::write(&path, testkit::wide_extractor_onnx(SIZE as i64)).unwrap();
    let session = runtime::load(&path, RuntimeKind::Tract, Parallelism::threads(1)).unwrap();
    let wide = Arc::new(ExtractorModel::from_session(
        "wide-v1".into(),
        SIZE as u32,
        6,
        session,
    ));
    let served = Arc::new(ArcSwap::from_pointee(ServedExtractors {
        production: bundle.extractor.clone(),
        others: vec![wide],
    }));
    let batcher = Arc::new(Batcher::start(
        served.clone(),
        BatchSettings {
            max_batch: 4,
            max_wait: Duration::from_millis(200),
            workers: 1,
        },
    ));
    let colours: Vec<[f32; 3]> = (0..3)
        .map(|i| [i as f32 * 100.0, 50.0, 255.0 - i as f32 * 100.0])
        .collect();
    let answers = futures::future::join_all(colours.iter().map(|&[r, g, b]| {
        let batcher = batcher.clone();
        async move { batcher.extract(move |_| Ok(solid(r, g, b))).await }
    }))
    .await;
    let close = |got: &[f32], want: &[f32]| {
        got.len() == want.len() && got.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5)
    };
    for (answer, colour) in answers.into_iter().zip(&colours) {
        let extraction = answer.expect("extracted");
        let mean: Vec<f32> = colour.iter().map(|c| c / 255.0).collect();
        assert_eq!(extraction.extractor_version, bundle.extractor.version);
        assert!(close(&extraction.descriptors, &mean), "{extraction:?}");
        // The other version's rows are this image's too, at its own width.
        assert_eq!(extraction.others.len(), 1, "{extraction:?}");
        assert_eq!(extraction.others[0].extractor_version, "wide-v1");
        let wide: Vec<f32> = mean
            .iter()
            .chain(&mean.iter().map(|m| 1.0 - m).collect::<Vec<_>>())
            .copied()
            .collect();
        assert!(
            close(&extraction.others[0].descriptors, &wide),
            "{extraction:?}"
        );
    }

    // Production alone from now on: no other rows.
    served.store(Arc::new(ServedExtractors::production(
        bundle.extractor.clone(),
    )));
    let alone = batcher
        .extract(|_| Ok(solid(0.0, 255.0, 0.0)))
        .await
        .unwrap();
    assert!(alone.others.is_empty(), "{alone:?}");
    assert!(close(&alone.descriptors, &[0.0, 1.0, 0.0]), "{alone:?}");
}
