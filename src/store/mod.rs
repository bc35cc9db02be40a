//! Storage ports: the traits a host implements for its database.
//!
//! Every aggregate has one small, synchronous trait here. They share one error type,
//! [`StoreError`], and one optimistic-concurrency token, [`Version`], so that one
//! conformance kit (`testkit`, feature `testkit`) can hold every adapter to the same rules:
//!
//! - A write is one atomic call, `commit(id, expected, events)`. `expected` is the version the
//!   caller loaded (`None` for "must not exist yet"). A stale `expected` fails with
//!   [`StoreError::Conflict`] carrying both versions, and nothing is written.
//! - No transaction handle crosses the port. A host retries a conflict by loading again,
//!   deciding again and committing again; [`retry_on_conflict`] does exactly that.
//! - A uniqueness violation (a mobile number already held by another patient) is
//!   [`StoreError::Duplicate`], with the key masked.
//! - Journey records ([`VisitStore`], [`PurchaseStore`]) are append-only and keyed by their
//!   own ids instead: appending a stored record again is a no-op, so a retry is a
//!   comparison, and the same id with other content is [`StoreError::RecordConflict`].
//! - Each clinic's appointment book ([`AppointmentStore`]) and each complaint
//!   ([`FeedbackStore`]) is an aggregate committed under a version like a patient, so tills
//!   racing for the last place of a slot cannot overbook it; feedback records are
//!   append-only, like visits.
//! - Documents ([`TagCatalogStore`], [`CampaignBookStore`]) are replaced whole under an
//!   optimistic version; campaign books keep every version, so an evaluation can be
//!   audited against the book that decided it.
//!
//! # Erasure
//!
//! Anonymising a patient (PIPL art. 47) must reach every port that holds their personal or
//! health data. [`erase_patient`] does it in one call over [`PersonalDataPorts`], which
//! names each such port, so a host cannot forget one:
//!
//! | Port | Holds | On erasure |
//! |---|---|---|
//! | [`PatientStore`] | name, mobile, resident id, external id, owner, chronic files | [`PatientCommand::Anonymise`](crate::patient::PatientCommand::Anonymise) |
//! | [`TaskStore`] | task reasons naming conditions (`2型糖尿病`), drugs, visit and birth dates | [`FollowUpHistory::anonymise`](crate::followup::FollowUpHistory::anonymise): every task goes |
//! | [`LedgerStore`] | points postings: amounts, purchase ids, times, a hash of the product category | kept: a financial record, append-only; no name, contact or condition |
//! | [`ReferralStore`] | who referred whom, and when, by patient id | kept: ids and times only |
//! | [`UsageStore`] | campaign counters, some per patient id | kept: counts only |
//! | [`PurchaseStore`] | purchases: ids, times, amounts, days of supply, a product category | the category goes ([`PurchaseStore::erase_purchase_categories`]); the rest is kept |
//! | [`VisitStore`] | visits: ids, times, clinic and doctor ids, amounts | kept: ids, times and amounts only |
//! | [`GroupStore`] | group events: who joined which group (a condition's group is health data), message counts | every event of the patient goes ([`GroupStore::erase_group_member`]) |
//! | [`ContactStore`] | which staff accounts hold the patient, since when, through which channel code | the whole log goes ([`ContactStore::erase_contacts`]) |
//! | [`TagCatalogStore`], [`CampaignBookStore`] | the organisation's tags and campaigns | kept: no patient in them |
//! | [`ContentStore`] | content accounts and posts | kept: no patient in them |
//! | [`AppointmentStore`] | bookings (ids, times, status) and first visits' intake answers: symptoms and history | the answers go ([`AppointmentBook::anonymise`](crate::appointment::AppointmentBook::anonymise)); the bookings are kept |
//! | [`FeedbackStore`] | complaints with the patient's words and staff notes; feedback scores and comments | every comment and note goes ([`Complaint::anonymise`](crate::feedback::Complaint::anonymise), [`FeedbackStore::erase_feedback_comments`]); scores, categories, owners and clocks are kept |
//! | [`OutreachEventStore`] | events, and who registered and attended, by patient id | the patient's seat goes ([`Roster::anonymise`](crate::event::Roster::anonymise)): attending a lecture on a condition is health data, as a condition's group is |
//!
//! Visits and purchases are not personal data by themselves, but a purchase category is
//! free text a host chooses, and a code such as `insulin` or `hiv_test` tells what the
//! patient is treated for: health data (PIPL art. 28), which the ledger already avoids by
//! keeping only a hash of it. So [`PurchaseStore`] is a personal-data port and the category
//! is erased, while the amounts and times that revenue, retention and refill metrics read
//! stay, as the ledger's do. A visit holds no text at all; its doctor id names a person of
//! staff, not a condition, so visits are kept whole.
//!
//! What is kept is keyed by the pseudonymous [`PatientId`](crate::id::PatientId) alone; once
//! the patient is anonymised no port links that id to a person. An adapter must also make
//! the erased values unrecoverable from its storage (old row versions, logs, free pages);
//! `testkit::erasure` scans an adapter's raw bytes for them.
//!
//! [`memory`] holds the in-memory reference adapters. The SQLite adapter lives in its own
//! crate, `clinic-ops-sqlite`. Async hosts call the pure core directly and wrap these ports as
//! they see fit.

mod content;

mod appointment;

mod contact;
mod document;
mod erasure;
mod group;
mod journey;
mod ledger;
pub mod memory;
mod outreach;
mod patient;
mod referral;
mod task;
mod usage;

pub use content::{ContentStore, PostWrite, stage_account_commit, stage_post_append};

pub use appointment::{
    AppointmentStore, FeedbackStore, erased_feedback, stage_book_commit, stage_complaint_commit,
    stage_feedback_append,
};

pub use contact::{ContactStore, stage_contact_commit};
pub use document::{CampaignBookStore, TagCatalogStore, stage_document_commit};
pub use erasure::{Erased, PersonalDataPorts, erase_patient};
pub use group::{GroupStore, MAX_GROUP_COMMIT, stage_group_commit};
pub use journey::{
    JourneyRecord, PurchaseStore, RecordCursor, RecordWrite, VisitStore, erased_purchase, in_page,
    stage_purchase_append, stage_record_append, stage_visit_refund,
};
pub use ledger::{LedgerStore, stage_ledger_append};
pub use outreach::{OutreachEventStore, stage_roster_commit};
pub use patient::{PatientStore, StagedPatient, stage_patient_commit};
pub use referral::{ReferralStore, stage_referral_commit};
pub use task::{TaskStore, stage_task_commit};
pub use usage::{UsageStore, stage_usage_commit};

pub use crate::version::{Version, Versioned};

// The store's rule for the next version lives with the store: the vocabulary type knows
// nothing of stores (the arrows point down).
impl Version {
    /// The version a commit produces after `expected`: [`Version::FIRST`] for a new
    /// aggregate. Every adapter uses this one rule.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] if the version counter is exhausted.
    pub fn after(expected: Option<Version>) -> Result<Version, StoreError> {
        match expected {
            None => Ok(Version::FIRST),
            Some(v) => v
                .next()
                .ok_or_else(|| StoreError::backend(std::io::Error::other("version overflow"))),
        }
    }
}

fn show_version(v: &Option<Version>) -> String {
    match v {
        Some(v) => v.to_string(),
        None => "none".to_owned(),
    }
}

/// The one error type of every storage port.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The aggregate changed since it was loaded: reload, decide again, retry.
    #[error("version conflict: expected {}, found {}", show_version(.expected), show_version(.actual))]
    Conflict {
        /// The version the caller expected (`None`: it expected no aggregate).
        expected: Option<Version>,
        /// The version in the store (`None`: there is none).
        actual: Option<Version>,
    },
    /// Nothing stored under that key.
    #[error("{what} {key} not found")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its key, masked if personal.
        key: String,
    },
    /// A unique key is already taken by another aggregate.
    #[error("{what} {key} is already held by {holder}")]
    Duplicate {
        /// Which key (`mobile`, `resident id`, `referee`).
        what: &'static str,
        /// The key, masked if personal.
        key: String,
        /// Who holds it.
        holder: String,
    },
    /// A record was appended again under its id with different content. Records are
    /// immutable, so retrying cannot help: two sources disagree about what happened.
    #[error("{what} {id} is already stored with different content")]
    RecordConflict {
        /// What kind of record (`visit`, `purchase`).
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The backend failed: I/O, corruption, a driver error.
    #[error("storage backend failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> Self {
        StoreError::Backend(Box::new(e))
    }

    /// Whether this is a [`StoreError::Conflict`], the one error worth retrying (a
    /// [`StoreError::RecordConflict`] is not: the records disagree).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }
}

/// An error from a load–decide–commit loop: the domain refused, or the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError<E: std::error::Error + 'static> {
    /// The domain refused the command.
    #[error(transparent)]
    Domain(E),
    /// The store failed (after retries, for conflicts).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `attempt` until it does not fail with [`StoreError::Conflict`], at most
/// `max_attempts` times (at least once). `attempt` must load, decide and commit afresh each
/// time: that is what makes the retry correct.
///
/// # Errors
///
/// The first error that is not a conflict, or the last conflict.
pub fn retry_on_conflict<T, E, F>(max_attempts: u32, mut attempt: F) -> Result<T, E>
where
    F: FnMut() -> Result<T, E>,
    E: AsConflict,
{
    let mut left = max_attempts.max(1);
    loop {
        left -= 1;
        match attempt() {
            Err(e) if left > 0 && e.is_conflict() => continue,
            other => return other,
        }
    }
}

/// Errors that may be a version conflict, for [`retry_on_conflict`].
pub trait AsConflict {
    /// Whether the error is a version conflict.
    fn is_conflict(&self) -> bool;
}

impl AsConflict for StoreError {
    fn is_conflict(&self) -> bool {
        StoreError::is_conflict(self)
    }
}

impl<E: std::error::Error + 'static> AsConflict for ExecuteError<E> {
    fn is_conflict(&self) -> bool {
        matches!(self, ExecuteError::Store(s) if s.is_conflict())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_stops_on_success_or_other_error() {
        let mut n = 0;
        let r: Result<u32, StoreError> = retry_on_conflict(5, || {
            n += 1;
            if n < 3 {
                Err(StoreError::Conflict {
                    expected: None,
                    actual: Some(Version::FIRST),
                })
            } else {
                Ok(n)
            }
        });
        assert_eq!(r.unwrap(), 3);
        let mut m = 0;
        let r: Result<(), StoreError> = retry_on_conflict(5, || {
            m += 1;
            Err(StoreError::NotFound {
                what: "patient",
                key: "P1".into(),
            })
        });
        assert!(r.is_err());
        assert_eq!(m, 1);
        let e = StoreError::Conflict {
            expected: Some(Version::new(2)),
            actual: Some(Version::new(3)),
        };
        assert_eq!(e.to_string(), "version conflict: expected v2, found v3");
    }
}
