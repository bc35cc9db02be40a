//! The per-patient scan: one patient's events, sorted, to a level.
//!
//! Events travel packed in one integer each (a [`Rec`]), laid out by a [`Layout`] so that
//! sorting the integers sorts by `(timestamp, step, dimension)`: the ClickHouse tie rule
//! (lowest step first), plus a fixed order for exact duplicates.

use super::spec::{Attribution, FunnelMode};

/// The step code of an event that matches no step (kept only in `strict_order`).
pub(crate) const OTHER_K: u64 = 0;
/// The step code of an exclusion event; above every step so it never precedes one at a tie.
pub(crate) const EXCL_K: u64 = 63;
const K_BITS: u32 = 6;

/// Where each field sits in a packed record, from the low bits up:
/// `dimension | step | timestamp - origin | patient within its bucket`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    total: u32,
    k_shift: u32,
    ts_shift: u32,
    local_shift: u32,
    dim_mask: u64,
    ts_mask: u64,
    local_mask: u64,
}

const fn mask_of_bits(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

impl Layout {
    pub(crate) const fn new(dim_bits: u32, ts_bits: u32, local_bits: u32) -> Self {
        Layout {
            total: dim_bits + K_BITS + ts_bits + local_bits,
            k_shift: dim_bits,
            ts_shift: dim_bits + K_BITS,
            local_shift: dim_bits + K_BITS + ts_bits,
            dim_mask: mask_of_bits(dim_bits),
            ts_mask: mask_of_bits(ts_bits),
            local_mask: mask_of_bits(local_bits),
        }
    }

    pub(crate) fn total_bits(&self) -> u32 {
        self.total
    }
}

/// A packed event: `u64` when the fields fit, `u128` otherwise.
pub(crate) trait Rec: Copy + Ord + Default + Send + Sync + 'static {
    fn pack(l: &Layout, local: u64, ts: u64, k: u64, dim: u64) -> Self;
    fn local(self, l: &Layout) -> usize;
    fn ts(self, l: &Layout) -> u64;
    fn k(self, l: &Layout) -> u64;
    fn dim(self, l: &Layout) -> u64;
    /// The largest value, which pads a short run to a full sorting network.
    fn max_value() -> Self;
}

macro_rules! impl_rec {
    ($t:ty) => {
        impl Rec for $t {
            #[inline(always)]
            fn pack(l: &Layout, local: u64, ts: u64, k: u64, dim: u64) -> Self {
                // Widths were sized from the data, so no field spills into the next; shifts
                // are below the type's width because the total fits.
                (<$t>::from(local) << l.local_shift)
                    | (<$t>::from(ts) << l.ts_shift)
                    | (<$t>::from(k) << l.k_shift)
                    | <$t>::from(dim)
            }
            #[inline(always)]
            fn local(self, l: &Layout) -> usize {
                ((self >> l.local_shift) as u64 & l.local_mask) as usize
            }
            #[inline(always)]
            fn ts(self, l: &Layout) -> u64 {
                (self >> l.ts_shift) as u64 & l.ts_mask
            }
            #[inline(always)]
            fn k(self, l: &Layout) -> u64 {
                (self >> l.k_shift) as u64 & ((1 << K_BITS) - 1)
            }
            #[inline(always)]
            fn dim(self, l: &Layout) -> u64 {
                self as u64 & l.dim_mask
            }
            #[inline(always)]
            fn max_value() -> Self {
                <$t>::MAX
            }
        }
    };
}
impl_rec!(u64);
impl_rec!(u128);

/// What the scan needs to know about the funnel.
#[derive(Debug, Clone)]
pub(crate) struct ScanParams {
    pub(crate) n: usize,
    pub(crate) mode: FunnelMode,
    pub(crate) window: u64,
    /// For step k, the steps whose reach may lead to it: k-1, and further back over
    /// optional steps.
    pub(crate) pred_mask: [u64; 34],
    pub(crate) optional: u64,
    pub(crate) exclusions: bool,
    pub(crate) attribution: Option<Attribution>,
}

impl ScanParams {
    pub(crate) fn new(
        n: usize,
        mode: FunnelMode,
        window: u64,
        optional: u64,
        exclusions: bool,
        attribution: Option<Attribution>,
    ) -> Self {
        let mut pred_mask = [0u64; 34];
        for (k, slot) in pred_mask.iter_mut().enumerate().take(n + 1).skip(2) {
            let mut j = k - 1;
            let mut m = 1u64 << j;
            while j > 1 && optional & (1 << j) != 0 {
                j -= 1;
                m |= 1 << j;
            }
            *slot = m;
        }
        ScanParams {
            n,
            mode,
            window,
            pred_mask,
            optional,
            exclusions,
            attribution,
        }
    }
}

/// One patient's reach: for each step k whose bit is set in `set`, the chain start, the
/// step's time, and the dimension values of both events.
#[derive(Debug, Clone)]
pub(crate) struct Reach {
    pub(crate) set: u64,
    pub(crate) start: [u64; 34],
    pub(crate) at: [u64; 34],
    pub(crate) start_dim: [u64; 34],
    pub(crate) dim: [u64; 34],
}

impl Default for Reach {
    fn default() -> Self {
        Reach {
            set: 0,
            start: [0; 34],
            at: [0; 34],
            start_dim: [0; 34],
            dim: [0; 34],
        }
    }
}

impl Reach {
    /// The highest step reached, 0 for none.
    pub(crate) fn level(&self) -> usize {
        if self.set == 0 {
            0
        } else {
            (63 - self.set.leading_zeros()) as usize
        }
    }

    /// Whether the patient did an exclusion event inside the window of its chain.
    pub(crate) fn excluded<R: Rec>(&self, recs: &[R], l: &Layout, p: &ScanParams) -> bool {
        let level = self.level();
        if !p.exclusions || level == 0 {
            return false;
        }
        let s = self.start.get(level).copied().unwrap_or(0);
        let end = s.saturating_add(p.window);
        recs.iter()
            .any(|r| r.k(l) == EXCL_K && (s..=end).contains(&r.ts(l)))
    }

    /// The breakdown value the patient is attributed to.
    pub(crate) fn attributed(&self, p: &ScanParams) -> Option<u64> {
        let level = self.level();
        match p.attribution? {
            _ if level == 0 => None,
            Attribution::FirstTouch => self.start_dim.get(level).copied(),
            Attribution::LastTouch => self.dim.get(level).copied(),
            Attribution::Step(n) => {
                let n = usize::from(n);
                (self.set & (1 << n) != 0)
                    .then(|| self.dim.get(n).copied())
                    .flatten()
            }
        }
    }
}

/// One patient's records in sorted order: up to eight are sorted into `w`, longer runs in
/// place, and the sorted slice is returned.
///
/// Patients usually have a handful of records in random order, where an insertion sort
/// mispredicts about one branch per record. Up to eight records are padded to eight with
/// the largest value and put through a fixed 19-comparator sorting network ([`sort8`]),
/// which compiles to branch-free min/max; the scan then reads them where they are. Longer
/// runs take an insertion sort, and long ones the std sort.
#[inline(always)]
pub(crate) fn sorted<'a, R: Rec>(v: &'a mut [R], w: &'a mut [R; 8]) -> &'a [R] {
    let n = v.len();
    if n <= 8 {
        // Element-wise copies with constant bounds: no memcpy call per patient.
        *w = [R::max_value(); 8];
        for (slot, &x) in w.iter_mut().zip(v.iter()) {
            *slot = x;
        }
        sort8(w);
        return w.get(..n).unwrap_or(&[]);
    }
    if n <= 24 {
        // Hold the key and shift the larger ones right: one store per step, not a swap.
        for i in 1..n {
            let x = v[i];
            let mut j = i;
            while j > 0 && v[j - 1] > x {
                v[j] = v[j - 1];
                j -= 1;
            }
            v[j] = x;
        }
    } else {
        v.sort_unstable();
    }
    v
}

/// An optimal sorting network for eight values (19 comparators; Knuth, TAOCP 5.3.4),
/// unrolled with constant indices so that it compiles to straight-line min/max.
#[inline(always)]
fn sort8<R: Rec>(w: &mut [R; 8]) {
    macro_rules! cx {
        ($($a:literal $b:literal),*) => {$({
            let (x, y) = (w[$a], w[$b]);
            w[$a] = x.min(y);
            w[$b] = x.max(y);
        })*};
    }
    cx!(0 2, 1 3, 4 6, 5 7, 0 4, 1 5, 2 6, 3 7, 0 1, 2 3, 4 5, 6 7, 2 4, 3 5, 1 4, 3 6, 1 2, 3 4, 5 6);
}

/// Runs the scan of the patient's sorted records into `r`.
#[inline]
pub(crate) fn scan<R: Rec>(recs: &[R], l: &Layout, p: &ScanParams, r: &mut Reach) {
    // One predictable branch per patient picks a scan compiled for the mode, so the loop
    // over events carries no mode tests and no dimension bookkeeping it does not need.
    let dims = p.attribution.is_some();
    match (p.mode, dims) {
        (FunnelMode::Unordered, _) => scan_unordered(recs, l, p, r),
        (FunnelMode::StrictOrder, false) => scan_ordered::<R, ORDER, false>(recs, l, p, r),
        (FunnelMode::StrictOrder, true) => scan_ordered::<R, ORDER, true>(recs, l, p, r),
        (FunnelMode::StrictDeduplication, false) => scan_ordered::<R, DEDUP, false>(recs, l, p, r),
        (FunnelMode::StrictDeduplication, true) => scan_ordered::<R, DEDUP, true>(recs, l, p, r),
        (FunnelMode::StrictIncrease, false) => scan_ordered::<R, INCREASE, false>(recs, l, p, r),
        (FunnelMode::StrictIncrease, true) => scan_ordered::<R, INCREASE, true>(recs, l, p, r),
        (_, false) => scan_ordered::<R, DEFAULT, false>(recs, l, p, r),
        (_, true) => scan_ordered::<R, DEFAULT, true>(recs, l, p, r),
    }
}

const DEFAULT: u8 = 0;
const ORDER: u8 = 1;
const DEDUP: u8 = 2;
const INCREASE: u8 = 3;

/// The `windowFunnel` scan (DOMAIN.md, checked against chDB 4.4), extended with optional
/// steps through `pred_mask`.
#[inline]
fn scan_ordered<R: Rec, const MODE: u8, const DIMS: bool>(
    recs: &[R],
    l: &Layout,
    p: &ScanParams,
    r: &mut Reach,
) {
    r.set = 0;
    let strict_order = MODE == ORDER;
    let dedup = MODE == DEDUP;
    let increase = MODE == INCREASE;
    let mut seen = false;
    for &rec in recs {
        let k = rec.k(l) as usize;
        if k as u64 == EXCL_K {
            continue;
        }
        if k as u64 == OTHER_K {
            if seen {
                break;
            }
            continue;
        }
        if k > p.n {
            continue;
        }
        let ts = rec.ts(l);
        if k == 1 {
            r.set |= 2;
            r.start[1] = ts;
            r.at[1] = ts;
            if DIMS {
                let d = rec.dim(l);
                r.start_dim[1] = d;
                r.dim[1] = d;
            }
            seen = true;
            if p.n == 1 {
                break;
            }
            continue;
        }
        if dedup && r.set & (1 << k) != 0 {
            break;
        }
        let cand = r.set & p.pred_mask[k];
        if cand == 0 {
            if strict_order && seen {
                break;
            }
            continue;
        }
        let j = (63 - cand.leading_zeros()) as usize;
        let st = r.start[j];
        if ts <= st.saturating_add(p.window) && (!increase || r.at[j] < ts) {
            r.set |= 1 << k;
            r.start[k] = st;
            r.at[k] = ts;
            if DIMS {
                r.start_dim[k] = r.start_dim[j];
                r.dim[k] = rec.dim(l);
            }
            if k == p.n {
                break;
            }
        }
    }
}

/// PostHog's unordered funnel: for each step event as an anchor, the distinct steps done in
/// `anchor ..= anchor + window`; the best anchor (earliest among equals) wins. Level c means c
/// distinct steps, and "step c" is reached when the c-th distinct step happened.
fn scan_unordered<R: Rec>(recs: &[R], l: &Layout, p: &ScanParams, r: &mut Reach) {
    r.set = 0;
    let mut best = 0usize;
    let mut at = [0u64; 34];
    let mut dims = [0u64; 34];
    for (i, &anchor) in recs.iter().enumerate() {
        let ka = anchor.k(l);
        if ka == EXCL_K || ka == OTHER_K {
            continue;
        }
        let t0 = anchor.ts(l);
        let end = t0.saturating_add(p.window);
        let mut seen = 0u64;
        let mut count = 0usize;
        for &e in recs.get(i..).unwrap_or(&[]) {
            let ts = e.ts(l);
            if ts > end {
                break;
            }
            let k = e.k(l);
            if k == EXCL_K || k == OTHER_K || seen & (1 << k) != 0 {
                continue;
            }
            seen |= 1 << k;
            count += 1;
            if let (Some(a), Some(d)) = (at.get_mut(count), dims.get_mut(count)) {
                *a = ts;
                *d = e.dim(l);
            }
            if count == p.n {
                break;
            }
        }
        if count > best {
            best = count;
            let d0 = anchor.dim(l);
            for c in 1..=count.min(33) {
                r.start[c] = t0;
                r.at[c] = at[c];
                r.start_dim[c] = d0;
                r.dim[c] = dims[c];
            }
            r.set = ((1u64 << (count + 1)) - 1) & !1;
            if best == p.n {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The network, the insertion sort and the fallback agree with the std sort, duplicates included,
        /// across the network, insertion and std sizes.
        #[test]
        fn sorted_sorts(mut v in prop::collection::vec(0u64..6, 0..40)) {
            let mut want = v.clone();
            want.sort_unstable();
            let mut w = [0u64; 8];
            prop_assert_eq!(sorted(&mut v, &mut w), &want[..]);
        }
    }
}
