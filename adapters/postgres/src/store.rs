use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, SystemTime};

use clinic_ops::id::PatientId;
use clinic_ops::store::{StoreError, Version, Versioned};
use postgres::types::ToSql;
use postgres::{Client, Config, IsolationLevel, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2::{Pool, PooledConnection};

use crate::ledger::LedgerCache;
use crate::{PgError, schema};

/// How many times a commit runs before a serialization failure, deadlock or concurrent
/// unique violation is given up as [`PgError::Contended`]. Each retry reloads the state,
/// so a real version conflict comes back as [`StoreError::Conflict`] on the next run.
const MAX_ATTEMPTS: u32 = 40;
/// How long a port call waits for a free pooled connection.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a [`PgStore`] connects: the tenant's schema and the size of the connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PgOptions {
    /// The most connections the pool opens (default 8). Each port call holds one for its
    /// duration only; a host with more threads than this waits for a free one.
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions { max_connections: 8 }
    }
}

impl PgOptions {
    /// These options with a pool of at most `n` connections (at least one).
    #[must_use]
    pub fn with_max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// A pool of connections to one chain's schema in a PostgreSQL database, implementing
/// every storage port of `clinic-ops`.
///
/// A handle is [`Send`] but not [`Sync`] (it keeps decoded points postings in a
/// per-handle cache). For another thread call [`PgStore::handle`]: the new handle shares
/// the pool, so each call still runs on a connection of its own. Another process connects
/// with [`PgStore::connect`] to the same database and schema.
///
/// - **Tenancy.** Every connection's `search_path` is the tenant's schema alone, and every
///   statement names its tables without a schema, so no query reads or writes another
///   chain's tables.
/// - **Commits.** Each commit is one `SERIALIZABLE` transaction (a points append:
///   `READ COMMITTED` with its account row locked) that reads the current
///   version, checks the caller's expected one with the core's `stage_*` helpers and
///   writes. A stale version is [`StoreError::Conflict`] and writes nothing. When
///   PostgreSQL aborts the transaction because a concurrent one got there first
///   (serialization failure `40001`, deadlock `40P01`, or a unique violation `23505`,
///   which with every write staged from a fresh read can only come from a concurrent
///   insert), the whole transaction runs again from the read; the rerun sees the other
///   writer's commit and answers `Conflict` or `Duplicate` as the ports require. No write
///   is lost and no conflict is hidden.
/// - **Masking.** Server errors keep their SQLSTATE, primary message and constraint name
///   only ([`PgError::Server`]): PostgreSQL's DETAIL lines quote row values.
///
/// A handle keeps the points postings it has read or written, per account (up to 100,000
/// postings in all): ledger rows are never edited, so a later `load` only reads and
/// decodes the appends made since. After restoring a backup under live handles, call
/// [`PgStore::clear_cache`] or make new ones.
pub struct PgStore {
    pool: Pool<PostgresConnectionManager<NoTls>>,
    schema: String,
    pub(crate) ledger_cache: RefCell<LedgerCache>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .field("pool", &self.pool.state())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database named by `url` (a `postgresql://` URL or a
    /// `key=value` connection string, as libpq takes), creates the tenant `schema` if it
    /// is missing and brings its tables up to date.
    ///
    /// # Errors
    ///
    /// [`PgError::SchemaName`] when `schema` is not a lowercase identifier;
    /// [`PgError::Config`] when `url` does not parse; [`PgError::NewerSchema`] when a
    /// newer adapter wrote the schema; [`PgError::Server`] or [`PgError::Postgres`] when
    /// the server cannot be reached or refuses.
    pub fn connect(url: &str, schema: &str) -> Result<Self, PgError> {
        Self::connect_with(url, schema, &PgOptions::default())
    }

    /// As [`PgStore::connect`], with chosen [`PgOptions`].
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`].
    pub fn connect_with(url: &str, schema: &str, options: &PgOptions) -> Result<Self, PgError> {
        let config: Config = url.parse().map_err(PgError::Config)?;
        Self::connect_config(config, schema, options)
    }

    /// As [`PgStore::connect_with`], with the connection settings already built (a
    /// host that reads its password from a secret store sets it here rather than in a URL).
    ///
    /// # Errors
    ///
    /// As [`PgStore::connect`], without [`PgError::Config`].
    pub fn connect_config(
        mut config: Config,
        schema: &str,
        options: &PgOptions,
    ) -> Result<Self, PgError> {
        if !schema::valid_schema_name(schema) {
            return Err(PgError::SchemaName {
                name: schema.to_owned(),
            });
        }
        // The tenant's schema alone: an unqualified name can only mean its table.
        // Appended, so that options the host set (a statement timeout) stay.
        let startup = match config.get_options() {
            Some(o) if !o.trim().is_empty() => format!("{o} -c search_path={schema}"),
            _ => format!("-c search_path={schema}"),
        };
        config.options(&startup);
        if config.get_application_name().is_none() {
            config.application_name("clinic-ops");
        }
        // The first connection migrates and proves the server answers, with its own
        // error rather than the pool's.
        let mut first = config.connect(NoTls)?;
        schema::migrate(&mut first, schema)?;
        drop(first);
        let pool = Pool::builder()
            .max_size(options.max_connections.max(1))
            .min_idle(Some(0))
            // A broken connection is noticed when it is returned (`is_closed`); checking
            // each one out with a round trip would tax every call.
            .test_on_check_out(false)
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))?;
        Ok(PgStore {
            pool,
            schema: schema.to_owned(),
            ledger_cache: RefCell::default(),
        })
    }

    /// Another handle on the same pool and schema, with its own postings cache: the handle
    /// to give another thread.
    pub fn handle(&self) -> Self {
        PgStore {
            pool: self.pool.clone(),
            schema: self.schema.clone(),
            ledger_cache: RefCell::default(),
        }
    }

    /// The tenant's schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema version recorded in the tenant's schema.
    ///
    /// # Errors
    ///
    /// [`PgError`] when the query fails.
    pub fn schema_version(&self) -> Result<i64, PgError> {
        let mut c = self.pool.get()?;
        Ok(
            c.query_one("SELECT version FROM clinic_ops_schema WHERE id = 1", &[])?
                .try_get(0)?,
        )
    }

    /// The newest schema version this build of the adapter knows and writes.
    pub const LATEST_SCHEMA_VERSION: i64 = schema::LATEST;

    /// Forgets the points postings this handle keeps decoded.
    pub fn clear_cache(&self) {
        *self.ledger_cache.borrow_mut() = LedgerCache::default();
    }

    /// A pooled connection for one port call.
    pub(crate) fn conn(
        &self,
    ) -> Result<PooledConnection<PostgresConnectionManager<NoTls>>, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::backend(PgError::Pool(e)))
    }

    /// A pooled connection for an adapter method of its own.
    pub(crate) fn pool_conn(
        &self,
    ) -> Result<PooledConnection<PostgresConnectionManager<NoTls>>, PgError> {
        Ok(self.pool.get()?)
    }

    /// Runs `f` in one `SERIALIZABLE` transaction and commits it if `f` returns `Ok`;
    /// reruns it from the start when PostgreSQL aborts it for a concurrent writer (see the
    /// type's documentation). `f` must therefore read everything it decides on inside the
    /// transaction.
    pub(crate) fn write<T>(
        &self,
        f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write_at(IsolationLevel::Serializable, f)
    }

    /// As [`PgStore::write`] at a chosen isolation level. `READ COMMITTED` is for a write
    /// that locks what it decides on itself (`SELECT ... FOR UPDATE` on an existing row, a
    /// plain `INSERT` that a concurrent creator turns into a unique violation, hence a
    /// rerun): it spares writers on distinct rows the false conflicts that `SERIALIZABLE`'s
    /// page-level predicate locks raise between neighbours in one index page.
    pub(crate) fn write_at<T>(
        &self,
        level: IsolationLevel,
        mut f: impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = run_once(&mut conn, level, &mut f);
            match outcome {
                Err(e) => match retryable(&e) {
                    Some(code) if attempt >= MAX_ATTEMPTS => {
                        return Err(StoreError::backend(PgError::Contended {
                            attempts: attempt,
                            sqlstate: code.to_owned(),
                        }));
                    }
                    Some(_) if !conn.is_closed() => std::thread::sleep(backoff(attempt)),
                    _ => return Err(e),
                },
                ok => return ok,
            }
        }
    }
}

fn run_once<T>(
    conn: &mut Client,
    level: IsolationLevel,
    f: &mut impl FnMut(&mut Transaction<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tx = conn
        .build_transaction()
        .isolation_level(level)
        .start()
        .map_err(db)?;
    let out = f(&mut tx)?;
    tx.commit().map_err(db)?;
    Ok(out)
}

/// The SQLSTATE of a failure that a rerun of the transaction resolves.
fn retryable(e: &StoreError) -> Option<&str> {
    let StoreError::Backend(b) = e else {
        return None;
    };
    let code = b.downcast_ref::<PgError>()?.sqlstate()?;
    matches!(code, "40001" | "40P01" | "23505").then_some(code)
}

/// A pause growing with the attempt (0.2 ms to about 50 ms), jittered by the clock's
/// nanoseconds so that writers that collided do not collide again in step.
fn backoff(attempt: u32) -> Duration {
    let base = 200u64 << attempt.min(8);
    let jitter = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
        % base;
    Duration::from_micros(base / 2 + jitter / 2)
}

/// A client error inside a port call, with the server's detail dropped.
pub(crate) fn db(e: postgres::Error) -> StoreError {
    StoreError::backend(PgError::from(e))
}

/// A u64 key or version as a PostgreSQL `bigint`.
pub(crate) fn int(what: &'static str, v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| {
        StoreError::backend(PgError::OutOfRange {
            what,
            value: v.to_string(),
        })
    })
}

/// A stored `bigint` as a u64 (a key or a version).
pub(crate) fn uint(what: &'static str, v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| {
        StoreError::backend(PgError::OutOfRange {
            what,
            value: v.to_string(),
        })
    })
}

/// The bounds of a page keyed by a u64 id: the exclusive lower key (`-1` before the first
/// id) and the row limit, as `bigint`s.
pub(crate) fn page(
    after: Option<u64>,
    what: &'static str,
    limit: usize,
) -> Result<(i64, i64), StoreError> {
    let after = after.map_or(Ok(-1), |a| int(what, a))?;
    Ok((after, i64::try_from(limit).unwrap_or(i64::MAX)))
}

/// A stored version.
pub(crate) fn version(v: i64) -> Result<Version, StoreError> {
    uint("version", v).map(Version::new)
}

/// Why a value did not encode as JSON for a state column.
pub(crate) fn encode_err(what: &'static str) -> impl Fn(serde_json::Error) -> StoreError {
    move |source| StoreError::backend(PgError::Encode { what, source })
}

/// Why a JSON state column did not decode.
pub(crate) fn decode_err(
    what: &'static str,
    key: impl fmt::Display,
) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |source| {
        StoreError::backend(PgError::Decode {
            what,
            key: key.to_string(),
            source,
        })
    }
}

/// Decodes one snapshot row, `(version, JSON state)`, of the aggregate `what` keyed by `key`.
pub(crate) fn snapshot<T: serde::de::DeserializeOwned>(
    what: &'static str,
    key: impl fmt::Display,
    v: i64,
    state: &str,
) -> Result<Versioned<T>, StoreError> {
    Ok(Versioned {
        value: serde_json::from_str(state).map_err(decode_err(what, key))?,
        version: version(v)?,
    })
}

/// Column `i` of a row, or a typed error when the stored type is not the expected one
/// (a table altered outside the adapter), never a panic.
pub(crate) fn col<'a, T: postgres::types::FromSql<'a>>(
    r: &'a postgres::Row,
    i: usize,
) -> Result<T, StoreError> {
    r.try_get(i).map_err(db)
}

/// Anything statements run on: a pooled connection or an open transaction.
pub(crate) use postgres::GenericClient as Db;

/// Loads and decodes the snapshot row that `sql` (selecting `version, state` by one
/// `bigint` key) finds. Every snapshot-style port reads its rows through this one path.
pub(crate) fn load_snapshot<T: serde::de::DeserializeOwned>(
    c: &mut impl Db,
    sql: &str,
    key: i64,
    what: &'static str,
    id: impl fmt::Display,
) -> Result<Option<Versioned<T>>, StoreError> {
    let row = c.query_opt(sql, &[&key]).map_err(db)?;
    row.map(|r| snapshot(what, id, col(&r, 0)?, col(&r, 1)?))
        .transpose()
}

/// The one write path of the event-sourced snapshot ports (follow-up histories, contact logs,
/// rosters, appointment books, complaints): inside the caller's transaction, loads the row
/// with `get`, stages `events` on it with the core's `stage` function, and writes the new state
/// and version with `upsert` (`$1` key, `$2` version, `$3` state). An empty commit on an
/// existing row answers its version; on a missing row with an expected version, `NotFound`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn commit_snapshot<T, E, I>(
    tx: &mut impl Db,
    get: &str,
    upsert: &str,
    key: i64,
    what: &'static str,
    id: I,
    expected: Option<Version>,
    events: &[E],
    stage: impl FnOnce(
        I,
        Option<Versioned<T>>,
        Option<Version>,
        &[E],
    ) -> Result<Option<Versioned<T>>, StoreError>,
) -> Result<Version, StoreError>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    I: fmt::Display + Copy,
{
    let current = load_snapshot(tx, get, key, what, id)?;
    let Some(staged) = stage(id, current, expected, events)? else {
        return expected.ok_or(StoreError::NotFound {
            what,
            key: id.to_string(),
        });
    };
    let state = serde_json::to_string(&staged.value).map_err(encode_err(what))?;
    let v = int("version", staged.version.get())?;
    tx.execute(upsert, &[&key, &v, &state]).map_err(db)?;
    Ok(staged.version)
}

impl PgStore {
    /// Runs `sql` (selecting `key, version, state` rows) and decodes every row: the one
    /// read path of the snapshot ports' scans and listings.
    pub(crate) fn query_snapshots<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        what: &'static str,
    ) -> Result<Vec<Versioned<T>>, StoreError> {
        let rows = self.conn()?.query(sql, params).map_err(db)?;
        rows.iter()
            .map(|r| {
                let id = PatientId::new(uint("patient id", col(r, 0)?)?);
                snapshot(what, id, col(r, 1)?, col(r, 2)?)
            })
            .collect()
    }

    /// A page of a snapshot port's scan: `sql` takes the exclusive lower key and the limit.
    pub(crate) fn scan_snapshots<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        after: Option<PatientId>,
        limit: usize,
        what: &'static str,
    ) -> Result<Vec<Versioned<T>>, StoreError> {
        let after = match after {
            Some(a) => int("patient id", a.get())?,
            None => -1,
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query_snapshots(sql, &[&after, &limit], what)
    }
}
