//! The audit log (F25): appended in order with a hash chain, read newest first, verified whole.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
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

/// The queue of entries waiting for their group, and the writer's turn (see
/// [`Db::append_audit`]).
#[derive(Debug, Default)]
pub(crate) struct AuditAppends {
    queue: std::sync::Mutex<
        Vec<(
            NewAuditEntry,
            tokio::sync::oneshot::Sender<Result<audit_log::Model>>,
        )>,
    >,
    turn: std::sync::Arc<tokio::sync::Mutex<()>>,
}

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
    /// Appends an entry after the last one, and returns it as stored.
    ///
    /// Appends are committed in groups (group commit): an entry joins the queue of this
    /// process; whoever gets the writer's turn writes every queued entry in one transaction,
    /// chained in queue order, and hands each caller its row. Under load (uploads refused
    /// while overloaded are audited too) hundreds of appends then cost a few transactions,
    /// not hundreds of them contending for SQLite's write lock with the pipeline.
    ///
    /// Writers of other processes that take the same sequence number lose on the primary key
    /// and try again after the new last entry, so the chain never forks. A group is written by
    /// a task of its own: a caller that goes away (a client disconnecting) does not abandon
    /// the others' entries.
    pub async fn append_audit(&self, entry: NewAuditEntry) -> Result<audit_log::Model> {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        self.audit_appends
            .queue
            .lock()
            .expect("audit queue poisoned")
            .push((entry, tx));
        let abandoned = || {
            DbError::Database(sea_orm::DbErr::Custom(
                "the audit append was abandoned".into(),
            ))
        };
        loop {
            // Either a group written meanwhile held ours, or it is our turn to write one.
            let turn = tokio::select! {
                result = &mut rx => return result.unwrap_or_else(|_| Err(abandoned())),
                turn = self.audit_appends.turn.clone().lock_owned() => turn,
            };
            match rx.try_recv() {
                Ok(result) => return result,
                Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return Err(abandoned()),
                Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
            }
            let group = std::mem::take(
                &mut *self
                    .audit_appends
                    .queue
                    .lock()
                    .expect("audit queue poisoned"),
            );
            let db = self.clone();
            let writer = tokio::spawn(async move {
                let _turn = turn;
                let entries: Vec<NewAuditEntry> = group.iter().map(|(e, _)| e.clone()).collect();
                match db.append_audit_group(&entries).await {
                    Ok(rows) => {
                        for ((_, tx), row) in group.into_iter().zip(rows) {
                            let _ = tx.send(Ok(row));
                        }
                    }
                    Err(e) => {
                        let why = e.to_string();
                        for (_, tx) in group {
                            let _ = tx
                                .send(Err(DbError::Database(sea_orm::DbErr::Custom(why.clone()))));
                        }
                    }
                }
            });
            // Ours was queued before the group was taken, so it is in it (or in an earlier
            // one, answered above).
            let _ = writer.await;
        }
    }

    /// Writes `entries` after the last one, chained in order, in one transaction; tried again
    /// when another process took one of the sequence numbers.
    async fn append_audit_group(&self, entries: &[NewAuditEntry]) -> Result<Vec<audit_log::Model>> {
        let mut last_error = None;
        for attempt in 0..APPEND_TRIES {
            let txn = self.conn.begin().await?;
            let last = audit_log::Entity::find()
                .order_by_desc(audit_log::Column::Seq)
                .limit(1)
                .one(&txn)
                .await?;
            let (mut seq, mut prev_hash) = match &last {
                Some(row) => (row.seq, row.hash.clone()),
                None => (0, GENESIS.to_string()),
            };
            let at = micros(now());
            let mut rows = Vec::with_capacity(entries.len());
            for entry in entries {
                seq += 1;
                let hash = entry_hash(seq, at, entry, &prev_hash);
                rows.push(audit_log::Model {
                    seq,
                    at,
                    actor: entry.actor.clone(),
                    role: entry.role.clone(),
                    ip: entry.ip.clone(),
                    request_id: entry.request_id.clone(),
                    operation: entry.operation.clone(),
                    outcome: entry.outcome.clone(),
                    detail: entry.detail.clone(),
                    hash: hash.clone(),
                    prev_hash: std::mem::replace(&mut prev_hash, hash),
                });
            }
            let mut written = Ok(());
            for chunk in rows.chunks(super::INSERT_CHUNK) {
                let models = chunk
                    .iter()
                    .cloned()
                    .map(IntoActiveModel::into_active_model);
                if let Err(e) = audit_log::Entity::insert_many(models)
                    .exec_without_returning(&txn)
                    .await
                {
                    written = Err(e);
                    break;
                }
            }
            match written {
                Ok(()) => match txn.commit().await {
                    Ok(()) => return Ok(rows),
                    Err(e) => last_error = Some(e),
                },
                Err(e) => {
                    txn.rollback().await?;
                    last_error = Some(e);
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(1 + attempt as u64)).await;
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
