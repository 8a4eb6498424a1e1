//! Experiments' types (F24): the paired comparison of two versions on the same images.

use async_graphql::SimpleObject;
use vision_registry::paired;

/// Version A (production) against version B on the same images.
#[derive(Debug, Clone, SimpleObject)]
pub struct PairedComparison {
    /// Images both answered.
    pub n: i64,
    /// Of those, the labelled ones: the base of accuracy, F1 and McNemar's test.
    pub labeled: i64,
    pub accuracy_a: Option<f64>,
    pub accuracy_b: Option<f64>,
    /// Per-class F1 weighted by each class's labelled images.
    pub weighted_f1_a: Option<f64>,
    pub weighted_f1_b: Option<f64>,
    /// `accuracyB - accuracyA`.
    pub difference: Option<f64>,
    /// 95% confidence interval of `difference` (Wald, paired).
    pub difference_low: Option<f64>,
    pub difference_high: Option<f64>,
    /// McNemar's exact test: labelled images A got right and B wrong...
    pub mcnemar_b: i64,
    /// ...and those A got wrong and B right.
    pub mcnemar_c: i64,
    /// Its two-sided p-value (1 without discordant images).
    pub mcnemar_p: f64,
    /// Share of all `n` images (labelled or not) both gave the same class.
    pub agreement: Option<f64>,
    pub latency_p50_ms_a: f64,
    pub latency_p95_ms_a: f64,
    pub latency_p50_ms_b: f64,
    pub latency_p95_ms_b: f64,
}

impl From<paired::PairedComparison> for PairedComparison {
    fn from(c: paired::PairedComparison) -> Self {
        Self {
            n: c.n as i64,
            labeled: c.labeled as i64,
            accuracy_a: c.accuracy_a,
            accuracy_b: c.accuracy_b,
            weighted_f1_a: c.weighted_f1_a,
            weighted_f1_b: c.weighted_f1_b,
            difference: c.difference,
            difference_low: c.difference_ci95.map(|(low, _)| low),
            difference_high: c.difference_ci95.map(|(_, high)| high),
            mcnemar_b: c.mcnemar.b as i64,
            mcnemar_c: c.mcnemar.c as i64,
            mcnemar_p: c.mcnemar.p_value,
            agreement: c.agreement,
            latency_p50_ms_a: c.latency_a.p50,
            latency_p95_ms_a: c.latency_a.p95,
            latency_p50_ms_b: c.latency_b.p50,
            latency_p95_ms_b: c.latency_b.p95,
        }
    }
}

/// A head's shadow version against its production answers, on live images.
#[derive(Debug, Clone, SimpleObject)]
pub struct ShadowComparison {
    pub model: String,
    /// The shadow version's label.
    pub shadow: String,
    /// A: production's answers; B: the shadow's.
    pub comparison: PairedComparison,
}

/// A registered head version scored on the stored descriptors of past images.
#[derive(Debug, Clone, SimpleObject)]
pub struct Backtest {
    pub model: String,
    pub version: i32,
    pub label: String,
    /// A: the answer each image got then; B: this version.
    pub comparison: PairedComparison,
    /// Time to read and score the images, in seconds.
    pub seconds: f64,
}

/// A head's A/B test: the candidate against production on the images both scored.
#[derive(Debug, Clone, SimpleObject)]
pub struct AbComparison {
    pub model: String,
    /// Production's label.
    pub production: String,
    /// The candidate's label.
    pub candidate: String,
    /// The share of images the candidate answers.
    pub share: f64,
    /// A: production; B: the candidate.
    pub comparison: PairedComparison,
}
