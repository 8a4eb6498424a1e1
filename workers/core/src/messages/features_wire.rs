//! The feature message's binary wire format. It crosses the bus once per image to every head and
//! to the recorder, and as JSON it was 436 bytes, ~220 of them the 20 descriptors written as
//! decimal text; here they are 80 bytes of `f32`, and the whole message is 114 bytes plus its
//! two strings: 145-156 bytes for a CIFAR image, against the seed's ~160. Times are kept to the
//! microsecond, as PostgreSQL keeps them; `extract_ms` as an `f32`.
//!
//! Layout, integers little-endian:
//!
//! | bytes  | field                                                            |
//! |--------|------------------------------------------------------------------|
//! | 1      | `0xB1`, the format (a JSON message starts with `{`)              |
//! | 2      | schema version (`u16`)                                           |
//! | 16     | image id                                                         |
//! | 8      | `submitted_at`: microseconds since the Unix epoch (`i64`)        |
//! | 4      | `extract_ms` (`f32`)                                             |
//! | 1      | flags: bit 0 set when a label follows, bit 1 when a content key does, bit 2 when other extractors' descriptors do |
//! | 8      | `content_key` (`u64`), when flagged                              |
//! | varint + n | `extractor_version`, UTF-8                                   |
//! | varint + n | `label`, UTF-8, when flagged                                 |
//! | varint + 4n | the descriptors (`f32`)                                     |
//! | varint | when flagged: how many other extractors' descriptors follow, each a     |
//! |        | `varint + n` extractor version and `varint + 4n` descriptors            |
//!
//! Lengths are LEB128 varints (one byte below 128). The content key (the image's SHA-256, first
//! 8 bytes: an A/B arm follows the bytes, not the upload) adds 8 bytes; readers that predate it
//! refuse the flag, so in a rolling upgrade the heads and the recorder go before the extractor; the
//! same holds for other extractors' descriptors (sent only while a head of another descriptor
//! size is served). A JSON feature message, as producers before
//! this format wrote, is still read, so a rolling upgrade loses nothing in flight.

use chrono::DateTime;
use uuid::Uuid;

use super::{DecodeError, FeaturesExtracted, VersionedDescriptors, Wire};

const FORMAT: u8 = 0xB1;
const HAS_LABEL: u8 = 1;
const HAS_CONTENT_KEY: u8 = 2;
const HAS_OTHERS: u8 = 4;

impl Wire for FeaturesExtracted {
    fn to_wire(&self) -> Vec<u8> {
        let strings = self.extractor_version.len() + self.label.as_ref().map_or(0, String::len);
        let mut out = Vec::with_capacity(56 + strings + 4 * self.descriptors.len());
        out.push(FORMAT);
        out.extend_from_slice(&self.v.to_le_bytes());
        out.extend_from_slice(self.image_id.as_bytes());
        out.extend_from_slice(&self.submitted_at.timestamp_micros().to_le_bytes());
        out.extend_from_slice(&(self.extract_ms as f32).to_le_bytes());
        let mut flags = 0;
        if self.label.is_some() {
            flags |= HAS_LABEL;
        }
        if self.content_key.is_some() {
            flags |= HAS_CONTENT_KEY;
        }
        if !self.other_descriptors.is_empty() {
            flags |= HAS_OTHERS;
        }
        out.push(flags);
        if let Some(key) = self.content_key {
            out.extend_from_slice(&key.to_le_bytes());
        }
        put_bytes(&mut out, self.extractor_version.as_bytes());
        if let Some(label) = &self.label {
            put_bytes(&mut out, label.as_bytes());
        }
        put_floats(&mut out, &self.descriptors);
        if !self.other_descriptors.is_empty() {
            put_varint(&mut out, self.other_descriptors.len() as u64);
            for other in &self.other_descriptors {
                put_bytes(&mut out, other.extractor_version.as_bytes());
                put_floats(&mut out, &other.descriptors);
            }
        }
        out
    }

    fn from_wire(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.first() == Some(&b'{') {
            return super::decode_json(bytes);
        }
        let mut r = Reader { rest: bytes };
        let format = r.take::<1>("format")?[0];
        if format != FORMAT {
            return Err(malformed(format!("unknown format byte 0x{format:02x}")));
        }
        let v = u16::from_le_bytes(r.take("version")?);
        if v != super::SCHEMA_VERSION {
            return Err(DecodeError::Version { found: v });
        }
        let image_id = Uuid::from_bytes(r.take("image id")?);
        let micros = i64::from_le_bytes(r.take("submitted_at")?);
        let submitted_at = DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| malformed(format!("submitted_at out of range: {micros} us")))?;
        let extract_ms = f64::from(f32::from_le_bytes(r.take("extract_ms")?));
        let flags = r.take::<1>("flags")?[0];
        if flags & !(HAS_LABEL | HAS_CONTENT_KEY | HAS_OTHERS) != 0 {
            return Err(malformed(format!("unknown flags 0x{flags:02x}")));
        }
        let content_key = if flags & HAS_CONTENT_KEY != 0 {
            Some(u64::from_le_bytes(r.take("content_key")?))
        } else {
            None
        };
        let extractor_version = r.string("extractor_version")?;
        let label = if flags & HAS_LABEL != 0 {
            Some(r.string("label")?)
        } else {
            None
        };
        let descriptors = r.floats("descriptors")?;
        let mut other_descriptors = Vec::new();
        if flags & HAS_OTHERS != 0 {
            let count = r.varint("other descriptors")?;
            // Each takes at least two bytes: a count past that is refused before allocating.
            if count > r.rest.len() as u64 / 2 {
                return Err(malformed(format!("{count} other descriptors cannot fit")));
            }
            for _ in 0..count {
                other_descriptors.push(VersionedDescriptors {
                    extractor_version: r.string("other extractor version")?,
                    descriptors: r.floats("other descriptors")?,
                });
            }
        }
        if !r.rest.is_empty() {
            return Err(malformed(format!("{} bytes after the end", r.rest.len())));
        }
        Ok(Self {
            v,
            image_id,
            descriptors,
            extractor_version,
            extract_ms,
            label,
            submitted_at,
            content_key,
            other_descriptors,
        })
    }
}

fn put_floats(out: &mut Vec<u8>, values: &[f32]) {
    put_varint(out, values.len() as u64);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn malformed(reason: String) -> DecodeError {
    DecodeError::MalformedBinary(reason)
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Reads fields off the front of a message; every read names its field when bytes run out.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn slice(&mut self, n: u64, field: &str) -> Result<&'a [u8], DecodeError> {
        if n > self.rest.len() as u64 {
            return Err(malformed(format!(
                "truncated in {field}: {n} bytes wanted, {} left",
                self.rest.len()
            )));
        }
        let (taken, rest) = self.rest.split_at(n as usize);
        self.rest = rest;
        Ok(taken)
    }

    fn take<const N: usize>(&mut self, field: &str) -> Result<[u8; N], DecodeError> {
        Ok(self.slice(N as u64, field)?.try_into().expect("N bytes"))
    }

    fn varint(&mut self, field: &str) -> Result<u64, DecodeError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take::<1>(field)?[0];
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(malformed(format!("{field}: length longer than 64 bits")))
    }

    fn floats(&mut self, field: &str) -> Result<Vec<f32>, DecodeError> {
        let count = self.varint(field)?;
        let bytes = self.slice(count.saturating_mul(4), field)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("chunks of 4")))
            .collect())
    }

    fn string(&mut self, field: &str) -> Result<String, DecodeError> {
        let n = self.varint(field)?;
        let bytes = self.slice(n, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| malformed(format!("{field} is not UTF-8")))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DurationRound, TimeDelta, Utc};

    use super::*;
    use crate::messages::{SCHEMA_VERSION, decode, encode};

    fn features(label: Option<&str>) -> FeaturesExtracted {
        FeaturesExtracted {
            v: SCHEMA_VERSION,
            image_id: Uuid::new_v4(),
            descriptors: (0..20).map(|i| (i as f32 - 9.5) * 0.731).collect(),
            extractor_version: "efficientnet-lite0-160-pca20@2".into(),
            // Values the format keeps exactly: an f32, whole microseconds.
            extract_ms: 5.125,
            label: label.map(str::to_string),
            submitted_at: Utc::now()
                .duration_trunc(TimeDelta::microseconds(1))
                .unwrap(),
            content_key: None,
            other_descriptors: Vec::new(),
        }
    }

    #[test]
    fn round_trips_exactly_and_is_small() {
        for m in [features(Some("automobile")), features(None)] {
            let bytes = encode(&m);
            assert_eq!(decode::<FeaturesExtracted>(&bytes).unwrap(), m);
            let strings = m.extractor_version.len() + m.label.as_ref().map_or(0, String::len);
            assert_eq!(bytes.len(), 114 + strings + usize::from(m.label.is_some()));
            // The content key costs 8 bytes.
            let keyed = FeaturesExtracted {
                content_key: Some(0xdead_beef_0123_4567),
                ..m.clone()
            };
            let keyed_bytes = encode(&keyed);
            assert_eq!(keyed_bytes.len(), bytes.len() + 8);
            assert_eq!(decode::<FeaturesExtracted>(&keyed_bytes).unwrap(), keyed);
        }
        // Nanoseconds and f64 digits beyond what is kept are dropped, nothing else.
        let mut fine = features(None);
        fine.submitted_at += TimeDelta::nanoseconds(999);
        fine.extract_ms = 5.123456789;
        let read = decode::<FeaturesExtracted>(&encode(&fine)).unwrap();
        assert_eq!(
            read.submitted_at,
            fine.submitted_at - TimeDelta::nanoseconds(999)
        );
        assert!((read.extract_ms - fine.extract_ms).abs() < 1e-6);
        // A long string takes a two-byte length.
        let mut long = features(Some(&"x".repeat(300)));
        long.descriptors.clear();
        assert_eq!(decode::<FeaturesExtracted>(&encode(&long)).unwrap(), long);
    }

    #[test]
    fn other_extractors_descriptors_round_trip() {
        let mut m = features(Some("cat"));
        let plain = encode(&m).len();
        m.other_descriptors = vec![
            VersionedDescriptors {
                extractor_version: "pca50".into(),
                descriptors: (0..50).map(|i| i as f32 * 0.5).collect(),
            },
            VersionedDescriptors {
                extractor_version: "pca10".into(),
                descriptors: vec![1.5; 10],
            },
        ];
        let bytes = encode(&m);
        // A count, then each: its version and its floats.
        assert_eq!(
            bytes.len(),
            plain + 1 + (1 + 5 + 1 + 200) + (1 + 5 + 1 + 40)
        );
        let read = decode::<FeaturesExtracted>(&bytes).unwrap();
        assert_eq!(read, m);
        assert_eq!(read.descriptors_for(Some("pca10")), Some(&[1.5; 10][..]));
        assert_eq!(
            read.descriptors_for(Some("pca50")).map(<[f32]>::len),
            Some(50)
        );
        assert_eq!(
            read.descriptors_for(Some(&m.extractor_version)),
            Some(m.descriptors.as_slice())
        );
        assert_eq!(read.descriptors_for(None), Some(m.descriptors.as_slice()));
        assert_eq!(read.descriptors_for(Some("pca64")), None);
        for cut in 0..bytes.len() {
            assert!(
                decode::<FeaturesExtracted>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        // JSON as well.
        assert_eq!(
            decode::<FeaturesExtracted>(&serde_json::to_vec(&m).unwrap()).unwrap(),
            m
        );
    }

    #[test]
    fn json_from_older_producers_still_reads() {
        let m = features(Some("cat"));
        let json = serde_json::to_vec(&m).unwrap();
        assert_eq!(decode::<FeaturesExtracted>(&json).unwrap(), m);
    }

    #[test]
    fn damaged_messages_are_refused_with_the_reason() {
        let bytes = encode(&features(Some("dog")));
        // Every truncation is an error, never a panic or a shorter vector.
        for cut in 0..bytes.len() {
            assert!(
                decode::<FeaturesExtracted>(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let err = decode::<FeaturesExtracted>(&longer).unwrap_err();
        assert!(err.to_string().contains("1 bytes after the end"), "{err}");

        let mut newer = bytes.clone();
        newer[1] = 9;
        assert!(matches!(
            decode::<FeaturesExtracted>(&newer),
            Err(DecodeError::Version { found: 9 })
        ));
        let err = decode::<FeaturesExtracted>(b"\x00garbage").unwrap_err();
        assert!(
            err.to_string().contains("unknown format byte 0x00"),
            "{err}"
        );

        // A descriptor count far past the end is refused before anything is allocated.
        let mut huge = encode(&FeaturesExtracted {
            descriptors: vec![],
            ..features(None)
        });
        huge.pop();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        let err = decode::<FeaturesExtracted>(&huge).unwrap_err();
        assert!(
            err.to_string().contains("truncated in descriptors"),
            "{err}"
        );
    }
}
