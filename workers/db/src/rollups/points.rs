//! Closed time-series points kept in memory. A dashboard asks for the same series every
//! second (per viewer), and all but its newest points cover time that is over: their rollup
//! rows no longer change unless predictions are taken out (a deleted image, retention) or
//! added with an old time, or the rollups are rebuilt. Each of those bumps the rollups'
//! generation (`stats_rollup_state.generation`, in the same transaction); a point is kept
//! with the generation it was read at and used only while the generation is unchanged, so a
//! process never serves a point that another process has changed since.
//!
//! A point is closed once its end is [`CLOSED_AFTER`] (2 minutes) in the past; a recording of
//! a prediction older than half that bumps the generation. Predictions are recorded with the
//! recording process's clock, so the other half covers clocks that disagree between processes
//! (by far less than a minute with NTP) and the time between a recording's `apply` and its
//! commit.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::TimeDelta;
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, Query};

use super::read::Figures;
use crate::{DateTimeUtc, Result};

/// How long after its end a time-series point is taken as closed.
pub const CLOSED_AFTER: TimeDelta = TimeDelta::seconds(120);

/// Points (one model each) kept at most; the oldest kept are dropped first. A point holds a
/// latency sketch (~1 KB at most), so this bounds the memory at ~20 MB.
const CAPACITY: usize = 20_000;

/// Most points one read looks up (a longer series is read from the rows).
pub(crate) const MOST_LOOKED_UP: i64 = 5_000;

/// Models' figures in one point: `(bucket size, start)` -> figures per model.
type Point = Arc<Vec<(String, Figures)>>;

#[derive(Debug, Default)]
pub(crate) struct PointCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    generation: i64,
    points: HashMap<(i64, i64), Point>,
    /// Insertion order, for eviction.
    order: VecDeque<(i64, i64)>,
    /// Model entries held (empty points count one).
    held: usize,
}

/// What a read can take from the cache: the closed whole points of `[first, end)`.
#[derive(Debug)]
pub(crate) struct Lookup {
    pub hits: Vec<(i64, Point)>,
    /// Point starts `[from, to)` to read from the rows (each a run of misses).
    pub misses: Vec<(i64, i64)>,
}

impl PointCache {
    /// The cached points among the whole, closed points `[first, end)` of size `bucket` (starts
    /// aligned on it), at `generation`; everything is a miss when the cache holds another
    /// generation (a newer one: this read's snapshot is older; an older one: it is dropped).
    pub(crate) fn lookup(&self, generation: i64, bucket: i64, first: i64, end: i64) -> Lookup {
        let mut out = Lookup {
            hits: Vec::new(),
            misses: Vec::new(),
        };
        if first >= end {
            return out;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation < generation {
            *inner = Inner {
                generation,
                ..Inner::default()
            };
        }
        let usable = inner.generation == generation;
        let mut s = first;
        while s < end {
            match usable.then(|| inner.points.get(&(bucket, s))).flatten() {
                Some(point) => out.hits.push((s, point.clone())),
                None => match out.misses.last_mut() {
                    Some((_, to)) if *to == s => *to = s + bucket,
                    _ => out.misses.push((s, s + bucket)),
                },
            }
            s += bucket;
        }
        out
    }

    /// Keeps the points read at `generation` (when it is still the cache's).
    pub(crate) fn insert(&self, generation: i64, bucket: i64, points: Vec<(i64, Point)>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            return;
        }
        for (start, point) in points {
            let weight = point.len().max(1);
            if inner.points.insert((bucket, start), point).is_none() {
                inner.order.push_back((bucket, start));
                inner.held += weight;
            }
        }
        while inner.held > CAPACITY {
            let Some(key) = inner.order.pop_front() else {
                break;
            };
            if let Some(point) = inner.points.remove(&key) {
                inner.held -= point.len().max(1);
            }
        }
    }
}

fn state() -> Alias {
    Alias::new("stats_rollup_state")
}

/// The rollups' generation, in `conn`'s snapshot.
pub(crate) async fn generation<C: ConnectionTrait>(conn: &C) -> Result<i64> {
    let mut q = Query::select();
    q.from(state())
        .column(Alias::new("generation"))
        .and_where(Expr::col(Alias::new("id")).eq(1));
    let row = conn
        .query_one(conn.get_database_backend().build(&q))
        .await?;
    Ok(match row {
        Some(row) => row.try_get("", "generation")?,
        None => 0,
    })
}

/// Marks closed points as changed, in the transaction that changes them. On SQLite this is
/// also the write that takes the write lock.
pub(crate) async fn bump_generation<C: ConnectionTrait>(txn: &C) -> Result<()> {
    let mut q = Query::update();
    q.table(state())
        .value(
            Alias::new("generation"),
            Expr::col(Alias::new("generation")).add(1),
        )
        .and_where(Expr::col(Alias::new("id")).eq(1));
    txn.execute(txn.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Whether adding a prediction made at `at` must bump the generation: it is older than half
/// the margin. A recording of the present never is, and a reader only closes points that
/// ended [`CLOSED_AFTER`] ago, so the other half is what clocks and commits may lag by.
pub(crate) fn may_be_closed(at: DateTimeUtc, now: DateTimeUtc) -> bool {
    at < now - CLOSED_AFTER / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: usize) -> Point {
        Arc::new(
            (0..n)
                .map(|i| (format!("m{i}"), Figures::default()))
                .collect(),
        )
    }

    #[test]
    fn hits_and_runs_of_misses() {
        let cache = PointCache::default();
        let l = cache.lookup(0, 10, 100, 200);
        assert!(l.hits.is_empty());
        assert_eq!(l.misses, vec![(100, 200)]);
        cache.insert(
            0,
            10,
            vec![(120, point(2)), (130, point(0)), (170, point(1))],
        );
        let l = cache.lookup(0, 10, 100, 200);
        assert_eq!(
            l.hits.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
            vec![120, 130, 170]
        );
        assert_eq!(l.misses, vec![(100, 120), (140, 170), (180, 200)]);
        // Another bucket size shares nothing.
        assert_eq!(cache.lookup(0, 20, 100, 200).misses, vec![(100, 200)]);
    }

    #[test]
    fn another_generation_is_never_served() {
        let cache = PointCache::default();
        cache.insert(0, 10, vec![(100, point(1))]);
        assert_eq!(cache.lookup(0, 10, 100, 110).hits.len(), 1);
        // A newer generation drops what was kept.
        assert!(cache.lookup(1, 10, 100, 110).hits.is_empty());
        // What a read of the older snapshot brings back is not kept.
        cache.insert(0, 10, vec![(100, point(1))]);
        assert!(cache.lookup(1, 10, 100, 110).hits.is_empty());
        assert!(cache.lookup(0, 10, 100, 110).hits.is_empty());
        cache.insert(1, 10, vec![(100, point(1))]);
        assert_eq!(cache.lookup(1, 10, 100, 110).hits.len(), 1);
    }

    #[test]
    fn memory_is_bounded_oldest_first() {
        let cache = PointCache::default();
        let n = (CAPACITY / 3 + 10) as i64;
        cache.insert(0, 5, (0..n).map(|i| (i * 5, point(3))).collect());
        let l = cache.lookup(0, 5, 0, n * 5);
        assert!(l.hits.len() * 3 <= CAPACITY);
        assert_eq!(l.misses.first(), Some(&(0, 50)), "the oldest went first");
    }
}
