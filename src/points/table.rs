//! `IdIndex`: an open-addressing index from a `u64` id to a position in an append-only log.
//!
//! Each account keeps two: command keys (idempotency) and purchases. Every command probes
//! one of them and most commands add an entry, so the index is built for that: one probe
//! answers both "is it there?" and "where would it go?", and an insert after a miss reuses
//! the probe's slot. A general `HashMap` probed twice per command (a lookup in `decide`, an
//! insert in `apply`) was the largest single cost of a ledger command.
//!
//! A slot is 8 bytes: the high 32 bits of the id's hash and the position. The ids
//! themselves stay in the caller's log; a probe reads the log only when the hash bits
//! match (for an id that is present, the entry the caller wanted anyway), and growing the
//! table re-homes slots from their hash bits alone, without reading the log.

/// A multiplicative (Fibonacci) hash: ids are caller keys and sequence-like numbers, whose
/// low bits alone cluster; the high bits of the product spread them.
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The smallest table allocated (slots).
const MIN_SLOTS: usize = 8;

/// Maps `u64` ids to `u32` positions in a log the caller keeps. Entries are never
/// removed (the logs are append-only), so linear probing needs no tombstones.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdIndex {
    /// `hash << 32 | (position + 1)`, where `hash` is the high half of the id's hash; 0
    /// marks an empty slot. The length is 0 or a power of two.
    slots: Vec<u64>,
    /// Entries held.
    len: usize,
    /// `32 - log2(slots.len())`: the shift that turns a 32-bit hash into a slot number.
    shift: u32,
}

/// Where a probe ended: at the id's position, or at the empty slot it would take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The id is present, at this position.
    Found(u32),
    /// The id is absent; [`IdIndex::insert_at`] puts it in this slot.
    Vacant(usize),
}

/// The high half of the id's hash: what a slot keeps and where the id's probe starts.
fn hash(id: u64) -> u32 {
    (id.wrapping_mul(MULTIPLIER) >> 32) as u32
}

impl IdIndex {
    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, h: u32) -> usize {
        // `shift` is at most 29 (tables have at least 8 slots), so it never overflows.
        (h >> self.shift) as usize
    }

    /// Finds `id`; `is_id(position)` says whether the log holds `id` at `position`.
    pub(crate) fn probe(&self, id: u64, is_id: impl Fn(u32) -> bool) -> Probe {
        let n = self.slots.len();
        if n == 0 {
            return Probe::Vacant(0);
        }
        let h = hash(id);
        let mask = n - 1;
        let mut i = self.home(h) & mask;
        // The table is never full (at most 3/4 of the slots), so an empty slot ends every
        // probe; the bound only keeps the loop total.
        for _ in 0..n {
            match self.slots.get(i) {
                Some(0) | None => return Probe::Vacant(i),
                Some(&s) if (s >> 32) as u32 == h && is_id((s as u32).wrapping_sub(1)) => {
                    return Probe::Found((s as u32).wrapping_sub(1));
                }
                Some(_) => i = (i + 1) & mask,
            }
        }
        Probe::Vacant(n)
    }

    /// The position of `id`, if present (`is_id` as for [`IdIndex::probe`]).
    pub(crate) fn get(&self, id: u64, is_id: impl Fn(u32) -> bool) -> Option<u32> {
        match self.probe(id, is_id) {
            Probe::Found(p) => Some(p),
            Probe::Vacant(_) => None,
        }
    }

    /// Reads `id`'s home slot, so that the cache misses of several accounts' probes can be
    /// in flight together; returns a value to keep the load alive.
    pub(crate) fn touch(&self, id: u64) -> u64 {
        let n = self.slots.len();
        if n == 0 {
            return 0;
        }
        let i = self.home(hash(id)) & (n - 1);
        self.slots.get(i).copied().unwrap_or(0)
    }

    /// Adds `id` at `position`, given the [`Probe::Vacant`] slot a probe for `id` just
    /// returned (no insert in between). Positions must be below `u32::MAX`.
    pub(crate) fn insert_at(&mut self, slot: usize, id: u64, position: u32) {
        let entry = u64::from(hash(id)) << 32 | u64::from(position.saturating_add(1));
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
            self.place(entry);
        } else if let Some(s) = self.slots.get_mut(slot)
            && *s == 0
        {
            *s = entry;
        } else {
            self.place(entry);
        }
        self.len += 1;
    }

    /// Puts an entry in the first empty slot of its probe sequence (the table has room).
    fn place(&mut self, entry: u64) {
        let n = self.slots.len();
        let mask = n.wrapping_sub(1);
        let mut i = self.home((entry >> 32) as u32) & mask;
        for _ in 0..n {
            match self.slots.get_mut(i) {
                Some(s) if *s == 0 => {
                    *s = entry;
                    return;
                }
                Some(_) => i = (i + 1) & mask,
                None => return,
            }
        }
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; n]);
        self.shift = 32 - n.trailing_zeros();
        for e in old {
            if e != 0 {
                self.place(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// The inverse of the hash multiplier mod 2⁶⁴: `x · INVERSE` hashes to 0 for every
    /// `x < 2³²`, so such ids all share their hash bits and their home slot.
    const INVERSE: u64 = {
        let mut x = MULTIPLIER;
        let mut i = 0;
        while i < 6 {
            x = x.wrapping_mul(2u64.wrapping_sub(MULTIPLIER.wrapping_mul(x)));
            i += 1;
        }
        x
    };

    /// An index with the log it points into.
    #[derive(Default)]
    struct Logged {
        index: IdIndex,
        log: Vec<u64>,
    }

    impl Logged {
        fn probe(&self, id: u64) -> Probe {
            self.index
                .probe(id, |p| self.log.get(p as usize) == Some(&id))
        }

        fn get(&self, id: u64) -> Option<u32> {
            self.index
                .get(id, |p| self.log.get(p as usize) == Some(&id))
        }

        fn insert(&mut self, id: u64) -> Option<u32> {
            match self.probe(id) {
                Probe::Vacant(slot) => {
                    let p = self.log.len() as u32;
                    self.index.insert_at(slot, id, p);
                    self.log.push(id);
                    Some(p)
                }
                Probe::Found(_) => None,
            }
        }
    }

    proptest! {
        /// Against a `HashMap` model: every id inserted is found at its position, every
        /// other id is absent, whatever the ids (clustered, repeated, extreme, or sharing
        /// the high half of their hash).
        #[test]
        fn agrees_with_a_map(ops in prop::collection::vec(
            prop_oneof![
                0u64..64,
                any::<u64>(),
                (0u64..64).prop_map(|x| x << 58),
                // Ids whose hashes all share their high 32 bits.
                (0u64..64).prop_map(|x| x.wrapping_mul(INVERSE)),
            ],
            0..400,
        )) {
            let mut t = Logged::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            for id in &ops {
                match t.probe(*id) {
                    Probe::Found(p) => prop_assert_eq!(model.get(id), Some(&p)),
                    Probe::Vacant(_) => {
                        prop_assert!(!model.contains_key(id));
                        let p = t.insert(*id);
                        prop_assert_eq!(p, Some(model.len() as u32));
                        model.insert(*id, model.len() as u32);
                    }
                }
                prop_assert_eq!(t.index.len(), model.len());
                let other = id.wrapping_add(1);
                prop_assert_eq!(t.get(other), model.get(&other).copied());
                prop_assert!(t.index.touch(*id) != 0);
            }
            for (id, p) in &model {
                prop_assert_eq!(t.get(*id), Some(*p));
            }
        }
    }

    #[test]
    fn empty_growth_and_shared_hash_bits() {
        let mut t = Logged::default();
        assert_eq!(t.get(0), None);
        assert_eq!(t.probe(7), Probe::Vacant(0));
        assert_eq!(t.index.touch(7), 0);
        for i in 0..1_000u64 {
            assert_eq!(t.insert(i * 1_024), Some(i as u32));
        }
        assert_eq!(t.index.len(), 1_000);
        assert!((0..1_000u64).all(|i| t.get(i * 1_024) == Some(i as u32)));
        assert_eq!(t.get(1), None);
        assert_eq!(t.insert(0), None);
        // Ids with the same hash bits are told apart by the log.
        assert_eq!(MULTIPLIER.wrapping_mul(INVERSE), 1);
        let mut u = Logged::default();
        let same: Vec<u64> = (1..40u64).map(|x| x.wrapping_mul(INVERSE)).collect();
        assert!(same.iter().all(|&x| hash(x) == 0));
        for (i, &x) in same.iter().enumerate() {
            assert_eq!(u.insert(x), Some(i as u32));
        }
        assert!(
            same.iter()
                .enumerate()
                .all(|(i, &x)| u.get(x) == Some(i as u32))
        );
        assert_eq!(u.get(0), None);
    }
}
