//! Test files: solid-colour images the test models classify predictably, and broken ones.

use std::io::Cursor;

use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};

pub const RED: [u8; 3] = [255, 0, 0];
pub const GREEN: [u8; 3] = [0, 255, 0];
pub const BLUE: [u8; 3] = [0, 0, 255];

pub fn solid(width: u32, height: u32, colour: [u8; 3], format: ImageFormat) -> Vec<u8> {
    let img = ImageBuffer::from_pixel(width, height, Rgb(colour));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .expect("encode");
    out.into_inner()
}

pub fn png(colour: [u8; 3]) -> Vec<u8> {
    solid(48, 40, colour, ImageFormat::Png)
}

pub fn jpeg(colour: [u8; 3]) -> Vec<u8> {
    solid(64, 48, colour, ImageFormat::Jpeg)
}

pub fn webp(colour: [u8; 3]) -> Vec<u8> {
    solid(40, 40, colour, ImageFormat::WebP)
}

/// A noisy JPEG cut in half: the entropy-coded data ends early.
pub fn truncated_jpeg() -> Vec<u8> {
    let img = ImageBuffer::from_fn(96, 96, |x, y| {
        Rgb([
            (x * 7 % 256) as u8,
            (y * 13 % 256) as u8,
            ((x * y) % 256) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Jpeg)
        .expect("encode");
    let bytes = out.into_inner();
    bytes[..bytes.len() / 2].to_vec()
}

/// A PNG signature followed by garbage.
pub fn corrupt_png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend((0..200u32).map(|i| (i * 31 % 251) as u8));
    bytes
}

/// A small GIF (a type the platform does not accept).
pub fn gif() -> Vec<u8> {
    let mut bytes = b"GIF89a\x01\x00\x01\x00\x80\x00\x00".to_vec();
    bytes.extend_from_slice(&[0, 0, 0, 255, 255, 255, b'!', 0xF9, 4, 1, 0, 0, 0, 0, b';']);
    bytes
}

/// A decompression bomb: a tiny valid PNG header declaring 50000 x 50000 pixels.
pub fn pixel_bomb_png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&50_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    chunk(&mut bytes, b"IHDR", &ihdr);
    // A few bytes of a zlib stream that would inflate to gigabytes.
    chunk(
        &mut bytes,
        b"IDAT",
        &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0x00, 0x00],
    );
    chunk(&mut bytes, b"IEND", &[]);
    bytes
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc_input = kind.to_vec();
    crc_input.extend_from_slice(data);
    out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
}

/// CRC-32 (IEEE), as PNG chunks carry.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (!(crc & 1)).wrapping_add(1);
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}
