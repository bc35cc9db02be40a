//! [`VisitStore`] and [`PurchaseStore`] on PostgreSQL: one JSON row per record, written
//! once per id (a visit's refund rewrites its row).

use std::cell::RefCell;
use std::ops::Range;

use clinic_ops::chrono::{DateTime, Utc};
use clinic_ops::id::{PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{Purchase, Visit};
use clinic_ops::store::{
    JourneyRecord, PurchaseStore, RecordCursor, RecordWrite, StoreError, VisitStore,
    erased_purchase, stage_purchase_append, stage_record_append, stage_visit_refund,
};
use postgres::types::ToSql;

use crate::PgStore;
use crate::store::{Db, col, db, decode_err, encode_err, int};

/// The SQL of one record table.
struct Table {
    get: &'static str,
    upsert: &'static str,
    of: &'static str,
    page: &'static str,
}

const VISITS: Table = Table {
    get: "SELECT record FROM visits WHERE id = $1",
    upsert: "INSERT INTO visits (id, patient, at, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
    of: "SELECT id, record FROM visits WHERE patient = $1 ORDER BY at, id",
    page: "SELECT id, record FROM visits WHERE at >= $1 AND at < $2 AND (at, id) > ($3, $4)
           ORDER BY at, id LIMIT $5",
};

const PURCHASES: Table = Table {
    get: "SELECT record FROM purchases WHERE id = $1",
    upsert: "INSERT INTO purchases (id, patient, at, record) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE SET record = excluded.record",
    of: "SELECT id, record FROM purchases WHERE patient = $1 ORDER BY at, id",
    page: "SELECT id, record FROM purchases WHERE at >= $1 AND at < $2 AND (at, id) > ($3, $4)
           ORDER BY at, id LIMIT $5",
};

/// An instant as stored: nanoseconds since the epoch. Exact for every instant a record may
/// hold (the stage helpers refuse the rest); bounds of a query beyond it are clamped,
/// which selects the same rows.
fn nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn decode<R: JourneyRecord>(id: i64, record: &str) -> Result<R, StoreError> {
    // Through the record's serde validation: a stored row is never trusted.
    serde_json::from_str(record).map_err(decode_err(R::WHAT, id))
}

fn get<R: JourneyRecord>(c: &mut impl Db, t: &Table, id: u64) -> Result<Option<R>, StoreError> {
    let key = int("record id", id)?;
    let row = c.query_opt(t.get, &[&key]).map_err(db)?;
    row.map(|r| decode(key, col(&r, 0)?)).transpose()
}

fn list<R: JourneyRecord>(
    c: &mut impl Db,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<R>, StoreError> {
    let rows = c.query(sql, params).map_err(db)?;
    rows.iter()
        .map(|r| decode(col(r, 0)?, col(r, 1)?))
        .collect()
}

fn write<R: JourneyRecord>(
    c: &mut impl Db,
    t: &Table,
    writes: &[RecordWrite<R>],
) -> Result<usize, StoreError> {
    let stmt = c.prepare(t.upsert).map_err(db)?;
    let mut added = 0;
    for w in writes {
        let r = &w.record;
        let json = serde_json::to_string(r).map_err(encode_err(R::WHAT))?;
        let (id, patient, at) = (
            int("record id", r.raw_id())?,
            int("patient id", r.patient().get())?,
            nanos(r.at()),
        );
        c.execute(&stmt, &[&id, &patient, &at, &json]).map_err(db)?;
        added += usize::from(w.new);
    }
    Ok(added)
}

impl PgStore {
    fn page<R: JourneyRecord>(
        &self,
        t: &Table,
        period: &Range<DateTime<Utc>>,
        after: Option<(DateTime<Utc>, u64)>,
        limit: usize,
    ) -> Result<Vec<R>, StoreError> {
        let (at, id) = match after {
            Some((at, id)) => (nanos(at), int("record id", id)?),
            None => (i64::MIN, -1),
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (start, end) = (nanos(period.start), nanos(period.end));
        list(
            &mut *self.conn()?,
            t.page,
            &[&start, &end, &at, &id, &limit],
        )
    }
}

impl VisitStore for PgStore {
    fn append_visits(&mut self, visits: &[Visit]) -> Result<usize, StoreError> {
        if visits.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let writes = stage_record_append(visits, |id: VisitId| get(tx, &VISITS, id.get()))?;
            write(tx, &VISITS, &writes)
        })
    }

    fn refund_visit(&mut self, id: VisitId, at: DateTime<Utc>) -> Result<Visit, StoreError> {
        self.write(|tx| {
            let current: Option<Visit> = get(tx, &VISITS, id.get())?;
            match stage_visit_refund(id, current.clone(), at)? {
                Some(v) => {
                    let w = RecordWrite {
                        record: v,
                        new: false,
                    };
                    write(tx, &VISITS, std::slice::from_ref(&w))?;
                    Ok(w.record)
                }
                None => current.ok_or_else(|| StoreError::NotFound {
                    what: "visit",
                    key: id.to_string(),
                }),
            }
        })
    }

    fn visit(&self, id: VisitId) -> Result<Option<Visit>, StoreError> {
        get(&mut *self.conn()?, &VISITS, id.get())
    }

    fn visits_of(&self, patient: PatientId) -> Result<Vec<Visit>, StoreError> {
        let key = int("patient id", patient.get())?;
        list(&mut *self.conn()?, VISITS.of, &[&key])
    }

    fn visits_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<VisitId>>,
        limit: usize,
    ) -> Result<Vec<Visit>, StoreError> {
        self.page(&VISITS, &period, after.map(|c| (c.at, c.id.get())), limit)
    }
}

fn erased(c: &mut impl Db, patient: PatientId) -> Result<bool, StoreError> {
    let key = int("patient id", patient.get())?;
    c.query_opt(
        "SELECT 1 FROM purchase_erasures WHERE patient = $1",
        &[&key],
    )
    .map(|r| r.is_some())
    .map_err(db)
}

impl PurchaseStore for PgStore {
    fn append_purchases(&mut self, purchases: &[Purchase]) -> Result<usize, StoreError> {
        if purchases.is_empty() {
            return Ok(0);
        }
        self.write(|tx| {
            let writes = {
                // Both staging callbacks read through the one transaction.
                let cell = RefCell::new(&mut *tx);
                stage_purchase_append(
                    purchases,
                    |p| erased(&mut **cell.borrow_mut(), p),
                    |id: PurchaseId| get(&mut **cell.borrow_mut(), &PURCHASES, id.get()),
                )?
            };
            write(tx, &PURCHASES, &writes)
        })
    }

    fn purchase(&self, id: PurchaseId) -> Result<Option<Purchase>, StoreError> {
        get(&mut *self.conn()?, &PURCHASES, id.get())
    }

    fn purchases_of(&self, patient: PatientId) -> Result<Vec<Purchase>, StoreError> {
        let key = int("patient id", patient.get())?;
        list(&mut *self.conn()?, PURCHASES.of, &[&key])
    }

    fn purchases_in(
        &self,
        period: Range<DateTime<Utc>>,
        after: Option<RecordCursor<PurchaseId>>,
        limit: usize,
    ) -> Result<Vec<Purchase>, StoreError> {
        self.page(
            &PURCHASES,
            &period,
            after.map(|c| (c.at, c.id.get())),
            limit,
        )
    }

    /// Rewrites the patient's purchase rows without their categories and records the
    /// erasure, so later appends are stored without them too. The old row versions become
    /// dead tuples that (auto)vacuum removes: see [`PgStore::vacuum_erased`].
    fn erase_purchase_categories(&mut self, patient: PatientId) -> Result<(), StoreError> {
        let key = int("patient id", patient.get())?;
        self.write(|tx| {
            let already = erased(tx, patient)?;
            let current: Vec<Purchase> = list(tx, PURCHASES.of, &[&key])?;
            if already && current.iter().all(|p| p.category.is_none()) {
                // Nothing to write: erasing twice commits nothing.
                return Ok(());
            }
            tx.execute(
                "INSERT INTO purchase_erasures (patient) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&key],
            )
            .map_err(db)?;
            let writes: Vec<RecordWrite<Purchase>> = current
                .iter()
                .filter(|p| p.category.is_some())
                .map(|p| RecordWrite {
                    record: erased_purchase(p),
                    new: false,
                })
                .collect();
            write(tx, &PURCHASES, &writes).map(|_| ())
        })
    }
}
