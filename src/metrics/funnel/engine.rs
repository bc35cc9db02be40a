//! The columnar engine: rows in any order to a [`FunnelState`], in three passes.
//!
//! 1. **Stats** (rows split in chunks): which rows are funnel events, the time range, and
//!    how many records each patient bucket gets. A bucket is 4,096 consecutive patient ids.
//! 2. **Partition** (same chunks): each matching row becomes one packed integer per step it
//!    matches, written to its bucket. Writes go to a few hundred sequential streams, not to
//!    random places in a big array, so they stay in cache.
//! 3. **Reduce** (buckets split in ranges): per bucket, a counting sort by patient into a
//!    buffer that fits in L2, then per patient a tiny sort and the scan.
//!
//! Chunks and bucket ranges are independent, so with the `parallel` feature they run on
//! scoped threads; without it the same code runs them one after the other.

use std::collections::BTreeMap;

use super::FunnelError;
pub(crate) use super::columns::{Input, Masks};
use super::par::{balance, fan_out, for_each_owned, split};
use super::scan::{self, EXCL_K, Layout, OTHER_K, Reach, Rec, ScanParams};
use super::spec::{EXCLUSION_BIT, FunnelMode, FunnelSpec};
use super::state::{BreakdownKey, FunnelState, Tally, sort_samples};

/// Patients per bucket, as a power of two: 4,096 patients with ~5 events each is a buffer
/// of ~160 KB, well inside L2.
const BUCKET_SHIFT: u32 = 12;
const STEP_BITS: u64 = (1 << 32) - 1;

/// How many records a row with this mask becomes.
#[inline(always)]
fn emits(mask: u64, strict_order: bool) -> u32 {
    let steps = (mask & STEP_BITS).count_ones();
    steps + u32::from(mask & EXCLUSION_BIT != 0) + u32::from(strict_order && steps == 0)
}

/// Whether a row with this mask becomes any record: `emits(..) > 0` without the bit count,
/// which the baseline x86-64 target has no instruction for.
#[inline(always)]
fn emits_any(mask: u64, strict_order: bool) -> bool {
    strict_order || mask & (STEP_BITS | EXCLUSION_BIT) != 0
}

struct Stats {
    min: i64,
    max: i64,
    dim_max: u32,
    hist: Vec<u32>,
}

fn stats(
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
        if p >= input.patient_count {
            return Err(FunnelError::PatientOutOfRange {
                row: i,
                patient: p,
                patient_count: input.patient_count,
            });
        }
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

struct Partition<R> {
    recs: Vec<R>,
    /// Start of each bucket in `recs`, plus the end.
    starts: Vec<usize>,
}

fn partition<R: Rec>(
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
        let mut put = |k: u64| {
            if let Some(slot) = recs.get_mut(*pos) {
                *slot = R::pack(l, local, ts, k, dim);
            }
            *pos += 1;
        };
        let mut steps = mask & STEP_BITS;
        if steps == 0 && so {
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
    Partition { recs, starts }
}

/// Records grouped by bucket: one buffer with bucket offsets, or one buffer per bucket.
trait Segments<R>: Sync {
    fn seg(&self, bucket: usize) -> &[R];
}

impl<R: Rec> Segments<R> for Partition<R> {
    fn seg(&self, b: usize) -> &[R] {
        match (self.starts.get(b), self.starts.get(b + 1)) {
            (Some(&s), Some(&e)) => self.recs.get(s..e).unwrap_or(&[]),
            _ => &[],
        }
    }
}

impl<R: Rec> Segments<R> for Vec<Vec<R>> {
    fn seg(&self, b: usize) -> &[R] {
        self.get(b).map_or(&[], |v| &v[..])
    }
}

/// Timestamp bits of the fixed layout: ±17,000 years around the first event.
const FIXED_TS_BITS: u32 = 40;
/// The fixed layout as a constant, so that the partition's shifts are immediates.
const FIXED_LAYOUT: Layout = Layout::new(0, FIXED_TS_BITS, BUCKET_SHIFT);

/// The partition pass without a stats pass: a fixed layout (no breakdown), one growable
/// buffer per bucket. `Ok(None)` when a timestamp falls outside the fixed range, and the
/// caller takes the measured path instead.
fn partition_fixed(
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
        if p >= input.patient_count {
            return Err(FunnelError::PatientOutOfRange {
                row: i,
                patient: p,
                patient_count: input.patient_count,
            });
        }
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
        let mut steps = mask & STEP_BITS;
        if mask & EXCLUSION_BIT == 0 && steps != 0 && steps & (steps - 1) == 0 {
            // The usual row: exactly one step.
            bucket.push(base | u64::pack(l, 0, 0, u64::from(steps.trailing_zeros()) + 1, 0));
            continue;
        }
        let mut put = |k: u64| bucket.push(base | u64::pack(l, 0, 0, k, 0));
        if steps == 0 && so {
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
    Ok(Some(out))
}

struct Partial {
    excluded: u64,
    total: Tally,
    by_value: BTreeMap<BreakdownKey, Tally>,
}

fn reduce<R: Rec, P: Segments<R>>(
    parts: &[P],
    buckets: std::ops::Range<usize>,
    l: &Layout,
    p: &ScanParams,
    patient_count: u32,
) -> Partial {
    let mut out = Partial {
        excluded: 0,
        total: Tally::new(p.n),
        by_value: BTreeMap::new(),
    };
    let per_bucket = 1usize << BUCKET_SHIFT;
    let owned_patients: usize = buckets
        .clone()
        .map(|b| {
            (patient_count as usize)
                .saturating_sub(b * per_bucket)
                .min(per_bucket)
        })
        .sum();
    out.total.reserve_samples(owned_patients);
    let mut counts = vec![0u32; per_bucket + 1];
    let mut buf: Vec<R> = Vec::new();
    let mut reach = Reach::default();
    let mut small = [R::default(); 8];
    let mut scanned = 0u64;
    let mut owned = 0u64;
    for b in buckets {
        let first = b * per_bucket;
        owned += (patient_count as usize)
            .saturating_sub(first)
            .min(per_bucket) as u64;
        let segs = || parts.iter().map(move |pt| pt.seg(b));
        let len: usize = segs().map(<[R]>::len).sum();
        // Empty buckets (sparse patient ids) cost nothing beyond this check.
        if len == 0 {
            continue;
        }
        counts.iter_mut().for_each(|c| *c = 0);
        for seg in segs() {
            for r in seg {
                if let Some(c) = counts.get_mut(r.local(l) + 1) {
                    *c += 1;
                }
            }
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        // Only buf[..len] is read, and the scatter writes all of it: grow, never clear.
        if buf.len() < len {
            buf.resize(len, R::default());
        }
        // counts[local] is now the next write position of `local`.
        for seg in segs() {
            for &r in seg {
                if let Some(c) = counts.get_mut(r.local(l)) {
                    if let Some(slot) = buf.get_mut(*c as usize) {
                        *slot = r;
                    }
                    *c += 1;
                }
            }
        }
        // After the scatter counts[local] is the end of `local`, the start of `local + 1`.
        let mut start = 0usize;
        for local in 0..per_bucket {
            let end = counts.get(local).map_or(start, |&c| c as usize);
            if end > start
                && let Some(slice) = buf.get_mut(start..end)
            {
                let slice = scan::sorted(slice, &mut small);
                scan::scan(slice, l, p, &mut reach);
                scanned += 1;
                if reach.excluded(slice, l, p) {
                    out.excluded += 1;
                } else {
                    out.total.record(&reach, p);
                    if p.attribution.is_some() {
                        let key = reach
                            .attributed(p)
                            .map_or(BreakdownKey::Unattributed, BreakdownKey::Value);
                        out.by_value
                            .entry(key)
                            .or_insert_with(|| Tally::new(p.n))
                            .record(&reach, p);
                    }
                }
            }
            start = end.max(start);
        }
    }
    let unseen = owned.saturating_sub(scanned);
    out.total.add_level0(unseen);
    if p.attribution.is_some() && unseen > 0 {
        out.by_value
            .entry(BreakdownKey::Unattributed)
            .or_insert_with(|| Tally::new(p.n))
            .add_level0(unseen);
    }
    out
}

fn bits_for(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// Computes the state of `spec` over `input` with `threads` workers.
pub(crate) fn run(
    spec: &FunnelSpec,
    input: &Input<'_>,
    threads: usize,
) -> Result<FunnelState, FunnelError> {
    // Monomorphise the row-to-mask lookup so the hot loops do not branch on its source.
    match &input.masks {
        Masks::Table { kind, table } => run_with(spec, input, threads, |i: usize| {
            kind.get(i)
                .and_then(|&c| table.get(c as usize))
                .copied()
                .unwrap_or(0)
        }),
        Masks::Rows(m) => run_with(spec, input, threads, |i: usize| {
            m.get(i).copied().unwrap_or(0)
        }),
    }
}

fn run_with<M: Fn(usize) -> u64 + Sync + Copy>(
    spec: &FunnelSpec,
    input: &Input<'_>,
    threads: usize,
    mask_of: M,
) -> Result<FunnelState, FunnelError> {
    let threads = threads.max(1);
    let so = spec.mode() == FunnelMode::StrictOrder;
    let rows = input.patient.len();
    let buckets = (input.patient_count as usize).div_ceil(1 << BUCKET_SHIFT);
    let chunks = split(rows, threads);
    let params = ScanParams::new(
        spec.steps().len(),
        spec.mode(),
        u64::from(spec.window().get()),
        spec.optional_mask(),
        !spec.exclusions().is_empty(),
        spec.breakdown().map(|b| b.attribution),
    );
    if spec.breakdown().is_none()
        && let Some(state) = run_fixed(spec, input, mask_of, &chunks, buckets, &params, so)?
    {
        return Ok(state);
    }
    let stats = fan_out(threads, |t| {
        stats(
            input,
            mask_of,
            chunks.get(t).cloned().unwrap_or(0..0),
            so,
            buckets,
        )
    })
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let min = stats.iter().map(|s| s.min).min().unwrap_or(0);
    let max = stats.iter().map(|s| s.max).max().unwrap_or(0);
    let dim_max = stats.iter().map(|s| s.dim_max).max().unwrap_or(0);
    let range = if max >= min {
        max.wrapping_sub(min) as u64
    } else {
        0
    };
    let layout = Layout::new(
        if spec.breakdown().is_some() {
            bits_for(u64::from(dim_max))
        } else {
            0
        },
        bits_for(range),
        BUCKET_SHIFT,
    );
    // Balance the reduce by records, not by buckets.
    let mut per_bucket = vec![0u64; buckets];
    for s in &stats {
        for (a, h) in per_bucket.iter_mut().zip(&s.hist) {
            *a += u64::from(*h);
        }
    }
    let total: u64 = per_bucket.iter().sum();
    let mut ranges = Vec::with_capacity(threads);
    let (mut from, mut acc) = (0usize, 0u64);
    for (b, c) in per_bucket.iter().enumerate() {
        acc += c;
        if acc * threads as u64 >= total * (ranges.len() as u64 + 1) && ranges.len() + 1 < threads {
            ranges.push(from..b + 1);
            from = b + 1;
        }
    }
    ranges.push(from..buckets);
    let partials = if layout.total_bits() <= 64 {
        go::<u64, M>(
            input, mask_of, &chunks, &stats, &ranges, &layout, &params, so, min,
        )
    } else if layout.total_bits() <= 128 {
        go::<u128, M>(
            input, mask_of, &chunks, &stats, &ranges, &layout, &params, so, min,
        )
    } else {
        return Err(FunnelError::TimeRangeTooWide);
    };
    finish(spec, input, partials)
}

fn finish(
    spec: &FunnelSpec,
    input: &Input<'_>,
    partials: Vec<Partial>,
) -> Result<FunnelState, FunnelError> {
    let threads = partials.len();
    let mut state = FunnelState::empty(spec);
    state.patients = u64::from(input.patient_count);
    for part in partials {
        state.excluded = state.excluded.saturating_add(part.excluded);
        state.total.absorb(part.total);
        for (k, t) in part.by_value {
            state
                .by_value
                .entry(k)
                .or_insert_with(|| Tally::new(spec.steps().len()))
                .absorb(t);
        }
    }
    // One sort per sample vector over all partials (cheaper than sorting each and merging),
    // the vectors dealt to threads largest first.
    let mut jobs: Vec<&mut Vec<u32>> = state
        .total
        .samples_mut()
        .chain(state.by_value.values_mut().flat_map(Tally::samples_mut))
        .collect();
    jobs.sort_by_key(|v| std::cmp::Reverse(v.len()));
    let mut groups: Vec<(usize, Vec<&mut Vec<u32>>)> =
        (0..threads.max(1)).map(|_| (0, Vec::new())).collect();
    for job in jobs {
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += job.len();
            g.1.push(job);
        }
    }
    for_each_owned(groups, |(_, g)| sort_samples(g));
    Ok(state)
}

/// The fast path: no stats pass, a fixed 40-bit time field around the first event.
fn run_fixed<M: Fn(usize) -> u64 + Sync + Copy>(
    spec: &FunnelSpec,
    input: &Input<'_>,
    mask_of: M,
    chunks: &[std::ops::Range<usize>],
    buckets: usize,
    params: &ScanParams,
    so: bool,
) -> Result<Option<FunnelState>, FunnelError> {
    let first = (0..input.patient.len())
        .find(|&i| emits_any(mask_of(i), so))
        .and_then(|i| input.at.get(i).copied())
        .unwrap_or(0);
    let origin = first.saturating_sub(1 << (FIXED_TS_BITS - 1));
    let layout = &FIXED_LAYOUT;
    let parts = fan_out(chunks.len(), |t| {
        let rows = chunks.get(t).cloned().unwrap_or(0..0);
        partition_fixed(input, mask_of, rows, so, origin, buckets)
    });
    let mut ready = Vec::with_capacity(parts.len());
    for p in parts {
        match p? {
            Some(p) => ready.push(p),
            None => return Ok(None),
        }
    }
    let weight: Vec<u64> = (0..buckets)
        .map(|b| ready.iter().map(|p| p.seg(b).len() as u64).sum())
        .collect();
    let ranges = balance(&weight, chunks.len());
    let partials = fan_out(ranges.len(), |t| {
        reduce(
            &ready,
            ranges.get(t).cloned().unwrap_or(0..0),
            layout,
            params,
            input.patient_count,
        )
    });
    finish(spec, input, partials).map(Some)
}

#[allow(clippy::too_many_arguments)]
fn go<R: Rec, M: Fn(usize) -> u64 + Sync + Copy>(
    input: &Input<'_>,
    mask_of: M,
    chunks: &[std::ops::Range<usize>],
    stats: &[Stats],
    ranges: &[std::ops::Range<usize>],
    l: &Layout,
    p: &ScanParams,
    so: bool,
    origin: i64,
) -> Vec<Partial> {
    let parts: Vec<Partition<R>> = fan_out(chunks.len(), |t| {
        let rows = chunks.get(t).cloned().unwrap_or(0..0);
        let hist = stats.get(t).map_or(&[][..], |s| &s.hist[..]);
        partition(input, mask_of, rows, so, l, origin, hist)
    });
    fan_out(ranges.len(), |t| {
        reduce(
            &parts,
            ranges.get(t).cloned().unwrap_or(0..0),
            l,
            p,
            input.patient_count,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::event::JourneyStage;
    use crate::metrics::funnel::{Attribution, Breakdown, Dimension, EventColumns, Step, Window};

    fn spec(mode: FunnelMode) -> FunnelSpec {
        FunnelSpec::new(
            vec![
                Step::kind(JourneyStage::Lead),
                Step::kind(JourneyStage::Booked),
            ],
            Window::seconds(10).unwrap_or_else(|_| unreachable!()),
            mode,
        )
        .unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn balance_splits_by_weight() {
        assert_eq!(balance(&[1, 1, 1, 1], 2), vec![0..2, 2..4]);
        assert_eq!(balance(&[10, 0, 0, 1], 2), vec![0..1, 1..4]);
        assert_eq!(balance(&[], 2), vec![0..0]);
        assert_eq!(balance(&[3, 3], 1), vec![0..2]);
    }

    /// Timestamps too far apart for the fixed 40-bit field take the measured path, and
    /// beyond 64 bits of record the u128 one; all give the same levels.
    #[test]
    fn wide_time_ranges_fall_back_exactly() {
        let lead = JourneyStage::Lead as u32;
        let booked = JourneyStage::Booked as u32;
        for (base, far) in [(0i64, 5i64), (0, 1 << 41), (-(1 << 61), 1 << 61)] {
            let patient = [0, 0, 1, 1, 2];
            let kind = [lead, booked, lead, booked, lead];
            let at = [base, base + 3, far, far + 11, far];
            let dim = [7, 7, 1 << 20, 3, 5];
            let cols = EventColumns {
                patient_count: 3,
                patient: &patient,
                kind: &kind,
                at: &at,
                dimension: Some(&dim),
            };
            for with_breakdown in [false, true] {
                let mut s = spec(FunnelMode::Default);
                if with_breakdown {
                    s = s
                        .with_breakdown(Breakdown {
                            dimension: Dimension::Channel,
                            attribution: Attribution::FirstTouch,
                        })
                        .unwrap_or_else(|_| unreachable!());
                }
                for threads in [1, 2] {
                    let st = s.compute_columns(&cols, threads);
                    let st = st.unwrap_or_else(|e| panic!("{e}"));
                    assert_eq!(st.total().by_level(), &[0, 2, 1], "{base} {far}");
                    assert_eq!(st.total().seconds()[1], vec![3]);
                }
            }
        }
    }
}
