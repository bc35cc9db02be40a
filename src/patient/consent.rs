//! Consent per purpose, as an append-only record (PIPL arts. 14, 15, 28, 29, 31).
//!
//! Consent is never a flag that gets overwritten. Each grant or withdrawal is a
//! [`ConsentRecord`] with its time, source and policy version, and [`ConsentLog::may`] answers
//! "was this purpose allowed at that instant?" from the record. Processing before a withdrawal
//! therefore stays provably lawful, and withdrawing is exactly as easy as granting: one record.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::identity::{TextError, clean_text};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Consent given.
    Granted,
    /// Consent withdrawn.
    Withdrawn,
}

/// Who gave or withdrew the consent. Patients under 14 need their guardian (PIPL art. 31).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentGiver {
    /// The patient themself.
    Patient,
    /// A parent or other guardian, for a minor.
    Guardian,
}

/// A short, non-personal label: where consent was captured (`mini_program`, `paper_form`) or
/// which privacy-policy version it refers to. At most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Checks a label.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, longer than 64 characters or holding control characters.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        clean_text("label", s, 64, false).map(Label)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Label {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0
    }
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
    /// The privacy-policy version the patient saw.
    pub policy_version: Label,
    /// The patient or their guardian.
    pub given_by: ConsentGiver,
}

/// The append-only consent history of one patient, in the order recorded.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsentLog {
    records: Vec<ConsentRecord>,
}

impl ConsentLog {
    /// Every record, oldest first.
    pub fn records(&self) -> &[ConsentRecord] {
        &self.records
    }

    pub(crate) fn push(&mut self, record: ConsentRecord) {
        self.records.push(record);
    }

    /// The record in force for `purpose` at `at`: the last one recorded at or before `at`.
    pub fn in_force(&self, purpose: ConsentPurpose, at: DateTime<Utc>) -> Option<&ConsentRecord> {
        self.records
            .iter()
            .rev()
            .find(|r| r.purpose == purpose && r.at <= at)
    }

    /// Whether `purpose` was consented to at `at`. With no record, the answer is no.
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
            policy_version: Label::parse("v3").unwrap(),
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
