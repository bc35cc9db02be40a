//! Appointments.
//!
//! Targets (issue 18): 1,000,000 bookings decided (and applied) against a schedule of 200
//! doctors in under 1 s; reminders for 100,000 bookings planned in under 200 ms. Schedules,
//! commands and patients are built outside the timed part.

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use clinic_ops::appointment::{
    self, AppointmentBook, AppointmentCommand, DoctorSchedule, Guarantee, NoShowPolicy,
    ReminderPolicy, Schedule, WorkingHours, plan_tasks,
};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{AppointmentId, ClinicId, DoctorId, PatientId};
use clinic_ops::patient::{self, ConsentGiver, ConsentPurpose, Label, Patient, PatientCommand};
use clinic_ops::testkit::patient_store::registration;

const CAL: ClinicCalendar = ClinicCalendar::CHINA;
const DOCTORS: u64 = 200;
/// 15-minute slots from 08:00 to 18:00: 40 a day.
const SLOTS_A_DAY: u64 = 40;

/// Monday 2027-01-04 00:00 local.
fn day0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 3, 16, 0, 0).unwrap()
}

fn schedule() -> Schedule {
    let hours: Vec<WorkingHours> = [
        chrono::Weekday::Mon,
        chrono::Weekday::Tue,
        chrono::Weekday::Wed,
        chrono::Weekday::Thu,
        chrono::Weekday::Fri,
        chrono::Weekday::Sat,
        chrono::Weekday::Sun,
    ]
    .into_iter()
    .map(|weekday| WorkingHours {
        weekday,
        start: chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        end: chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
    })
    .collect();
    let doctors = (1..=DOCTORS)
        .map(|d| DoctorSchedule {
            doctor: DoctorId::new(d),
            slot_minutes: 15,
            capacity: 1,
            hours: hours.clone(),
        })
        .collect();
    Schedule::new(ClinicId::new(1), doctors, Default::default()).unwrap()
}

/// Booking `i`: doctor `i % 200`, the next slot of that doctor, patient `i % patients`
/// (each patient's bookings fall on different slots, so none is refused).
fn command(i: u64, patients: u64) -> AppointmentCommand {
    let slot = i / DOCTORS;
    let start = day0()
        + Duration::days((slot / SLOTS_A_DAY) as i64)
        + Duration::minutes(8 * 60 + 15 * (slot % SLOTS_A_DAY) as i64);
    AppointmentCommand::Book {
        id: AppointmentId::new(i + 1),
        patient: PatientId::new(i % patients + 1),
        doctor: DoctorId::new(i % DOCTORS + 1),
        start,
        first_visit: i < patients,
        guarantee: Guarantee::None,
    }
}

fn book(n: u64, patients: u64) -> AppointmentBook {
    let s = schedule();
    let policy = NoShowPolicy::default();
    let now = day0() - Duration::days(1);
    let mut b = AppointmentBook::new(ClinicId::new(1));
    for i in 0..n {
        let ev = appointment::decide(&b, &s, &policy, &command(i, patients), now, CAL).unwrap();
        for e in &ev {
            appointment::apply(&mut b, e);
        }
    }
    b
}

fn patient(n: u64) -> Patient {
    let id = PatientId::new(n);
    let at = day0() - Duration::days(30);
    let mut p = None;
    for c in [
        PatientCommand::Register(registration(n)),
        PatientCommand::GrantConsent {
            purpose: ConsentPurpose::CareReminder,
            source: Label::parse("form").unwrap(),
            policy_version: Label::parse("v1").unwrap(),
            given_by: ConsentGiver::Patient,
        },
    ] {
        for e in patient::decide(p.as_ref(), id, &c, at, CAL).unwrap() {
            patient::apply(&mut p, &e);
        }
    }
    p.unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("appointment");
    g.sample_size(10);
    let s = schedule();
    let policy = NoShowPolicy::default();
    let now = day0() - Duration::days(1);
    let n = 1_000_000u64;
    let patients = 200_000u64;
    let commands: Vec<AppointmentCommand> = (0..n).map(|i| command(i, patients)).collect();
    g.bench_function("decide_and_apply_1m_bookings_200_doctors", |bch| {
        bch.iter(|| {
            let mut b = AppointmentBook::new(ClinicId::new(1));
            for cmd in &commands {
                if let Ok(ev) = appointment::decide(&b, &s, &policy, cmd, now, CAL) {
                    for e in &ev {
                        appointment::apply(&mut b, e);
                    }
                }
            }
            assert_eq!(b.len(), n as usize);
            black_box(b)
        })
    });
    // 100,000 bookings of 20,000 patients (5 each).
    let pats = 20_000u64;
    let b = book(100_000, pats);
    let people: Vec<Patient> = (1..=pats).map(patient).collect();
    let reminders = ReminderPolicy::default();
    g.bench_function("plan_reminders_100k_bookings", |bch| {
        bch.iter(|| {
            let mut tasks = 0usize;
            for p in &people {
                tasks += plan_tasks(&b, p, &reminders, now, CAL).len();
            }
            assert!(tasks >= 100_000);
            black_box(tasks)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
