//! First half of an upload: read one file under the size limit, check it and hash it. Nothing is
//! written here, so a refusal leaves nothing behind.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};
use uuid::Uuid;
use vision_inference::image_input::{self, ImageKind, ImageLimits, ImageRejection};

use super::fields;
use crate::errors::ApiResult;

/// One file as it arrived: the multipart layer has already spooled it to a temporary file.
pub struct Incoming {
    pub filename: String,
    pub content: File,
    pub label: Option<String>,
}

/// A file that passed every check, ready to be stored.
pub struct Prepared {
    /// The image's id, chosen before anything is stored (the backlog holds it from then on).
    pub id: Uuid,
    /// Rewound; read again when stored so a batch never holds every file in memory.
    pub content: File,
    pub size: usize,
    pub kind: ImageKind,
    pub width: u32,
    pub height: u32,
    pub content_hash: String,
    pub label: Option<String>,
}

impl Prepared {
    /// The bytes, read back from the spooled file.
    pub fn read(&mut self) -> std::io::Result<Vec<u8>> {
        self.content.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(self.size);
        (&self.content)
            .take(self.size as u64)
            .read_to_end(&mut bytes)?;
        if bytes.len() != self.size {
            return Err(std::io::Error::other("spooled upload changed size"));
        }
        Ok(bytes)
    }
}

/// Checks one incoming file: label (one of `classes`), size (while reading, never more than the
/// limit plus one byte), type by magic bytes, pixel count, full decode; then hashes it.
pub async fn prepare(
    incoming: Incoming,
    limits: ImageLimits,
    classes: &[String],
) -> ApiResult<Prepared> {
    let label = fields::label(incoming.label.as_deref(), classes)?;
    let content = incoming.content;
    // File reads and decoding block: keep them off the async workers.
    tokio::task::spawn_blocking(move || check(content, label, limits)).await?
}

fn check(mut content: File, label: Option<String>, limits: ImageLimits) -> ApiResult<Prepared> {
    let too_large = |size: usize| ImageRejection::TooLarge {
        size,
        limit: limits.max_bytes,
    };
    let spooled = content.metadata()?.len();
    if spooled > limits.max_bytes as u64 {
        return Err(too_large(usize::try_from(spooled).unwrap_or(usize::MAX)).into());
    }
    content.seek(SeekFrom::Start(0))?;
    let mut bytes = Vec::new();
    (&content)
        .take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)?;
    let checked = image_input::check_image(&bytes, &limits)?;
    let content_hash = hex::encode(Sha256::digest(&bytes));
    Ok(Prepared {
        id: Uuid::new_v4(),
        content,
        size: bytes.len(),
        kind: checked.kind,
        width: checked.width,
        height: checked.height,
        content_hash,
        label,
    })
}
