//! Reminders before an outreach event to the patients registered for it, as follow-up
//! tasks, and the cancellation of those that no longer apply.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

use super::{OutreachEventError, OutreachEventKind, Roster, RosterStatus};
use crate::appointment::{MAX_OFFSETS, ReminderOffset};
use crate::calendar::ClinicCalendar;
use crate::followup::{
    FollowUpEvent, FollowUpHistory, OutcomeRecord, QuietHours, Reason, RuleKey, Task, TaskChannel,
    TaskKind, TaskOutcome,
};
use crate::id::{OutreachEventId, PatientId};
use crate::patient::{ConsentPurpose, Patient};

/// When and how registered patients are reminded of an event: the offsets before its start
/// (the appointment book's [`ReminderOffset`]s), quiet hours and the channel.
///
/// The default: the day before at 18:00 and two hours before, by WeChat message, quiet
/// hours 21:00–08:00.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawEventReminderPolicy", into = "RawEventReminderPolicy")]
pub struct EventReminderPolicy {
    offsets: Vec<ReminderOffset>,
    quiet_hours: QuietHours,
    channel: TaskChannel,
    /// `event.reminder.{i}` per offset, parsed once (part of every task).
    keys: Vec<Option<RuleKey>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventReminderPolicy {
    offsets: Vec<ReminderOffset>,
    #[serde(default)]
    quiet_hours: QuietHours,
    channel: TaskChannel,
}

impl TryFrom<RawEventReminderPolicy> for EventReminderPolicy {
    type Error = OutreachEventError;
    fn try_from(r: RawEventReminderPolicy) -> Result<Self, Self::Error> {
        EventReminderPolicy::new(r.offsets, r.quiet_hours, r.channel)
    }
}

impl From<EventReminderPolicy> for RawEventReminderPolicy {
    fn from(p: EventReminderPolicy) -> Self {
        RawEventReminderPolicy {
            offsets: p.offsets,
            quiet_hours: p.quiet_hours,
            channel: p.channel,
        }
    }
}

fn keys(offsets: usize) -> Vec<Option<RuleKey>> {
    (0..offsets)
        .map(|i| RuleKey::parse(&format!("event.reminder.{i}")).ok())
        .collect()
}

impl Default for EventReminderPolicy {
    fn default() -> Self {
        EventReminderPolicy {
            offsets: vec![
                ReminderOffset::DayBeforeAt {
                    time: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
                },
                ReminderOffset::Before { minutes: 120 },
            ],
            quiet_hours: QuietHours::default(),
            channel: TaskChannel::WechatMessage,
            keys: keys(2),
        }
    }
}

impl EventReminderPolicy {
    /// A policy.
    ///
    /// # Errors
    ///
    /// [`OutreachEventError::ReminderPolicy`] naming the field: more than
    /// [`MAX_OFFSETS`] offsets, minutes outside 1 to 10080, a channel that is not a call or
    /// a message.
    pub fn new(
        offsets: Vec<ReminderOffset>,
        quiet_hours: QuietHours,
        channel: TaskChannel,
    ) -> Result<Self, OutreachEventError> {
        let bad = |path: String, why: String| OutreachEventError::ReminderPolicy { path, why };
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
        Ok(EventReminderPolicy {
            keys: keys(offsets.len()),
            offsets,
            quiet_hours,
            channel,
        })
    }

    /// The offsets.
    #[must_use]
    pub fn offsets(&self) -> &[ReminderOffset] {
        &self.offsets
    }

    /// The quiet hours.
    #[must_use]
    pub fn quiet_hours(&self) -> QuietHours {
        self.quiet_hours
    }

    /// The channel.
    #[must_use]
    pub fn channel(&self) -> TaskChannel {
        self.channel
    }
}

/// The consent a reminder of an event of this kind rests on: a health lecture or a free
/// clinic is care ([`ConsentPurpose::CareReminder`]); a member day, with its offers and
/// multiplied points, is [`ConsentPurpose::Marketing`].
#[must_use]
pub fn reminder_purpose(kind: &OutreachEventKind) -> ConsentPurpose {
    match kind {
        OutreachEventKind::Lecture { .. } | OutreachEventKind::FreeClinic { .. } => {
            ConsentPurpose::CareReminder
        }
        OutreachEventKind::MemberDay => ConsentPurpose::Marketing,
    }
}

/// The reminders of a published event to its registered patients at `now`, in due order
/// (ties by patient, then task id), so the output is the same for the same inputs.
///
/// For each registered patient who has not attended, each offset gives one
/// [`TaskKind::EventReminder`] task: an instant inside quiet hours moves to their end; a
/// reminder then due at or after the start, or already past at `now`, is left out. A patient
/// `patient_of` does not know, an anonymised one, or one without consent to
/// [`reminder_purpose`] at `now` gets none. A draft, cancelled or started event gets none.
/// Task ids derive from the patient, the event and the offset, so planning again adds
/// nothing the history holds; the host stores the tasks it does not hold yet.
#[must_use]
pub fn plan_reminders<'a>(
    roster: &Roster,
    patient_of: impl Fn(PatientId) -> Option<&'a Patient>,
    policy: &EventReminderPolicy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Vec<Task> {
    let event = roster.event();
    if roster.status() != RosterStatus::Published || event.starts() <= now {
        return vec![];
    }
    let purpose = reminder_purpose(event.kind());
    let starts = calendar.local_datetime(event.starts());
    let mut out: Vec<Task> = Vec::new();
    for (&p, seat) in roster.seats() {
        if seat.attended_at.is_some() {
            continue;
        }
        let Some(patient) = patient_of(p) else {
            continue;
        };
        if patient.id() != p || patient.is_anonymised() || !patient.may(purpose, now) {
            continue;
        }
        for (i, o) in policy.offsets.iter().enumerate() {
            let at = match *o {
                ReminderOffset::DayBeforeAt { time } => starts
                    .date()
                    .pred_opt()
                    .map(|d| calendar.start_of(d))
                    .and_then(|m| m.checked_add_signed(time - NaiveTime::MIN)),
                ReminderOffset::Before { minutes } => event
                    .starts()
                    .checked_sub_signed(Duration::minutes(i64::from(minutes))),
            };
            let Some(due) = at.map(|a| policy.quiet_hours.next_allowed(a, calendar)) else {
                continue;
            };
            if due >= event.starts() || due < now {
                continue;
            }
            let Some(key) = policy.keys.get(i).and_then(Option::as_ref) else {
                continue;
            };
            let reason = Reason::OutreachEvent {
                subject: event.id().to_string(),
                title: event.title().as_str().to_owned(),
                starts,
            };
            let mut task = Task::new(
                p,
                key.clone(),
                TaskKind::EventReminder,
                starts.date(),
                policy.channel,
                reason,
            )
            .with_due_on(calendar.local_date(due))
            .with_due_at(due)
            .with_purpose(purpose);
            if let Some(owner) = patient.owner() {
                task = task.with_assignee(owner);
            }
            out.push(task);
        }
    }
    out.sort_by_key(|a| (a.due_at, a.patient, a.id));
    out
}

/// The events that cancel a patient's open event reminders that no longer apply: the event
/// was cancelled or is gone, or the patient gave the seat back or already attended. Each
/// gets a [`TaskOutcome::Cancelled`] outcome at `now`, so staff never remind a patient of an
/// event they left. None when nothing is open, so running it again is harmless.
#[must_use]
pub fn cancelled_event_reminders<'a>(
    history: &FollowUpHistory,
    roster_of: impl Fn(OutreachEventId) -> Option<&'a Roster>,
    now: DateTime<Utc>,
) -> Vec<FollowUpEvent> {
    history
        .tasks()
        .filter(|r| r.outcome.is_none() && r.task.kind == TaskKind::EventReminder)
        .filter_map(|r| {
            let Reason::OutreachEvent { subject, .. } = &r.task.reason else {
                return None;
            };
            let live = OutreachEventId::from_str(subject)
                .ok()
                .and_then(&roster_of)
                .is_some_and(|roster| {
                    roster.status() == RosterStatus::Published
                        && roster
                            .seats()
                            .get(&r.task.patient)
                            .is_some_and(|s| s.attended_at.is_none())
                });
            (!live).then_some(FollowUpEvent::OutcomeRecorded {
                task: r.task.id,
                record: OutcomeRecord {
                    outcome: TaskOutcome::Cancelled,
                    at: now,
                    by: None,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::AdLawWords;
    use crate::event::{self, LectureVenue, OutreachEvent, RosterCommand};
    use crate::id::ClinicId;
    use crate::patient::{
        self, Channel, ConsentGiver, MobileNumber, PatientCommand, PersonName, Registration,
    };
    use crate::text::Label;

    fn cal() -> ClinicCalendar {
        ClinicCalendar::default()
    }

    /// Monday 2026-03-02 09:00 in the clinic.
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_772_413_200, 0).unwrap()
    }

    fn patient(n: u64, care: bool, marketing: bool) -> Patient {
        let reg = Registration::new(
            PersonName::parse("王五").unwrap(),
            MobileNumber::parse(&format!("1380000{n:04}")).unwrap(),
            ClinicId::new(1),
            Channel::CommunityEvent,
        );
        let mut cmds = vec![PatientCommand::Register(reg)];
        for (purpose, on) in [
            (ConsentPurpose::CareReminder, care),
            (ConsentPurpose::Marketing, marketing),
        ] {
            if on {
                cmds.push(PatientCommand::GrantConsent {
                    purpose,
                    source: Label::parse("front_desk").unwrap(),
                    policy_version: Label::parse("v1").unwrap(),
                    given_by: ConsentGiver::Patient,
                });
            }
        }
        let mut p = None;
        for c in &cmds {
            for e in patient::decide(p.as_ref(), PatientId::new(n), c, now(), cal()).unwrap() {
                patient::apply(&mut p, &e);
            }
        }
        p.unwrap()
    }

    fn roster(kind: OutreachEventKind, hours: i64, patients: &[u64]) -> Roster {
        let e = OutreachEvent::new(
            OutreachEventId::new(4),
            ClinicId::new(1),
            kind,
            Label::parse("控糖讲堂").unwrap(),
            now() + Duration::hours(hours),
            10,
        )
        .and_then(|e| e.with_invitation("饮食与运动", &AdLawWords::default()))
        .unwrap();
        let mut r = None;
        let mut cmds = vec![RosterCommand::Create(e), RosterCommand::Publish];
        cmds.extend(patients.iter().map(|p| RosterCommand::Register {
            patient: PatientId::new(*p),
        }));
        for c in &cmds {
            for ev in event::decide(r.as_ref(), c, now()).unwrap() {
                event::apply(&mut r, &ev);
            }
        }
        r.unwrap()
    }

    const LECTURE: OutreachEventKind = OutreachEventKind::Lecture {
        venue: LectureVenue::OnSite,
    };

    #[test]
    fn registered_patients_are_reminded_in_a_fixed_order_under_consent() {
        // Wednesday 10:00: the day before at 18:00, and 08:00 on the day (two hours before).
        let r = roster(LECTURE, 49, &[3, 1, 2]);
        let ps = [
            patient(1, true, false),
            patient(2, false, true),
            patient(3, true, false),
        ];
        let of = |p: PatientId| ps.iter().find(|x| x.id() == p);
        let policy = EventReminderPolicy::default();
        let tasks = plan_reminders(&r, of, &policy, now(), cal());
        // Patient 2 holds no care consent: a lecture's reminder is care.
        let who: Vec<u64> = tasks.iter().map(|t| t.patient.get()).collect();
        assert_eq!(who, vec![1, 3, 1, 3]);
        let local: Vec<String> = tasks
            .iter()
            .map(|t| {
                cal()
                    .local_datetime(t.due_at.unwrap())
                    .format("%a %H:%M")
                    .to_string()
            })
            .collect();
        assert_eq!(
            local,
            vec!["Tue 18:00", "Tue 18:00", "Wed 08:00", "Wed 08:00"]
        );
        assert!(tasks.iter().all(
            |t| t.kind == TaskKind::EventReminder && t.purpose == ConsentPurpose::CareReminder
        ));
        // The same inputs give the same tasks; the order of registration does not matter.
        let again = plan_reminders(&roster(LECTURE, 49, &[1, 2, 3]), of, &policy, now(), cal());
        assert_eq!(tasks, again);
        // A member day is marketing: only patient 2 is reminded.
        let day = roster(OutreachEventKind::MemberDay, 49, &[1, 2, 3]);
        let m = plan_reminders(&day, of, &policy, now(), cal());
        assert!(
            m.iter()
                .all(|t| t.patient == PatientId::new(2) && t.purpose == ConsentPurpose::Marketing)
        );
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn reminders_leave_quiet_hours_and_never_fall_after_the_start() {
        // Starts Wednesday 06:00: two hours before is 04:00, quiet until 08:00, after the
        // start: left out. The day before at 18:00 stays.
        let r = roster(LECTURE, 22 + 24 - 1, &[1]);
        let ps = [patient(1, true, false)];
        let of = |p: PatientId| ps.iter().find(|x| x.id() == p);
        let tasks = plan_reminders(&r, of, &EventReminderPolicy::default(), now(), cal());
        assert_eq!(tasks.len(), 1);
        // An event within the hour: both reminders past or after the start.
        let soon = roster(LECTURE, 1, &[1]);
        assert!(
            plan_reminders(&soon, of, &EventReminderPolicy::default(), now(), cal()).is_empty()
        );
    }

    #[test]
    fn reminders_of_a_seat_given_back_are_cancelled() {
        let mut r = Some(roster(LECTURE, 49, &[1]));
        let ps = [patient(1, true, false)];
        let of = |p: PatientId| ps.iter().find(|x| x.id() == p);
        let tasks = plan_reminders(
            r.as_ref().unwrap(),
            of,
            &EventReminderPolicy::default(),
            now(),
            cal(),
        );
        let mut h = FollowUpHistory::new(PatientId::new(1));
        for t in &tasks {
            crate::followup::apply(&mut h, &FollowUpEvent::TaskPlanned(t.clone()));
        }
        let live = |_: OutreachEventId| r.as_ref();
        assert!(cancelled_event_reminders(&h, live, now()).is_empty());
        let back = RosterCommand::Unregister {
            patient: PatientId::new(1),
        };
        for ev in event::decide(r.as_ref(), &back, now()).unwrap() {
            event::apply(&mut r, &ev);
        }
        let gone = |_: OutreachEventId| r.as_ref();
        let closed = cancelled_event_reminders(&h, gone, now());
        assert_eq!(closed.len(), 2);
        for e in &closed {
            crate::followup::apply(&mut h, e);
        }
        assert!(cancelled_event_reminders(&h, gone, now()).is_empty());
    }

    #[test]
    fn policies_are_checked_by_field() {
        let e = EventReminderPolicy::new(
            vec![ReminderOffset::Before { minutes: 0 }],
            QuietHours::default(),
            TaskChannel::WechatMessage,
        )
        .unwrap_err();
        assert!(e.to_string().contains("offsets[0].minutes"), "{e}");
        let e =
            serde_json::from_str::<EventReminderPolicy>(r#"{"offsets":[],"channel":"in_clinic"}"#)
                .unwrap_err();
        assert!(e.to_string().contains("channel"), "{e}");
        let p = EventReminderPolicy::default();
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<EventReminderPolicy>(&j).unwrap(), p);
    }
}
