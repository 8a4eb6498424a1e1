//! Fixtures shared by the recorder's tests.

use uuid::Uuid;
use vision_db::NewImage;

/// A new image row (no object behind it: the recorder never reads one).
pub fn new_image(label: Option<&str>) -> NewImage {
    let id = Uuid::new_v4();
    NewImage {
        id,
        object_key: format!("raw-images/2026/01/01/{id}.png"),
        content_hash: format!("{:064x}", id.as_u128()),
        content_type: "image/png".into(),
        size_bytes: 10,
        width: 8,
        height: 8,
        source: "test".into(),
        label: label.map(str::to_string),
    }
}
