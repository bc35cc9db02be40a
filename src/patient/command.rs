//! Patient commands and events: `decide` turns a command into events, `apply` folds them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::aggregate::{ContactUpdate, DeletionDeadline, Identity, Patient, Registration};
use super::chronic::{ChronicFile, ConditionCode, FollowUpCadence};
use super::consent::{ConsentAction, ConsentGiver, ConsentLog, ConsentPurpose, ConsentRecord};
use super::error::PatientError;
use super::identity::{MobileNumber, ResidentId};
use crate::calendar::ClinicCalendar;
use crate::id::PatientId;
use crate::text::Label;

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
        #[serde(with = "crate::calendar::in_range::date")]
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
        #[serde(with = "crate::calendar::in_range::date")]
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
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
        /// What was captured.
        registration: Registration,
    },
    /// Contact details or ownership changed.
    ContactUpdated {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
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
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// A follow-up was done.
    FollowUpRecorded {
        /// The condition.
        condition: ConditionCode,
        /// The local date.
        #[serde(with = "crate::calendar::in_range::date")]
        on: NaiveDate,
    },
    /// A deletion deadline was set.
    DeletionDeadlineSet(DeletionDeadline),
    /// Every personal field was removed.
    Anonymised {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
}

/// Decides what a command means for a patient.
///
/// `state` is the patient as loaded (or `None` before registration); `now` and the clinic
/// calendar come from the host. Returns the events to commit: none when the command changes
/// nothing (a consent record the log already holds, an empty contact update), so that retries
/// are harmless.
///
/// Every value is decided by time, never by the order commands arrive:
/// - consent commands are always recorded, dated `now`, and the log orders them by time (see
///   [`ConsentLog`](super::ConsentLog) for the tie rule), so a grant entered late but dated
///   before a withdrawal never overrides the withdrawal;
/// - contact details are last-write-wins, so a change dated before the last one is refused
///   with [`PatientError::Backdated`];
/// - a chronic file cannot be closed before it was opened (also `Backdated`), nor followed up
///   before its diagnosis.
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
    crate::calendar::check_instant("now", now)?;
    command.check_range()?;
    let today = calendar.local_date(now);
    if let PatientCommand::Register(reg) = command {
        return register(state, id, reg, now, today);
    }
    let p = state.ok_or(PatientError::NotRegistered { id })?;
    if p.is_anonymised() {
        return match command {
            PatientCommand::Anonymise => Ok(vec![]),
            _ => Err(PatientError::Anonymised { id }),
        };
    }
    let cx = Cx { id, p, now, today };
    match command {
        PatientCommand::Register(_) => Err(PatientError::AlreadyRegistered { id }),
        PatientCommand::UpdateContact(u) => cx.update_contact(u),
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
            let version = Some(policy_version.clone());
            Ok(cx.consent(*purpose, ConsentAction::Granted, source, version, *given_by))
        }
        // No policy version: the grant a withdrawal ends is the one in force before it, which
        // the log derives by time. Storing it here would depend on the arrival order.
        PatientCommand::WithdrawConsent {
            purpose,
            source,
            given_by,
        } => Ok(cx.consent(*purpose, ConsentAction::Withdrawn, source, None, *given_by)),
        PatientCommand::OpenChronicFile {
            condition,
            name,
            diagnosed_on,
            cadence,
        } => cx.open_chronic_file(condition, name, *diagnosed_on, *cadence),
        PatientCommand::CloseChronicFile { condition } => cx.close_chronic_file(condition),
        PatientCommand::RecordFollowUp { condition, on } => cx.record_follow_up(condition, *on),
        PatientCommand::SetDeletionDeadline(d) => cx.set_deletion_deadline(*d),
        PatientCommand::Anonymise => Ok(vec![PatientEvent::Anonymised { at: now }]),
    }
}

/// `Register`: the resident id must agree with the stated sex and birth date, and nobody is
/// born after today.
fn register(
    state: Option<&Patient>,
    id: PatientId,
    reg: &Registration,
    now: DateTime<Utc>,
    today: NaiveDate,
) -> Result<Vec<PatientEvent>, PatientError> {
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
    Ok(vec![PatientEvent::Registered {
        id,
        at: now,
        registration: reg.clone(),
    }])
}

/// What every command on a registered, live patient decides against.
struct Cx<'a> {
    id: PatientId,
    p: &'a Patient,
    now: DateTime<Utc>,
    today: NaiveDate,
}

impl Cx<'_> {
    fn no_open_file(&self, condition: &ConditionCode) -> PatientError {
        PatientError::NoOpenChronicFile {
            id: self.id,
            condition: condition.clone(),
        }
    }

    /// Contact details are last-write-wins by time: a change dated before the one in force
    /// is refused; fields that would not change are left out.
    fn update_contact(&self, u: &ContactUpdate) -> Result<Vec<PatientEvent>, PatientError> {
        let (p, now) = (self.p, self.now);
        let since = p.contact_changed_at();
        if now < since {
            return Err(PatientError::Backdated {
                field: "contact details",
                at: now,
                since,
            });
        }
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

    /// Every consent command is recorded, dated `now`, unless the log already holds the very
    /// same record (a retry). A "no-op" decided from the record in force would depend on the
    /// order commands arrive: a grant skipped as redundant would be lost once an older
    /// withdrawal arrives late (see `ConsentLog` for the rule).
    fn consent(
        &self,
        purpose: ConsentPurpose,
        action: ConsentAction,
        source: &Label,
        policy_version: Option<Label>,
        given_by: ConsentGiver,
    ) -> Vec<PatientEvent> {
        let record = ConsentRecord {
            purpose,
            action,
            at: self.now,
            source: source.clone(),
            policy_version,
            given_by,
        };
        if self.p.consents.contains(&record) {
            vec![]
        } else {
            vec![PatientEvent::ConsentRecorded(record)]
        }
    }

    fn open_chronic_file(
        &self,
        condition: &ConditionCode,
        name: &str,
        diagnosed_on: NaiveDate,
        cadence: FollowUpCadence,
    ) -> Result<Vec<PatientEvent>, PatientError> {
        if self.p.open_chronic_file(condition).is_some() {
            return Err(PatientError::ChronicFileOpen {
                id: self.id,
                condition: condition.clone(),
            });
        }
        if diagnosed_on > self.today {
            return Err(PatientError::DateInFuture {
                field: "diagnosed_on",
                date: diagnosed_on,
                today: self.today,
            });
        }
        let name = crate::text::clean_text("condition name", name, 64, false)?;
        Ok(vec![PatientEvent::ChronicFileOpened(ChronicFile {
            condition: condition.clone(),
            name,
            diagnosed_on,
            cadence,
            last_follow_up: None,
            follow_ups: vec![],
            opened_at: self.now,
            closed_at: None,
        })])
    }

    /// A file is closed no earlier than it was opened.
    fn close_chronic_file(
        &self,
        condition: &ConditionCode,
    ) -> Result<Vec<PatientEvent>, PatientError> {
        let file = self
            .p
            .open_chronic_file(condition)
            .ok_or_else(|| self.no_open_file(condition))?;
        if self.now < file.opened_at {
            return Err(PatientError::Backdated {
                field: "chronic file",
                at: self.now,
                since: file.opened_at,
            });
        }
        Ok(vec![PatientEvent::ChronicFileClosed {
            condition: condition.clone(),
            at: self.now,
        }])
    }

    /// A follow-up lies between the diagnosis and today; recording one twice adds nothing.
    fn record_follow_up(
        &self,
        condition: &ConditionCode,
        on: NaiveDate,
    ) -> Result<Vec<PatientEvent>, PatientError> {
        let file = self
            .p
            .open_chronic_file(condition)
            .ok_or_else(|| self.no_open_file(condition))?;
        if on > self.today {
            return Err(PatientError::DateInFuture {
                field: "follow-up date",
                date: on,
                today: self.today,
            });
        }
        if on < file.diagnosed_on {
            return Err(PatientError::FollowUpBeforeDiagnosis {
                condition: condition.clone(),
                on,
                diagnosed_on: file.diagnosed_on,
            });
        }
        if file.follow_ups.contains(&on) {
            return Ok(vec![]);
        }
        Ok(vec![PatientEvent::FollowUpRecorded {
            condition: condition.clone(),
            on,
        }])
    }

    fn set_deletion_deadline(
        &self,
        d: DeletionDeadline,
    ) -> Result<Vec<PatientEvent>, PatientError> {
        if d.by < self.today {
            return Err(PatientError::DeadlineInPast {
                deadline: d.by,
                today: self.today,
            });
        }
        if self.p.deletion == Some(d) {
            return Ok(vec![]);
        }
        Ok(vec![PatientEvent::DeletionDeadlineSet(d)])
    }
}

/// Applies one event to a patient's state. Events are facts already decided, so this never
/// fails; an event that does not fit the state (a follow-up for an unknown file) changes
/// nothing.
pub fn apply(state: &mut Option<Patient>, event: &PatientEvent) {
    match (state.as_mut(), event) {
        (Some(p), _) => apply_to(p, event),
        (None, PatientEvent::Registered { .. }) => *state = registered(event),
        (None, _) => {}
    }
}

/// The patient a `Registered` event makes (`None` for any other event).
fn registered(event: &PatientEvent) -> Option<Patient> {
    let PatientEvent::Registered {
        id,
        at,
        registration: r,
    } = event
    else {
        return None;
    };
    let birth_date = r.birth_date.or(r.resident_id.map(|x| x.birth_date()));
    Some(Patient {
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
        contact_at: None,
        deletion: None,
        anonymised_at: None,
    })
}

/// [`apply`] to a patient held in place (a `Registered` event replaces it, as [`apply`]
/// does): a host keeping patients in a map updates one without taking it out and putting it
/// back.
pub(crate) fn apply_to(p: &mut Patient, event: &PatientEvent) {
    match event {
        PatientEvent::Registered { .. } => {
            if let Some(new) = registered(event) {
                *p = new;
            }
        }
        PatientEvent::ContactUpdated { update, at } => {
            // Last write by time wins: an older change replayed after a newer one is stale.
            if *at < p.contact_changed_at() {
                return;
            }
            p.contact_at = Some(*at);
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
    #[must_use]
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
