//! The per-image comparison of the heads (F8), keyed by model and version: two versions of one
//! head that answer the same image are two contestants.

use std::collections::BTreeMap;

use vision_db::NewComparison;
use vision_db::entities::predictions;

/// One head version whose prediction an image waits for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadVersion {
    pub model: String,
    pub version: String,
}

impl HeadVersion {
    pub fn new(model: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            version: version.into(),
        }
    }
}

/// Compares the predictions of the `expected` head versions for one image; `None` until each
/// has answered. Predictions of other versions (a version no longer served) are left out.
pub fn compare(rows: &[predictions::Model], expected: &[HeadVersion]) -> Option<NewComparison> {
    let mut answers: BTreeMap<(&str, &str), &predictions::Model> = BTreeMap::new();
    for row in rows {
        let served = expected
            .iter()
            .any(|h| h.model == row.model && h.version == row.model_version);
        if served {
            // (image, model, version) is unique in the database: one row per key.
            answers.insert((row.model.as_str(), row.model_version.as_str()), row);
        }
    }
    if expected.is_empty() || answers.len() < expected.len() {
        return None;
    }
    let answers: Vec<&predictions::Model> = answers.into_values().collect();
    let fastest = answers
        .iter()
        .min_by(|a, b| a.inference_ms.total_cmp(&b.inference_ms))?;
    let most_confident = answers
        .iter()
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence))?;
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &answers {
        *votes.entry(a.predicted_class.as_str()).or_default() += 1;
    }
    let top = votes.values().copied().max().unwrap_or(0);
    let leaders: Vec<&str> = votes
        .iter()
        .filter(|(_, n)| **n == top)
        .map(|(c, _)| *c)
        .collect();
    // A tie for the most votes is no consensus.
    let consensus = (leaders.len() == 1).then(|| leaders[0].to_string());
    Some(NewComparison {
        fastest_model: fastest.model.clone(),
        fastest_model_version: fastest.model_version.clone(),
        most_confident_model: most_confident.model.clone(),
        most_confident_model_version: most_confident.model_version.clone(),
        consensus_class: consensus,
        agreement: top as f64 / answers.len() as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn row(model: &str, class: &str, confidence: f64, ms: f64) -> predictions::Model {
        versioned(model, "v1", class, confidence, ms)
    }

    fn versioned(
        model: &str,
        version: &str,
        class: &str,
        confidence: f64,
        ms: f64,
    ) -> predictions::Model {
        predictions::Model {
            id: Uuid::new_v4(),
            image_id: Uuid::nil(),
            model: model.into(),
            model_version: version.into(),
            predicted_class: class.into(),
            class_index: 0,
            confidence,
            top_k: vision_db::TopKList(Vec::new()),
            inference_ms: ms,
            correct: None,
            created_at: Utc::now(),
        }
    }

    fn expected() -> Vec<HeadVersion> {
        ["fast", "balanced", "accurate"]
            .map(|m| HeadVersion::new(m, "v1"))
            .to_vec()
    }

    #[test]
    fn waits_for_every_head() {
        let rows = [
            row("fast", "cat", 0.5, 0.1),
            row("accurate", "cat", 0.9, 0.3),
        ];
        assert!(compare(&rows, &expected()).is_none());
    }

    #[test]
    fn majority_fastest_and_most_confident() {
        let rows = [
            row("fast", "cat", 0.5, 0.1),
            row("balanced", "dog", 0.6, 0.2),
            row("accurate", "cat", 0.9, 0.3),
        ];
        let c = compare(&rows, &expected()).unwrap();
        assert_eq!(c.fastest_model, "fast");
        assert_eq!(c.fastest_model_version, "v1");
        assert_eq!(c.most_confident_model, "accurate");
        assert_eq!(c.consensus_class.as_deref(), Some("cat"));
        assert!((c.agreement - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn three_way_split_has_no_consensus() {
        let rows = [
            row("fast", "cat", 0.5, 0.1),
            row("balanced", "dog", 0.6, 0.2),
            row("accurate", "frog", 0.9, 0.3),
        ];
        let c = compare(&rows, &expected()).unwrap();
        assert_eq!(c.consensus_class, None);
        assert!((c.agreement - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn two_versions_of_one_head_are_two_contestants() {
        let expected = vec![
            HeadVersion::new("fast", "v1"),
            HeadVersion::new("fast", "v2"),
            HeadVersion::new("accurate", "v1"),
        ];
        let v1 = versioned("fast", "v1", "cat", 0.5, 0.2);
        let accurate = versioned("accurate", "v1", "automobile", 0.7, 0.3);
        // Until v2 answered, the image is not complete, whatever v1 said.
        assert!(compare(&[v1.clone(), accurate.clone()], &expected).is_none());
        let v2 = versioned("fast", "v2", "automobile", 0.9, 0.1);
        let c = compare(&[v1, v2, accurate], &expected).unwrap();
        assert_eq!(
            (c.fastest_model.as_str(), c.fastest_model_version.as_str()),
            ("fast", "v2")
        );
        assert_eq!(
            (
                c.most_confident_model.as_str(),
                c.most_confident_model_version.as_str()
            ),
            ("fast", "v2")
        );
        assert_eq!(c.consensus_class.as_deref(), Some("automobile"));
        assert!((c.agreement - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn versions_no_longer_served_are_left_out() {
        let rows = [
            versioned("fast", "old", "dog", 0.99, 0.01),
            row("fast", "cat", 0.5, 0.1),
            row("balanced", "cat", 0.6, 0.2),
            row("accurate", "cat", 0.9, 0.3),
        ];
        let c = compare(&rows, &expected()).unwrap();
        assert_eq!(c.consensus_class.as_deref(), Some("cat"));
        assert_eq!(c.agreement, 1.0);
        assert_eq!(c.fastest_model_version, "v1");
    }
}
