//! [`LedgerStore`] on SQLite: one row per append, and a per-handle cache of decoded
//! postings.

use std::collections::HashMap;
use std::fmt;

use clinic_ops::id::PatientId;
use clinic_ops::points::Posting;
use clinic_ops::store::{LedgerStore, StoreError, Version, Versioned, stage_ledger_append};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::store::{db_at, decode_err, encode_err, int, uint, version};
use crate::{SqliteError, SqliteStore};

const WHAT: &str = "points account";

/// At most this many postings are kept decoded per handle; past it the cache starts over.
const MAX_CACHED_POSTINGS: usize = 100_000;

/// Decoded postings per account, as of a version. Sound because the ledger is append-only:
/// the postings up to a version never change, so only later appends need reading.
#[derive(Default)]
pub(crate) struct LedgerCache {
    accounts: HashMap<PatientId, Versioned<Vec<Posting>>>,
    postings: usize,
}

impl fmt::Debug for LedgerCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LedgerCache")
            .field("accounts", &self.accounts.len())
            .field("postings", &self.postings)
            .finish()
    }
}

impl LedgerCache {
    fn take(&mut self, account: PatientId) -> Option<Versioned<Vec<Posting>>> {
        let c = self.accounts.remove(&account)?;
        self.postings = self.postings.saturating_sub(c.value.len());
        Some(c)
    }

    fn put(&mut self, account: PatientId, ledger: Versioned<Vec<Posting>>) {
        let n = ledger.value.len();
        if n > MAX_CACHED_POSTINGS {
            return;
        }
        if self.postings.saturating_add(n) > MAX_CACHED_POSTINGS {
            self.accounts.clear();
            self.postings = 0;
        }
        self.postings += n;
        self.accounts.insert(account, ledger);
    }
}

fn inconsistent(account: PatientId, detail: String) -> StoreError {
    StoreError::backend(SqliteError::Inconsistent {
        what: WHAT,
        key: account.to_string(),
        detail,
    })
}

/// Appends the postings of every append after `after` to `into`, in version order.
/// Returns `false` if an append does not start where `into` ends (the cache was not a
/// prefix of this file's ledger).
fn read_appends(
    tx: &Transaction<'_>,
    account: PatientId,
    key: i64,
    after: u64,
    into: &mut Vec<Posting>,
    path: &std::path::Path,
) -> Result<bool, StoreError> {
    let after = int("version", after)?;
    let mut stmt = tx
        .prepare_cached(
            "SELECT version, first_seq, postings FROM ledger_appends
             WHERE account = ?1 AND version > ?2 ORDER BY version",
        )
        .map_err(|e| db_at(e, path))?;
    let mut rows = stmt.query([key, after]).map_err(|e| db_at(e, path))?;
    while let Some(r) = rows.next().map_err(|e| db_at(e, path))? {
        let (v, first): (i64, i64) = (
            r.get(0).map_err(|e| db_at(e, path))?,
            r.get(1).map_err(|e| db_at(e, path))?,
        );
        if uint("posting seq", first)? != into.len() as u64 + 1 {
            return Ok(false);
        }
        let text = r
            .get_ref(2)
            .and_then(|t| Ok(t.as_str()?))
            .map_err(|e| db_at(e, path))?;
        let batch: Vec<Posting> = serde_json::from_str(text)
            .map_err(decode_err("points append", format_args!("{account} v{v}")))?;
        into.extend(batch);
    }
    Ok(true)
}

impl LedgerStore for SqliteStore {
    fn load(&self, account: PatientId) -> Result<Option<Versioned<Vec<Posting>>>, StoreError> {
        let key = int("patient id", account.get())?;
        let path = self.path();
        // One read transaction: the account row and the appends are of the same moment.
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
        let mut cache = self.ledger_cache.borrow_mut();
        let cached = cache.take(account);
        let Some((v, n)) = head else {
            return Ok(None);
        };
        let (v, n) = (version(v)?, uint("posting count", n)?);
        let len = |c: &Versioned<Vec<Posting>>| c.value.len() as u64;
        let usable =
            cached.filter(|c| (c.version < v && len(c) < n) || (c.version == v && len(c) == n));
        let (mut postings, from) = match usable {
            Some(c) => (c.value, c.version.get()),
            // The count is only a hint here (it is checked below): a damaged row must not
            // make us reserve terabytes.
            None => (
                Vec::with_capacity(usize::try_from(n).unwrap_or(0).min(1 << 16)),
                0,
            ),
        };
        if from < v.get() && !read_appends(&tx, account, key, from, &mut postings, path)? {
            postings.clear();
            if !read_appends(&tx, account, key, 0, &mut postings, path)? {
                return Err(inconsistent(account, "appends leave a gap in seq".into()));
            }
        }
        tx.finish().map_err(|e| self.read_err(e))?;
        if postings.len() as u64 != n {
            return Err(inconsistent(
                account,
                format!(
                    "account row says {n} postings, appends hold {}",
                    postings.len()
                ),
            ));
        }
        cache.put(
            account,
            Versioned {
                value: postings.clone(),
                version: v,
            },
        );
        Ok(Some(Versioned {
            value: postings,
            version: v,
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
        let outcome = self.write(|tx| {
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
                let v = expected.ok_or(StoreError::NotFound {
                    what: WHAT,
                    key: account.to_string(),
                })?;
                return Ok((v, stored));
            };
            let total = stored.saturating_add(postings.len() as u64);
            let text = serde_json::to_string(postings).map_err(encode_err("points append"))?;
            let (v, first, last) = (
                int("version", next.get())?,
                int("posting seq", stored.saturating_add(1))?,
                int("posting count", total)?,
            );
            // The account row first: the appends' foreign key needs it.
            tx.prepare_cached(
                "INSERT INTO ledger_accounts (account, version, postings) VALUES (?1, ?2, ?3)
                 ON CONFLICT (account) DO UPDATE SET version = excluded.version,
                     postings = excluded.postings",
            )
            .and_then(|mut s| s.execute(params![key, v, last]))
            .map_err(&err)?;
            tx.prepare_cached(
                "INSERT INTO ledger_appends (account, version, first_seq, last_seq, postings)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut s| s.execute(params![key, v, first, last, text]))
            .map_err(&err)?;
            Ok((next, stored))
        });
        let mut cache = self.ledger_cache.borrow_mut();
        let cached = cache.take(account);
        let (next, stored) = match outcome {
            Ok(o) if !postings.is_empty() => o,
            other => {
                // Nothing was written: whatever the cache held is still true.
                if let Some(c) = cached {
                    cache.put(account, c);
                }
                return other.map(|(v, _)| v);
            }
        };
        // Keep the cache only if it was exactly the state this append extended.
        let base = match cached {
            Some(c) if Some(c.version) == expected && c.value.len() as u64 == stored => {
                Some(c.value)
            }
            None if expected.is_none() => Some(Vec::new()),
            _ => None,
        };
        if let Some(mut all) = base {
            all.extend_from_slice(postings);
            cache.put(
                account,
                Versioned {
                    value: all,
                    version: next,
                },
            );
        }
        Ok(next)
    }
}
