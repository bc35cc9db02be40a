//! Conformance scenarios for erasure: after [`erase_patient`], no byte of the patient's
//! personal or health data is left anywhere an adapter stores things.
//!
//! `src/` does no I/O, so the caller supplies `stored_bytes`: everything the adapter keeps,
//! raw. For a database that is every file of it (for SQLite the main file, `-wal`, `-shm`
//! and `-journal`); for the in-memory adapters a serialisation of their whole state,
//! indexes included. Each scenario first checks that the values it will look for are in
//! those bytes, so a `stored_bytes` that sees nothing fails instead of passing.

mod populate;

use populate::{chronic_task, more_commits, populate};

use super::{Factory, must, scenario_now};
use crate::calendar::ClinicCalendar;
use crate::followup::FollowUpEvent;
use crate::id::{ClinicId, ComplaintId, GroupId, OutreachEventId, PatientId};
use crate::patient::MobileNumber;
use crate::relationship::GroupEvent;
use crate::store::{PersonalDataPorts, Version, erase_patient};

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
pub const ERASED_VALUES: [&str; 15] = [
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
    // Pre-visit intake answers (health data), in the books of two clinics.
    "夜间多尿口渴三月余0417",
    "母亲有糖尿病史0417",
    // A complaint in the patient's words, and a staff note about it.
    "护士当众说出我的病情0417",
    "已当面致歉并承诺整改0417",
    // A feedback comment.
    "医生讲解胰岛素用法很耐心0417",
    // When the patient registered for, and came to, a lecture on their condition: their
    // roster seat, which holds nothing else but their pseudonymous id.
    "2026-03-02T02:17:43Z",
    "2026-03-02T02:19:07Z",
];

/// Values of another patient that must survive the erasure.
const KEPT_VALUES: [&str; 10] = [
    "qr_bystander_0417",
    "13987654321",
    "张建国",
    "I10.X",
    "原发性高血压",
    "硝苯地平片",
    "头晕血压偏高两周0417",
    "挂号排队太久0417",
    "环境整洁0417",
    "2026-03-02T02:22:11Z",
];

/// The victim's intake answers, complaint, note, feedback comment and roster instants,
/// by name, from [`ERASED_VALUES`].
const SYMPTOMS: &str = ERASED_VALUES[8];
const HISTORY: &str = ERASED_VALUES[9];
const COMPLAINT_WORDS: &str = ERASED_VALUES[10];
const COMPLAINT_NOTE: &str = ERASED_VALUES[11];
const FEEDBACK_WORDS: &str = ERASED_VALUES[12];

/// The clinics whose books hold intake answers, the victim's complaint and feedback, and
/// the lecture both patients registered for.
const CLINICS: [ClinicId; 2] = [ClinicId::new(1), ClinicId::new(2)];
const VICTIM_COMPLAINT: ComplaintId = ComplaintId::new(1);
const BYSTANDER_COMPLAINT: ComplaintId = ComplaintId::new(2);
const LECTURE: OutreachEventId = OutreachEventId::new(1);

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
    for clinic in CLINICS {
        let book = must(ports.appointments().get_book(clinic), "get book")
            .unwrap_or_else(|| panic!("the book of {clinic} is kept, without answers"));
        assert!(
            book.value.of_patient(VICTIM).count() > 0,
            "the erased patient's bookings are kept"
        );
        assert!(
            book.value.of_patient(VICTIM).all(|b| b.intake.is_none()),
            "intake answers survived the erasure in the book of {clinic}"
        );
    }
    let [first, _] = CLINICS;
    let book = must(ports.appointments().get_book(first), "get book");
    assert!(
        book.is_some_and(|b| b.value.of_patient(BYSTANDER).all(|b| b.intake.is_some())),
        "the bystander's intake answers were erased too"
    );
    let c = must(
        ports.feedback().get_complaint(VICTIM_COMPLAINT),
        "complaint",
    )
    .unwrap_or_else(|| panic!("the erased patient's complaint is kept, without words"));
    assert!(
        c.value.opened.comment.is_none() && c.value.notes.is_empty(),
        "a complaint's words or notes survived the erasure"
    );
    assert_eq!(
        c.value.status,
        crate::feedback::ComplaintStatus::Resolved,
        "the complaint's status is kept for the metrics"
    );
    let c = must(
        ports.feedback().get_complaint(BYSTANDER_COMPLAINT),
        "complaint",
    );
    assert!(
        c.is_some_and(|c| c.value.opened.comment.is_some()),
        "the bystander's complaint was erased too"
    );
    let all = must(ports.feedback().feedback_page(None, 1_000), "feedback");
    assert!(
        all.iter().any(|f| f.patient == VICTIM),
        "the erased patient's scores are kept"
    );
    for f in &all {
        assert_eq!(
            f.comment.is_some(),
            f.patient == BYSTANDER,
            "feedback {}: the erased patient's comments go, the bystander's stay",
            f.id
        );
    }
    let roster = must(ports.outreach_events().get(LECTURE), "roster")
        .unwrap_or_else(|| panic!("the lecture's roster is kept"));
    let seated: Vec<PatientId> = roster.value.seats().keys().copied().collect();
    assert_eq!(
        seated,
        vec![BYSTANDER],
        "roster seats: the erased patient's must go, the bystander's stay"
    );
}

/// The versions of the victim's complaint, the lecture's roster and every book: a second
/// erasure must leave them as they are.
fn versions<S: PersonalDataPorts + ?Sized>(ports: &mut S) -> Vec<Option<Version>> {
    let mut out: Vec<Option<Version>> = CLINICS
        .iter()
        .map(|&c| must(ports.appointments().get_book(c), "book").map(|v| v.version))
        .collect();
    out.push(
        must(
            ports.feedback().get_complaint(VICTIM_COMPLAINT),
            "complaint",
        )
        .map(|v| v.version),
    );
    out.push(must(ports.outreach_events().get(LECTURE), "roster").map(|v| v.version));
    out
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
    let before = versions(store);
    let again = must(
        erase_patient(store, VICTIM, scenario_now(), cal, 5),
        "again",
    );
    assert_eq!(first, again, "a second erasure wrote something");
    assert_eq!(
        before,
        versions(store),
        "a second erasure committed to a book, complaint or roster"
    );
    assert_eq!(
        must(store.feedback().erase_feedback_comments(VICTIM), "again"),
        0,
        "a second erasure rewrote feedback"
    );
    let [_, _, _, _, code, condition, ..] = ERASED_VALUES;
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
mod tests;
