//! Conformance scenarios for erasure: after [`erase_patient`], no byte of the patient's
//! personal or health data is left anywhere an adapter stores things.
//!
//! `src/` does no I/O, so the caller supplies `stored_bytes`: everything the adapter keeps,
//! raw. For a database that is every file of it (for SQLite the main file, `-wal`, `-shm`
//! and `-journal`); for the in-memory adapters a serialisation of their whole state,
//! indexes included. Each scenario first checks that the values it will look for are in
//! those bytes, so a `stored_bytes` that sees nothing fails instead of passing.

use chrono::{Days, NaiveDate};

use super::{Factory, must, scenario_now};
use crate::calendar::ClinicCalendar;
use crate::followup::{
    FollowUpEvent, Priority, Reason, RuleKey, Task, TaskChannel, TaskKind, TaskOutcome,
    record_outcome,
};
use crate::id::{ClinicId, GroupId, PatientId, PurchaseId, StaffId};
use crate::journey::{Category, DaysSupply, Purchase};
use crate::money::Yuan;
use crate::patient::{
    self, Channel, ConditionCode, ContactUpdate, ExternalId, FollowUpCadence, MobileNumber,
    PatientCommand, PersonName, Registration, ResidentId,
};
use crate::relationship::{ContactEvent, GroupChatRef, GroupEvent};
use crate::store::{PersonalDataPorts, erase_patient};
use crate::text::Label;

/// Runs every scenario, each on a fresh store.
///
/// `hold_snapshot` opens something on the same storage that holds a read snapshot until it
/// is dropped (for SQLite, a second connection inside an open read transaction; for the
/// in-memory adapters a clone is enough). `stored_bytes` returns everything the adapter
/// stored, raw.
pub fn run_all<S, G>(
    factory: &impl Factory<S>,
    hold_snapshot: impl Fn(&S) -> G,
    stored_bytes: impl Fn(&S) -> Vec<u8>,
) where
    S: PersonalDataPorts,
{
    erasure_leaves_no_trace(factory, &stored_bytes);
    erasure_under_an_open_snapshot(factory, &hold_snapshot, &stored_bytes);
    erasing_twice_changes_nothing(&mut factory.fresh());
}

const VICTIM: PatientId = PatientId::new(1);
const BYSTANDER: PatientId = PatientId::new(2);

/// The personal and health values of the patient erased, as stored text.
pub const ERASED_VALUES: [&str; 8] = [
    "13912345678",
    "11010519491231002X",
    "欧阳娜娜",
    "wmEraseVictim0417",
    "E11.9",
    "2型糖尿病",
    // A purchase category that names the treatment.
    "胰岛素注射液",
    // The channel code the patient added a staff account through.
    "qr_erase_victim_0417",
];

/// Values of another patient that must survive the erasure.
const KEPT_VALUES: [&str; 6] = [
    "qr_bystander_0417",
    "13987654321",
    "张建国",
    "I10.X",
    "原发性高血压",
    "硝苯地平片",
];

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
fn chronic_task(patient: PatientId, code: &str, name: &str, n: u64) -> Task {
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
fn populate<S: PersonalDataPorts + ?Sized>(ports: &mut S) {
    let [mobile, rid, name, ext, code, condition, category, channel] = ERASED_VALUES;
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
fn more_commits<S: PersonalDataPorts + ?Sized>(ports: &mut S, round: u64) {
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
}

fn contains(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    !n.is_empty() && hay.windows(n.len()).any(|w| w == n)
}

/// Asserts which values `bytes` holds.
fn assert_scan(bytes: &[u8], erased_present: bool, when: &str) {
    let lingering: Vec<&str> = ERASED_VALUES
        .iter()
        .copied()
        .filter(|v| contains(bytes, v))
        .collect();
    if erased_present {
        assert_eq!(
            lingering.len(),
            ERASED_VALUES.len(),
            "{when}: stored_bytes must show every value before the erasure, or the scan \
             proves nothing (found only {} of {})",
            lingering.len(),
            ERASED_VALUES.len()
        );
    } else {
        // The values are test data, not anyone's: printing them names what leaked.
        assert!(
            lingering.is_empty(),
            "{when}: erased values still stored: {lingering:?}"
        );
    }
    for v in KEPT_VALUES {
        assert!(
            contains(bytes, v),
            "{when}: another patient's value {v:?} is gone: the scan sees too little, or \
             the erasure took too much"
        );
    }
}

/// What the ports return for the erased patient: no identity, no chronic file, no task,
/// the mobile free; and the bystander untouched.
fn assert_erased_through_the_ports<S: PersonalDataPorts + ?Sized>(ports: &mut S) {
    let p = must(ports.patients().get(VICTIM), "get")
        .unwrap_or_else(|| panic!("the anonymised patient is still stored, without personal data"));
    assert!(p.value.is_anonymised(), "the patient is not anonymised");
    assert!(p.value.identity().is_none(), "the identity survived");
    let mobile = must(MobileNumber::parse(ERASED_VALUES[0]), "mobile");
    assert_eq!(
        must(ports.patients().find_by_mobile(&mobile), "find"),
        None,
        "the erased mobile still finds a patient"
    );
    let h = must(ports.follow_ups().get(VICTIM), "get history")
        .unwrap_or_else(|| panic!("the erased history must be stored, marked anonymised"));
    assert!(h.value.is_empty(), "follow-up tasks survived the erasure");
    assert_eq!(h.value.anonymised_at(), Some(scenario_now()));
    let b = must(ports.follow_ups().get(BYSTANDER), "get history");
    assert!(
        b.is_some_and(|b| !b.value.is_empty()),
        "the bystander's history was erased too"
    );
    let bought = must(ports.purchases().purchases_of(VICTIM), "purchases");
    assert!(
        !bought.is_empty(),
        "the erased patient's purchases are kept"
    );
    assert!(
        bought.iter().all(|p| p.category.is_none()),
        "a purchase category survived the erasure"
    );
    let kept = must(ports.purchases().purchases_of(BYSTANDER), "purchases");
    assert!(
        kept.iter().all(|p| p.category.is_some()),
        "the bystander's purchase categories were erased too"
    );
    assert!(
        must(ports.contacts().get_contacts(VICTIM), "contacts").is_none(),
        "the erased patient's contact log survived"
    );
    assert!(
        must(ports.contacts().get_contacts(BYSTANDER), "contacts").is_some(),
        "the bystander's contact log was erased too"
    );
    let events = must(ports.groups().group_events(GroupId::new(1)), "group events")
        .map(|v| v.value)
        .unwrap_or_default();
    let who: Vec<PatientId> = events.iter().map(GroupEvent::patient).collect();
    assert_eq!(
        who,
        vec![BYSTANDER],
        "group events: the erased patient's must go, the bystander's stay"
    );
}

/// Erasing while another handle is open leaves no erased value in the stored bytes, at
/// once and after further commits through both handles.
pub fn erasure_leaves_no_trace<S: PersonalDataPorts>(
    factory: &impl Factory<S>,
    stored_bytes: &impl Fn(&S) -> Vec<u8>,
) {
    let mut store = factory.fresh();
    let mut other = factory.handle(&store);
    populate(&mut store);
    assert_scan(&stored_bytes(&store), true, "before erasure");
    let erased = must(
        erase_patient(
            &mut store,
            VICTIM,
            scenario_now(),
            ClinicCalendar::default(),
            5,
        ),
        "erasing",
    );
    assert!(erased.patient.get() > 1 && erased.follow_ups.get() > 1);
    assert_scan(&stored_bytes(&store), false, "right after erasure");
    assert_erased_through_the_ports(&mut other);
    more_commits(&mut other, 1);
    more_commits(&mut store, 2);
    assert_scan(&stored_bytes(&store), false, "after further commits");
    assert_erased_through_the_ports(&mut store);
    drop(other);
}

/// Erasing while another connection holds a read snapshot taken before the erasure: once
/// that snapshot ends, the next commits (on any handle) leave no erased value behind, while
/// the other handle stays open.
pub fn erasure_under_an_open_snapshot<S: PersonalDataPorts, G>(
    factory: &impl Factory<S>,
    hold_snapshot: &impl Fn(&S) -> G,
    stored_bytes: &impl Fn(&S) -> Vec<u8>,
) {
    let mut store = factory.fresh();
    let mut other = factory.handle(&store);
    populate(&mut store);
    assert_scan(&stored_bytes(&store), true, "before erasure");
    let snapshot = hold_snapshot(&store);
    let erased = must(
        erase_patient(
            &mut store,
            VICTIM,
            scenario_now(),
            ClinicCalendar::default(),
            5,
        ),
        "erasing under an open snapshot",
    );
    assert!(erased.patient.get() > 1 && erased.follow_ups.get() > 1);
    assert_erased_through_the_ports(&mut other);
    drop(snapshot);
    more_commits(&mut other, 1);
    more_commits(&mut store, 2);
    assert_scan(
        &stored_bytes(&store),
        false,
        "after the snapshot ended and more commits",
    );
    assert_erased_through_the_ports(&mut other);
    drop(other);
}

/// Erasing an erased patient commits nothing and returns the same versions; a plan
/// committed after the erasure plants nothing.
pub fn erasing_twice_changes_nothing<S: PersonalDataPorts>(store: &mut S) {
    populate(store);
    let cal = ClinicCalendar::default();
    let first = must(
        erase_patient(store, VICTIM, scenario_now(), cal, 5),
        "erasing",
    );
    let again = must(
        erase_patient(store, VICTIM, scenario_now(), cal, 5),
        "again",
    );
    assert_eq!(first, again, "a second erasure wrote something");
    let [_, _, _, _, code, condition, _, _] = ERASED_VALUES;
    let loaded = must(store.follow_ups().get(VICTIM), "get history");
    let late = FollowUpEvent::TaskPlanned(chronic_task(VICTIM, code, condition, 9));
    must(
        store
            .follow_ups()
            .commit(VICTIM, loaded.map(|v| v.version), &[late]),
        "a late plan commits",
    );
    let h = must(store.follow_ups().get(VICTIM), "get history");
    assert!(
        h.is_some_and(|h| h.value.is_empty()),
        "a plan committed after the erasure planted a task"
    );
}

#[cfg(test)]
mod tests {
    use crate::store::memory::{
        MemoryContactStore, MemoryGroupStore, MemoryPatientStore, MemoryPurchaseStore,
        MemoryTaskStore,
    };

    type Ports = (
        MemoryPatientStore,
        MemoryTaskStore,
        MemoryPurchaseStore,
        MemoryContactStore,
        MemoryGroupStore,
    );

    /// Everything the in-memory adapters hold, indexes included, as JSON.
    fn stored_bytes(s: &Ports) -> Vec<u8> {
        let mut out = serde_json::to_vec(&s.0).unwrap_or_default();
        out.extend(serde_json::to_vec(&s.1).unwrap_or_default());
        out.extend(serde_json::to_vec(&s.2).unwrap_or_default());
        out.extend(serde_json::to_vec(&s.3).unwrap_or_default());
        out.extend(serde_json::to_vec(&s.4).unwrap_or_default());
        out
    }

    #[test]
    fn memory_adapters_erase() {
        let factory = (
            || {
                (
                    MemoryPatientStore::new(),
                    MemoryTaskStore::new(),
                    MemoryPurchaseStore::new(),
                    MemoryContactStore::new(),
                    MemoryGroupStore::new(),
                )
            },
            |s: &Ports| s.clone(),
        );
        super::run_all(&factory, |s: &Ports| s.clone(), stored_bytes);
    }
}
