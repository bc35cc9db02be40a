//! The patient aggregate: state, commands, events, `decide` and `apply`.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::channel::Channel;
use super::chronic::{CadenceError, ChronicFile, ConditionCode, FollowUpCadence};
use super::consent::{
    ConsentAction, ConsentGiver, ConsentLog, ConsentPurpose, ConsentRecord, Label,
};
use super::identity::{
    ExternalId, MobileError, MobileNumber, PersonName, ResidentId, ResidentIdError, Sex, TextError,
    age_on,
};
use crate::calendar::ClinicCalendar;
use crate::id::{ClinicId, PatientId, StaffId};

/// Below this age a patient's consent must come from a guardian (PIPL art. 31), and their
/// data is sensitive by default (PIPL art. 28).
pub const GUARDIAN_AGE: u32 = 14;

/// Errors from patient commands, and the parse errors of their fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatientError {
    /// `Register` for an id that already exists.
    #[error("patient {id} is already registered")]
    AlreadyRegistered {
        /// The patient.
        id: PatientId,
    },
    /// A command for a patient who was never registered.
    #[error("patient {id} is not registered")]
    NotRegistered {
        /// The patient.
        id: PatientId,
    },
    /// A command for a patient who was anonymised: nothing personal may be added back.
    #[error("patient {id} was anonymised and takes no further commands")]
    Anonymised {
        /// The patient.
        id: PatientId,
    },
    /// A patient under 14 tried to consent without a guardian.
    #[error("patient {id} is {age}, under 14: consent must be given by a guardian")]
    GuardianRequired {
        /// The patient.
        id: PatientId,
        /// Their age on the day.
        age: u32,
    },
    /// A stated sex or birth date contradicts the resident id.
    #[error("{field} contradicts the resident id")]
    IdentityMismatch {
        /// `sex` or `birth_date`.
        field: &'static str,
    },
    /// Opening a chronic file for a condition that already has an open one.
    #[error("patient {id} already has an open chronic file for {condition}")]
    ChronicFileOpen {
        /// The patient.
        id: PatientId,
        /// The condition.
        condition: ConditionCode,
    },
    /// A follow-up or close for a condition with no open file.
    #[error("patient {id} has no open chronic file for {condition}")]
    NoOpenChronicFile {
        /// The patient.
        id: PatientId,
        /// The condition.
        condition: ConditionCode,
    },
    /// A date that lies after the clinic's local today.
    #[error("{field} {date} is in the future (today is {today})")]
    DateInFuture {
        /// Which field.
        field: &'static str,
        /// The date given.
        date: NaiveDate,
        /// The clinic's local date at `now`.
        today: NaiveDate,
    },
    /// A follow-up dated before the diagnosis.
    #[error("follow-up on {on} for {condition} is before its diagnosis on {diagnosed_on}")]
    FollowUpBeforeDiagnosis {
        /// The condition.
        condition: ConditionCode,
        /// The follow-up date.
        on: NaiveDate,
        /// The diagnosis date.
        diagnosed_on: NaiveDate,
    },
    /// A deletion deadline before today.
    #[error("deletion deadline {deadline} is before today ({today})")]
    DeadlineInPast {
        /// The deadline given.
        deadline: NaiveDate,
        /// The clinic's local date at `now`.
        today: NaiveDate,
    },
    /// A mobile number did not parse.
    #[error(transparent)]
    Mobile(#[from] MobileError),
    /// A resident id did not parse.
    #[error(transparent)]
    ResidentId(#[from] ResidentIdError),
    /// A text field was refused.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A follow-up cadence was refused.
    #[error(transparent)]
    Cadence(#[from] CadenceError),
}

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
    fn is_empty(&self) -> bool {
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
    pub by: NaiveDate,
    /// Why.
    pub reason: DeletionReason,
}

/// A request to change a patient. See [`decide`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PatientCommand {
    /// Open the patient's file.
    Register(Registration),
    /// Change contact details or ownership.
    UpdateContact(ContactUpdate),
    /// Record consent to a purpose.
    GrantConsent {
        /// The purpose.
        purpose: ConsentPurpose,
        /// Where it was captured.
        source: Label,
        /// The policy version shown.
        policy_version: Label,
        /// The patient or their guardian.
        given_by: ConsentGiver,
    },
    /// Record the withdrawal of consent to a purpose.
    WithdrawConsent {
        /// The purpose.
        purpose: ConsentPurpose,
        /// Where it was withdrawn.
        source: Label,
        /// The patient or their guardian.
        given_by: ConsentGiver,
    },
    /// Open a chronic-disease file.
    OpenChronicFile {
        /// The condition code.
        condition: ConditionCode,
        /// The condition's name.
        name: String,
        /// The local date of diagnosis.
        diagnosed_on: NaiveDate,
        /// How often to follow up.
        cadence: FollowUpCadence,
    },
    /// Close a chronic-disease file.
    CloseChronicFile {
        /// The condition code.
        condition: ConditionCode,
    },
    /// Record a follow-up done for a chronic file.
    RecordFollowUp {
        /// The condition code.
        condition: ConditionCode,
        /// The local date it was done.
        on: NaiveDate,
    },
    /// Set the date by which the patient must be anonymised.
    SetDeletionDeadline(DeletionDeadline),
    /// Remove every personal field for good, keeping what the metrics need.
    Anonymise,
}

/// A fact about a patient. Events are applied in order by [`apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PatientEvent {
    /// The patient was registered.
    Registered {
        /// The patient.
        id: PatientId,
        /// When.
        at: DateTime<Utc>,
        /// What was captured.
        registration: Registration,
    },
    /// Contact details or ownership changed.
    ContactUpdated {
        /// When.
        at: DateTime<Utc>,
        /// What changed.
        update: ContactUpdate,
    },
    /// A consent record was appended.
    ConsentRecorded(ConsentRecord),
    /// A chronic file was opened.
    ChronicFileOpened(ChronicFile),
    /// A chronic file was closed.
    ChronicFileClosed {
        /// The condition.
        condition: ConditionCode,
        /// When.
        at: DateTime<Utc>,
    },
    /// A follow-up was done.
    FollowUpRecorded {
        /// The condition.
        condition: ConditionCode,
        /// The local date.
        on: NaiveDate,
    },
    /// A deletion deadline was set.
    DeletionDeadlineSet(DeletionDeadline),
    /// Every personal field was removed.
    Anonymised {
        /// When.
        at: DateTime<Utc>,
    },
}

/// A patient's file.
///
/// Build one only through [`decide`] and [`apply`] (or [`Patient::replay`]); the fields are
/// private so that every patient in memory went through the rules. Personal fields are in
/// [`Identity`], which anonymisation removes; `Debug` masks them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patient {
    id: PatientId,
    identity: Option<Identity>,
    sex: Option<Sex>,
    birth_year: Option<i32>,
    owner: Option<StaffId>,
    home_clinic: ClinicId,
    channel: Channel,
    channel_code: Option<Label>,
    registered_at: DateTime<Utc>,
    chronic_files: Vec<ChronicFile>,
    consents: ConsentLog,
    deletion: Option<DeletionDeadline>,
    anonymised_at: Option<DateTime<Utc>>,
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

/// Decides what a command means for a patient.
///
/// `state` is the patient as loaded (or `None` before registration); `now` and the clinic
/// calendar come from the host. Returns the events to commit: none when the command changes
/// nothing (granting a consent already in force under the same policy version, withdrawing one
/// not in force, an empty contact update), so that retries are harmless.
///
/// Registering a mobile or resident id that another patient holds is refused by the store
/// (`StoreError::Duplicate`) at commit, where it is race-free.
///
/// # Errors
///
/// A [`PatientError`] naming the rule that refused the command.
pub fn decide(
    state: Option<&Patient>,
    id: PatientId,
    command: &PatientCommand,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Result<Vec<PatientEvent>, PatientError> {
    let today = calendar.local_date(now);
    if let PatientCommand::Register(reg) = command {
        if state.is_some() {
            return Err(PatientError::AlreadyRegistered { id });
        }
        if let Some(rid) = &reg.resident_id {
            if reg.sex.is_some_and(|s| s != rid.sex()) {
                return Err(PatientError::IdentityMismatch { field: "sex" });
            }
            if reg.birth_date.is_some_and(|b| b != rid.birth_date()) {
                return Err(PatientError::IdentityMismatch {
                    field: "birth_date",
                });
            }
        }
        let birth = reg.birth_date.or(reg.resident_id.map(|r| r.birth_date()));
        if let Some(b) = birth.filter(|b| *b > today) {
            return Err(PatientError::DateInFuture {
                field: "birth_date",
                date: b,
                today,
            });
        }
        return Ok(vec![PatientEvent::Registered {
            id,
            at: now,
            registration: reg.clone(),
        }]);
    }
    let p = state.ok_or(PatientError::NotRegistered { id })?;
    if p.is_anonymised() {
        return match command {
            PatientCommand::Anonymise => Ok(vec![]),
            _ => Err(PatientError::Anonymised { id }),
        };
    }
    let consent = |purpose, action, source: &Label, policy_version: &Label, given_by| {
        PatientEvent::ConsentRecorded(ConsentRecord {
            purpose,
            action,
            at: now,
            source: source.clone(),
            policy_version: policy_version.clone(),
            given_by,
        })
    };
    match command {
        PatientCommand::Register(_) => Err(PatientError::AlreadyRegistered { id }),
        PatientCommand::UpdateContact(u) => {
            let changed = ContactUpdate {
                mobile: u.mobile.filter(|m| Some(m) != p.mobile()),
                external_id: u.external_id.clone().filter(|e| Some(e) != p.external_id()),
                owner: u.owner.filter(|o| Some(*o) != p.owner),
                home_clinic: u.home_clinic.filter(|c| *c != p.home_clinic),
            };
            if changed.is_empty() {
                return Ok(vec![]);
            }
            Ok(vec![PatientEvent::ContactUpdated {
                at: now,
                update: changed,
            }])
        }
        PatientCommand::GrantConsent {
            purpose,
            source,
            policy_version,
            given_by,
        } => {
            if *given_by == ConsentGiver::Patient && p.is_minor_on(today) {
                return Err(PatientError::GuardianRequired {
                    id,
                    age: p.age_on(today).unwrap_or(0),
                });
            }
            let current = p.consents.in_force(*purpose, now);
            let same = current.is_some_and(|r| {
                r.action == ConsentAction::Granted && &r.policy_version == policy_version
            });
            if same {
                return Ok(vec![]);
            }
            Ok(vec![consent(
                *purpose,
                ConsentAction::Granted,
                source,
                policy_version,
                *given_by,
            )])
        }
        PatientCommand::WithdrawConsent {
            purpose,
            source,
            given_by,
        } => match p.consents.in_force(*purpose, now) {
            Some(r) if r.action == ConsentAction::Granted => Ok(vec![consent(
                *purpose,
                ConsentAction::Withdrawn,
                source,
                &r.policy_version,
                *given_by,
            )]),
            _ => Ok(vec![]),
        },
        PatientCommand::OpenChronicFile {
            condition,
            name,
            diagnosed_on,
            cadence,
        } => {
            if p.open_chronic_file(condition).is_some() {
                return Err(PatientError::ChronicFileOpen {
                    id,
                    condition: condition.clone(),
                });
            }
            if *diagnosed_on > today {
                return Err(PatientError::DateInFuture {
                    field: "diagnosed_on",
                    date: *diagnosed_on,
                    today,
                });
            }
            let name = super::identity::clean_text("condition name", name, 64, false)?;
            Ok(vec![PatientEvent::ChronicFileOpened(ChronicFile {
                condition: condition.clone(),
                name,
                diagnosed_on: *diagnosed_on,
                cadence: *cadence,
                last_follow_up: None,
                follow_ups: vec![],
                opened_at: now,
                closed_at: None,
            })])
        }
        PatientCommand::CloseChronicFile { condition } => {
            p.open_chronic_file(condition)
                .ok_or_else(|| PatientError::NoOpenChronicFile {
                    id,
                    condition: condition.clone(),
                })?;
            Ok(vec![PatientEvent::ChronicFileClosed {
                condition: condition.clone(),
                at: now,
            }])
        }
        PatientCommand::RecordFollowUp { condition, on } => {
            let file =
                p.open_chronic_file(condition)
                    .ok_or_else(|| PatientError::NoOpenChronicFile {
                        id,
                        condition: condition.clone(),
                    })?;
            if *on > today {
                return Err(PatientError::DateInFuture {
                    field: "follow-up date",
                    date: *on,
                    today,
                });
            }
            if *on < file.diagnosed_on {
                return Err(PatientError::FollowUpBeforeDiagnosis {
                    condition: condition.clone(),
                    on: *on,
                    diagnosed_on: file.diagnosed_on,
                });
            }
            if file.follow_ups.contains(on) {
                return Ok(vec![]);
            }
            Ok(vec![PatientEvent::FollowUpRecorded {
                condition: condition.clone(),
                on: *on,
            }])
        }
        PatientCommand::SetDeletionDeadline(d) => {
            if d.by < today {
                return Err(PatientError::DeadlineInPast {
                    deadline: d.by,
                    today,
                });
            }
            if p.deletion == Some(*d) {
                return Ok(vec![]);
            }
            Ok(vec![PatientEvent::DeletionDeadlineSet(*d)])
        }
        PatientCommand::Anonymise => Ok(vec![PatientEvent::Anonymised { at: now }]),
    }
}

/// Applies one event to a patient's state. Events are facts already decided, so this never
/// fails; an event that does not fit the state (a follow-up for an unknown file) changes
/// nothing.
pub fn apply(state: &mut Option<Patient>, event: &PatientEvent) {
    if let PatientEvent::Registered {
        id,
        at,
        registration: r,
    } = event
    {
        let birth_date = r.birth_date.or(r.resident_id.map(|x| x.birth_date()));
        *state = Some(Patient {
            id: *id,
            identity: Some(Identity {
                name: r.name.clone(),
                mobile: r.mobile,
                resident_id: r.resident_id,
                external_id: r.external_id.clone(),
                birth_date,
            }),
            sex: r.sex.or(r.resident_id.map(|x| x.sex())),
            birth_year: birth_date.map(|b| b.year()),
            owner: r.owner,
            home_clinic: r.home_clinic,
            channel: r.channel.clone(),
            channel_code: r.channel_code.clone(),
            registered_at: *at,
            chronic_files: vec![],
            consents: ConsentLog::default(),
            deletion: None,
            anonymised_at: None,
        });
        return;
    }
    let Some(p) = state.as_mut() else { return };
    match event {
        PatientEvent::Registered { .. } => {}
        PatientEvent::ContactUpdated { update, .. } => {
            if let Some(identity) = p.identity.as_mut() {
                if let Some(m) = update.mobile {
                    identity.mobile = m;
                }
                if let Some(e) = &update.external_id {
                    identity.external_id = Some(e.clone());
                }
            }
            if let Some(o) = update.owner {
                p.owner = Some(o);
            }
            if let Some(c) = update.home_clinic {
                p.home_clinic = c;
            }
        }
        PatientEvent::ConsentRecorded(r) => p.consents.push(r.clone()),
        PatientEvent::ChronicFileOpened(f) => p.chronic_files.push(f.clone()),
        PatientEvent::ChronicFileClosed { condition, at } => {
            if let Some(f) = p
                .chronic_files
                .iter_mut()
                .find(|f| f.is_open() && &f.condition == condition)
            {
                f.closed_at = Some(*at);
            }
        }
        PatientEvent::FollowUpRecorded { condition, on } => {
            if let Some(f) = p
                .chronic_files
                .iter_mut()
                .find(|f| f.is_open() && &f.condition == condition)
            {
                f.follow_ups.push(*on);
                f.follow_ups.sort_unstable();
                f.last_follow_up = f.follow_ups.last().copied();
            }
        }
        PatientEvent::DeletionDeadlineSet(d) => p.deletion = Some(*d),
        PatientEvent::Anonymised { at } => {
            // Keep: id, sex, birth year, channel, clinic, registration time, consent history
            // (proof of lawful processing, holds nothing personal). Remove: identity, raw
            // channel code, owner, and the health data in chronic files.
            p.identity = None;
            p.channel_code = None;
            p.owner = None;
            p.chronic_files.clear();
            p.deletion = None;
            p.anonymised_at = Some(*at);
        }
    }
}

impl PatientEvent {
    /// The mobile number and resident id this event claims for its patient: what a store must
    /// check for uniqueness when committing it.
    pub fn claimed_identity(&self) -> (Option<&MobileNumber>, Option<&ResidentId>) {
        match self {
            PatientEvent::Registered { registration, .. } => (
                Some(&registration.mobile),
                registration.resident_id.as_ref(),
            ),
            PatientEvent::ContactUpdated { update, .. } => (update.mobile.as_ref(), None),
            _ => (None, None),
        }
    }
}
