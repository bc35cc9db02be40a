//! [`GroupStore`] on PostgreSQL: one row per event (keyed by series and sequence, with the
//! patient as a column so erasure is one indexed delete) and one version row per series.

use clinic_ops::id::{GroupId, PatientId};
use clinic_ops::relationship::GroupEvent;
use clinic_ops::store::{GroupStore, StoreError, Version, Versioned, stage_group_commit};

use crate::PgStore;
use crate::store::{Db, col, db, decode_err, encode_err, int, version};

const WHAT: &str = "group event";

fn load_version(c: &mut impl Db, key: i64) -> Result<Option<Version>, StoreError> {
    let row = c
        .query_opt(
            "SELECT version FROM group_series WHERE series = $1",
            &[&key],
        )
        .map_err(db)?;
    row.map(|r| version(col(&r, 0)?)).transpose()
}

impl GroupStore for PgStore {
    fn group_events(
        &self,
        series: GroupId,
    ) -> Result<Option<Versioned<Vec<GroupEvent>>>, StoreError> {
        let key = int("group id", series.get())?;
        // One statement, so the version and the events come from one snapshot even while
        // another handle appends.
        let rows = self
            .conn()?
            .query(
                "SELECT s.version, e.event FROM group_series s
                     LEFT JOIN group_events e ON e.series = s.series
                 WHERE s.series = $1 ORDER BY e.seq",
                &[&key],
            )
            .map_err(db)?;
        let Some(first) = rows.first() else {
            return Ok(None);
        };
        let v = version(col(first, 0)?)?;
        let mut events = Vec::with_capacity(rows.len());
        for r in &rows {
            // A series whose events were all erased joins to one row without an event.
            if let Some(body) = col::<Option<&str>>(r, 1)? {
                // Through the event's serde validation: a stored row is never trusted.
                events.push(serde_json::from_str(body).map_err(decode_err(WHAT, series))?);
            }
        }
        Ok(Some(Versioned {
            value: events,
            version: v,
        }))
    }

    fn commit_group(
        &mut self,
        series: GroupId,
        expected: Option<Version>,
        events: &[GroupEvent],
    ) -> Result<Version, StoreError> {
        let key = int("group id", series.get())?;
        self.write(|tx| {
            let actual = load_version(tx, key)?;
            let Some(next) = stage_group_commit(series, actual, expected, events)? else {
                return expected.ok_or(StoreError::NotFound {
                    what: "group series",
                    key: series.to_string(),
                });
            };
            let v = int("version", next.get())?;
            tx.execute(
                "INSERT INTO group_series (series, version) VALUES ($1, $2)
                 ON CONFLICT (series) DO UPDATE SET version = excluded.version",
                &[&key, &v],
            )
            .map_err(db)?;
            let mut seq: i64 = tx
                .query_one(
                    "SELECT coalesce(max(seq), 0)::bigint FROM group_events WHERE series = $1",
                    &[&key],
                )
                .map_err(db)
                .and_then(|r| col(&r, 0))?;
            let insert = tx
                .prepare(
                    "INSERT INTO group_events (series, seq, patient, event)
                     VALUES ($1, $2, $3, $4)",
                )
                .map_err(db)?;
            for e in events {
                seq = seq.saturating_add(1);
                let body = serde_json::to_string(e).map_err(encode_err(WHAT))?;
                let patient = int("patient id", e.patient().get())?;
                tx.execute(&insert, &[&key, &seq, &patient, &body])
                    .map_err(db)?;
            }
            Ok(next)
        })
    }

    /// Deletes the patient's event rows in every series. The old row versions become dead
    /// tuples that (auto)vacuum removes: see [`PgStore::vacuum_erased`].
    fn erase_group_member(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        let key = int("patient id", patient.get())?;
        // A delete that finds no row takes no transaction id and writes nothing: erasing
        // twice commits nothing.
        self.write(|tx| {
            let n = tx
                .execute("DELETE FROM group_events WHERE patient = $1", &[&key])
                .map_err(db)?;
            // More rows than a usize holds cannot have been deleted on any platform the
            // server runs beside.
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }
}
