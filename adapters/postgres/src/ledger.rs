//! [`LedgerStore`] on PostgreSQL: one row per append, and a per-handle cache of decoded
//! postings.

use std::collections::HashMap;
use std::fmt;

use clinic_ops::id::PatientId;
use clinic_ops::points::Posting;
use clinic_ops::store::{LedgerStore, StoreError, Version, Versioned, stage_ledger_append};
use postgres::IsolationLevel;

use crate::store::{Db, col, db, decode_err, encode_err, int, uint, version};
use crate::{PgError, PgStore};

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
    StoreError::backend(PgError::Inconsistent {
        what: WHAT,
        key: account.to_string(),
        detail,
    })
}

/// The account row and the appends after version `after`, in one statement (so of one
/// moment): `None` when the account has no row.
struct Fetched {
    version: Version,
    count: u64,
    /// `(version, first seq, JSON postings)` per append, in version order.
    appends: Vec<(i64, i64, String)>,
}

fn fetch(c: &mut impl Db, key: i64, after: u64) -> Result<Option<Fetched>, StoreError> {
    let after = int("version", after)?;
    let rows = c
        .query(
            "SELECT a.version, a.postings, p.version, p.first_seq, p.postings
             FROM ledger_accounts a
             LEFT JOIN ledger_appends p ON p.account = a.account AND p.version > $2
             WHERE a.account = $1
             ORDER BY p.version",
            &[&key, &after],
        )
        .map_err(db)?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let mut appends = Vec::with_capacity(rows.len());
    for r in &rows {
        let v: Option<i64> = col(r, 2)?;
        let first_seq: Option<i64> = col(r, 3)?;
        let text: Option<String> = col(r, 4)?;
        if let (Some(v), Some(s), Some(t)) = (v, first_seq, text) {
            appends.push((v, s, t));
        }
    }
    Ok(Some(Fetched {
        version: version(col(first, 0)?)?,
        count: uint("posting count", col(first, 1)?)?,
        appends,
    }))
}

/// Appends the decoded postings of `appends` to `into`. `false` if an append does not
/// start where `into` ends (the cache was not a prefix of this ledger).
fn extend(
    account: PatientId,
    appends: &[(i64, i64, String)],
    into: &mut Vec<Posting>,
) -> Result<bool, StoreError> {
    for (v, first, text) in appends {
        if uint("posting seq", *first)? != into.len() as u64 + 1 {
            return Ok(false);
        }
        let batch: Vec<Posting> = serde_json::from_str(text)
            .map_err(decode_err("points append", format_args!("{account} v{v}")))?;
        into.extend(batch);
    }
    Ok(true)
}

impl LedgerStore for PgStore {
    fn load(&self, account: PatientId) -> Result<Option<Versioned<Vec<Posting>>>, StoreError> {
        let key = int("patient id", account.get())?;
        let mut conn = self.conn()?;
        let mut cache = self.ledger_cache.borrow_mut();
        let cached = cache.take(account);
        let from = cached.as_ref().map_or(0, |c| c.version.get());
        let Some(mut f) = fetch(&mut *conn, key, from)? else {
            return Ok(None);
        };
        let len = |c: &Versioned<Vec<Posting>>| c.value.len() as u64;
        let usable = cached.filter(|c| {
            (c.version < f.version && len(c) < f.count)
                || (c.version == f.version && len(c) == f.count)
        });
        let mut postings = match usable {
            Some(c) => c.value,
            // The count is only a hint here (it is checked below): a damaged row must not
            // make us reserve terabytes.
            None => {
                if from > 0 {
                    // The cache was not of this ledger: read it all.
                    match fetch(&mut *conn, key, 0)? {
                        Some(all) => f = all,
                        None => return Ok(None),
                    }
                }
                Vec::with_capacity(usize::try_from(f.count).unwrap_or(0).min(1 << 16))
            }
        };
        if !extend(account, &f.appends, &mut postings)? {
            postings.clear();
            let all = fetch(&mut *conn, key, 0)?
                .ok_or_else(|| inconsistent(account, "account row vanished".into()))?;
            if !extend(account, &all.appends, &mut postings)? {
                return Err(inconsistent(account, "appends leave a gap in seq".into()));
            }
            f = all;
        }
        if postings.len() as u64 != f.count {
            return Err(inconsistent(
                account,
                format!(
                    "account row says {} postings, appends hold {}",
                    f.count,
                    postings.len()
                ),
            ));
        }
        cache.put(
            account,
            Versioned {
                value: postings.clone(),
                version: f.version,
            },
        );
        Ok(Some(Versioned {
            value: postings,
            version: f.version,
        }))
    }

    fn append(
        &mut self,
        account: PatientId,
        expected: Option<Version>,
        postings: &[Posting],
    ) -> Result<Version, StoreError> {
        let key = int("patient id", account.get())?;
        // Encoded once, outside the transaction: a rerun only repeats the statements.
        let text = serde_json::to_string(postings).map_err(encode_err("points append"))?;
        // READ COMMITTED with the account row locked: appends to one account queue on
        // the lock and the one that waited reads the newer version (a Conflict), while
        // appends to other accounts never wait on it or abort for it.
        let outcome = self.write_at(IsolationLevel::ReadCommitted, |tx| {
            let head = tx
                .query_opt(
                    "SELECT version, postings FROM ledger_accounts WHERE account = $1
                     FOR UPDATE",
                    &[&key],
                )
                .map_err(db)?;
            let (current, stored) = match head {
                Some(r) => (
                    Some(version(col(&r, 0)?)?),
                    uint("posting count", col(&r, 1)?)?,
                ),
                None => (None, 0),
            };
            let Some(next) = stage_ledger_append(account, current, stored, expected, postings)?
            else {
                let v = expected.ok_or(StoreError::NotFound {
                    what: WHAT,
                    key: account.to_string(),
                })?;
                return Ok((v, stored));
            };
            let total = stored.saturating_add(postings.len() as u64);
            let (v, first, last) = (
                int("version", next.get())?,
                int("posting seq", stored.saturating_add(1))?,
                int("posting count", total)?,
            );
            // Both rows in one statement (one round trip). A new account is a plain
            // INSERT: a concurrent creator makes it a unique violation, and the rerun
            // then finds (and locks) the other's row.
            let sql = if current.is_some() {
                "WITH acc AS (
                     UPDATE ledger_accounts SET version = $2, postings = $4
                     WHERE account = $1 RETURNING account
                 )
                 INSERT INTO ledger_appends (account, version, first_seq, last_seq, postings)
                 SELECT account, $2, $3, $4, $5 FROM acc"
            } else {
                "WITH acc AS (
                     INSERT INTO ledger_accounts (account, version, postings)
                     VALUES ($1, $2, $4) RETURNING account
                 )
                 INSERT INTO ledger_appends (account, version, first_seq, last_seq, postings)
                 SELECT account, $2, $3, $4, $5 FROM acc"
            };
            let written = tx
                .execute(sql, &[&key, &v, &first, &last, &text])
                .map_err(db)?;
            if written != 1 {
                return Err(inconsistent(
                    account,
                    "the locked account row vanished".into(),
                ));
            }
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
