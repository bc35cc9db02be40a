//! The time-to-convert summary of one step: median, mean and PostHog's histogram, from
//! samples in any order.
//!
//! A tally keeps its samples unsorted (sorting millions of them was the largest part of a
//! funnel's compute), so the summary takes three linear passes instead: the range and sum;
//! the histogram bars and a 2,048-bucket coarse histogram; then only the samples of the
//! coarse buckets that hold the middle ranks, for a selection.

use super::report::{HistogramBin, histogram_bins};

/// Median, mean and histogram of one step's samples.
pub(super) struct Summary {
    pub(super) median: Option<f64>,
    pub(super) mean: Option<f64>,
    pub(super) histogram: Vec<HistogramBin>,
}

const COARSE_BITS: u32 = 11;

/// Exact division of 32-bit numerators by a fixed divisor, by one multiplication (Lemire,
/// Kaser and Kurz, "Faster remainder by direct computation", 2019): with
/// `c = ceil(2^64 / d)`, `n / d == (c * n) >> 64` for every `n < 2^32` and `2 <= d < 2^32`.
/// A division instruction per sample would cost more than the rest of the pass.
struct Divider {
    d: u64,
    c: u64,
}

impl Divider {
    fn new(d: u64) -> Self {
        let c = if (2..=u64::from(u32::MAX)).contains(&d) {
            u64::MAX / d + 1
        } else {
            0
        };
        Divider { d: d.max(1), c }
    }

    #[inline(always)]
    fn div(&self, n: u32) -> u64 {
        if self.c == 0 {
            u64::from(n) / self.d
        } else {
            ((u128::from(self.c) * u128::from(n)) >> 64) as u64
        }
    }
}

/// The summary of the samples in `parts`, whatever their order.
pub(super) fn summarize(parts: &[&[u32]]) -> Summary {
    let n: usize = parts.iter().map(|p| p.len()).sum();
    let (mut lo, mut hi, mut sum) = (u32::MAX, 0u32, 0u64);
    for &v in parts.iter().flat_map(|p| p.iter()) {
        lo = lo.min(v);
        hi = hi.max(v);
        sum += u64::from(v);
    }
    if n == 0 {
        return Summary {
            median: None,
            mean: None,
            histogram: Vec::new(),
        };
    }
    let span = hi - lo;
    // PostHog's bars: `bins` of equal integer width from the lowest sample; the last bar
    // also takes the samples at or past its nominal upper edge.
    let bins = histogram_bins(n);
    let width = u64::from(span).div_ceil(bins as u64).max(1);
    let div = Divider::new(width);
    let last = bins - 1;
    let mut bars = vec![0u64; bins];
    // The coarse buckets split the range into at most 2^11 equal power-of-two slices.
    let shift = (32 - span.leading_zeros()).saturating_sub(COARSE_BITS);
    let mut coarse = vec![0usize; 1 << COARSE_BITS];
    for &v in parts.iter().flat_map(|p| p.iter()) {
        let d = v - lo;
        if let Some(b) = bars.get_mut((div.div(d) as usize).min(last)) {
            *b += 1;
        }
        if let Some(c) = coarse.get_mut((d >> shift) as usize) {
            *c += 1;
        }
    }
    let histogram = bars
        .iter()
        .enumerate()
        .map(|(i, &patients)| HistogramBin {
            from_seconds: u64::from(lo) + i as u64 * width,
            to_seconds: u64::from(lo) + (i as u64 + 1) * width,
            patients,
        })
        .collect();
    Summary {
        median: median(parts, n, lo, shift, &coarse),
        mean: Some(sum as f64 / n as f64),
        histogram,
    }
}

/// The middle value (the mean of the two middle values for an even count), selected among
/// the samples of the coarse buckets that hold the middle ranks.
fn median(parts: &[&[u32]], n: usize, lo: u32, shift: u32, coarse: &[usize]) -> Option<f64> {
    let (r1, r2) = if n % 2 == 1 {
        (n / 2, n / 2)
    } else {
        (n / 2 - 1, n / 2)
    };
    // The coarse buckets of ranks r1 and r2, and how many samples lie below the first.
    let (mut b1, mut b2, mut below) = (None, None, 0usize);
    let mut acc = 0usize;
    for (b, &c) in coarse.iter().enumerate() {
        if b1.is_none() && acc + c > r1 {
            b1 = Some(b);
            below = acc;
        }
        if acc + c > r2 {
            b2 = Some(b);
            break;
        }
        acc += c;
    }
    let (b1, b2) = (b1?, b2?);
    // The values of those buckets, `lo + (b1 << shift) ..= lo + ((b2 + 1) << shift) - 1`,
    // copied out without a branch: the test is true for a sample in a few thousand, yet a
    // branch on it cost four times the rest of the loop.
    let from = u64::from(lo) + ((b1 as u64) << shift);
    let width = ((b2 - b1 + 1) as u64) << shift;
    let want: usize = coarse.get(b1..=b2).map_or(0, |c| c.iter().sum());
    let mut mid = vec![0u32; want + 1];
    let mut len = 0usize;
    for &v in parts.iter().flat_map(|p| p.iter()) {
        if let Some(slot) = mid.get_mut(len) {
            *slot = v;
        }
        len += usize::from(u64::from(v).wrapping_sub(from) < width);
    }
    mid.truncate(len.min(want));
    let k = r1 - below;
    if k >= mid.len() {
        return None;
    }
    let (_, &mut x1, rest) = mid.select_nth_unstable(k);
    let x2 = if r2 == r1 {
        x1
    } else {
        rest.iter().copied().min()?
    };
    Some((f64::from(x1) + f64::from(x2)) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The model: sort, take the middle, and count each bar by binary search.
    fn model(samples: &[u32]) -> (Option<f64>, Option<f64>, Vec<HistogramBin>) {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let n = s.len();
        let median = match n {
            0 => None,
            n if n % 2 == 1 => Some(f64::from(s[n / 2])),
            n => Some((f64::from(s[n / 2 - 1]) + f64::from(s[n / 2])) / 2.0),
        };
        let mean = (n > 0).then(|| s.iter().map(|&v| u64::from(v)).sum::<u64>() as f64 / n as f64);
        let (Some(&lo), Some(&hi)) = (s.first(), s.last()) else {
            return (median, mean, Vec::new());
        };
        let bins = histogram_bins(n) as u64;
        let (lo, hi) = (u64::from(lo), u64::from(hi));
        let width = (hi - lo).div_ceil(bins).max(1);
        let mut from = 0usize;
        let hist = (0..bins)
            .map(|i| {
                let to_seconds = lo + (i + 1) * width;
                let to = if i == bins - 1 {
                    n
                } else {
                    s.partition_point(|&v| u64::from(v) < to_seconds)
                };
                let patients = (to - from) as u64;
                from = to;
                HistogramBin {
                    from_seconds: lo + i * width,
                    to_seconds,
                    patients,
                }
            })
            .collect();
        (median, mean, hist)
    }

    fn check(samples: &[u32]) -> Result<(), TestCaseError> {
        // Whole, and cut in three uneven parts.
        let (a, rest) = samples.split_at(samples.len() / 3);
        let (b, c) = rest.split_at(rest.len() / 4);
        let split = summarize(&[a, b, c]);
        let got = summarize(&[samples]);
        prop_assert_eq!(split.median, got.median);
        prop_assert_eq!(split.mean, got.mean);
        prop_assert_eq!(&split.histogram, &got.histogram);
        let (median, mean, hist) = model(samples);
        prop_assert_eq!(got.median, median);
        prop_assert_eq!(got.mean, mean);
        prop_assert_eq!(got.histogram, hist);
        Ok(())
    }

    proptest! {
        #[test]
        fn matches_the_sorted_model_on_small_ranges(v in prop::collection::vec(0u32..50, 0..300)) {
            check(&v)?;
        }

        #[test]
        fn matches_the_sorted_model_on_wide_ranges(
            v in prop::collection::vec(any::<u32>(), 0..5000),
            base in any::<u32>(),
        ) {
            // Wide spans, spans near a power of two, and all-equal runs.
            check(&v)?;
            let near: Vec<u32> = v.iter().map(|&x| base.saturating_add(x % 4097)).collect();
            check(&near)?;
        }

        #[test]
        fn divider_is_exact(n in any::<u32>(), d in 1u64..=u64::from(u32::MAX)) {
            prop_assert_eq!(Divider::new(d).div(n), u64::from(n) / d);
        }
    }

    #[test]
    fn divider_edges() {
        for d in [
            1u64,
            2,
            3,
            7,
            1 << 16,
            u64::from(u32::MAX) - 1,
            u64::from(u32::MAX),
        ] {
            for n in [0u32, 1, 2, 3, u32::MAX - 1, u32::MAX] {
                assert_eq!(Divider::new(d).div(n), u64::from(n) / d, "{n} / {d}");
            }
        }
    }

    #[test]
    fn histogram_holds_every_sample() {
        let s: Vec<u32> = (0..100).rev().map(|i| i * 7).collect();
        let h = summarize(&[&s]).histogram;
        assert_eq!(h.len(), 5);
        assert_eq!(h.iter().map(|b| b.patients).sum::<u64>(), 100);
        assert_eq!(h[0].from_seconds, 0);
        assert!(h[4].to_seconds >= 693);
        let same = summarize(&[&[5, 5], &[5]]);
        assert_eq!(same.histogram.len(), 2);
        assert_eq!(same.histogram[0].patients, 3);
        assert_eq!(same.median, Some(5.0));
    }

    #[test]
    fn median_of_even_counts_across_coarse_buckets() {
        // The two middle values fall in different coarse buckets.
        let s = [u32::MAX, 0, 1, u32::MAX - 1];
        assert_eq!(
            summarize(&[&s]).median,
            Some((1.0 + f64::from(u32::MAX - 1)) / 2.0)
        );
        assert_eq!(summarize(&[]).median, None);
        assert_eq!(summarize(&[&[]]).median, None);
        assert_eq!(summarize(&[&[], &[9]]).median, Some(9.0));
    }
}
