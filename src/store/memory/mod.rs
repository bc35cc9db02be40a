//! In-memory reference adapters, one per port.
//!
//! Each is a cheap, cloneable handle on shared state behind a mutex: clones see the same
//! data, so tests can hand one clone to each thread. They are the reference the conformance
//! kit is written against, and a fine store for tests and single-process tools.

mod content;

mod appointment;

mod contact;
mod document;
mod group;
mod journey;
mod ledger;
mod outreach;
mod patient;
mod referral;
mod task;
mod usage;

pub use content::MemoryContentStore;

pub use appointment::{MemoryAppointmentStore, MemoryFeedbackStore};

pub use contact::MemoryContactStore;
pub use document::{MemoryCampaignBookStore, MemoryTagCatalogStore};
pub use group::MemoryGroupStore;
pub use journey::{MemoryPurchaseStore, MemoryVisitStore};
pub use ledger::MemoryLedgerStore;
pub use outreach::MemoryOutreachEventStore;
pub use patient::MemoryPatientStore;
pub use referral::MemoryReferralStore;
pub use task::MemoryTaskStore;
pub use usage::MemoryUsageStore;

/// Locks a mutex, recovering the data if a panicking thread poisoned it: the adapters
/// never leave their state half-updated across a panic point, so the data is still whole.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
