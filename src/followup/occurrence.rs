//! Occurrences: the dates each rule kind asks for, from the journey records, the chronic
//! files and the birth date.

use chrono::{Datelike, NaiveDate};

use super::planner::{Ctx, Facts, Occurrence, add_days, sub_days};
use super::rules::{Rule, RuleKind, SeasonDates};
use super::task::Reason;
use crate::id::PatientId;
use crate::journey::Category;

/// The latest date in `dates` on or before `horizon`.
fn latest_by(
    horizon: NaiveDate,
    dates: impl Iterator<Item = (NaiveDate, Reason)>,
) -> Option<(NaiveDate, Reason)> {
    dates.filter(|(d, _)| *d <= horizon).max_by_key(|(d, _)| *d)
}

pub(super) fn derive(rule: &Rule, ctx: &Ctx<'_>, facts: &Facts<'_>, out: &mut Vec<Occurrence>) {
    let p = ctx.patient;
    match &rule.kind {
        RuleKind::PostVisitCheck { days_after } => {
            if let Some(v) = ctx.last_visit {
                out.push(Occurrence {
                    on: add_days(v, u64::from(*days_after)),
                    reason: Reason::PostVisit {
                        visit_on: v,
                        days_after: *days_after,
                    },
                });
            }
        }
        RuleKind::RevisitBooking { days_after } => {
            if let Some(v) = ctx.last_visit {
                out.push(Occurrence {
                    on: add_days(v, u64::from(*days_after)),
                    reason: Reason::Revisit {
                        visit_on: v,
                        days_after: *days_after,
                    },
                });
            }
        }
        RuleKind::Refill { days_before } => refills(p.id(), facts, ctx, *days_before, out),
        RuleKind::Recheck { intervals } => {
            for f in p.chronic_files().iter().filter(|f| f.is_open()) {
                if let Some(&interval) = intervals.get(&f.condition) {
                    let since = ctx
                        .last_visit
                        .map_or(f.diagnosed_on, |v| v.max(f.diagnosed_on));
                    out.push(Occurrence {
                        on: add_days(since, u64::from(interval)),
                        reason: Reason::Recheck {
                            condition: f.condition.clone(),
                            since,
                            interval_days: interval,
                        },
                    });
                }
            }
        }
        RuleKind::ChronicFollowUp => {
            for f in p.chronic_files().iter().filter(|f| f.is_open()) {
                out.push(Occurrence {
                    on: f.next_due(),
                    reason: Reason::ChronicFollowUp {
                        condition: f.condition.clone(),
                        name: f.name.clone(),
                        last: f.last_follow_up,
                        per_year: f.cadence.get(),
                    },
                });
            }
        }
        RuleKind::SeasonChange {
            dates,
            days_before,
            chronic_only,
        } => {
            if *chronic_only && !p.chronic_files().iter().any(|f| f.is_open()) {
                return;
            }
            let year = ctx.today.year();
            let back = u64::from(*days_before);
            let found = match dates {
                SeasonDates::SolarTerms(terms) => latest_by(
                    ctx.horizon,
                    (year - 1..=year + 1).flat_map(|y| {
                        terms.iter().filter_map(move |t| {
                            ctx.policy.solar_terms().date(y, *t).map(|d| {
                                (
                                    sub_days(d, back),
                                    Reason::SeasonChange {
                                        name: t.name().to_owned(),
                                        on: d,
                                    },
                                )
                            })
                        })
                    }),
                ),
                SeasonDates::Fixed(fixed) => latest_by(
                    ctx.horizon,
                    (year - 1..=year + 1).flat_map(|y| {
                        fixed.iter().filter_map(move |f| {
                            f.in_year(y).map(|d| {
                                (
                                    sub_days(d, back),
                                    Reason::SeasonChange {
                                        name: f.name.trim().to_owned(),
                                        on: d,
                                    },
                                )
                            })
                        })
                    }),
                ),
            };
            if let Some((on, reason)) = found {
                out.push(Occurrence { on, reason });
            }
        }
        RuleKind::Birthday { days_before } => {
            if let Some(b) = p.birth_date() {
                let year = ctx.today.year();
                let back = u64::from(*days_before);
                let found = latest_by(
                    ctx.horizon,
                    (year - 1..=year + 1).filter_map(|y| {
                        b.with_year(y)
                            .or_else(|| NaiveDate::from_ymd_opt(y, 2, 28))
                            .map(|d| (sub_days(d, back), Reason::Birthday { on: d }))
                    }),
                );
                if let Some((on, reason)) = found {
                    out.push(Occurrence { on, reason });
                }
            }
        }
        RuleKind::WinBack {
            lapsed_after_days,
            max_attempts,
            ..
        } => {
            if let Some(v) = ctx.last_visit {
                // Lapsed means *more* than the threshold: the day after it.
                out.push(Occurrence {
                    on: add_days(v, u64::from(*lapsed_after_days) + 1),
                    reason: Reason::WinBack {
                        last_visit_on: v,
                        attempt: 1,
                        of: *max_attempts,
                    },
                });
            }
        }
    }
}

/// Refill occurrences, one per drug: its fills in date order, each starting the day after
/// the previous supply ends if they overlap (the PQA shift), give the first day without
/// supply.
fn refills(
    id: PatientId,
    facts: &Facts<'_>,
    ctx: &Ctx<'_>,
    days_before: u16,
    out: &mut Vec<Occurrence>,
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
        out.push(Occurrence {
            on: sub_days(runs_out, u64::from(days_before)),
            reason: Reason::Refill {
                drug: drug.clone(),
                runs_out_on: runs_out,
            },
        });
    }
}
