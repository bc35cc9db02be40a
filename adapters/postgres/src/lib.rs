//! The storage ports of [`clinic_ops`] on PostgreSQL 15+, for chains whose tills, hosts
//! and nightly jobs share one server database.
//!
//! ```no_run
//! use clinic_ops::store::PatientStore;
//! use clinic_ops::id::PatientId;
//! use clinic_ops_postgres::PgStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = PgStore::connect("postgresql://clinic_ops@127.0.0.1/clinic", "chain_east")?;
//! assert_eq!(store.get(PatientId::new(1))?, None);
//! # Ok(())
//! # }
//! ```
//!
//! # Overview
//!
//! [`PgStore`] is a connection pool on one chain's schema and implements every port of
//! [`clinic_ops::store`]: [`PatientStore`](clinic_ops::store::PatientStore),
//! [`LedgerStore`](clinic_ops::store::LedgerStore),
//! [`ReferralStore`](clinic_ops::store::ReferralStore),
//! [`UsageStore`](clinic_ops::store::UsageStore),
//! [`TaskStore`](clinic_ops::store::TaskStore),
//! [`VisitStore`](clinic_ops::store::VisitStore),
//! [`PurchaseStore`](clinic_ops::store::PurchaseStore),
//! [`TagCatalogStore`](clinic_ops::store::TagCatalogStore),
//! [`CampaignBookStore`](clinic_ops::store::CampaignBookStore),
//! [`ContactStore`](clinic_ops::store::ContactStore),
//! [`GroupStore`](clinic_ops::store::GroupStore),
//! [`AppointmentStore`](clinic_ops::store::AppointmentStore),
//! [`FeedbackStore`](clinic_ops::store::FeedbackStore),
//! [`ContentStore`](clinic_ops::store::ContentStore),
//! [`OutreachEventStore`](clinic_ops::store::OutreachEventStore), and
//! [`PersonalDataPorts`](clinic_ops::store::PersonalDataPorts) for
//! [`erase_patient`](clinic_ops::store::erase_patient).
//!
//! - **Client.** The synchronous [`postgres`] crate (the ports are synchronous) behind an
//!   [`r2d2`](r2d2_postgres::r2d2) pool. [`PgStore::handle`] gives another thread a handle
//!   on the same pool; another process connects on its own.
//! - **Tenancy.** One schema per chain, named in [`PgStore::connect`]; it is the
//!   connection's whole `search_path`, and no statement names a schema, so no query
//!   crosses it. Several chains can share a database.
//! - **Schema.** The adapter creates the schema and its tables and migrates them on
//!   connect, under an advisory lock, in one transaction; the version is the
//!   `clinic_ops_schema` row. A schema from a newer adapter is refused with
//!   [`PgError::NewerSchema`].
//! - **Commits.** Each commit is one `SERIALIZABLE` transaction (a points append is
//!   `READ COMMITTED` with its account row locked `FOR UPDATE`, so that appends to
//!   distinct accounts never abort each other): the optimistic version is
//!   read and checked inside it, a stale one is
//!   [`StoreError::Conflict`](clinic_ops::store::StoreError::Conflict) and writes nothing, a
//!   taken mobile or resident id is
//!   [`StoreError::Duplicate`](clinic_ops::store::StoreError::Duplicate) with the key
//!   masked. A transaction PostgreSQL aborts for a concurrent writer (serialization
//!   failure, deadlock, or a unique violation from a concurrent insert) is run again from
//!   its read, so the answer is always the one a serial order gives: never a lost write.
//!   Durability is the server's (`synchronous_commit`, `fsync`): with its defaults a
//!   commit that returned `Ok` survives a crash of the server machine.
//! - **Masking.** A server error keeps its SQLSTATE, message and constraint name
//!   ([`PgError::Server`]), never its DETAIL line, which quotes row values. The adapter
//!   also reads for a taken mobile or resident id before writing, so the usual duplicate
//!   never reaches the server's log as an error quoting the number. Set
//!   `log_error_verbosity = terse` on the server for the rare race that still does.
//! - **State, not history.** As in the SQLite adapter: each aggregate's current state is
//!   one JSON row; the points ledger is one row per append, and each handle keeps the
//!   postings it has decoded so that a later load reads only the newer appends.
//! - **Erasure.** An anonymising commit leaves no erased value in any live row; the old row
//!   versions are dead tuples until vacuumed ([`PgStore::vacuum_erased`]).
//!
//! # Example: the load, decide, commit loop
//!
//! `examples/postgres_host.rs` runs four writers on one patient, each on its own
//! connection, retrying with [`retry_on_conflict`](clinic_ops::store::retry_on_conflict).
//!
//! A port added to `clinic-ops` later gets its PostgreSQL implementation in the same
//! change, as a new migration and a new `impl` here.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(missing_debug_implementations, unreachable_pub)]

mod appointment;
mod contact;
mod content;
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

pub use error::PgError;
/// The client crate, re-exported so that hosts build a [`postgres::Config`] of the same
/// version.
pub use postgres;
pub use store::{PgOptions, PgStore};
