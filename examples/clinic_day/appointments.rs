//! Appointments and the patient's voice (预约挂号 → 到馆, 倾听患者声音): the day's bookings
//! with the refusals a front desk meets, the reminders they plan, a no-show and its recovery
//! call, a first visit's intake under consent, and feedback that turns into complaints with
//! their service level and escalation. Bookings, feedback and complaints go through the
//! journey layer, which plans the reminder and recovery tasks itself.

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};

use super::{Clinic, Res, heading, pad};
use clinic_ops::appointment::{
    self, AppointmentCommand, CancelledBy, Guarantee, IntakeAnswers, Schedule,
    metrics::AppointmentTally,
};
use clinic_ops::feedback::{
    AutoComplaintPolicy, Category, Comment, ComplaintCommand, ComplaintEvent, Feedback,
    NewComplaint, Severity, SlaPolicy,
};
use clinic_ops::followup::TaskKind;
use clinic_ops::id::{
    AppointmentId, ClinicId, ComplaintId, DoctorId, FeedbackId, PatientId, StaffId, VisitId,
};
use clinic_ops::journey::{self, ClinicEventKind, Implications, complaint_id_for};
use clinic_ops::metrics::satisfaction::NpsScore;
use clinic_ops::patient::ConsentPurpose;

/// Two doctors, Monday to Saturday, mornings and afternoons; Dr Li (D1) sees two patients
/// a half-hour, Dr Wang (D2) one.
const SCHEDULE: &str = r#"{
  "clinic": 1,
  "doctors": [
    {"doctor": 1, "slot_minutes": 30, "capacity": 2, "hours": [
      {"weekday": "Mon", "start": "08:30:00", "end": "11:30:00"},
      {"weekday": "Mon", "start": "14:00:00", "end": "17:00:00"},
      {"weekday": "Tue", "start": "08:30:00", "end": "11:30:00"},
      {"weekday": "Wed", "start": "08:30:00", "end": "11:30:00"}]},
    {"doctor": 2, "slot_minutes": 30, "capacity": 1, "hours": [
      {"weekday": "Mon", "start": "08:30:00", "end": "11:30:00"},
      {"weekday": "Tue", "start": "08:30:00", "end": "11:30:00"},
      {"weekday": "Wed", "start": "14:00:00", "end": "17:00:00"}]}
  ],
  "closed_days": ["2027-01-01"]
}"#;

const CLINIC: ClinicId = ClinicId::new(1);
/// The front-desk lead who owns complaints, and the manager breaches escalate to.
const LEAD: StaffId = StaffId::new(3);
const MANAGER: StaffId = StaffId::new(9);

fn doctor_name(d: DoctorId) -> &'static str {
    match d.get() {
        1 => "李医生",
        _ => "王医生",
    }
}

/// Registered patients who still have their name, split by care consent at `at`.
fn patients_by_care(clinic: &Clinic, at: DateTime<Utc>) -> (Vec<PatientId>, Vec<PatientId>) {
    let mut with = Vec::new();
    let mut without = Vec::new();
    for p in clinic.journey.patients().filter(|p| p.name().is_some()) {
        if p.may(ConsentPurpose::CareReminder, at) {
            with.push(p.id());
        } else {
            without.push(p.id());
        }
    }
    (with, without)
}

/// Books, moves or cancels through the journey layer; the refusal's text when refused.
fn appointment(
    clinic: &mut Clinic,
    at: DateTime<Utc>,
    command: AppointmentCommand,
) -> Res<Result<Box<Implications>, String>> {
    let kind = ClinicEventKind::Appointment {
        clinic: CLINIC,
        command,
    };
    Ok(clinic.run(at, kind)?.map_err(|e| e.to_string()))
}

fn book(
    id: u64,
    patient: PatientId,
    doctor: u64,
    start: DateTime<Utc>,
    first: bool,
) -> AppointmentCommand {
    AppointmentCommand::Book {
        id: AppointmentId::new(id),
        patient,
        doctor: DoctorId::new(doctor),
        start,
        first_visit: first,
        guarantee: Guarantee::None,
    }
}

fn task_line(clinic: &Clinic, kind: TaskKind, patient: PatientId) -> Vec<String> {
    let mut tasks: Vec<_> = clinic
        .journey
        .tasks()
        .filter(|t| t.kind == kind && t.patient == patient)
        .collect();
    tasks.sort_by_key(|t| (t.due_at, t.due_on));
    tasks
        .into_iter()
        .map(|t| {
            let due = t
                .due_at
                .map_or_else(|| t.due_on.to_string(), |d| clinic.local(d));
            format!("{kind} due {due}: {}", t.reason)
        })
        .collect()
}

pub fn run(clinic: &mut Clinic) -> Res<()> {
    heading("Appointments (预约挂号 → 到馆)");
    let schedule: Schedule = serde_json::from_str(SCHEDULE)?;
    // A schedule with a zero capacity is refused on load, with the JSON path.
    let broken = SCHEDULE.replacen("\"capacity\": 1", "\"capacity\": 0", 1);
    if let Err(e) = serde_json::from_str::<Schedule>(&broken) {
        println!("a schedule with a zero capacity is refused: {e}");
    }
    clinic
        .config
        .appointments
        .schedules
        .insert(CLINIC, schedule.clone());
    clinic.config.appointments.sla = SlaPolicy::new(
        &[
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
        NaiveTime::from_hms_opt(9, 0, 0).ok_or("time")?,
        NaiveTime::from_hms_opt(18, 0, 0).ok_or("time")?,
        4,
        7,
    )?
    .with_escalation(Some(MANAGER));
    clinic.config.appointments.auto_complaint = Some(AutoComplaintPolicy {
        open_at_or_below: NpsScore::new(4)?,
        category: Category::Other,
        severity: Severity::Medium,
        owner: LEAD,
    });

    let now = clinic.now; // Monday 09:30
    let cal = clinic.calendar;
    let today = cal.start_of(cal.local_date(now));
    let at = |h: i64, m: i64| today + Duration::hours(h) + Duration::minutes(m);
    let saturday = now - Duration::days(2);
    let (care, no_care) = patients_by_care(clinic, saturday);
    let pick = |v: &Vec<PatientId>, i: usize| v.get(i % v.len().max(1)).copied();
    let (Some(p1), Some(p2), Some(p3), Some(p4), Some(p5)) = (
        pick(&care, 0),
        pick(&care, 1),
        pick(&care, 2),
        pick(&care, 3),
        pick(&care, 4),
    ) else {
        println!("(no patients with care consent: no bookings today)");
        return Ok(());
    };
    let quiet = pick(&no_care, 0).unwrap_or(p5);

    // Saturday: the front desk books the coming days.
    println!("Saturday's bookings, as the front desk keys them in:");
    let attempts = [
        ("A1", book(1, p1, 1, at(8, 30), false), saturday),
        ("A2", book(2, p2, 1, at(8, 30), false), saturday),
        ("A3", book(3, p3, 2, at(10, 0), true), saturday),
        ("A4", book(4, p4, 2, at(10, 0), false), saturday),
        ("A5", book(5, p4, 1, at(12, 30), false), saturday),
        ("A6", book(6, p3, 1, at(10, 0), false), saturday),
        ("A7", book(7, p4, 1, at(14, 0), false), saturday),
        ("A8", book(8, p5, 2, at(24 + 9, 0), false), now),
        ("A9", book(9, quiet, 1, at(24 + 9, 30), true), now),
        ("A10", book(10, p5, 1, at(9, 0), false), now),
    ];
    for (name, command, when) in attempts {
        let (who, start) = match &command {
            AppointmentCommand::Book {
                patient,
                start,
                doctor,
                ..
            } => (format!("{patient} {}", doctor_name(*doctor)), *start),
            _ => (String::new(), now),
        };
        let outcome = match appointment(clinic, when, command)? {
            Ok(_) => "booked".to_owned(),
            Err(why) => format!("refused: {why}"),
        };
        println!(
            "  {name:<4} {} {} {outcome}",
            pad(&who, 13),
            clinic.local(start)
        );
    }

    // Reminders the bookings planned (appointment reminders are care, not marketing).
    println!("\nreminders and pre-visit tasks planned by the bookings:");
    for p in [p1, p2, p3, p4, p5, quiet] {
        let mut lines = task_line(clinic, TaskKind::AppointmentReminder, p);
        lines.extend(task_line(clinic, TaskKind::PreVisitIntake, p));
        if lines.is_empty() {
            println!("  {p}: none (no care-reminder consent: the front desk calls instead)");
        }
        for l in lines {
            println!("  {p}: {l}");
        }
    }

    // The first visit's intake: health data, recorded only under the patient's care consent.
    let answers = IntakeAnswers::new("失眠两月，入睡困难，多梦", Some("高血压五年，服氨氯地平"))?;
    if let (Some(book_state), Some(patient)) = (
        clinic.journey.appointments().book(CLINIC),
        clinic.journey.patient(p3),
    ) {
        let events = appointment::decide_intake(
            book_state,
            patient,
            AppointmentId::new(3),
            &answers,
            at(9, 10),
        )?;
        println!(
            "A3's pre-visit intake from {p3} recorded ({} event; shown to staff as {:?})",
            events.len(),
            answers
        );
        let step = Implications {
            appointments: events.into_iter().map(|e| (CLINIC, e)).collect(),
            ..Implications::default()
        };
        journey::apply(&mut clinic.journey, &step);
    }
    if let (Some(book_state), Some(patient)) = (
        clinic.journey.appointments().book(CLINIC),
        clinic.journey.patient(quiet),
    ) && let Err(e) = appointment::decide_intake(
        book_state,
        patient,
        AppointmentId::new(9),
        &answers,
        at(9, 10),
    ) {
        println!("A9's intake from {quiet} refused: {e}");
    }

    // The morning: A2 arrives, A1 does not, A7 cancels; A8 moves to Wednesday.
    println!("\nthe morning at the front desk:");
    let day = [
        (
            "A2 checks in",
            at(8, 25),
            AppointmentCommand::CheckIn {
                id: AppointmentId::new(2),
            },
        ),
        (
            "A1 marked no-show too early",
            at(8, 40),
            AppointmentCommand::MarkNoShow {
                id: AppointmentId::new(1),
            },
        ),
        (
            "A2 is seen",
            at(9, 5),
            AppointmentCommand::Complete {
                id: AppointmentId::new(2),
            },
        ),
        (
            "A1 marked no-show",
            at(9, 30),
            AppointmentCommand::MarkNoShow {
                id: AppointmentId::new(1),
            },
        ),
        (
            "A2 checks in again",
            at(9, 31),
            AppointmentCommand::CheckIn {
                id: AppointmentId::new(2),
            },
        ),
        (
            "A7 cancelled by the patient",
            at(9, 32),
            AppointmentCommand::Cancel {
                id: AppointmentId::new(7),
                by: CancelledBy::Patient,
                reason: clinic_ops::text::Label::parse("出差")?,
            },
        ),
        (
            "A8 moved to Wednesday 14:00",
            at(9, 33),
            AppointmentCommand::Reschedule {
                id: AppointmentId::new(8),
                doctor: None,
                start: at(48 + 14, 0),
            },
        ),
        (
            "A3 checks in",
            at(9, 55),
            AppointmentCommand::CheckIn {
                id: AppointmentId::new(3),
            },
        ),
        (
            "A3 is seen",
            at(10, 40),
            AppointmentCommand::Complete {
                id: AppointmentId::new(3),
            },
        ),
    ];
    for (what, when, command) in day {
        match appointment(clinic, when, command)? {
            Ok(_) => println!("  {} {what}", clinic.local(when)),
            Err(why) => println!("  {} {what}: refused ({why})", clinic.local(when)),
        }
    }
    for (p, kind) in [(p1, TaskKind::NoShowRecovery), (p4, TaskKind::Rebooking)] {
        for l in task_line(clinic, kind, p) {
            println!("  → {p}: {l}");
        }
    }

    // The doctors' day in numbers.
    let mut tally = AppointmentTally::default();
    if let Some(b) = clinic.journey.appointments().book(CLINIC) {
        let d = cal.local_date(now);
        tally.add_book(b, &schedule, (d, d), at(12, 0), cal);
    }
    let report = tally.report();
    println!("\n{:<8} {:>9} {:>12}", "doctor", "no-shows", "utilisation");
    for (d, rate) in &report.utilisation {
        let ns = report.no_show_by_doctor.get(d).copied().unwrap_or_default();
        println!(
            "{} {:>5}/{:<3} {:>6}/{:<4} {:>4.0}%",
            pad(doctor_name(*d), 8),
            ns.numerator,
            ns.denominator,
            rate.numerator,
            rate.denominator,
            rate.value().unwrap_or(0.0) * 100.0
        );
    }
    if let Some(m) = report.lead_time.median_seconds {
        println!("median booking lead time today: {:.1} h", m as f64 / 3600.0);
    }

    // A2's patient saw Dr Li, A3's (the first visit) Dr Wang.
    feedback(clinic, p2, p3, at(11, 0))
}

/// Feedback after the visit, the complaint a low score opens, a complaint at the desk that
/// runs out its acknowledgement clock, and the service-recovery call after it is resolved.
fn feedback(
    clinic: &mut Clinic,
    happy: PatientId,
    unhappy: PatientId,
    at: DateTime<Utc>,
) -> Res<()> {
    heading("Feedback and complaints (倾听患者声音)");
    let answers = [
        (1, happy, 1, 10, None),
        (2, unhappy, 2, 3, Some("候诊半个多小时，没人解释")),
    ];
    for (id, patient, doctor, score, comment) in answers {
        let f = Feedback {
            id: FeedbackId::new(id),
            patient,
            visit: VisitId::new(900 + id),
            doctor: DoctorId::new(doctor),
            clinic: CLINIC,
            score: NpsScore::new(score)?,
            csat: None,
            comment: comment.map(Comment::parse).transpose()?,
            at,
        };
        let step = clinic.run(at, ClinicEventKind::Feedback(f))??;
        let opened = step
            .complaints
            .iter()
            .any(|(_, e)| matches!(e, ComplaintEvent::Opened { .. }));
        println!(
            "{patient} scores {score}/10 for {}{}",
            doctor_name(DoctorId::new(doctor)),
            if opened {
                format!(
                    " → complaint {} opened for {LEAD}",
                    complaint_id_for(FeedbackId::new(id))
                )
            } else {
                String::new()
            }
        );
    }
    let nps = clinic.journey.appointments().feedback().fold(
        clinic_ops::feedback::FeedbackTally::default(),
        |mut t, f| {
            t.add(f);
            t
        },
    );
    if let Some(v) = nps.nps.nps() {
        println!(
            "NPS from today's feedback: {v:+.0} ({} answers)",
            nps.nps.responses()
        );
    }

    // A complaint at the desk, Monday 11:00: acknowledge within 4 working hours.
    let id = ComplaintId::new(1);
    let open = ComplaintCommand::Open(NewComplaint {
        id,
        patient: unhappy,
        clinic: CLINIC,
        doctor: Some(DoctorId::new(2)),
        visit: None,
        feedback: None,
        category: Category::WaitingTime,
        severity: Severity::High,
        owner: LEAD,
        comment: Some(Comment::parse("预约了十点，等到十点半才叫号，也没人解释")?),
    });
    let steps = [
        ("opened at the desk", at, open),
        (
            "acknowledged (late)",
            at + Duration::hours(6),
            ComplaintCommand::Acknowledge,
        ),
        (
            "resolved",
            at + Duration::hours(23),
            ComplaintCommand::Resolve {
                note: Comment::parse("致歉并调整叫号规则，赠送艾灸一次")?,
            },
        ),
    ];
    println!("\ncomplaint {id} (waiting time, high, owner {LEAD}):");
    for (what, when, command) in steps {
        let step = clinic.run(when, ClinicEventKind::Complaint { id, command })??;
        for (_, e) in &step.complaints {
            let line = match e {
                ComplaintEvent::Opened {
                    acknowledge_by,
                    resolve_by,
                    ..
                } => format!(
                    "{what}; acknowledge by {}, resolve by {}",
                    clinic.local(*acknowledge_by),
                    clinic.local(*resolve_by)
                ),
                ComplaintEvent::Escalated { clock, due, to, .. } => format!(
                    "{clock:?} clock ran out at {} → escalated to {}",
                    clinic.local(*due),
                    to.map_or("-".into(), |s| s.to_string())
                ),
                _ => what.to_owned(),
            };
            println!("  {} {line}", clinic.local(when));
        }
    }
    for l in task_line(clinic, TaskKind::ServiceRecovery, unhappy) {
        println!("  → {unhappy}: {l}");
    }
    Ok(())
}
