//! Consent per purpose, as an append-only record (PIPL arts. 14, 15, 28, 29, 31).
//!
//! Consent is never a flag that gets overwritten. Each grant or withdrawal is a
//! [`ConsentRecord`] with its time, source and policy version, and [`ConsentLog::may`] answers
//! "was this purpose allowed at that instant?" from the record. Processing before a withdrawal
//! therefore stays provably lawful, and withdrawing is exactly as easy as granting: one record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::text::Label;

/// What a patient may consent to. Each purpose is consented to separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConsentPurpose {
    /// Care reminders: medication, refill, re-check and follow-up. Care, not marketing.
    CareReminder,
    /// Marketing: offers, member days, win-back, birthday gifts.
    Marketing,
    /// Using health data (conditions, diagnoses) to segment the patient (PIPL art. 29's
    /// separate consent for sensitive personal information).
    HealthDataSegmentation,
    /// Joining patient WeChat groups.
    GroupChat,
    /// Sharing with third parties (PIPL art. 23).
    ThirdPartySharing,
}

impl ConsentPurpose {
    /// Every purpose, in a fixed order.
    pub const ALL: [ConsentPurpose; 5] = [
        ConsentPurpose::CareReminder,
        ConsentPurpose::Marketing,
        ConsentPurpose::HealthDataSegmentation,
        ConsentPurpose::GroupChat,
        ConsentPurpose::ThirdPartySharing,
    ];

    /// The snake_case code used in serde and CSV.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            ConsentPurpose::CareReminder => "care_reminder",
            ConsentPurpose::Marketing => "marketing",
            ConsentPurpose::HealthDataSegmentation => "health_data_segmentation",
            ConsentPurpose::GroupChat => "group_chat",
            ConsentPurpose::ThirdPartySharing => "third_party_sharing",
        }
    }
}

impl fmt::Display for ConsentPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Whether a record grants or withdraws consent.
/// Ordered grant before withdrawal: at one instant the withdrawal is the one in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Consent given.
    Granted,
    /// Consent withdrawn.
    Withdrawn,
}

/// Who gave or withdrew the consent. Patients under 14 need their guardian (PIPL art. 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentGiver {
    /// The patient themself.
    Patient,
    /// A parent or other guardian, for a minor.
    Guardian,
}

/// One grant or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The purpose it is about.
    pub purpose: ConsentPurpose,
    /// Granted or withdrawn.
    pub action: ConsentAction,
    /// When it took effect.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
    /// Where it was captured.
    pub source: Label,
    /// The privacy-policy version the patient saw: for a grant, the one granted. A withdrawal
    /// recorded by [`decide`](super::decide) has none: the grant it ends is the one in force
    /// just before it, which [`ConsentLog::in_force`] derives by time (logs written by
    /// earlier versions of this crate name it here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<Label>,
    /// The patient or their guardian.
    pub given_by: ConsentGiver,
}

impl ConsentRecord {
    /// A grant or withdrawal without a privacy-policy version; name one with
    /// [`with_policy_version`](Self::with_policy_version).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use clinic_ops::patient::{ConsentAction, ConsentGiver, ConsentPurpose, ConsentRecord, Label};
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("bad time")?;
    /// let grant = ConsentRecord::new(
    ///     ConsentPurpose::CareReminder,
    ///     ConsentAction::Granted,
    ///     at,
    ///     Label::parse("mini_program")?,
    ///     ConsentGiver::Patient,
    /// )
    /// .with_policy_version(Label::parse("2026-01")?);
    /// assert_eq!(grant.policy_version.as_ref().map(Label::as_str), Some("2026-01"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        purpose: ConsentPurpose,
        action: ConsentAction,
        at: DateTime<Utc>,
        source: Label,
        given_by: ConsentGiver,
    ) -> Self {
        ConsentRecord {
            purpose,
            action,
            at,
            source,
            policy_version: None,
            given_by,
        }
    }

    /// The same record naming the privacy-policy version the patient saw.
    #[must_use]
    pub fn with_policy_version(mut self, policy_version: Label) -> Self {
        self.policy_version = Some(policy_version);
        self
    }

    /// The total order of the log: by time, then, at the same instant, a grant before a
    /// withdrawal (so the withdrawal is the one in force), then by the remaining fields so that
    /// even identical instants give one order whatever the order of arrival.
    fn order_key(&self) -> impl Ord + '_ {
        (
            self.at,
            self.action,
            self.purpose,
            self.given_by,
            &self.source,
            &self.policy_version,
        )
    }
}

/// The append-only consent history of one patient, kept in time order.
///
/// # The rule for records that arrive out of order
///
/// Consent is decided by time, never by the order records arrived (PIPL art. 15: a withdrawal
/// stays a withdrawal even when an older grant is entered after it). The log keeps its records
/// sorted by their `at`; the record in force for a purpose at an instant is the latest one at
/// or before it. Two records of one purpose at the same instant are ordered grant first, then
/// withdrawal, so **at a tie the withdrawal wins**; remaining ties are broken by giver, source
/// and policy version, so any two logs holding the same records are equal, whatever order the
/// records were appended in (live through [`decide`](super::decide), replayed through
/// [`apply`](super::apply), or deserialised). Appending a record the log already holds changes
/// nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ConsentLog {
    records: Vec<ConsentRecord>,
}

impl<'de> Deserialize<'de> for ConsentLog {
    /// Accepts the records in any order and sorts them by the log's rule, so a log written by
    /// an older version (in arrival order) reads back decided by time.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Vec::<ConsentRecord>::deserialize(d)?;
        let mut log = ConsentLog::default();
        for r in raw {
            log.push(r);
        }
        Ok(log)
    }
}

impl ConsentLog {
    /// Every record, oldest first (ties as in the type's docs).
    #[must_use]
    pub fn records(&self) -> &[ConsentRecord] {
        &self.records
    }

    /// Whether the log already holds this exact record.
    #[must_use]
    pub fn contains(&self, record: &ConsentRecord) -> bool {
        self.position(record).is_ok()
    }

    fn position(&self, record: &ConsentRecord) -> Result<usize, usize> {
        let key = record.order_key();
        self.records.binary_search_by(|r| r.order_key().cmp(&key))
    }

    /// Inserts a record at its place in time; a record already held is not added twice.
    pub(crate) fn push(&mut self, record: ConsentRecord) {
        if let Err(at) = self.position(&record) {
            self.records.insert(at, record);
        }
    }

    /// The record in force for `purpose` at `at`: the latest one at or before `at` (at a tie,
    /// the withdrawal).
    #[must_use]
    pub fn in_force(&self, purpose: ConsentPurpose, at: DateTime<Utc>) -> Option<&ConsentRecord> {
        let end = self.records.partition_point(|r| r.at <= at);
        self.records[..end]
            .iter()
            .rev()
            .find(|r| r.purpose == purpose)
    }

    /// Whether `purpose` was consented to at `at`. With no record, the answer is no.
    #[must_use]
    pub fn may(&self, purpose: ConsentPurpose, at: DateTime<Utc>) -> bool {
        matches!(
            self.in_force(purpose, at),
            Some(ConsentRecord {
                action: ConsentAction::Granted,
                ..
            })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn rec(purpose: ConsentPurpose, action: ConsentAction, h: u32) -> ConsentRecord {
        ConsentRecord {
            purpose,
            action,
            at: Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap(),
            source: Label::parse("mini_program").unwrap(),
            policy_version: Some(Label::parse("v3").unwrap()),
            given_by: ConsentGiver::Patient,
        }
    }

    #[test]
    fn processing_before_withdrawal_stays_valid() {
        let mut log = ConsentLog::default();
        log.push(rec(ConsentPurpose::Marketing, ConsentAction::Granted, 1));
        log.push(rec(ConsentPurpose::Marketing, ConsentAction::Withdrawn, 5));
        let at = |h| Utc.with_ymd_and_hms(2026, 1, 1, h, 0, 0).unwrap();
        assert!(!log.may(ConsentPurpose::Marketing, at(0)));
        assert!(log.may(ConsentPurpose::Marketing, at(3)));
        assert!(!log.may(ConsentPurpose::Marketing, at(6)));
        assert!(!log.may(ConsentPurpose::CareReminder, at(3)));
    }
}
