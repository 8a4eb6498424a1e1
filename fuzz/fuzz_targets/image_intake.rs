//! Image intake (every upload): any bytes are accepted or refused with a typed rejection, and
//! nothing past the pixel limit is decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vision_inference::image_input::{ImageLimits, check_image};

fuzz_target!(|bytes: &[u8]| {
    let limits = ImageLimits {
        max_bytes: 256 * 1024,
        max_pixels: 256 * 256,
    };
    if let Ok(image) = check_image(bytes, &limits) {
        assert!(u64::from(image.width) * u64::from(image.height) <= limits.max_pixels);
    }
});
