//! The text fields of an upload: the ground-truth label and the source.

use vision_core::classes::{CIFAR10_CLASSES, class_index};

use crate::errors::{ApiError, ApiResult, ErrorCode};

const MAX_SOURCE_LEN: usize = 64;

/// The canonical class name of a label, or `INVALID_LABEL`. A label is compared with the
/// predictions to score accuracy, so it must be a class the models know.
pub fn label(label: Option<&str>) -> ApiResult<Option<String>> {
    let Some(label) = label else {
        return Ok(None);
    };
    match class_index(label) {
        Some(i) => Ok(Some(CIFAR10_CLASSES[i].to_string())),
        None => Err(ApiError::new(
            ErrorCode::InvalidLabel,
            format!(
                "label {label:?} is not a known class (one of {})",
                CIFAR10_CLASSES.join(", ")
            ),
        )),
    }
}

/// Where images come from (`upload`, `webcam`, `cifar10`...): short, so that it can be a filter
/// and a metric label.
pub fn source(source: &str) -> ApiResult<String> {
    let source = source.trim();
    let valid = !source.is_empty()
        && source.len() <= MAX_SOURCE_LEN
        && source
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(source.to_ascii_lowercase())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidSource,
            format!(
                "source {source:?} must be 1 to {MAX_SOURCE_LEN} letters, digits or -_.: characters"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_canonical_classes() {
        assert_eq!(label(None).unwrap(), None);
        assert_eq!(label(Some(" Cat ")).unwrap().as_deref(), Some("cat"));
        assert_eq!(
            label(Some("unicorn")).unwrap_err().code,
            ErrorCode::InvalidLabel
        );
    }

    #[test]
    fn sources_are_short_names() {
        assert_eq!(source("Webcam").unwrap(), "webcam");
        assert_eq!(source("").unwrap_err().code, ErrorCode::InvalidSource);
        assert_eq!(source("a b").unwrap_err().code, ErrorCode::InvalidSource);
        assert!(source(&"x".repeat(65)).is_err());
    }
}
