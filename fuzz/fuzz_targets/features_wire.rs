//! The feature message's decoder (what a classifier reads from Kafka): any bytes decode to a
//! message or a typed error; a decoded message survives its own round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vision_core::messages::{self, FeaturesExtracted};

fuzz_target!(|bytes: &[u8]| {
    if let Ok(message) = messages::decode::<FeaturesExtracted>(bytes) {
        let again: FeaturesExtracted = messages::decode(&messages::encode(&message))
            .expect("a decoded message decodes again after encoding");
        assert_eq!(again.image_id, message.image_id);
        assert_eq!(again.descriptors.len(), message.descriptors.len());
    }
});
