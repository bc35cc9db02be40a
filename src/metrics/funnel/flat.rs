//! A worker's per-value tallies in flat arrays indexed by the breakdown value.
//!
//! A breakdown by a value with many keys (a post code of 100,000) records one patient per
//! scan into the tally of a value that is random from one patient to the next. As a
//! [`Tally`] per value that was a few cache and TLB misses a patient (the tally's vectors
//! and its multisets sit in separate heap blocks, tens of megabytes in all), the largest
//! cost of the reduce. Here a patient costs one increment in a dense array of levels (a
//! few megabytes) and, for each step it timed, an append to a log of `(value, seconds)`
//! that is written in order. The logs are grouped by value once, at the end, over all
//! workers, and each value becomes the same [`Tally`] recording would have given.

use std::ops::Range;

use super::par::{fan_out_owned, split};
use super::samples::Samples;
use super::scan::{Reach, ScanParams};
use super::state::{BreakdownKey, Tally};

/// The most level counters a flat store holds, `2^dim_bits * (steps + 1)`: 16 MB per worker.
/// A post code of 100,000 (17 bits) with four steps takes 655,360 (2.6 MB).
const FLAT_SLOTS: usize = 1 << 22;

/// Tallies per value `0..values` of one worker, as flat arrays.
pub(super) struct FlatTallies {
    /// Steps of the funnel.
    n: usize,
    /// Patients per value and final level, at `v * (n + 1) + level`. A worker records at
    /// most `patient_count <= u32::MAX` patients, so a count fits a `u32`.
    levels: Vec<u32>,
    /// Patients per value who did each optional step, at `v * n + k - 1`; empty when the
    /// funnel has no optional step.
    hits: Vec<u32>,
    /// Time-to-convert samples of step `k` as `(value, seconds)`, in `logs[k - 1]`.
    logs: Vec<Vec<(u32, u32)>>,
}

impl FlatTallies {
    /// A store for the values below `2^dim_bits`, `None` when their levels would take more
    /// than [`FLAT_SLOTS`] counters (the caller then keeps a map).
    pub(super) fn new(dim_bits: u32, p: &ScanParams) -> Option<Self> {
        let values = 1usize.checked_shl(dim_bits)?;
        if values.saturating_mul(p.n + 1) > FLAT_SLOTS {
            return None;
        }
        Some(FlatTallies {
            n: p.n,
            levels: vec![0; values * (p.n + 1)],
            hits: if p.optional == 0 {
                Vec::new()
            } else {
                vec![0; values * p.n]
            },
            logs: (0..p.n).map(|_| Vec::new()).collect(),
        })
    }

    /// Whether value `v` has a slot: every value of the layout's dimension does.
    #[inline]
    pub(super) fn covers(&self, v: u64) -> bool {
        usize::try_from(v).is_ok_and(|v| v < self.values())
    }

    fn values(&self) -> usize {
        self.levels.len() / (self.n + 1)
    }

    /// [`Tally::record`] of one patient into value `v`'s tally, which [`covers`](Self::covers)
    /// it.
    #[inline]
    pub(super) fn record(&mut self, v: u64, r: &Reach, p: &ScanParams) {
        let v = v as usize;
        if let Some(c) = self.levels.get_mut(v * (self.n + 1) + r.level()) {
            *c += 1;
        }
        r.for_each_timed(p, |k, seconds, optional| {
            if let Some(log) = self.logs.get_mut(k - 1) {
                // v < FLAT_SLOTS, which fits a u32.
                log.push((v as u32, seconds));
            }
            if optional && let Some(h) = self.hits.get_mut(v * self.n + k - 1) {
                *h += 1;
            }
        });
    }
}

/// One step's samples of every worker for the values `from..from + start.len() - 1`,
/// grouped by value: value `from + i`'s are `seconds[start[i]..start[i + 1]]`.
struct Grouped {
    /// A step's samples are at most the patients, `patient_count <= u32::MAX`.
    start: Vec<u32>,
    seconds: Vec<u32>,
}

/// A counting sort of step `s`'s logs by value, for the values in `range`: a count per
/// value, then each sample written to its value's next place.
fn group(stores: &[FlatTallies], s: usize, range: &Range<usize>) -> Grouped {
    let logs = || stores.iter().filter_map(move |f| f.logs.get(s));
    // Value `range.start + i` is entry `i`; values below the range wrap past its end.
    let index = |v: u32| Some((v as usize).wrapping_sub(range.start)).filter(|&i| i < range.len());
    let mut start = vec![0u32; range.len() + 1];
    for log in logs() {
        for &(v, _) in log {
            if let Some(c) = index(v).and_then(|i| start.get_mut(i + 1)) {
                *c += 1;
            }
        }
    }
    for i in 1..start.len() {
        start[i] += start[i - 1];
    }
    let mut next = start.clone();
    let mut seconds = vec![0u32; start.last().map_or(0, |&n| n as usize)];
    for log in logs() {
        for &(v, secs) in log {
            if let Some(at) = index(v).and_then(|i| next.get_mut(i)) {
                if let Some(out) = seconds.get_mut(*at as usize) {
                    *out = secs;
                }
                *at += 1;
            }
        }
    }
    Grouped { start, seconds }
}

/// Adds the stores' `n` counters of value `v` (at `v * n..`) into `out`.
fn add_counts(stores: &[FlatTallies], pick: fn(&FlatTallies) -> &[u32], v: usize, out: &mut [u64]) {
    let n = out.len();
    for f in stores {
        let part = pick(f).get(v * n..(v + 1) * n).unwrap_or(&[]);
        for (o, &c) in out.iter_mut().zip(part) {
            *o += u64::from(c);
        }
    }
}

/// What one share of the values becomes: their tallies in value order, and their sum.
struct Built {
    tallies: Vec<(BreakdownKey, Tally)>,
    levels: Vec<u64>,
    hits: Vec<u64>,
    seconds: Vec<Vec<u32>>,
}

/// The tallies of the values in `range` any patient was recorded into.
fn build(stores: &[FlatTallies], n: usize, range: Range<usize>) -> Built {
    let grouped: Vec<Grouped> = (0..n).map(|s| group(stores, s, &range)).collect();
    let mut levels = vec![0u64; n + 1];
    let mut hits = vec![0u64; n];
    let mut tallies = Vec::new();
    let mut by_level = vec![0u64; n + 1];
    for (i, v) in range.enumerate() {
        by_level.iter_mut().for_each(|c| *c = 0);
        add_counts(stores, |f| &f.levels, v, &mut by_level);
        if by_level.iter().all(|&c| c == 0) {
            continue;
        }
        let mut optional_hits = vec![0u64; n];
        add_counts(stores, |f| &f.hits, v, &mut optional_hits);
        for (t, c) in levels.iter_mut().zip(&by_level) {
            *t += c;
        }
        for (t, c) in hits.iter_mut().zip(&optional_hits) {
            *t += c;
        }
        let seconds = grouped
            .iter()
            .map(|g| {
                let (a, b) = (g.start.get(i), g.start.get(i + 1));
                let mine = a
                    .zip(b)
                    .and_then(|(&a, &b)| g.seconds.get(a as usize..b as usize));
                Samples::from_slice(mine.unwrap_or(&[]))
            })
            .collect();
        // v < FLAT_SLOTS, which fits a u64.
        let key = BreakdownKey::Value(v as u64);
        tallies.push((
            key,
            Tally::from_parts(by_level.clone(), optional_hits, seconds),
        ));
    }
    Built {
        tallies,
        levels,
        hits,
        seconds: grouped.into_iter().map(|g| g.seconds).collect(),
    }
}

/// The workers' stores as one tally per value any patient was recorded into, in value
/// order, and the sum of them all (the total of the values' patients). The values are
/// shared out among as many threads as there are stores.
pub(super) fn into_tallies(stores: Vec<FlatTallies>) -> (Vec<(BreakdownKey, Tally)>, Tally) {
    let Some(first) = stores.first() else {
        return (Vec::new(), Tally::default());
    };
    let (n, values) = (first.n, first.values());
    let shares = fan_out_owned(split(values, stores.len()), |r| build(&stores, n, r));
    let mut tallies = Vec::new();
    let mut levels = vec![0u64; n + 1];
    let mut hits = vec![0u64; n];
    let mut seconds: Vec<Samples> = (0..n).map(|_| Samples::default()).collect();
    for share in shares {
        tallies.extend(share.tallies);
        for (t, c) in levels.iter_mut().zip(share.levels) {
            *t += c;
        }
        for (t, c) in hits.iter_mut().zip(share.hits) {
            *t += c;
        }
        // The total's samples are every value's: each share's grouped arrays, moved.
        for (t, g) in seconds.iter_mut().zip(share.seconds) {
            t.absorb(Samples::from(g));
        }
    }
    (tallies, Tally::from_parts(levels, hits, seconds))
}
