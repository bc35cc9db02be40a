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

    /// The bits of the dimension field.
    pub(crate) fn dim_bits(&self) -> u32 {
        self.k_shift
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

    /// Calls `f(k, seconds, optional)` for each step `k >= 2` the patient reached, from the
    /// lowest: its time to convert (from the start of the chain that reached it) and
    /// whether the step is optional. What a tally records beyond the level.
    #[inline]
    pub(crate) fn for_each_timed(&self, p: &ScanParams, mut f: impl FnMut(usize, u32, bool)) {
        if self.level() < 2 && p.optional == 0 {
            return;
        }
        let mut bits = self.set & !3;
        while bits != 0 {
            let k = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let (at, start) = (self.at.get(k), self.start.get(k));
            let since = at.zip(start).map_or(0, |(a, s)| a.saturating_sub(*s));
            // at - start <= window <= u32::MAX by construction of the scan.
            let seconds = u32::try_from(since).unwrap_or(u32::MAX);
            f(k, seconds, p.optional & (1 << k) != 0);
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

/// One patient's records in sorted order: up to sixteen are sorted into `w`, longer runs in
/// place, and the sorted slice is returned.
///
/// Patients usually have a handful of records in random order, where an insertion sort
/// mispredicts about one branch per record. Up to eight records are padded to eight with
/// the largest value and put through a fixed 19-comparator sorting network ([`sort8`]),
/// and up to sixteen through a 63-comparator one ([`sort16`]); both compile to branch-free
/// min/max, and the scan then reads the records where they are. Longer runs take an
/// insertion sort, and long ones the std sort.
#[inline(always)]
pub(crate) fn sorted<'a, R: Rec>(v: &'a mut [R], w: &'a mut [R; 16]) -> &'a [R] {
    let n = v.len();
    if n <= 16 {
        // Element-wise copies with constant bounds: no memcpy call per patient.
        *w = [R::max_value(); 16];
        for (slot, &x) in w.iter_mut().zip(v.iter()) {
            *slot = x;
        }
        if n <= 8 {
            sort8(w);
        } else {
            sort16(w);
        }
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

/// A compare-exchange per pair of constant indices, unrolled to straight-line min/max.
macro_rules! compare_exchange {
    ($w:ident; $($a:literal $b:literal),*) => {$({
        let (x, y) = ($w[$a], $w[$b]);
        $w[$a] = x.min(y);
        $w[$b] = x.max(y);
    })*};
}

/// An optimal sorting network for the first eight values (19 comparators; Knuth, TAOCP
/// 5.3.4).
#[inline(always)]
fn sort8<R: Rec>(w: &mut [R; 16]) {
    compare_exchange!(w; 0 2, 1 3, 4 6, 5 7, 0 4, 1 5, 2 6, 3 7, 0 1, 2 3, 4 5, 6 7, 2 4, 3 5, 1 4,
        3 6, 1 2, 3 4, 5 6);
}

/// Batcher's odd-even merge sort for sixteen values (63 comparators), as generated by its
/// recursive definition; a test checks it on all 2^16 inputs of zeros and ones, which by
/// the 0-1 principle proves it sorts everything.
#[inline(always)]
fn sort16<R: Rec>(w: &mut [R; 16]) {
    compare_exchange!(w; 0 1, 2 3, 0 2, 1 3, 1 2, 4 5, 6 7, 4 6, 5 7, 5 6, 0 4, 2 6, 2 4, 1 5, 3 7,
        3 5, 1 2, 3 4, 5 6, 8 9, 10 11, 8 10, 9 11, 9 10, 12 13, 14 15, 12 14, 13 15, 13 14, 8 12,
        10 14, 10 12, 9 13, 11 15, 11 13, 9 10, 11 12, 13 14, 0 8, 4 12, 4 8, 2 10, 6 14, 6 10,
        2 4, 6 8, 10 12, 1 9, 5 13, 5 9, 3 11, 7 15, 7 11, 3 5, 7 9, 11 13, 1 2, 3 4, 5 6, 7 8,
        9 10, 11 12, 13 14);
}

/// A scan compiled for one mode, so that the reduce picks it once per funnel rather than
/// once per patient, and the loop over events carries no mode tests and no dimension
/// bookkeeping it does not need.
pub(crate) trait Scan {
    /// Runs the scan of the patient's sorted records into `r`.
    fn run<R: Rec>(recs: &[R], l: &Layout, p: &ScanParams, r: &mut Reach);
}

/// The `windowFunnel` modes; `DIMS` keeps the dimension values a breakdown needs.
pub(crate) struct Ordered<const MODE: u8, const DIMS: bool>;

impl<const MODE: u8, const DIMS: bool> Scan for Ordered<MODE, DIMS> {
    #[inline(always)]
    fn run<R: Rec>(recs: &[R], l: &Layout, p: &ScanParams, r: &mut Reach) {
        scan_ordered::<R, MODE, DIMS>(recs, l, p, r);
    }
}

/// PostHog's unordered mode.
pub(crate) struct Unordered;

impl Scan for Unordered {
    #[inline(always)]
    fn run<R: Rec>(recs: &[R], l: &Layout, p: &ScanParams, r: &mut Reach) {
        scan_unordered(recs, l, p, r);
    }
}

/// Calls `$go!(S)` with the [`Scan`] type for `params`' mode and breakdown.
macro_rules! with_scan {
    ($params:expr, $go:ident) => {{
        use $crate::metrics::funnel::scan::{DEDUP, DEFAULT, INCREASE, ORDER, Ordered, Unordered};
        use $crate::metrics::funnel::spec::FunnelMode;
        match ($params.mode, $params.attribution.is_some()) {
            (FunnelMode::Unordered, _) => $go!(Unordered),
            (FunnelMode::StrictOrder, false) => $go!(Ordered<ORDER, false>),
            (FunnelMode::StrictOrder, true) => $go!(Ordered<ORDER, true>),
            (FunnelMode::StrictDeduplication, false) => $go!(Ordered<DEDUP, false>),
            (FunnelMode::StrictDeduplication, true) => $go!(Ordered<DEDUP, true>),
            (FunnelMode::StrictIncrease, false) => $go!(Ordered<INCREASE, false>),
            (FunnelMode::StrictIncrease, true) => $go!(Ordered<INCREASE, true>),
            // Every mode by name, no `_` arm: a new mode does not compile until it has a scan.
            (FunnelMode::Default, false) => $go!(Ordered<DEFAULT, false>),
            (FunnelMode::Default, true) => $go!(Ordered<DEFAULT, true>),
        }
    }};
}
pub(crate) use with_scan;

pub(crate) const DEFAULT: u8 = 0;
pub(crate) const ORDER: u8 = 1;
pub(crate) const DEDUP: u8 = 2;
pub(crate) const INCREASE: u8 = 3;

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
            let mut w = [0u64; 16];
            prop_assert_eq!(sorted(&mut v, &mut w), &want[..]);
        }
    }

    /// The 0-1 principle: a comparator network that sorts every sequence of zeros and ones
    /// sorts every sequence.
    #[test]
    fn networks_sort_every_zero_one_input() {
        for m in 0u32..1 << 16 {
            let mut w = [0u64; 16];
            for (i, x) in w.iter_mut().enumerate() {
                *x = u64::from(m >> i & 1);
            }
            let mut want = w;
            want.sort_unstable();
            sort16(&mut w);
            assert_eq!(w, want, "{m:016b}");
            if m < 1 << 8 {
                let mut w8 = [u64::MAX; 16];
                for (i, x) in w8.iter_mut().take(8).enumerate() {
                    *x = u64::from(m >> i & 1);
                }
                let mut want8 = w8;
                want8.sort_unstable();
                sort8(&mut w8);
                assert_eq!(w8, want8, "{m:08b}");
            }
        }
    }
}
