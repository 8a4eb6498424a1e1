//! The per-image comparison of the heads (F8).

use std::collections::BTreeMap;

use vision_db::NewComparison;
use vision_db::entities::predictions;

/// Compares the predictions of `expected` heads for one image; `None` until each has answered.
/// Several versions of one head (after a promotion) count once: the newest answer.
pub fn compare(rows: &[predictions::Model], expected: &[String]) -> Option<NewComparison> {
    let mut latest: BTreeMap<&str, &predictions::Model> = BTreeMap::new();
    for row in rows {
        if !expected.iter().any(|m| m == &row.model) {
            continue;
        }
        let slot = latest.entry(row.model.as_str()).or_insert(row);
        if row.created_at > slot.created_at {
            *slot = row;
        }
    }
    if expected.is_empty() || latest.len() < expected.len() {
        return None;
    }
    let answers: Vec<&predictions::Model> = latest.into_values().collect();
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
        predictions::Model {
            id: Uuid::new_v4(),
            image_id: Uuid::nil(),
            model: model.into(),
            model_version: format!("{model}-v1"),
            predicted_class: class.into(),
            class_index: 0,
            confidence,
            top_k: vision_db::TopKList(Vec::new()),
            inference_ms: ms,
            correct: None,
            created_at: Utc::now(),
        }
    }

    fn expected() -> Vec<String> {
        ["fast", "balanced", "accurate"].map(String::from).to_vec()
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
}
