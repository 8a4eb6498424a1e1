//! Image -> model input. The heads were trained on CIFAR-10 (32x32 photos), so every image is
//! first brought to that scale, then upsampled to the backbone's input size. Serving and the
//! training-feature tool both call [`to_pixels`]: there is one preprocessing, not two.

use image::{DynamicImage, RgbImage};

use crate::resize::resize_rgb8;

/// Side of the images the heads were trained on.
pub const SOURCE_SIZE: u32 = 32;

/// RGB pixels as `f32` in 0..=255, `size` x `size` x 3 (NHWC without the batch axis).
pub fn to_pixels(image: &DynamicImage, size: u32, flip: bool) -> Vec<f32> {
    let rgb = image.to_rgb8();
    let square = (SOURCE_SIZE, SOURCE_SIZE);
    // Triangle scales its support when shrinking, which averages like an area filter.
    let small = if rgb.dimensions() == square {
        rgb.into_raw()
    } else {
        resize_rgb8(rgb.as_raw(), rgb.dimensions(), square)
    };
    let small = if flip {
        let image = RgbImage::from_raw(SOURCE_SIZE, SOURCE_SIZE, small).expect("32x32 RGB");
        image::imageops::flip_horizontal(&image).into_raw()
    } else {
        small
    };
    let input = resize_rgb8(&small, square, (size, size));
    input.into_iter().map(f32::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    #[test]
    fn shape_and_range() {
        let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(300, 200, |x, _| {
            Rgb([if x < 150 { 0 } else { 255 }, 10, 20])
        }));
        let px = to_pixels(&img, 64, false);
        assert_eq!(px.len(), 64 * 64 * 3);
        assert!(px.iter().all(|v| (0.0..=255.0).contains(v)));
        // Left edge dark, right edge bright; flipped the other way round.
        assert!(px[0] < 10.0 && px[63 * 3] > 245.0);
        let flipped = to_pixels(&img, 64, true);
        assert!(flipped[0] > 245.0 && flipped[63 * 3] < 10.0);
    }
}
