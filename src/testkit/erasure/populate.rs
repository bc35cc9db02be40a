//! What the erasure scenarios write: a patient to erase and a bystander, with data in every
//! port of [`PersonalDataPorts`], and the commits made after an erasure.

use chrono::{DateTime, Days, Duration, NaiveDate, Utc};

use super::{
    BYSTANDER, BYSTANDER_COMPLAINT, CLINICS, COMPLAINT_NOTE, COMPLAINT_WORDS, ERASED_VALUES,
    FEEDBACK_WORDS, HISTORY, KEPT_VALUES, LECTURE, SYMPTOMS, VICTIM, VICTIM_COMPLAINT,
};
use crate::appointment::{AppointmentEvent, Booking, BookingStatus, Guarantee, IntakeAnswers};
use crate::calendar::ClinicCalendar;
use crate::event::{self, RosterCommand};
use crate::feedback::{
    self, Category as ComplaintCategory, Comment, ComplaintCommand, Feedback, NewComplaint,
    Severity, SlaPolicy,
};
use crate::followup::{
    FollowUpEvent, Priority, Reason, RuleKey, Task, TaskChannel, TaskKind, TaskOutcome,
    record_outcome,
};
use crate::id::{
    AppointmentId, ClinicId, ComplaintId, DoctorId, FeedbackId, GroupId, PatientId, PurchaseId,
    StaffId, VisitId,
};
use crate::journey::{Category, DaysSupply, Purchase};
use crate::metrics::satisfaction::NpsScore;
use crate::money::Yuan;
use crate::patient::{
    self, Channel, ConditionCode, ContactUpdate, ExternalId, FollowUpCadence, MobileNumber,
    PatientCommand, PersonName, Registration, ResidentId,
};
use crate::relationship::{ContactEvent, GroupChatRef, GroupEvent};
use crate::store::PersonalDataPorts;
use crate::testkit::appointment_store::sample_slot;
use crate::testkit::outreach_event_store::sample_lecture;
use crate::testkit::{must, scenario_now};
use crate::text::Label;

fn seconds(n: i64) -> DateTime<Utc> {
    scenario_now() + Duration::seconds(n)
}

fn registration(name: &str, mobile: &str, rid: Option<&str>, ext: Option<&str>) -> Registration {
    Registration {
        name: must(PersonName::parse(name), "test name"),
        mobile: must(MobileNumber::parse(mobile), "test mobile"),
        resident_id: rid.map(|r| must(ResidentId::parse(r), "test resident id")),
        external_id: ext.map(|e| must(ExternalId::parse(e), "test external id")),
        sex: None,
        birth_date: None,
        owner: None,
        home_clinic: ClinicId::new(1),
        channel: Channel::WalkIn,
        channel_code: None,
    }
}

fn run_patient<S: PersonalDataPorts + ?Sized>(ports: &mut S, id: PatientId, cmd: PatientCommand) {
    let store = ports.patients();
    let loaded = must(store.get(id), "loading a patient");
    let events = must(
        patient::decide(
            loaded.as_ref().map(|v| &v.value),
            id,
            &cmd,
            scenario_now(),
            ClinicCalendar::default(),
        ),
        "scenario command refused",
    );
    must(
        store.commit(id, loaded.map(|v| v.version), &events),
        "committing a patient",
    );
}

/// A chronic follow-up task whose reason names the condition, as the planner makes them.
pub(super) fn chronic_task(patient: PatientId, code: &str, name: &str, n: u64) -> Task {
    let rule = must(RuleKey::parse("chronic_call"), "rule key");
    let due = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default() + Days::new(n);
    Task::new(
        patient,
        rule,
        TaskKind::ChronicFollowUp,
        due,
        TaskChannel::Call,
        Reason::ChronicFollowUp {
            condition: must(ConditionCode::parse(code), "condition code"),
            name: name.to_owned(),
            last: None,
            per_year: 4,
        },
    )
    .with_assignee(StaffId::new(1))
    .with_priority(Priority::Urgent)
}

fn open_chronic_file<S: PersonalDataPorts + ?Sized>(
    ports: &mut S,
    id: PatientId,
    code: &str,
    name: &str,
) {
    run_patient(
        ports,
        id,
        PatientCommand::OpenChronicFile {
            condition: must(ConditionCode::parse(code), "condition code"),
            name: name.to_owned(),
            diagnosed_on: NaiveDate::from_ymd_opt(2020, 6, 1).unwrap_or_default(),
            cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
        },
    );
}

fn plan<S: PersonalDataPorts + ?Sized>(ports: &mut S, task: Task) {
    let store = ports.follow_ups();
    let loaded = must(store.get(task.patient), "loading a history");
    let patient = task.patient;
    let mut events = vec![FollowUpEvent::TaskPlanned(task.clone())];
    if let Some(h) = &loaded {
        // Record an outcome for an earlier task too, so outcomes are stored as well.
        if let Some(first) = h.value.tasks().find(|r| r.outcome.is_none()) {
            events.extend(must(
                record_outcome(
                    &h.value,
                    first.task.id,
                    TaskOutcome::Reached,
                    Some(StaffId::new(1)),
                    scenario_now(),
                ),
                "recording an outcome",
            ));
        }
    }
    must(
        store.commit(patient, loaded.map(|v| v.version), &events),
        "planning a task",
    );
}

/// Registers the patient to erase and a bystander, each with a chronic file and planned
/// follow-ups, through `ports`.
pub(super) fn populate<S: PersonalDataPorts + ?Sized>(ports: &mut S) {
    let [
        mobile,
        rid,
        name,
        ext,
        code,
        condition,
        category,
        channel,
        ..,
    ] = ERASED_VALUES;
    run_patient(
        ports,
        VICTIM,
        PatientCommand::Register(registration(name, mobile, Some(rid), Some(ext))),
    );
    run_patient(
        ports,
        BYSTANDER,
        PatientCommand::Register(registration("张建国", "13987654321", None, None)),
    );
    open_chronic_file(ports, VICTIM, code, condition);
    open_chronic_file(ports, BYSTANDER, "I10.X", "原发性高血压");
    for n in 0..3 {
        plan(ports, chronic_task(VICTIM, code, condition, n));
        plan(ports, chronic_task(BYSTANDER, "I10.X", "原发性高血压", n));
    }
    must(
        ports.purchases().append_purchases(&[
            purchase(1, VICTIM, category),
            purchase(2, BYSTANDER, "硝苯地平片"),
        ]),
        "appending purchases",
    );
    add_contact(ports, VICTIM, channel);
    add_contact(ports, BYSTANDER, KEPT_VALUES[0]);
    let chat = GroupChatRef {
        series: GroupId::new(1),
        number: 1,
    };
    let at = scenario_now();
    must(
        ports.groups().commit_group(
            chat.series,
            None,
            &[
                GroupEvent::Joined {
                    chat,
                    patient: VICTIM,
                    at,
                },
                GroupEvent::Joined {
                    chat,
                    patient: BYSTANDER,
                    at,
                },
            ],
        ),
        "joining a group",
    );
    populate_appointments(ports);
    populate_feedback(ports);
    populate_roster(ports);
}

/// A first-visit booking of the victim with intake answers in the books of both
/// [`CLINICS`], and one of the bystander in the first.
fn populate_appointments<S: PersonalDataPorts + ?Sized>(ports: &mut S) {
    let booking = |id: u64, patient: PatientId| {
        AppointmentEvent::Booked(Booking {
            id: AppointmentId::new(id),
            patient,
            doctor: DoctorId::new(1),
            start: sample_slot(),
            end: sample_slot() + Duration::minutes(30),
            booked_at: scenario_now(),
            first_visit: true,
            guarantee: Guarantee::None,
            reschedules: 0,
            status: BookingStatus::Booked,
            intake: None,
        })
    };
    let intake =
        |id: u64, symptoms: &str, history: Option<&str>| AppointmentEvent::IntakeRecorded {
            id: AppointmentId::new(id),
            answers: must(IntakeAnswers::new(symptoms, history), "test answers"),
            at: scenario_now(),
        };
    let [first, second] = CLINICS;
    must(
        ports.appointments().commit_book(
            first,
            None,
            &[
                booking(1, VICTIM),
                intake(1, SYMPTOMS, Some(HISTORY)),
                booking(2, BYSTANDER),
                intake(2, KEPT_VALUES[6], None),
            ],
        ),
        "booking in the first clinic",
    );
    must(
        ports.appointments().commit_book(
            second,
            None,
            &[booking(3, VICTIM), intake(3, SYMPTOMS, None)],
        ),
        "booking in the second clinic",
    );
}

fn complaint(id: ComplaintId, patient: PatientId, words: &str) -> NewComplaint {
    NewComplaint {
        id,
        patient,
        clinic: ClinicId::new(1),
        doctor: Some(DoctorId::new(1)),
        visit: None,
        feedback: None,
        category: ComplaintCategory::Privacy,
        severity: Severity::High,
        owner: StaffId::new(1),
        comment: Some(must(Comment::parse(words), "test comment")),
    }
}

fn run_complaint<S: PersonalDataPorts + ?Sized>(
    ports: &mut S,
    id: ComplaintId,
    cmd: &ComplaintCommand,
) {
    let store = ports.feedback();
    let loaded = must(store.get_complaint(id), "loading a complaint");
    let events = must(
        feedback::decide(
            loaded.as_ref().map(|v| &v.value),
            cmd,
            &SlaPolicy::default(),
            scenario_now(),
            ClinicCalendar::default(),
        ),
        "complaint command refused",
    );
    must(
        store.commit_complaint(id, loaded.map(|v| v.version), &events),
        "committing a complaint",
    );
}

fn sample_feedback(id: u64, patient: PatientId, words: &str) -> Feedback {
    Feedback {
        id: FeedbackId::new(id),
        patient,
        visit: VisitId::new(id),
        doctor: DoctorId::new(1),
        clinic: ClinicId::new(1),
        score: must(NpsScore::new(3), "score"),
        csat: None,
        comment: Some(must(Comment::parse(words), "test comment")),
        at: scenario_now(),
    }
}

/// A complaint of each patient in their words, the victim's resolved with a note, and a
/// feedback comment of each.
fn populate_feedback<S: PersonalDataPorts + ?Sized>(ports: &mut S) {
    run_complaint(
        ports,
        VICTIM_COMPLAINT,
        &ComplaintCommand::Open(complaint(VICTIM_COMPLAINT, VICTIM, COMPLAINT_WORDS)),
    );
    run_complaint(
        ports,
        VICTIM_COMPLAINT,
        &ComplaintCommand::Resolve {
            note: must(Comment::parse(COMPLAINT_NOTE), "test note"),
        },
    );
    run_complaint(
        ports,
        BYSTANDER_COMPLAINT,
        &ComplaintCommand::Open(complaint(BYSTANDER_COMPLAINT, BYSTANDER, KEPT_VALUES[7])),
    );
    must(
        ports.feedback().append_feedback(&[
            sample_feedback(1, VICTIM, FEEDBACK_WORDS),
            sample_feedback(2, BYSTANDER, KEPT_VALUES[8]),
        ]),
        "appending feedback",
    );
}

fn run_roster<S: PersonalDataPorts + ?Sized>(
    ports: &mut S,
    cmd: &RosterCommand,
    at: DateTime<Utc>,
) {
    let store = ports.outreach_events();
    let loaded = must(store.get(LECTURE), "loading a roster");
    let events = must(
        event::decide(loaded.as_ref().map(|v| &v.value), cmd, at),
        "roster command refused",
    );
    must(
        store.commit(LECTURE, loaded.map(|v| v.version), &events),
        "committing a roster",
    );
}

/// A lecture both patients registered for, at the instants of [`ERASED_VALUES`] and
/// [`KEPT_VALUES`]; the victim came.
fn populate_roster<S: PersonalDataPorts + ?Sized>(ports: &mut S) {
    run_roster(
        ports,
        &RosterCommand::Create(sample_lecture(LECTURE.get(), 10)),
        scenario_now(),
    );
    run_roster(ports, &RosterCommand::Publish, scenario_now());
    run_roster(
        ports,
        &RosterCommand::Register { patient: VICTIM },
        seconds(1_063),
    );
    run_roster(
        ports,
        &RosterCommand::Register { patient: BYSTANDER },
        seconds(1_331),
    );
    run_roster(
        ports,
        &RosterCommand::Attend { patient: VICTIM },
        seconds(1_147),
    );
}

/// Records that staff account 1 holds `patient`, added through `channel`.
fn add_contact<S: PersonalDataPorts + ?Sized>(ports: &mut S, patient: PatientId, channel: &str) {
    let store = ports.contacts();
    let loaded = must(store.get_contacts(patient), "get contacts");
    let event = ContactEvent::Added {
        staff: StaffId::new(1),
        channel: Some(must(Label::parse(channel), "test channel")),
        at: scenario_now(),
    };
    must(
        store.commit_contacts(patient, loaded.map(|v| v.version), &[event]),
        "adding a contact",
    );
}

/// Purchase `id` of `patient` in `category`, at [`scenario_now`].
fn purchase(id: u64, patient: PatientId, category: &str) -> Purchase {
    Purchase {
        id: PurchaseId::new(id),
        patient,
        at: scenario_now(),
        amount: Yuan::from_fen(12_800),
        category: Some(must(Category::parse(category), "test category")),
        days_supply: DaysSupply::new(30).ok(),
    }
}

/// Commits made after the erasure, on `ports`: a new patient, a contact change and a new
/// task for the bystander.
pub(super) fn more_commits<S: PersonalDataPorts + ?Sized>(ports: &mut S, round: u64) {
    let id = PatientId::new(10 + round);
    run_patient(
        ports,
        id,
        PatientCommand::Register(registration(
            "李四",
            &format!("1370000{:04}", round % 10_000),
            None,
            None,
        )),
    );
    run_patient(
        ports,
        BYSTANDER,
        PatientCommand::UpdateContact(ContactUpdate {
            owner: Some(StaffId::new(2 + round)),
            ..ContactUpdate::default()
        }),
    );
    plan(
        ports,
        chronic_task(BYSTANDER, "I10.X", "原发性高血压", 10 + round),
    );
    // A late import of the erased patient's purchases: the original one again and a new
    // one, both naming the treatment. Neither may plant the category.
    let category = ERASED_VALUES[6];
    must(
        ports.purchases().append_purchases(&[
            purchase(1, VICTIM, category),
            purchase(100 + round, VICTIM, category),
        ]),
        "a late purchase import",
    );
    // The same for feedback: a replay of the original record, which must match the erased
    // one, and a new one, in the patient's words.
    must(
        ports.feedback().append_feedback(&[
            sample_feedback(1, VICTIM, FEEDBACK_WORDS),
            sample_feedback(100 + round, VICTIM, FEEDBACK_WORDS),
        ]),
        "a late feedback import",
    );
}
