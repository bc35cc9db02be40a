//! Conformance scenarios for [`AppointmentStore`] and [`FeedbackStore`], including the race
//! in which several tills book the last place of one slot.

use chrono::{DateTime, Utc};
use std::sync::Barrier;

use super::{Factory, minutes, must, scenario_now};
use crate::appointment::{
    self, AppointmentCommand, AppointmentError, BookingStatus, Guarantee, NoShowPolicy, Schedule,
};
use crate::calendar::ClinicCalendar;
use crate::feedback::{
    self, Category, Comment, ComplaintCommand, ComplaintStatus, Feedback, NewComplaint, Severity,
    SlaPolicy,
};
use crate::id::{
    AppointmentId, ClinicId, ComplaintId, DoctorId, FeedbackId, PatientId, StaffId, VisitId,
};
use crate::metrics::satisfaction::NpsScore;
use crate::store::{AppointmentStore, FeedbackStore, StoreError};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

/// Runs every appointment scenario, each on a fresh store.
pub fn run_all<S: AppointmentStore + Send>(factory: &impl Factory<S>) {
    book_and_get(&mut factory.fresh());
    stale_book_version_conflicts(&mut factory.fresh());
    racing_tills_book_the_last_place_once(factory, 4);
}

/// Runs every feedback scenario, each on a fresh store.
pub fn run_all_feedback<S: FeedbackStore>(factory: &impl Factory<S>) {
    complaint_round_trip(&mut factory.fresh());
    feedback_appends_are_idempotent(&mut factory.fresh());
}

/// Doctor 1 of clinic 1: 30-minute slots with `capacity` places, 09:00–12:00 on weekdays.
pub fn sample_schedule(capacity: u16) -> Schedule {
    let json = format!(
        r#"{{"clinic": 1, "doctors": [{{"doctor": 1, "slot_minutes": 30, "capacity": {capacity},
          "hours": [{{"weekday": "Mon", "start": "09:00:00", "end": "12:00:00"}},
                    {{"weekday": "Tue", "start": "09:00:00", "end": "12:00:00"}},
                    {{"weekday": "Wed", "start": "09:00:00", "end": "12:00:00"}},
                    {{"weekday": "Thu", "start": "09:00:00", "end": "12:00:00"}},
                    {{"weekday": "Fri", "start": "09:00:00", "end": "12:00:00"}}]}}]}}"#
    );
    must(serde_json::from_str(&json), "sample schedule")
}

/// Tuesday 2026-03-03 09:00 in the clinic: a slot of [`sample_schedule`] the day after
/// [`scenario_now`].
pub fn sample_slot() -> DateTime<Utc> {
    minutes(23 * 60)
}

fn book(id: u64, patient: u64) -> AppointmentCommand {
    AppointmentCommand::Book {
        id: AppointmentId::new(id),
        patient: PatientId::new(patient),
        doctor: DoctorId::new(1),
        start: sample_slot(),
        first_visit: true,
        guarantee: Guarantee::None,
    }
}

fn decide(
    book_state: &crate::appointment::AppointmentBook,
    schedule: &Schedule,
    cmd: &AppointmentCommand,
) -> Result<Vec<appointment::AppointmentEvent>, AppointmentError> {
    appointment::decide(
        book_state,
        schedule,
        &NoShowPolicy::default(),
        cmd,
        scenario_now(),
        CAL,
    )
}

/// A booking committed to a new book reads back with its version; a check-in after it too.
pub fn book_and_get<S: AppointmentStore>(store: &mut S) {
    let c = ClinicId::new(1);
    let s = sample_schedule(2);
    assert!(
        must(store.get_book(c), "get").is_none(),
        "a fresh store holds no book"
    );
    let empty = appointment::AppointmentBook::new(c);
    let ev = must(decide(&empty, &s, &book(1, 1)), "book");
    let v1 = must(store.commit_book(c, None, &ev), "commit");
    let got = must(store.get_book(c), "get").expect("stored book");
    assert_eq!(got.version, v1);
    let b = got.value.get(AppointmentId::new(1)).expect("the booking");
    assert_eq!(
        (b.status.clone(), b.start),
        (BookingStatus::Booked, sample_slot())
    );
    let ev = vec![appointment::AppointmentEvent::CheckedIn {
        id: AppointmentId::new(1),
        at: sample_slot(),
    }];
    let v2 = must(store.commit_book(c, Some(v1), &ev), "check in");
    let got = must(store.get_book(c), "get").expect("stored book");
    assert_eq!(got.version, v2);
    assert!(matches!(
        got.value.get(AppointmentId::new(1)).map(|b| &b.status),
        Some(BookingStatus::CheckedIn { .. })
    ));
    // An empty commit writes nothing and keeps the version.
    assert_eq!(must(store.commit_book(c, Some(v2), &[]), "empty"), v2);
    assert!(matches!(
        store.commit_book(ClinicId::new(9), None, &[]),
        Err(StoreError::NotFound { .. })
    ));
}

/// A commit from a stale version is refused with both versions, and writes nothing.
pub fn stale_book_version_conflicts<S: AppointmentStore>(store: &mut S) {
    let c = ClinicId::new(1);
    let s = sample_schedule(2);
    let empty = appointment::AppointmentBook::new(c);
    let v1 = must(
        store.commit_book(c, None, &must(decide(&empty, &s, &book(1, 1)), "book")),
        "commit",
    );
    let again = store.commit_book(c, None, &must(decide(&empty, &s, &book(2, 2)), "book"));
    match again {
        Err(StoreError::Conflict { expected, actual }) => {
            assert_eq!((expected, actual), (None, Some(v1)));
        }
        other => panic!("a stale commit must conflict, got {other:?}"),
    }
    let got = must(store.get_book(c), "get").expect("stored");
    assert_eq!(got.value.len(), 1, "the conflicting commit wrote nothing");
}

/// Several tills, each with its own handle, book the last place of one slot at once,
/// retrying on conflict: exactly one wins, every other gets
/// [`AppointmentError::SlotFull`], and the slot holds exactly its capacity.
pub fn racing_tills_book_the_last_place_once<S: AppointmentStore + Send>(
    factory: &impl Factory<S>,
    tills: usize,
) {
    let mut store = factory.fresh();
    let c = ClinicId::new(1);
    let s = sample_schedule(2);
    // One place taken already: one is left.
    let empty = appointment::AppointmentBook::new(c);
    must(
        store.commit_book(c, None, &must(decide(&empty, &s, &book(1, 1)), "book")),
        "first booking",
    );
    let barrier = Barrier::new(tills);
    let results: Vec<Result<(), AppointmentError>> = std::thread::scope(|sc| {
        let joins: Vec<_> = (0..tills)
            .map(|t| {
                let mut h = factory.handle(&store);
                let (s, barrier) = (&s, &barrier);
                sc.spawn(move || {
                    let cmd = book(100 + t as u64, 100 + t as u64);
                    barrier.wait();
                    for _ in 0..10_000 {
                        let cur = h.get_book(c).expect("get").expect("stored");
                        let ev = decide(&cur.value, s, &cmd)?;
                        match h.commit_book(c, Some(cur.version), &ev) {
                            Ok(_) => return Ok(()),
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("unexpected store error in the race: {e}"),
                        }
                    }
                    panic!("a till never got through");
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().expect("thread"))
            .collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "exactly one till books the last place");
    for r in &results {
        if let Err(e) = r {
            assert!(
                matches!(e, AppointmentError::SlotFull { capacity: 2, .. }),
                "a losing till must get SlotFull, got {e}"
            );
        }
    }
    let end = must(store.get_book(c), "get").expect("stored");
    assert_eq!(end.value.taken(DoctorId::new(1), sample_slot()), 2);
    let placed = end
        .value
        .bookings()
        .filter(|b| b.start == sample_slot() && b.status.holds_place())
        .count();
    assert_eq!(placed, 2, "nothing is double-booked");
}

fn sample_complaint(id: u64) -> NewComplaint {
    NewComplaint {
        id: ComplaintId::new(id),
        patient: PatientId::new(1),
        clinic: ClinicId::new(1),
        doctor: Some(DoctorId::new(1)),
        visit: Some(VisitId::new(1)),
        feedback: None,
        category: Category::WaitingTime,
        severity: Severity::Medium,
        owner: StaffId::new(1),
        comment: Comment::parse("等了两个小时").ok(),
    }
}

/// A complaint opened, acknowledged and resolved reads back at each version; a stale commit
/// conflicts; the scan pages in id order.
pub fn complaint_round_trip<S: FeedbackStore>(store: &mut S) {
    let policy = SlaPolicy::default();
    let mut ids = vec![];
    for id in [3u64, 1, 2] {
        let cid = ComplaintId::new(id);
        let ev = must(
            feedback::decide(
                None,
                &ComplaintCommand::Open(sample_complaint(id)),
                &policy,
                scenario_now(),
                CAL,
            ),
            "open",
        );
        must(store.commit_complaint(cid, None, &ev), "commit open");
        ids.push(cid);
    }
    let cid = ComplaintId::new(1);
    let cur = must(store.get_complaint(cid), "get").expect("stored");
    let ev = must(
        feedback::decide(
            Some(&cur.value),
            &ComplaintCommand::Acknowledge,
            &policy,
            minutes(30),
            CAL,
        ),
        "acknowledge",
    );
    let v2 = must(
        store.commit_complaint(cid, Some(cur.version), &ev),
        "commit ack",
    );
    assert!(matches!(
        store.commit_complaint(cid, Some(cur.version), &ev),
        Err(StoreError::Conflict { .. })
    ));
    let got = must(store.get_complaint(cid), "get").expect("stored");
    assert_eq!(
        (got.version, got.value.status),
        (v2, ComplaintStatus::Acknowledged)
    );
    assert_eq!(
        got.value.notes.first().map(Comment::as_str),
        Some("等了两个小时")
    );
    let page = must(store.scan_complaints(None, 2), "scan");
    let order: Vec<u64> = page.iter().map(|c| c.value.opened.id.get()).collect();
    assert_eq!(order, vec![1, 2]);
    let rest = must(store.scan_complaints(Some(ComplaintId::new(2)), 10), "scan");
    assert_eq!(rest.len(), 1);
}

fn sample_feedback(id: u64, score: i64) -> Feedback {
    Feedback {
        id: FeedbackId::new(id),
        patient: PatientId::new(1),
        visit: VisitId::new(id),
        doctor: DoctorId::new(1),
        clinic: ClinicId::new(1),
        score: NpsScore::new(score).unwrap_or_else(|e| panic!("{e}")),
        csat: None,
        comment: None,
        at: scenario_now(),
    }
}

/// Appending feedback again is a no-op; the same id with another score is a record
/// conflict, and the batch holding it writes nothing.
pub fn feedback_appends_are_idempotent<S: FeedbackStore>(store: &mut S) {
    let batch = [sample_feedback(2, 9), sample_feedback(1, 3)];
    assert_eq!(must(store.append_feedback(&batch), "append"), 2);
    assert_eq!(must(store.append_feedback(&batch), "append again"), 0);
    let bad = [sample_feedback(3, 10), sample_feedback(1, 4)];
    assert!(matches!(
        store.append_feedback(&bad),
        Err(StoreError::RecordConflict {
            what: "feedback",
            ..
        })
    ));
    let all = must(store.feedback_page(None, 10), "page");
    let ids: Vec<u64> = all.iter().map(|f| f.id.get()).collect();
    assert_eq!(ids, vec![1, 2], "the conflicting batch wrote nothing");
    assert_eq!(all.first(), batch.get(1));
}
