//! The columnar engine: rows in any order to a [`FunnelState`], in three passes.
//!
//! 1. **Stats** (rows split in chunks, [`super::partition`]): which rows are funnel events,
//!    the time range, and how many records each patient bucket gets. A bucket is 4,096
//!    consecutive patient ids.
//! 2. **Partition** (same chunks, [`super::partition`]): each matching row becomes one
//!    packed integer per step it matches, written to its bucket.
//! 3. **Reduce** (buckets split in ranges): per bucket, a counting sort by patient into a
//!    buffer that fits in L2, then per patient a tiny sort and the scan.
//!
//! Chunks and bucket ranges are independent, so with the `parallel` feature they run on
//! scoped threads; without it the same code runs them one after the other.

use std::collections::BTreeMap;

use super::FunnelError;
pub(crate) use super::columns::{Input, Masks};
use super::flat::{self, FlatTallies};
use super::par::{balance, fan_out, fan_out_owned, split};
use super::partition::{
    BUCKET_SHIFT, FIXED_LAYOUT, FIXED_TS_BITS, Owned, Partition, Segments, Stats, emits_any,
    partition, partition_fixed, stats,
};
use super::scan::{self, Layout, Reach, Rec, Scan, ScanParams};
use super::spec::{FunnelMode, FunnelSpec};
use super::state::{BreakdownKey, FunnelState, Tally};

struct Partial {
    excluded: u64,
    /// Every recorded patient but those of `flat`.
    total: Tally,
    /// The breakdown values a flat store covers, when the dimension is narrow enough.
    flat: Option<FlatTallies>,
    /// The other breakdown values, and `Unattributed`.
    by_value: BTreeMap<BreakdownKey, Tally>,
}

/// Where the reduce finds each patient's breakdown value, and how many bits the values
/// take (which sizes the flat store).
#[derive(Clone, Copy)]
struct Values<'a> {
    bits: u32,
    /// Each patient's value, when the input gives them per patient; else the records
    /// carry them.
    by_patient: Option<&'a [u32]>,
}

impl<'a> Values<'a> {
    fn of(input: &Input<'a>, l: &Layout) -> Self {
        match input.by_patient {
            Some(v) => Values {
                bits: bits_for(u64::from(v.iter().copied().max().unwrap_or(0))),
                by_patient: Some(v),
            },
            None => Values {
                bits: l.dim_bits(),
                by_patient: None,
            },
        }
    }

    /// The value of patient `patient`, whose records gave `packed`.
    #[inline]
    fn of_patient(&self, patient: usize, packed: u64) -> u64 {
        match self.by_patient {
            Some(v) => v.get(patient).map_or(0, |&x| u64::from(x)),
            None => packed,
        }
    }
}

/// [`reduce_with`] with the scan of the funnel's mode.
fn reduce<R: Rec, P: Segments<R>>(
    parts: &mut [P],
    buckets: std::ops::Range<usize>,
    l: &Layout,
    p: &ScanParams,
    patient_count: u32,
    values: Values<'_>,
) -> Partial {
    macro_rules! go {
        ($s:ty) => {
            reduce_with::<R, P, $s>(parts, buckets, l, p, patient_count, values)
        };
    }
    scan::with_scan!(p, go)
}

fn reduce_with<R: Rec, P: Segments<R>, S: Scan>(
    parts: &mut [P],
    buckets: std::ops::Range<usize>,
    l: &Layout,
    p: &ScanParams,
    patient_count: u32,
    values: Values<'_>,
) -> Partial {
    let mut out = Partial {
        excluded: 0,
        total: Tally::new(p.n),
        flat: p.attribution.and_then(|_| FlatTallies::new(values.bits, p)),
        by_value: BTreeMap::new(),
    };
    let per_bucket = 1usize << BUCKET_SHIFT;
    let mut counts = vec![0u32; per_bucket + 1];
    let mut buf: Vec<R> = Vec::new();
    let mut reach = Reach::default();
    let mut small = [R::default(); 16];
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
                S::run(slice, l, p, &mut reach);
                scanned += 1;
                if reach.excluded(slice, l, p) {
                    out.excluded += 1;
                } else {
                    // With a breakdown, the value the patient is attributed to (`None`:
                    // unattributed).
                    let key = p.attribution.map(|_| {
                        let v = reach.attributed(p);
                        v.map(|v| values.of_patient(first + local, v))
                    });
                    record(&mut out, &reach, p, key);
                }
            }
            start = end.max(start);
        }
        for pt in parts.iter_mut() {
            pt.release(b);
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

/// Records one patient who was not excluded: into its breakdown value's flat slot (which
/// the total takes as a sum at the end), or into the total and, with a breakdown, its
/// value's tally in the map.
#[inline]
fn record(out: &mut Partial, reach: &Reach, p: &ScanParams, key: Option<Option<u64>>) {
    if let (Some(Some(v)), Some(flat)) = (key, out.flat.as_mut())
        && flat.covers(v)
    {
        flat.record(v, reach, p);
        return;
    }
    out.total.record(reach, p);
    if let Some(k) = key {
        let key = k.map_or(BreakdownKey::Unattributed, BreakdownKey::Value);
        out.by_value
            .entry(key)
            .or_insert_with(|| Tally::new(p.n))
            .record(reach, p);
    }
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
    // The fixed layout packs no breakdown value: it serves funnels without a breakdown and
    // breakdowns whose values come per patient.
    if input.dim.is_none()
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
    let ranges = balance(&per_bucket, threads);
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
    let mut state = FunnelState::empty(spec);
    state.patients = u64::from(input.patient_count);
    let mut flats = Vec::new();
    for part in partials {
        state.excluded = state.excluded.saturating_add(part.excluded);
        state.total.absorb(part.total);
        flats.extend(part.flat);
        // The first worker's tallies become the state's as they are: a fresh tally per
        // key to absorb them into was an allocation and a free per key.
        if state.by_value.is_empty() {
            state.by_value = part.by_value;
            continue;
        }
        state.by_value = merge_sorted(std::mem::take(&mut state.by_value), part.by_value);
    }
    if !flats.is_empty() {
        let (tallies, total) = flat::into_tallies(flats);
        state.total.absorb(total);
        // The flat values and the map's keys are distinct: the map holds values the stores
        // do not cover, and `Unattributed`.
        state.by_value = merge_sorted(
            tallies.into_iter().collect(),
            std::mem::take(&mut state.by_value),
        );
    }
    Ok(state)
}

/// The union of two breakdowns, absorbing the tallies of keys in both: one walk of the two
/// maps in key order, and a tree built from the sorted result, where a search of the tree
/// per key of the second (100,000 posts) was most of the merge.
fn merge_sorted(
    a: BTreeMap<BreakdownKey, Tally>,
    b: BTreeMap<BreakdownKey, Tally>,
) -> BTreeMap<BreakdownKey, Tally> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let mut a = a.into_iter().peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some((ka, _)), Some((kb, _))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => a.next(),
                std::cmp::Ordering::Greater => b.next(),
                std::cmp::Ordering::Equal => a.next().zip(b.next()).map(|((k, mut t), (_, u))| {
                    t.absorb(u);
                    (k, t)
                }),
            },
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(kv) => out.push(kv),
            None => break,
        }
    }
    // Keys distinct and sorted: collecting builds the tree in one go.
    out.into_iter().collect()
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
    let values = Values::of(input, layout);
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
        .map(|b| {
            ready
                .iter()
                .map(|p| p.get(b).map_or(0, Vec::len) as u64)
                .sum()
        })
        .collect();
    let ranges = balance(&weight, chunks.len());
    // Each worker takes ownership of its buckets' records, so that it frees each bucket as
    // soon as it is reduced: the peak memory falls, and the samples it collects next can
    // reuse that memory instead of touching fresh pages.
    let mut rest: Vec<std::vec::IntoIter<Vec<u64>>> =
        ready.into_iter().map(Vec::into_iter).collect();
    let work: Vec<(std::ops::Range<usize>, Vec<Owned>)> = ranges
        .iter()
        .map(|r| {
            let parts = rest
                .iter_mut()
                .map(|it| Owned {
                    first: r.start,
                    buckets: it.by_ref().take(r.len()).collect(),
                })
                .collect();
            (r.clone(), parts)
        })
        .collect();
    let partials = fan_out_owned(work, |(r, mut parts)| {
        reduce(&mut parts, r, layout, params, input.patient_count, values)
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
    let values = Values::of(input, l);
    fan_out(ranges.len(), |t| {
        let mut shared: Vec<&Partition<R>> = parts.iter().collect();
        reduce(
            &mut shared,
            ranges.get(t).cloned().unwrap_or(0..0),
            l,
            p,
            input.patient_count,
            values,
        )
    })
}
