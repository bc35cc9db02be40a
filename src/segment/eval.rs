//! Evaluating expressions, explaining the result, and spotting audiences that can never match.

use serde::Serialize;
use std::fmt;

use super::expr::{CountRange, Expr, PointsRange};
use super::facts::PatientFacts;
use super::probability::Probability;
use crate::money::Yuan;

/// The fact value a node read, for [`Explanation`]: json-rules-engine's `factResult`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum FactValue {
    /// The fact is unknown (no age, no visit yet, no points ledger), or the node is `all`,
    /// `any` or `not`. Serialised as `null`.
    Missing,
    /// A yes/no fact: the tag is carried, the condition is open, the consent is given.
    Bool(bool),
    /// A count: age, visits in the window, days since the last visit, referrals.
    Count(u32),
    /// A points balance.
    Points(i64),
    /// Money paid in the window.
    Money(Yuan),
    /// A code: channel, lifecycle stage, tier.
    Text(String),
    /// A model's probability: `p_alive`.
    Probability(Probability),
}

impl fmt::Display for FactValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactValue::Missing => f.write_str("unknown"),
            FactValue::Bool(b) => write!(f, "{b}"),
            FactValue::Count(n) => write!(f, "{n}"),
            FactValue::Points(n) => write!(f, "{n}"),
            FactValue::Money(y) => write!(f, "¥{y}"),
            FactValue::Text(s) => f.write_str(s),
            FactValue::Probability(p) => write!(f, "{p}"),
        }
    }
}

/// Why an expression held or not: a tree mirroring the expression, each node with its value
/// and the fact it read. The root's `value` equals [`Expr::evaluate`].
///
/// Unlike `evaluate`, explaining visits every child of `all` and `any` (no short circuit), so
/// the trace answers "which parts failed", not only "the first that failed".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The node kind (`all`, `visits_in`, …).
    pub kind: &'static str,
    /// The node in words, without children: `visits_in(90d, ≥2)`.
    pub node: String,
    /// Whether the node held.
    pub value: bool,
    /// The fact value the node read.
    pub fact: FactValue,
    /// The children's explanations, for `all`, `any` and `not`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Explanation>,
}

impl Explanation {
    fn write_indented(&self, f: &mut fmt::Formatter<'_>, depth: usize) -> fmt::Result {
        let mark = if self.value { "✓" } else { "✗" };
        write!(f, "{:indent$}{mark} {}", "", self.node, indent = depth * 2)?;
        if self.fact != FactValue::Missing || self.children.is_empty() {
            write!(f, " [read {}]", self.fact)?;
        }
        writeln!(f)?;
        for c in &self.children {
            c.write_indented(f, depth + 1)?;
        }
        Ok(())
    }
}

impl fmt::Display for Explanation {
    /// An indented tree, one node a line: `✓ visits_in(90d, ≥2) [read 3]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_indented(f, 0)
    }
}

fn in_count(r: &CountRange, v: Option<u32>) -> bool {
    v.is_some_and(|v| r.contains(v))
}

impl Expr {
    /// Whether the patient matches.
    #[must_use]
    pub fn evaluate(&self, facts: &PatientFacts) -> bool {
        match self {
            Expr::All(cs) => cs.iter().all(|c| c.evaluate(facts)),
            Expr::Any(cs) => cs.iter().any(|c| c.evaluate(facts)),
            Expr::Not(c) => !c.evaluate(facts),
            Expr::HasTag(t) => facts.has_tag(t),
            Expr::HasCondition(c) => facts.has_condition(c),
            Expr::Age(r) => in_count(r, facts.age),
            Expr::Channel(c) => facts.channel.as_ref() == Some(c),
            Expr::Lifecycle(l) => facts.lifecycle == *l,
            Expr::VisitsIn { days, min, max } => CountRange {
                min: *min,
                max: *max,
            }
            .contains(facts.visits_in(*days)),
            Expr::SpendIn { days, min, max } => {
                let s = facts.spend_in(*days);
                min.is_none_or(|m| s >= m) && max.is_none_or(|m| s <= m)
            }
            Expr::DaysSinceLastVisit(r) => in_count(r, facts.days_since_last_visit()),
            Expr::Points(r) => facts.points.is_some_and(|p| r.contains(p)),
            Expr::Tier(t) => facts.tier.as_ref() == Some(t),
            Expr::ReferralsMade(r) => r.contains(facts.referrals_made),
            Expr::PAlive(r) => facts.p_alive.is_some_and(|p| r.contains(p)),
            Expr::Consent { purpose } => facts.may(*purpose),
        }
    }

    /// The explanation tree. Its root `value` equals [`Expr::evaluate`].
    #[must_use]
    pub fn explain(&self, facts: &PatientFacts) -> Explanation {
        let children: Vec<Explanation> = self.children().iter().map(|c| c.explain(facts)).collect();
        let value = match self {
            Expr::All(_) => children.iter().all(|c| c.value),
            Expr::Any(_) => children.iter().any(|c| c.value),
            Expr::Not(_) => !children.iter().any(|c| c.value),
            _ => self.evaluate(facts),
        };
        let opt = |v: Option<u32>| v.map_or(FactValue::Missing, FactValue::Count);
        let fact = match self {
            Expr::All(_) | Expr::Any(_) | Expr::Not(_) => FactValue::Missing,
            Expr::HasTag(t) => FactValue::Bool(facts.has_tag(t)),
            Expr::HasCondition(c) => FactValue::Bool(facts.has_condition(c)),
            Expr::Age(_) => opt(facts.age),
            Expr::Channel(_) => facts
                .channel
                .as_ref()
                .map_or(FactValue::Missing, |c| FactValue::Text(c.code())),
            Expr::Lifecycle(_) => FactValue::Text(facts.lifecycle.code().into()),
            Expr::VisitsIn { days, .. } => FactValue::Count(facts.visits_in(*days)),
            Expr::SpendIn { days, .. } => FactValue::Money(facts.spend_in(*days)),
            Expr::DaysSinceLastVisit(_) => opt(facts.days_since_last_visit()),
            Expr::Points(_) => facts
                .points
                .map_or(FactValue::Missing, |p| FactValue::Points(p.get())),
            Expr::Tier(_) => facts
                .tier
                .as_ref()
                .map_or(FactValue::Missing, |t| FactValue::Text(t.as_str().into())),
            Expr::ReferralsMade(_) => FactValue::Count(facts.referrals_made),
            Expr::PAlive(_) => facts
                .p_alive
                .map_or(FactValue::Missing, FactValue::Probability),
            Expr::Consent { purpose } => FactValue::Bool(facts.may(*purpose)),
        };
        Explanation {
            kind: self.kind(),
            node: self.leaf_text(),
            value,
            fact,
            children,
        }
    }

    /// A cheap static check for expressions that can never be true, with the reason in plain
    /// words, or `None` when no contradiction was found.
    ///
    /// It finds: `any` of nothing; empty ranges (`min > max`); `all` holding both `x` and
    /// `not(x)`; `all` holding two different lifecycle stages, channels or tiers, or ranges on
    /// the same fact (the same window for `visits_in`/`spend_in`) that do not overlap; `any`
    /// whose alternatives are all impossible; `not` of something always true. It is sound (a
    /// reported expression never matches) but not complete.
    #[must_use]
    pub fn contradiction(&self) -> Option<String> {
        never(self)
    }
}

fn never(e: &Expr) -> Option<String> {
    match e {
        Expr::Any(cs) if cs.is_empty() => Some("any of nothing is never true".into()),
        Expr::Any(cs) => {
            let reasons: Option<Vec<String>> = cs.iter().map(never).collect();
            reasons.map(|r| format!("every alternative of any is impossible: {}", r.join("; ")))
        }
        Expr::All(cs) => {
            if let Some(r) = cs.iter().find_map(never) {
                return Some(r);
            }
            for (i, a) in cs.iter().enumerate() {
                for b in cs.iter().skip(i + 1) {
                    if let Some(r) = clash(a, b) {
                        return Some(r);
                    }
                }
            }
            None
        }
        Expr::Not(c) if always(c) => Some(format!("not({c}) negates something always true")),
        Expr::Age(r) | Expr::DaysSinceLastVisit(r) | Expr::ReferralsMade(r) if r.is_empty() => {
            Some(empty_range(e))
        }
        Expr::VisitsIn {
            min: Some(a),
            max: Some(b),
            ..
        } if a > b => Some(empty_range(e)),
        Expr::SpendIn {
            min: Some(a),
            max: Some(b),
            ..
        } if a > b => Some(empty_range(e)),
        Expr::Points(r) if r.is_empty() => Some(empty_range(e)),
        Expr::PAlive(r) if r.is_empty() => Some(empty_range(e)),
        _ => None,
    }
}

fn empty_range(e: &Expr) -> String {
    format!("{}: the minimum is above the maximum", e.leaf_text())
}

fn complementary(a: &Expr, b: &Expr) -> bool {
    matches!(b, Expr::Not(inner) if **inner == *a) || matches!(a, Expr::Not(inner) if **inner == *b)
}

fn disjoint(a: (Option<u32>, Option<u32>), b: (Option<u32>, Option<u32>)) -> bool {
    let lo = a.0.unwrap_or(0).max(b.0.unwrap_or(0));
    let hi = a.1.unwrap_or(u32::MAX).min(b.1.unwrap_or(u32::MAX));
    lo > hi
}

fn disjoint_points(a: &PointsRange, b: &PointsRange) -> bool {
    let lo = a.min.max(b.min);
    match (lo, a.max, b.max) {
        (Some(lo), Some(x), Some(y)) => lo > x.min(y),
        (Some(lo), Some(x), None) | (Some(lo), None, Some(x)) => lo > x,
        _ => false,
    }
}

/// Why two siblings of one `all` cannot both hold.
fn clash(a: &Expr, b: &Expr) -> Option<String> {
    let both = || {
        Some(format!(
            "all requires both {a} and {b}, which cannot both hold"
        ))
    };
    if complementary(a, b) {
        return both();
    }
    let r = |c: &CountRange| (c.min, c.max);
    match (a, b) {
        (Expr::Lifecycle(x), Expr::Lifecycle(y)) if x != y => both(),
        (Expr::Channel(x), Expr::Channel(y)) if x != y => both(),
        (Expr::Tier(x), Expr::Tier(y)) if x != y => both(),
        (Expr::Age(x), Expr::Age(y))
        | (Expr::DaysSinceLastVisit(x), Expr::DaysSinceLastVisit(y))
        | (Expr::ReferralsMade(x), Expr::ReferralsMade(y))
            if disjoint(r(x), r(y)) =>
        {
            both()
        }
        (
            Expr::VisitsIn {
                days: d1,
                min: a1,
                max: b1,
            },
            Expr::VisitsIn {
                days: d2,
                min: a2,
                max: b2,
            },
        ) if d1 == d2 && disjoint((*a1, *b1), (*a2, *b2)) => both(),
        (
            Expr::SpendIn {
                days: d1,
                min: a1,
                max: b1,
            },
            Expr::SpendIn {
                days: d2,
                min: a2,
                max: b2,
            },
        ) if d1 == d2 => {
            let lo = (*a1).max(*a2);
            let hi = match (b1, b2) {
                (Some(x), Some(y)) => Some((*x).min(*y)),
                (Some(x), None) | (None, Some(x)) => Some(*x),
                (None, None) => None,
            };
            match (lo, hi) {
                (Some(l), Some(h)) if l > h => both(),
                _ => None,
            }
        }
        (Expr::Points(x), Expr::Points(y)) if disjoint_points(x, y) => both(),
        _ => None,
    }
}

/// Whether an expression holds for every patient (sound, not complete).
fn always(e: &Expr) -> bool {
    let open_count = |min: Option<u32>, max: Option<u32>| min.unwrap_or(0) == 0 && max.is_none();
    match e {
        Expr::All(cs) => cs.iter().all(always),
        Expr::Any(cs) => {
            cs.iter().any(always)
                || cs
                    .iter()
                    .enumerate()
                    .any(|(i, a)| cs.iter().skip(i + 1).any(|b| complementary(a, b)))
        }
        Expr::Not(c) => never(c).is_some(),
        Expr::VisitsIn { min, max, .. } => open_count(*min, *max),
        Expr::ReferralsMade(r) => open_count(r.min, r.max),
        Expr::SpendIn { min, max, .. } => min.is_none_or(Yuan::is_zero) && max.is_none(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PatientId;
    use crate::segment::{Lifecycle, TagName};
    use chrono::NaiveDate;

    fn e(json: &str) -> Expr {
        serde_json::from_str(json).unwrap()
    }

    fn facts() -> PatientFacts {
        PatientFacts::builder(
            PatientId::new(1),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        )
        .age(66)
        .visit(3)
        .visit(40)
        .tag(TagName::parse("condition/高血压").unwrap())
        .lifecycle(Lifecycle::Active)
        .build()
    }

    #[test]
    fn evaluates_and_explains() {
        let x = e(
            r#"{"all":[{"has_tag":"condition/高血压"},{"not":{"lifecycle":"dormant"}},
                {"visits_in":{"days":30,"min":2}}]}"#,
        );
        let f = facts();
        assert!(!x.evaluate(&f));
        let ex = x.explain(&f);
        assert!(!ex.value);
        assert_eq!(ex.children.len(), 3);
        assert!(ex.children[0].value);
        assert_eq!(
            ex.children[1].children[0].fact,
            FactValue::Text("active".into())
        );
        assert_eq!(ex.children[2].fact, FactValue::Count(1));
        assert_eq!(ex.children[2].node, "visits_in(30d, ≥2)");
        let text = ex.to_string();
        assert!(text.contains("✗ visits_in(30d, ≥2) [read 1]"), "{text}");
    }

    #[test]
    fn finds_contradictions() {
        for (json, bad) in [
            (r#"{"any":[]}"#, true),
            (r#"{"all":[]}"#, false),
            (r#"{"age":{"min":80,"max":20}}"#, true),
            (
                r#"{"all":[{"has_tag":"a/b"},{"not":{"has_tag":"a/b"}}]}"#,
                true,
            ),
            (
                r#"{"all":[{"lifecycle":"new"},{"lifecycle":"lost"}]}"#,
                true,
            ),
            (r#"{"all":[{"age":{"min":60}},{"age":{"max":30}}]}"#, true),
            (r#"{"all":[{"age":{"min":30}},{"age":{"max":60}}]}"#, false),
            (
                r#"{"all":[{"spend_in":{"days":30,"min":"100"}},{"spend_in":{"days":30,"max":50}}]}"#,
                true,
            ),
            (r#"{"not":{"visits_in":{"days":30,"min":0}}}"#, true),
            (r#"{"any":[{"any":[]},{"points":{"min":5,"max":1}}]}"#, true),
            (
                r#"{"any":[{"any":[]},{"points":{"min":1,"max":5}}]}"#,
                false,
            ),
        ] {
            assert_eq!(e(json).contradiction().is_some(), bad, "{json}");
        }
        let why = e(r#"{"all":[{"lifecycle":"new"},{"lifecycle":"lost"}]}"#)
            .contradiction()
            .unwrap();
        assert_eq!(
            why,
            "all requires both lifecycle(new) and lifecycle(lost), which cannot both hold"
        );
    }
}
