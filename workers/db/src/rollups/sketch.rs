//! A mergeable latency sketch with a guaranteed relative error: DDSketch's logarithmic
//! buckets (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable quantile sketch with
//! relative-error guarantees", VLDB 2019), without its bucket collapsing, which latencies of
//! a few orders of magnitude never need.
//!
//! A value `x > 0` is counted in bucket `k = ceil(log_gamma(x))`, which holds
//! `(gamma^(k-1), gamma^k]`; the bucket's estimate `2 gamma^k / (gamma + 1)` is within
//! [`RELATIVE_ERROR`] of every value in it. Counts only: two sketches merge (and a sketch
//! is taken out of another) by adding (subtracting) counts, exactly, so rollups of any
//! time range merge into the sketch of all its values.

/// Largest relative error of a percentile read from a sketch, against the value at the
/// same rank among the raw values.
pub const RELATIVE_ERROR: f64 = 0.01;

/// Values at or below this many milliseconds (a picosecond) are counted as zero.
const MIN_VALUE: f64 = 1e-9;

/// Version byte of the encoding.
const ENCODING: u8 = 1;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ERROR) / (1.0 - RELATIVE_ERROR)
}

/// Counts of values per logarithmic bucket, kept dense between the lowest and the highest
/// bucket used (latencies span a few hundred buckets at most): merging is adding arrays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LatencySketch {
    /// Values at or below [`MIN_VALUE`] (and non-finite ones, which the database refuses
    /// anyway).
    zeros: u64,
    /// Key of `counts[0]`.
    offset: i32,
    /// Counts of the buckets `offset..offset + len`; empty, or with a count at both ends (so
    /// that equal sketches are equal values).
    counts: Vec<u64>,
}

/// Widest span of bucket keys a sketch may have: every finite value above [`MIN_VALUE`] falls
/// within about 36,600 buckets; a wider encoded sketch is corrupt.
const MAX_SPAN: i64 = 40_000;

/// An encoded sketch that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("corrupt latency sketch: {0}")]
pub struct CorruptSketch(&'static str);

impl LatencySketch {
    fn key(x: f64) -> Option<i32> {
        (x.is_finite() && x > MIN_VALUE).then(|| (x.ln() / gamma().ln()).ceil() as i32)
    }

    fn estimate(key: i32) -> f64 {
        let g = gamma();
        2.0 * g.powi(key) / (g + 1.0)
    }

    /// Makes room for the keys `lo..=hi`.
    fn cover(&mut self, lo: i32, hi: i32) {
        if self.counts.is_empty() {
            self.offset = lo;
            self.counts = vec![0; (hi - lo + 1) as usize];
            return;
        }
        if lo < self.offset {
            let grow = (self.offset - lo) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = lo;
        }
        let end = self.offset + self.counts.len() as i32;
        if hi >= end {
            self.counts
                .resize(self.counts.len() + (hi - end + 1) as usize, 0);
        }
    }

    /// Drops empty buckets at both ends.
    fn trim(&mut self) {
        let Some(first) = self.counts.iter().position(|n| *n > 0) else {
            self.counts.clear();
            self.offset = 0;
            return;
        };
        let last = self.counts.iter().rposition(|n| *n > 0).unwrap_or(first);
        self.counts.truncate(last + 1);
        self.counts.drain(..first);
        self.offset += first as i32;
    }

    /// The (key, count) of every bucket used, ascending.
    fn buckets(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (self.offset + i as i32, *n))
    }

    /// Counts one value.
    pub fn add(&mut self, x: f64) {
        match Self::key(x) {
            Some(k) => {
                self.cover(k, k);
                self.counts[(k - self.offset) as usize] += 1;
            }
            None => self.zeros += 1,
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &LatencySketch) {
        self.zeros += other.zeros;
        if other.counts.is_empty() {
            return;
        }
        self.cover(other.offset, other.offset + other.counts.len() as i32 - 1);
        let start = (other.offset - self.offset) as usize;
        for (mine, theirs) in self.counts[start..].iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// Takes `other`'s counts out (values removed from the range this sketch covers).
    /// Counts stop at zero: taking out what was never added is a caller's bug, and a sketch
    /// stays usable.
    pub fn subtract(&mut self, other: &LatencySketch) {
        self.zeros = self.zeros.saturating_sub(other.zeros);
        for (k, n) in other.buckets() {
            let i = i64::from(k) - i64::from(self.offset);
            if let Some(have) = usize::try_from(i).ok().and_then(|i| self.counts.get_mut(i)) {
                *have = have.saturating_sub(n);
            }
        }
        self.trim();
    }

    /// Number of values counted.
    pub fn count(&self) -> u64 {
        self.zeros + self.counts.iter().sum::<u64>()
    }

    /// Estimate of the value at 1-based `rank` among the counted values in ascending order
    /// (the nearest-rank percentile when `rank` is [`nearest_rank`](crate::nearest_rank)'s);
    /// 0 when the sketch is empty.
    pub fn value_at_rank(&self, rank: u64) -> f64 {
        let mut seen = self.zeros;
        if rank <= seen {
            return 0.0;
        }
        let mut last = 0.0;
        for (k, n) in self.buckets() {
            seen += n;
            last = Self::estimate(k);
            if rank <= seen {
                return last;
            }
        }
        last
    }

    /// A compact encoding: version, zeros, then each bucket used as the zigzag delta of its
    /// key and its count, all LEB128.
    pub fn encode(&self) -> Vec<u8> {
        let used = self.buckets().count();
        let mut out = Vec::with_capacity(4 + used * 3);
        out.push(ENCODING);
        put_varint(&mut out, self.zeros);
        put_varint(&mut out, used as u64);
        let mut prev = 0i64;
        for (k, n) in self.buckets() {
            let delta = i64::from(k) - prev;
            put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
            put_varint(&mut out, n);
            prev = i64::from(k);
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptSketch> {
        let (&version, mut rest) = bytes.split_first().ok_or(CorruptSketch("empty"))?;
        if version != ENCODING {
            return Err(CorruptSketch("unknown version"));
        }
        let zeros = take_varint(&mut rest)?;
        let len = take_varint(&mut rest)?;
        let mut buckets = Vec::with_capacity(len.min(MAX_SPAN as u64) as usize);
        let mut prev = 0i64;
        for i in 0..len {
            let z = take_varint(&mut rest)?;
            let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
            if i > 0 && delta <= 0 {
                return Err(CorruptSketch("keys not ascending"));
            }
            let key = prev
                .checked_add(delta)
                .and_then(|k| i32::try_from(k).ok())
                .ok_or(CorruptSketch("key out of range"))?;
            buckets.push((key, take_varint(&mut rest)?));
            prev = i64::from(key);
        }
        if !rest.is_empty() {
            return Err(CorruptSketch("trailing bytes"));
        }
        let mut sketch = Self {
            zeros,
            ..Self::default()
        };
        if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
            if i64::from(last.0) - i64::from(first.0) >= MAX_SPAN {
                return Err(CorruptSketch("keys too far apart"));
            }
            sketch.cover(first.0, last.0);
            for (k, n) in buckets {
                sketch.counts[(k - sketch.offset) as usize] = n;
            }
            sketch.trim();
        }
        Ok(sketch)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(bytes: &mut &[u8]) -> Result<u64, CorruptSketch> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes.split_first().ok_or(CorruptSketch("truncated"))?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CorruptSketch("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nearest_rank;

    /// A deterministic spread over six orders of magnitude, with repeats and zeros.
    fn values(n: u64, seed: u64) -> Vec<f64> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                if u < 0.01 {
                    0.0
                } else {
                    10f64.powf(u * 6.0 - 3.0)
                }
            })
            .collect()
    }

    #[test]
    fn every_percentile_is_within_the_relative_error() {
        for (n, seed) in [(1u64, 1u64), (2, 2), (17, 3), (1000, 4), (20_000, 5)] {
            let raw = values(n, seed);
            let mut sketch = LatencySketch::default();
            raw.iter().for_each(|x| sketch.add(*x));
            let mut sorted = raw.clone();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(sketch.count(), n);
            for p in 1..=100 {
                let rank = nearest_rank(p, n);
                let exact = sorted[(rank - 1) as usize];
                let got = sketch.value_at_rank(rank);
                if exact <= MIN_VALUE {
                    assert_eq!(got, 0.0);
                } else {
                    let err = (got - exact).abs() / exact;
                    assert!(
                        err <= RELATIVE_ERROR + 1e-12,
                        "p{p} of {n}: {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn merging_equals_sketching_everything_and_subtracting_undoes_it() {
        let (a, b) = (values(500, 7), values(800, 8));
        let (mut sa, mut sb, mut all) = Default::default();
        a.iter().for_each(|x| LatencySketch::add(&mut sa, *x));
        b.iter().for_each(|x| LatencySketch::add(&mut sb, *x));
        a.iter()
            .chain(&b)
            .for_each(|x| LatencySketch::add(&mut all, *x));
        let mut merged: LatencySketch = sa.clone();
        merged.merge(&sb);
        assert_eq!(merged, all);
        merged.subtract(&sb);
        assert_eq!(merged, sa);
        merged.subtract(&sa);
        assert_eq!(merged, LatencySketch::default());
    }

    #[test]
    fn encoding_round_trips_and_refuses_garbage() {
        let mut s = LatencySketch::default();
        values(3000, 9).iter().for_each(|x| s.add(*x));
        let bytes = s.encode();
        assert_eq!(LatencySketch::decode(&bytes).unwrap(), s);
        assert!(bytes.len() < 2_000, "{} bytes", bytes.len());
        assert_eq!(
            LatencySketch::decode(&LatencySketch::default().encode()).unwrap(),
            LatencySketch::default()
        );
        assert!(LatencySketch::decode(&[]).is_err());
        assert!(LatencySketch::decode(&[2, 0, 0]).is_err());
        // Two buckets two billion keys apart would allocate gigabytes: refused.
        let mut far = vec![ENCODING, 0, 2];
        put_varint(
            &mut far,
            (i64::from(-1_000_000_000i32) << 1 ^ (-1i64 >> 63)) as u64,
        );
        put_varint(&mut far, 1);
        put_varint(&mut far, 4_000_000_000);
        put_varint(&mut far, 1);
        assert!(LatencySketch::decode(&far).is_err());
        assert!(LatencySketch::decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(LatencySketch::decode(&longer).is_err());
    }
}
