//! A state-machine test of the appointment book's storage and indexes against a simple
//! model: the book keeps its bookings in the order they came (ids in any order) with
//! per-slot and per-patient indexes; the model is one id-ordered map, scanned for every
//! question. Events go straight to `apply` (which never fails), so the sequences reach
//! states `decide` would refuse too: ids out of order, replays, events for unknown ids.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use std::collections::BTreeMap;

use clinic_ops::appointment::{
    self, AppointmentBook, AppointmentEvent, Booking, BookingStatus, CancelledBy, Guarantee,
    IntakeAnswers,
};
use clinic_ops::id::{AppointmentId, ClinicId, DoctorId, PatientId};
use clinic_ops::patient::Label;

const PATIENTS: u64 = 4;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

/// A slot start: one of a few days (one before 1970's day boundary would not matter: whole
/// days from t0), at a quarter-hour of the day, some right before midnight UTC.
fn start_of(day: u8, quarter: u8) -> DateTime<Utc> {
    t0() + Duration::days(i64::from(day % 3)) + Duration::minutes(15 * i64::from(quarter % 96))
}

#[derive(Debug, Clone)]
enum Ev {
    Book {
        id: u64,
        patient: u64,
        doctor: u64,
        day: u8,
        quarter: u8,
    },
    Reschedule {
        id: u64,
        doctor: u64,
        day: u8,
        quarter: u8,
    },
    Cancel {
        id: u64,
    },
    CheckIn {
        id: u64,
    },
    NoShow {
        id: u64,
    },
    Complete {
        id: u64,
    },
    Intake {
        id: u64,
    },
    Erase {
        patient: u64,
    },
}

fn ev() -> impl Strategy<Value = Ev> {
    // Ids from a small range so that transitions and replays hit booked ids.
    let id = 1u64..40;
    prop_oneof![
        5 => (id.clone(), 1..=PATIENTS, 1u64..=3, 0u8..3, any::<u8>()).prop_map(
            |(id, patient, doctor, day, quarter)| Ev::Book { id, patient, doctor, day, quarter }
        ),
        1 => (id.clone(), 1u64..=3, 0u8..3, any::<u8>()).prop_map(|(id, doctor, day, quarter)| Ev::Reschedule { id, doctor, day, quarter }),
        1 => id.clone().prop_map(|id| Ev::Cancel { id }),
        1 => id.clone().prop_map(|id| Ev::CheckIn { id }),
        1 => id.clone().prop_map(|id| Ev::NoShow { id }),
        1 => id.clone().prop_map(|id| Ev::Complete { id }),
        1 => id.prop_map(|id| Ev::Intake { id }),
        1 => (1..=PATIENTS).prop_map(|patient| Ev::Erase { patient }),
    ]
}

fn event(e: &Ev, at: DateTime<Utc>) -> AppointmentEvent {
    let aid = AppointmentId::new;
    match *e {
        Ev::Book {
            id,
            patient,
            doctor,
            day,
            quarter,
        } => {
            let start = start_of(day, quarter);
            AppointmentEvent::Booked(Booking {
                id: aid(id),
                patient: PatientId::new(patient),
                doctor: DoctorId::new(doctor),
                start,
                end: start + Duration::minutes(15),
                booked_at: at,
                first_visit: id % 2 == 0,
                guarantee: Guarantee::None,
                reschedules: 0,
                status: BookingStatus::Booked,
                intake: None,
            })
        }
        Ev::Reschedule {
            id,
            doctor,
            day,
            quarter,
        } => {
            let start = start_of(day, quarter);
            AppointmentEvent::Rescheduled {
                id: aid(id),
                doctor: DoctorId::new(doctor),
                start,
                end: start + Duration::minutes(15),
                at,
            }
        }
        Ev::Cancel { id } => AppointmentEvent::Cancelled {
            id: aid(id),
            by: CancelledBy::Patient,
            reason: Label::parse("ill").unwrap(),
            at,
        },
        Ev::CheckIn { id } => AppointmentEvent::CheckedIn { id: aid(id), at },
        Ev::NoShow { id } => AppointmentEvent::NoShow { id: aid(id), at },
        Ev::Complete { id } => AppointmentEvent::Completed { id: aid(id), at },
        Ev::Intake { id } => AppointmentEvent::IntakeRecorded {
            id: aid(id),
            answers: IntakeAnswers::new("headache", None).unwrap(),
            at,
        },
        Ev::Erase { patient } => AppointmentEvent::PatientErased {
            patient: PatientId::new(patient),
            at,
        },
    }
}

/// The model's apply: the rules of `appointment::apply` over one id-ordered map.
fn model_apply(m: &mut BTreeMap<AppointmentId, Booking>, e: &AppointmentEvent) {
    match e {
        AppointmentEvent::Booked(b) => {
            m.entry(b.id).or_insert_with(|| b.clone());
        }
        AppointmentEvent::PatientErased { patient, .. } => {
            for b in m.values_mut().filter(|b| b.patient == *patient) {
                b.intake = None;
            }
        }
        AppointmentEvent::Rescheduled {
            id,
            doctor,
            start,
            end,
            ..
        } => {
            if let Some(b) = m.get_mut(id).filter(|b| b.status == BookingStatus::Booked) {
                b.doctor = *doctor;
                b.start = *start;
                b.end = *end;
                b.reschedules += 1;
            }
        }
        AppointmentEvent::Cancelled { id, by, reason, at } => {
            if let Some(b) = m.get_mut(id).filter(|b| b.status == BookingStatus::Booked) {
                b.status = BookingStatus::Cancelled {
                    at: *at,
                    by: *by,
                    reason: reason.clone(),
                };
            }
        }
        AppointmentEvent::CheckedIn { id, at } => {
            if let Some(b) = m.get_mut(id).filter(|b| b.status == BookingStatus::Booked) {
                b.status = BookingStatus::CheckedIn { at: *at };
            }
        }
        AppointmentEvent::NoShow { id, at } => {
            if let Some(b) = m.get_mut(id).filter(|b| b.status == BookingStatus::Booked) {
                b.status = BookingStatus::NoShow { at: *at };
            }
        }
        AppointmentEvent::Completed { id, at } => {
            if let Some(b) = m.get_mut(id)
                && let BookingStatus::CheckedIn { at: checked_in_at } = b.status
            {
                b.status = BookingStatus::Completed {
                    checked_in_at,
                    at: *at,
                };
            }
        }
        AppointmentEvent::IntakeRecorded { id, answers, .. } => {
            if let Some(b) = m.get_mut(id) {
                b.intake = Some(answers.clone());
            }
        }
        _ => unreachable!("the test makes no other event"),
    }
}

fn check(
    book: &AppointmentBook,
    m: &BTreeMap<AppointmentId, Booking>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(book.len(), m.len());
    let ours: Vec<&Booking> = book.bookings().collect();
    let model: Vec<&Booking> = m.values().collect();
    prop_assert_eq!(&ours, &model, "bookings in id order");
    for id in 0..41 {
        let id = AppointmentId::new(id);
        prop_assert_eq!(book.get(id), m.get(&id), "get {}", id);
    }
    for p in 1..=PATIENTS {
        let p = PatientId::new(p);
        let ours: Vec<&Booking> = book.of_patient(p).collect();
        let model: Vec<&Booking> = m.values().filter(|b| b.patient == p).collect();
        prop_assert_eq!(&ours, &model, "of_patient {}", p);
        let at = t0() + Duration::days(2);
        for days in [0, 1, 2, 90] {
            let from = at - Duration::days(days);
            let model = m
                .values()
                .filter(|b| b.patient == p && matches!(b.status, BookingStatus::NoShow { .. }))
                .filter(|b| b.start > from && b.start <= at)
                .count();
            prop_assert_eq!(
                book.recent_no_shows(p, at, u32::try_from(days).unwrap()) as usize,
                model
            );
        }
    }
    for d in 1..=3 {
        for day in 0..3 {
            for quarter in 0..96 {
                let (d, s) = (DoctorId::new(d), start_of(day, quarter));
                let model = m
                    .values()
                    .filter(|b| b.doctor == d && b.start == s && b.status.holds_place())
                    .count();
                prop_assert_eq!(usize::from(book.taken(d, s)), model, "taken {} {}", d, s);
            }
        }
    }
    // The serde form is the model's map, and reading it back gives the same book.
    let json = serde_json::to_string(book).unwrap();
    let expected = serde_json::json!({ "clinic": 1, "bookings": m }).to_string();
    prop_assert_eq!(
        &serde_json::from_str::<serde_json::Value>(&json)
            .unwrap()
            .to_string(),
        &expected
    );
    prop_assert_eq!(&json, &{
        #[derive(serde::Serialize)]
        struct Raw<'a> {
            clinic: ClinicId,
            bookings: &'a BTreeMap<AppointmentId, Booking>,
        }
        serde_json::to_string(&Raw {
            clinic: ClinicId::new(1),
            bookings: m,
        })
        .unwrap()
    });
    let back: AppointmentBook = serde_json::from_str(&json).unwrap();
    prop_assert_eq!(&back, book);
    prop_assert_eq!(back.bookings().collect::<Vec<_>>(), model);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn book_indexes_match_a_scanned_map(evs in proptest::collection::vec(ev(), 1..80)) {
        let mut book = AppointmentBook::new(ClinicId::new(1));
        let mut model = BTreeMap::new();
        for (i, e) in evs.iter().enumerate() {
            let e = event(e, t0() + Duration::minutes(i64::try_from(i).unwrap()));
            appointment::apply(&mut book, &e);
            model_apply(&mut model, &e);
            check(&book, &model)?;
        }
        // A clone and a book rebuilt from the serde form carry on alike.
        let mut copy = book.clone();
        let mut loaded: AppointmentBook = serde_json::from_str(&serde_json::to_string(&book).unwrap()).unwrap();
        for (i, e) in evs.iter().rev().enumerate() {
            let e = event(e, t0() + Duration::hours(2) + Duration::minutes(i64::try_from(i).unwrap()));
            appointment::apply(&mut copy, &e);
            appointment::apply(&mut loaded, &e);
            model_apply(&mut model, &e);
        }
        check(&copy, &model)?;
        check(&loaded, &model)?;
    }
}
