//! The `clinic` calculator's in-visit and relationship lines (issues 18 and 19): bookings,
//! feedback and complaints; staff contacts, handovers and patient groups, with the output
//! members `appointments`, `complaints`, `feedback`, `contacts`, `concentration` and
//! `groups`.
//!
//! Every line becomes a [`ClinicEventKind`] built with the core's own checked constructors
//! (ids' `FromStr`, [`NpsScore::new`], [`Comment::parse`], [`Label::parse`],
//! [`TransferNotice::parse`], the serde forms of [`Guarantee`], [`Category`] and
//! [`Severity`]) and goes through the journey layer like every other line: a malformed
//! member is bad input, and what the library refuses is listed in `refused`.
//!
//! `#[path]`-included by `clinic.rs`, so it stays out of the calculator's processing loop.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use clinic_ops::appointment::{AppointmentCommand, CancelledBy, Guarantee};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::feedback::{
    self, Category, Comment, ComplaintCommand, Feedback, NewComplaint, Severity,
};
use clinic_ops::followup::Reason;
use clinic_ops::id::{
    AppointmentId, ClinicId, ComplaintId, DoctorId, FeedbackId, GroupId, PatientId, StaffId,
    VisitId,
};
use clinic_ops::journey::{Clinic, ClinicEventKind, Implications, JourneyConfig};
use clinic_ops::metrics::satisfaction::{CsatScore, NpsScore};
use clinic_ops::money::Yuan;
use clinic_ops::relationship::{
    self, ContactBook, ContactCommand, GroupChatRef, GroupEvent, Handover, HandoverScope,
    SuccessorRule, TransferMode, TransferNotice,
};
use clinic_ops::text::Label;

/// The line types this module reads.
pub(crate) const TYPES: &[&str] = &[
    "book",
    "reschedule",
    "cancel",
    "check_in",
    "no_show",
    "complete",
    "feedback",
    "complaint",
    "acknowledge",
    "resolve",
    "close",
    "reopen",
    "contact_added",
    "contact_removed",
    "staff_left",
    "group_join",
    "group_leave",
];

fn text(obj: &Map<String, Value>, name: &str) -> Result<String, String> {
    match obj.get(name) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Null) | None => Err(format!("missing member {name:?}")),
        Some(_) => Err(format!("{name} is not a string")),
    }
}

fn has(obj: &Map<String, Value>, name: &str) -> bool {
    obj.get(name).is_some_and(|v| !v.is_null())
}

fn parsed<T: std::str::FromStr>(obj: &Map<String, Value>, name: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let s = text(obj, name)?;
    s.parse().map_err(|e| format!("{name} {s:?}: {e}"))
}

fn opt_parsed<T: std::str::FromStr>(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, String>
where
    T::Err: std::fmt::Display,
{
    if has(obj, name) {
        parsed(obj, name).map(Some)
    } else {
        Ok(None)
    }
}

/// A member read through the library's serde form of `T`.
fn serde_member<T: serde::de::DeserializeOwned>(
    obj: &Map<String, Value>,
    name: &str,
) -> Result<Option<T>, String> {
    match obj.get(name) {
        Some(Value::Null) | None => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("{name}: {e}")),
    }
}

fn instant(obj: &Map<String, Value>, name: &str) -> Result<DateTime<Utc>, String> {
    let s = text(obj, name)?;
    DateTime::parse_from_rfc3339(&s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{name} {s:?}: {e}"))
}

fn bool_or(obj: &Map<String, Value>, name: &str, default: bool) -> Result<bool, String> {
    match obj.get(name) {
        Some(Value::Null) | None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{name} is not true or false")),
    }
}

fn comment(obj: &Map<String, Value>, name: &str) -> Result<Option<Comment>, String> {
    if !has(obj, name) {
        return Ok(None);
    }
    Comment::parse(&text(obj, name)?)
        .map(Some)
        .map_err(|e| format!("{name}: {e}"))
}

/// The clinic an appointment line is for: the `clinic` member, else the clinic whose book
/// holds the appointment, else (for a booking) the patient's home clinic, else the first
/// clinic with a schedule, whose book then answers that the appointment is not found.
fn appointment_clinic(
    obj: &Map<String, Value>,
    id: AppointmentId,
    patient: Option<PatientId>,
    clinic: &Clinic,
    config: &JourneyConfig,
) -> Result<ClinicId, String> {
    if let Some(c) = opt_parsed::<ClinicId>(obj, "clinic")? {
        return Ok(c);
    }
    let held = clinic
        .appointments()
        .books()
        .find(|b| b.get(id).is_some())
        .map(|b| b.clinic());
    let home = patient
        .and_then(|p| clinic.patient(p))
        .map(|p| p.home_clinic());
    let first = config.appointments.schedules.keys().next().copied();
    Ok(held.or(home).or(first).unwrap_or_else(|| ClinicId::new(0)))
}

/// The event of one of this module's lines, or `None` for another type. `Err` is bad input
/// (a missing or malformed member), without the line number.
pub(crate) fn event_kind(
    ty: &str,
    obj: &Map<String, Value>,
    at: DateTime<Utc>,
    clinic: &Clinic,
    config: &JourneyConfig,
) -> Option<Result<ClinicEventKind, String>> {
    if !TYPES.contains(&ty) {
        return None;
    }
    Some(match ty {
        "book" | "reschedule" | "cancel" | "check_in" | "no_show" | "complete" => {
            appointment(ty, obj, clinic, config)
        }
        "feedback" => feedback_line(obj, at, clinic),
        "complaint" | "acknowledge" | "resolve" | "close" | "reopen" => complaint(ty, obj, clinic),
        "contact_added" | "contact_removed" => contact(ty, obj),
        "staff_left" => staff_left(obj),
        _ => group(ty, obj, at),
    })
}

fn appointment(
    ty: &str,
    obj: &Map<String, Value>,
    clinic: &Clinic,
    config: &JourneyConfig,
) -> Result<ClinicEventKind, String> {
    let id: AppointmentId = parsed(obj, "appointment")?;
    let mut patient = None;
    let command = match ty {
        "book" => {
            let p: PatientId = parsed(obj, "patient")?;
            patient = Some(p);
            AppointmentCommand::Book {
                id,
                patient: p,
                doctor: parsed(obj, "doctor")?,
                start: instant(obj, "start")?,
                first_visit: bool_or(obj, "first_visit", false)?,
                guarantee: serde_member::<Guarantee>(obj, "guarantee")?.unwrap_or_default(),
            }
        }
        "reschedule" => AppointmentCommand::Reschedule {
            id,
            doctor: opt_parsed::<DoctorId>(obj, "doctor")?,
            start: instant(obj, "start")?,
        },
        "cancel" => {
            let by = serde_member::<CancelledBy>(obj, "by")?.unwrap_or(CancelledBy::Patient);
            let reason = text(obj, "reason")?;
            AppointmentCommand::Cancel {
                id,
                by,
                reason: Label::parse(&reason).map_err(|e| format!("reason: {e}"))?,
            }
        }
        "check_in" => AppointmentCommand::CheckIn { id },
        "no_show" => AppointmentCommand::MarkNoShow { id },
        _ => AppointmentCommand::Complete { id },
    };
    Ok(ClinicEventKind::Appointment {
        clinic: appointment_clinic(obj, id, patient, clinic, config)?,
        command,
    })
}

fn feedback_line(
    obj: &Map<String, Value>,
    at: DateTime<Utc>,
    clinic: &Clinic,
) -> Result<ClinicEventKind, String> {
    let patient: PatientId = parsed(obj, "patient")?;
    let visit: VisitId = parsed(obj, "visit")?;
    // The doctor of the visit when the line names none.
    let doctor = match opt_parsed::<DoctorId>(obj, "doctor")? {
        Some(d) => d,
        None => clinic
            .visits()
            .iter()
            .find(|v| v.id == visit)
            .and_then(|v| v.doctor)
            .ok_or_else(|| "missing member \"doctor\" (the visit names none)".to_owned())?,
    };
    let score = obj
        .get("score")
        .and_then(Value::as_i64)
        .ok_or_else(|| "missing member \"score\" (a whole number 0 to 10)".to_owned())?;
    let csat = match obj.get("csat") {
        Some(Value::Null) | None => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| "csat is not a whole number".to_owned())
                .and_then(|c| CsatScore::new(c).map_err(|e| format!("csat: {e}")))?,
        ),
    };
    let home = clinic.patient(patient).map(|p| p.home_clinic());
    Ok(ClinicEventKind::Feedback(Feedback {
        id: parsed::<FeedbackId>(obj, "feedback")?,
        patient,
        visit,
        doctor,
        clinic: match opt_parsed::<ClinicId>(obj, "clinic")? {
            Some(c) => c,
            None => home.unwrap_or_else(|| ClinicId::new(0)),
        },
        score: NpsScore::new(score).map_err(|e| format!("score: {e}"))?,
        csat,
        comment: comment(obj, "comment")?,
        at,
    }))
}

fn complaint(
    ty: &str,
    obj: &Map<String, Value>,
    clinic: &Clinic,
) -> Result<ClinicEventKind, String> {
    let id: ComplaintId = parsed(obj, "complaint")?;
    let note = |name: &str| -> Result<Comment, String> {
        comment(obj, name)?.ok_or_else(|| format!("missing member {name:?}"))
    };
    let command = match ty {
        "complaint" => {
            let patient: PatientId = parsed(obj, "patient")?;
            let home = clinic.patient(patient).map(|p| p.home_clinic());
            ComplaintCommand::Open(NewComplaint {
                id,
                patient,
                clinic: match opt_parsed::<ClinicId>(obj, "clinic")? {
                    Some(c) => c,
                    None => home.unwrap_or_else(|| ClinicId::new(0)),
                },
                doctor: opt_parsed(obj, "doctor")?,
                visit: opt_parsed(obj, "visit")?,
                feedback: None,
                category: serde_member::<Category>(obj, "category")?
                    .ok_or_else(|| "missing member \"category\"".to_owned())?,
                severity: serde_member::<Severity>(obj, "severity")?
                    .ok_or_else(|| "missing member \"severity\"".to_owned())?,
                owner: parsed(obj, "owner")?,
                comment: comment(obj, "comment")?,
            })
        }
        "acknowledge" => ComplaintCommand::Acknowledge,
        "resolve" => ComplaintCommand::Resolve {
            note: note("note")?,
        },
        "close" => ComplaintCommand::Close,
        _ => ComplaintCommand::Reopen {
            note: note("note")?,
        },
    };
    Ok(ClinicEventKind::Complaint { id, command })
}

fn contact(ty: &str, obj: &Map<String, Value>) -> Result<ClinicEventKind, String> {
    let patient: PatientId = parsed(obj, "patient")?;
    let staff: StaffId = parsed(obj, "staff")?;
    let command = if ty == "contact_added" {
        let channel = if has(obj, "channel") {
            Some(Label::parse(&text(obj, "channel")?).map_err(|e| format!("channel: {e}"))?)
        } else {
            None
        };
        ContactCommand::Add { staff, channel }
    } else {
        match obj.get("by").and_then(Value::as_str) {
            None | Some("patient") => ContactCommand::RemoveByPatient { staff },
            Some("staff") => ContactCommand::RemoveByStaff { staff },
            Some(other) => return Err(format!("by {other:?}: expected patient or staff")),
        }
    };
    Ok(ClinicEventKind::Contact { patient, command })
}

fn staff_left(obj: &Map<String, Value>) -> Result<ClinicEventKind, String> {
    let rule = match obj.get("successors") {
        Some(Value::String(s)) if s == "same_clinic" => SuccessorRule::SameClinic,
        Some(Value::String(s)) if s == "same_specialty" => SuccessorRule::SameSpecialty,
        Some(Value::Array(ids)) => {
            let mut staff = Vec::with_capacity(ids.len());
            for v in ids {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return Err("successors holds a value that is not an id".into()),
                };
                staff.push(
                    s.parse::<StaffId>()
                        .map_err(|e| format!("successors {s:?}: {e}"))?,
                );
            }
            match staff.as_slice() {
                [] => return Err("successors is empty".into()),
                [one] => SuccessorRule::Named(*one),
                _ => SuccessorRule::Among(staff),
            }
        }
        None | Some(Value::Null) => return Err("missing member \"successors\"".into()),
        Some(_) => {
            return Err(
                "successors is neither a list of staff ids nor same_clinic or same_specialty"
                    .into(),
            );
        }
    };
    let scope = match obj.get("patients") {
        None | Some(Value::Null) => HandoverScope::All,
        Some(v) => {
            let texts: Vec<Value> = v
                .as_array()
                .cloned()
                .ok_or_else(|| "patients is not a list".to_owned())?;
            let mut ps = Vec::with_capacity(texts.len());
            for t in texts {
                let s = match t {
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    _ => return Err("patients holds a value that is not an id".into()),
                };
                ps.push(
                    s.parse::<PatientId>()
                        .map_err(|e| format!("patients {s:?}: {e}"))?,
                );
            }
            HandoverScope::Patients(ps)
        }
    };
    let notice = if has(obj, "notice") {
        Some(TransferNotice::parse(&text(obj, "notice")?).map_err(|e| format!("notice: {e}"))?)
    } else {
        None
    };
    Ok(ClinicEventKind::StaffLeft {
        handover: Handover {
            departing: parsed(obj, "staff")?,
            mode: serde_member::<TransferMode>(obj, "mode")?.unwrap_or(TransferMode::Resigned),
            scope,
            rule,
            notice,
        },
    })
}

fn group(ty: &str, obj: &Map<String, Value>, at: DateTime<Utc>) -> Result<ClinicEventKind, String> {
    let patient: PatientId = parsed(obj, "patient")?;
    let number = match obj.get("number") {
        None | Some(Value::Null) => 1,
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n >= 1)
            .ok_or_else(|| "number is not a group number from 1".to_owned())?,
    };
    let chat = GroupChatRef {
        series: parsed::<GroupId>(obj, "group")?,
        number,
    };
    let event = if ty == "group_join" {
        GroupEvent::Joined { chat, patient, at }
    } else {
        match obj.get("by").and_then(Value::as_str) {
            None | Some("patient") => GroupEvent::Left { chat, patient, at },
            Some("owner") => GroupEvent::Removed { chat, patient, at },
            Some(other) => return Err(format!("by {other:?}: expected patient or owner")),
        }
    };
    Ok(ClinicEventKind::Group(event))
}

/// The refusals inside an accepted line: the patients a handover could not transfer.
pub(crate) fn partial_refusals(step: &Implications) -> Vec<String> {
    step.handover_refusals
        .iter()
        .map(|(p, e)| format!("patient {p}: {e}"))
        .collect()
}

fn local(cal: ClinicCalendar, t: DateTime<Utc>) -> String {
    cal.local_datetime(t).format("%Y-%m-%d %H:%M").to_string()
}

/// Each patient's revenue over the journal: paid visits not refunded, and purchases less
/// their refunds.
fn revenue(clinic: &Clinic) -> BTreeMap<PatientId, Yuan> {
    let mut r: BTreeMap<PatientId, Yuan> = BTreeMap::new();
    for v in clinic.visits().iter().filter(|v| v.refunded_at.is_none()) {
        let e = r.entry(v.patient).or_insert(Yuan::ZERO);
        *e = e.checked_add(v.paid).unwrap_or(Yuan::MAX);
    }
    for p in clinic.purchases() {
        let e = r.entry(p.purchase.patient).or_insert(Yuan::ZERO);
        *e = e
            .checked_add(p.purchase.amount)
            .unwrap_or(Yuan::MAX)
            .saturating_sub(p.refunded);
    }
    r
}

/// The contact book as of `as_of`: transfers whose decline window closed by then have
/// taken effect ([`ContactCommand::Settle`], decided by the library).
fn settled(clinic: &Clinic, config: &JourneyConfig, as_of: DateTime<Utc>) -> ContactBook {
    let mut book = clinic.contacts().clone();
    for pool in clinic.contacts().pools() {
        if let Ok(events) = relationship::decide(
            pool,
            &ContactCommand::Settle,
            as_of,
            &config.staff,
            &config.transfer_rules,
        ) {
            book.apply(pool.patient(), &events);
        }
    }
    book
}

/// A booking's follow-up tasks still open (reminders, intake, recovery calls): those of
/// a booking cancelled, moved or done carry the `cancelled` outcome and are left out.
fn open_tasks(
    clinic: &Clinic,
    patient: PatientId,
    id: AppointmentId,
    cal: ClinicCalendar,
) -> Vec<Value> {
    clinic
        .history(patient)
        .into_iter()
        .flat_map(|h| h.tasks())
        .filter(|r| r.outcome.is_none())
        .filter(|r| {
            matches!(&r.task.reason, Reason::Appointment { appointment, .. } if *appointment == id)
        })
        .map(|r| {
            json!({
                "kind": r.task.kind.code(),
                "due": r.task.due_at.map_or_else(|| r.task.due_on.to_string(), |t| local(cal, t)),
            })
        })
        .collect()
}

/// Adds the members of these lines to the answer, each only when the journal recorded
/// something of its kind, so older journals' answers stay byte-identical.
pub(crate) fn insert_members(
    m: &mut Map<String, Value>,
    clinic: &Clinic,
    config: &JourneyConfig,
    as_of: DateTime<Utc>,
) {
    let cal = config.calendar;
    let state = clinic.appointments();
    let bookings: Vec<Value> = state
        .books()
        .flat_map(|b| b.bookings().map(move |x| (b.clinic(), x)))
        .map(|(c, b)| {
            json!({
                "appointment": b.id.to_string(),
                "clinic": c.to_string(),
                "patient": b.patient.to_string(),
                "doctor": b.doctor.to_string(),
                "start": local(cal, b.start),
                "first_visit": b.first_visit,
                "status": b.status.code(),
                "reschedules": b.reschedules,
                "intake": b.intake.is_some(),
                "open_tasks": open_tasks(clinic, b.patient, b.id, cal),
            })
        })
        .collect();
    if !bookings.is_empty() {
        m.insert("appointments".into(), Value::Array(bookings));
    }
    let sla = &config.appointments.sla;
    let complaints: Vec<Value> = state
        .complaints()
        .map(|c| {
            // Breaches escalated, and those the clocks ran out by `as_of`.
            let mut breached: Vec<&str> = c
                .breached
                .iter()
                .map(|k| match k {
                    feedback::Clock::Acknowledge => "acknowledge",
                    feedback::Clock::Resolve => "resolve",
                })
                .collect();
            for e in feedback::escalations(c, sla, as_of) {
                if let feedback::ComplaintEvent::Escalated { clock, .. } = e {
                    breached.push(match clock {
                        feedback::Clock::Acknowledge => "acknowledge",
                        feedback::Clock::Resolve => "resolve",
                    });
                }
            }
            json!({
                "complaint": c.opened.id.to_string(),
                "patient": c.opened.patient.to_string(),
                "clinic": c.opened.clinic.to_string(),
                "category": c.opened.category.code(),
                "severity": serde_json::to_value(c.opened.severity).unwrap_or(Value::Null),
                "owner": c.owner.to_string(),
                "feedback": c.opened.feedback.map(|f| f.to_string()),
                "status": c.status.code(),
                "opened": local(cal, c.opened_at),
                "acknowledge_by": local(cal, c.acknowledge_by),
                "resolve_by": local(cal, c.resolve_by),
                "acknowledged": c.acknowledged_at.map(|t| local(cal, t)),
                "resolved": c.resolved_at.map(|t| local(cal, t)),
                "breached": breached,
                "reopened": c.reopened,
            })
        })
        .collect();
    if !complaints.is_empty() {
        m.insert("complaints".into(), Value::Array(complaints));
    }
    let mut tally = feedback::FeedbackTally::default();
    for f in state.feedback() {
        tally.add(f);
    }
    if tally.nps.responses() > 0 {
        m.insert(
            "feedback".into(),
            json!({
                "responses": tally.nps.responses(),
                "nps": tally.nps.nps(),
                "csat": tally.csat.csat(),
                "nps_by_doctor": tally.nps_by_doctor.iter().map(|(d, t)| json!({
                    "doctor": d.to_string(), "responses": t.responses(), "nps": t.nps(),
                })).collect::<Vec<_>>(),
            }),
        );
    }
    if !clinic.contacts().is_empty() {
        let book = settled(clinic, config, as_of);
        let contacts: Vec<Value> = book
            .pools()
            .map(|p| {
                json!({
                    "patient": p.patient().to_string(),
                    "holders": p.holders().map(|(s, h)| json!({
                        "staff": s.to_string(),
                        "kind": config.staff.get(s).map(|a| a.kind),
                        "since": cal.local_date(h.since).to_string(),
                    })).collect::<Vec<_>>(),
                    "pending": p.pending().map(|t| json!({
                        "from": t.from.to_string(),
                        "to": t.to.to_string(),
                        "settles": local(cal, t.settles_at),
                    })),
                })
            })
            .collect();
        m.insert("contacts".into(), Value::Array(contacts));
        let revenue = revenue(clinic);
        let groups = clinic.groups();
        let c = relationship::book_concentration(&book, &config.staff, |p| {
            let chronic = clinic
                .patient(p)
                .is_some_and(|x| x.chronic_files().iter().any(|f| f.is_open()));
            (
                groups.is_member_anywhere(p),
                revenue.get(&p).copied().unwrap_or(Yuan::ZERO),
                chronic,
            )
        });
        let by_doctor: Vec<Value> = c
            .by_doctor
            .iter()
            .map(|(d, e)| {
                let shares = c.shares(*d);
                json!({
                    "doctor": d.to_string(),
                    "held": e.held,
                    "sole": e.sole,
                    "at_risk_if_leaves": c.at_risk_if_leaves(*d),
                    "share_of_patients": shares.patients,
                    "share_of_revenue": shares.revenue,
                })
            })
            .collect();
        m.insert(
            "concentration".into(),
            json!({
                "patients": c.patients,
                "unheld": c.unheld,
                "at_risk": c.at_risk,
                "index": c.index(),
                "by_doctor": by_doctor,
            }),
        );
    }
    let chats: Vec<Value> = clinic
        .groups()
        .chats()
        .map(|(chat, members)| {
            let name = config
                .groups
                .iter()
                .find(|s| s.id() == chat.series)
                .map(|s| s.chat_name(chat.number));
            json!({
                "group": chat.series.to_string(),
                "number": chat.number,
                "name": name,
                "members": members.members.len(),
                "invited": members.invited.len(),
            })
        })
        .collect();
    if !chats.is_empty() {
        m.insert("groups".into(), Value::Array(chats));
    }
}
