//! Paired comparison of two model versions on the same images (F24): both accuracies and
//! weighted F1 scores, the difference of accuracies with a 95% confidence interval, McNemar's
//! exact test on the images where exactly one of them is right, the agreement on every image
//! (labelled or not), and each one's latency percentiles.
//!
//! - McNemar's exact test: among the `b + c` discordant images (`b`: A right and B wrong, `c`:
//!   A wrong and B right), under "equally good" each is `c` with probability 1/2; the two-sided
//!   p-value is `min(1, 2 * P(X <= min(b, c)))` for `X ~ Binomial(b + c, 1/2)`, summed in log
//!   space so that tens of thousands of images do not underflow.
//! - The interval of the difference of paired proportions `d = (c - b) / n` is Wald's:
//!   `d +- 1.96 * sqrt((b + c) - (b - c)^2 / n) / n`.
//! - Weighted F1: each class's F1 weighted by its number of labelled images (seed 004's
//!   criterion).

use std::collections::BTreeMap;

/// One image answered by both versions.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedAnswer {
    /// The image's label, when it has one.
    pub truth: Option<String>,
    pub a: String,
    pub b: String,
    pub a_ms: f64,
    pub b_ms: f64,
}

/// Latency percentiles (nearest rank), in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
}

/// McNemar's exact test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemar {
    /// Labelled images A got right and B wrong.
    pub b: u64,
    /// Labelled images A got wrong and B right.
    pub c: u64,
    /// Two-sided exact p-value (1 when there is no discordant image).
    pub p_value: f64,
}

/// The comparison of A and B on the same images.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedComparison {
    /// Images both answered.
    pub n: u64,
    /// Of those, the labelled ones (the base of accuracy, F1 and McNemar).
    pub labeled: u64,
    pub accuracy_a: Option<f64>,
    pub accuracy_b: Option<f64>,
    pub weighted_f1_a: Option<f64>,
    pub weighted_f1_b: Option<f64>,
    /// `accuracy_b - accuracy_a`.
    pub difference: Option<f64>,
    /// 95% confidence interval of `difference` (Wald, paired).
    pub difference_ci95: Option<(f64, f64)>,
    pub mcnemar: McNemar,
    /// Share of all `n` images (labelled or not) on which they gave the same class.
    pub agreement: Option<f64>,
    pub latency_a: Latency,
    pub latency_b: Latency,
}

/// Compares A and B on `answers`.
pub fn compare(answers: &[PairedAnswer]) -> PairedComparison {
    let n = answers.len() as u64;
    let labelled: Vec<(&str, &str, &str)> = answers
        .iter()
        .filter_map(|x| Some((x.truth.as_deref()?, x.a.as_str(), x.b.as_str())))
        .collect();
    let labeled = labelled.len() as u64;
    let (mut right_a, mut right_b, mut b, mut c) = (0u64, 0u64, 0u64, 0u64);
    for (truth, a, bb) in &labelled {
        let (ra, rb) = (a == truth, bb == truth);
        right_a += u64::from(ra);
        right_b += u64::from(rb);
        b += u64::from(ra && !rb);
        c += u64::from(!ra && rb);
    }
    let share = |x: u64, of: u64| (of > 0).then(|| x as f64 / of as f64);
    let accuracy_a = share(right_a, labeled);
    let accuracy_b = share(right_b, labeled);
    let difference = accuracy_a.zip(accuracy_b).map(|(a, b)| b - a);
    let difference_ci95 = (labeled > 0).then(|| {
        let nf = labeled as f64;
        let d = (c as f64 - b as f64) / nf;
        let spread = ((b + c) as f64 - (b as f64 - c as f64).powi(2) / nf).max(0.0);
        let half = 1.96 * spread.sqrt() / nf;
        (d - half, d + half)
    });
    let same = answers.iter().filter(|x| x.a == x.b).count() as u64;
    PairedComparison {
        n,
        labeled,
        accuracy_a,
        accuracy_b,
        weighted_f1_a: weighted_f1(labelled.iter().map(|(t, a, _)| (*t, *a))),
        weighted_f1_b: weighted_f1(labelled.iter().map(|(t, _, b)| (*t, *b))),
        difference,
        difference_ci95,
        mcnemar: McNemar {
            b,
            c,
            p_value: mcnemar_exact(b, c),
        },
        agreement: share(same, n),
        latency_a: latency(answers.iter().map(|x| x.a_ms)),
        latency_b: latency(answers.iter().map(|x| x.b_ms)),
    }
}

/// Two-sided exact McNemar p-value for `b` and `c` discordant pairs.
pub fn mcnemar_exact(b: u64, c: u64) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k_max = b.min(c);
    // ln P(X = k) for X ~ Binomial(n, 1/2), from k = 0 upwards.
    let mut ln_pmf = -(n as f64) * std::f64::consts::LN_2;
    let mut terms = Vec::with_capacity(k_max as usize + 1);
    terms.push(ln_pmf);
    for k in 1..=k_max {
        ln_pmf += ((n - k + 1) as f64).ln() - (k as f64).ln();
        terms.push(ln_pmf);
    }
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln();
    (2.0 * tail.exp()).min(1.0)
}

/// Support-weighted mean of the per-class F1 over the true classes; `None` without labels.
fn weighted_f1<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Option<f64> {
    #[derive(Default)]
    struct Counts {
        support: u64,
        predicted: u64,
        hits: u64,
    }
    let mut classes: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut total = 0u64;
    for (truth, predicted) in pairs {
        total += 1;
        classes.entry(truth).or_default().support += 1;
        classes.entry(predicted).or_default().predicted += 1;
        if truth == predicted {
            classes.entry(truth).or_default().hits += 1;
        }
    }
    if total == 0 {
        return None;
    }
    let weighted: f64 = classes
        .values()
        .filter(|c| c.support > 0)
        .map(|c| {
            let precision = if c.predicted > 0 {
                c.hits as f64 / c.predicted as f64
            } else {
                0.0
            };
            let recall = c.hits as f64 / c.support as f64;
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            f1 * c.support as f64
        })
        .sum();
    Some(weighted / total as f64)
}

fn latency(values: impl Iterator<Item = f64>) -> Latency {
    let mut sorted: Vec<f64> = values.collect();
    if sorted.is_empty() {
        return Latency::default();
    }
    sorted.sort_by(f64::total_cmp);
    let rank = |p: usize| sorted[(p * sorted.len()).div_ceil(100).max(1) - 1];
    Latency {
        p50: rank(50),
        p95: rank(95),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(truth: Option<&str>, a: &str, b: &str) -> PairedAnswer {
        PairedAnswer {
            truth: truth.map(str::to_string),
            a: a.into(),
            b: b.into(),
            a_ms: 1.0,
            b_ms: 2.0,
        }
    }

    #[test]
    fn mcnemar_matches_the_binomial_by_hand() {
        // b = 10, c = 0: 2 * 0.5^10.
        assert!((mcnemar_exact(10, 0) - 0.001_953_125).abs() < 1e-12);
        assert!((mcnemar_exact(0, 10) - 0.001_953_125).abs() < 1e-12);
        // b = 3, c = 1: 2 * (1 + 4) / 16 = 0.625.
        assert!((mcnemar_exact(3, 1) - 0.625).abs() < 1e-12);
        // Balanced: capped at 1.
        assert_eq!(mcnemar_exact(5, 5), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // Large counts stay finite and sensible (no underflow of 0.5^n).
        let p = mcnemar_exact(30_000, 30_500);
        assert!(p > 0.0 && p < 0.05, "{p}");
        assert!((mcnemar_exact(50_000, 50_000) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn accuracies_interval_agreement_and_f1() {
        // 10 labelled images A gets right and B wrong, 2 the other way, 8 both right, and 5
        // unlabelled (3 on which they agree).
        let mut answers = Vec::new();
        answers.extend((0..10).map(|_| answer(Some("cat"), "cat", "dog")));
        answers.extend((0..2).map(|_| answer(Some("dog"), "cat", "dog")));
        answers.extend((0..8).map(|_| answer(Some("dog"), "dog", "dog")));
        answers.extend((0..3).map(|_| answer(None, "ship", "ship")));
        answers.extend((0..2).map(|_| answer(None, "ship", "cat")));
        let c = compare(&answers);
        assert_eq!((c.n, c.labeled), (25, 20));
        assert_eq!(c.accuracy_a, Some(18.0 / 20.0));
        assert_eq!(c.accuracy_b, Some(10.0 / 20.0));
        assert_eq!((c.mcnemar.b, c.mcnemar.c), (10, 2));
        let d = c.difference.unwrap();
        assert!((d - (-0.4)).abs() < 1e-12);
        // By hand: se = sqrt(12 - 64/20) / 20 = sqrt(8.8) / 20.
        let half = 1.96 * 8.8f64.sqrt() / 20.0;
        let (lo, hi) = c.difference_ci95.unwrap();
        assert!((lo - (-0.4 - half)).abs() < 1e-12 && (hi - (-0.4 + half)).abs() < 1e-12);
        // Agreement on every image: 8 + 3 of 25.
        assert_eq!(c.agreement, Some(11.0 / 25.0));
        // B calls everything dog: F1(cat) = 0, F1(dog) = 2 * (10/20 * 1) / 1.5 = 2/3; weighted
        // by support (10 cats, 10 dogs): 1/3.
        assert!((c.weighted_f1_b.unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!((c.latency_a.p50, c.latency_b.p95), (1.0, 2.0));
        let p = c.mcnemar.p_value;
        // 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096.
        assert!((p - 2.0 * 79.0 / 4096.0).abs() < 1e-12);
    }

    #[test]
    fn nothing_to_compare() {
        let c = compare(&[]);
        assert_eq!((c.n, c.labeled), (0, 0));
        assert_eq!(
            (c.accuracy_a, c.difference, c.agreement),
            (None, None, None)
        );
        assert_eq!(c.mcnemar.p_value, 1.0);
    }
}
