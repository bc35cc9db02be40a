//! [`GroupStore`] on SQLite: one row per event (keyed by series and sequence, with the
//! patient as a column so erasure is one indexed delete) and one version row per series.

use clinic_ops::id::{GroupId, PatientId};
use clinic_ops::relationship::GroupEvent;
use clinic_ops::store::{GroupStore, StoreError, Version, Versioned, stage_group_commit};
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::store::{Erases, db_at, decode_err, encode_err, int, version};

const WHAT: &str = "group event";

fn load_version(conn: &rusqlite::Connection, key: i64) -> Result<Option<i64>, rusqlite::Error> {
    conn.prepare_cached("SELECT version FROM group_series WHERE series = ?1")
        .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
}

impl GroupStore for SqliteStore {
    fn group_events(
        &self,
        series: GroupId,
    ) -> Result<Option<Versioned<Vec<GroupEvent>>>, StoreError> {
        let key = int("group id", series.get())?;
        let Some(v) = load_version(&self.conn, key).map_err(|e| self.read_err(e))? else {
            return Ok(None);
        };
        let rows: Vec<String> = self
            .conn
            .prepare_cached("SELECT event FROM group_events WHERE series = ?1 ORDER BY seq")
            .and_then(|mut s| s.query_map([key], |r| r.get(0))?.collect())
            .map_err(|e| self.read_err(e))?;
        let events = rows
            .iter()
            .map(|r| serde_json::from_str(r).map_err(decode_err(WHAT, series)))
            .collect::<Result<Vec<GroupEvent>, _>>()?;
        Ok(Some(Versioned {
            value: events,
            version: version(v)?,
        }))
    }

    fn commit_group(
        &mut self,
        series: GroupId,
        expected: Option<Version>,
        events: &[GroupEvent],
    ) -> Result<Version, StoreError> {
        let key = int("group id", series.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let actual = load_version(tx, key).map_err(&err)?.map(version).transpose()?;
            let Some(next) = stage_group_commit(series, actual, expected, events)? else {
                return expected.ok_or(StoreError::NotFound {
                    what: "group series",
                    key: series.to_string(),
                });
            };
            let v = int("version", next.get())?;
            tx.prepare_cached(
                "INSERT INTO group_series (series, version) VALUES (?1, ?2)
                 ON CONFLICT (series) DO UPDATE SET version = excluded.version",
            )
            .and_then(|mut s| s.execute(params![key, v]))
            .map_err(&err)?;
            let mut seq: i64 = tx
                .prepare_cached("SELECT coalesce(max(seq), 0) FROM group_events WHERE series = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)))
                .map_err(&err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO group_events (series, seq, patient, event) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(&err)?;
            for e in events {
                seq = seq.saturating_add(1);
                let body = serde_json::to_string(e).map_err(encode_err(WHAT))?;
                let patient = int("patient id", e.patient().get())?;
                insert.execute(params![key, seq, patient, body]).map_err(&err)?;
            }
            Ok(next)
        })
    }

    fn erase_group_member(&mut self, patient: PatientId) -> Result<usize, StoreError> {
        let key = int("patient id", patient.get())?;
        let present: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM group_events WHERE patient = ?1 LIMIT 1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| self.read_err(e))?;
        if present.is_none() {
            // Nothing to write: erasing twice commits nothing.
            return Ok(0);
        }
        let path = self.path().to_path_buf();
        self.write_erasing(Erases::Yes, |tx| {
            tx.prepare_cached("DELETE FROM group_events WHERE patient = ?1")
                .and_then(|mut s| s.execute([key]))
                .map_err(|e| db_at(e, &path))
        })
    }
}
