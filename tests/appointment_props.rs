//! Property tests for appointments: a state-machine test of the booking book against a
//! simple model (no slot over capacity, no patient in two places at once, every reminder
//! cancelled with its booking), and reminders never in quiet hours nor without care consent.

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

use clinic_ops::appointment::{
    self, AppointmentBook, AppointmentCommand, AppointmentError, BookingStatus, CancelledBy,
    Guarantee, NoShowPolicy, ReminderOffset, ReminderPolicy, Requirement, Schedule,
    cancelled_reminders, plan_tasks,
};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::followup::{
    self, FollowUpEvent, FollowUpHistory, QuietHours, Reason, TaskChannel, TaskKind,
};
use clinic_ops::id::{AppointmentId, ClinicId, DoctorId, PatientId};
use clinic_ops::patient::{self, ConsentGiver, ConsentPurpose, Label, Patient, PatientCommand};
use clinic_ops::testkit::patient_store::registration;

const CAL: ClinicCalendar = ClinicCalendar::CHINA;
const PATIENTS: u64 = 5;

/// Monday 2026-11-23 00:00 local.
fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 16, 0, 0).unwrap()
}

/// Doctor 1: 30-minute slots of 2, 09:00–11:00; doctor 2: 60-minute slots of 1,
/// 09:00–11:00, Monday to Wednesday; Tuesday closed.
fn schedule() -> Schedule {
    serde_json::from_str(
        r#"{"clinic": 1, "closed_days": ["2026-11-24"], "doctors": [
          {"doctor": 1, "slot_minutes": 30, "capacity": 2, "hours": [
            {"weekday": "Mon", "start": "09:00:00", "end": "11:00:00"},
            {"weekday": "Wed", "start": "09:00:00", "end": "11:00:00"}]},
          {"doctor": 2, "slot_minutes": 60, "capacity": 1, "hours": [
            {"weekday": "Mon", "start": "09:00:00", "end": "11:00:00"},
            {"weekday": "Wed", "start": "09:00:00", "end": "11:00:00"}]}]}"#,
    )
    .unwrap()
}

fn patient(n: u64, consent: bool) -> Patient {
    let id = PatientId::new(n);
    let at = monday() - Duration::days(30);
    let mut p = None;
    let mut cmds = vec![PatientCommand::Register(registration(n))];
    if consent {
        cmds.push(PatientCommand::GrantConsent {
            purpose: ConsentPurpose::CareReminder,
            source: Label::parse("form").unwrap(),
            policy_version: Label::parse("v1").unwrap(),
            given_by: ConsentGiver::Patient,
        });
    }
    for c in cmds {
        for e in patient::decide(p.as_ref(), id, &c, at, CAL).unwrap() {
            patient::apply(&mut p, &e);
        }
    }
    p.unwrap()
}

/// A candidate start: day 0 (Mon), 1 (Tue, closed), 2 (Wed); minute 0..=150 from 08:30 in
/// 15-minute steps (some off the grid, some outside hours).
fn start_of(day: u8, step: u8) -> DateTime<Utc> {
    monday()
        + Duration::days(i64::from(day % 3))
        + Duration::minutes(8 * 60 + 30 + 15 * i64::from(step % 11))
}

#[derive(Debug, Clone)]
enum Op {
    Book {
        patient: u64,
        doctor: u64,
        day: u8,
        step: u8,
        first: bool,
        confirmed: bool,
    },
    Reschedule {
        pick: usize,
        doctor: u64,
        day: u8,
        step: u8,
    },
    Cancel {
        pick: usize,
        by_clinic: bool,
    },
    CheckIn {
        pick: usize,
    },
    NoShow {
        pick: usize,
    },
    Complete {
        pick: usize,
    },
    Wait {
        minutes: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..=PATIENTS, 1u64..=3, 0u8..3, 0u8..11, any::<bool>(), any::<bool>()).prop_map(
            |(patient, doctor, day, step, first, confirmed)| Op::Book { patient, doctor, day, step, first, confirmed }
        ),
        1 => (any::<usize>(), 1u64..=2, 0u8..3, 0u8..11).prop_map(|(pick, doctor, day, step)| Op::Reschedule { pick, doctor, day, step }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, by_clinic)| Op::Cancel { pick, by_clinic }),
        1 => any::<usize>().prop_map(|pick| Op::CheckIn { pick }),
        1 => any::<usize>().prop_map(|pick| Op::NoShow { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Complete { pick }),
        2 => (1u16..900).prop_map(|minutes| Op::Wait { minutes }),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum St {
    Booked,
    In,
    Done,
    Cancelled,
    NoShow,
}

#[derive(Debug, Clone)]
struct M {
    patient: u64,
    doctor: u64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    st: St,
}

/// The model's own slot rule: doctor 1 every 30 minutes, doctor 2 every hour, 09:00–11:00 on
/// Monday and Wednesday.
fn model_slot(doctor: u64, start: DateTime<Utc>) -> Option<(DateTime<Utc>, u16)> {
    let day = (start - monday()).num_days();
    let min = (start - monday() - Duration::days(day)).num_minutes();
    let (len, cap) = match doctor {
        1 => (30, 2),
        2 => (60, 1),
        _ => return None,
    };
    let ok = (day == 0 || day == 2) && min >= 540 && min + len <= 660 && (min - 540) % len == 0;
    ok.then(|| (start + Duration::minutes(len), cap))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn book_matches_a_simple_model(ops in proptest::collection::vec(op(), 1..60)) {
        let s = schedule();
        let policy = NoShowPolicy::new(1, 90, Requirement::Confirmation, 15).unwrap();
        let reminders = ReminderPolicy::default();
        let patients: BTreeMap<u64, Patient> = (1..=PATIENTS).map(|n| (n, patient(n, n != 5))).collect();
        let mut histories: BTreeMap<u64, FollowUpHistory> =
            (1..=PATIENTS).map(|n| (n, FollowUpHistory::new(PatientId::new(n)))).collect();
        let mut book = AppointmentBook::new(ClinicId::new(1));
        let mut model: BTreeMap<u64, M> = BTreeMap::new();
        let mut now = monday() - Duration::days(2) + Duration::hours(10);
        let mut next_id = 1u64;
        for op in ops {
            let ids: Vec<u64> = model.keys().copied().collect();
            let pick = |p: usize| ids.get(p % ids.len().max(1)).copied().unwrap_or(999);
            let (cmd, expect): (Option<AppointmentCommand>, bool) = match op {
                Op::Wait { minutes } => {
                    now += Duration::minutes(i64::from(minutes));
                    (None, true)
                }
                Op::Book { patient, doctor, day, step, first, confirmed } => {
                    let start = start_of(day, step);
                    let id = next_id;
                    next_id += 1;
                    let ok = model_slot(doctor, start).is_some_and(|(end, cap)| {
                        let taken = model.values().filter(|m| m.doctor == doctor && m.start == start && m.st != St::Cancelled).count();
                        let clash = model.values().any(|m| m.patient == patient && matches!(m.st, St::Booked | St::In) && m.start < end && start < m.end);
                        let no_shows = model.values().filter(|m| m.patient == patient && m.st == St::NoShow && m.start > now - Duration::days(90) && m.start <= now).count();
                        start > now && taken < usize::from(cap) && !clash && (no_shows < 1 || confirmed)
                    });
                    if ok {
                        let (end, _) = model_slot(doctor, start).unwrap();
                        model.insert(id, M { patient, doctor, start, end, st: St::Booked });
                    }
                    (Some(AppointmentCommand::Book {
                        id: AppointmentId::new(id),
                        patient: PatientId::new(patient),
                        doctor: DoctorId::new(doctor),
                        start,
                        first_visit: first,
                        guarantee: if confirmed { Guarantee::Confirmed } else { Guarantee::None },
                    }), ok)
                }
                Op::Reschedule { pick: p, doctor, day, step } => {
                    let id = pick(p);
                    let start = start_of(day, step);
                    let ok = model.get(&id).is_some_and(|m| m.st == St::Booked) && {
                        let m = &model[&id];
                        let same = m.doctor == doctor && m.start == start;
                        same || model_slot(doctor, start).is_some_and(|(end, cap)| {
                            let taken = model.values().filter(|o| o.doctor == doctor && o.start == start && o.st != St::Cancelled).count();
                            let clash = model.iter().any(|(oid, o)| *oid != id && o.patient == m.patient && matches!(o.st, St::Booked | St::In) && o.start < end && start < o.end);
                            start > now && taken < usize::from(cap) && !clash
                        })
                    };
                    if ok && let Some((end, _)) = model_slot(doctor, start) {
                        let m = model.get_mut(&id).unwrap();
                        m.doctor = doctor;
                        m.start = start;
                        m.end = end;
                    }
                    (Some(AppointmentCommand::Reschedule { id: AppointmentId::new(id), doctor: Some(DoctorId::new(doctor)), start }), ok)
                }
                Op::Cancel { pick: p, by_clinic } => {
                    let id = pick(p);
                    let ok = model.get(&id).is_some_and(|m| m.st == St::Booked);
                    if ok { model.get_mut(&id).unwrap().st = St::Cancelled; }
                    (Some(AppointmentCommand::Cancel {
                        id: AppointmentId::new(id),
                        by: if by_clinic { CancelledBy::Clinic } else { CancelledBy::Patient },
                        reason: Label::parse("reason").unwrap(),
                    }), ok)
                }
                Op::CheckIn { pick: p } => {
                    let id = pick(p);
                    let ok = model.get(&id).is_some_and(|m| m.st == St::Booked);
                    if ok { model.get_mut(&id).unwrap().st = St::In; }
                    (Some(AppointmentCommand::CheckIn { id: AppointmentId::new(id) }), ok)
                }
                Op::NoShow { pick: p } => {
                    let id = pick(p);
                    let ok = model.get(&id).is_some_and(|m| m.st == St::Booked && now >= m.start + Duration::minutes(15));
                    if ok { model.get_mut(&id).unwrap().st = St::NoShow; }
                    (Some(AppointmentCommand::MarkNoShow { id: AppointmentId::new(id) }), ok)
                }
                Op::Complete { pick: p } => {
                    let id = pick(p);
                    let ok = model.get(&id).is_some_and(|m| m.st == St::In);
                    if ok { model.get_mut(&id).unwrap().st = St::Done; }
                    (Some(AppointmentCommand::Complete { id: AppointmentId::new(id) }), ok)
                }
            };
            if let Some(cmd) = cmd {
                let got = appointment::decide(&book, &s, &policy, &cmd, now, CAL);
                prop_assert_eq!(got.is_ok(), expect, "{:?} at {} gave {:?}", cmd, now, got);
                if let Err(e) = &got {
                    // Every refusal names an appointment.
                    prop_assert!(e.to_string().starts_with("appointment A"), "{}", e);
                    prop_assert!(!matches!(e, AppointmentError::Calendar(_)));
                }
                for e in got.unwrap_or_default() {
                    appointment::apply(&mut book, &e);
                }
            }
            // The book agrees with the model.
            prop_assert_eq!(book.len(), model.len());
            for (id, m) in &model {
                let b = book.get(AppointmentId::new(*id)).unwrap();
                let st = match b.status {
                    BookingStatus::Booked => St::Booked,
                    BookingStatus::CheckedIn { .. } => St::In,
                    BookingStatus::Completed { .. } => St::Done,
                    BookingStatus::Cancelled { .. } => St::Cancelled,
                    BookingStatus::NoShow { .. } => St::NoShow,
                    _ => unreachable!(),
                };
                prop_assert_eq!((b.doctor.get(), b.start, st), (m.doctor, m.start, m.st));
            }
            // No slot over capacity.
            for b in book.bookings() {
                let cap = model_slot(b.doctor.get(), b.start).map(|(_, c)| c).unwrap_or(0);
                prop_assert!(book.taken(b.doctor, b.start) <= cap);
            }
            // No patient in two places at once.
            let live: Vec<_> = book.bookings().filter(|b| b.status.is_live()).collect();
            for a in &live {
                for b in &live {
                    prop_assert!(a.id == b.id || a.patient != b.patient || a.end <= b.start || b.end <= a.start);
                }
            }
            // Reminders: plan, store, then cancel those of bookings no longer booked.
            for (n, h) in histories.iter_mut() {
                let p = &patients[n];
                for t in plan_tasks(&book, p, &reminders, now, CAL) {
                    prop_assert!(!reminders.quiet_hours().contains(CAL.local_time(t.due_at.unwrap())));
                    if h.get(t.id).is_none() {
                        followup::apply(h, &FollowUpEvent::TaskPlanned(t));
                    }
                }
                for e in cancelled_reminders(h, &book, now, CAL) {
                    followup::apply(h, &e);
                }
                prop_assert!(cancelled_reminders(h, &book, now, CAL).is_empty());
                // Every open reminder belongs to a booking still booked at that slot.
                for r in h.tasks().filter(|r| r.outcome.is_none() && r.task.kind == TaskKind::AppointmentReminder) {
                    let Reason::Appointment { appointment, subject, .. } = &r.task.reason else {
                        panic!("reminder without an appointment reason");
                    };
                    let b = book.get(*appointment).unwrap();
                    prop_assert_eq!(&b.status, &BookingStatus::Booked);
                    prop_assert_eq!(subject, &appointment::appointment_subject(b, CAL));
                }
                // Patient 5 never consented: nothing is ever planned for them.
                if *n == 5 {
                    prop_assert!(h.is_empty());
                }
            }
        }
    }

    #[test]
    fn reminders_never_in_quiet_hours_nor_without_consent(
        qs in 0u32..24, qe in 0u32..24,
        day_before in 0u32..24, before in 1u32..3000,
        day in 0i64..3, minute in 0i64..(24 * 60),
        since in 0i64..(3 * 24 * 60),
        consent in any::<bool>(), first in any::<bool>(),
    ) {
        prop_assume!(qs != qe);
        let quiet = QuietHours::new(NaiveTime::from_hms_opt(qs, 0, 0).unwrap(), NaiveTime::from_hms_opt(qe, 0, 0).unwrap()).unwrap();
        let policy = ReminderPolicy::new(
            vec![
                ReminderOffset::DayBeforeAt { time: NaiveTime::from_hms_opt(day_before, 0, 0).unwrap() },
                ReminderOffset::Before { minutes: before },
            ],
            quiet, TaskChannel::WechatMessage, 48, 2, 24,
        ).unwrap();
        // A schedule open all day, every day, in 15-minute slots.
        let s: Schedule = serde_json::from_str(r#"{"clinic":1,"doctors":[{"doctor":1,"slot_minutes":15,"capacity":1,"hours":[
            {"weekday":"Mon","start":"00:00:00","end":"23:45:00"},{"weekday":"Tue","start":"00:00:00","end":"23:45:00"},
            {"weekday":"Wed","start":"00:00:00","end":"23:45:00"},{"weekday":"Thu","start":"00:00:00","end":"23:45:00"}]}]}"#).unwrap();
        let start = monday() + Duration::days(day) + Duration::minutes(minute / 15 * 15);
        let booked_at = monday() - Duration::days(3);
        let mut book = AppointmentBook::new(ClinicId::new(1));
        let cmd = AppointmentCommand::Book { id: AppointmentId::new(1), patient: PatientId::new(1), doctor: DoctorId::new(1), start, first_visit: first, guarantee: Guarantee::None };
        let Ok(events) = appointment::decide(&book, &s, &NoShowPolicy::default(), &cmd, booked_at, CAL) else {
            return Err(TestCaseError::reject("slot off the schedule"));
        };
        for e in &events { appointment::apply(&mut book, e); }
        let now = booked_at + Duration::minutes(since);
        let p = patient(1, consent);
        let tasks = plan_tasks(&book, &p, &policy, now, CAL);
        if !consent {
            prop_assert!(tasks.is_empty());
        }
        for t in &tasks {
            let due = t.due_at.unwrap();
            prop_assert!(!quiet.contains(CAL.local_time(due)), "{} in quiet hours", due);
            prop_assert!(due >= now && due < start);
            prop_assert_eq!(t.purpose, ConsentPurpose::CareReminder);
        }
        // Planning twice gives the same tasks.
        prop_assert_eq!(plan_tasks(&book, &p, &policy, now, CAL), tasks);
    }
}
