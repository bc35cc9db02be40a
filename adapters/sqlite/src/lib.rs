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
//! [`clinic_ops::store`]: [`PatientStore`](clinic_ops::store::PatientStore),
//! [`LedgerStore`](clinic_ops::store::LedgerStore),
//! [`ReferralStore`](clinic_ops::store::ReferralStore),
//! [`UsageStore`](clinic_ops::store::UsageStore),
//! [`TaskStore`](clinic_ops::store::TaskStore),
//! [`VisitStore`](clinic_ops::store::VisitStore),
//! [`PurchaseStore`](clinic_ops::store::PurchaseStore),
//! [`TagCatalogStore`](clinic_ops::store::TagCatalogStore),
//! [`CampaignBookStore`](clinic_ops::store::CampaignBookStore),
//! [`ContentStore`](clinic_ops::store::ContentStore) and
//! [`OutreachEventStore`](clinic_ops::store::OutreachEventStore).

//! [`AppointmentStore`](clinic_ops::store::AppointmentStore) and
//! [`FeedbackStore`](clinic_ops::store::FeedbackStore).
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
//!   JSON row; no event is stored. The points ledger, append-only by design, is one row per append
//!   (a JSON array of its postings, keyed by the version it made), and each handle keeps
//!   the postings it has decoded so that a later load reads only the newer appends.
//! - **Journey records and documents.** Visits and purchases are one JSON row per record,
//!   with the patient and the instant (nanoseconds) as indexed columns; the tag catalog is
//!   one row and campaign books one row per version, never updated. Every row read back
//!   goes through its type's serde validation.
//! - **Erasure.** Anonymising a patient ([`clinic_ops::store::erase_patient`]) rewrites
//!   the patient's row, the follow-up history's row, the patient's purchase and feedback
//!   rows (without their categories and comments), and the appointment books, complaints
//!   and outreach rosters that held their intake answers, words or seats, and deletes their
//!   contact log and group events. `secure_delete = ON` zeroes the
//!   bytes the rewrite frees, in the page and in free pages; and since the write-ahead log
//!   still holds the page images written before, the anonymising commit truncates it
//!   (`wal_checkpoint(TRUNCATE)`). A connection reading a snapshot older than the erasure
//!   may still read the old row, so the truncation waits for it (250 ms), then is left to
//!   the next write on any handle (or the next open for writing);
//!   [`SqliteStore::erasure_pending`] tells whether one is unfinished and
//!   [`SqliteStore::complete_erasure`] finishes it or returns
//!   [`SqliteError::ErasureBlocked`]. Once none is pending, no file of the database (main,
//!   `-wal`, `-shm`) holds an erased byte: the conformance test scans them all.
//! - **Sharing.** Handles on one file, in one process or several, see each other's
//!   commits; `BEGIN IMMEDIATE` makes writers queue (up to a 10 s busy timeout) and the
//!   version check turns a lost race into a conflict.
//!
//! # Example: the load, decide, commit loop
//!
//! `examples/sqlite_host.rs` runs four writers on one patient, each with its own
//! connection, retrying with [`retry_on_conflict`](clinic_ops::store::retry_on_conflict):
//!
//! ```
//! use clinic_ops::calendar::ClinicCalendar;
//! use clinic_ops::id::{ClinicId, PatientId};
//! use clinic_ops::patient::{self, Channel, MobileNumber, PatientCommand, PersonName, Registration};
//! use clinic_ops::store::{ExecuteError, PatientStore, retry_on_conflict};
//! use clinic_ops_sqlite::SqliteStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! let mut store = SqliteStore::open(dir.path().join("clinic.db"))?;
//! let cal = ClinicCalendar::default();
//! let now = cal.start_of(cal.local_date_of_unix(1_772_416_800));
//! let id = PatientId::new(1);
//! let register = PatientCommand::Register(Registration {
//!     name: PersonName::parse("王秀英")?,
//!     mobile: MobileNumber::parse("13900001234")?,
//!     resident_id: None,
//!     external_id: None,
//!     sex: None,
//!     birth_date: None,
//!     owner: None,
//!     home_clinic: ClinicId::new(1),
//!     channel: Channel::WalkIn,
//!     channel_code: None,
//! });
//! let version = retry_on_conflict(10, || {
//!     let loaded = store.get(id)?;
//!     let events = patient::decide(loaded.as_ref().map(|v| &v.value), id, &register, now, cal)
//!         .map_err(ExecuteError::Domain)?;
//!     Ok::<_, ExecuteError<_>>(store.commit(id, loaded.map(|v| v.version), &events)?)
//! })?;
//! assert_eq!(version.get(), 1);
//! # Ok(())
//! # }
//! ```
//!
//! A port added to `clinic-ops` later gets its SQLite implementation in the same change,
//! as a new schema migration and a new `impl` here.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod content;

mod appointment;

mod contact;
mod document;
mod erasure;
mod error;
mod group;
mod journey;
mod ledger;
mod patient;
mod referral;
mod schema;
mod store;
mod task;
mod usage;

pub use error::SqliteError;
pub use store::{Durability, SqliteStore};
