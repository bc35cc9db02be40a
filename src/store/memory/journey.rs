use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::lock;
use crate::id::{PatientId, PurchaseId, VisitId};
use crate::journey::{Purchase, Visit};
use crate::store::{
    JourneyRecord, PurchaseStore, RecordCursor, RecordWrite, StoreError, VisitStore,
    erased_purchase, in_page, stage_purchase_append, stage_record_append, stage_visit_refund,
};

/// Records by id, with the `(at, id)` and `(patient, at, id)` indexes the listings read.
// Serialize (feature `testkit`) writes everything, indexes included, for the erasure scan.
#[derive(Debug)]
#[cfg_attr(feature = "testkit", derive(serde::Serialize))]
#[cfg_attr(
    feature = "testkit",
    serde(bound = "R: serde::Serialize, R::Id: serde::Serialize")
)]
struct Records<R: JourneyRecord> {
    by_id: BTreeMap<R::Id, R>,
    by_time: BTreeSet<(DateTime<Utc>, R::Id)>,
    by_patient: BTreeSet<(PatientId, DateTime<Utc>, R::Id)>,
}

impl<R: JourneyRecord> Default for Records<R> {
    fn default() -> Self {
        Records {
            by_id: BTreeMap::new(),
            by_time: BTreeSet::new(),
            by_patient: BTreeSet::new(),
        }
    }
}

impl<R: JourneyRecord> Records<R>
where
    R::Id: MinId,
{
    fn write(&mut self, writes: Vec<RecordWrite<R>>) -> usize {
        let mut added = 0;
        for w in writes {
            added += usize::from(w.new);
            let r = w.record;
            // A replaced record keeps its id, patient and time (only a refund mark changes),
            // so the indexes stay right; inserting is idempotent for them.
            self.by_time.insert((r.at(), r.id()));
            self.by_patient.insert((r.patient(), r.at(), r.id()));
            self.by_id.insert(r.id(), r);
        }
        added
    }

    fn of(&self, patient: PatientId) -> Vec<R> {
        self.by_patient
            .range((patient, DateTime::<Utc>::MIN_UTC, R::Id::min_id())..)
            .take_while(|(p, _, _)| *p == patient)
            .filter_map(|(_, _, id)| self.by_id.get(id).cloned())
            .collect()
    }

    fn page(
        &self,
        period: &Range<DateTime<Utc>>,
        after: Option<RecordCursor<R::Id>>,
        limit: usize,
    ) -> Vec<R> {
        if period.start >= period.end {
            return Vec::new();
        }
        self.by_time
            .range((period.start, R::Id::min_id())..)
            .take_while(|(at, _)| *at < period.end)
            .filter_map(|(_, id)| self.by_id.get(id))
            .filter(|r| in_page(*r, period, after.as_ref()))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// The smallest id, the lower bound of index ranges.
trait MinId {
    fn min_id() -> Self;
}

impl MinId for VisitId {
    fn min_id() -> Self {
        VisitId::new(0)
    }
}

impl MinId for PurchaseId {
    fn min_id() -> Self {
        PurchaseId::new(0)
    }
}

/// The in-memory [`VisitStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryVisitStore {
    inner: Arc<Mutex<Records<Visit>>>,
}

impl MemoryVisitStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of visits stored.
    pub fn len(&self) -> usize {
        lock(&self.inner).by_id.len()
    }

    /// Whether no visit is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl VisitStore for MemoryVisitStore {
    fn append_visits(&mut self, visits: &[Visit]) -> Result<usize, StoreError> {
        let mut g = lock(&self.inner);
        let writes = stage_record_append(visits, |id| Ok(g.by_id.get(&id).cloned()))?;
        Ok(g.write(writes))
    }

    fn refund_visit(&mut self, id: VisitId, at: DateTime<Utc>) -> Result<Visit, StoreError> {
        let mut g = lock(&self.inner);
        let current = g.by_id.get(&id).cloned();
        match stage_visit_refund(id, current.clone(), at)? {
            Some(v) => {
                g.write(vec![RecordWrite {
                    record: v.clone(),
                    new: false,
                }]);
                Ok(v)
            }
            None => current.ok_or_else(|| StoreError::NotFound {
                what: "visit",
                key: id.to_string(),
            }),
        }
    }

    fn visit(&self, id: VisitId) -> Result<Option<Visit>, StoreError> {
        Ok(lock(&self.inner).by_id.get(&id).cloned())
    }

    fn visits_of(&self, patient: PatientId) -> Result<Vec<Visit>, StoreError> {
        Ok(lock(&self.inner).of(patient))
    }

    fn visits_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<VisitId>>,
        limit: usize,
    ) -> Result<Vec<Visit>, StoreError> {
        Ok(lock(&self.inner).page(&period, after, limit))
    }
}

#[derive(Debug, Default)]
#[cfg_attr(feature = "testkit", derive(serde::Serialize))]
struct PurchasesInner {
    records: Records<Purchase>,
    /// Patients whose categories were erased: later appends of theirs are stored without.
    erased: BTreeSet<PatientId>,
}

/// The in-memory [`PurchaseStore`].
#[derive(Debug, Clone, Default)]
pub struct MemoryPurchaseStore {
    inner: Arc<Mutex<PurchasesInner>>,
}

impl MemoryPurchaseStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of purchases stored.
    pub fn len(&self) -> usize {
        lock(&self.inner).records.by_id.len()
    }

    /// Whether no purchase is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// With feature `testkit`: everything the store holds, **with raw categories**, for
/// erasure checks such as `testkit::erasure`. Never log it.
#[cfg(feature = "testkit")]
impl serde::Serialize for MemoryPurchaseStore {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        lock(&self.inner).serialize(s)
    }
}

impl PurchaseStore for MemoryPurchaseStore {
    fn append_purchases(&mut self, purchases: &[Purchase]) -> Result<usize, StoreError> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        let writes = stage_purchase_append(
            purchases,
            |p| Ok(inner.erased.contains(&p)),
            |id| Ok(inner.records.by_id.get(&id).cloned()),
        )?;
        Ok(inner.records.write(writes))
    }

    fn purchase(&self, id: PurchaseId) -> Result<Option<Purchase>, StoreError> {
        Ok(lock(&self.inner).records.by_id.get(&id).cloned())
    }

    fn purchases_of(&self, patient: PatientId) -> Result<Vec<Purchase>, StoreError> {
        Ok(lock(&self.inner).records.of(patient))
    }

    fn purchases_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<PurchaseId>>,
        limit: usize,
    ) -> Result<Vec<Purchase>, StoreError> {
        Ok(lock(&self.inner).records.page(&period, after, limit))
    }

    fn erase_purchase_categories(&mut self, patient: PatientId) -> Result<(), StoreError> {
        let mut g = lock(&self.inner);
        let inner = &mut *g;
        inner.erased.insert(patient);
        for p in inner.records.of(patient) {
            if p.category.is_some() {
                inner.records.by_id.insert(p.id, erased_purchase(&p));
            }
        }
        Ok(())
    }
}
