//! Which rollup rows make up a time range: whole buckets of the coarsest size that fits,
//! finer ones at the edges, and raw predictions only for what is finer than the finest
//! bucket. The number of rows this reads is bounded by the range's shape, not by how many
//! predictions it holds.

use chrono::{DateTime, Utc};

use crate::DateTimeUtc;

/// Bucket starts `[from, to)` of rollup rows of one level (bucket size, in seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LevelRange {
    pub level: i64,
    pub from: i64,
    pub to: i64,
}

/// A time range as rollup rows plus raw time ranges (each shorter than the finest level).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cover {
    pub ranges: Vec<LevelRange>,
    pub raw: Vec<(DateTimeUtc, DateTimeUtc)>,
}

/// Stand-ins for an open end: far before and after any prediction, aligned on every level.
const FAR: i64 = 86_400 * 4_000_000;

/// Covers `[since, until)` (open ends when `None`) with buckets of `levels` (ascending, each a
/// multiple of the one before).
pub(crate) fn cover(
    since: Option<DateTimeUtc>,
    until: Option<DateTimeUtc>,
    levels: &[i64],
) -> Cover {
    let finest = levels[0];
    let mut out = Cover::default();
    let lo = since.map_or(-FAR, |a| ceil_to(a, finest));
    let hi = until.map_or(FAR, |b| floor_to(b, finest));
    if lo >= hi {
        if let (Some(a), Some(b)) = (since, until)
            && a < b
        {
            out.raw.push((a, b));
        }
        return out;
    }
    if let Some(a) = since
        && a < at(lo)
    {
        out.raw.push((a, at(lo)));
    }
    if let Some(b) = until
        && at(hi) < b
    {
        out.raw.push((at(hi), b));
    }
    split(lo, hi, levels, &mut out.ranges);
    out
}

/// `[lo, hi)`, aligned on `levels[0]`: the coarser levels' whole buckets inside, this
/// level's at both ends.
fn split(lo: i64, hi: i64, levels: &[i64], out: &mut Vec<LevelRange>) {
    let level = levels[0];
    let Some(&coarser) = levels.get(1) else {
        out.push(LevelRange {
            level,
            from: lo,
            to: hi,
        });
        return;
    };
    let (inner_lo, inner_hi) = (
        lo.div_euclid(coarser) * coarser
            + if lo.rem_euclid(coarser) == 0 {
                0
            } else {
                coarser
            },
        hi.div_euclid(coarser) * coarser,
    );
    if inner_lo >= inner_hi {
        out.push(LevelRange {
            level,
            from: lo,
            to: hi,
        });
        return;
    }
    if lo < inner_lo {
        out.push(LevelRange {
            level,
            from: lo,
            to: inner_lo,
        });
    }
    if inner_hi < hi {
        out.push(LevelRange {
            level,
            from: inner_hi,
            to: hi,
        });
    }
    split(inner_lo, inner_hi, &levels[1..], out);
}

/// The last multiple of `step` seconds at or before `t`.
pub(crate) fn floor_to(t: DateTimeUtc, step: i64) -> i64 {
    t.timestamp().div_euclid(step) * step
}

/// The first multiple of `step` seconds at or after `t`.
pub(crate) fn ceil_to(t: DateTimeUtc, step: i64) -> i64 {
    let floor = floor_to(t, step);
    if floor == t.timestamp() && t.timestamp_subsec_nanos() == 0 {
        floor
    } else {
        floor + step
    }
}

/// The time `seconds` after the Unix epoch.
pub(crate) fn at(seconds: i64) -> DateTimeUtc {
    DateTime::<Utc>::from_timestamp(seconds, 0).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [i64; 4] = [5, 60, 3600, 86_400];

    fn t(s: i64, ms: u32) -> DateTimeUtc {
        DateTime::<Utc>::from_timestamp(s, ms * 1_000_000).unwrap()
    }

    /// Every second of `[a, b)` (in whole seconds) is covered exactly once.
    fn covered_once(c: &Cover, a: i64, b: i64) {
        let mut seen = vec![0u32; (b - a) as usize];
        for r in &c.ranges {
            assert_eq!(r.from.rem_euclid(r.level), 0);
            assert_eq!(r.to.rem_euclid(r.level), 0);
            for s in r.from..r.to {
                seen[(s - a) as usize] += 1;
            }
        }
        for (x, y) in &c.raw {
            for s in x.timestamp()..y.timestamp() {
                seen[(s - a) as usize] += 1;
            }
        }
        assert!(seen.iter().all(|n| *n == 1), "{c:?}");
    }

    #[test]
    fn ranges_cover_every_second_once_with_few_rows() {
        let day = 86_400;
        for (a, b) in [
            (0, 10),
            (3, 4),
            (7, 3 * day + 3_725),
            (day - 1, 2 * day + 1),
            (59, 3_601),
            (10 * day + 12_345, 40 * day + 54_321),
        ] {
            let c = cover(Some(t(a, 0)), Some(t(b, 0)), &LEVELS);
            covered_once(&c, a, b);
            let rows: i64 = c.ranges.iter().map(|r| (r.to - r.from) / r.level).sum();
            // At most 11 + 59 + 23 on each side, plus the days.
            assert!(
                rows <= 2 * (11 + 59 + 23) + (b - a) / day,
                "{rows} rows for {a}..{b}"
            );
            assert!(c.raw.iter().all(|(x, y)| (*y - *x).num_seconds() < 5));
        }
    }

    #[test]
    fn fractions_of_a_second_are_read_raw() {
        let c = cover(Some(t(100, 250)), Some(t(200, 500)), &LEVELS);
        assert_eq!(
            c.raw,
            vec![(t(100, 250), t(105, 0)), (t(200, 0), t(200, 500))]
        );
        assert_eq!(
            c.ranges,
            vec![
                LevelRange {
                    level: 5,
                    from: 105,
                    to: 120
                },
                LevelRange {
                    level: 5,
                    from: 180,
                    to: 200
                },
                LevelRange {
                    level: 60,
                    from: 120,
                    to: 180
                },
            ]
        );
        let c = cover(Some(t(100, 250)), Some(t(100, 750)), &LEVELS);
        assert_eq!(c.raw, vec![(t(100, 250), t(100, 750))]);
        assert!(c.ranges.is_empty());
    }

    #[test]
    fn open_ends_read_the_coarsest_level_only() {
        let c = cover(None, None, &LEVELS);
        assert_eq!(c.ranges.len(), 1);
        assert_eq!(c.ranges[0].level, 86_400);
        assert!(c.raw.is_empty());
        let c = cover(Some(t(86_400 * 3 + 7, 0)), None, &LEVELS);
        assert_eq!(c.raw.len(), 1);
        assert_eq!(c.ranges.last().unwrap().level, 86_400);
    }
}
