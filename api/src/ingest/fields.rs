//! The text fields of an upload: the ground-truth label and the source.

use crate::errors::{ApiError, ApiResult, ErrorCode};

const MAX_SOURCE_LEN: usize = 64;

/// The canonical class name of a label (one of `classes`, case-insensitive), or
/// `INVALID_LABEL`. A label is compared with the predictions to score accuracy, so it must be a
/// class the models know.
pub fn label(label: Option<&str>, classes: &[String]) -> ApiResult<Option<String>> {
    let Some(label) = label else {
        return Ok(None);
    };
    match classes
        .iter()
        .find(|c| c.eq_ignore_ascii_case(label.trim()))
    {
        Some(class) => Ok(Some(class.clone())),
        None => Err(ApiError::new(
            ErrorCode::InvalidLabel,
            format!(
                "label {label:?} is not a known class (one of {})",
                classes.join(", ")
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
        let classes = ["cat", "Dog"].map(String::from);
        assert_eq!(label(None, &classes).unwrap(), None);
        assert_eq!(
            label(Some(" Cat "), &classes).unwrap().as_deref(),
            Some("cat")
        );
        assert_eq!(
            label(Some("dog"), &classes).unwrap().as_deref(),
            Some("Dog")
        );
        let refused = label(Some("unicorn"), &classes).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidLabel);
        assert!(refused.message.contains("cat, Dog"), "{}", refused.message);
    }

    #[test]
    fn sources_are_short_names() {
        assert_eq!(source("Webcam").unwrap(), "webcam");
        assert_eq!(source("").unwrap_err().code, ErrorCode::InvalidSource);
        assert_eq!(source("a b").unwrap_err().code, ErrorCode::InvalidSource);
        assert!(source(&"x".repeat(65)).is_err());
    }
}
