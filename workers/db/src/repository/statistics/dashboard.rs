//! Raw figures for the dashboard's statistics (F17-F19), read from the rollups: confusion
//! cells, class counts and activity. The shaping (matrices, per-class metrics, time buckets)
//! is left to the caller, which knows the class list and the bucket size.

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::{DateTimeUtc, Db, Result, images};

/// How often one model answered `predicted` for images labelled `label`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledCount {
    pub label: String,
    pub predicted: String,
    pub count: u64,
}

/// Activity since a point in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    /// Images whose last prediction arrived in the window (`completed_at >= since`).
    pub images_completed: u64,
    /// Predictions made in the window.
    pub predictions: u64,
}

impl Db {
    /// (label, predicted class) counts of `model`'s predictions on labelled images made at or
    /// after `since`: the cells of its confusion matrix.
    pub async fn confusion_counts(
        &self,
        model: &str,
        since: Option<DateTimeUtc>,
    ) -> Result<Vec<LabelledCount>> {
        Ok(self
            .class_counts(Some(model), since, None)
            .await?
            .into_iter()
            .filter_map(|(label, predicted, count)| {
                label.map(|label| LabelledCount {
                    label,
                    predicted,
                    count,
                })
            })
            .collect())
    }

    /// How often each class was predicted (labelled images or not) since `since`, by one model
    /// or by all together; sorted by class name. Here and in every figure of this module, a
    /// shadow version's predictions are left out: they are compared in experiments, they are
    /// not the model's answers.
    pub async fn predicted_class_counts(
        &self,
        model: Option<&str>,
        since: Option<DateTimeUtc>,
    ) -> Result<Vec<(String, u64)>> {
        let mut counts = std::collections::BTreeMap::<String, u64>::new();
        for (_, predicted, n) in self.class_counts(model, since, None).await? {
            *counts.entry(predicted).or_default() += n;
        }
        Ok(counts.into_iter().collect())
    }

    /// Images completed and predictions made at or after `since`. Callers keep the window
    /// short: images are counted from their rows (an index on `completed_at`).
    pub async fn activity_since(&self, since: DateTimeUtc) -> Result<Activity> {
        let images_completed = images::Entity::find()
            .filter(images::Column::CompletedAt.gte(since))
            .count(&self.conn)
            .await?;
        let predictions = self
            .model_figures(Some(since), None)
            .await?
            .iter()
            .map(|(_, f)| f.count)
            .sum();
        Ok(Activity {
            images_completed,
            predictions,
        })
    }
}
