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
            slots: vec![(0, 0, 0); 1 << 16],
            len: 0,
        }
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
        let doubled = vec![(0, 0, 0); self.slots.len() * 2];
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

/// The inline key of an id under 16 bytes: the bytes, zero-padded, with the length last.
pub(crate) fn short_key(id: &[u8]) -> Option<(u64, u64)> {
    (id.len() < 16).then(|| {
        let mut w = [0u8; 16];
        w[..id.len()].copy_from_slice(id);
        w[15] = id.len() as u8;
        let k = u128::from_le_bytes(w);
        (k as u64, (k >> 64) as u64)
    })
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
