//! Data quality: checks the database and the object store against each other and the
//! pipeline's invariants, and reports what it finds (it repairs nothing: retention and the
//! recorder's sweep do, and an operator decides about the rest).
//!
//! - objects missing: an image row whose object is not in the store;
//! - objects corrupt: an object whose size differs from its row's, or (for the newest
//!   `verify` images) whose SHA-256 differs from its row's content hash;
//! - objects without rows: an object under `raw-images/` that no row names (an upload that
//!   died between its object and its row);
//! - images stuck: still `pending` or `extracted` long after their upload;
//! - predictions missing: completed images without an answer; comparisons missing: completed
//!   images without their comparison;
//! - the audit log's hash chain;
//! - statistics drift: the statistics rollups disagreeing with a count over the rows.
//!
//! The store is listed once into memory (about 100 bytes per object), then the rows are read
//! page by page. Uploads go on meanwhile: a row newer than the listing is not judged, and an
//! object without a row is looked up again at the end before it is reported.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;
use vision_core::ObjectStore;
use vision_core::objects::StoreError;
use vision_db::{Db, DbError};

/// Where raw images live in the store.
const RAW_IMAGES: &str = "raw-images/";
/// Objects listed, rows read per request.
const PAGE: usize = 1000;
/// Examples kept per kind of finding.
const EXAMPLES: usize = 20;

/// What the checks look at.
#[derive(Debug, Clone, Copy)]
pub struct QualityPolicy {
    /// An image not finished this long after its upload is stuck.
    pub stuck_after: chrono::Duration,
    /// The newest images whose objects are read and hashed.
    pub verify: u64,
}

/// One kind of finding: how many, and the first few (image ids or object keys).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub count: u64,
    pub examples: Vec<String>,
}

impl Finding {
    fn add(&mut self, example: impl ToString) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example.to_string());
        }
    }
}

/// What a run found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QualityReport {
    pub images_checked: u64,
    pub objects_listed: u64,
    pub objects_verified: u64,
    pub objects_missing: Finding,
    pub objects_corrupt: Finding,
    pub objects_without_rows: Finding,
    pub images_stuck: Finding,
    pub predictions_missing: Finding,
    pub comparisons_missing: Finding,
    /// Groups (model version, or model version, label and predicted class) whose statistics
    /// rollups differ from a count over the predictions.
    pub statistics_drift: Finding,
    /// The first audit entry that does not follow from the one before, if any.
    pub audit_chain_broken: Option<String>,
    pub duration_ms: u64,
}

impl QualityReport {
    /// Findings by kind, as the metrics count them.
    pub fn counts(&self) -> [(&'static str, u64); 8] {
        [
            ("objects_missing", self.objects_missing.count),
            ("objects_corrupt", self.objects_corrupt.count),
            ("objects_without_rows", self.objects_without_rows.count),
            ("images_stuck", self.images_stuck.count),
            ("predictions_missing", self.predictions_missing.count),
            ("comparisons_missing", self.comparisons_missing.count),
            ("statistics_drift", self.statistics_drift.count),
            (
                "audit_chain_broken",
                u64::from(self.audit_chain_broken.is_some()),
            ),
        ]
    }
}

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs every check as of `now`.
pub async fn check(
    db: &Db,
    store: &Arc<dyn ObjectStore>,
    policy: QualityPolicy,
    now: DateTime<Utc>,
) -> Result<QualityReport, QualityError> {
    let started = Instant::now();
    let mut report = QualityReport::default();
    let listed_at = Utc::now();
    let mut objects = list_all(store.as_ref()).await?;
    report.objects_listed = objects.len() as u64;

    // Objects found corrupt by size, so that the hash check does not count them again.
    let mut size_corrupt = HashSet::new();
    let mut after = None;
    loop {
        let rows = db.stored_images(after, PAGE as u64).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.id);
        for row in rows {
            report.images_checked += 1;
            match objects.remove(&row.object_key) {
                Some(size) if size != row.size_bytes as u64 => {
                    size_corrupt.insert(row.id);
                    report.objects_corrupt.add(row.id);
                }
                Some(_) => {}
                // Uploaded after the listing: its object may be newer too.
                None if row.created_at >= listed_at => {}
                None => report.objects_missing.add(row.id),
            }
        }
    }
    // What no row claimed: uploads may have written rows since; look them up again.
    let unclaimed: Vec<String> = objects.into_keys().collect();
    let claimed = db.keys_with_rows(&unclaimed).await?;
    let mut orphans: Vec<String> = unclaimed
        .into_iter()
        .filter(|key| !claimed.contains(key))
        .collect();
    orphans.sort();
    for key in orphans {
        report.objects_without_rows.add(key);
    }

    for row in db.newest_stored_images(policy.verify).await? {
        match store.get(&row.object_key).await {
            Ok(bytes) => {
                report.objects_verified += 1;
                let hash = hex::encode(Sha256::digest(&bytes));
                let corrupt =
                    hash != row.content_hash || bytes.len() as u64 != row.size_bytes as u64;
                if corrupt && !size_corrupt.contains(&row.id) {
                    report.objects_corrupt.add(row.id);
                }
            }
            // Counted above (or uploaded since the listing).
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }

    let findings = [
        (
            db.stuck_images(now - policy.stuck_after, EXAMPLES as u64)
                .await?,
            &mut report.images_stuck,
        ),
        (
            db.completed_without_predictions(EXAMPLES as u64).await?,
            &mut report.predictions_missing,
        ),
        (
            db.completed_without_comparison(EXAMPLES as u64).await?,
            &mut report.comparisons_missing,
        ),
    ];
    for (violations, finding) in findings {
        finding.count = violations.count;
        finding.examples = violations.examples.iter().map(Uuid::to_string).collect();
    }
    let drift = db.rollup_drift(EXAMPLES).await?;
    report.statistics_drift = Finding {
        count: drift.count,
        examples: drift.examples,
    };
    let audit = db.verify_audit_log().await?;
    report.audit_chain_broken = audit.broken.map(|(seq, why)| format!("entry {seq}: {why}"));
    report.duration_ms = started.elapsed().as_millis() as u64;

    let gauge = &vision_core::metrics::metrics().data_quality_findings;
    for (kind, count) in report.counts() {
        gauge.with_label_values(&[kind]).set(count as f64);
    }
    Ok(report)
}

/// Every raw image in the store: key -> size.
async fn list_all(store: &dyn ObjectStore) -> Result<HashMap<String, u64>, StoreError> {
    let mut objects = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.list(RAW_IMAGES, after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        let full = page.len() == PAGE;
        objects.extend(page.into_iter().map(|o| (o.key, o.size)));
        if !full {
            break;
        }
    }
    Ok(objects)
}
