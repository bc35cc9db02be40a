//! Occurrences: the dates each rule kind asks for, from the journey records, the chronic
//! files and the birth date.

use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

use super::planner::{Ctx, Facts, Occurrence};
use super::rules::{Rule, RuleKind, SeasonDates};
use super::task::Reason;
use crate::calendar::{add_days, sub_days};
use crate::id::PatientId;
use crate::journey::Category;
use crate::patient::ConditionCode;

/// The occurrence dates worth building a task for. Outside it, a first attempt could not be
/// due in the plan's window, so the reason (which allocates) is never built. A rule with
/// tasks in the history gets an open window, since a retry can fall anywhere.
#[derive(Clone, Copy)]
pub(super) struct Window {
    pub(super) lo: NaiveDate,
    pub(super) hi: NaiveDate,
}

impl Window {
    pub(super) const OPEN: Window = Window {
        lo: NaiveDate::MIN,
        hi: NaiveDate::MAX,
    };

    fn holds(self, d: NaiveDate) -> bool {
        self.lo <= d && d <= self.hi
    }
}

/// The latest of `dates` on or before `horizon`, if it lies in the window.
fn latest<T>(
    horizon: NaiveDate,
    window: Window,
    dates: impl Iterator<Item = (NaiveDate, T)>,
) -> Option<(NaiveDate, T)> {
    dates
        .filter(|(d, _)| *d <= horizon)
        .max_by_key(|(d, _)| *d)
        .filter(|(d, _)| window.holds(*d))
}

pub(super) fn derive(
    rule: &Rule,
    ctx: &Ctx<'_>,
    facts: &Facts<'_>,
    window: Window,
    out: &mut Vec<Occurrence>,
) {
    let p = ctx.patient;
    let mut push = |on: NaiveDate, reason: &dyn Fn() -> Reason| {
        if window.holds(on) {
            out.push(Occurrence {
                on,
                reason: reason(),
            });
        }
    };
    match &rule.kind {
        RuleKind::PostVisitCheck { days_after } => {
            if let Some(v) = ctx.last_visit {
                push(add_days(v, u64::from(*days_after)), &|| Reason::PostVisit {
                    visit_on: v,
                    days_after: *days_after,
                });
            }
        }
        RuleKind::RevisitBooking { days_after } => {
            if let Some(v) = ctx.last_visit {
                push(add_days(v, u64::from(*days_after)), &|| Reason::Revisit {
                    visit_on: v,
                    days_after: *days_after,
                });
            }
        }
        RuleKind::Refill { days_before } => {
            refills(p.id(), facts, ctx, *days_before, &mut push);
        }
        RuleKind::Recheck { intervals } => rechecks(ctx, intervals, &mut push),
        RuleKind::ChronicFollowUp => chronic_follow_ups(ctx, &mut push),
        RuleKind::SeasonChange {
            dates,
            days_before,
            chronic_only,
        } => {
            if *chronic_only && !p.chronic_files().iter().any(|f| f.is_open()) {
                return;
            }
            if let Some((on, (d, name))) = season_change(ctx, window, dates, *days_before) {
                push(on, &|| Reason::SeasonChange {
                    name: name.to_owned(),
                    on: d,
                });
            }
        }
        RuleKind::Birthday { days_before } => {
            if let Some((on, d)) = birthday(ctx, window, *days_before) {
                push(on, &|| Reason::Birthday { on: d });
            }
        }
        RuleKind::WinBack {
            lapsed_after_days,
            max_attempts,
            ..
        } => {
            if let Some(o) = first_win_back(ctx, window, *lapsed_after_days, *max_attempts) {
                out.push(o);
            }
        }
        #[cfg(feature = "churn")]
        RuleKind::WinBackAtRisk {
            model,
            p_alive_below,
            max_attempts,
            ..
        } => {
            if let Some(o) =
                at_risk_win_back(ctx, facts, window, model, *p_alive_below, *max_attempts)
            {
                out.push(o);
            }
        }
    }
}

/// The most days after the first visit an at-risk date is looked for (100 years): past it
/// the patient is not at risk in any plan's lifetime.
#[cfg(feature = "churn")]
const AT_RISK_MAX_DAYS: f64 = 36_525.0;

/// The first attempt of a model-keyed win-back: the first local day on which the patient's
/// `p_alive` is below the threshold if they have not come back since their last visit.
///
/// The patient's summary is in whole local days, as `segment::RfmSummary` counts them:
/// `frequency` = visit days after the first, `recency` = last − first visit day; `T` is the
/// day asked about − the first visit day. `p_alive` is below the threshold exactly when
/// `T` exceeds [`crate::churn::BgNbd::p_alive_falls_below_at`], so the day is the first
/// visit day + ⌊that⌋ + 1.
#[cfg(feature = "churn")]
fn at_risk_win_back(
    ctx: &Ctx<'_>,
    facts: &Facts<'_>,
    window: Window,
    model: &crate::churn::BgNbd,
    threshold: crate::segment::Probability,
    max_attempts: u8,
) -> Option<Occurrence> {
    let last = ctx.last_visit?;
    let id = ctx.patient.id();
    let mut days: Vec<NaiveDate> = facts
        .visits
        .iter()
        .filter(|v| v.patient == id && v.at <= ctx.now && !v.is_refunded_by(ctx.now))
        .map(|v| ctx.calendar.local_date(v.at))
        .collect();
    days.sort_unstable();
    days.dedup();
    let first = *days.first()?;
    let frequency = u32::try_from(days.len().saturating_sub(1)).unwrap_or(u32::MAX);
    #[allow(clippy::cast_precision_loss)] // day counts are far below 2^52
    let recency = (last - first).num_days() as f64;
    let summary = crate::churn::Observation::new(frequency, recency, recency).ok()?;
    let t = model.p_alive_falls_below_at(&summary, threshold.get())?;
    if !(0.0..AT_RISK_MAX_DAYS).contains(&t) {
        return None;
    }
    // 0 ≤ t < AT_RISK_MAX_DAYS here, so the cast is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let on = add_days(first, t.floor() as u64 + 1);
    if on > window.hi {
        return None;
    }
    Some(Occurrence {
        on,
        reason: Reason::ChurnRisk {
            last_visit_on: last,
            p_alive_below: threshold,
            attempt: 1,
            of: max_attempts,
        },
    })
}

/// Recheck occurrences, one per open chronic file whose condition has an interval: that
/// many days after the later of the diagnosis and the last visit.
fn rechecks(
    ctx: &Ctx<'_>,
    intervals: &BTreeMap<ConditionCode, u16>,
    push: &mut impl FnMut(NaiveDate, &dyn Fn() -> Reason),
) {
    for f in ctx.patient.chronic_files().iter().filter(|f| f.is_open()) {
        if let Some(&interval) = intervals.get(&f.condition) {
            let since = ctx
                .last_visit
                .map_or(f.diagnosed_on, |v| v.max(f.diagnosed_on));
            push(add_days(since, u64::from(interval)), &|| Reason::Recheck {
                condition: f.condition.clone(),
                since,
                interval_days: interval,
            });
        }
    }
}

/// Chronic follow-up occurrences, one per open chronic file, on its next due date.
fn chronic_follow_ups(ctx: &Ctx<'_>, push: &mut impl FnMut(NaiveDate, &dyn Fn() -> Reason)) {
    for f in ctx.patient.chronic_files().iter().filter(|f| f.is_open()) {
        push(f.next_due(), &|| Reason::ChronicFollowUp {
            condition: f.condition.clone(),
            name: f.name.clone(),
            last: f.last_follow_up,
            per_year: f.cadence.get(),
        });
    }
}

/// The latest season date (`days_before` it, on or before the horizon, in the window) of
/// last year, this year or next: the occurrence date, with the season's date and name.
fn season_change<'d>(
    ctx: &Ctx<'_>,
    window: Window,
    dates: &'d SeasonDates,
    days_before: u16,
) -> Option<(NaiveDate, (NaiveDate, &'d str))> {
    let year = ctx.today.year();
    let back = u64::from(days_before);
    match dates {
        SeasonDates::SolarTerms(terms) => latest(
            ctx.horizon,
            window,
            (year - 1..=year + 1).flat_map(|y| {
                terms.iter().filter_map(move |t| {
                    let d = ctx.policy.solar_terms().date(y, *t)?;
                    Some((sub_days(d, back), (d, t.name())))
                })
            }),
        ),
        SeasonDates::Fixed(fixed) => latest(
            ctx.horizon,
            window,
            (year - 1..=year + 1).flat_map(|y| {
                fixed.iter().filter_map(move |f| {
                    let d = f.in_year(y)?;
                    Some((sub_days(d, back), (d, f.name.trim())))
                })
            }),
        ),
    }
}

/// The latest birthday (`days_before` it, on or before the horizon, in the window) of last
/// year, this year or next, 29 February falling on the 28th in other years: the occurrence
/// date and the birthday.
fn birthday(ctx: &Ctx<'_>, window: Window, days_before: u16) -> Option<(NaiveDate, NaiveDate)> {
    let b = ctx.patient.birth_date()?;
    let year = ctx.today.year();
    let back = u64::from(days_before);
    latest(
        ctx.horizon,
        window,
        (year - 1..=year + 1).filter_map(|y| {
            let d = b
                .with_year(y)
                .or_else(|| NaiveDate::from_ymd_opt(y, 2, 28))?;
            Some((sub_days(d, back), d))
        }),
    )
}

/// The first win-back attempt: the day after the lapse (more than `lapsed_after_days` since
/// the last visit).
fn first_win_back(
    ctx: &Ctx<'_>,
    window: Window,
    lapsed_after_days: u16,
    max_attempts: u8,
) -> Option<Occurrence> {
    let v = ctx.last_visit?;
    // Lapsed means *more* than the threshold: the day after it.
    let lapse = add_days(v, u64::from(lapsed_after_days) + 1);
    // Later attempts come after the lapse, so only the upper bound prunes here.
    if lapse > window.hi {
        return None;
    }
    Some(Occurrence {
        on: lapse,
        reason: Reason::WinBack {
            last_visit_on: v,
            attempt: 1,
            of: max_attempts,
        },
    })
}

/// Refill occurrences, one per drug: its fills in date order, each starting the day after
/// the previous supply ends if they overlap (the PQA shift), give the first day without
/// supply.
fn refills(
    id: PatientId,
    facts: &Facts<'_>,
    ctx: &Ctx<'_>,
    days_before: u16,
    push: &mut dyn FnMut(NaiveDate, &dyn Fn() -> Reason),
) {
    let mut supply: Vec<(&Category, NaiveDate, u32)> = facts
        .fills
        .iter()
        .filter(|f| f.patient == id && f.filled_on <= ctx.today)
        .map(|f| (&f.drug, f.filled_on, f.days_supply.get()))
        .chain(
            facts
                .purchases
                .iter()
                .filter(|p| p.patient == id)
                .filter_map(|p| {
                    let on = ctx.calendar.local_date(p.at);
                    match (&p.category, p.days_supply) {
                        (Some(c), Some(d)) if on <= ctx.today => Some((c, on, d.get())),
                        _ => None,
                    }
                }),
        )
        .collect();
    if supply.is_empty() {
        return;
    }
    supply.sort_unstable();
    let mut i = 0;
    while let Some(&(drug, _, _)) = supply.get(i) {
        let mut runs_out = NaiveDate::MIN;
        while let Some(&(d, on, days)) = supply.get(i) {
            if d != drug {
                break;
            }
            let start = on.max(runs_out);
            runs_out = add_days(start, u64::from(days));
            i += 1;
        }
        push(sub_days(runs_out, u64::from(days_before)), &|| {
            Reason::Refill {
                drug: drug.clone(),
                runs_out_on: runs_out,
            }
        });
    }
}
