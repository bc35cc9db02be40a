//! Unit tests of the appointment book, schedule and reminders.

use chrono::{DateTime, NaiveTime, TimeZone, Utc};

use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::{AppointmentId, ClinicId, DoctorId, PatientId};
use crate::text::Label;

fn cal() -> ClinicCalendar {
    ClinicCalendar::default()
}

/// Local (UTC+8) wall time on a day of November 2026.
fn local(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap() - chrono::Duration::hours(8)
}

fn schedule(capacity: u16) -> Schedule {
    serde_json::from_str(&format!(
        r#"{{"clinic": 1, "closed_days": ["2026-11-25"],
           "doctors": [{{"doctor": 7, "slot_minutes": 30, "capacity": {capacity},
             "hours": [{{"weekday": "Mon", "start": "09:00:00", "end": "12:00:00"}},
                       {{"weekday": "Wed", "start": "09:00:00", "end": "12:00:00"}},
                       {{"weekday": "Mon", "start": "14:00:00", "end": "17:00:00"}}]}}]}}"#
    ))
    .unwrap()
}

fn book_cmd(id: u64, patient: u64, start: DateTime<Utc>) -> AppointmentCommand {
    AppointmentCommand::Book {
        id: AppointmentId::new(id),
        patient: PatientId::new(patient),
        doctor: DoctorId::new(7),
        start,
        first_visit: false,
        guarantee: Guarantee::None,
    }
}

fn run(
    book: &mut AppointmentBook,
    s: &Schedule,
    cmd: &AppointmentCommand,
    now: DateTime<Utc>,
) -> Result<(), AppointmentError> {
    for e in decide(book, s, &NoShowPolicy::default(), cmd, now, cal())? {
        apply(book, &e);
    }
    Ok(())
}

#[test]
fn schedules_are_refused_with_the_json_path() {
    let bad = |json: &str| {
        serde_json::from_str::<Schedule>(json)
            .unwrap_err()
            .to_string()
    };
    let zero =
        bad(r#"{"clinic":1,"doctors":[{"doctor":1,"slot_minutes":30,"capacity":0,"hours":[]}]}"#);
    assert!(zero.contains("doctors[0].capacity"), "{zero}");
    let overlap = bad(
        r#"{"clinic":1,"doctors":[{"doctor":1,"slot_minutes":30,"capacity":1,"hours":[
            {"weekday":"Mon","start":"09:00:00","end":"12:00:00"},
            {"weekday":"Mon","start":"11:00:00","end":"13:00:00"}]}]}"#,
    );
    assert!(overlap.contains("doctors[0].hours[1]"), "{overlap}");
    assert!(overlap.contains("overlaps"), "{overlap}");
    let twice = bad(
        r#"{"clinic":1,"doctors":[{"doctor":1,"slot_minutes":30,"capacity":1,"hours":[]},
            {"doctor":1,"slot_minutes":30,"capacity":1,"hours":[]}]}"#,
    );
    assert!(twice.contains("doctors[1].doctor"), "{twice}");
}

#[test]
fn booking_refusals_are_typed() {
    let s = schedule(1);
    let mut b = AppointmentBook::new(ClinicId::new(1));
    let now = local(20, 10, 0); // Friday
    run(&mut b, &s, &book_cmd(1, 1, local(23, 9, 0)), now).unwrap();
    // Full.
    assert!(matches!(
        run(&mut b, &s, &book_cmd(2, 2, local(23, 9, 0)), now),
        Err(AppointmentError::SlotFull { capacity: 1, .. })
    ));
    // Off the grid, outside hours, a closed day, a weekday without hours.
    for (start, why) in [
        (local(23, 9, 10), "not on the slot grid"),
        (local(23, 12, 0), "outside working hours"),
        (local(25, 9, 0), "the clinic is closed that day"),
        (local(24, 9, 0), "no hours that weekday"),
    ] {
        let e = run(&mut b, &s, &book_cmd(3, 3, start), now).unwrap_err();
        assert!(
            matches!(e, AppointmentError::OutsideHours { why: w, .. } if w == why),
            "{e}"
        );
    }
    // In the past.
    assert!(matches!(
        run(&mut b, &s, &book_cmd(3, 3, local(16, 9, 0)), now),
        Err(AppointmentError::InPast { .. })
    ));
    // The same patient in the same slot of another doctor is a double booking; here the same
    // doctor's next slot is fine.
    run(&mut b, &s, &book_cmd(3, 1, local(23, 9, 30)), now).unwrap();
    let mut s2 = schedule(2);
    let e = run(&mut b, &s2, &book_cmd(4, 1, local(23, 9, 0)), now).unwrap_err();
    assert!(
        matches!(e, AppointmentError::DoubleBooking { other, .. } if other == AppointmentId::new(1)),
        "{e}"
    );
    s2 = schedule(2);
    assert!(matches!(
        run(&mut b, &s2, &book_cmd(1, 9, local(23, 10, 0)), now),
        Err(AppointmentError::DuplicateId { .. })
    ));
}

#[test]
fn transitions_refuse_with_the_state() {
    let s = schedule(2);
    let mut b = AppointmentBook::new(ClinicId::new(1));
    let id = AppointmentId::new(1);
    run(
        &mut b,
        &s,
        &book_cmd(1, 1, local(23, 9, 0)),
        local(20, 10, 0),
    )
    .unwrap();
    // A no-show only after the grace period.
    let e = run(
        &mut b,
        &s,
        &AppointmentCommand::MarkNoShow { id },
        local(23, 9, 10),
    )
    .unwrap_err();
    assert!(
        matches!(e, AppointmentError::TooEarlyForNoShow { .. }),
        "{e}"
    );
    // Complete before check-in.
    let e = run(
        &mut b,
        &s,
        &AppointmentCommand::Complete { id },
        local(23, 9, 10),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "appointment A1 is booked: cannot complete");
    run(
        &mut b,
        &s,
        &AppointmentCommand::CheckIn { id },
        local(23, 8, 50),
    )
    .unwrap();
    let e = run(
        &mut b,
        &s,
        &AppointmentCommand::CheckIn { id },
        local(23, 8, 51),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "appointment A1 is checked_in: cannot check in"
    );
    let cancel = AppointmentCommand::Cancel {
        id,
        by: CancelledBy::Patient,
        reason: Label::parse("sick").unwrap(),
    };
    assert!(run(&mut b, &s, &cancel, local(23, 8, 52)).is_err());
    run(
        &mut b,
        &s,
        &AppointmentCommand::Complete { id },
        local(23, 9, 20),
    )
    .unwrap();
    assert!(matches!(
        b.get(id).unwrap().status,
        BookingStatus::Completed { .. }
    ));
}

#[test]
fn no_show_policy_asks_for_a_guarantee() {
    let s = schedule(5);
    let mut b = AppointmentBook::new(ClinicId::new(1));
    for (i, h) in [(1u64, 9u32), (2, 10)] {
        run(&mut b, &s, &book_cmd(i, 1, local(9, h, 0)), local(6, 10, 0)).unwrap();
        run(
            &mut b,
            &s,
            &AppointmentCommand::MarkNoShow {
                id: AppointmentId::new(i),
            },
            local(9, 12, 0),
        )
        .unwrap();
    }
    let e = run(
        &mut b,
        &s,
        &book_cmd(3, 1, local(23, 9, 0)),
        local(20, 10, 0),
    )
    .unwrap_err();
    assert!(
        matches!(e, AppointmentError::GuaranteeRequired { no_shows: 2, .. }),
        "{e}"
    );
    let confirmed = AppointmentCommand::Book {
        id: AppointmentId::new(3),
        patient: PatientId::new(1),
        doctor: DoctorId::new(7),
        start: local(23, 9, 0),
        first_visit: false,
        guarantee: Guarantee::Confirmed,
    };
    run(&mut b, &s, &confirmed, local(20, 10, 0)).unwrap();
}

#[test]
fn book_round_trips_through_serde_with_its_indexes() {
    let s = schedule(1);
    let mut b = AppointmentBook::new(ClinicId::new(1));
    run(
        &mut b,
        &s,
        &book_cmd(1, 1, local(23, 9, 0)),
        local(20, 10, 0),
    )
    .unwrap();
    let back: AppointmentBook = serde_json::from_str(&serde_json::to_string(&b).unwrap()).unwrap();
    assert_eq!(back, b);
    assert_eq!(back.taken(DoctorId::new(7), local(23, 9, 0)), 1);
    assert!(
        run(
            &mut back.clone(),
            &s,
            &book_cmd(2, 2, local(23, 9, 0)),
            local(20, 10, 0)
        )
        .is_err()
    );
}

#[test]
fn reminder_offsets_leave_quiet_hours() {
    let p = ReminderPolicy::default();
    assert_eq!(p.offsets().len(), 2);
    // 2 hours before a 09:00 slot is 07:00, inside quiet hours until 08:00.
    let q = p.quiet_hours();
    assert!(q.contains(NaiveTime::from_hms_opt(7, 0, 0).unwrap()));
    assert_eq!(q.next_allowed(local(23, 7, 0), cal()), local(23, 8, 0));
}

#[test]
fn subject_is_the_local_slot_as_chrono_writes_it() {
    let s = schedule(1);
    let mut b = AppointmentBook::new(ClinicId::new(1));
    run(
        &mut b,
        &s,
        &book_cmd(12, 1, local(23, 9, 30)),
        local(20, 10, 0),
    )
    .unwrap();
    let booking = b.get(AppointmentId::new(12)).unwrap();
    let want = format!(
        "A12@{}",
        cal().local_datetime(booking.start).format("%Y-%m-%dT%H:%M")
    );
    assert_eq!(appointment_subject(booking, cal()), want);
    assert_eq!(want, "A12@2026-11-23T09:30");
    // The policy's serde form round-trips, keys rebuilt.
    let p = ReminderPolicy::default();
    let back: ReminderPolicy = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
    assert_eq!(back, p);
}
