//! Reminders and recovery through the follow-up planner: the follow-up tasks a patient's
//! bookings call for, and the cancellation of those that no longer apply.

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::ScheduleError;
use super::book::{AppointmentBook, Booking, BookingStatus, CancelledBy};
use crate::calendar::ClinicCalendar;
use crate::followup::{
    FollowUpEvent, FollowUpHistory, OutcomeRecord, Priority, QuietHours, Reason, RuleKey, Task,
    TaskChannel, TaskKind, TaskOutcome,
};
use crate::patient::{ConsentPurpose, Patient};

/// When a reminder goes out, relative to the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReminderOffset {
    /// The local day before the slot, at this local time (18:00).
    DayBeforeAt {
        /// The local time.
        time: NaiveTime,
    },
    /// This many minutes before the slot's start.
    Before {
        /// Minutes, 1 to 10080 (a week).
        minutes: u32,
    },
}

/// How a clinic reminds and recovers: the reminder offsets, quiet hours, the reminder
/// channel, and when the intake, no-show and rebooking tasks fall due.
///
/// The default: reminders the day before at 18:00 and two hours before, by WeChat message;
/// quiet hours 21:00–08:00; the intake 48 hours before a first visit; a call 2 hours after a
/// no-show and 24 hours after a cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawReminderPolicy", into = "RawReminderPolicy")]
pub struct ReminderPolicy {
    offsets: Vec<ReminderOffset>,
    quiet_hours: QuietHours,
    channel: TaskChannel,
    intake_hours_before: u32,
    no_show_call_after_hours: u32,
    rebooking_after_hours: u32,
    /// The rule keys of the tasks, parsed once (they are part of every task).
    #[serde(skip)]
    keys: Keys,
}

/// The rule keys a policy's tasks carry: `appointment.reminder.{i}` per offset,
/// `appointment.intake`, `appointment.no_show`, `appointment.rebook`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Keys {
    reminders: Vec<Option<RuleKey>>,
    intake: Option<RuleKey>,
    no_show: Option<RuleKey>,
    rebook: Option<RuleKey>,
}

impl Keys {
    fn new(offsets: usize) -> Self {
        Keys {
            reminders: (0..offsets)
                .map(|i| RuleKey::parse(&format!("appointment.reminder.{i}")).ok())
                .collect(),
            intake: RuleKey::parse("appointment.intake").ok(),
            no_show: RuleKey::parse("appointment.no_show").ok(),
            rebook: RuleKey::parse("appointment.rebook").ok(),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReminderPolicy {
    offsets: Vec<ReminderOffset>,
    #[serde(default)]
    quiet_hours: QuietHours,
    channel: TaskChannel,
    intake_hours_before: u32,
    no_show_call_after_hours: u32,
    rebooking_after_hours: u32,
}

impl TryFrom<RawReminderPolicy> for ReminderPolicy {
    type Error = ScheduleError;
    fn try_from(r: RawReminderPolicy) -> Result<Self, Self::Error> {
        ReminderPolicy::new(
            r.offsets,
            r.quiet_hours,
            r.channel,
            r.intake_hours_before,
            r.no_show_call_after_hours,
            r.rebooking_after_hours,
        )
    }
}

impl From<ReminderPolicy> for RawReminderPolicy {
    fn from(p: ReminderPolicy) -> Self {
        RawReminderPolicy {
            offsets: p.offsets,
            quiet_hours: p.quiet_hours,
            channel: p.channel,
            intake_hours_before: p.intake_hours_before,
            no_show_call_after_hours: p.no_show_call_after_hours,
            rebooking_after_hours: p.rebooking_after_hours,
        }
    }
}

impl Default for ReminderPolicy {
    fn default() -> Self {
        ReminderPolicy {
            offsets: vec![
                ReminderOffset::DayBeforeAt {
                    time: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
                },
                ReminderOffset::Before { minutes: 120 },
            ],
            quiet_hours: QuietHours::default(),
            channel: TaskChannel::WechatMessage,
            intake_hours_before: 48,
            no_show_call_after_hours: 2,
            rebooking_after_hours: 24,
            keys: Keys::new(2),
        }
    }
}

/// The most reminder offsets a policy may hold.
pub const MAX_OFFSETS: usize = 8;

impl ReminderPolicy {
    /// A policy.
    ///
    /// # Errors
    ///
    /// [`ScheduleError`] naming the field: at most 8 offsets, minutes 1 to 10080, hours 0 to
    /// 720, and a remote channel (a reminder is a call or a message).
    pub fn new(
        offsets: Vec<ReminderOffset>,
        quiet_hours: QuietHours,
        channel: TaskChannel,
        intake_hours_before: u32,
        no_show_call_after_hours: u32,
        rebooking_after_hours: u32,
    ) -> Result<Self, ScheduleError> {
        let bad = |path: String, why: String| ScheduleError { path, why };
        if offsets.len() > MAX_OFFSETS {
            return Err(bad("offsets".into(), format!("more than {MAX_OFFSETS}")));
        }
        for (i, o) in offsets.iter().enumerate() {
            if let ReminderOffset::Before { minutes } = o
                && !(1..=10_080).contains(minutes)
            {
                return Err(bad(
                    format!("offsets[{i}].minutes"),
                    format!("{minutes} is outside 1..=10080"),
                ));
            }
        }
        if !channel.is_remote() {
            return Err(bad(
                "channel".into(),
                format!("{channel} is not a call or message"),
            ));
        }
        for (f, v) in [
            ("intake_hours_before", intake_hours_before),
            ("no_show_call_after_hours", no_show_call_after_hours),
            ("rebooking_after_hours", rebooking_after_hours),
        ] {
            if v > 720 {
                return Err(bad(f.into(), format!("{v} is outside 0..=720")));
            }
        }
        Ok(ReminderPolicy {
            keys: Keys::new(offsets.len()),
            offsets,
            quiet_hours,
            channel,
            intake_hours_before,
            no_show_call_after_hours,
            rebooking_after_hours,
        })
    }

    /// The quiet hours.
    #[must_use]
    pub fn quiet_hours(&self) -> QuietHours {
        self.quiet_hours
    }

    /// The reminder offsets.
    #[must_use]
    pub fn offsets(&self) -> &[ReminderOffset] {
        &self.offsets
    }
}

/// The subject of a booking's tasks: its id and slot (`A12@2026-11-23T09:00`, local), so a
/// rescheduled booking gets fresh tasks and the old slot's are cancelled.
#[must_use]
pub fn appointment_subject(booking: &Booking, calendar: ClinicCalendar) -> String {
    // Written by hand: chrono's `format` parses its pattern on every call, and this runs
    // for every task planned. Years of the accepted range have four digits, as `%Y` gives.
    let t = calendar.local_datetime(booking.start);
    format!(
        "{}@{:04}-{:02}-{:02}T{:02}:{:02}",
        booking.id,
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn add_minutes(at: DateTime<Utc>, minutes: i64) -> Option<DateTime<Utc>> {
    at.checked_add_signed(Duration::minutes(minutes))
}

/// One task of a booking, due at `due` (already out of quiet hours). `slot` keeps the
/// booking's subject and local start once made: a booking's tasks share them, and writing
/// the subject is most of a task's cost.
fn task(
    b: &Booking,
    key: Option<&RuleKey>,
    kind: TaskKind,
    channel: TaskChannel,
    due: DateTime<Utc>,
    calendar: ClinicCalendar,
    slot: &mut Option<(String, NaiveDateTime)>,
) -> Option<Task> {
    let (subject, starts) = slot
        .get_or_insert_with(|| {
            (
                appointment_subject(b, calendar),
                calendar.local_datetime(b.start),
            )
        })
        .clone();
    let reason = Reason::Appointment {
        appointment: b.id,
        subject,
        starts,
    };
    Some(
        Task::new(
            b.patient,
            key?.clone(),
            kind,
            starts.date(),
            channel,
            reason,
        )
        .with_due_on(calendar.local_date(due))
        .with_due_at(due),
    )
}

/// The follow-up tasks a patient's bookings call for at `now`, in due order (ties on id).
///
/// - **Reminders** for a booked appointment, at each offset: an instant in quiet hours moves
///   to their end; a reminder that would then be due at or after the slot's start, or is
///   already past at `now`, is left out.
/// - **Pre-visit intake** for a booked first visit without answers, due the policy's hours
///   before the slot (or now, if that is past), out of quiet hours and before the start.
/// - **No-show recovery**: a call the policy's hours after a no-show was marked.
/// - **Rebooking**: a call the policy's hours after a cancellation; high priority when the
///   clinic cancelled.
///
/// Every task rests on [`ConsentPurpose::CareReminder`] (appointment reminders are care, not
/// marketing): without it at `now`, or for an anonymised patient, there are none. Bookings of
/// other patients are ignored. The host stores the tasks not yet in the patient's
/// [`FollowUpHistory`] as [`FollowUpEvent::TaskPlanned`]; task ids derive from the booking
/// and slot, so planning again adds nothing.
#[must_use]
pub fn plan_tasks(
    book: &AppointmentBook,
    patient: &Patient,
    policy: &ReminderPolicy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Vec<Task> {
    if !patient.may(ConsentPurpose::CareReminder, now) {
        return vec![];
    }
    let mut out = vec![];
    for b in book.of_patient(patient.id()) {
        booking_tasks(b, policy, now, calendar, &mut out);
    }
    out.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
    out
}

/// The tasks of one booking (consent already checked), appended to `out`.
pub(crate) fn booking_tasks(
    b: &Booking,
    policy: &ReminderPolicy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
    out: &mut Vec<Task>,
) {
    let quiet = policy.quiet_hours;
    let mut slot = None;
    let before_start = |at: DateTime<Utc>| {
        let due = quiet.next_allowed(at, calendar);
        (due < b.start && due >= now).then_some(due)
    };
    match &b.status {
        BookingStatus::Booked if b.start > now => {
            for (i, o) in policy.offsets.iter().enumerate() {
                let at = match *o {
                    ReminderOffset::DayBeforeAt { time } => {
                        let day = calendar.local_date(b.start).pred_opt();
                        day.map(|d| calendar.start_of(d))
                            .and_then(|m| m.checked_add_signed(time - NaiveTime::MIN))
                    }
                    ReminderOffset::Before { minutes } => add_minutes(b.start, -i64::from(minutes)),
                };
                let key = policy.keys.reminders.get(i).and_then(Option::as_ref);
                if let Some(due) = at.and_then(before_start)
                    && let Some(t) = task(
                        b,
                        key,
                        TaskKind::AppointmentReminder,
                        policy.channel,
                        due,
                        calendar,
                        &mut slot,
                    )
                {
                    out.push(t);
                }
            }
            if b.first_visit && b.intake.is_none() {
                let at = add_minutes(b.start, -i64::from(policy.intake_hours_before) * 60)
                    .map(|at| at.max(now));
                if let Some(due) = at.and_then(before_start)
                    && let Some(t) = task(
                        b,
                        policy.keys.intake.as_ref(),
                        TaskKind::PreVisitIntake,
                        policy.channel,
                        due,
                        calendar,
                        &mut slot,
                    )
                {
                    out.push(t);
                }
            }
        }
        BookingStatus::NoShow { at } => {
            let due = add_minutes(*at, i64::from(policy.no_show_call_after_hours) * 60)
                .map(|d| quiet.next_allowed(d, calendar));
            if let Some(due) = due
                && let Some(t) = task(
                    b,
                    policy.keys.no_show.as_ref(),
                    TaskKind::NoShowRecovery,
                    TaskChannel::Call,
                    due,
                    calendar,
                    &mut slot,
                )
            {
                out.push(t);
            }
        }
        BookingStatus::Cancelled { at, by, .. } => {
            let due = add_minutes(*at, i64::from(policy.rebooking_after_hours) * 60)
                .map(|d| quiet.next_allowed(d, calendar));
            if let Some(due) = due
                && let Some(t) = task(
                    b,
                    policy.keys.rebook.as_ref(),
                    TaskKind::Rebooking,
                    TaskChannel::Call,
                    due,
                    calendar,
                    &mut slot,
                )
            {
                let priority = match by {
                    CancelledBy::Clinic => Priority::High,
                    CancelledBy::Patient => Priority::Normal,
                };
                out.push(t.with_priority(priority));
            }
        }
        _ => {}
    }
}

/// The events that cancel a patient's open reminder and intake tasks that no longer apply:
/// their booking was cancelled, missed, checked in, completed or moved to another slot (the
/// task's subject no longer names the booking's slot), or is gone from the book. Each gets a
/// [`TaskOutcome::Cancelled`] outcome at `now`, so staff never send a reminder for a place
/// the patient gave up. None when nothing is open, so running it again is harmless.
#[must_use]
pub fn cancelled_reminders(
    history: &FollowUpHistory,
    book: &AppointmentBook,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Vec<FollowUpEvent> {
    history
        .tasks()
        .filter(|r| r.outcome.is_none())
        .filter(|r| {
            matches!(
                r.task.kind,
                TaskKind::AppointmentReminder | TaskKind::PreVisitIntake
            )
        })
        .filter_map(|r| match &r.task.reason {
            Reason::Appointment {
                appointment,
                subject,
                ..
            } => {
                let live = book.get(*appointment).is_some_and(|b| {
                    b.status == BookingStatus::Booked
                        && b.patient == r.task.patient
                        && appointment_subject(b, calendar) == *subject
                        && (r.task.kind != TaskKind::PreVisitIntake || b.intake.is_none())
                });
                (!live).then_some(FollowUpEvent::OutcomeRecorded {
                    task: r.task.id,
                    record: OutcomeRecord {
                        outcome: TaskOutcome::Cancelled,
                        at: now,
                        by: None,
                    },
                })
            }
            _ => None,
        })
        .collect()
}
