//! [`UsageStore`] on SQLite.

use clinic_ops::campaign::{UsageKey, UsageReservation, UsageSnapshot};
use clinic_ops::store::{StoreError, UsageStore, Versioned, stage_usage_commit};
use rusqlite::{OptionalExtension, params};
use std::path::Path;

use crate::store::{db_at, int, version};
use crate::{SqliteError, SqliteStore};

fn counter(key: &UsageKey, v: i64, count: &str) -> Result<Versioned<u64>, StoreError> {
    let value = count.parse::<u64>().map_err(|_| {
        StoreError::backend(SqliteError::OutOfRange {
            what: "usage count",
            value: format!("{count:?} of {key}"),
        })
    })?;
    Ok(Versioned {
        value,
        version: version(v)?,
    })
}

fn read(
    conn: &rusqlite::Connection,
    key: &UsageKey,
    path: &Path,
) -> Result<Option<Versioned<u64>>, StoreError> {
    let raw: Option<(i64, String)> = conn
        .prepare_cached("SELECT version, count FROM usage_counters WHERE key = ?1")
        .and_then(|mut s| {
            s.query_row([key.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(|e| db_at(e, path))?;
    raw.map(|(v, c)| counter(key, v, &c)).transpose()
}

impl UsageStore for SqliteStore {
    fn load(&self, keys: &[UsageKey]) -> Result<UsageSnapshot, StoreError> {
        let mut snap = UsageSnapshot::new();
        // One read transaction, so the snapshot is of one moment even with writers about.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.read_err(e))?;
        for k in keys {
            if let Some(c) = read(&tx, k, self.path())? {
                snap.insert(*k, c);
            }
        }
        tx.finish().map_err(|e| self.read_err(e))?;
        Ok(snap)
    }

    fn commit(&mut self, reservation: &UsageReservation) -> Result<(), StoreError> {
        if reservation.is_empty() {
            return Ok(());
        }
        let path = self.path().to_path_buf();
        self.write(|tx| {
            let staged = stage_usage_commit(reservation, |k| read(tx, k, &path))?;
            for (k, c) in staged {
                let v = int("version", c.version.get())?;
                tx.prepare_cached(
                    "INSERT INTO usage_counters (key, version, count) VALUES (?1, ?2, ?3)
                     ON CONFLICT (key) DO UPDATE SET version = excluded.version,
                         count = excluded.count",
                )
                .and_then(|mut s| s.execute(params![k.to_string(), v, c.value.to_string()]))
                .map_err(|e| db_at(e, &path))?;
            }
            Ok(())
        })
    }
}
