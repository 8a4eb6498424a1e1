//! JPEG decoders are lenient: a file cut short decodes "successfully" with the missing part
//! painted grey. So a JPEG must also reach its end-of-image marker, found by walking the
//! segments (an EXIF thumbnail's own marker, inside an APP segment, does not count).

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// Whether the JPEG in `bytes` is complete (reaches EOI after its scans).
pub fn is_complete(bytes: &[u8]) -> bool {
    if bytes.len() < 4 || bytes[0] != 0xFF || bytes[1] != SOI {
        return false;
    }
    let mut i = 2;
    loop {
        // Markers may be padded with any number of 0xFF bytes.
        while bytes.get(i) == Some(&0xFF) && bytes.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        let (Some(0xFF), Some(&marker)) = (bytes.get(i), bytes.get(i + 1)) else {
            return false;
        };
        i += 2;
        match marker {
            EOI => return true,
            // Standalone markers: no length.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return false;
        };
        if length < 2 {
            return false;
        }
        i += length;
        if i > bytes.len() {
            return false;
        }
        if marker == SOS {
            // Entropy-coded data: 0xFF is followed by 0x00 (stuffing) or a restart marker
            // inside it; any other marker ends the scan.
            loop {
                match (bytes.get(i), bytes.get(i + 1)) {
                    (Some(0xFF), Some(0x00 | 0xD0..=0xD7)) => i += 2,
                    (Some(0xFF), Some(_)) => break,
                    (Some(_), _) => i += 1,
                    (None, _) => return false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(progressive_like_trailer: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0xFF, SOI];
        // APP1 holding a "thumbnail" with its own EOI.
        bytes.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x06, 0xFF, EOI, 0x00, 0x00]);
        // SOS header (length 3), then entropy-coded data with stuffing and a restart marker.
        bytes.extend_from_slice(&[0xFF, SOS, 0x00, 0x03, 0x01]);
        bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        bytes.extend_from_slice(progressive_like_trailer);
        bytes
    }

    #[test]
    fn complete_only_with_the_final_marker() {
        assert!(is_complete(&jpeg(&[0xFF, EOI])));
        // Data after EOI (some cameras append some) is fine.
        assert!(is_complete(&jpeg(&[0xFF, EOI, 1, 2, 3])));
        // Cut in the scan: the thumbnail's EOI inside APP1 does not count.
        assert!(!is_complete(&jpeg(&[])));
        assert!(!is_complete(&jpeg(&[0xFF])));
        // A second scan, as progressive JPEGs have, then the end.
        let mut two_scans = jpeg(&[0xFF, SOS, 0x00, 0x03, 0x01, 0x77]);
        assert!(!is_complete(&two_scans));
        two_scans.extend_from_slice(&[0xFF, EOI]);
        assert!(is_complete(&two_scans));
        assert!(!is_complete(b"\xFF\xD8"));
        assert!(!is_complete(b"not a jpeg"));
    }

    #[test]
    fn real_encoder_output_is_complete_and_a_cut_is_not() {
        let img =
            image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([x as u8 * 4, y as u8 * 4, 9]));
        let mut out = std::io::Cursor::new(Vec::new());
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut out, image::ImageFormat::Jpeg)
            .unwrap();
        let bytes = out.into_inner();
        assert!(is_complete(&bytes));
        for cut in [bytes.len() - 1, bytes.len() - 2, bytes.len() / 2, 200] {
            assert!(!is_complete(&bytes[..cut]), "cut at {cut}");
        }
    }
}
