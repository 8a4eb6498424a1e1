//! The per-image comparison of the heads (F8): one answer per head, the production version's
//! (a shadow version's prediction is stored but is never the answer).

use std::collections::BTreeMap;

use vision_db::NewComparison;
use vision_db::entities::predictions;

/// Compares the answers of the heads named in `heads` for one image; `None` until each has
/// answered. A head's answer is its latest prediction that is not a shadow's (after a
/// promotion, a redelivered image may have been answered by both versions).
pub fn compare(rows: &[predictions::Model], heads: &[String]) -> Option<NewComparison> {
    let mut answers: BTreeMap<&str, &predictions::Model> = BTreeMap::new();
    for row in rows.iter().filter(|r| !r.shadow) {
        if !heads.iter().any(|h| h == &row.model) {
            continue;
        }
        let slot = answers.entry(row.model.as_str()).or_insert(row);
        if row.created_at > slot.created_at {
            *slot = row;
        }
    }
    if heads.is_empty() || answers.len() < heads.len() {
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
            shadow: false,
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
    fn a_shadow_is_never_the_answer() {
        let mut shadow = versioned("fast", "v2", "automobile", 0.99, 0.01);
        shadow.shadow = true;
        let rows = [
            shadow.clone(),
            row("balanced", "cat", 0.6, 0.2),
            row("accurate", "cat", 0.9, 0.3),
        ];
        // The shadow does not stand in for `fast`'s production answer.
        assert!(compare(&rows, &expected()).is_none());
        let rows = [
            shadow,
            row("fast", "cat", 0.5, 0.1),
            row("balanced", "cat", 0.6, 0.2),
            row("accurate", "cat", 0.9, 0.3),
        ];
        let c = compare(&rows, &expected()).unwrap();
        assert_eq!(c.consensus_class.as_deref(), Some("cat"));
        assert_eq!(c.agreement, 1.0);
        assert_eq!(
            (c.fastest_model.as_str(), c.fastest_model_version.as_str()),
            ("fast", "v1")
        );
        assert_eq!(c.most_confident_model, "accurate");
    }

    #[test]
    fn after_a_promotion_a_head_s_latest_answer_counts() {
        let old = versioned("fast", "v1", "dog", 0.5, 0.1);
        let mut new = versioned("fast", "v2", "cat", 0.5, 0.1);
        new.created_at = old.created_at + chrono::Duration::milliseconds(5);
        let rows = [
            old,
            new,
            row("balanced", "cat", 0.6, 0.2),
            row("accurate", "cat", 0.9, 0.3),
        ];
        let c = compare(&rows, &expected()).unwrap();
        assert_eq!(c.consensus_class.as_deref(), Some("cat"));
        assert_eq!(c.agreement, 1.0);
    }
}
