//! Usage counters: what a campaign has already given, per patient or per campaign, per
//! calendar bucket.
//!
//! The engine reads a [`UsageSnapshot`] (counters with the version each was loaded at) and
//! returns a [`UsageReservation`] (increments, each with the version it expects). The host
//! commits the reservation through [`crate::store::UsageStore`]; a counter that moved in the
//! meantime makes the whole commit fail with a conflict, and the host evaluates again. No
//! counter is ever read and then written blindly (Medusa #16595).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::hash::{Hash, Hasher};

use crate::calendar::Period;
use crate::id::{CampaignId, IdMap, PatientId};
use crate::version::{Version, Versioned};

/// What a counter counts. Budgets and usage limits share these counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UsageAction {
    /// Applications of the campaign (one per evaluation that applied it), in uses.
    Apply,
    /// Points granted by the campaign's point effects, in points.
    EarnPoints,
    /// Cashback granted, in fen (¥0.01).
    Cashback,
}

impl UsageAction {
    /// The unit the counter is kept in.
    pub fn unit(self) -> &'static str {
        match self {
            UsageAction::Apply => "uses",
            UsageAction::EarnPoints => "points",
            UsageAction::Cashback => "fen",
        }
    }
}

impl fmt::Display for UsageAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsageAction::Apply => "apply",
            UsageAction::EarnPoints => "earn_points",
            UsageAction::Cashback => "cashback",
        })
    }
}

/// The calendar bucket of a counter: the whole life of the campaign, or one local day, week,
/// month or year (labelled by its first local date, see [`crate::calendar::ClinicCalendar::bucket`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Bucket {
    /// Never resets.
    Lifetime,
    /// One calendar period, starting on `start` (local date).
    Period {
        /// Day, week, month or year.
        period: Period,
        /// The first local date of the period.
        #[serde(with = "crate::calendar::in_range::date")]
        start: NaiveDate,
    },
}

/// The key of one usage counter.
///
/// `patient` is `Some` for per-patient counters and `None` for counters of the whole
/// campaign (its budget, or a campaign-wide limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UsageKey {
    /// The campaign counted.
    pub campaign: CampaignId,
    /// What is counted.
    pub action: UsageAction,
    /// The patient, for per-patient counters.
    pub patient: Option<PatientId>,
    /// The calendar bucket.
    pub bucket: Bucket,
}

/// Hashes two words instead of the derived field-by-field walk: the engine looks a key up
/// for every cap of every candidate, and the derived hash fed the hasher eight times. Keys
/// that are equal give equal words, as `Hash` requires.
impl Hash for UsageKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let action = match self.action {
            UsageAction::Apply => 0u64,
            UsageAction::EarnPoints => 1,
            UsageAction::Cashback => 2,
        };
        let (bucket, start) = match self.bucket {
            Bucket::Lifetime => (0u64, None),
            Bucket::Period { period, start } => {
                let p = match period {
                    Period::Day => 1u64,
                    Period::Week => 2,
                    Period::Month => 3,
                    _ => 4,
                };
                (p, Some(start))
            }
        };
        let patient = self.patient.map_or(0, |p| p.get().wrapping_add(1));
        // Small fields low: the Fx multiply only carries bits upwards.
        state.write_u64(self.campaign.get().rotate_left(8) ^ (action << 4) ^ bucket);
        state.write_u64(patient);
        // A date hashes as one packed `i32`, cheaper than any day count.
        if let Some(start) = start {
            start.hash(state);
        }
    }
}

impl fmt::Display for UsageKey {
    /// A stable text form, usable as a database key: `CP7/earn_points/P3/month:2026-11-01`,
    /// `CP7/apply/*/lifetime`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/", self.campaign, self.action)?;
        match self.patient {
            Some(p) => write!(f, "{p}/")?,
            None => f.write_str("*/")?,
        }
        match self.bucket {
            Bucket::Lifetime => f.write_str("lifetime"),
            Bucket::Period { period, start } => {
                let p = match period {
                    Period::Day => "day",
                    Period::Week => "week",
                    Period::Month => "month",
                    _ => "year",
                };
                write!(f, "{p}:{start}")
            }
        }
    }
}

/// Counters as loaded from a store: the count and its version per key. A key that is absent
/// counts zero and has never been written (version `None`).
///
/// The counters are kept in the order loaded, besides the hash index: a store loads the keys
/// of [`crate::campaign::CampaignBook::usage_keys`] in order, which is the order the engine
/// reads them, so the engine finds most counters at a cursor with one key comparison instead
/// of a hash lookup. Equality ignores the load order.
#[derive(Debug, Clone, Default)]
pub struct UsageSnapshot {
    /// The counters, in the order first inserted.
    entries: Vec<(UsageKey, Versioned<u64>)>,
    /// Key to position in `entries`.
    index: IdMap<UsageKey, u32>,
}

impl PartialEq for UsageSnapshot {
    fn eq(&self, other: &Self) -> bool {
        self.entries.len() == other.entries.len()
            && self
                .entries
                .iter()
                .all(|(k, v)| other.find(k).is_some_and(|w| w == v))
    }
}

impl Eq for UsageSnapshot {}

impl UsageSnapshot {
    /// An empty snapshot: every counter at zero, never written.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a loaded counter (replacing an earlier one of the same key, in its place).
    pub fn insert(&mut self, key: UsageKey, counter: Versioned<u64>) {
        match self.index.get(&key) {
            Some(&at) => {
                if let Some(e) = self.entries.get_mut(at as usize) {
                    e.1 = counter;
                }
            }
            None => {
                let at = u32::try_from(self.entries.len()).unwrap_or(u32::MAX);
                self.index.insert(key, at);
                self.entries.push((key, counter));
            }
        }
    }

    /// Sets the counter of `key` to what `next` makes of its count and version (`(0, None)`
    /// when absent, as [`UsageSnapshot::get`] answers); `None` leaves it as it is. One hash
    /// lookup, where a `get` and an `insert` took two (a purchase writes dozens of counters).
    pub(crate) fn update(
        &mut self,
        key: UsageKey,
        next: impl FnOnce(u64, Option<Version>) -> Option<Versioned<u64>>,
    ) {
        // A lookup first, then an insert only for a new key: most writes are to counters
        // that exist (a campaign's budget), and the entry API reserved room and walked the
        // table's growth check on every call.
        if let Some(&at) = self.index.get(&key) {
            if let Some(slot) = self.entries.get_mut(at as usize)
                && let Some(n) = next(slot.1.value, Some(slot.1.version))
            {
                slot.1 = n;
            }
            return;
        }
        if let Some(n) = next(0, None) {
            self.index
                .insert(key, u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
            self.entries.push((key, n));
        }
    }

    fn find(&self, key: &UsageKey) -> Option<&Versioned<u64>> {
        let at = *self.index.get(key)?;
        self.entries.get(at as usize).map(|(_, v)| v)
    }

    /// The count and version of a key: `(0, None)` when absent.
    #[inline]
    pub fn get(&self, key: &UsageKey) -> (u64, Option<Version>) {
        if self.entries.is_empty() {
            return (0, None);
        }
        match self.find(key) {
            Some(v) => (v.value, Some(v.version)),
            None => (0, None),
        }
    }

    /// [`UsageSnapshot::get`], trying the counter at `cursor` first and leaving the cursor
    /// after the counter found; also tells where the counter is held (`u32::MAX`: absent),
    /// for [`UsageSnapshot::update_at`]. Reading keys in the order they were loaded, every
    /// present key is found at the cursor (absent keys were skipped by the store and leave
    /// it be).
    #[inline]
    pub(crate) fn get_slot_at(
        &self,
        key: &UsageKey,
        cursor: &mut usize,
    ) -> (u64, Option<Version>, u32) {
        if let Some((k, v)) = self.entries.get(*cursor)
            && k == key
        {
            let slot = u32::try_from(*cursor).unwrap_or(u32::MAX);
            *cursor += 1;
            return (v.value, Some(v.version), slot);
        }
        if self.entries.is_empty() {
            return (0, None, u32::MAX);
        }
        match self.index.get(key) {
            Some(&at) => {
                *cursor = at as usize + 1;
                self.entries
                    .get(at as usize)
                    .map_or((0, None, u32::MAX), |(_, v)| (v.value, Some(v.version), at))
            }
            None => (0, None, u32::MAX),
        }
    }

    /// [`UsageSnapshot::update`], trying the counter held at `slot` first (where
    /// [`UsageSnapshot::get_slot_at`] found it): when that is `key`'s, no hashing. Any other
    /// slot, stale or `u32::MAX`, falls back to the lookup, so the answer never depends on
    /// the hint.
    #[inline]
    pub(crate) fn update_at(
        &mut self,
        slot: u32,
        key: UsageKey,
        next: impl FnOnce(u64, Option<Version>) -> Option<Versioned<u64>>,
    ) {
        if let Some(e) = self.entries.get_mut(slot as usize)
            && e.0 == key
        {
            if let Some(n) = next(e.1.value, Some(e.1.version)) {
                e.1 = n;
            }
            return;
        }
        // No hint: usually a counter the engine found absent, about to be created, where
        // one probe of the entry API beats a lookup followed by an insert.
        match self.index.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => {
                if let Some(e) = self.entries.get_mut(*o.get() as usize)
                    && let Some(n) = next(e.1.value, Some(e.1.version))
                {
                    e.1 = n;
                }
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                if let Some(n) = next(0, None) {
                    v.insert(u32::try_from(self.entries.len()).unwrap_or(u32::MAX));
                    self.entries.push((key, n));
                }
            }
        }
    }

    /// Moves `cursor` past the counters of `campaign` loaded at it: those of a candidate the
    /// engine leaves unassessed, so that the next candidate's are found at the cursor.
    #[inline]
    pub(crate) fn skip_campaign(&self, campaign: CampaignId, cursor: &mut usize) {
        while self
            .entries
            .get(*cursor)
            .is_some_and(|(k, _)| k.campaign == campaign)
        {
            *cursor += 1;
        }
    }

    /// The key held at `slot`, for tests of the slots handed out.
    #[cfg(test)]
    pub(crate) fn key_at(&self, slot: u32) -> Option<&UsageKey> {
        self.entries.get(slot as usize).map(|(k, _)| k)
    }

    /// The number of counters loaded.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no counter was loaded.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every loaded counter, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&UsageKey, &Versioned<u64>)> {
        let mut v: Vec<_> = self.entries.iter().map(|(k, c)| (k, c)).collect();
        v.sort_by(|a, b| a.0.cmp(b.0));
        v.into_iter()
    }
}

/// One increment of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageIncrement {
    /// The version the counter had when it was read (`None`: never written).
    pub expected: Option<Version>,
    /// How much to add.
    pub add: u64,
}

/// Counter increments that the host commits atomically: all or nothing, each guarded by the
/// version it was read at. One increment per key, in the order first reserved (from the
/// engine: evaluation order, then each campaign's caps), which is deterministic. In JSON, a
/// list of `{key, expected, add}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Reserved>", into = "Vec<Reserved>")]
#[must_use = "a reservation does nothing until it is committed through a UsageStore"]
pub struct UsageReservation {
    increments: Vec<(UsageKey, UsageIncrement)>,
}

/// One entry of a reservation's JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reserved {
    key: UsageKey,
    expected: Option<Version>,
    add: u64,
}

impl From<UsageReservation> for Vec<Reserved> {
    fn from(r: UsageReservation) -> Self {
        r.increments
            .into_iter()
            .map(|(key, i)| Reserved {
                key,
                expected: i.expected,
                add: i.add,
            })
            .collect()
    }
}

impl TryFrom<Vec<Reserved>> for UsageReservation {
    type Error = ReservationError;
    fn try_from(v: Vec<Reserved>) -> Result<Self, Self::Error> {
        let mut r = UsageReservation::new();
        for e in v {
            r.reserve(e.key, e.expected, e.add)?;
        }
        Ok(r)
    }
}

/// Two increments of one key expected different versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("usage key {key} reserved twice with different expected versions")]
pub struct ReservationError {
    /// The key.
    pub key: UsageKey,
}

impl UsageReservation {
    /// An empty reservation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `add` to `key`, expecting it at `expected`. Reserving a key again adds to the
    /// same increment (saturating at `u64::MAX`, which a store then refuses as overflow).
    ///
    /// # Errors
    ///
    /// [`ReservationError`] when the key is already reserved with another expected version.
    pub fn reserve(
        &mut self,
        key: UsageKey,
        expected: Option<Version>,
        add: u64,
    ) -> Result<(), ReservationError> {
        match self.increments.iter_mut().find(|(k, _)| *k == key) {
            Some((_, inc)) if inc.expected != expected => Err(ReservationError { key }),
            Some((_, inc)) => {
                inc.add = inc.add.saturating_add(add);
                Ok(())
            }
            None => {
                self.increments
                    .push((key, UsageIncrement { expected, add }));
                Ok(())
            }
        }
    }

    /// The increments' buffer, for the engine to reuse.
    pub(crate) fn take_increments(&mut self) -> Vec<(UsageKey, UsageIncrement)> {
        std::mem::take(&mut self.increments)
    }

    /// A reservation of keys the caller knows are distinct (the engine: each campaign owns
    /// its keys, and lists each once).
    pub(crate) fn from_unique(increments: Vec<(UsageKey, UsageIncrement)>) -> Self {
        UsageReservation { increments }
    }

    /// The increments, in the order reserved.
    pub fn increments(&self) -> impl Iterator<Item = (&UsageKey, &UsageIncrement)> {
        self.increments.iter().map(|(k, i)| (k, i))
    }

    /// The increment of one key.
    pub fn get(&self, key: &UsageKey) -> Option<&UsageIncrement> {
        self.increments
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, i)| i)
    }

    /// The number of keys reserved.
    pub fn len(&self) -> usize {
        self.increments.len()
    }

    /// Whether nothing is reserved.
    pub fn is_empty(&self) -> bool {
        self.increments.is_empty()
    }

    /// Merges another reservation into this one.
    ///
    /// # Errors
    ///
    /// [`ReservationError`] when both reserve a key with different expected versions.
    pub fn merge(&mut self, other: &UsageReservation) -> Result<(), ReservationError> {
        for (k, inc) in &other.increments {
            self.reserve(*k, inc.expected, inc.add)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: Option<u64>) -> UsageKey {
        UsageKey {
            campaign: CampaignId::new(7),
            action: UsageAction::EarnPoints,
            patient: p.map(PatientId::new),
            bucket: Bucket::Period {
                period: Period::Month,
                start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            },
        }
    }

    #[test]
    fn snapshot_finds_every_key_and_ignores_load_order() {
        let v = |value: u64| Versioned {
            value,
            version: Version::new(value + 1),
        };
        let keys: Vec<UsageKey> = (0..300u64)
            .map(|n| UsageKey {
                campaign: CampaignId::new(n % 37),
                action: match n % 3 {
                    0 => UsageAction::Apply,
                    1 => UsageAction::EarnPoints,
                    _ => UsageAction::Cashback,
                },
                patient: (n % 2 == 0).then(|| PatientId::new(n / 7)),
                bucket: if n % 5 == 0 {
                    Bucket::Lifetime
                } else {
                    Bucket::Period {
                        period: Period::Day,
                        start: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
                            + chrono::Days::new(n / 11),
                    }
                },
            })
            .collect();
        let (mut a, mut b) = (UsageSnapshot::new(), UsageSnapshot::new());
        let mut model = std::collections::BTreeMap::new();
        for (n, k) in keys.iter().enumerate() {
            a.insert(*k, v(n as u64));
            model.insert(*k, v(n as u64));
        }
        for (k, c) in model.iter().rev() {
            b.insert(*k, c.clone());
        }
        assert_eq!(a.len(), model.len());
        for (k, c) in &model {
            assert_eq!(a.get(k), (c.value, Some(c.version)));
        }
        assert_eq!(a, b);
        assert_eq!(
            a.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
            model.keys().copied().collect::<Vec<_>>()
        );
        assert_eq!(a.get(&key(Some(999_999))), (0, None));
        b.insert(keys[0], v(77));
        assert_ne!(a, b);
        assert_eq!(b.get(&keys[0]), (77, Some(Version::new(78))));
    }
    /// Writing a counter through a slot hint, right, stale or absent, gives what writing
    /// it by its key gives: the hint only saves the hashing.
    #[test]
    fn update_at_any_slot_is_update_by_key() {
        use proptest::prelude::*;
        let key = |n: u8| UsageKey {
            campaign: CampaignId::new(u64::from(n % 5)),
            action: if n.is_multiple_of(2) {
                UsageAction::Apply
            } else {
                UsageAction::EarnPoints
            },
            patient: (!n.is_multiple_of(3)).then(|| PatientId::new(u64::from(n / 3))),
            bucket: Bucket::Lifetime,
        };
        // (key, slot hint: 0 right, 1 random, 2 absent, random slot, add, release?)
        let ops = prop::collection::vec((0u8..40, 0u8..3, 0u32..50, 0u64..5, any::<bool>()), 0..80);
        proptest!(|(ops in ops)| {
            let (mut hinted, mut plain) = (UsageSnapshot::new(), UsageSnapshot::new());
            for (k, hint, random, add, release) in ops {
                let k = key(k);
                let slot = match hint {
                    0 => hinted.get_slot_at(&k, &mut 0).2,
                    1 => random,
                    _ => u32::MAX,
                };
                let next = |value: u64, version: Option<Version>| {
                    if release {
                        version.map(|v| Versioned {
                            value: value.saturating_sub(add),
                            version: Version::new(v.get() + 1),
                        })
                    } else {
                        Some(Versioned {
                            value: value + add,
                            version: Version::new(version.map_or(1, |v| v.get() + 1)),
                        })
                    }
                };
                hinted.update_at(slot, k, next);
                plain.update(k, next);
                prop_assert_eq!(&hinted, &plain);
                prop_assert_eq!(hinted.get(&k), plain.get(&k));
            }
            prop_assert_eq!(
                hinted.iter().collect::<Vec<_>>(),
                plain.iter().collect::<Vec<_>>()
            );
        });
    }

    #[test]
    fn key_text_is_stable() {
        assert_eq!(
            key(Some(3)).to_string(),
            "CP7/earn_points/P3/month:2026-11-01"
        );
        let k = UsageKey {
            bucket: Bucket::Lifetime,
            action: UsageAction::Apply,
            ..key(None)
        };
        assert_eq!(k.to_string(), "CP7/apply/*/lifetime");
    }

    #[test]
    fn reserve_merges_same_version_and_refuses_another() {
        let mut r = UsageReservation::new();
        r.reserve(key(None), None, 2).unwrap();
        r.reserve(key(None), None, 3).unwrap();
        assert_eq!(r.get(&key(None)).unwrap().add, 5);
        assert!(r.reserve(key(None), Some(Version::FIRST), 1).is_err());
        assert_eq!(r.len(), 1);
        let s = UsageSnapshot::new();
        assert_eq!(s.get(&key(None)), (0, None));
    }
}
