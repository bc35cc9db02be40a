//! The pure planner: from a patient, their journey records, their follow-up history and a
//! care plan, the tasks due today and those overdue.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

use super::FollowUpError;
use super::history::{FollowUpEvent, FollowUpHistory, TaskRecord};
use super::occurrence::{Window, derive};
use super::policy::FollowUpPolicy;
use super::rules::{CarePlan, Rule, RuleKind, SeasonDates};
use super::solar::SolarTerm;
use super::task::{Reason, Task, TaskOutcome, task_id};
use crate::calendar::{ClinicCalendar, Period, add_days, sub_days};
use crate::id::PatientId;
use crate::journey::{Fill, Purchase, Visit};
use crate::patient::{ConsentPurpose, Patient};

/// What the patient did, as the host's HIS records it. Records of other patients are
/// ignored, so a host may pass a shared slice.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// Visits, in any order.
    pub visits: &'a [Visit],
    /// Medicine fills, in any order.
    pub fills: &'a [Fill],
    /// Purchases, in any order; those with days of supply and a category count as fills of
    /// that category.
    pub purchases: &'a [Purchase],
}

/// A task whose due date has passed without an outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueTask {
    /// The task.
    pub task: Task,
    /// Whole local days since its due date, at least 1.
    pub days_overdue: u32,
}

/// Why a task that is due was held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "hold", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Hold {
    /// The patient already has the week's contacts; more important tasks went first.
    WeeklyCap {
        /// The Monday of the local week.
        week_of: NaiveDate,
        /// The policy's cap.
        cap: u8,
    },
}

/// A task held back, with why. It comes back on a later plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTask {
    /// The task.
    pub task: Task,
    /// Why.
    pub why: Hold,
}

/// Why a rule planned nothing although it might have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "skip", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Skip {
    /// The patient has not consented to the purpose the rule needs.
    NoConsent {
        /// The purpose.
        purpose: ConsentPurpose,
    },
    /// The patient opted out; only care they consented to continues.
    OptedOut {
        /// When.
        #[serde(with = "crate::calendar::in_range::instant")]
        at: DateTime<Utc>,
    },
    /// Every attempt allowed was made without reaching the patient (or a win-back series
    /// ran its course).
    AttemptsExhausted {
        /// The attempts made.
        attempts: u8,
    },
    /// The policy's solar-term table does not cover the year: load a table that does.
    SolarTermsMissing {
        /// The year.
        year: i32,
    },
}

/// A rule that planned nothing, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRule {
    /// The rule.
    pub rule: super::RuleKey,
    /// Why.
    pub why: Skip,
}

/// The planner's answer for one patient on one day.
///
/// `overdue` comes first, most overdue first; `due` is in due-time order, most important
/// first on ties. Ties end on the task id, so the order is total and stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use = "a plan holds tasks the host must hand to staff"]
pub struct Plan {
    /// The patient.
    pub patient: PatientId,
    /// The clinic's local date at `now`.
    #[serde(with = "crate::calendar::in_range::date")]
    pub today: NaiveDate,
    /// Tasks due today (or within the policy's look-ahead).
    pub due: Vec<Task>,
    /// Tasks past their due date, with how long.
    pub overdue: Vec<OverdueTask>,
    /// Tasks held back by the weekly contact cap.
    pub held: Vec<HeldTask>,
    /// Rules that planned nothing because of consent, an opt-out or exhausted attempts.
    pub skipped: Vec<SkippedRule>,
}

impl Plan {
    fn empty(patient: PatientId, today: NaiveDate) -> Self {
        Plan {
            patient,
            today,
            due: vec![],
            overdue: vec![],
            held: vec![],
            skipped: vec![],
        }
    }

    /// Every task to do: overdue first, then due.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.overdue.iter().map(|o| &o.task).chain(&self.due)
    }

    /// Whether there is nothing to do.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.due.is_empty() && self.overdue.is_empty()
    }

    /// The events that store this plan's tasks not yet in `history`: none when the plan was
    /// stored already, which is what makes planning twice harmless.
    #[must_use]
    pub fn events(&self, history: &FollowUpHistory) -> Vec<FollowUpEvent> {
        self.tasks()
            .filter(|t| history.get(t.id).is_none())
            .map(|t| FollowUpEvent::TaskPlanned(t.clone()))
            .collect()
    }
}

pub(super) struct Ctx<'a> {
    pub(super) patient: &'a Patient,
    /// The patient's task records, empty without a history.
    pub(super) records: Vec<&'a TaskRecord>,
    pub(super) policy: &'a FollowUpPolicy,
    pub(super) calendar: ClinicCalendar,
    pub(super) today: NaiveDate,
    pub(super) horizon: NaiveDate,
    pub(super) last_visit: Option<NaiveDate>,
    /// The instant planned for.
    pub(super) now: DateTime<Utc>,
}

pub(super) struct Occurrence {
    pub(super) on: NaiveDate,
    pub(super) reason: Reason,
}

/// `at + d`, saturating at the end of chrono's range (stored outcomes are input).
pub(super) fn later(at: DateTime<Utc>, d: chrono::Duration) -> DateTime<Utc> {
    at.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Plans one patient's follow-ups at `now`.
///
/// For each rule of `care`, in order: the rule is skipped when the patient has not consented
/// to its purpose at `now` ([`Patient::may`]), or, for marketing, opted out (an
/// [`TaskOutcome::OptedOut`] in `history`) without granting marketing consent again since. Its
/// occurrences are derived from `facts`, the patient's chronic files and birth date; each
/// becomes a task unless `history` shows it done. An occurrence whose last attempt was
/// [`TaskOutcome::NotReached`] is retried after the policy's backoff, up to its attempts. Tasks
/// due after today plus the look-ahead wait; occurrences past the rule's give-up days are
/// dropped as missed.
///
/// Calls and messages are due at the policy's contact time, or the retry time, moved to the
/// end of quiet hours if inside them. At most the policy's weekly cap of contacts
/// (everything but in-clinic tasks) fall in one local week, counting outcomes recorded in
/// that week: the most important go first (priority, then earliest due, then id); the rest
/// are [`Plan::held`]. An anonymised patient gets an empty plan; a `history` of another
/// patient is ignored.
///
/// The result depends only on the arguments, and task ids are derived from patient, rule,
/// occurrence, subject and attempt, so planning again at the same `now` with the history the
/// first plan's [`Plan::events`] produced yields the same tasks and no new events.
///
/// # Errors
///
/// [`FollowUpError::Calendar`] when `now` lies outside the accepted range
/// ([`crate::calendar::check_instant`]): every date the plan derives is then meaningful.
pub fn plan(
    patient: &Patient,
    facts: &Facts<'_>,
    history: &FollowUpHistory,
    care: &CarePlan,
    policy: &FollowUpPolicy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Result<Plan, FollowUpError> {
    crate::calendar::check_instant("now", now)?;
    Ok(plan_checked(
        patient, facts, history, care, policy, now, calendar,
    ))
}

/// [`plan`] for a `now` already checked.
fn plan_checked(
    patient: &Patient,
    facts: &Facts<'_>,
    history: &FollowUpHistory,
    care: &CarePlan,
    policy: &FollowUpPolicy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Plan {
    let today = calendar.local_date(now);
    let id = patient.id();
    let mut out = Plan::empty(id, today);
    if patient.is_anonymised() {
        return out;
    }
    let history = (history.patient() == id && !history.is_empty()).then_some(history);
    let opted_out = history.and_then(FollowUpHistory::opted_out_at);
    let records: Vec<&TaskRecord> = history.map_or_else(Vec::new, |h| h.tasks().collect());
    let last_visit = facts
        .visits
        .iter()
        .filter(|v| v.patient == id && v.at <= now && !v.is_refunded_by(now))
        .map(|v| v.at)
        .max()
        .map(|at| calendar.local_date(at));
    let ctx = Ctx {
        patient,
        records,
        policy,
        calendar,
        today,
        horizon: add_days(today, u64::from(policy.lookahead_days())),
        last_visit,
        now,
    };
    let mut candidates: Vec<Task> = Vec::new();
    let mut occurrences: Vec<Occurrence> = Vec::new();
    for rule in care.rules() {
        if let Some(why) = consent_gate(rule, patient, opted_out, now) {
            out.skipped.push(SkippedRule {
                rule: rule.key.clone(),
                why,
            });
            continue;
        }
        if let RuleKind::SeasonChange {
            dates: SeasonDates::SolarTerms(_),
            ..
        } = rule.kind
        {
            let year = today.year();
            if policy.solar_terms().date(year, SolarTerm::Lichun).is_none() {
                out.skipped.push(SkippedRule {
                    rule: rule.key.clone(),
                    why: Skip::SolarTermsMissing { year },
                });
            }
        }
        occurrences.clear();
        // Without tasks of this rule in the history only first attempts are possible, due
        // on the occurrence date or (pushed out of quiet hours) the day after.
        let window = if ctx.records.iter().any(|r| r.task.rule == rule.key) {
            Window::OPEN
        } else {
            Window {
                lo: sub_days(today, u64::from(rule.give_up_after()) + 1),
                hi: ctx.horizon,
            }
        };
        derive(rule, &ctx, facts, window, &mut occurrences);
        for occ in occurrences.drain(..) {
            match schedule(rule, occ, &ctx) {
                Scheduled::Task(t) => candidates.push(t),
                Scheduled::Nothing => {}
                Scheduled::Skip(why) => out.skipped.push(SkippedRule {
                    rule: rule.key.clone(),
                    why,
                }),
            }
        }
    }
    if candidates.is_empty() {
        return out;
    }
    apply_cap(&mut out, candidates, &ctx);
    out
}

/// Why a rule may not contact the patient at `now`, if it may not: no consent to its purpose,
/// or an opt-out from marketing that no later grant lifted.
fn consent_gate(
    rule: &Rule,
    patient: &Patient,
    opted_out: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<Skip> {
    let purpose = rule.purpose();
    if !patient.may(purpose, now) {
        return Some(Skip::NoConsent { purpose });
    }
    let at = opted_out.filter(|_| purpose == ConsentPurpose::Marketing)?;
    let regranted = patient
        .consents()
        .in_force(ConsentPurpose::Marketing, now)
        .is_some_and(|r| r.at > at);
    (!regranted).then_some(Skip::OptedOut { at })
}

fn apply_cap(out: &mut Plan, mut candidates: Vec<Task>, ctx: &Ctx<'_>) {
    let cal = ctx.calendar;
    let cap = ctx.policy.weekly_cap();
    let this_week = cal.period_start(ctx.today, Period::Week);
    // Contacts already made in this week or later ones, from recorded outcomes.
    let mut used: Vec<(NaiveDate, u8)> = Vec::new();
    let bump = |used: &mut Vec<(NaiveDate, u8)>, week: NaiveDate| match used
        .iter_mut()
        .find(|(w, _)| *w == week)
    {
        Some((_, n)) => *n = n.saturating_add(1),
        None => used.push((week, 1)),
    };
    {
        for r in &ctx.records {
            if let (Some(o), true) = (r.outcome, r.task.channel.is_contact()) {
                let week = cal.bucket(o.at, Period::Week);
                if week >= this_week {
                    bump(&mut used, week);
                }
            }
        }
    }
    candidates.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.due_on.cmp(&b.due_on))
            .then(a.id.cmp(&b.id))
    });
    candidates.dedup_by_key(|t| t.id);
    for task in candidates {
        if task.channel.is_contact() {
            let week = cal.period_start(task.due_on.max(ctx.today), Period::Week);
            let n = used.iter().find(|(w, _)| *w == week).map_or(0, |(_, n)| *n);
            if n >= cap {
                out.held.push(HeldTask {
                    task,
                    why: Hold::WeeklyCap { week_of: week, cap },
                });
                continue;
            }
            bump(&mut used, week);
        }
        if task.due_on < ctx.today {
            let days = (ctx.today - task.due_on).num_days();
            out.overdue.push(OverdueTask {
                task,
                days_overdue: u32::try_from(days).unwrap_or(u32::MAX),
            });
        } else {
            out.due.push(task);
        }
    }
    out.overdue.sort_by(|a, b| {
        b.days_overdue
            .cmp(&a.days_overdue)
            .then(b.task.priority.cmp(&a.task.priority))
            .then(a.task.id.cmp(&b.task.id))
    });
    out.due.sort_by(|a, b| {
        (a.due_on, a.due_at)
            .cmp(&(b.due_on, b.due_at))
            .then(b.priority.cmp(&a.priority))
            .then(a.id.cmp(&b.id))
    });
}

enum Scheduled {
    Task(Task),
    Nothing,
    Skip(Skip),
}

fn same_occurrence<'r, 'a: 'r>(
    records: &'r [&'a TaskRecord],
    rule: &'r Rule,
    on: NaiveDate,
    subject: Option<&'r str>,
) -> impl Iterator<Item = &'a TaskRecord> + 'r {
    records.iter().copied().filter(move |r| {
        r.task.occurrence == on && r.task.rule == rule.key && r.task.reason.subject() == subject
    })
}

/// The task an occurrence of `rule` calls for now, nothing, or why it is skipped.
fn schedule(rule: &Rule, occ: Occurrence, ctx: &Ctx<'_>) -> Scheduled {
    let Attempt {
        attempt,
        base_on,
        retry_at,
    } = match next_attempt(rule, &occ, ctx) {
        ControlFlow::Continue(a) => a,
        ControlFlow::Break(s) => return s,
    };
    let (due_on, due_at) = due(rule, base_on, retry_at, ctx);
    if due_on > ctx.horizon {
        return Scheduled::Nothing;
    }
    if (ctx.today - due_on).num_days() > i64::from(rule.give_up_after()) {
        return Scheduled::Nothing;
    }
    let reason = numbered(occ.reason, attempt);
    Scheduled::Task(Task {
        id: task_id(
            ctx.patient.id(),
            &rule.key,
            occ.on,
            reason.subject(),
            attempt,
        ),
        patient: ctx.patient.id(),
        rule: rule.key.clone(),
        kind: rule.kind.task_kind(),
        occurrence: occ.on,
        attempt,
        due_on,
        due_at,
        channel: rule.channel,
        assignee: ctx.patient.owner(),
        priority: rule.priority,
        purpose: rule.purpose(),
        reason,
    })
}

/// The attempt an occurrence is due for next.
struct Attempt {
    /// Its number, from 0.
    attempt: u8,
    /// The date it is planned from.
    base_on: NaiveDate,
    /// For a retry after an outcome, the earliest time the backoff allows.
    retry_at: Option<DateTime<Utc>>,
}

impl Attempt {
    /// The first attempt at an occurrence, planned from its date.
    fn first(on: NaiveDate) -> Self {
        Attempt {
            attempt: 0,
            base_on: on,
            retry_at: None,
        }
    }
}

/// The attempt the occurrence is due for, from the history of its tasks, or what to answer
/// instead (nothing more to do, attempts exhausted, a stored task kept).
fn next_attempt(rule: &Rule, occ: &Occurrence, ctx: &Ctx<'_>) -> ControlFlow<Scheduled, Attempt> {
    let subject = occ.reason.subject();
    let latest =
        same_occurrence(&ctx.records, rule, occ.on, subject).max_by_key(|r| r.task.attempt);
    if let RuleKind::WinBack {
        first_gap_days,
        max_attempts,
        ..
    } = &rule.kind
    {
        return next_win_back(latest, occ.on, *first_gap_days, *max_attempts, rule, ctx);
    }
    #[cfg(feature = "churn")]
    if let RuleKind::WinBackAtRisk {
        first_gap_days,
        max_attempts,
        ..
    } = &rule.kind
    {
        return next_win_back(latest, occ.on, *first_gap_days, *max_attempts, rule, ctx);
    }
    let Some(r) = latest else {
        return ControlFlow::Continue(Attempt::first(occ.on));
    };
    match r.outcome {
        None if r.task.attempt == 0 => ControlFlow::Continue(Attempt::first(occ.on)),
        None => {
            let prev = same_occurrence(&ctx.records, rule, occ.on, subject)
                .find(|p| p.task.attempt.checked_add(1) == Some(r.task.attempt))
                .and_then(|p| p.outcome);
            match prev {
                Some(o) => ControlFlow::Continue(Attempt {
                    attempt: r.task.attempt,
                    base_on: occ.on,
                    retry_at: Some(later(o.at, ctx.policy.backoff_before(r.task.attempt))),
                }),
                // The earlier attempt is gone from the history: keep the task as stored.
                None => ControlFlow::Break(keep_stored(&r.task, ctx)),
            }
        }
        Some(o) if o.outcome == TaskOutcome::NotReached => {
            let next = r.task.attempt.saturating_add(1);
            if next >= ctx.policy.max_attempts() {
                return ControlFlow::Break(exhausted(Some(r), next, rule, ctx));
            }
            ControlFlow::Continue(Attempt {
                attempt: next,
                base_on: occ.on,
                retry_at: Some(later(o.at, ctx.policy.backoff_before(next))),
            })
        }
        Some(_) => ControlFlow::Break(Scheduled::Nothing),
    }
}

/// The next win-back attempt after `latest`: each follows a reached or not-reached outcome
/// of the one before, up to `max_attempts`, with gaps that double.
fn next_win_back(
    latest: Option<&TaskRecord>,
    lapse: NaiveDate,
    first_gap_days: u16,
    max_attempts: u8,
    rule: &Rule,
    ctx: &Ctx<'_>,
) -> ControlFlow<Scheduled, Attempt> {
    let next = match latest {
        None => 0,
        Some(r) => match r.outcome.map(|o| o.outcome) {
            None => r.task.attempt,
            Some(TaskOutcome::Reached | TaskOutcome::NotReached) => {
                r.task.attempt.saturating_add(1)
            }
            Some(_) => return ControlFlow::Break(Scheduled::Nothing),
        },
    };
    if next >= max_attempts {
        return ControlFlow::Break(exhausted(latest, next, rule, ctx));
    }
    // Attempt n is due first_gap × (2^n − 1) days after the lapse: the gaps double.
    let gaps = (1u64 << next.min(6)) - 1;
    ControlFlow::Continue(Attempt {
        attempt: next,
        base_on: add_days(lapse, u64::from(first_gap_days) * gaps),
        retry_at: None,
    })
}

/// The local date a task is due and, for a remote channel, the time: the retry time or the
/// policy's contact time on `base_on`, moved out of quiet hours.
fn due(
    rule: &Rule,
    base_on: NaiveDate,
    retry_at: Option<DateTime<Utc>>,
    ctx: &Ctx<'_>,
) -> (NaiveDate, Option<DateTime<Utc>>) {
    let cal = ctx.calendar;
    if rule.channel.is_remote() {
        let at = retry_at.unwrap_or_else(|| {
            later(
                cal.start_of(base_on),
                ctx.policy.contact_time() - chrono::NaiveTime::MIN,
            )
        });
        let at = ctx.policy.quiet_hours().next_allowed(at, cal);
        (cal.local_date(at), Some(at))
    } else {
        (retry_at.map_or(base_on, |a| cal.local_date(a)), None)
    }
}

/// The occurrence's reason with a win-back's attempt numbered from 1.
fn numbered(reason: Reason, attempt: u8) -> Reason {
    match reason {
        Reason::WinBack {
            last_visit_on, of, ..
        } => Reason::WinBack {
            last_visit_on,
            attempt: attempt.saturating_add(1),
            of,
        },
        Reason::ChurnRisk {
            last_visit_on,
            p_alive_below,
            of,
            ..
        } => Reason::ChurnRisk {
            last_visit_on,
            p_alive_below,
            attempt: attempt.saturating_add(1),
            of,
        },
        other => other,
    }
}

/// Reports exhausted attempts while the last one is within the rule's give-up days, and
/// then falls silent, so a plan does not repeat an old give-up for ever.
fn exhausted(last: Option<&TaskRecord>, attempts: u8, rule: &Rule, ctx: &Ctx<'_>) -> Scheduled {
    match last {
        Some(r) if (ctx.today - r.task.due_on).num_days() > i64::from(rule.give_up_after()) => {
            Scheduled::Nothing
        }
        _ => Scheduled::Skip(Skip::AttemptsExhausted { attempts }),
    }
}

fn keep_stored(task: &Task, ctx: &Ctx<'_>) -> Scheduled {
    if task.due_on > ctx.horizon {
        return Scheduled::Nothing;
    }
    Scheduled::Task(Task {
        assignee: ctx.patient.owner(),
        ..task.clone()
    })
}
