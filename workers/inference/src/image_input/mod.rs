//! Checks on uploaded bytes before anything is stored: type by magic bytes (never by file name),
//! size limit, pixel-count limit against decompression bombs, and a full decode so that empty,
//! truncated and corrupt files are refused at the door with a stable error code.

mod jpeg;

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader};

/// Limits applied to every upload.
#[derive(Debug, Clone, Copy)]
pub struct ImageLimits {
    pub max_bytes: usize,
    pub max_pixels: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_pixels: 40_000_000,
        }
    }
}

/// The image types the platform accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    pub fn extension(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "jpg",
            ImageKind::Png => "png",
            ImageKind::Webp => "webp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Png => "image/png",
            ImageKind::Webp => "image/webp",
        }
    }

    fn format(self) -> ImageFormat {
        match self {
            ImageKind::Jpeg => ImageFormat::Jpeg,
            ImageKind::Png => ImageFormat::Png,
            ImageKind::Webp => ImageFormat::WebP,
        }
    }

    /// The type of `bytes` from their signature.
    pub fn sniff(bytes: &[u8]) -> Option<ImageKind> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageKind::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageKind::Webp)
        } else {
            None
        }
    }
}

/// Why an upload was refused. `code()` is stable: clients match on it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageRejection {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("unsupported image type: only JPEG, PNG and WebP are accepted")]
    UnsupportedType,
    #[error("the image is {width}x{height} pixels, over the limit of {limit} pixels")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
}

impl ImageRejection {
    pub fn code(&self) -> &'static str {
        match self {
            ImageRejection::Empty => "EMPTY_FILE",
            ImageRejection::TooLarge { .. } => "FILE_TOO_LARGE",
            ImageRejection::UnsupportedType => "UNSUPPORTED_MEDIA_TYPE",
            ImageRejection::TooManyPixels { .. } => "IMAGE_TOO_LARGE",
            ImageRejection::Corrupt(_) => "CORRUPT_IMAGE",
        }
    }
}

/// An upload that passed every check, decoded.
#[derive(Debug, Clone)]
pub struct CheckedImage {
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
    pub image: DynamicImage,
}

/// Checks `bytes` against `limits` and decodes them.
pub fn check_image(bytes: &[u8], limits: &ImageLimits) -> Result<CheckedImage, ImageRejection> {
    if bytes.is_empty() {
        return Err(ImageRejection::Empty);
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImageRejection::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let kind = ImageKind::sniff(bytes).ok_or(ImageRejection::UnsupportedType)?;
    // JPEG decoders paint a cut-short file grey instead of failing: check its end first.
    if kind == ImageKind::Jpeg && !jpeg::is_complete(bytes) {
        return Err(ImageRejection::Corrupt(
            "the JPEG data ends early (truncated file)".into(),
        ));
    }
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), kind.format())
        .into_dimensions()
        .map_err(|e| ImageRejection::Corrupt(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(ImageRejection::Corrupt("zero-sized image".into()));
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(ImageRejection::TooManyPixels {
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    let image = decode(bytes, kind, limits).map_err(|e| ImageRejection::Corrupt(e.to_string()))?;
    Ok(CheckedImage {
        kind,
        width,
        height,
        image,
    })
}

/// Decodes bytes of a known type under the pixel limit (the decoder enforces it too, so a header
/// that lies about its size cannot make it allocate more).
pub fn decode(
    bytes: &[u8],
    kind: ImageKind,
    limits: &ImageLimits,
) -> Result<DynamicImage, image::ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.format());
    let mut decoder_limits = image::Limits::default();
    // RGBA at 4 bytes per pixel plus decoder slack.
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8));
    reader.limits(decoder_limits);
    reader.decode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgb};

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let img = ImageBuffer::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 7u8]));
        let mut out = Cursor::new(Vec::new());
        DynamicImage::ImageRgb8(img)
            .write_to(&mut out, format)
            .unwrap();
        out.into_inner()
    }

    #[test]
    fn accepts_the_three_types() {
        let limits = ImageLimits::default();
        for (format, kind) in [
            (ImageFormat::Jpeg, ImageKind::Jpeg),
            (ImageFormat::Png, ImageKind::Png),
            (ImageFormat::WebP, ImageKind::Webp),
        ] {
            let checked = check_image(&encoded(40, 30, format), &limits).unwrap();
            assert_eq!(
                (checked.kind, checked.width, checked.height),
                (kind, 40, 30)
            );
        }
    }

    #[test]
    fn refusals_have_stable_codes() {
        let limits = ImageLimits {
            max_bytes: 10_000,
            max_pixels: 100 * 100,
        };
        let code = |bytes: &[u8]| check_image(bytes, &limits).unwrap_err().code();
        assert_eq!(code(b""), "EMPTY_FILE");
        assert_eq!(code(&vec![0u8; 10_001]), "FILE_TOO_LARGE");
        assert_eq!(code(b"GIF89a......"), "UNSUPPORTED_MEDIA_TYPE");
        assert_eq!(
            code(&encoded(101, 100, ImageFormat::Png)),
            "IMAGE_TOO_LARGE"
        );
        let png = encoded(50, 50, ImageFormat::Png);
        assert_eq!(code(&png[..png.len() / 2]), "CORRUPT_IMAGE");
        let mut garbage = b"\x89PNG\r\n\x1a\n".to_vec();
        garbage.extend_from_slice(&[0x42; 64]);
        assert_eq!(code(&garbage), "CORRUPT_IMAGE");
    }
}
