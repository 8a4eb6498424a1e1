//! Triangle-filter (bilinear) resizing of RGB8 images, bit for bit what
//! `image::imageops::resize(.., FilterType::Triangle)` computes, without its per-pixel generic
//! accessors: the extractor upsamples every image 32 -> 160 px, and the generic version cost ~5% of
//! the embedded platform's CPU. The models were trained on features made with the image crate's
//! output, so this one must not differ by a single level: the tests compare them exactly.
//!
//! Same algorithm and the same floating-point operations in the same order: a vertical pass
//! into `f32` (every tap's weight normalised by the taps' sum, accumulated from 0 in source
//! order), then a horizontal pass, clamped to 0..=255 and rounded half away from zero.

/// The taps of one output coordinate: the first source index and the normalised weights.
struct Taps {
    first: usize,
    weights: Vec<f32>,
}

fn triangle(x: f32) -> f32 {
    if x.abs() < 1.0 { 1.0 - x.abs() } else { 0.0 }
}

/// Taps of every output coordinate when `source` samples become `target` (the image crate's
/// `vertical_sample` / `horizontal_sample` weights, support 1 scaled when shrinking).
fn taps(source: u32, target: u32) -> Vec<Taps> {
    let ratio = source as f32 / target as f32;
    let sratio = if ratio < 1.0 { 1.0 } else { ratio };
    let support = sratio;
    (0..target)
        .map(|out| {
            let centre = (out as f32 + 0.5) * ratio;
            let left = ((centre - support).floor() as i64).clamp(0, i64::from(source) - 1);
            let right = ((centre + support).ceil() as i64).clamp(left + 1, i64::from(source));
            let centre = centre - 0.5;
            let mut weights: Vec<f32> = (left..right)
                .map(|i| triangle((i as f32 - centre) / sratio))
                .collect();
            let mut sum = 0.0;
            for w in &weights {
                sum += w;
            }
            for w in &mut weights {
                *w /= sum;
            }
            Taps {
                first: left as usize,
                weights,
            }
        })
        .collect()
}

/// Resizes `pixels` (RGB8, `width` x `height`, rows top to bottom) to `new_width` x `new_height`.
pub fn resize_rgb8(
    pixels: &[u8],
    (width, height): (u32, u32),
    (new_width, new_height): (u32, u32),
) -> Vec<u8> {
    let (w, h) = (width as usize, height as usize);
    assert_eq!(pixels.len(), w * h * 3, "RGB8 pixels of {width}x{height}");
    if w == 0 || h == 0 {
        return vec![0; new_width as usize * new_height as usize * 3];
    }
    if (width, height) == (new_width, new_height) {
        return pixels.to_vec();
    }
    let row = w * 3;

    // Vertical pass: `new_height` rows of `width` pixels, in f32. Each value sums its taps in
    // source order starting from 0, like the image crate's accumulator.
    let mut columns = vec![0f32; new_height as usize * row];
    for (out_row, taps) in columns.chunks_exact_mut(row).zip(taps(height, new_height)) {
        for (i, weight) in taps.weights.iter().enumerate() {
            let source = &pixels[(taps.first + i) * row..][..row];
            for (acc, &p) in out_row.iter_mut().zip(source) {
                *acc += f32::from(p) * weight;
            }
        }
    }

    // Horizontal pass, then back to u8. Every output pixel gets the same number of taps (see
    // `Padded`), so the inner loop has a fixed shape.
    let new_row = new_width as usize * 3;
    let horizontal = Padded::new(taps(width, new_width));
    let mut out = vec![0u8; new_height as usize * new_row];
    for (out_row, in_row) in out.chunks_exact_mut(new_row).zip(columns.chunks_exact(row)) {
        for ((pixel, offsets), weights) in out_row
            .chunks_exact_mut(3)
            .zip(horizontal.offsets.chunks_exact(horizontal.per))
            .zip(horizontal.weights.chunks_exact(horizontal.per))
        {
            let (mut r, mut g, mut b) = (0f32, 0f32, 0f32);
            for (&offset, &weight) in offsets.iter().zip(weights) {
                let source = &in_row[offset..offset + 3];
                r += source[0] * weight;
                g += source[1] * weight;
                b += source[2] * weight;
            }
            pixel.copy_from_slice(&[round_u8(r), round_u8(g), round_u8(b)]);
        }
    }
    out
}

/// Taps padded to the same count per output pixel, as offsets into an RGB row. A padding tap
/// has weight 0 and repeats the last real offset: it adds `p * 0.0 = +0.0` to a sum of
/// non-negative terms, which leaves it unchanged bit for bit.
struct Padded {
    per: usize,
    offsets: Vec<usize>,
    weights: Vec<f32>,
}

impl Padded {
    fn new(taps: Vec<Taps>) -> Self {
        let per = taps.iter().map(|t| t.weights.len()).max().unwrap_or(1);
        let (mut offsets, mut weights) = (Vec::new(), Vec::new());
        for t in taps {
            let last = t.first + t.weights.len() - 1;
            for i in 0..per {
                offsets.push((t.first + i).min(last) * 3);
                weights.push(t.weights.get(i).copied().unwrap_or(0.0));
            }
        }
        Self {
            per,
            offsets,
            weights,
        }
    }
}

/// `t.clamp(0.0, 255.0).round() as u8` (halves away from zero) without a call to libm's
/// `roundf`: for `0 <= t <= 255`, `t - trunc(t)` is exact.
fn round_u8(t: f32) -> u8 {
    let t = t.clamp(0.0, 255.0);
    let whole = t as u8;
    whole + u8::from(t - f32::from(whole) >= 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{RgbImage, imageops::FilterType};

    /// Deterministic noise with some smooth areas (xorshift), so both busy and flat regions
    /// are compared.
    fn picture(width: u32, height: u32, seed: u64) -> RgbImage {
        let mut state = seed | 1;
        RgbImage::from_fn(width, height, |x, y| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = state as u8;
            let smooth = ((x * 7 + y * 3) % 256) as u8;
            if (x / 4 + y / 4) % 2 == 0 {
                image::Rgb([noise, smooth, noise.wrapping_add(smooth)])
            } else {
                image::Rgb([smooth, 255 - smooth, noise / 2])
            }
        })
    }

    fn same_as_image_crate(from: (u32, u32), to: (u32, u32), seed: u64) {
        let source = picture(from.0, from.1, seed);
        let expected = image::imageops::resize(&source, to.0, to.1, FilterType::Triangle);
        let ours = resize_rgb8(source.as_raw(), from, to);
        assert_eq!(ours.len(), expected.as_raw().len(), "{from:?} -> {to:?}");
        let differing = ours
            .iter()
            .zip(expected.as_raw())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(
            differing, 0,
            "{from:?} -> {to:?}: {differing} values differ"
        );
    }

    #[test]
    fn the_serving_upsample_is_identical_to_the_image_crate() {
        for seed in 1..=20 {
            same_as_image_crate((32, 32), (160, 160), seed);
        }
        same_as_image_crate((32, 32), (224, 224), 7);
        same_as_image_crate((32, 32), (128, 128), 8);
    }

    #[test]
    fn downsampling_and_odd_shapes_are_identical_to_the_image_crate() {
        let cases = [
            ((300, 200), (32, 32)),
            ((640, 480), (32, 32)),
            ((33, 31), (32, 32)),
            ((1, 1), (32, 32)),
            ((1, 57), (32, 32)),
            ((57, 1), (32, 32)),
            ((32, 32), (1, 1)),
            ((97, 13), (160, 160)),
            ((32, 32), (45, 7)),
        ];
        for (seed, (from, to)) in cases.into_iter().enumerate() {
            same_as_image_crate(from, to, seed as u64 + 100);
        }
    }

    #[test]
    fn rounding_matches_the_library_s_around_every_1024th_from_minus_1_to_256() {
        // Every multiple of 1/1024 (the halves among them) and its two neighbouring floats.
        for k in -1024..=256 * 1024 {
            let x = k as f32 / 1024.0;
            for t in [x.next_down(), x, x.next_up()] {
                assert_eq!(round_u8(t), t.clamp(0.0, 255.0).round() as u8, "{t}");
            }
        }
        assert_eq!(round_u8(f32::NAN), 0);
    }

    #[test]
    fn unchanged_size_is_a_copy() {
        let source = picture(32, 32, 3);
        assert_eq!(
            resize_rgb8(source.as_raw(), (32, 32), (32, 32)),
            source.into_raw()
        );
    }
}
