//! The storage ports of [`clinic_ops`] on SQLite.
//!
//! ```
//! use clinic_ops::store::PatientStore;
//! use clinic_ops::id::PatientId;
//! use clinic_ops_sqlite::SqliteStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let store = SqliteStore::open(dir.path().join("clinic.db"))?;
//! assert_eq!(store.get(PatientId::new(1))?, None);
//! # Ok(())
//! # }
//! ```
//!
//! # Overview
//!
//! [`SqliteStore`] is one connection to one database file and implements every port of
//! [`clinic_ops::store`]: [`PatientStore`](clinic_ops::store::PatientStore).
//! Open one handle per thread ([`SqliteStore::reopen`]) or per process
//! ([`SqliteStore::open`] on the same path).
//!
//! - **Schema.** The adapter creates and migrates its tables on open and records the
//!   schema version in `PRAGMA user_version`. A file from a newer adapter is refused with
//!   [`SqliteError::NewerSchema`].
//! - **Durability.** WAL mode, `synchronous = FULL` by default ([`Durability`]). Each `commit` is one `BEGIN IMMEDIATE`
//!   transaction: the optimistic version is checked inside it, a stale one is
//!   [`StoreError::Conflict`](clinic_ops::store::StoreError::Conflict) and writes nothing, a
//!   UNIQUE index violation is
//!   [`StoreError::Duplicate`](clinic_ops::store::StoreError::Duplicate) with the key
//!   masked, and every other SQLite failure is
//!   [`StoreError::Backend`](clinic_ops::store::StoreError::Backend) around a
//!   [`SqliteError`].
//! - **State, not history.** As the ports require, each aggregate's current state is one
//!   JSON row: anonymising a patient rewrites the row, and `secure_delete` overwrites the
//!   old bytes in the file.
//!
//! A port added to `clinic-ops` later gets its SQLite implementation in the same change,
//! as a new schema migration and a new `impl` here.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod error;
mod ledger;
mod patient;
mod referral;
mod schema;
mod store;
mod task;
mod usage;

pub use error::SqliteError;
pub use store::{Durability, SqliteStore};
