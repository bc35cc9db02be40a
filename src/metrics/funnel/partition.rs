//! The first two passes of the engine: row chunks to records grouped by patient bucket.
//!
//! - **Stats** (measured path only): which rows are funnel events, the time range, and how
//!   many records each bucket gets, so the partition can size every bucket exactly.
//! - **Partition**: each matching row becomes one packed integer per step it matches,
//!   written to its bucket. Writes go to a few hundred sequential streams, not to random
//!   places in a big array, so they stay in cache. The fixed path skips the stats pass with
//!   a fixed 40-bit time field and growable buckets.

use super::FunnelError;
use super::columns::Input;
use super::scan::{EXCL_K, Layout, OTHER_K, Rec};
use super::spec::EXCLUSION_BIT;

/// Patients per bucket, as a power of two: 4,096 patients with ~5 events each is a buffer
/// of ~160 KB, well inside L2.
pub(super) const BUCKET_SHIFT: u32 = 12;
pub(super) const STEP_BITS: u64 = (1 << 32) - 1;

/// How many records a row with this mask becomes.
#[inline(always)]
pub(super) fn emits(mask: u64, strict_order: bool) -> u32 {
    let steps = (mask & STEP_BITS).count_ones();
    steps + u32::from(mask & EXCLUSION_BIT != 0) + u32::from(strict_order && steps == 0)
}

/// Whether a row with this mask becomes any record: `emits(..) > 0` without the bit count,
/// which the baseline x86-64 target has no instruction for.
#[inline(always)]
pub(super) fn emits_any(mask: u64, strict_order: bool) -> bool {
    strict_order || mask & (STEP_BITS | EXCLUSION_BIT) != 0
}

/// Refuses row `row` when its patient `p` is not below the input's patient count.
#[inline(always)]
fn check_patient(input: &Input<'_>, row: usize, p: u32) -> Result<(), FunnelError> {
    if p >= input.patient_count {
        return Err(FunnelError::PatientOutOfRange {
            row,
            patient: p,
            patient_count: input.patient_count,
        });
    }
    Ok(())
}

pub(super) struct Stats {
    pub(super) min: i64,
    pub(super) max: i64,
    pub(super) dim_max: u32,
    pub(super) hist: Vec<u32>,
}

pub(super) fn stats(
    input: &Input<'_>,
    mask_of: impl Fn(usize) -> u64,
    rows: std::ops::Range<usize>,
    so: bool,
    buckets: usize,
) -> Result<Stats, FunnelError> {
    let mut s = Stats {
        min: i64::MAX,
        max: i64::MIN,
        dim_max: 0,
        hist: vec![0; buckets],
    };
    let (Some(pat), Some(at)) = (input.patient.get(rows.clone()), input.at.get(rows.clone()))
    else {
        return Ok(s);
    };
    for (j, (&p, &t)) in pat.iter().zip(at).enumerate() {
        let i = rows.start + j;
        check_patient(input, i, p)?;
        let e = emits(mask_of(i), so);
        if e == 0 {
            continue;
        }
        if let Some(h) = s.hist.get_mut((p >> BUCKET_SHIFT) as usize) {
            *h += e;
        }
        s.min = s.min.min(t);
        s.max = s.max.max(t);
        if let Some(d) = input.dim.and_then(|d| d.get(i)) {
            s.dim_max = s.dim_max.max(*d);
        }
    }
    Ok(s)
}

pub(super) struct Partition<R> {
    recs: Vec<R>,
    /// Start of each bucket in `recs`, plus the end.
    starts: Vec<usize>,
}

pub(super) fn partition<R: Rec>(
    input: &Input<'_>,
    mask_of: impl Fn(usize) -> u64,
    rows: std::ops::Range<usize>,
    so: bool,
    l: &Layout,
    origin: i64,
    hist: &[u32],
) -> Partition<R> {
    let mut starts = Vec::with_capacity(hist.len() + 1);
    let mut acc = 0usize;
    for &h in hist {
        starts.push(acc);
        acc += h as usize;
    }
    starts.push(acc);
    let mut next = starts.clone();
    let mut recs = vec![R::default(); acc];
    let lmask = (1u32 << BUCKET_SHIFT) - 1;
    let (Some(pat), Some(at)) = (input.patient.get(rows.clone()), input.at.get(rows.clone()))
    else {
        return Partition { recs, starts };
    };
    for (j, (&p, &t)) in pat.iter().zip(at).enumerate() {
        let i = rows.start + j;
        let mask = mask_of(i);
        if !emits_any(mask, so) {
            continue;
        }
        let Some(pos) = next.get_mut((p >> BUCKET_SHIFT) as usize) else {
            continue;
        };
        // t >= origin, so the wrapping difference is the true one and fits in u64.
        let ts = t.wrapping_sub(origin) as u64;
        let local = u64::from(p & lmask);
        let dim = input
            .dim
            .and_then(|d| d.get(i))
            .map_or(0, |&d| u64::from(d));
        for_each_code(mask, so, |k| {
            if let Some(slot) = recs.get_mut(*pos) {
                *slot = R::pack(l, local, ts, k, dim);
            }
            *pos += 1;
        });
    }
    Partition { recs, starts }
}

/// Calls `put` with the step code of each record a row with this mask becomes, in the
/// order both partition passes write them: a non-step marker (`strict_order` only), the
/// steps from the lowest, then the exclusion.
#[inline(always)]
pub(super) fn for_each_code(mask: u64, strict_order: bool, mut put: impl FnMut(u64)) {
    let mut steps = mask & STEP_BITS;
    if steps == 0 && strict_order {
        put(OTHER_K);
    }
    while steps != 0 {
        let k = u64::from(steps.trailing_zeros()) + 1;
        steps &= steps - 1;
        put(k);
    }
    if mask & EXCLUSION_BIT != 0 {
        put(EXCL_K);
    }
}

/// Records grouped by bucket: one buffer with bucket offsets, or one buffer per bucket.
pub(super) trait Segments<R>: Send {
    fn seg(&self, bucket: usize) -> &[R];
    /// Frees the records of `bucket` once they are reduced, where they are owned.
    fn release(&mut self, _bucket: usize) {}
}

impl<R: Rec> Segments<R> for &Partition<R> {
    fn seg(&self, b: usize) -> &[R] {
        match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&s), Some(&e)) => self.recs.get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }
}

/// One partition's buckets `first..`, owned by the worker that reduces them.
pub(super) struct Owned {
    pub(super) first: usize,
    pub(super) buckets: Vec<Vec<u64>>,
}

impl Segments<u64> for Owned {
    fn seg(&self, b: usize) -> &[u64] {
        b.checked_sub(self.first)
            .and_then(|i| self.buckets.get(i))
            .map_or(&[], |v| &v[..])
    }

    fn release(&mut self, b: usize) {
        if let Some(v) = b
            .checked_sub(self.first)
            .and_then(|i| self.buckets.get_mut(i))
        {
            *v = Vec::new();
        }
    }
}

/// Timestamp bits of the fixed layout: ±17,000 years around the first event.
pub(super) const FIXED_TS_BITS: u32 = 40;
/// The fixed layout as a constant, so that the partition's shifts are immediates.
pub(super) const FIXED_LAYOUT: Layout = Layout::new(0, FIXED_TS_BITS, BUCKET_SHIFT);

/// The partition pass without a stats pass: a fixed layout (no breakdown value in the
/// records), one growable buffer per bucket. `Ok(None)` when a timestamp falls outside the
/// fixed range, and the caller takes the measured path instead.
pub(super) fn partition_fixed(
    input: &Input<'_>,
    mask_of: impl Fn(usize) -> u64,
    rows: std::ops::Range<usize>,
    so: bool,
    origin: i64,
    buckets: usize,
) -> Result<Option<Vec<Vec<u64>>>, FunnelError> {
    let per = rows.len() / buckets.max(1);
    // No slack for sparse ids: an empty bucket then allocates nothing.
    let hint = per + per / 8;
    let mut out: Vec<Vec<u64>> = (0..buckets).map(|_| Vec::with_capacity(hint)).collect();
    let lmask = (1u32 << BUCKET_SHIFT) - 1;
    let limit = (1u64 << FIXED_TS_BITS) - 1;
    let l = &FIXED_LAYOUT;
    let (Some(pat), Some(at)) = (input.patient.get(rows.clone()), input.at.get(rows.clone()))
    else {
        return Ok(Some(out));
    };
    for (j, (&p, &t)) in pat.iter().zip(at).enumerate() {
        let i = rows.start + j;
        check_patient(input, i, p)?;
        let mask = mask_of(i);
        if !emits_any(mask, so) {
            continue;
        }
        let ts = t.wrapping_sub(origin) as u64;
        if ts > limit {
            return Ok(None);
        }
        let b = (p >> BUCKET_SHIFT) as usize;
        let local = u64::from(p & lmask);
        let Some(bucket) = out.get_mut(b) else {
            continue;
        };
        // The fixed layout has no dimension, so a record is the row's base | its step code.
        let base = u64::pack(l, local, ts, 0, 0);
        let steps = mask & STEP_BITS;
        if mask & EXCLUSION_BIT == 0 && steps != 0 && steps & (steps - 1) == 0 {
            // The usual row: exactly one step.
            bucket.push(base | u64::pack(l, 0, 0, u64::from(steps.trailing_zeros()) + 1, 0));
            continue;
        }
        for_each_code(mask, so, |k| bucket.push(base | u64::pack(l, 0, 0, k, 0)));
    }
    Ok(Some(out))
}
