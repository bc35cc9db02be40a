//! Lifecycle stages from the rhythm of visits, and relationship strength.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::expr::Expr;
use super::facts::PatientFacts;
use super::probability::Probability;
use crate::money::Yuan;

/// Where a patient is in their relationship with the clinic, from days since the last visit.
///
/// See [`LifecycleRules`] for the exact rule and its thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Lifecycle {
    /// First visit (or registration, before any visit) is recent.
    New,
    /// Visiting at their usual rhythm.
    Active,
    /// Overdue against the active threshold: time for a care call.
    AtRisk,
    /// Well past their rhythm: a win-back target (沉睡).
    Dormant,
    /// Beyond the dormant threshold (流失).
    Lost,
    /// Came back recently after a gap long enough to have been dormant (召回).
    WonBack,
}

impl Lifecycle {
    /// Every stage, in journey order.
    pub const ALL: [Lifecycle; 6] = [
        Lifecycle::New,
        Lifecycle::Active,
        Lifecycle::AtRisk,
        Lifecycle::Dormant,
        Lifecycle::Lost,
        Lifecycle::WonBack,
    ];

    /// The snake_case code used in serde and expressions.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Lifecycle::New => "new",
            Lifecycle::Active => "active",
            Lifecycle::AtRisk => "at_risk",
            Lifecycle::Dormant => "dormant",
            Lifecycle::Lost => "lost",
            Lifecycle::WonBack => "won_back",
        }
    }

    /// The Chinese label clinics use (新客, 活跃, 预警, 沉睡, 流失, 召回).
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Lifecycle::New => "新客",
            Lifecycle::Active => "活跃",
            Lifecycle::AtRisk => "预警",
            Lifecycle::Dormant => "沉睡",
            Lifecycle::Lost => "流失",
            Lifecycle::WonBack => "召回",
        }
    }

    /// Parses a code.
    #[must_use]
    pub fn from_code(s: &str) -> Option<Lifecycle> {
        Lifecycle::ALL.into_iter().find(|l| l.code() == s)
    }
}

impl fmt::Display for Lifecycle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A lifecycle threshold: fixed days, or a multiple of the patient's own usual gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LifecycleThreshold {
    /// A fixed number of days since the last visit.
    Days(u32),
    /// `percent` % of the patient's median gap between distinct visit days (150 = 1.5×).
    ///
    /// The median needs at least two gaps (three visit days); with fewer, `fallback_days` is
    /// used. With an even number of gaps the median is the mean of the two middle gaps,
    /// rounded down.
    MedianGap {
        /// The multiple of the median gap, in percent.
        percent: u32,
        /// Days used when the patient has fewer than two gaps.
        fallback_days: u32,
    },
}

impl LifecycleThreshold {
    fn resolve(self, median_gap: Option<u32>) -> u32 {
        match (self, median_gap) {
            (LifecycleThreshold::Days(d), _) => d,
            (LifecycleThreshold::MedianGap { percent, .. }, Some(m)) => {
                u32::try_from(u64::from(m) * u64::from(percent) / 100).unwrap_or(u32::MAX)
            }
            (LifecycleThreshold::MedianGap { fallback_days, .. }, None) => fallback_days,
        }
    }
}

/// The lifecycle rule, with its three thresholds on days since the last visit `s`.
///
/// - `s ≤ active`: **new** when it was the patient's only visit day, **won back** when the
///   patient returned after a gap longer than `at_risk` (they had gone dormant) and that return
///   is itself within `active` of today, else **active**;
/// - `s ≤ at_risk`: **at risk**; `s ≤ dormant`: **dormant**; beyond: **lost**.
///
/// A patient with no visit yet is measured from registration and is **new** within `active`.
/// Resolved thresholds are made non-decreasing (`at_risk ≥ active`, `dormant ≥ at_risk`) so a
/// median-gap rule can never order the stages backwards.
///
/// Defaults: active 90 days, at risk 180, dormant 365: a TCM course is usually one to three
/// months, so a quarter without a visit is the first warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LifecycleRules {
    /// Up to here since the last visit the patient is active (or new, or won back).
    pub active: LifecycleThreshold,
    /// Up to here the patient is at risk.
    pub at_risk: LifecycleThreshold,
    /// Up to here the patient is dormant; beyond, lost.
    pub dormant: LifecycleThreshold,
    /// The churn rule: an active or won-back patient whose model `p_alive` is below this is
    /// at risk, whatever the days say (a weekly patient silent for five weeks is at risk long
    /// before 90 days). `None` (the default) leaves the stage to the days alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_alive_at_risk: Option<Probability>,
}

impl Default for LifecycleRules {
    fn default() -> Self {
        LifecycleRules {
            active: LifecycleThreshold::Days(90),
            at_risk: LifecycleThreshold::Days(180),
            dormant: LifecycleThreshold::Days(365),
            p_alive_at_risk: None,
        }
    }
}

impl LifecycleRules {
    /// Rules relative to the patient's own rhythm: active within 1.5× their median gap, at
    /// risk within 3×, dormant within 6×; fixed defaults for patients with fewer than three
    /// visit days.
    #[must_use]
    pub fn relative() -> Self {
        LifecycleRules {
            active: LifecycleThreshold::MedianGap {
                percent: 150,
                fallback_days: 90,
            },
            at_risk: LifecycleThreshold::MedianGap {
                percent: 300,
                fallback_days: 180,
            },
            dormant: LifecycleThreshold::MedianGap {
                percent: 600,
                fallback_days: 365,
            },
            p_alive_at_risk: None,
        }
    }

    /// The stage `days_stage` (from [`LifecycleRules::stage`]) after the churn rule: active or
    /// won back becomes at risk when `p_alive` is known and below
    /// [`LifecycleRules::p_alive_at_risk`]. Other stages are kept: a new patient has no repeat
    /// visit to judge (BG/NBD gives them 1), and the later stages are already past at risk.
    #[must_use]
    pub fn with_p_alive(&self, days_stage: Lifecycle, p_alive: Option<Probability>) -> Lifecycle {
        match (days_stage, self.p_alive_at_risk, p_alive) {
            (Lifecycle::Active | Lifecycle::WonBack, Some(limit), Some(p)) if p < limit => {
                Lifecycle::AtRisk
            }
            (stage, ..) => stage,
        }
    }

    /// The stage, from the patient's distinct visit days (day numbers, ascending, all on or
    /// before `today`), the registration day and today.
    #[must_use]
    pub fn stage(&self, visit_days: &[i64], registered_day: i64, today: i64) -> Lifecycle {
        let median = median_gap(visit_days);
        let active = self.active.resolve(median);
        let at_risk = self.at_risk.resolve(median).max(active);
        let dormant = self.dormant.resolve(median).max(at_risk);
        let last = visit_days.last().copied().unwrap_or(registered_day);
        let since = today.saturating_sub(last);
        if since <= i64::from(active) {
            // Won back: a return after a gap longer than `at_risk`, on a day still within
            // `active` of today (later visits since the return do not undo it).
            let returned = visit_days
                .windows(2)
                .rev()
                .take_while(|w| today.saturating_sub(w[1]) <= i64::from(active))
                .any(|w| w[1] - w[0] > i64::from(at_risk));
            match visit_days {
                [] | [_] => Lifecycle::New,
                _ if returned => Lifecycle::WonBack,
                _ => Lifecycle::Active,
            }
        } else if since <= i64::from(at_risk) {
            Lifecycle::AtRisk
        } else if since <= i64::from(dormant) {
            Lifecycle::Dormant
        } else {
            Lifecycle::Lost
        }
    }
}

fn median_gap(days: &[i64]) -> Option<u32> {
    if days.len() < 3 {
        return None;
    }
    let mut gaps: Vec<i64> = days.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_unstable();
    let mid = gaps.len() / 2;
    let m = if gaps.len() % 2 == 1 {
        *gaps.get(mid)?
    } else {
        (gaps.get(mid - 1)? + gaps.get(mid)?) / 2
    };
    u32::try_from(m).ok()
}

/// Relationship strength, as the seed describes it: core patients (核心患者) become
/// advocates, deep patients (深度患者) promoters, marginal patients (边缘患者) are nurtured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Relationship {
    /// 核心患者.
    Core,
    /// 深度患者.
    Deep,
    /// 边缘患者.
    Marginal,
}

impl Relationship {
    /// The Chinese label.
    #[must_use]
    pub fn label_zh(self) -> &'static str {
        match self {
            Relationship::Core => "核心",
            Relationship::Deep => "深度",
            Relationship::Marginal => "边缘",
        }
    }

    /// Classifies a patient: core when `rules.core` holds, else deep when `rules.deep` holds,
    /// else marginal.
    #[must_use]
    pub fn classify(facts: &PatientFacts, rules: &RelationshipRules) -> Relationship {
        if rules.core.evaluate(facts) {
            Relationship::Core
        } else if rules.deep.evaluate(facts) {
            Relationship::Deep
        } else {
            Relationship::Marginal
        }
    }
}

/// The rules for [`Relationship::classify`], written in the expression language so a clinic
/// can change them as data.
///
/// Defaults:
/// - **core**: at least 6 visits in the last 365 days, and either ¥3,000 spent in that year
///   or at least one referral made (the seed's advocates bring friends);
/// - **deep**: at least 3 visits in the last 365 days;
/// - everyone else is **marginal**.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RelationshipRules {
    /// When a patient is core.
    pub core: Expr,
    /// When a patient is deep (tested only when not core).
    pub deep: Expr,
}

impl Default for RelationshipRules {
    fn default() -> Self {
        let year_spend = Yuan::from_whole(3_000).ok();
        RelationshipRules {
            core: Expr::All(vec![
                Expr::VisitsIn {
                    days: 365,
                    min: Some(6),
                    max: None,
                },
                Expr::Any(vec![
                    Expr::SpendIn {
                        days: 365,
                        min: year_spend,
                        max: None,
                    },
                    Expr::ReferralsMade(super::expr::CountRange {
                        min: Some(1),
                        max: None,
                    }),
                ]),
            ]),
            deep: Expr::VisitsIn {
                days: 365,
                min: Some(3),
                max: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_thresholds() {
        let r = LifecycleRules::default();
        assert_eq!(r.stage(&[], 0, 10), Lifecycle::New);
        assert_eq!(r.stage(&[], 0, 100), Lifecycle::AtRisk);
        assert_eq!(r.stage(&[5], 0, 10), Lifecycle::New);
        assert_eq!(r.stage(&[0, 30], 0, 100), Lifecycle::Active);
        assert_eq!(r.stage(&[0, 30], 0, 121), Lifecycle::AtRisk);
        assert_eq!(r.stage(&[0, 30], 0, 211), Lifecycle::Dormant);
        assert_eq!(r.stage(&[0, 30], 0, 396), Lifecycle::Lost);
        assert_eq!(r.stage(&[0, 200], 0, 210), Lifecycle::WonBack);
        assert_eq!(r.stage(&[0, 180], 0, 190), Lifecycle::Active);
        // Still won back on a second visit soon after the return; active once the return
        // is older than the active threshold.
        assert_eq!(r.stage(&[0, 200, 230], 0, 240), Lifecycle::WonBack);
        assert_eq!(r.stage(&[0, 200, 230, 295], 0, 300), Lifecycle::Active);
    }

    #[test]
    fn median_gap_thresholds_follow_the_patient() {
        let r = LifecycleRules::relative();
        // A weekly patient: median gap 7, active within 10 days, at risk within 21.
        let weekly = [0, 7, 14, 21];
        assert_eq!(r.stage(&weekly, 0, 30), Lifecycle::Active);
        assert_eq!(r.stage(&weekly, 0, 35), Lifecycle::AtRisk);
        assert_eq!(r.stage(&weekly, 0, 60), Lifecycle::Dormant);
        assert_eq!(r.stage(&weekly, 0, 70), Lifecycle::Lost);
        assert_eq!(median_gap(&[0, 2, 10, 12]), Some(2));
        assert_eq!(median_gap(&[0, 2, 10]), Some(5));
        // Two visit days: fixed fallbacks.
        assert_eq!(r.stage(&[0, 7], 0, 60), Lifecycle::Active);
    }
}
