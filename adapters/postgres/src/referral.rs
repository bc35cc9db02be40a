//! [`ReferralStore`] on PostgreSQL.

use clinic_ops::id::PatientId;
use clinic_ops::referral::{Binding, ReferralEvent};
use clinic_ops::store::{ReferralStore, StoreError, Version, Versioned, stage_referral_commit};

use crate::PgStore;
use crate::store::{db, encode_err, int, load_snapshot};

const WHAT: &str = "referral binding";
const GET: &str = "SELECT version, state FROM referral_bindings WHERE referee = $1";

impl ReferralStore for PgStore {
    fn get(&self, referee: PatientId) -> Result<Option<Versioned<Binding>>, StoreError> {
        let key = int("patient id", referee.get())?;
        load_snapshot(&mut *self.conn()?, GET, key, WHAT, referee)
    }

    fn commit(
        &mut self,
        referee: PatientId,
        expected: Option<Version>,
        events: &[ReferralEvent],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", referee.get())?;
        self.write(|tx| {
            let current = load_snapshot(tx, GET, key, WHAT, referee)?;
            let Some(staged) = stage_referral_commit(referee, current, expected, events)? else {
                return expected.ok_or(StoreError::NotFound {
                    what: WHAT,
                    key: referee.to_string(),
                });
            };
            let state = serde_json::to_string(&staged.value).map_err(encode_err(WHAT))?;
            let v = int("version", staged.version.get())?;
            let referrer = int("patient id", staged.value.referrer.get())?;
            tx.execute(
                "INSERT INTO referral_bindings (referee, version, referrer, state)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (referee) DO UPDATE SET version = excluded.version,
                     referrer = excluded.referrer, state = excluded.state",
                &[&key, &v, &referrer, &state],
            )
            .map_err(db)?;
            Ok(staged.version)
        })
    }

    fn referees_of(&self, referrer: PatientId) -> Result<Vec<Binding>, StoreError> {
        let key = int("patient id", referrer.get())?;
        let bindings: Vec<Versioned<Binding>> = self.query_snapshots(
            "SELECT referee, version, state FROM referral_bindings
                 WHERE referrer = $1 ORDER BY referee",
            &[&key],
            WHAT,
        )?;
        Ok(bindings.into_iter().map(|b| b.value).collect())
    }

    fn scan(
        &self,
        after: Option<PatientId>,
        limit: usize,
    ) -> Result<Vec<Versioned<Binding>>, StoreError> {
        self.scan_snapshots(
            "SELECT referee, version, state FROM referral_bindings
                 WHERE referee > $1 ORDER BY referee LIMIT $2",
            after,
            limit,
            WHAT,
        )
    }
}
