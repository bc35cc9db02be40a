//! `IdIndex`: an open-addressing index from a `u64` id to a position in an append-only log.
//!
//! Each account keeps two: command keys (idempotency) and purchases. Every command probes
//! one of them and most commands add an entry, so the index is built for that: one probe
//! answers both "is it there?" and "where would it go?", entries are 16 bytes, and an
//! insert after a miss reuses the probe's slot. A general `HashMap` probed twice per
//! command (a lookup in `decide`, an insert in `apply`) was the largest single cost of a
//! ledger command.

/// A multiplicative (Fibonacci) hash: ids are caller keys and sequence-like numbers, whose
/// low bits alone cluster; the high bits of the product spread them.
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// The smallest table allocated (slots).
const MIN_SLOTS: usize = 8;

/// Maps `u64` ids to `u32` positions. Entries are never removed (the logs they point into
/// are append-only), so linear probing needs no tombstones.
#[derive(Debug, Clone, Default)]
pub(crate) struct IdIndex {
    /// `(id, position + 1)`; a position of 0 marks an empty slot. The length is 0 or a
    /// power of two.
    slots: Vec<(u64, u32)>,
    /// Entries held.
    len: usize,
    /// `64 - log2(slots.len())`: the shift that turns a product into a slot number.
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

impl IdIndex {
    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, id: u64) -> usize {
        // `shift` is at most 63 for a non-empty table, so the shift never overflows.
        (id.wrapping_mul(MULTIPLIER) >> self.shift) as usize
    }

    /// Finds `id`.
    pub(crate) fn probe(&self, id: u64) -> Probe {
        let n = self.slots.len();
        if n == 0 {
            return Probe::Vacant(0);
        }
        let mask = n - 1;
        let mut i = self.home(id) & mask;
        // The table is never full (at most 3/4 of the slots), so an empty slot ends every
        // probe; the bound only keeps the loop total.
        for _ in 0..n {
            match self.slots.get(i) {
                Some(&(_, 0)) | None => return Probe::Vacant(i),
                Some(&(k, p)) if k == id => return Probe::Found(p - 1),
                Some(_) => i = (i + 1) & mask,
            }
        }
        Probe::Vacant(n)
    }

    /// The position of `id`, if present.
    pub(crate) fn get(&self, id: u64) -> Option<u32> {
        match self.probe(id) {
            Probe::Found(p) => Some(p),
            Probe::Vacant(_) => None,
        }
    }

    /// Adds `id` at `position`, given the [`Probe::Vacant`] slot a probe for `id` just
    /// returned (no insert in between). Positions must be below `u32::MAX`.
    pub(crate) fn insert_at(&mut self, slot: usize, id: u64, position: u32) {
        let tag = position.saturating_add(1);
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
            self.place(id, tag);
        } else if let Some(s) = self.slots.get_mut(slot)
            && s.1 == 0
        {
            *s = (id, tag);
        } else {
            self.place(id, tag);
        }
        self.len += 1;
    }

    /// Adds `id` at `position`; `id` must be absent.
    #[cfg(test)]
    pub(crate) fn insert(&mut self, id: u64, position: u32) {
        match self.probe(id) {
            Probe::Vacant(slot) => self.insert_at(slot, id, position),
            Probe::Found(_) => {}
        }
    }

    /// Puts an entry in the first empty slot of its probe sequence (the table has room).
    fn place(&mut self, id: u64, tag: u32) {
        let n = self.slots.len();
        let mask = n.wrapping_sub(1);
        let mut i = self.home(id) & mask;
        for _ in 0..n {
            match self.slots.get_mut(i) {
                Some(s) if s.1 == 0 => {
                    *s = (id, tag);
                    return;
                }
                Some(_) => i = (i + 1) & mask,
                None => return,
            }
        }
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![(0, 0); n]);
        self.shift = 64 - n.trailing_zeros();
        for (k, p) in old {
            if p != 0 {
                self.place(k, p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    proptest! {
        /// Against a `HashMap` model: every id inserted is found at its position, every
        /// other id is absent, whatever the ids (clustered, repeated, extreme).
        #[test]
        fn agrees_with_a_map(ops in prop::collection::vec(
            prop_oneof![0u64..64, any::<u64>(), (0u64..64).prop_map(|x| x << 58)],
            0..400,
        )) {
            let mut t = IdIndex::default();
            let mut model: HashMap<u64, u32> = HashMap::new();
            for (i, id) in ops.iter().enumerate() {
                let pos = i as u32;
                match t.probe(*id) {
                    Probe::Found(p) => prop_assert_eq!(model.get(id), Some(&p)),
                    Probe::Vacant(slot) => {
                        prop_assert!(!model.contains_key(id));
                        t.insert_at(slot, *id, pos);
                        model.insert(*id, pos);
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.get(id.wrapping_add(1)), model.get(&id.wrapping_add(1)).copied());
            }
            for (id, p) in &model {
                prop_assert_eq!(t.get(*id), Some(*p));
            }
        }
    }

    #[test]
    fn empty_and_growth() {
        let mut t = IdIndex::default();
        assert_eq!(t.get(0), None);
        assert_eq!(t.probe(7), Probe::Vacant(0));
        for i in 0..1_000u64 {
            t.insert(i * 1_024, i as u32);
        }
        assert_eq!(t.len(), 1_000);
        assert!((0..1_000u64).all(|i| t.get(i * 1_024) == Some(i as u32)));
        assert_eq!(t.get(1), None);
        // Inserting a present id through `insert` changes nothing.
        t.insert(0, 99);
        assert_eq!(t.get(0), Some(0));
    }
}
