//! The conformance kit every storage adapter runs (feature `testkit`).
//!
//! Scenarios are plain `pub fn`s that panic with a clear message when an adapter breaks a
//! rule of the ports, as `object_store`'s `integration` module does. An adapter's test calls
//! `run_all` of each port module with a [`Factory`]:
//!
//! ```
//! use clinic_ops::store::memory::MemoryPatientStore;
//! use clinic_ops::testkit;
//!
//! let factory = (MemoryPatientStore::new, |s: &MemoryPatientStore| s.clone());
//! testkit::patient_store::run_all(&factory);
//! ```
//!
//! [`strategies`] has proptest strategies for valid and invalid inputs.

pub mod appointment_store;
pub mod campaign_book_store;
pub mod content_store;

pub mod contact_store;
pub mod erasure;
pub mod fuzz;
pub mod group_store;
pub mod ledger_batches;
pub mod ledger_store;
pub mod outreach_event_store;
pub mod patient_store;
pub mod purchase_store;
pub mod referral_store;
pub mod strategies;
pub mod tag_catalog_store;
pub mod task_store;
pub mod usage_store;
pub mod visit_store;

/// Makes stores for the conformance scenarios.
///
/// Implemented for a pair of closures `(fresh, handle)`.
pub trait Factory<S>: Sync {
    /// A new, empty store.
    fn fresh(&self) -> S;
    /// Another handle on the same store as `s` (for the in-memory adapter a clone, for a
    /// database a new connection), to be moved to another thread.
    fn handle(&self, s: &S) -> S;
}

impl<S, F, G> Factory<S> for (F, G)
where
    F: Fn() -> S + Sync,
    G: Fn(&S) -> S + Sync,
{
    fn fresh(&self) -> S {
        (self.0)()
    }
    fn handle(&self, s: &S) -> S {
        (self.1)(s)
    }
}

/// The instant every scenario treats as "now": 2026-03-02 10:00 in the clinic (UTC+8).
pub fn scenario_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_772_416_800, 0).unwrap_or_default()
}

/// `n` minutes after [`scenario_now`].
fn minutes(n: i64) -> chrono::DateTime<chrono::Utc> {
    scenario_now() + chrono::Duration::minutes(n)
}

/// A scenario's value, or a failure naming the step that refused it.
fn must<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// A distinct amount per record: `id × per` fen.
fn fen(id: u64, per: u64) -> crate::money::Yuan {
    crate::money::Yuan::from_fen(u32::try_from(id.saturating_mul(per)).unwrap_or(u32::MAX))
}
