//! The pipeline feed: what became durable, in commit order. Writers append in the transaction of
//! the change they tell of; live subscriptions read it from a cursor.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::entities::pipeline_feed::{self, FeedKind};
use crate::{DateTimeUtc, Db, Result, now};

/// Key of the PostgreSQL advisory lock that orders the feed's writers (any constant other
/// writers of the database do not use; the migration lock is another).
const FEED_LOCK_KEY: i64 = 0x7669_7369_6f6e_6665; // "visionfe"

/// One row to append.
#[derive(Clone, Debug)]
pub(crate) struct FeedEntry {
    pub kind: FeedKind,
    pub image_id: Uuid,
    pub model: Option<String>,
    pub model_version: Option<String>,
    pub prediction_id: Option<Uuid>,
}

impl FeedEntry {
    pub fn image(kind: FeedKind, image_id: Uuid) -> Self {
        Self {
            kind,
            image_id,
            model: None,
            model_version: None,
            prediction_id: None,
        }
    }
}

/// Appends `entries` inside the caller's transaction `txn`, as its last write.
///
/// On PostgreSQL two transactions may draw sequence numbers in one order and commit in the
/// other, and a reader at the higher number would never see the lower one. The advisory lock,
/// held until commit, makes the writers draw and commit one after the other: the order of
/// `seq` is the order of commits. It is taken last, so it is held only for this insert and the
/// commit. SQLite has one writer at a time already.
pub(crate) async fn append<C: ConnectionTrait>(txn: &C, entries: Vec<FeedEntry>) -> Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({FEED_LOCK_KEY})"))
            .await?;
    }
    let at = now();
    let rows = entries.into_iter().map(|e| pipeline_feed::ActiveModel {
        seq: NotSet,
        at: Set(at),
        kind: Set(e.kind),
        image_id: Set(e.image_id),
        model: Set(e.model),
        model_version: Set(e.model_version),
        prediction_id: Set(e.prediction_id),
    });
    for group in super::insert_groups(rows) {
        pipeline_feed::Entity::insert_many(group)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

impl Db {
    /// The feed's rows after `after` (exclusive), oldest first, at most `limit`.
    pub async fn feed_after(&self, after: i64, limit: u64) -> Result<Vec<pipeline_feed::Model>> {
        Ok(pipeline_feed::Entity::find()
            .filter(pipeline_feed::Column::Seq.gt(after))
            .order_by_asc(pipeline_feed::Column::Seq)
            .limit(limit)
            .all(&self.conn)
            .await?)
    }

    /// The newest row's number (0 while the feed is empty).
    pub async fn feed_head(&self) -> Result<i64> {
        let head: Option<Option<i64>> = pipeline_feed::Entity::find()
            .select_only()
            .column_as(pipeline_feed::Column::Seq.max(), "head")
            .into_tuple()
            .one(&self.conn)
            .await?;
        Ok(head.flatten().unwrap_or(0))
    }

    /// The oldest row still kept (`None` while the feed is empty).
    pub async fn feed_oldest(&self) -> Result<Option<i64>> {
        let oldest: Option<Option<i64>> = pipeline_feed::Entity::find()
            .select_only()
            .column_as(pipeline_feed::Column::Seq.min(), "oldest")
            .into_tuple()
            .one(&self.conn)
            .await?;
        Ok(oldest.flatten())
    }

    /// Deletes at most `batch` rows written before `before`, oldest first; returns how many.
    /// Retention calls it in a loop, so that no one statement holds the write lock long.
    pub async fn purge_feed_before(&self, before: DateTimeUtc, batch: u64) -> Result<u64> {
        let last: Option<i64> = pipeline_feed::Entity::find()
            .select_only()
            .column(pipeline_feed::Column::Seq)
            .filter(pipeline_feed::Column::At.lt(before))
            .order_by_asc(pipeline_feed::Column::Seq)
            .offset(batch.saturating_sub(1))
            .limit(1)
            .into_tuple()
            .one(&self.conn)
            .await?;
        let mut delete =
            pipeline_feed::Entity::delete_many().filter(pipeline_feed::Column::At.lt(before));
        if let Some(last) = last {
            delete = delete.filter(Expr::col(pipeline_feed::Column::Seq).lte(last));
        }
        Ok(delete.exec(&self.conn).await?.rows_affected)
    }
}
