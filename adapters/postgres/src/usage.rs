//! [`UsageStore`] on PostgreSQL.

use clinic_ops::campaign::{UsageKey, UsageReservation, UsageSnapshot};
use clinic_ops::store::{StoreError, UsageStore, Versioned, stage_usage_commit};

use crate::store::{Db, col, db, int, version};
use crate::{PgError, PgStore};

fn counter(key: &UsageKey, v: i64, count: &str) -> Result<Versioned<u64>, StoreError> {
    let value = count.parse::<u64>().map_err(|_| {
        StoreError::backend(PgError::OutOfRange {
            what: "usage count",
            value: format!("{count:?} of {key}"),
        })
    })?;
    Ok(Versioned {
        value,
        version: version(v)?,
    })
}

fn read(c: &mut impl Db, key: &UsageKey) -> Result<Option<Versioned<u64>>, StoreError> {
    let row = c
        .query_opt(
            "SELECT version, count FROM usage_counters WHERE key = $1",
            &[&key.to_string()],
        )
        .map_err(db)?;
    row.map(|r| counter(key, col(&r, 0)?, col(&r, 1)?))
        .transpose()
}

impl UsageStore for PgStore {
    fn load(&self, keys: &[UsageKey]) -> Result<UsageSnapshot, StoreError> {
        let mut snap = UsageSnapshot::new();
        if keys.is_empty() {
            return Ok(snap);
        }
        // One statement, so the snapshot is of one moment even with writers about.
        let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let rows = self
            .conn()?
            .query(
                "SELECT key, version, count FROM usage_counters WHERE key = ANY($1)",
                &[&texts],
            )
            .map_err(db)?;
        for r in &rows {
            let text: &str = col(r, 0)?;
            // Keys round-trip through their documented text form; match them back.
            if let Some(k) = keys.iter().zip(&texts).find(|(_, t)| t.as_str() == text) {
                snap.insert(*k.0, counter(k.0, col(r, 1)?, col(r, 2)?)?);
            }
        }
        Ok(snap)
    }

    fn commit(&mut self, reservation: &UsageReservation) -> Result<(), StoreError> {
        if reservation.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let staged = stage_usage_commit(reservation, |k| read(tx, k))?;
            for (k, c) in staged {
                let v = int("version", c.version.get())?;
                tx.execute(
                    "INSERT INTO usage_counters (key, version, count) VALUES ($1, $2, $3)
                     ON CONFLICT (key) DO UPDATE SET version = excluded.version,
                         count = excluded.count",
                    &[&k.to_string(), &v, &c.value.to_string()],
                )
                .map_err(db)?;
            }
            Ok(())
        })
    }
}
