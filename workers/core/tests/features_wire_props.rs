//! Property-based tests of the feature message's decoder (issue "Security"): any bytes, any
//! cut or corruption of a real message, decode to a message or a typed error, never a panic;
//! every message survives its own round trip. 10,000 cases each.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use vision_core::messages::{self, FeaturesExtracted, SCHEMA_VERSION, VersionedDescriptors};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 10_000,
        ..ProptestConfig::default()
    }
}

prop_compose! {
    fn message()(
        id in any::<u128>(),
        descriptors in prop::collection::vec(-1e6f32..1e6, 0..64),
        version in "[a-z0-9.-]{0,40}",
        extract_ms in 0.0f64..1e4,
        label in prop::option::of("[a-z ]{0,30}"),
        micros in 0i64..4_000_000_000_000_000,
        content_key in prop::option::of(any::<u64>()),
        others in prop::collection::vec(
            ("[a-z0-9.-]{0,20}", prop::collection::vec(-1e6f32..1e6, 0..64)),
            0..3,
        ),
    ) -> FeaturesExtracted {
        FeaturesExtracted {
            v: SCHEMA_VERSION,
            image_id: uuid::Uuid::from_u128(id),
            descriptors,
            extractor_version: version,
            // The wire keeps it as an f32.
            extract_ms: f64::from(extract_ms as f32),
            label,
            submitted_at: Utc.timestamp_micros(micros).unwrap(),
            content_key,
            other_descriptors: others
                .into_iter()
                .map(|(extractor_version, descriptors)| VersionedDescriptors {
                    extractor_version,
                    descriptors,
                })
                .collect(),
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_bytes_decode_or_fail_cleanly(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = messages::decode::<FeaturesExtracted>(&bytes);
    }

    #[test]
    fn binary_looking_bytes_decode_or_fail_cleanly(
        tail in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        // Past the format byte and the version, into the fields.
        let mut bytes = vec![0xB1];
        bytes.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
        bytes.extend_from_slice(&tail);
        let _ = messages::decode::<FeaturesExtracted>(&bytes);
    }

    #[test]
    fn messages_round_trip(message in message()) {
        let bytes = messages::encode(&message);
        let decoded = messages::decode::<FeaturesExtracted>(&bytes).unwrap();
        prop_assert_eq!(decoded, message);
    }

    #[test]
    fn cut_or_corrupted_messages_fail_cleanly(
        message in message(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = messages::encode(&message);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let end = cut.index(bytes.len() + 1);
        let _ = messages::decode::<FeaturesExtracted>(&bytes[..end]);
    }
}
