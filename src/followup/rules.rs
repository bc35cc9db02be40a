//! Care plans: lists of rules, as serde data validated on load.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::FollowUpError;
use super::policy::range;
use super::solar::SolarTerm;
use super::task::{Priority, RuleKey, TaskChannel, TaskKind};
use crate::patient::{ConditionCode, ConsentPurpose};

/// A fixed month and day for season-change calls, with the name nurses see.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FixedDate {
    /// 1 to 12.
    pub month: u8,
    /// 1 to 31, a real day of that month (29 February falls on 28 February in other years).
    pub day: u8,
    /// What to call it (`入伏`), 1 to 16 characters.
    pub name: String,
}

impl FixedDate {
    /// The date in `year`; 29 February becomes 28 February outside leap years.
    #[must_use]
    pub fn in_year(&self, year: i32) -> Option<NaiveDate> {
        let (m, d) = (u32::from(self.month), u32::from(self.day));
        NaiveDate::from_ymd_opt(year, m, d).or_else(|| {
            if (m, d) == (2, 29) {
                NaiveDate::from_ymd_opt(year, 2, 28)
            } else {
                None
            }
        })
    }
}

/// Which dates a season-change rule calls on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SeasonDates {
    /// Solar terms, dated by the policy's [`super::SolarTermTable`].
    SolarTerms(BTreeSet<SolarTerm>),
    /// Fixed month-days.
    Fixed(Vec<FixedDate>),
}

/// What a rule plans, with its parameters. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleKind {
    /// An efficacy check `days_after` days after the latest visit (0 to 365).
    PostVisitCheck {
        /// Days after the visit.
        days_after: u16,
    },
    /// Booking the next visit `days_after` days after the latest visit, if the patient has
    /// not come back (1 to 365).
    RevisitBooking {
        /// Days after the visit.
        days_after: u16,
    },
    /// A refill reminder `days_before` days before a drug's supply runs out (0 to 60), from
    /// fills (and purchases with days of supply), overlapping supply shifted as PQA does.
    Refill {
        /// Days before the first day without supply.
        days_before: u16,
    },
    /// A re-check reminder for each condition with an open chronic file, `interval` days after
    /// the latest visit (or the diagnosis, before any visit); 1 to 730 days.
    Recheck {
        /// Interval per condition code.
        intervals: BTreeMap<ConditionCode, u16>,
    },
    /// A follow-up for each open chronic file, due on its [`crate::patient::ChronicFile::next_due`].
    ChronicFollowUp,
    /// A call on the chosen season dates, `days_before` ahead (0 to 14), optionally only for
    /// patients with an open chronic file.
    SeasonChange {
        /// The dates.
        dates: SeasonDates,
        /// Days ahead of each date.
        #[serde(default)]
        days_before: u16,
        /// Only patients with an open chronic file.
        #[serde(default = "yes")]
        chronic_only: bool,
    },
    /// Birthday care `days_before` the birthday (0 to 14).
    Birthday {
        /// Days ahead.
        #[serde(default)]
        days_before: u16,
    },
    /// Win-back for a patient whose last visit is more than `lapsed_after_days` ago (30 to
    /// 1,095): attempt n (from 0) is due `first_gap_days × (2^n − 1)` days after the lapse, so
    /// the gaps double, and the series stops after `max_attempts` (1 to 6), at a booking, a
    /// decline or an opt-out, or when the patient comes back.
    WinBack {
        /// Days without a visit that make a patient lapsed.
        lapsed_after_days: u16,
        /// The gap between the first and second attempts, in days (1 to 180).
        first_gap_days: u16,
        /// The most attempts.
        max_attempts: u8,
    },
    /// Win-back keyed on the churn model instead of fixed days: the first attempt is due on
    /// the first local day on which the patient's BG/NBD `p_alive` (from their visit days
    /// up to that day) is below `p_alive_below` if they have not come back
    /// ([`crate::churn::BgNbd::p_alive_falls_below_at`]); later attempts follow as for
    /// [`RuleKind::WinBack`], the gaps doubling from `first_gap_days`, at most
    /// `max_attempts`. A patient with a single visit day has `p_alive` 1 in the model and is
    /// left to the fixed-days rule. Needs marketing consent, as every win-back.
    #[cfg(feature = "churn")]
    WinBackAtRisk {
        /// The clinic's fitted BG/NBD model, in days.
        model: crate::churn::BgNbd,
        /// The `p_alive` below which a patient is at risk (above 0 and below 1).
        p_alive_below: crate::segment::Probability,
        /// The gap between the first and second attempts, in days (1 to 180).
        first_gap_days: u16,
        /// The most attempts (1 to 6).
        max_attempts: u8,
    },
}

fn yes() -> bool {
    true
}

impl RuleKind {
    /// The kind of task the rule makes.
    #[must_use]
    pub fn task_kind(&self) -> TaskKind {
        match self {
            RuleKind::PostVisitCheck { .. } => TaskKind::PostVisitCheck,
            RuleKind::RevisitBooking { .. } => TaskKind::RevisitBooking,
            RuleKind::Refill { .. } => TaskKind::Refill,
            RuleKind::Recheck { .. } => TaskKind::Recheck,
            RuleKind::ChronicFollowUp => TaskKind::ChronicFollowUp,
            RuleKind::SeasonChange { .. } => TaskKind::SeasonChange,
            RuleKind::Birthday { .. } => TaskKind::Birthday,
            RuleKind::WinBack { .. } => TaskKind::WinBack,
            #[cfg(feature = "churn")]
            RuleKind::WinBackAtRisk { .. } => TaskKind::WinBack,
        }
    }

    fn validate(&self) -> Result<(), FollowUpError> {
        match self {
            RuleKind::PostVisitCheck { days_after } => {
                range("days_after", (*days_after).into(), 0, 365)
            }
            RuleKind::RevisitBooking { days_after } => {
                range("days_after", (*days_after).into(), 1, 365)
            }
            RuleKind::Refill { days_before } => range("days_before", (*days_before).into(), 0, 60),
            RuleKind::Recheck { intervals } => {
                if intervals.is_empty() {
                    return Err(FollowUpError::EmptyRule {
                        what: "recheck intervals",
                    });
                }
                intervals
                    .values()
                    .try_for_each(|d| range("interval", (*d).into(), 1, 730))
            }
            RuleKind::ChronicFollowUp => Ok(()),
            RuleKind::SeasonChange {
                dates, days_before, ..
            } => {
                range("days_before", (*days_before).into(), 0, 14)?;
                match dates {
                    SeasonDates::SolarTerms(t) if t.is_empty() => Err(FollowUpError::EmptyRule {
                        what: "solar terms",
                    }),
                    SeasonDates::Fixed(f) if f.is_empty() => Err(FollowUpError::EmptyRule {
                        what: "fixed dates",
                    }),
                    SeasonDates::Fixed(f) => f.iter().try_for_each(|d| {
                        let n = d.name.trim().chars().count();
                        if n == 0 || n > 16 || d.name.chars().any(char::is_control) {
                            return Err(FollowUpError::FixedDate {
                                month: d.month,
                                day: d.day,
                            });
                        }
                        // 2000 is a leap year: every real month-day exists in it.
                        NaiveDate::from_ymd_opt(2000, d.month.into(), d.day.into())
                            .map(|_| ())
                            .ok_or(FollowUpError::FixedDate {
                                month: d.month,
                                day: d.day,
                            })
                    }),
                    SeasonDates::SolarTerms(_) => Ok(()),
                }
            }
            RuleKind::Birthday { days_before } => {
                range("days_before", (*days_before).into(), 0, 14)
            }
            RuleKind::WinBack {
                lapsed_after_days,
                first_gap_days,
                max_attempts,
            } => {
                range("lapsed_after_days", (*lapsed_after_days).into(), 30, 1095)?;
                range("first_gap_days", (*first_gap_days).into(), 1, 180)?;
                range("max_attempts", (*max_attempts).into(), 1, 6)
            }
            #[cfg(feature = "churn")]
            RuleKind::WinBackAtRisk {
                p_alive_below,
                first_gap_days,
                max_attempts,
                ..
            } => {
                let top = crate::segment::Probability::SCALE - 1;
                range(
                    "p_alive_below (millionths)",
                    p_alive_below.millionths(),
                    1,
                    top,
                )?;
                range("first_gap_days", (*first_gap_days).into(), 1, 180)?;
                range("max_attempts", (*max_attempts).into(), 1, 6)
            }
        }
    }
}

/// One rule of a care plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Its name in the plan, unique there; part of every task id it makes.
    pub key: RuleKey,
    /// What it plans.
    #[serde(flatten)]
    pub kind: RuleKind,
    /// How tasks reach the patient.
    pub channel: TaskChannel,
    /// How important its tasks are.
    #[serde(default)]
    pub priority: Priority,
    /// Whether its tasks carry an offer: promotional tasks need marketing consent whatever
    /// their kind.
    #[serde(default)]
    pub promotional: bool,
    /// Days past due after which an occurrence is dropped as missed (0 to 730). Defaults:
    /// 365 for chronic follow-ups (a missed one must stay visible), 7 for post-visit checks
    /// and season calls, 3 for birthdays, 14 for refills, 30 otherwise.
    #[serde(default)]
    pub give_up_after_days: Option<u16>,
}

impl Rule {
    /// A rule of normal priority, not promotional, with the kind's default give-up delay;
    /// change those with the `with_…` methods. [`CarePlan::new`] checks the rule.
    ///
    /// ```
    /// use clinic_ops::followup::{CarePlan, Priority, Rule, RuleKey, RuleKind, TaskChannel};
    ///
    /// let call = Rule::new(RuleKey::parse("diabetes_call")?, RuleKind::ChronicFollowUp, TaskChannel::Call)
    ///     .with_priority(Priority::Urgent);
    /// assert_eq!(call.give_up_after(), 365);
    /// let plan = CarePlan::new("慢病", vec![call])?;
    /// assert_eq!(plan.rules().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(key: RuleKey, kind: RuleKind, channel: TaskChannel) -> Self {
        Rule {
            key,
            kind,
            channel,
            priority: Priority::default(),
            promotional: false,
            give_up_after_days: None,
        }
    }

    /// The same rule with another priority.
    #[must_use]
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// The same rule, marked as carrying an offer (or not): promotional tasks need marketing
    /// consent whatever their kind.
    #[must_use]
    pub fn with_promotional(mut self, promotional: bool) -> Self {
        self.promotional = promotional;
        self
    }

    /// The same rule, dropping an occurrence as missed `days` past due (0 to 730, checked by
    /// [`CarePlan::new`]).
    #[must_use]
    pub fn with_give_up_after_days(mut self, days: u16) -> Self {
        self.give_up_after_days = Some(days);
        self
    }

    /// The consent its tasks need.
    #[must_use]
    pub fn purpose(&self) -> ConsentPurpose {
        if self.promotional {
            ConsentPurpose::Marketing
        } else {
            self.kind.task_kind().purpose()
        }
    }

    /// Days past due after which an occurrence is dropped.
    #[must_use]
    pub fn give_up_after(&self) -> u16 {
        self.give_up_after_days.unwrap_or(match self.kind {
            RuleKind::ChronicFollowUp => 365,
            RuleKind::PostVisitCheck { .. } | RuleKind::SeasonChange { .. } => 7,
            RuleKind::Birthday { .. } => 3,
            RuleKind::Refill { .. } => 14,
            _ => 30,
        })
    }
}

/// A care plan (随访方案): a named list of rules, valid by construction.
///
/// ```
/// use clinic_ops::followup::CarePlan;
///
/// let plan: CarePlan = serde_json::from_str(r#"{
///   "name": "糖尿病随访",
///   "rules": [
///     {"key": "check", "kind": "post_visit_check", "days_after": 3, "channel": "wechat_message"},
///     {"key": "file", "kind": "chronic_follow_up", "channel": "call", "priority": "urgent"},
///     {"key": "season", "kind": "season_change", "dates": {"solar_terms": ["lichun", "lidong"]},
///      "channel": "call"}
///   ]
/// }"#)?;
/// assert_eq!(plan.rules().len(), 3);
/// assert!(serde_json::from_str::<CarePlan>(r#"{"name": "x", "rules": []}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawCarePlan")]
pub struct CarePlan {
    name: String,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
struct RawCarePlan {
    name: String,
    rules: Vec<Rule>,
}

impl TryFrom<RawCarePlan> for CarePlan {
    type Error = FollowUpError;
    fn try_from(r: RawCarePlan) -> Result<Self, Self::Error> {
        CarePlan::new(&r.name, r.rules)
    }
}

/// The most rules a care plan may hold.
pub const MAX_RULES: usize = 32;

impl CarePlan {
    /// Checks and builds a plan.
    ///
    /// # Errors
    ///
    /// [`FollowUpError::PlanName`] for an empty or over-64-character name,
    /// [`FollowUpError::OutOfRange`] for no rules or more than [`MAX_RULES`] or a parameter out
    /// of range, [`FollowUpError::DuplicateRule`] for a key used twice,
    /// [`FollowUpError::EmptyRule`] and [`FollowUpError::FixedDate`] for bad rule data.
    pub fn new(name: &str, rules: Vec<Rule>) -> Result<Self, FollowUpError> {
        let n = name.trim().chars().count();
        if n == 0 || n > 64 || name.chars().any(char::is_control) {
            return Err(FollowUpError::PlanName {
                value: name.chars().take(70).collect(),
            });
        }
        range(
            "rules",
            rules.len().try_into().unwrap_or(u32::MAX),
            1,
            MAX_RULES as u32,
        )?;
        let mut seen = BTreeSet::new();
        for r in &rules {
            if !seen.insert(&r.key) {
                return Err(FollowUpError::DuplicateRule { key: r.key.clone() });
            }
            r.kind.validate()?;
            if let Some(g) = r.give_up_after_days {
                range("give_up_after_days", g.into(), 0, 730)?;
            }
        }
        Ok(CarePlan {
            name: name.trim().to_owned(),
            rules,
        })
    }

    /// The name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rules, in the order given.
    #[must_use]
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(key: &str, kind: RuleKind) -> Rule {
        Rule::new(RuleKey::parse(key).unwrap(), kind, TaskChannel::Call)
    }

    #[test]
    fn plans_are_checked_on_load() {
        let ok = CarePlan::new("慢病", vec![rule("a", RuleKind::ChronicFollowUp)]).unwrap();
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<CarePlan>(&json).unwrap(), ok);
        let dup = CarePlan::new(
            "x",
            vec![
                rule("a", RuleKind::ChronicFollowUp),
                rule("a", RuleKind::Birthday { days_before: 0 }),
            ],
        );
        assert!(matches!(dup, Err(FollowUpError::DuplicateRule { .. })));
        let bad = CarePlan::new(
            "x",
            vec![rule(
                "w",
                RuleKind::WinBack {
                    lapsed_after_days: 90,
                    first_gap_days: 30,
                    max_attempts: 9,
                },
            )],
        )
        .unwrap_err();
        assert_eq!(bad.to_string(), "max_attempts 9 is outside 1..=6");
        let feb30 = RuleKind::SeasonChange {
            dates: SeasonDates::Fixed(vec![FixedDate {
                month: 2,
                day: 30,
                name: "x".into(),
            }]),
            days_before: 0,
            chronic_only: false,
        };
        assert!(CarePlan::new("x", vec![rule("s", feb30)]).is_err());
        assert!(CarePlan::new(" ", vec![rule("a", RuleKind::ChronicFollowUp)]).is_err());
        let leap = FixedDate {
            month: 2,
            day: 29,
            name: "x".into(),
        };
        assert_eq!(leap.in_year(2026), NaiveDate::from_ymd_opt(2026, 2, 28));
        let mut promo = rule("p", RuleKind::PostVisitCheck { days_after: 3 });
        assert_eq!(promo.purpose(), ConsentPurpose::CareReminder);
        promo.promotional = true;
        assert_eq!(promo.purpose(), ConsentPurpose::Marketing);
    }
}
