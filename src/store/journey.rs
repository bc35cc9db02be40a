//! The journey-record storage ports: visits and purchases.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::calendar::check_instant;
use crate::id::{PatientId, PurchaseId, VisitId};
use crate::journey::{Purchase, Visit};

/// What the journey ports have in common about a record: its key, whose it is and when it
/// happened. Implemented for [`Visit`] and [`Purchase`]; the shared staging helper
/// ([`stage_record_append`]) and the adapters are written once against it.
pub trait JourneyRecord: Clone + PartialEq + fmt::Debug + Serialize + DeserializeOwned {
    /// The record's key.
    type Id: Copy + Ord + fmt::Display + fmt::Debug;
    /// What the record is called in errors (`visit`, `purchase`).
    const WHAT: &'static str;
    /// The key.
    fn id(&self) -> Self::Id;
    /// The key as a number, for adapters that store it as an integer.
    fn raw_id(&self) -> u64;
    /// Whose record it is.
    fn patient(&self) -> PatientId;
    /// When it happened: what "by period" and the result order read.
    fn at(&self) -> DateTime<Utc>;
    /// The record that stands after `incoming` is appended over `stored` (the same id):
    /// `Ok(None)` when nothing changes, `Ok(Some(_))` for the record to store instead.
    ///
    /// # Errors
    ///
    /// [`StoreError::RecordConflict`] when the two cannot both be true.
    fn merge(stored: &Self, incoming: &Self) -> Result<Option<Self>, StoreError>;
    /// Checks the record's instants against the crate's accepted range, so that every
    /// adapter can store and order them exactly (SQLite keeps nanoseconds in an `i64`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] around the [`CalendarError`](crate::calendar::CalendarError).
    fn check(&self) -> Result<(), StoreError>;
}

fn conflict<R: JourneyRecord>(id: R::Id) -> StoreError {
    StoreError::RecordConflict {
        what: R::WHAT,
        id: id.to_string(),
    }
}

fn in_range(field: &'static str, at: DateTime<Utc>) -> Result<(), StoreError> {
    check_instant(field, at)
        .map(|_| ())
        .map_err(StoreError::backend)
}

impl JourneyRecord for Visit {
    type Id = VisitId;
    const WHAT: &'static str = "visit";
    fn id(&self) -> VisitId {
        self.id
    }
    fn raw_id(&self) -> u64 {
        self.id.get()
    }
    fn patient(&self) -> PatientId {
        self.patient
    }
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// A visit is immutable but for its refund mark, which is set once: an append that
    /// carries no refund matches a refunded visit (a replay of the first append), one that
    /// carries a refund sets it, and a different refund time conflicts.
    fn merge(stored: &Visit, incoming: &Visit) -> Result<Option<Visit>, StoreError> {
        let unrefunded = |v: &Visit| Visit {
            refunded_at: None,
            ..v.clone()
        };
        if unrefunded(stored) != unrefunded(incoming) {
            return Err(conflict::<Visit>(stored.id));
        }
        match (stored.refunded_at, incoming.refunded_at) {
            (_, None) => Ok(None),
            (None, Some(_)) => Ok(Some(incoming.clone())),
            (Some(a), Some(b)) if a == b => Ok(None),
            (Some(_), Some(_)) => Err(conflict::<Visit>(stored.id)),
        }
    }
    fn check(&self) -> Result<(), StoreError> {
        in_range("visit at", self.at)?;
        match self.refunded_at {
            Some(r) => in_range("visit refunded_at", r),
            None => Ok(()),
        }
    }
}

impl JourneyRecord for Purchase {
    type Id = PurchaseId;
    const WHAT: &'static str = "purchase";
    fn id(&self) -> PurchaseId {
        self.id
    }
    fn raw_id(&self) -> u64 {
        self.id.get()
    }
    fn patient(&self) -> PatientId {
        self.patient
    }
    fn at(&self) -> DateTime<Utc> {
        self.at
    }
    /// A purchase never changes: its refunds are points commands and the journey layer's
    /// business, not edits of the record.
    fn merge(stored: &Purchase, incoming: &Purchase) -> Result<Option<Purchase>, StoreError> {
        if stored == incoming {
            Ok(None)
        } else {
            Err(conflict::<Purchase>(stored.id))
        }
    }
    fn check(&self) -> Result<(), StoreError> {
        in_range("purchase at", self.at)
    }
}

/// Where a page of records by period ends: the time and id of its last record. The next
/// page starts strictly after it in the ports' order (time, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordCursor<I> {
    /// The last record's time.
    pub at: DateTime<Utc>,
    /// The last record's id.
    pub id: I,
}

impl<I> RecordCursor<I> {
    /// The cursor just after `record`: pass the last record of a page to get the next one.
    pub fn after<R: JourneyRecord<Id = I>>(record: &R) -> Self {
        RecordCursor {
            at: record.at(),
            id: record.id(),
        }
    }
}

/// Where visits are kept: an append-only set keyed by [`VisitId`].
///
/// # Rules
///
/// - **Idempotent appends.** Appending a visit already stored with the same content is a
///   no-op, so a host retries a failed or unknown append by sending it again. The same id
///   with different content is [`StoreError::RecordConflict`] naming the id. A batch is all
///   or nothing: one conflict writes none of it.
/// - **Refunds.** A visit is immutable except its `refunded_at`, which is set once, by
///   [`VisitStore::refund_visit`] or by appending the visit with it set. Appending the
///   unrefunded form again later (a replay) matches and changes nothing.
/// - **Periods are UTC instants, half-open.** `visits_in(start..end, ..)` returns the
///   visits with `start <= at < end`. A day or month of the clinic calendar is
///   `cal.start_of(first)..cal.start_of(next)`
///   ([`ClinicCalendar::start_of`](crate::calendar::ClinicCalendar::start_of)), so the port
///   needs no calendar and two clinics in different zones share one store.
/// - **Order.** Every listing is in ascending `(at, id)`.
/// - **Range.** Instants outside the crate's accepted range are refused
///   ([`StoreError::Backend`] around a
///   [`CalendarError`](crate::calendar::CalendarError)), so that every adapter stores them
///   exactly.
///
/// Visits are ids, times and amounts: not personal data by themselves, and kept when a
/// patient is erased (see the [module docs](super)).
pub trait VisitStore {
    /// Appends `visits` atomically and returns how many were not stored before.
    ///
    /// # Errors
    ///
    /// [`StoreError::RecordConflict`] for a visit stored (or given earlier in the batch)
    /// with different content; [`StoreError::Backend`] for an instant out of range or a
    /// backend failure. Nothing is written on any error.
    fn append_visits(&mut self, visits: &[Visit]) -> Result<usize, StoreError>;

    /// Marks a stored visit refunded at `at` and returns it. Refunding it again at the same
    /// instant changes nothing.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotFound`] for a visit never appended;
    /// [`StoreError::RecordConflict`] when it was refunded at another instant;
    /// [`StoreError::Backend`] for an instant out of range or a backend failure.
    fn refund_visit(&mut self, id: VisitId, at: DateTime<Utc>) -> Result<Visit, StoreError>;

    /// One visit.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn visit(&self, id: VisitId) -> Result<Option<Visit>, StoreError>;

    /// Every visit of a patient, in `(at, id)` order: what
    /// [`PatientFacts`](crate::segment::PatientFacts) reads.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn visits_of(&self, patient: PatientId) -> Result<Vec<Visit>, StoreError>;

    /// Up to `limit` visits with `period.start <= at < period.end`, in `(at, id)` order,
    /// starting strictly after `after`: a page of a period, for the metrics.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn visits_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<VisitId>>,
        limit: usize,
    ) -> Result<Vec<Visit>, StoreError>;
}

/// Where purchases are kept: an append-only set keyed by [`PurchaseId`].
///
/// The rules of [`VisitStore`] hold, except that a purchase never changes once stored:
/// refunds are points commands ([`crate::points::CommandKind::Refund`]) that the ledger and
/// the journey layer record, not edits of the purchase.
///
/// # Erasure
///
/// A purchase's category is a host's product code, and a code can name a drug or a
/// treatment (`insulin`): a hint at health. Erasing a patient
/// ([`erase_purchase_categories`](PurchaseStore::erase_purchase_categories), called by
/// [`super::erase_patient`]) removes the category of every purchase of theirs and keeps
/// the rest (ids, times, amounts, days of supply), which revenue and refill metrics read.
/// The store remembers the erasure: a purchase of that patient appended later (a late
/// import, a replay) is stored without its category too, and matches the erased record.
pub trait PurchaseStore {
    /// Appends `purchases` atomically and returns how many were not stored before.
    ///
    /// # Errors
    ///
    /// As [`VisitStore::append_visits`].
    fn append_purchases(&mut self, purchases: &[Purchase]) -> Result<usize, StoreError>;

    /// One purchase.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn purchase(&self, id: PurchaseId) -> Result<Option<Purchase>, StoreError>;

    /// Every purchase of a patient, in `(at, id)` order.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn purchases_of(&self, patient: PatientId) -> Result<Vec<Purchase>, StoreError>;

    /// Up to `limit` purchases with `period.start <= at < period.end`, in `(at, id)`
    /// order, starting strictly after `after`.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn purchases_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<PurchaseId>>,
        limit: usize,
    ) -> Result<Vec<Purchase>, StoreError>;

    /// Removes the category of every purchase of `patient`, and of every purchase of theirs
    /// appended later. Idempotent. An adapter must leave no copy of the old categories in
    /// its storage.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the backend fails.
    fn erase_purchase_categories(&mut self, patient: PatientId) -> Result<(), StoreError>;
}

/// A purchase as stored for a patient whose data was erased: no category.
pub fn erased_purchase(p: &Purchase) -> Purchase {
    Purchase {
        category: None,
        ..p.clone()
    }
}

/// One write an append stages: the record to store, and whether its id is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordWrite<R> {
    /// The record to store under its id.
    pub record: R,
    /// Whether no record was stored under the id before (insert), or one is replaced (a
    /// visit's refund).
    pub new: bool,
}

/// Checks an append against the stored records and computes what to write: at most one
/// write per id, in the order ids first appear in `records`. `current` loads a stored
/// record by id. Every adapter runs this inside its transaction, so the idempotency and
/// conflict rules are the same everywhere.
///
/// # Errors
///
/// [`StoreError::RecordConflict`] for the first record (in batch order) that contradicts
/// the stored one or an earlier one of the batch; [`StoreError::Backend`] for an instant out
/// of range, or what `current` returns.
pub fn stage_record_append<R, F>(
    records: &[R],
    mut current: F,
) -> Result<Vec<RecordWrite<R>>, StoreError>
where
    R: JourneyRecord,
    F: FnMut(R::Id) -> Result<Option<R>, StoreError>,
{
    // Position of each id's write in `out`, so a record repeated in the batch is merged
    // with what the batch already staged, not with the stale stored one.
    let mut staged: BTreeMap<R::Id, usize> = BTreeMap::new();
    let mut out: Vec<RecordWrite<R>> = Vec::new();
    // Ids found stored and unchanged: a repeat in the batch compares with them.
    let mut unchanged: BTreeMap<R::Id, R> = BTreeMap::new();
    for r in records {
        r.check()?;
        let id = r.id();
        if let Some(w) = staged.get(&id).and_then(|&i| out.get_mut(i)) {
            if let Some(merged) = R::merge(&w.record, r)? {
                w.record = merged;
            }
            continue;
        }
        let stored = match unchanged.remove(&id) {
            Some(s) => Some(s),
            None => current(id)?,
        };
        match stored {
            None => {
                staged.insert(id, out.len());
                out.push(RecordWrite {
                    record: r.clone(),
                    new: true,
                });
            }
            Some(s) => match R::merge(&s, r)? {
                None => {
                    unchanged.insert(id, s);
                }
                Some(merged) => {
                    staged.insert(id, out.len());
                    out.push(RecordWrite {
                        record: merged,
                        new: false,
                    });
                }
            },
        }
    }
    Ok(out)
}

/// [`stage_record_append`] for purchases: a purchase of a patient whose categories were
/// erased (`erased` says whose) is staged without its category.
///
/// # Errors
///
/// As [`stage_record_append`], and what `erased` returns.
pub fn stage_purchase_append<F, E>(
    purchases: &[Purchase],
    mut erased: E,
    current: F,
) -> Result<Vec<RecordWrite<Purchase>>, StoreError>
where
    F: FnMut(PurchaseId) -> Result<Option<Purchase>, StoreError>,
    E: FnMut(PatientId) -> Result<bool, StoreError>,
{
    let mut cleaned = Vec::with_capacity(purchases.len());
    for p in purchases {
        cleaned.push(if p.category.is_some() && erased(p.patient)? {
            erased_purchase(p)
        } else {
            p.clone()
        });
    }
    stage_record_append(&cleaned, current)
}

/// The visit after a refund at `at`, or `None` when it is already refunded then.
///
/// # Errors
///
/// [`StoreError::NotFound`] when `current` is `None`; [`StoreError::RecordConflict`] when
/// it was refunded at another instant; [`StoreError::Backend`] for an instant out of range.
pub fn stage_visit_refund(
    id: VisitId,
    current: Option<Visit>,
    at: DateTime<Utc>,
) -> Result<Option<Visit>, StoreError> {
    let stored = current.ok_or_else(|| StoreError::NotFound {
        what: Visit::WHAT,
        key: id.to_string(),
    })?;
    let refunded = Visit {
        refunded_at: Some(at),
        ..stored.clone()
    };
    refunded.check()?;
    Visit::merge(&stored, &refunded)
}

/// Whether a record lies in a half-open `period` and after the cursor: the filter every
/// adapter's period listing applies.
pub fn in_page<R: JourneyRecord>(
    r: &R,
    period: &Range<DateTime<Utc>>,
    after: Option<&RecordCursor<R::Id>>,
) -> bool {
    period.contains(&r.at()) && after.is_none_or(|c| (r.at(), r.id()) > (c.at, c.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::ClinicId;
    use crate::money::Yuan;

    fn visit(id: u64, refunded: Option<i64>) -> Visit {
        Visit {
            id: VisitId::new(id),
            patient: PatientId::new(1),
            at: DateTime::from_timestamp(1_772_416_800, 0).unwrap_or_default(),
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::ZERO,
            refunded_at: refunded.and_then(|s| DateTime::from_timestamp(s, 0)),
        }
    }

    #[test]
    fn a_batch_repeating_an_id_stages_one_write_and_merges_the_refund() {
        let w = stage_record_append(
            &[
                visit(1, None),
                visit(1, Some(1_772_420_000)),
                visit(1, None),
            ],
            |_| Ok(None),
        )
        .unwrap();
        assert_eq!(w.len(), 1);
        assert!(w[0].new);
        assert!(w[0].record.refunded_at.is_some());
        let e = stage_record_append(&[visit(1, None), visit(2, None)], |id: VisitId| {
            Ok((id.get() == 2).then(|| Visit {
                paid: Yuan::parse("1").unwrap_or(Yuan::ZERO),
                ..visit(2, None)
            }))
        })
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "visit V2 is already stored with different content"
        );
    }

    #[test]
    fn refund_rules() {
        let at = DateTime::from_timestamp(1_772_420_000, 0).unwrap_or_default();
        assert!(matches!(
            stage_visit_refund(VisitId::new(1), None, at),
            Err(StoreError::NotFound { .. })
        ));
        let done = stage_visit_refund(VisitId::new(1), Some(visit(1, None)), at)
            .unwrap()
            .unwrap();
        assert_eq!(done.refunded_at, Some(at));
        assert_eq!(
            stage_visit_refund(VisitId::new(1), Some(done.clone()), at).unwrap(),
            None
        );
        assert!(matches!(
            stage_visit_refund(
                VisitId::new(1),
                Some(done),
                at + chrono::Duration::seconds(1)
            ),
            Err(StoreError::RecordConflict { .. })
        ));
    }
}
