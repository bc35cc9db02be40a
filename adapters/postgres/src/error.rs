/// What went wrong in the PostgreSQL adapter.
///
/// [`PgStore::connect`](crate::PgStore::connect) returns it directly. Inside a port call it
/// travels as the source of [`StoreError::Backend`](clinic_ops::store::StoreError::Backend),
/// where a host can `downcast_ref::<PgError>()` it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PgError {
    /// The schema (tenant) name is not a plain lowercase SQL identifier.
    #[error("schema name {name:?} is not a lowercase identifier of at most 63 characters")]
    SchemaName {
        /// The refused name.
        name: String,
    },
    /// The connection string did not parse.
    #[error("connection settings do not parse: {0}")]
    Config(#[source] postgres::Error),
    /// The schema was written by a newer version of this adapter: using it could misread
    /// rows that an older schema does not know.
    #[error("database schema version {found} is newer than this adapter's {supported}")]
    NewerSchema {
        /// The version recorded in the schema.
        found: i64,
        /// The newest version this adapter knows.
        supported: i64,
    },
    /// Rows that must agree do not (an account row and its postings): the tables were
    /// edited outside the adapter.
    #[error("stored {what} {key} is inconsistent: {detail}")]
    Inconsistent {
        /// The kind of aggregate.
        what: &'static str,
        /// Its key.
        key: String,
        /// What disagrees.
        detail: String,
    },
    /// A stored row did not decode into its domain type.
    #[error("stored {what} {key} does not decode: {source}")]
    Decode {
        /// The kind of row.
        what: &'static str,
        /// Its key.
        key: String,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A value did not encode for storage.
    #[error("{what} does not encode: {source}")]
    Encode {
        /// The kind of value.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A number does not fit PostgreSQL's signed 64-bit integers.
    #[error("{what} {value} is out of range for postgres")]
    OutOfRange {
        /// Which number.
        what: &'static str,
        /// Its value.
        value: String,
    },
    /// A commit kept failing with serialization failures, deadlocks or unique violations
    /// caused by concurrent writers after every retry: the rows it touches are under
    /// heavier contention than the retry budget covers. Nothing was written; the call may
    /// be repeated.
    #[error("commit still contended after {attempts} attempts (last sqlstate {sqlstate})")]
    Contended {
        /// How many times the transaction ran.
        attempts: u32,
        /// The SQLSTATE of the last failure.
        sqlstate: String,
    },
    /// No pooled connection could be had (the server is down or the pool is exhausted past
    /// its timeout).
    #[error("no connection: {0}")]
    Pool(#[from] r2d2_postgres::r2d2::Error),
    /// An error the server reported. Only its SQLSTATE, primary message and constraint
    /// name are kept: the server's DETAIL line can quote row values (a refused mobile
    /// number, a whole failing row), so it is dropped here and never reaches a host's logs.
    #[error("postgres {code}: {message}")]
    Server {
        /// The SQLSTATE (`"40001"`, `"57P01"`).
        code: String,
        /// The server's primary message, which names objects, never values.
        message: String,
        /// The constraint the error is about, if any.
        constraint: Option<String>,
    },
    /// Any other client failure: a closed connection, an I/O error, a type mismatch.
    #[error("postgres: {0}")]
    Postgres(#[source] postgres::Error),
}

impl From<postgres::Error> for PgError {
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => PgError::Server {
                code: db.code().code().to_owned(),
                message: db.message().to_owned(),
                constraint: db.constraint().map(str::to_owned),
            },
            None => PgError::Postgres(e),
        }
    }
}

impl PgError {
    /// The server's SQLSTATE code (`"40001"`, `"57P01"`), when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PgError::Server { code, .. } => Some(code),
            _ => None,
        }
    }
}
