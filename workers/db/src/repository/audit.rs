//! The audit log (F25): appended in order with a hash chain, read newest first, verified whole.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
};
use sha2::{Digest, Sha256};

use crate::entities::audit_log;
use crate::{DateTimeUtc, Db, DbError, Result, now};

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An action to record.
#[derive(Clone, Debug, Default)]
pub struct NewAuditEntry {
    pub actor: String,
    pub role: Option<String>,
    pub ip: Option<String>,
    pub request_id: String,
    pub operation: String,
    pub outcome: String,
    pub detail: Option<String>,
}

/// Which entries to read.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// Entries before this sequence number (paging back).
    pub before_seq: Option<i64>,
    pub limit: u64,
}

/// What verifying the chain found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditVerification {
    pub entries: u64,
    /// The first entry that does not follow from the one before, and why.
    pub broken: Option<(i64, String)>,
}

/// Times an append is tried again when another writer took the same sequence number.
const APPEND_TRIES: usize = 50;

/// The hash of an entry: its fields, in order, with the previous hash. The time is hashed at
/// microsecond precision, which both databases keep.
pub fn entry_hash(seq: i64, at: DateTimeUtc, entry: &NewAuditEntry, prev_hash: &str) -> String {
    let mut hasher = Sha256::new();
    let fields = [
        seq.to_string(),
        at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        entry.actor.clone(),
        entry.role.clone().unwrap_or_default(),
        entry.ip.clone().unwrap_or_default(),
        entry.request_id.clone(),
        entry.operation.clone(),
        entry.outcome.clone(),
        entry.detail.clone().unwrap_or_default(),
        prev_hash.to_string(),
    ];
    for field in fields {
        // Length-prefixed, so that no two different entries hash the same text.
        hasher.update((field.len() as u64).to_le_bytes());
        hasher.update(field.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn as_entry(row: &audit_log::Model) -> NewAuditEntry {
    NewAuditEntry {
        actor: row.actor.clone(),
        role: row.role.clone(),
        ip: row.ip.clone(),
        request_id: row.request_id.clone(),
        operation: row.operation.clone(),
        outcome: row.outcome.clone(),
        detail: row.detail.clone(),
    }
}

impl Db {
    /// Appends an entry after the last one. Writers that race for a sequence number (other
    /// requests, other replicas) lose on the primary key and try again after the new last one,
    /// so the chain never forks. Within a process appends go one at a time: hundreds at once
    /// (uploads refused under overload are audited too) otherwise spend their time colliding
    /// and retrying, holding SQLite's write lock from the pipeline.
    pub async fn append_audit(&self, entry: NewAuditEntry) -> Result<audit_log::Model> {
        let _turn = self.audit_appends.lock().await;
        let mut last_error = None;
        for attempt in 0..APPEND_TRIES {
            let last = audit_log::Entity::find()
                .order_by_desc(audit_log::Column::Seq)
                .limit(1)
                .one(&self.conn)
                .await?;
            let (seq, prev_hash) = match &last {
                Some(row) => (row.seq + 1, row.hash.clone()),
                None => (1, GENESIS.to_string()),
            };
            let at = micros(now());
            let row = audit_log::Model {
                seq,
                at,
                actor: entry.actor.clone(),
                role: entry.role.clone(),
                ip: entry.ip.clone(),
                request_id: entry.request_id.clone(),
                operation: entry.operation.clone(),
                outcome: entry.outcome.clone(),
                detail: entry.detail.clone(),
                hash: entry_hash(seq, at, &entry, &prev_hash),
                prev_hash,
            };
            match row.into_active_model().insert(&self.conn).await {
                Ok(row) => return Ok(row),
                Err(error) => {
                    last_error = Some(error);
                    tokio::time::sleep(std::time::Duration::from_millis(1 + attempt as u64)).await;
                }
            }
        }
        Err(DbError::from(last_error.expect("at least one attempt")))
    }

    /// Entries newest first.
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<audit_log::Model>> {
        use audit_log::Column as A;
        let mut query = audit_log::Entity::find().order_by_desc(A::Seq);
        if let Some(actor) = &filter.actor {
            query = query.filter(A::Actor.eq(actor.clone()));
        }
        if let Some(operation) = &filter.operation {
            query = query.filter(Expr::col(A::Operation).like(format!("%{operation}%")));
        }
        if let Some(outcome) = &filter.outcome {
            query = query.filter(A::Outcome.eq(outcome.clone()));
        }
        if let Some(before) = filter.before_seq {
            query = query.filter(A::Seq.lt(before));
        }
        Ok(query.limit(filter.limit.max(1)).all(&self.conn).await?)
    }

    /// Walks the whole chain in order: sequence numbers without gaps, each entry's hash its
    /// fields' and the previous one's.
    pub async fn verify_audit_log(&self) -> Result<AuditVerification> {
        const PAGE: u64 = 1000;
        let (mut expected_seq, mut prev_hash, mut entries) = (1i64, GENESIS.to_string(), 0u64);
        loop {
            let page = audit_log::Entity::find()
                .filter(audit_log::Column::Seq.gte(expected_seq))
                .order_by_asc(audit_log::Column::Seq)
                .limit(PAGE)
                .all(&self.conn)
                .await?;
            if page.is_empty() {
                return Ok(AuditVerification {
                    entries,
                    broken: None,
                });
            }
            for row in &page {
                let broken = |why: &str| AuditVerification {
                    entries,
                    broken: Some((row.seq, why.to_string())),
                };
                if row.seq != expected_seq {
                    return Ok(broken(&format!(
                        "entry {} is missing (the next one is {})",
                        expected_seq, row.seq
                    )));
                }
                if row.prev_hash != prev_hash {
                    return Ok(broken(
                        "its previous hash is not the hash of the entry before",
                    ));
                }
                if entry_hash(row.seq, row.at, &as_entry(row), &row.prev_hash) != row.hash {
                    return Ok(broken(
                        "its fields do not match its hash (changed afterwards)",
                    ));
                }
                prev_hash = row.hash.clone();
                expected_seq += 1;
                entries += 1;
            }
        }
    }
}

/// `at` without its nanoseconds (what the databases keep and the hash covers).
fn micros(at: DateTimeUtc) -> DateTimeUtc {
    use chrono::{DurationRound, TimeDelta};
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}
