//! Messages carried by the bus, one struct per topic. They are JSON on the wire (Kafka or the
//! in-process bus alike) and carry a schema version so that a consumer can refuse, rather than
//! misread, a message written by a newer producer.

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

/// `dead-letter`: a message that a stage cannot process, kept with the reason. The recorder marks
/// the image failed so that GraphQL shows why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeadLetter {
    pub v: u16,
    pub image_id: Option<Uuid>,
    pub source_topic: String,
    pub stage: String,
    pub reason: String,
    /// The original payload (lossy UTF-8, cut to a few KiB).
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
        let mut text = String::from_utf8_lossy(&payload[..payload.len().min(4096)]).to_string();
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
    #[error("unsupported schema version {found} (this build reads {SCHEMA_VERSION})")]
    Version { found: u16 },
}

/// Encodes a message as JSON bytes.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("messages always serialise")
}

/// Decodes a message, checking its schema version first.
pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, DecodeError> {
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
}
