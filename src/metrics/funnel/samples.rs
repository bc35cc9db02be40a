//! A multiset of time-to-convert samples, collected in bounded chunks.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Samples per chunk: 64 KB of `u32`.
const CHUNK: usize = 16 * 1024;
/// The first chunk's size; each next one doubles, up to [`CHUNK`]. A breakdown by a value
/// with many distinct keys (a post of 100,000) keeps one multiset per key and step, most
/// with a handful of samples: a full chunk for each made memory grow by 64 KB per key.
const FIRST_CHUNK: usize = 16;
/// Below this many samples, an absorbed chunk is copied rather than moved.
const SMALL: usize = 1024;
/// Samples kept in the multiset itself before any chunk is allocated. A breakdown by a
/// post of 100,000 has one or two patients per post and step over 1,000,000 events, and
/// up to about eight per worker over 10,000,000: a chunk for each was an allocation on
/// the first sample and a free on the drop, most of what the tallies cost.
const INLINE: usize = 8;

/// Time-to-convert samples of one step, in no particular order.
///
/// Collected into chunks of a fixed size rather than one growing vector, so that collecting
/// millions of samples never reallocates or copies, absorbing another multiset moves its
/// chunks instead of its samples, and a chunk's memory can come from what the compute freed
/// a moment before. Equality and serialization use the ascending order, so equal multisets
/// compare and serialize equal however they were collected; the serialized form is the
/// plain ascending array. The first few samples live in the multiset itself, so most
/// multisets of a breakdown by a value with many keys allocate nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Samples {
    /// The first samples, up to [`INLINE`]: `inline[..inline_len]`.
    inline: [u32; INLINE],
    inline_len: u8,
    /// Full chunks, then any others absorbed (which may be partly filled).
    done: Vec<Vec<u32>>,
    /// The chunk being filled.
    cur: Vec<u32>,
    len: usize,
}

impl Samples {
    #[inline(always)]
    pub(crate) fn push(&mut self, v: u32) {
        let i = usize::from(self.inline_len);
        if let Some(slot) = self.inline.get_mut(i) {
            *slot = v;
            // i < INLINE, which fits a u8.
            self.inline_len += 1;
            self.len += 1;
            return;
        }
        if self.cur.len() == self.cur.capacity() {
            self.spill();
        }
        self.cur.push(v);
        self.len += 1;
    }

    /// The samples held inline: `inline[..inline_len]`.
    fn inline(&self) -> &[u32] {
        self.inline
            .get(..usize::from(self.inline_len))
            .unwrap_or(&[])
    }

    fn push_all(&mut self, values: &[u32]) {
        for &v in values {
            self.push(v);
        }
    }

    #[cold]
    fn spill(&mut self) {
        let next = self
            .cur
            .capacity()
            .saturating_mul(2)
            .clamp(FIRST_CHUNK, CHUNK);
        let full = std::mem::replace(&mut self.cur, Vec::with_capacity(next));
        if !full.is_empty() {
            self.done.push(full);
        }
    }

    /// How many samples.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The samples as slices, in no particular order.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = &[u32]> {
        std::iter::once(self.inline())
            .chain(self.done.iter().map(|c| &c[..]))
            .chain(std::iter::once(&self.cur[..]))
            .filter(|c| !c.is_empty())
    }

    /// Takes in all of `other`'s samples, moving its chunks. A chunk being filled that holds
    /// few samples is copied into this one's instead, so that absorbing many small multisets
    /// (a breakdown by a value with many keys) leaves a few well-filled chunks rather than
    /// one small chunk per multiset.
    pub(crate) fn absorb(&mut self, other: Samples) {
        self.push_all(other.inline());
        // What `other` holds in full chunks: all but its inline and current samples.
        self.len += other
            .len
            .saturating_sub(other.cur.len() + usize::from(other.inline_len));
        self.done.extend(other.done);
        if other.cur.len() < SMALL {
            for &v in &other.cur {
                self.push(v);
            }
        } else {
            self.len += other.cur.len();
            self.done.push(other.cur);
        }
    }

    /// Adds copies of `other`'s samples: a few are pushed one by one (cloning them first
    /// was an allocation and a free for each multiset of a breakdown with many keys), more
    /// are cloned and absorbed chunk by chunk.
    pub(crate) fn extend_from(&mut self, other: &Samples) {
        if other.len < SMALL {
            let inline = other.inline();
            self.push_all(inline);
            // Most multisets of a breakdown by post hold only inline samples.
            if other.len > inline.len() {
                for c in &other.done {
                    self.push_all(c);
                }
                self.push_all(&other.cur);
            }
        } else {
            self.absorb(other.clone());
        }
    }

    /// A multiset of `values`: inline when they fit, else one chunk of exactly their size
    /// (a tally built from grouped samples allocates at most once a step).
    pub(crate) fn from_slice(values: &[u32]) -> Self {
        if values.len() > INLINE {
            return Samples::from(values.to_vec());
        }
        let mut s = Samples::default();
        s.push_all(values);
        s
    }

    /// The samples in ascending order.
    pub(crate) fn sorted(&self) -> Vec<u32> {
        let mut v = Vec::with_capacity(self.len);
        for c in self.chunks() {
            v.extend_from_slice(c);
        }
        v.sort_unstable();
        v
    }
}

impl From<Vec<u32>> for Samples {
    fn from(cur: Vec<u32>) -> Self {
        Samples {
            inline: [0; INLINE],
            inline_len: 0,
            done: Vec::new(),
            len: cur.len(),
            cur,
        }
    }
}

impl PartialEq for Samples {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.sorted() == other.sorted()
    }
}

impl Eq for Samples {}

impl Serialize for Samples {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.sorted().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Samples {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<u32>::deserialize(d).map(Samples::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Each case pushes up to 120,000 samples across several chunks.
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// However samples are pushed, absorbed and copied in, the multiset is the model's.
        #[test]
        fn chunks_hold_every_sample(
            parts in prop::collection::vec(prop::collection::vec(any::<u32>(), 0..40_000), 0..4),
        ) {
            let mut all = Samples::default();
            let mut want = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                let mut s = Samples::default();
                for &v in p {
                    s.push(v);
                }
                prop_assert_eq!(s.chunks().map(<[u32]>::len).sum::<usize>(), p.len());
                if i % 2 == 0 {
                    all.absorb(s);
                } else {
                    all.extend_from(&s);
                }
                want.extend_from_slice(p);
            }
            want.sort_unstable();
            prop_assert_eq!(all.len, want.len());
            prop_assert_eq!(all.chunks().map(<[u32]>::len).sum::<usize>(), want.len());
            prop_assert_eq!(all.sorted(), want.clone());
            prop_assert!(all == Samples::from(want));
        }
    }

    /// Regression (issue 20): a breakdown by 100,000 posts made one multiset per post and
    /// step, each taking a 64 KB chunk for its first sample, so 1,000,000 events took
    /// seconds and gigabytes. A few samples now take a small chunk, and absorbing many
    /// small multisets leaves a few chunks, not one per multiset.
    #[test]
    fn few_samples_take_little_memory() {
        let mut total = Samples::default();
        for k in 0..1000u32 {
            let mut s = Samples::default();
            for v in 0..3 {
                s.push(k + v);
            }
            assert!(s.cur.capacity() <= FIRST_CHUNK, "{}", s.cur.capacity());
            total.absorb(s);
        }
        assert_eq!(total.len(), 3000);
        let held: usize =
            total.done.iter().map(Vec::capacity).sum::<usize>() + total.cur.capacity();
        assert!(
            held <= 4 * 3000 + FIRST_CHUNK,
            "{held} slots held for 3000 samples"
        );
        assert!(total.done.len() <= 16, "{} chunks", total.done.len());
        assert_eq!(total.chunks().map(<[u32]>::len).sum::<usize>(), 3000);
    }

    /// Up to `INLINE` samples take no chunk; the next one does, and every sample stays.
    #[test]
    fn the_first_samples_allocate_nothing() {
        let mut s = Samples::default();
        for v in 0..INLINE as u32 {
            s.push(v);
            assert_eq!(s.cur.capacity(), 0);
            assert!(s.done.is_empty());
        }
        s.push(99);
        assert!(s.cur.capacity() > 0);
        let mut want: Vec<u32> = (0..INLINE as u32).collect();
        want.push(99);
        assert_eq!(s.sorted(), want);
        assert_eq!(s.len(), INLINE + 1);
    }

    #[test]
    fn serializes_ascending_and_reads_back() {
        let mut s = Samples::default();
        for v in [9, 1, 5, 1] {
            s.push(v);
        }
        let json = serde_json::to_string(&s).unwrap_or_default();
        assert_eq!(json, "[1,1,5,9]");
        let back: Samples = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, s);
        assert_ne!(back, Samples::from(vec![1, 5, 9]));
    }
}
