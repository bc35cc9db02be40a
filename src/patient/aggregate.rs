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

impl Identity {
    /// An identity with a name and a mobile number and nothing else; add the optional
    /// fields with the `with_…` methods.
    ///
    /// ```
    /// use clinic_ops::patient::{Identity, MobileNumber, PersonName};
    ///
    /// let id = Identity::new(PersonName::parse("张三")?, MobileNumber::parse("13800138000")?)
    ///     .with_birth_date(chrono::NaiveDate::from_ymd_opt(1980, 5, 1).ok_or("bad date")?);
    /// assert!(id.resident_id.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(name: PersonName, mobile: MobileNumber) -> Self {
        Identity {
            name,
            mobile,
            resident_id: None,
            external_id: None,
            birth_date: None,
        }
    }

    /// The same identity with a resident id.
    #[must_use]
    pub fn with_resident_id(mut self, resident_id: ResidentId) -> Self {
        self.resident_id = Some(resident_id);
        self
    }

    /// The same identity with a WeChat/WeCom external id.
    #[must_use]
    pub fn with_external_id(mut self, external_id: ExternalId) -> Self {
        self.external_id = Some(external_id);
        self
    }

    /// The same identity with a full birth date.
    #[must_use]
    pub fn with_birth_date(mut self, birth_date: NaiveDate) -> Self {
        self.birth_date = Some(birth_date);
        self
    }
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

impl Registration {
    /// A registration with the four fields every clinic captures; add the optional ones with
    /// the `with_…` methods.
    ///
    /// ```
    /// use clinic_ops::id::{ClinicId, StaffId};
    /// use clinic_ops::patient::{Channel, MobileNumber, PersonName, Registration, Sex};
    ///
    /// let r = Registration::new(
    ///     PersonName::parse("张三")?,
    ///     MobileNumber::parse("+86 138-0013-8000")?,
    ///     ClinicId::new(1),
    ///     Channel::parse("doctor_ip/xiaohongshu")?,
    /// )
    /// .with_sex(Sex::Female)
    /// .with_owner(StaffId::new(7));
    /// assert_eq!(r.owner, Some(StaffId::new(7)));
    /// assert!(r.resident_id.is_none() && r.birth_date.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        name: PersonName,
        mobile: MobileNumber,
        home_clinic: ClinicId,
        channel: Channel,
    ) -> Self {
        Registration {
            name,
            mobile,
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: None,
            owner: None,
            home_clinic,
            channel,
            channel_code: None,
        }
    }

    /// The same registration with a resident id (sex and birth date are derived from it
    /// when not stated).
    #[must_use]
    pub fn with_resident_id(mut self, resident_id: ResidentId) -> Self {
        self.resident_id = Some(resident_id);
        self
    }

    /// The same registration with a WeChat/WeCom external id.
    #[must_use]
    pub fn with_external_id(mut self, external_id: ExternalId) -> Self {
        self.external_id = Some(external_id);
        self
    }

    /// The same registration with a stated sex.
    #[must_use]
    pub fn with_sex(mut self, sex: Sex) -> Self {
        self.sex = Some(sex);
        self
    }

    /// The same registration with a stated birth date.
    #[must_use]
    pub fn with_birth_date(mut self, birth_date: NaiveDate) -> Self {
        self.birth_date = Some(birth_date);
        self
    }

    /// The same registration with the staff member who owns the relationship.
    #[must_use]
    pub fn with_owner(mut self, owner: StaffId) -> Self {
        self.owner = Some(owner);
        self
    }

    /// The same registration with the raw channel code (WeCom's "contact me" `state`).
    #[must_use]
    pub fn with_channel_code(mut self, channel_code: Label) -> Self {
        self.channel_code = Some(channel_code);
        self
    }
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
    #[must_use]
    pub fn id(&self) -> PatientId {
        self.id
    }

    /// The personal fields, or `None` once anonymised.
    #[must_use]
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// The name, unless anonymised.
    #[must_use]
    pub fn name(&self) -> Option<&PersonName> {
        self.identity.as_ref().map(|i| &i.name)
    }

    /// The mobile number, unless anonymised.
    #[must_use]
    pub fn mobile(&self) -> Option<&MobileNumber> {
        self.identity.as_ref().map(|i| &i.mobile)
    }

    /// The resident id, if given and not anonymised.
    #[must_use]
    pub fn resident_id(&self) -> Option<&ResidentId> {
        self.identity.as_ref().and_then(|i| i.resident_id.as_ref())
    }

    /// The external id, if linked and not anonymised.
    #[must_use]
    pub fn external_id(&self) -> Option<&ExternalId> {
        self.identity.as_ref().and_then(|i| i.external_id.as_ref())
    }

    /// The full birth date, if known and not anonymised.
    #[must_use]
    pub fn birth_date(&self) -> Option<NaiveDate> {
        self.identity.as_ref().and_then(|i| i.birth_date)
    }

    /// The birth year, kept after anonymisation for age-band metrics.
    #[must_use]
    pub fn birth_year(&self) -> Option<i32> {
        self.birth_year
    }

    /// Sex, if known.
    #[must_use]
    pub fn sex(&self) -> Option<Sex> {
        self.sex
    }

    /// Age in whole years on a local date: exact from the birth date, or from the birth year
    /// alone once anonymised (counting as if born on 1 January).
    #[must_use]
    pub fn age_on(&self, date: NaiveDate) -> Option<u32> {
        match (self.birth_date(), self.birth_year) {
            (Some(b), _) => Some(age_on(b, date)),
            (None, Some(y)) => Some(u32::try_from(date.year() - y).unwrap_or(0)),
            _ => None,
        }
    }

    /// Whether the patient is under 14 on `date`. Unknown ages count as adult.
    #[must_use]
    pub fn is_minor_on(&self, date: NaiveDate) -> bool {
        self.age_on(date).is_some_and(|a| a < GUARDIAN_AGE)
    }

    /// The staff member who owns the relationship.
    #[must_use]
    pub fn owner(&self) -> Option<StaffId> {
        self.owner
    }

    /// The home clinic.
    #[must_use]
    pub fn home_clinic(&self) -> ClinicId {
        self.home_clinic
    }

    /// The acquisition channel.
    #[must_use]
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The raw channel code, if any.
    #[must_use]
    pub fn channel_code(&self) -> Option<&Label> {
        self.channel_code.as_ref()
    }

    /// When the patient registered.
    #[must_use]
    pub fn registered_at(&self) -> DateTime<Utc> {
        self.registered_at
    }

    /// Every chronic file, open and closed, in the order opened.
    #[must_use]
    pub fn chronic_files(&self) -> &[ChronicFile] {
        &self.chronic_files
    }

    /// The open chronic file for a condition, if any.
    #[must_use]
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
    #[must_use]
    pub fn contact_changed_at(&self) -> DateTime<Utc> {
        self.contact_at.unwrap_or(self.registered_at)
    }

    /// The consent history.
    #[must_use]
    pub fn consents(&self) -> &ConsentLog {
        &self.consents
    }

    /// Whether the patient allowed `purpose` at `at`. Always false once anonymised.
    #[must_use]
    pub fn may(&self, purpose: ConsentPurpose, at: DateTime<Utc>) -> bool {
        self.anonymised_at.is_none() && self.consents.may(purpose, at)
    }

    /// The deletion deadline, if one is set.
    #[must_use]
    pub fn deletion_deadline(&self) -> Option<DeletionDeadline> {
        self.deletion
    }

    /// Whether the patient must be anonymised now: a deadline is set, it has passed on the
    /// local date `today`, and the patient is not anonymised yet.
    #[must_use]
    pub fn due_for_erasure(&self, today: NaiveDate) -> bool {
        self.anonymised_at.is_none() && self.deletion.is_some_and(|d| today > d.by)
    }

    /// When the patient was anonymised, if they were.
    #[must_use]
    pub fn anonymised_at(&self) -> Option<DateTime<Utc>> {
        self.anonymised_at
    }

    /// Whether the patient was anonymised.
    #[must_use]
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
