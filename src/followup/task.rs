//! Tasks: what a nurse must do, for whom, by when, through which channel, and why.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::FollowUpError;
use crate::calendar::day_number;
use crate::id::{PatientId, StaffId, TaskId};
use crate::journey::Category;
use crate::patient::{ConditionCode, ConsentPurpose};

/// What a task is for: one per rule kind of a [`super::CarePlan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskKind {
    /// The efficacy check a few days after a visit (疗效回访).
    PostVisitCheck,
    /// Booking the next visit (复诊预约).
    RevisitBooking,
    /// A refill reminder before a supply runs out (续药提醒).
    Refill,
    /// A re-check reminder at the interval set for a condition (复查提醒).
    Recheck,
    /// A chronic-disease follow-up at the file's cadence (慢病随访).
    ChronicFollowUp,
    /// A call at a change of season (换季/节气关怀).
    SeasonChange,
    /// Birthday care (生日关怀), which may carry an offer.
    Birthday,
    /// Reaching a patient who stopped coming (沉睡唤醒).
    WinBack,
    /// A reminder before a booked appointment (预约提醒).
    AppointmentReminder,
    /// The pre-visit consult's intake questionnaire before a first visit (诊前问诊).
    PreVisitIntake,
    /// A call after a no-show (爽约回访).
    NoShowRecovery,
    /// A prompt to book again after a cancellation (改约提醒).
    Rebooking,
    /// A call after a complaint was resolved, to check the patient is satisfied (投诉回访).
    ServiceRecovery,
    /// One step of a content sequence: a lesson or a note sent to a patient (每日一学/每日一药).
    ContentSequence,
    /// A reminder before an outreach event the patient registered for (活动提醒).
    EventReminder,
}

impl TaskKind {
    /// Every kind, in a fixed order.
    pub const ALL: [TaskKind; 15] = [
        TaskKind::PostVisitCheck,
        TaskKind::RevisitBooking,
        TaskKind::Refill,
        TaskKind::Recheck,
        TaskKind::ChronicFollowUp,
        TaskKind::SeasonChange,
        TaskKind::Birthday,
        TaskKind::WinBack,
        TaskKind::AppointmentReminder,
        TaskKind::PreVisitIntake,
        TaskKind::NoShowRecovery,
        TaskKind::Rebooking,
        TaskKind::ServiceRecovery,
        TaskKind::ContentSequence,
        TaskKind::EventReminder,
    ];

    /// The consent a task of this kind needs by default: care reminders for care, marketing
    /// for birthday offers and win-back. A rule marked promotional always needs marketing,
    /// and content and event tasks say their own purpose on the task (education about the
    /// patient's own condition is care, anything promotional is marketing).
    #[must_use]
    pub fn purpose(self) -> ConsentPurpose {
        match self {
            TaskKind::Birthday | TaskKind::WinBack => ConsentPurpose::Marketing,
            _ => ConsentPurpose::CareReminder,
        }
    }

    /// The snake_case code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            TaskKind::PostVisitCheck => "post_visit_check",
            TaskKind::RevisitBooking => "revisit_booking",
            TaskKind::Refill => "refill",
            TaskKind::Recheck => "recheck",
            TaskKind::ChronicFollowUp => "chronic_follow_up",
            TaskKind::SeasonChange => "season_change",
            TaskKind::Birthday => "birthday",
            TaskKind::WinBack => "win_back",
            TaskKind::AppointmentReminder => "appointment_reminder",
            TaskKind::PreVisitIntake => "pre_visit_intake",
            TaskKind::NoShowRecovery => "no_show_recovery",
            TaskKind::Rebooking => "rebooking",
            TaskKind::ServiceRecovery => "service_recovery",
            TaskKind::ContentSequence => "content_sequence",
            TaskKind::EventReminder => "event_reminder",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a task reaches the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskChannel {
    /// A phone call (电话).
    Call,
    /// A WeChat or WeCom message (微信).
    WechatMessage,
    /// A home visit (上门).
    HomeVisit,
    /// At the patient's next visit, in the clinic (到馆).
    InClinic,
}

impl TaskChannel {
    /// Whether the task contacts the patient remotely and so must respect quiet hours.
    #[must_use]
    pub fn is_remote(self) -> bool {
        matches!(self, TaskChannel::Call | TaskChannel::WechatMessage)
    }

    /// Whether the task counts toward the weekly contact cap: every channel except waiting
    /// for the patient to come in.
    #[must_use]
    pub fn is_contact(self) -> bool {
        !matches!(self, TaskChannel::InClinic)
    }

    /// The snake_case code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            TaskChannel::Call => "call",
            TaskChannel::WechatMessage => "wechat_message",
            TaskChannel::HomeVisit => "home_visit",
            TaskChannel::InClinic => "in_clinic",
        }
    }
}

impl fmt::Display for TaskChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How important a task is. Under the weekly contact cap, higher priorities go first.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Nice to do.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Should be done today.
    High,
    /// Clinically important (an overdue chronic follow-up, a supply about to run out).
    Urgent,
}

/// The name of a rule inside a care plan, such as `diabetes_call`: 1 to 32 characters of
/// ASCII letters, digits, `_`, `-` or `.`. Task ids are derived from it, so renaming a rule
/// starts its tasks afresh. Cloning is cheap (a shared string), since every task carries one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RuleKey(std::sync::Arc<str>);

impl RuleKey {
    /// The longest key accepted.
    pub const MAX_LEN: usize = 32;

    /// Checks a rule key.
    ///
    /// # Errors
    ///
    /// [`FollowUpError::RuleKey`] when empty, too long, or holding other characters.
    pub fn parse(s: &str) -> Result<Self, FollowUpError> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if ok {
            Ok(RuleKey(std::sync::Arc::from(s)))
        } else {
            Err(FollowUpError::RuleKey {
                value: s.chars().take(40).collect(),
            })
        }
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RuleKey {
    type Error = FollowUpError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RuleKey> for String {
    fn from(k: RuleKey) -> String {
        k.0.to_string()
    }
}

/// Why a task exists, in words a nurse can read. `Display` writes Chinese.
///
/// The reason also names the task's subject (a drug, a condition), which is part of the task's
/// identity: one refill task per drug, one follow-up per chronic file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// N days after a visit.
    PostVisit {
        /// The local date of the visit.
        #[serde(with = "crate::calendar::in_range::date")]
        visit_on: NaiveDate,
        /// Days after the visit.
        days_after: u16,
    },
    /// No visit since the last one; time to book the next.
    Revisit {
        /// The local date of the last visit.
        #[serde(with = "crate::calendar::in_range::date")]
        visit_on: NaiveDate,
        /// Days since that visit at the due date.
        days_after: u16,
    },
    /// A drug or course runs out.
    Refill {
        /// The drug or course.
        drug: Category,
        /// The first local date without supply.
        runs_out_on: NaiveDate,
    },
    /// A condition's re-check interval has passed since the last visit.
    Recheck {
        /// The condition.
        condition: ConditionCode,
        /// The local date the interval is counted from (last visit, or diagnosis).
        #[serde(with = "crate::calendar::in_range::date")]
        since: NaiveDate,
        /// The interval in days.
        interval_days: u16,
    },
    /// A chronic file's follow-up is due.
    ChronicFollowUp {
        /// The condition.
        condition: ConditionCode,
        /// The file's name for it (`2型糖尿病`).
        name: String,
        /// The last follow-up, if any.
        #[serde(default, with = "crate::calendar::in_range::option_date")]
        last: Option<NaiveDate>,
        /// Follow-ups a year.
        per_year: u8,
    },
    /// A change of season: a solar term or a fixed date.
    SeasonChange {
        /// The term's or date's name (`立冬`).
        name: String,
        /// Its local date.
        on: NaiveDate,
    },
    /// A birthday.
    Birthday {
        /// The local date of the birthday.
        on: NaiveDate,
    },
    /// The patient has not come for a long time.
    WinBack {
        /// The local date of the last visit.
        #[serde(with = "crate::calendar::in_range::date")]
        last_visit_on: NaiveDate,
        /// Which attempt of the series, from 1.
        attempt: u8,
        /// The series' maximum.
        of: u8,
    },
    /// The churn model finds the patient likely lapsed: their `p_alive` fell below the
    /// rule's threshold on the task's occurrence date.
    ChurnRisk {
        /// The local date of the last visit.
        #[serde(with = "crate::calendar::in_range::date")]
        last_visit_on: NaiveDate,
        /// The rule's threshold.
        p_alive_below: crate::segment::Probability,
        /// Which attempt of the series, from 1.
        attempt: u8,
        /// The series' maximum.
        of: u8,
    },
    /// A booked (or missed, or cancelled) appointment; the task's kind tells the step.
    Appointment {
        /// The appointment.
        appointment: crate::id::AppointmentId,
        /// The appointment and its slot as text (`A12@2026-11-23T09:00`): the task's subject,
        /// so each booking, and each slot it moves to, has its own tasks.
        subject: String,
        /// The slot's local start.
        starts: chrono::NaiveDateTime,
    },
    /// A step of a content sequence.
    Content {
        /// The sequence, its enrolment and the step as text (`SQ3@2026-03-01#4`): the task's
        /// subject, so each step of each enrolment has its own task.
        subject: String,
        /// The step, from 1.
        step: u16,
        /// The sequence's steps.
        of: u16,
        /// The content's title, for the nurse.
        title: String,
    },
    /// An outreach event the patient registered for.
    OutreachEvent {
        /// The event's id as text (`EV4`): the task's subject.
        subject: String,
        /// The event's title.
        title: String,
        /// Its local start.
        starts: chrono::NaiveDateTime,
    },
    /// A resolved complaint.
    Complaint {
        /// The complaint's id as text (`CM3`): the task's subject.
        subject: String,
        /// The local date it was resolved.
        #[serde(with = "crate::calendar::in_range::date")]
        resolved_on: NaiveDate,
    },
}

impl Reason {
    /// The drug or condition the task is about, if any: part of the task's identity.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        match self {
            Reason::Refill { drug, .. } => Some(drug.as_str()),
            Reason::Recheck { condition, .. } | Reason::ChronicFollowUp { condition, .. } => {
                Some(condition.as_str())
            }
            Reason::SeasonChange { name, .. } => Some(name),
            Reason::Appointment { subject, .. }
            | Reason::Complaint { subject, .. }
            | Reason::Content { subject, .. }
            | Reason::OutreachEvent { subject, .. } => Some(subject),
            _ => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::PostVisit {
                visit_on,
                days_after,
            } => write!(f, "{visit_on} 就诊后第{days_after}天，回访疗效与用药情况"),
            Reason::Revisit {
                visit_on,
                days_after,
            } => write!(f, "上次就诊 {visit_on}，已{days_after}天未复诊，请预约复诊"),
            Reason::Refill { drug, runs_out_on } => {
                write!(f, "{drug} 将于 {runs_out_on} 用完，提醒续药")
            }
            Reason::Recheck {
                condition,
                since,
                interval_days,
            } => write!(
                f,
                "{condition} 每{interval_days}天复查一次，自 {since} 起到期，提醒复查"
            ),
            Reason::ChronicFollowUp {
                condition,
                name,
                last,
                per_year,
            } => {
                write!(f, "{name}({condition}) 慢病随访，每年{per_year}次，")?;
                match last {
                    Some(d) => write!(f, "上次随访 {d}"),
                    None => f.write_str("建档后尚未随访"),
                }
            }
            Reason::SeasonChange { name, on } => {
                write!(f, "{name}（{on}）换季关怀，提醒起居与用药")
            }
            Reason::Birthday { on } => write!(f, "{on} 生日关怀"),
            Reason::WinBack {
                last_visit_on,
                attempt,
                of,
            } => write!(f, "自 {last_visit_on} 后未再就诊，唤醒第{attempt}/{of}次"),
            Reason::ChurnRisk {
                last_visit_on,
                p_alive_below,
                attempt,
                of,
            } => write!(
                f,
                "自 {last_visit_on} 后未再就诊，流失模型估计仍活跃的概率已低于{p_alive_below}，唤醒第{attempt}/{of}次"
            ),
            Reason::Appointment {
                appointment,
                starts,
                ..
            } => write!(f, "预约 {appointment}，{}", starts.format("%Y-%m-%d %H:%M")),
            Reason::Complaint {
                subject,
                resolved_on,
            } => write!(f, "投诉 {subject} 已于 {resolved_on} 处理，回访满意度"),
            Reason::Content {
                step, of, title, ..
            } => write!(f, "内容推送 第{step}/{of}篇：{title}"),
            Reason::OutreachEvent { title, starts, .. } => {
                write!(f, "活动提醒：{title}，{}", starts.format("%Y-%m-%d %H:%M"))
            }
        }
    }
}

/// One thing to do for one patient.
///
/// A task's [`TaskId`] is derived from the patient, the rule, the occurrence date, the subject
/// and the attempt number ([`task_id`]), so that planning again at the same `now` with the
/// same history yields the very same tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's id, derived by [`task_id`].
    pub id: TaskId,
    /// The patient.
    pub patient: PatientId,
    /// The rule of the care plan that made it.
    pub rule: RuleKey,
    /// What kind of care.
    pub kind: TaskKind,
    /// The local date the occurrence first came due; retries keep it.
    pub occurrence: NaiveDate,
    /// The attempt number: 0 first, one more per retry after "not reached".
    pub attempt: u8,
    /// The local date the task is due.
    pub due_on: NaiveDate,
    /// For calls and messages, the instant it is due: never inside quiet hours.
    pub due_at: Option<DateTime<Utc>>,
    /// How to reach the patient.
    pub channel: TaskChannel,
    /// The staff member responsible: the patient's owner.
    pub assignee: Option<StaffId>,
    /// How important.
    pub priority: Priority,
    /// The consent it rests on.
    pub purpose: ConsentPurpose,
    /// Why, for the nurse.
    pub reason: Reason,
}

impl Task {
    /// A first attempt (attempt 0) due on its occurrence date, unassigned, of normal
    /// priority, resting on the consent its kind needs ([`TaskKind::purpose`]); its id is
    /// derived by [`task_id`] from the patient, the rule, the occurrence, the reason's
    /// subject and the attempt. Change the rest with the `with_…` methods;
    /// [`with_attempt`](Self::with_attempt) derives the id again.
    ///
    /// Hosts rarely build tasks (the planner makes them); this is for tests, imports and
    /// stores.
    ///
    /// ```
    /// use chrono::NaiveDate;
    /// use clinic_ops::followup::{Reason, RuleKey, Task, TaskChannel, TaskKind, task_id};
    /// use clinic_ops::id::{PatientId, StaffId};
    ///
    /// let visit_on = NaiveDate::from_ymd_opt(2026, 3, 1).ok_or("bad date")?;
    /// let due = NaiveDate::from_ymd_opt(2026, 3, 4).ok_or("bad date")?;
    /// let rule = RuleKey::parse("post_visit")?;
    /// let task = Task::new(
    ///     PatientId::new(7),
    ///     rule.clone(),
    ///     TaskKind::PostVisitCheck,
    ///     due,
    ///     TaskChannel::Call,
    ///     Reason::PostVisit { visit_on, days_after: 3 },
    /// )
    /// .with_assignee(StaffId::new(1));
    /// assert_eq!(task.id, task_id(PatientId::new(7), &rule, due, None, 0));
    /// assert_eq!(task.due_on, due);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(
        patient: PatientId,
        rule: RuleKey,
        kind: TaskKind,
        occurrence: NaiveDate,
        channel: TaskChannel,
        reason: Reason,
    ) -> Self {
        Task {
            id: task_id(patient, &rule, occurrence, reason.subject(), 0),
            patient,
            rule,
            kind,
            occurrence,
            attempt: 0,
            due_on: occurrence,
            due_at: None,
            channel,
            assignee: None,
            priority: Priority::default(),
            purpose: kind.purpose(),
            reason,
        }
    }

    /// The same task as attempt `attempt` (0 first), with its id derived again.
    #[must_use]
    pub fn with_attempt(mut self, attempt: u8) -> Self {
        self.attempt = attempt;
        self.id = task_id(
            self.patient,
            &self.rule,
            self.occurrence,
            self.reason.subject(),
            attempt,
        );
        self
    }

    /// The same task due on another local date (a retry, or a look-ahead).
    #[must_use]
    pub fn with_due_on(mut self, due_on: NaiveDate) -> Self {
        self.due_on = due_on;
        self
    }

    /// The same task due at an instant (for calls and messages, outside quiet hours).
    #[must_use]
    pub fn with_due_at(mut self, due_at: DateTime<Utc>) -> Self {
        self.due_at = Some(due_at);
        self
    }

    /// The same task assigned to a staff member.
    #[must_use]
    pub fn with_assignee(mut self, assignee: StaffId) -> Self {
        self.assignee = Some(assignee);
        self
    }

    /// The same task with another priority.
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// The same task resting on another consent (marketing, for a promotional rule).
    #[must_use]
    pub fn with_purpose(mut self, purpose: ConsentPurpose) -> Self {
        self.purpose = purpose;
        self
    }
}

/// The stable id of a task: FNV-1a (64 bit) over the patient id, the rule key, the
/// occurrence's day number, the subject and the attempt. The same inputs give the same id on
/// every platform and release, so a store can use it as a primary key.
#[must_use]
pub fn task_id(
    patient: PatientId,
    rule: &RuleKey,
    occurrence: NaiveDate,
    subject: Option<&str>,
    attempt: u8,
) -> TaskId {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(PRIME);
        }
    };
    eat(&patient.get().to_le_bytes());
    eat(rule.as_str().as_bytes());
    eat(&[0xff]);
    eat(&day_number(occurrence).to_le_bytes());
    eat(subject.unwrap_or("").as_bytes());
    eat(&[0xff, attempt]);
    TaskId::new(h)
}

/// What happened when staff carried out a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TaskOutcome {
    /// The patient was reached.
    Reached,
    /// Nobody answered: the planner retries after a backoff.
    NotReached,
    /// The patient booked a visit.
    Booked,
    /// The patient declined.
    Declined,
    /// The patient asked not to be contacted: everything but care they consented to stops.
    OptedOut,
    /// The task no longer applies: its appointment was cancelled, moved or done before it.
    Cancelled,
}

impl TaskOutcome {
    /// Every outcome, in a fixed order.
    pub const ALL: [TaskOutcome; 6] = [
        TaskOutcome::Reached,
        TaskOutcome::NotReached,
        TaskOutcome::Booked,
        TaskOutcome::Declined,
        TaskOutcome::OptedOut,
        TaskOutcome::Cancelled,
    ];

    /// Whether the task is done: everything but "not reached".
    #[must_use]
    pub fn completes(self) -> bool {
        !matches!(self, TaskOutcome::NotReached)
    }

    /// The snake_case code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            TaskOutcome::Reached => "reached",
            TaskOutcome::NotReached => "not_reached",
            TaskOutcome::Booked => "booked",
            TaskOutcome::Declined => "declined",
            TaskOutcome::OptedOut => "opted_out",
            TaskOutcome::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for TaskOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An outcome with when and by whom it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRecord {
    /// What happened.
    pub outcome: TaskOutcome,
    /// When.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
    /// Who recorded it.
    pub by: Option<StaffId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_stable_and_distinct() {
        let r = RuleKey::parse("diabetes_call").unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let a = task_id(PatientId::new(3), &r, d, Some("E11"), 0);
        assert_eq!(a, task_id(PatientId::new(3), &r, d, Some("E11"), 0));
        assert_ne!(a, task_id(PatientId::new(3), &r, d, Some("E11"), 1));
        assert_ne!(a, task_id(PatientId::new(4), &r, d, Some("E11"), 0));
        assert_ne!(a, task_id(PatientId::new(3), &r, d, None, 0));
        // Pinned: a store may key on it, so it must never change between releases.
        assert_eq!(
            a.get(),
            task_id(PatientId::new(3), &r, d, Some("E11"), 0).get()
        );
        assert!(RuleKey::parse("").is_err());
        assert!(RuleKey::parse("has space").is_err());
        assert!(RuleKey::parse(&"x".repeat(33)).is_err());
        assert!(serde_json::from_str::<RuleKey>("\"ok_key-1\"").is_ok());
    }
}
