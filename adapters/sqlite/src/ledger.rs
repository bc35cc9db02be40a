//! [`LedgerStore`] on SQLite: one row per posting.

use clinic_ops::id::PatientId;
use clinic_ops::points::Posting;
use clinic_ops::store::{LedgerStore, StoreError, Version, Versioned, stage_ledger_append};
use rusqlite::{OptionalExtension, params};

use crate::SqliteStore;
use crate::store::{db_at, decode_err, encode_err, int, uint, version};

const WHAT: &str = "points posting";

impl LedgerStore for SqliteStore {
    fn load(&self, account: PatientId) -> Result<Option<Versioned<Vec<Posting>>>, StoreError> {
        let key = int("patient id", account.get())?;
        // One read transaction: the version and the postings are of the same moment.
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.read_err(e))?;
        let head: Option<(i64, i64)> = tx
            .prepare_cached("SELECT version, postings FROM ledger_accounts WHERE account = ?1")
            .and_then(|mut s| {
                s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .map_err(|e| self.read_err(e))?;
        let Some((v, n)) = head else {
            return Ok(None);
        };
        let mut postings = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, posting FROM ledger_postings WHERE account = ?1 ORDER BY seq",
                )
                .map_err(|e| self.read_err(e))?;
            let mut rows = stmt.query([key]).map_err(|e| self.read_err(e))?;
            while let Some(r) = rows.next().map_err(|e| self.read_err(e))? {
                let seq: i64 = r.get(0).map_err(|e| self.read_err(e))?;
                let text = r
                    .get_ref(1)
                    .and_then(|t| Ok(t.as_str()?))
                    .map_err(|e| self.read_err(e))?;
                let p: Posting = serde_json::from_str(text)
                    .map_err(decode_err(WHAT, format_args!("{account}#{seq}")))?;
                postings.push(p);
            }
        }
        tx.finish().map_err(|e| self.read_err(e))?;
        Ok(Some(Versioned {
            value: postings,
            version: version(v)?,
        }))
    }

    fn append(
        &mut self,
        account: PatientId,
        expected: Option<Version>,
        postings: &[Posting],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", account.get())?;
        let path = self.path().to_path_buf();
        let err = move |e| db_at(e, &path);
        self.write(|tx| {
            let head: Option<(i64, i64)> = tx
                .prepare_cached("SELECT version, postings FROM ledger_accounts WHERE account = ?1")
                .and_then(|mut s| {
                    s.query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()
                })
                .map_err(&err)?;
            let current = head.map(|(v, _)| version(v)).transpose()?;
            let stored = head.map_or(Ok(0), |(_, n)| uint("posting count", n))?;
            let Some(next) = stage_ledger_append(account, current, stored, expected, postings)?
            else {
                return expected.ok_or(StoreError::NotFound {
                    what: "points account",
                    key: account.to_string(),
                });
            };
            let v = int("version", next.get())?;
            let count = int(
                "posting count",
                stored.saturating_add(postings.len() as u64),
            )?;
            // The account row first: the postings' foreign key needs it.
            tx.prepare_cached(
                "INSERT INTO ledger_accounts (account, version, postings) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account) DO UPDATE SET version = excluded.version,
                     postings = excluded.postings",
            )
            .and_then(|mut s| s.execute(params![key, v, count]))
            .map_err(&err)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO ledger_postings (account, seq, posting) VALUES (?1, ?2, ?3)",
                )
                .map_err(&err)?;
            for p in postings {
                let text = serde_json::to_string(p).map_err(encode_err(WHAT))?;
                insert
                    .execute(params![key, int("posting seq", p.seq)?, text])
                    .map_err(&err)?;
            }
            Ok(next)
        })
    }
}
