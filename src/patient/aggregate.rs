//! The patient aggregate: the state that `decide` and `apply` work on.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::channel::Channel;
use super::chronic::{ChronicFile, ConditionCode};
use super::command::{PatientEvent, apply};
use super::consent::{ConsentLog, ConsentPurpose};
use super::identity::{ExternalId, MobileNumber, PersonName, ResidentId, Sex, age_on};
use crate::id::{ClinicId, PatientId, StaffId};
use crate::text::Label;

/// Below this age a patient's consent must come from a guardian (PIPL art. 31), and their
/// data is sensitive by default (PIPL art. 28).
pub const GUARDIAN_AGE: u32 = 14;

/// The personal part of a patient: everything that anonymisation removes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The name.
    pub name: PersonName,
    /// The mobile number.
    pub mobile: MobileNumber,
    /// The resident id number, if given.
    pub resident_id: Option<ResidentId>,
    /// The WeChat/WeCom external id, if linked.
    pub external_id: Option<ExternalId>,
    /// The full birth date, if known.
    #[serde(default, with = "crate::calendar::in_range::option_date")]
    pub birth_date: Option<NaiveDate>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.name)
            .field("mobile", &self.mobile)
            .field("resident_id", &self.resident_id)
            .field("external_id", &self.external_id)
            .field("birth_year", &self.birth_date.map(|d| d.year()))
            .finish()
    }
}

/// What a clinic captures when a patient registers.
///
/// `Debug` masks the personal fields and shows only the birth year: a full birth date next
/// to a masked resident id would give away the id's masked digits.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The name.
    pub name: PersonName,
    /// The mobile number.
    pub mobile: MobileNumber,
    /// The resident id, if given. Sex and birth date are derived from it when not stated.
    pub resident_id: Option<ResidentId>,
    /// The WeChat/WeCom external id, if linked.
    pub external_id: Option<ExternalId>,
    /// Sex, if stated.
    pub sex: Option<Sex>,
    /// Birth date, if stated. Shown only as the year in `Debug`.
    #[serde(default)]
    #[serde(with = "crate::calendar::in_range::option_date")]
    pub birth_date: Option<NaiveDate>,
    /// The staff member who owns the relationship.
    pub owner: Option<StaffId>,
    /// The clinic the patient belongs to.
    pub home_clinic: ClinicId,
    /// How the patient first met the clinic.
    pub channel: Channel,
    /// The raw channel code, such as WeCom's "contact me" `state`.
    pub channel_code: Option<Label>,
}

impl fmt::Debug for Registration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registration")
            .field("name", &self.name)
            .field("mobile", &self.mobile)
            .field("resident_id", &self.resident_id)
            .field("external_id", &self.external_id)
            .field("sex", &self.sex)
            .field("birth_year", &self.birth_date.map(|d| d.year()))
            .field("owner", &self.owner)
            .field("home_clinic", &self.home_clinic)
            .field("channel", &self.channel)
            .field("channel_code", &self.channel_code)
            .finish()
    }
}

/// A change of contact details or ownership. `None` fields stay as they are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContactUpdate {
    /// A new mobile number.
    pub mobile: Option<MobileNumber>,
    /// A new external id.
    pub external_id: Option<ExternalId>,
    /// A new owner.
    pub owner: Option<StaffId>,
    /// A new home clinic.
    pub home_clinic: Option<ClinicId>,
}

impl ContactUpdate {
    pub(super) fn is_empty(&self) -> bool {
        self.mobile.is_none()
            && self.external_id.is_none()
            && self.owner.is_none()
            && self.home_clinic.is_none()
    }
}

/// Why a patient's data is due for deletion (PIPL art. 47).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeletionReason {
    /// The purpose of processing has been achieved or ended.
    PurposeEnded,
    /// The patient withdrew consent.
    ConsentWithdrawn,
    /// The patient asked for deletion.
    Requested,
    /// The retention period ran out.
    RetentionExpired,
}

/// A date by which the patient must be anonymised, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionDeadline {
    /// The last local date on which the data may still exist.
    #[serde(with = "crate::calendar::in_range::date")]
    pub by: NaiveDate,
    /// Why.
    pub reason: DeletionReason,
}

/// A patient's file.
///
/// Build one only through [`decide`](super::decide) and [`apply`] (or [`Patient::replay`]);
/// the fields are private to the `patient` module, so that every patient in memory went
/// through the rules. Personal fields are in [`Identity`], which anonymisation removes;
/// `Debug` masks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    pub(super) id: PatientId,
    pub(super) identity: Option<Identity>,
    pub(super) sex: Option<Sex>,
    pub(super) birth_year: Option<i32>,
    pub(super) owner: Option<StaffId>,
    pub(super) home_clinic: ClinicId,
    pub(super) channel: Channel,
    pub(super) channel_code: Option<Label>,
    #[serde(with = "crate::calendar::in_range::instant")]
    pub(super) registered_at: DateTime<Utc>,
    pub(super) chronic_files: Vec<ChronicFile>,
    pub(super) consents: ConsentLog,
    /// When contact details last changed after registration (absent in files written before
    /// this field existed, and for patients whose contact details never changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) contact_at: Option<DateTime<Utc>>,
    pub(super) deletion: Option<DeletionDeadline>,
    #[serde(default, with = "crate::calendar::in_range::option_instant")]
    pub(super) anonymised_at: Option<DateTime<Utc>>,
}

impl Patient {
    /// The id.
    pub fn id(&self) -> PatientId {
        self.id
    }

    /// The personal fields, or `None` once anonymised.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The name, unless anonymised.
    pub fn name(&self) -> Option<&PersonName> {
        self.identity.as_ref().map(|i| &i.name)
    }

    /// The mobile number, unless anonymised.
    pub fn mobile(&self) -> Option<&MobileNumber> {
        self.identity.as_ref().map(|i| &i.mobile)
    }

    /// The resident id, if given and not anonymised.
    pub fn resident_id(&self) -> Option<&ResidentId> {
        self.identity.as_ref().and_then(|i| i.resident_id.as_ref())
    }

    /// The external id, if linked and not anonymised.
    pub fn external_id(&self) -> Option<&ExternalId> {
        self.identity.as_ref().and_then(|i| i.external_id.as_ref())
    }

    /// The full birth date, if known and not anonymised.
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.identity.as_ref().and_then(|i| i.birth_date)
    }

    /// The birth year, kept after anonymisation for age-band metrics.
    pub fn birth_year(&self) -> Option<i32> {
        self.birth_year
    }

    /// Sex, if known.
    pub fn sex(&self) -> Option<Sex> {
        self.sex
    }

    /// Age in whole years on a local date: exact from the birth date, or from the birth year
    /// alone once anonymised (counting as if born on 1 January).
    pub fn age_on(&self, date: NaiveDate) -> Option<u32> {
        match (self.birth_date(), self.birth_year) {
            (Some(b), _) => Some(age_on(b, date)),
            (None, Some(y)) => Some(u32::try_from(date.year() - y).unwrap_or(0)),
            _ => None,
        }
    }

    /// Whether the patient is under 14 on `date`. Unknown ages count as adult.
    pub fn is_minor_on(&self, date: NaiveDate) -> bool {
        self.age_on(date).is_some_and(|a| a < GUARDIAN_AGE)
    }

    /// The staff member who owns the relationship.
    pub fn owner(&self) -> Option<StaffId> {
        self.owner
    }

    /// The home clinic.
    pub fn home_clinic(&self) -> ClinicId {
        self.home_clinic
    }

    /// The acquisition channel.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The raw channel code, if any.
    pub fn channel_code(&self) -> Option<&Label> {
        self.channel_code.as_ref()
    }

    /// When the patient registered.
    pub fn registered_at(&self) -> DateTime<Utc> {
        self.registered_at
    }

    /// Every chronic file, open and closed, in the order opened.
    pub fn chronic_files(&self) -> &[ChronicFile] {
        &self.chronic_files
    }

    /// The open chronic file for a condition, if any.
    pub fn open_chronic_file(&self, condition: &ConditionCode) -> Option<&ChronicFile> {
        self.chronic_files
            .iter()
            .find(|f| f.is_open() && &f.condition == condition)
    }

    /// The open chronic files whose follow-up is overdue on `date`.
    pub fn overdue_files(&self, date: NaiveDate) -> impl Iterator<Item = &ChronicFile> {
        self.chronic_files
            .iter()
            .filter(move |f| f.is_overdue(date))
    }

    /// When the contact details in force were set: the last contact change, or registration.
    pub fn contact_changed_at(&self) -> DateTime<Utc> {
        self.contact_at.unwrap_or(self.registered_at)
    }

    /// The consent history.
    pub fn consents(&self) -> &ConsentLog {
        &self.consents
    }

    /// Whether the patient allowed `purpose` at `at`. Always false once anonymised.
    pub fn may(&self, purpose: ConsentPurpose, at: DateTime<Utc>) -> bool {
        self.anonymised_at.is_none() && self.consents.may(purpose, at)
    }

    /// The deletion deadline, if one is set.
    pub fn deletion_deadline(&self) -> Option<DeletionDeadline> {
        self.deletion
    }

    /// Whether the patient must be anonymised now: a deadline is set, it has passed on the
    /// local date `today`, and the patient is not anonymised yet.
    pub fn due_for_erasure(&self, today: NaiveDate) -> bool {
        self.anonymised_at.is_none() && self.deletion.is_some_and(|d| today > d.by)
    }

    /// When the patient was anonymised, if they were.
    pub fn anonymised_at(&self) -> Option<DateTime<Utc>> {
        self.anonymised_at
    }

    /// Whether the patient was anonymised.
    pub fn is_anonymised(&self) -> bool {
        self.anonymised_at.is_some()
    }

    /// Rebuilds a patient from their events, in order.
    pub fn replay<'a, I: IntoIterator<Item = &'a PatientEvent>>(events: I) -> Option<Patient> {
        let mut state = None;
        for e in events {
            apply(&mut state, e);
        }
        state
    }
}
