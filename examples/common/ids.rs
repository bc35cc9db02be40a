//! Patient ids to dense numbers, shared by the calculators that read millions of rows
//! (`#[path]`-included, so each compiles the parts it uses).
#![allow(dead_code)]

use std::collections::HashMap;
use std::hash::BuildHasher;

use rustc_hash::FxBuildHasher;

/// A map keyed by raw bytes, with the crate's id hasher (rustc-hash's `FxHasher`): patient
/// ids come from the caller's own file, so SipHash's flooding resistance buys nothing in a
/// one-shot calculator.
pub(crate) type IdMap<V> = HashMap<Box<[u8]>, V, FxBuildHasher>;

/// `n` empty hash-table slots, written once now rather than allocated zeroed.
///
/// `vec![(0, 0, 0); n]` asks the allocator for zeroed memory, which for a large table is
/// fresh pages the kernel maps lazily. A probe then reads an untouched page, which maps the
/// shared zero page, and the insert after it writes there: a copy-on-write fault that flushes
/// the page from every CPU the process runs on. With the other core parsing, that was an
/// interprocessor interrupt per page (`perf`: a tenth of the `rfm` calculator's samples in
/// `native_write_msr` under `ShortIds::reserve`). Writing the slots first maps each page
/// once, as the process's own, with no flush.
pub(crate) fn written_slots<T: Copy>(n: usize, empty: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    v.resize(n, empty);
    v
}

/// An open-addressing table from an inline 15-byte id (plus its length) to its number:
/// linear probing at a load of at most one half, so a lookup is usually one cache line, where
/// a general map reads a control byte and a bucket.
pub(crate) struct ShortIds {
    /// (key low, key high, number + 1); a zero number marks an empty slot.
    slots: Vec<(u64, u64, u32)>,
    len: usize,
}

impl ShortIds {
    pub(crate) fn new() -> Self {
        ShortIds {
            slots: written_slots(1 << 16, (0, 0, 0)),
            len: 0,
        }
    }

    /// A table for about `n` keys without growing.
    pub(crate) fn with_capacity(n: usize) -> Self {
        let mut slots = 16;
        while slots < n.saturating_mul(2) {
            slots *= 2;
        }
        ShortIds {
            slots: written_slots(slots, (0, 0, 0)),
            len: 0,
        }
    }

    /// Keys held.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn slot(&self, lo: u64, hi: u64) -> usize {
        (FxBuildHasher.hash_one((lo, hi)) as usize) & (self.slots.len() - 1)
    }

    /// Grows so that `more` insertions keep the load at most one half.
    pub(crate) fn reserve(&mut self, more: usize) {
        while (self.len + more) * 2 > self.slots.len() {
            self.grow();
        }
    }

    /// The number of the key, inserting `next` when it is new; `true` when inserted.
    pub(crate) fn get_or_insert(&mut self, lo: u64, hi: u64, next: u32) -> (u32, bool) {
        self.reserve(1);
        let mask = self.slots.len() - 1;
        let mut i = self.slot(lo, hi);
        loop {
            match self.slots.get_mut(i) {
                Some((a, b, n)) if *n == 0 => {
                    (*a, *b, *n) = (lo, hi, next + 1);
                    self.len += 1;
                    return (next, true);
                }
                Some((a, b, n)) if *a == lo && *b == hi => return (*n - 1, false),
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub(crate) fn grow(&mut self) {
        let doubled = written_slots(self.slots.len() * 2, (0, 0, 0));
        let old = std::mem::replace(&mut self.slots, doubled);
        let mask = self.slots.len() - 1;
        for (lo, hi, n) in old.into_iter().filter(|s| s.2 != 0) {
            let mut i = self.slot(lo, hi);
            while self.slots.get(i).is_some_and(|s| s.2 != 0) {
                i = (i + 1) & mask;
            }
            if let Some(s) = self.slots.get_mut(i) {
                *s = (lo, hi, n);
            }
        }
    }
}

/// Partitions of inline keys (see [`partition`]).
pub(crate) const PARTITIONS: usize = 256;

/// The partition of an inline key: the top bits of its hash, where the table slots take the
/// low ones. Interning by partition keeps each table small enough to stay in cache.
pub(crate) fn partition(lo: u64, hi: u64) -> usize {
    (FxBuildHasher.hash_one((hi, lo)) >> 56) as usize
}

/// Patient ids interned to dense `u32`s. Ids of up to 15 bytes (nearly all) are keyed inline,
/// so a lookup touches the table only, never a string on the heap; the text lives once, in
/// one arena, in first-seen order.
pub(crate) struct Interner {
    short: ShortIds,
    long: IdMap<u32>,
    arena: Vec<u8>,
    spans: Vec<(usize, usize)>,
}

impl Default for Interner {
    fn default() -> Self {
        Interner {
            short: ShortIds::new(),
            long: HashMap::default(),
            arena: Vec::new(),
            spans: Vec::new(),
        }
    }
}

/// Rows whose ids are looked up together. The lookup loop is short, so the processor keeps
/// many of its table misses in flight at once instead of one per parsed row.
pub(crate) const BATCH: usize = 64;

/// The inline key of an id under 16 bytes: the bytes, zero-padded, with the length last
/// (as little-endian words: `lo` holds bytes 0..8, `hi` bytes 8..15 and the length on top).
///
/// Built from overlapping fixed-size loads rather than by copying the id into a zeroed
/// buffer: that copy was a call to `memcpy`, and reading the words back from its byte
/// stores stalled on store forwarding, a third of the funnel reader's samples.
#[inline]
pub(crate) fn short_key(id: &[u8]) -> Option<(u64, u64)> {
    let n = id.len();
    if n >= 16 {
        return None;
    }
    let word = |b: &[u8; 8]| u64::from_le_bytes(*b);
    let half = |b: &[u8; 4]| u64::from(u32::from_le_bytes(*b));
    let (lo, hi) = if n >= 8 {
        // The last 8 bytes end at n; bytes 8..n are their top n - 8 bytes.
        let tail = word(id.last_chunk::<8>()?);
        let hi = tail.checked_shr(8 * (16 - n as u32)).unwrap_or(0);
        (word(id.first_chunk::<8>()?), hi)
    } else if n >= 4 {
        // Two overlapping 4-byte loads: where they overlap, they hold the same bytes.
        let (a, b) = (half(id.first_chunk::<4>()?), half(id.last_chunk::<4>()?));
        (a | (b << (8 * (n - 4))), 0)
    } else {
        let lo = id
            .iter()
            .enumerate()
            .fold(0u64, |k, (i, &b)| k | (u64::from(b) << (8 * i)));
        (lo, 0)
    };
    Some((lo, hi | ((n as u64) << 56)))
}

impl Interner {
    /// Interns a batch of short ids, in order, handing each row's number and payload to
    /// `emit`.
    pub(crate) fn resolve<T>(
        &mut self,
        pending: &mut Vec<((u64, u64), T)>,
        mut emit: impl FnMut(u32, T),
    ) -> Result<(), String> {
        // First touch every slot the batch will probe: independent loads in a tiny loop, so
        // their cache misses overlap; the inserting pass then finds the lines in cache.
        self.short.reserve(pending.len());
        let mut touched = 0u32;
        for ((lo, hi), _) in pending.iter() {
            let i = self.short.slot(*lo, *hi);
            touched ^= self.short.slots.get(i).map_or(0, |s| s.2);
        }
        std::hint::black_box(touched);
        for ((lo, hi), payload) in pending.drain(..) {
            let next = self.next()?;
            let (patient, new) = self.short.get_or_insert(lo, hi, next);
            if new {
                let mut w = [0u8; 16];
                w[..8].copy_from_slice(&lo.to_le_bytes());
                w[8..].copy_from_slice(&hi.to_le_bytes());
                let len = usize::from(w[15]).min(15);
                self.spans.push((self.arena.len(), len));
                self.arena.extend_from_slice(&w[..len]);
            }
            emit(patient, payload);
        }
        Ok(())
    }

    pub(crate) fn next(&self) -> Result<u32, String> {
        u32::try_from(self.spans.len())
            .ok()
            .filter(|n| *n < u32::MAX - 1)
            .ok_or_else(|| "more than 2^32 - 2 patients".to_owned())
    }

    pub(crate) fn intern(&mut self, id: &[u8]) -> Result<u32, String> {
        let next = self.next()?;
        let (p, new) = if let Some((lo, hi)) = short_key(id) {
            self.short.get_or_insert(lo, hi, next)
        } else if let Some(p) = self.long.get(id) {
            (*p, false)
        } else {
            self.long.insert(id.into(), next);
            (next, true)
        };
        if new {
            self.spans.push((self.arena.len(), id.len()));
            self.arena.extend_from_slice(id);
        }
        Ok(p)
    }

    pub(crate) fn name(&self, p: u32) -> &[u8] {
        self.spans
            .get(p as usize)
            .and_then(|(at, len)| self.arena.get(*at..at + len))
            .unwrap_or(&[])
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }
}

/// One thread's patient ids, numbered densely from 0 in the order the thread first saw them.
/// Threads intern their own share of the rows at once; [`merge_local`] then numbers the ids
/// globally in the order a single reader would have first seen them, looking up each
/// thread's distinct ids once instead of every row.
pub(crate) struct LocalIds {
    short: ShortIds,
    long: IdMap<u32>,
    /// Each local number's id: an inline key, or `(index into long_ids, u64::MAX)`.
    order: Vec<(u64, u64)>,
    long_ids: Vec<Box<[u8]>>,
}

impl Default for LocalIds {
    fn default() -> Self {
        LocalIds {
            short: ShortIds::new(),
            long: HashMap::default(),
            order: Vec::new(),
            long_ids: Vec::new(),
        }
    }
}

/// The high word of a key that stands for a long id (a short key's top byte is its length,
/// at most 15).
const LONG: u64 = u64::MAX;

impl LocalIds {
    /// Distinct ids so far.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    fn next(&self) -> Result<u32, String> {
        u32::try_from(self.order.len())
            .ok()
            .filter(|n| *n < u32::MAX - 1)
            .ok_or_else(|| "more than 2^32 - 2 patients".to_owned())
    }

    /// The local number of a long id (16 bytes or more; short ones go through
    /// [`LocalIds::resolve`]).
    pub(crate) fn intern_long(&mut self, id: &[u8]) -> Result<u32, String> {
        if let Some(&n) = self.long.get(id) {
            return Ok(n);
        }
        let next = self.next()?;
        self.long.insert(id.into(), next);
        self.order.push((self.long_ids.len() as u64, LONG));
        self.long_ids.push(id.into());
        Ok(next)
    }

    /// Numbers a batch of short keys, in order, handing each its payload's number (the
    /// batched lookups overlap their cache misses, as in [`Interner::resolve`]).
    pub(crate) fn resolve<T>(
        &mut self,
        pending: &mut Vec<((u64, u64), T)>,
        mut emit: impl FnMut(u32, T),
    ) -> Result<(), String> {
        self.short.reserve(pending.len());
        let mut touched = 0u32;
        for ((lo, hi), _) in pending.iter() {
            let i = self.short.slot(*lo, *hi);
            touched ^= self.short.slots.get(i).map_or(0, |s| s.2);
        }
        std::hint::black_box(touched);
        for ((lo, hi), payload) in pending.drain(..) {
            let next = self.next()?;
            let (n, new) = self.short.get_or_insert(lo, hi, next);
            if new {
                self.order.push((lo, hi));
            }
            emit(n, payload);
        }
        Ok(())
    }
}

/// Numbers the threads' ids globally, in input order: each thread's distinct ids in the
/// order it first saw them, thread after thread, is the order in which a single reader
/// would first see them. Returns, for each thread, its local numbers' global ones.
///
/// # Errors
///
/// More than 2^32 - 2 patients.
pub(crate) fn merge_local(
    global: &mut Interner,
    parts: &[&LocalIds],
) -> Result<Vec<Vec<u32>>, String> {
    let mut maps = Vec::with_capacity(parts.len());
    for part in parts {
        let mut map = vec![0u32; part.order.len()];
        let mut pending: Vec<((u64, u64), usize)> = Vec::with_capacity(BATCH);
        for (local, &(lo, hi)) in part.order.iter().enumerate() {
            if hi == LONG {
                // Keep the order: the batch before this id first.
                global.resolve(&mut pending, |g, l| put(&mut map, l, g))?;
                let id = part
                    .long_ids
                    .get(usize::try_from(lo).unwrap_or(usize::MAX))
                    .map_or(&[][..], |b| &b[..]);
                put(&mut map, local, global.intern(id)?);
            } else {
                pending.push(((lo, hi), local));
                if pending.len() == BATCH {
                    global.resolve(&mut pending, |g, l| put(&mut map, l, g))?;
                }
            }
        }
        global.resolve(&mut pending, |g, l| put(&mut map, l, g))?;
        maps.push(map);
    }
    Ok(maps)
}

fn put(map: &mut [u32], at: usize, value: u32) {
    if let Some(slot) = map.get_mut(at) {
        *slot = value;
    }
}

#[cfg(test)]
mod local_tests {
    use super::*;

    /// The written table is the zeroed one, and a table grown from it keeps every key.
    #[test]
    fn written_slots_are_the_empty_table() {
        assert_eq!(
            written_slots(70_000, (0u64, 0u64, 0u32)),
            vec![(0, 0, 0); 70_000]
        );
        assert!(written_slots(0, 7u8).is_empty());
        let mut t = ShortIds::with_capacity(4);
        for k in 0..10_000u64 {
            assert_eq!(t.get_or_insert(k, !k, k as u32), (k as u32, true));
        }
        for k in 0..10_000u64 {
            assert_eq!(t.get_or_insert(k, !k, 0), (k as u32, false));
        }
        assert_eq!(t.len(), 10_000);
    }

    /// Ids numbered by several threads and merged get the numbers one reader gives them in
    /// input order, long ids (16 bytes and more) among the short ones included.
    #[test]
    fn merged_local_numbers_are_the_first_seen_order() {
        let ids: Vec<Vec<u8>> = (0..3_000u32)
            .map(|i| {
                let n = (i * 7919) % 611;
                if n % 13 == 0 {
                    format!("a-long-patient-identifier-{n}").into_bytes()
                } else {
                    format!("P{n}").into_bytes()
                }
            })
            .collect();
        let mut one = Interner::default();
        let want: Vec<u32> = ids.iter().map(|id| one.intern(id).unwrap()).collect();
        for cuts in [
            vec![0, 3_000],
            vec![0, 1, 1_500, 3_000],
            vec![0, 700, 701, 2_999, 3_000],
        ] {
            let mut parts = Vec::new();
            let mut rows = Vec::new();
            for w in cuts.windows(2) {
                let mut local = LocalIds::default();
                let mut out = vec![0u32; w[1] - w[0]];
                let mut pending = Vec::new();
                for (row, id) in ids[w[0]..w[1]].iter().enumerate() {
                    match short_key(id) {
                        Some(k) => pending.push((k, row)),
                        None => {
                            local.resolve(&mut pending, |n, r| out[r] = n).unwrap();
                            out[row] = local.intern_long(id).unwrap();
                        }
                    }
                }
                local.resolve(&mut pending, |n, r| out[r] = n).unwrap();
                parts.push(local);
                rows.push(out);
            }
            let mut global = Interner::default();
            let maps = merge_local(&mut global, &parts.iter().collect::<Vec<_>>()).unwrap();
            let got: Vec<u32> = rows
                .iter()
                .zip(&maps)
                .flat_map(|(r, m)| r.iter().map(|&l| m[l as usize]))
                .collect();
            assert_eq!(got, want, "cuts {cuts:?}");
            assert_eq!(global.len(), one.len());
            for (p, id) in want.iter().zip(&ids) {
                assert_eq!(global.name(*p), &id[..]);
            }
        }
    }
}

#[cfg(test)]
mod short_key_tests {
    use super::short_key;

    /// The definition: the id's bytes, zero-padded to 16, the length in the last byte.
    fn by_copy(id: &[u8]) -> Option<(u64, u64)> {
        (id.len() < 16).then(|| {
            let mut w = [0u8; 16];
            w[..id.len()].copy_from_slice(id);
            w[15] = id.len() as u8;
            let k = u128::from_le_bytes(w);
            (k as u64, (k >> 64) as u64)
        })
    }

    #[test]
    fn equals_the_padded_copy_at_every_length() {
        let bytes: Vec<u8> = (0..40u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(1))
            .collect();
        for len in 0..=20 {
            for start in 0..8 {
                let id = &bytes[start..start + len];
                assert_eq!(short_key(id), by_copy(id), "{id:?}");
            }
        }
        assert_eq!(short_key(b"P0000001"), by_copy(b"P0000001"));
        assert_ne!(
            short_key(b"P1"),
            short_key(b"P1\0"),
            "the length tells them apart"
        );
    }
}
