//! Property-based tests of image intake (issue "Security"): any bytes, and any cut or
//! corruption of a real PNG, JPEG or WebP, are accepted or refused with a typed rejection,
//! never a panic, and never decoded past the pixel limit. 10,000 cases each.

use std::io::Cursor;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use proptest::prelude::*;
use vision_inference::image_input::{ImageLimits, check_image};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 10_000,
        ..ProptestConfig::default()
    }
}

fn limits() -> ImageLimits {
    ImageLimits {
        max_bytes: 64 * 1024,
        max_pixels: 64 * 64,
    }
}

fn encoded(format: ImageFormat) -> Vec<u8> {
    let image = ImageBuffer::from_fn(12, 9, |x, y| Rgb([x as u8 * 20, y as u8 * 25, 7u8]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(image)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_are_checked_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(image) = check_image(&bytes, &limits()) {
            prop_assert!(u64::from(image.width) * u64::from(image.height) <= limits().max_pixels);
        }
    }

    #[test]
    fn cut_or_corrupted_images_are_checked_without_panic(
        format in prop::sample::select(vec![ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP]),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    ) {
        let mut bytes = encoded(format);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let end = cut.index(bytes.len() + 1);
        if let Ok(image) = check_image(&bytes[..end], &limits()) {
            prop_assert!(u64::from(image.width) * u64::from(image.height) <= limits().max_pixels);
        }
    }
}

#[test]
fn the_originals_pass() {
    for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
        let image = check_image(&encoded(format), &limits()).unwrap();
        assert_eq!((image.width, image.height), (12, 9));
    }
}
