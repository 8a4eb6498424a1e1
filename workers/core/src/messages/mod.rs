//! Messages carried by the bus, one struct per topic. They carry a schema version so that a
//! consumer can refuse, rather than misread, a message written by a newer producer. All are JSON
//! on the wire (Kafka or the in-process bus alike) except the feature message, one per image per
//! stage hop, which is a compact binary record (see `features_wire`): ~150 bytes, where JSON
//! took 436.

mod features_wire;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Version of every message schema below. Bump it on an incompatible change.
pub const SCHEMA_VERSION: u16 = 1;

/// `images-input-stream`: an accepted image, stored, waiting for its features.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageSubmitted {
    pub v: u16,
    pub image_id: Uuid,
    pub object_key: String,
    pub source: String,
    pub label: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// Hex SHA-256 of the file: the extractor reuses the descriptors of identical bytes.
    /// Optional, so messages written before it existed still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
}

/// `image-features-stream`: the descriptor vector of one image (computed once, shared by all heads).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeaturesExtracted {
    pub v: u16,
    pub image_id: Uuid,
    pub descriptors: Vec<f32>,
    pub extractor_version: String,
    pub extract_ms: f64,
    pub label: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// The image's content key ([`content_key`]): what an A/B test's arm is chosen by, so
    /// the same bytes uploaded twice get the same arm. `None` in messages written before it
    /// existed and for images without a hash; the arm then follows the image id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_key: Option<u64>,
    /// The image's descriptors from the other extractor versions a served head is bound to
    /// (a shadow or candidate head of another descriptor size); `descriptors` are those of
    /// `extractor_version`, the production extractor. Empty when every served head reads
    /// production's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_descriptors: Vec<VersionedDescriptors>,
}

/// Descriptors of one image by one extractor version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VersionedDescriptors {
    pub extractor_version: String,
    pub descriptors: Vec<f32>,
}

impl FeaturesExtracted {
    /// The descriptors a head bound to extractor `label` reads: production's when it is bound
    /// to that one (or to none), another version's when the message carries them; `None`
    /// when it does not.
    pub fn descriptors_for(&self, label: Option<&str>) -> Option<&[f32]> {
        match label {
            None => Some(&self.descriptors),
            Some(label) if label == self.extractor_version => Some(&self.descriptors),
            Some(label) => self
                .other_descriptors
                .iter()
                .find(|d| d.extractor_version == label)
                .map(|d| d.descriptors.as_slice()),
        }
    }
}

/// The first 8 bytes, big-endian, of a hex SHA-256 (an image's `content_hash`); `None` when
/// it is not one.
pub fn content_key(content_hash: &str) -> Option<u64> {
    if content_hash.len() != 64 {
        return None;
    }
    u64::from_str_radix(content_hash.get(..16)?, 16).ok()
}

/// One entry of a top-k list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassScore {
    pub class: String,
    pub probability: f64,
}

/// `predictions-output-stream`: one head's answer for one image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictionMade {
    pub v: u16,
    pub image_id: Uuid,
    pub model: String,
    pub model_version: String,
    pub predicted_class: String,
    pub class_index: u32,
    pub confidence: f64,
    pub top_k: Vec<ClassScore>,
    pub inference_ms: f64,
    pub label: Option<String>,
    pub submitted_at: DateTime<Utc>,
    /// A shadow version's prediction: stored and compared, never the answer. Absent in
    /// messages from before shadows (false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
}

/// `pipeline-events`: what the recorder made durable, for live subscriptions in every gateway.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PipelineEvent {
    /// A prediction is in the database.
    PredictionRecorded {
        v: u16,
        image_id: Uuid,
        model: String,
        model_version: String,
    },
    /// All heads answered and the comparison is in the database.
    ImageCompleted { v: u16, image_id: Uuid },
    /// The image cannot be processed; the reason is recorded on the image.
    ImageFailed {
        v: u16,
        image_id: Uuid,
        reason: String,
    },
}

impl PipelineEvent {
    pub fn image_id(&self) -> Uuid {
        match self {
            PipelineEvent::PredictionRecorded { image_id, .. }
            | PipelineEvent::ImageCompleted { image_id, .. }
            | PipelineEvent::ImageFailed { image_id, .. } => *image_id,
        }
    }
}

/// `model-events`: what changed in the model registry, and what each serving replica serves.
/// Every serving process reads the topic live (no shared group): an alias move makes each one
/// check the registry (the source of truth, also read periodically, so a replica that missed
/// the event converges); each replica then says what it serves, for the rollout view.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelEvent {
    /// An alias of a model moved (a promotion, a rollback, an archive).
    AliasMoved {
        v: u16,
        model: String,
        alias: String,
        version: Option<i32>,
        previous: Option<i32>,
    },
    /// A replica serves these versions of a model now (after its start or a swap).
    Serving {
        v: u16,
        /// The replica (`VISION_INSTANCE_ID`, else host and process id).
        replica: String,
        /// Its stage instance (`classifier-fast`).
        stage: String,
        model: String,
        /// The production version's label.
        production: String,
        /// A shadow version's label, when one scores beside production.
        shadow: Option<String>,
        /// An A/B candidate's label, when one answers a share of the images.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        candidate: Option<String>,
        /// The candidate's share of the images.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        share: Option<f64>,
        at: DateTime<Utc>,
    },
    /// An A/B test of a head started, changed or stopped.
    SplitChanged {
        v: u16,
        model: String,
        /// The candidate version and its share; `None` once stopped.
        version: Option<i32>,
        share: Option<f64>,
    },
}

/// `dead-letter`: a message that a stage cannot process, kept with the reason. The recorder marks
/// the image failed so that GraphQL shows why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeadLetter {
    pub v: u16,
    pub image_id: Option<Uuid>,
    pub source_topic: String,
    pub stage: String,
    pub reason: String,
    /// The original payload, cut to a few KiB: as text when it is UTF-8, else `hex:` and its
    /// bytes in hexadecimal (a binary feature message).
    pub payload: String,
}

impl DeadLetter {
    pub fn new(
        image_id: Option<Uuid>,
        source_topic: &str,
        stage: &str,
        reason: impl Into<String>,
        payload: &[u8],
    ) -> Self {
        let kept = &payload[..payload.len().min(4096)];
        let mut text = match std::str::from_utf8(kept) {
            Ok(text) => text.to_string(),
            // A cut can split a character: the text up to it still reads.
            Err(e) if e.error_len().is_none() && payload.len() > kept.len() => {
                String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned()
            }
            Err(_) => format!("hex:{}", hex::encode(kept)),
        };
        if payload.len() > 4096 {
            text.push_str("...");
        }
        Self {
            v: SCHEMA_VERSION,
            image_id,
            source_topic: source_topic.to_string(),
            stage: stage.to_string(),
            reason: reason.into(),
            payload: text,
        }
    }
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("malformed binary message: {0}")]
    MalformedBinary(String),
    #[error("unsupported schema version {found} (this build reads {SCHEMA_VERSION})")]
    Version { found: u16 },
}

/// How a message type is written on the bus.
pub trait Wire: Sized {
    fn to_wire(&self) -> Vec<u8>;
    /// Reads a message, refusing another schema version.
    fn from_wire(bytes: &[u8]) -> Result<Self, DecodeError>;
}

macro_rules! json_on_the_wire {
    ($($message:ty),*) => {$(
        impl Wire for $message {
            fn to_wire(&self) -> Vec<u8> {
                encode_json(self)
            }
            fn from_wire(bytes: &[u8]) -> Result<Self, DecodeError> {
                decode_json(bytes)
            }
        }
    )*};
}
json_on_the_wire!(
    ImageSubmitted,
    PredictionMade,
    PipelineEvent,
    DeadLetter,
    ModelEvent
);

/// Encodes a message in its wire format.
pub fn encode<T: Wire>(message: &T) -> Vec<u8> {
    message.to_wire()
}

/// Decodes a message, checking its schema version first.
pub fn decode<T: Wire>(bytes: &[u8]) -> Result<T, DecodeError> {
    T::from_wire(bytes)
}

fn encode_json<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("messages always serialise")
}

fn decode_json<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
    #[derive(Deserialize)]
    struct Versioned {
        v: Option<u16>,
    }
    // Events are tagged enums with `v` inside; both shapes expose a top-level `v`.
    let version = serde_json::from_slice::<Versioned>(bytes)?.v.unwrap_or(0);
    if version != SCHEMA_VERSION {
        return Err(DecodeError::Version { found: version });
    }
    Ok(serde_json::from_slice(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() {
        let m = ImageSubmitted {
            v: SCHEMA_VERSION,
            image_id: Uuid::new_v4(),
            object_key: "raw-images/2026/01/01/x.jpg".into(),
            source: "upload".into(),
            label: None,
            submitted_at: Utc::now(),
            content_hash: Some("ab".repeat(32)),
        };
        let bytes = encode(&m);
        assert_eq!(decode::<ImageSubmitted>(&bytes).unwrap(), m);
        let newer = String::from_utf8(bytes)
            .unwrap()
            .replace("\"v\":1", "\"v\":9");
        assert!(matches!(
            decode::<ImageSubmitted>(newer.as_bytes()),
            Err(DecodeError::Version { found: 9 })
        ));
        assert!(matches!(
            decode::<ImageSubmitted>(b"{not json"),
            Err(DecodeError::Malformed(_))
        ));
        let event = PipelineEvent::ImageCompleted {
            v: SCHEMA_VERSION,
            image_id: m.image_id,
        };
        assert_eq!(decode::<PipelineEvent>(&encode(&event)).unwrap(), event);
    }

    #[test]
    fn dead_letters_keep_text_as_text_and_binary_as_hex() {
        let text = DeadLetter::new(None, "t", "s", "r", b"{\"v\":1}");
        assert_eq!(text.payload, "{\"v\":1}");
        let binary = DeadLetter::new(None, "t", "s", "r", &[0xb1, 0x01, 0x00, 0xff]);
        assert_eq!(binary.payload, "hex:b10100ff");
        // Text cut inside a character at the 4 KiB mark stays text.
        let long = "\u{e9}".repeat(3000);
        let cut = DeadLetter::new(None, "t", "s", "r", long.as_bytes());
        assert!(cut.payload.starts_with("\u{e9}\u{e9}") && cut.payload.ends_with("..."));
        assert_eq!(cut.payload.len(), 4096 + 3);
    }
}
