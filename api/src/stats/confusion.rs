//! Confusion matrix and per-class precision / recall / F1 of one model.

use vision_db::LabelledCount;

/// Rows are the true class, columns the predicted class, both in `classes` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
    pub total: u64,
}

impl Confusion {
    fn column_sum(&self, j: usize) -> u64 {
        self.counts.iter().map(|row| row[j]).sum()
    }
}

/// The matrix over the models' `classes`, in their order; a name outside them (a prediction of
/// an earlier bundle with other classes) gets its own row and column after them, so no count is
/// dropped.
pub fn confusion(cells: &[LabelledCount], classes: &[String]) -> Confusion {
    let mut classes: Vec<String> = classes.to_vec();
    let position = |name: &str, classes: &mut Vec<String>| -> usize {
        match classes.iter().position(|c| c.eq_ignore_ascii_case(name)) {
            Some(i) => i,
            None => {
                classes.push(name.to_string());
                classes.len() - 1
            }
        }
    };
    let placed: Vec<(usize, usize, u64)> = cells
        .iter()
        .map(|c| {
            let row = position(&c.label, &mut classes);
            let col = position(&c.predicted, &mut classes);
            (row, col, c.count)
        })
        .collect();
    let n = classes.len();
    let mut counts = vec![vec![0u64; n]; n];
    let mut total = 0;
    for (row, col, count) in placed {
        counts[row][col] += count;
        total += count;
    }
    Confusion {
        classes,
        counts,
        total,
    }
}

/// One class's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMetric {
    pub class: String,
    /// Of the labelled images predicted as this class, the share that are; `None` when the
    /// model never predicted it on a labelled image.
    pub precision: Option<f64>,
    /// Of the labelled images of this class, the share predicted as it; `None` without any.
    pub recall: Option<f64>,
    /// Harmonic mean of both; `None` when either is, 0 when both are 0.
    pub f1: Option<f64>,
    /// Labelled predictions whose true class is this one.
    pub support: u64,
    /// Predictions of this class, labelled images or not.
    pub predicted: u64,
}

/// Per-class metrics from the confusion matrix and the counts of predicted classes.
pub fn class_metrics(matrix: &Confusion, predicted: &[(String, u64)]) -> Vec<ClassMetric> {
    matrix
        .classes
        .iter()
        .enumerate()
        .map(|(i, class)| {
            let hits = matrix.counts[i][i];
            let support: u64 = matrix.counts[i].iter().sum();
            let predicted_labelled = matrix.column_sum(i);
            let precision = ratio(hits, predicted_labelled);
            let recall = ratio(hits, support);
            let f1 = match (precision, recall) {
                (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
                (Some(_), Some(_)) => Some(0.0),
                _ => None,
            };
            ClassMetric {
                class: class.clone(),
                precision,
                recall,
                f1,
                support,
                predicted: predicted
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(class))
                    .map(|(_, n)| n)
                    .sum(),
            }
        })
        .collect()
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten classes (CIFAR-10's; any list would do).
    fn classes() -> Vec<String> {
        vision_inference::dataset::CIFAR10_CLASSES
            .map(String::from)
            .to_vec()
    }

    fn cell(label: &str, predicted: &str, count: u64) -> LabelledCount {
        LabelledCount {
            label: label.into(),
            predicted: predicted.into(),
            count,
        }
    }

    #[test]
    fn matrix_in_class_order() {
        let m = confusion(
            &[
                cell("cat", "dog", 2),
                cell("cat", "cat", 3),
                cell("ship", "ship", 1),
            ],
            &classes(),
        );
        assert_eq!(m.classes.len(), 10);
        assert_eq!(m.total, 6);
        assert_eq!(m.counts[3][5], 2);
        assert_eq!(m.counts[3][3], 3);
        assert_eq!(m.counts[8][8], 1);
        assert_eq!(m.counts.iter().flatten().sum::<u64>(), 6);
    }

    #[test]
    fn unknown_class_gets_its_own_row() {
        let m = confusion(&[cell("cat", "unicorn", 1)], &classes());
        assert_eq!(m.classes.last().unwrap(), "unicorn");
        assert_eq!(m.counts[3][10], 1);
    }

    #[test]
    fn precision_recall_f1() {
        // cat: 3 right, 2 called dog; dog: 1 right, 1 called cat.
        let m = confusion(
            &[
                cell("cat", "cat", 3),
                cell("cat", "dog", 2),
                cell("dog", "dog", 1),
                cell("dog", "cat", 1),
            ],
            &classes(),
        );
        let metrics = class_metrics(&m, &[("cat".into(), 4), ("dog".into(), 5)]);
        let cat = &metrics[3];
        assert_eq!(cat.support, 5);
        assert_eq!(cat.predicted, 4);
        assert_eq!(cat.precision, Some(0.75));
        assert_eq!(cat.recall, Some(0.6));
        let f1 = cat.f1.unwrap();
        assert!((f1 - 2.0 * 0.75 * 0.6 / 1.35).abs() < 1e-12);
        let dog = &metrics[5];
        assert_eq!(dog.precision, Some(1.0 / 3.0));
        assert_eq!(dog.recall, Some(0.5));
        let ship = &metrics[8];
        assert_eq!((ship.precision, ship.recall, ship.f1), (None, None, None));
        assert_eq!(ship.support, 0);
    }

    #[test]
    fn any_class_list_sizes_the_matrix() {
        let colours = ["red", "green", "blue"].map(String::from);
        let m = confusion(&[cell("red", "red", 2), cell("blue", "Green", 1)], &colours);
        assert_eq!(m.classes, colours);
        assert_eq!(m.counts, vec![vec![2, 0, 0], vec![0, 0, 0], vec![0, 1, 0]]);
    }

    #[test]
    fn zero_precision_and_recall_give_zero_f1() {
        let m = confusion(&[cell("cat", "dog", 1), cell("dog", "cat", 1)], &classes());
        let metrics = class_metrics(&m, &[]);
        assert_eq!(metrics[3].f1, Some(0.0));
    }
}
