//! The expression language: types, loading with validation, and walks over the tree.

use serde::{Deserialize, Serialize};
use std::fmt::{self, Write as _};

use super::SegmentError;
use super::lifecycle::Lifecycle;
use super::load::RawExpr;
use super::probability::ProbabilityRange;
use super::tag::{TagCatalog, TagName, TagStatus};
use crate::money::{Points, Yuan};
use crate::patient::{Channel, ConditionCode, ConsentPurpose};
use crate::text::Label;

/// The deepest nesting an expression may have; the root is level 1.
pub const MAX_DEPTH: usize = 32;
/// The most children one `all` or `any` may have.
pub const MAX_CHILDREN: usize = 256;
/// The most nodes one expression may have.
pub const MAX_NODES: usize = 4096;
/// The longest window, in days, that `visits_in` and `spend_in` accept (100 years).
pub const MAX_WINDOW_DAYS: u32 = 36_500;
/// The oldest age an `age` range accepts.
pub const MAX_AGE: u32 = 150;
/// The largest count (visits, referrals, days since) a range accepts.
pub const MAX_COUNT: u32 = 1_000_000;

/// An inclusive range over a whole-number fact; a missing bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct CountRange {
    /// The smallest value that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// The largest value that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u32>,
}

impl CountRange {
    /// Whether `v` is inside.
    #[must_use]
    pub fn contains(&self, v: u32) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// Whether no value can match (`min > max`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!((self.min, self.max), (Some(a), Some(b)) if a > b)
    }
}

/// An inclusive range over a points balance; a missing bound is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct PointsRange {
    /// The smallest balance that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Points>,
    /// The largest balance that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Points>,
}

impl PointsRange {
    /// Whether `v` is inside.
    #[must_use]
    pub fn contains(&self, v: Points) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    /// Whether no value can match (`min > max`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        matches!((self.min, self.max), (Some(a), Some(b)) if a > b)
    }
}

/// A condition on a patient: the one language of auto-tag rules and campaign audiences.
///
/// It is serde data. Each node is a one-key JSON object named by its kind:
///
/// ```json
/// {"all": [
///   {"has_tag": "condition/高血压"},
///   {"not": {"lifecycle": "dormant"}},
///   {"visits_in": {"days": 90, "min": 2}},
///   {"spend_in": {"days": 365, "min": "1000.00"}},
///   {"age": {"min": 60}},
///   {"consent": {"purpose": "marketing"}}
/// ]}
/// ```
///
/// Loading validates (nesting ≤ [`MAX_DEPTH`], ≤ [`MAX_CHILDREN`] per node, ≤ [`MAX_NODES`]
/// in all, every value parsed) and names the path of the first problem, like
/// `any[2].not.visits_in.days`. Ranges are inclusive and either bound may be left out. A range
/// with `min > max` loads (it is a valid if useless audience) and
/// [`Expr::contradiction`] reports it. `all` of nothing is true, `any` of nothing false.
///
/// A fact that is unknown (no age, no visit yet, no points ledger, no tier) matches no range
/// and no value, so `{"not": {"age": {"min": 60}}}` includes patients of unknown age.
///
/// Windows count local days back from the snapshot's day, today included: `visits_in` with
/// `days: 30` counts visits on today and the 29 local days before.
///
/// Evaluation recurses once per level, so an expression built in code (not loaded) should go
/// through [`Expr::validate`] before anything walks it; the constructors that take one
/// (campaigns, auto-tag rules) do so themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "RawExpr")]
#[non_exhaustive]
pub enum Expr {
    /// Every child holds (true when empty).
    All(Vec<Expr>),
    /// At least one child holds (false when empty).
    Any(Vec<Expr>),
    /// The child does not hold.
    Not(Box<Expr>),
    /// The patient carries the tag.
    HasTag(TagName),
    /// The patient has an open chronic file with this condition. Health data.
    HasCondition(ConditionCode),
    /// Age in whole years is in the range.
    Age(CountRange),
    /// The acquisition channel is this one.
    Channel(Channel),
    /// The lifecycle stage is this one.
    Lifecycle(Lifecycle),
    /// The number of visits in the last `days` local days is in `min..=max`.
    VisitsIn {
        /// The window, 1 to [`MAX_WINDOW_DAYS`].
        days: u32,
        /// At least this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        /// At most this many.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
    /// Money paid in the last `days` local days is in `min..=max`.
    SpendIn {
        /// The window, 1 to [`MAX_WINDOW_DAYS`].
        days: u32,
        /// At least this much.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<Yuan>,
        /// At most this much.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<Yuan>,
    },
    /// Whole local days since the last visit are in the range (never visited: no match).
    DaysSinceLastVisit(CountRange),
    /// The points balance is in the range.
    Points(PointsRange),
    /// The membership tier is this code.
    Tier(Label),
    /// Referrals made are in the range.
    ReferralsMade(CountRange),
    /// A churn model's probability that the patient is still active is in the range, as
    /// JSON numbers from 0 to 1: `{"p_alive": {"max": 0.3}}` is "active probability at most
    /// 0.3". No score (the host ran no model for the patient): no match.
    PAlive(ProbabilityRange),
    /// The patient consented to the purpose at the snapshot instant.
    Consent {
        /// The purpose.
        purpose: ConsentPurpose,
    },
}

impl Expr {
    /// `all` of the children.
    #[must_use]
    pub fn all(children: Vec<Expr>) -> Expr {
        Expr::All(children)
    }

    /// `any` of the children.
    #[must_use]
    pub fn any(children: Vec<Expr>) -> Expr {
        Expr::Any(children)
    }

    /// The negation.
    #[allow(clippy::should_implement_trait)]
    #[must_use]
    pub fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }

    /// The patient carries `tag`.
    #[must_use]
    pub fn has_tag(tag: TagName) -> Expr {
        Expr::HasTag(tag)
    }

    /// The patient consented to `purpose`.
    #[must_use]
    pub fn consent(purpose: ConsentPurpose) -> Expr {
        Expr::Consent { purpose }
    }

    /// Checks an expression built in code against everything loading checks: the structural
    /// limits (depth, children per node, node count) and every bounded field (window days,
    /// ages, counts), with the same errors and paths. Serde runs the same checks while it
    /// loads, so an expression that passes here reads back from its JSON, and every
    /// constructor that takes an expression ([`crate::campaign::Campaign::new`],
    /// [`super::TagRuleSet::new`]) calls this first.
    ///
    /// It stops at the first level past [`MAX_DEPTH`], so it is safe on an expression of any
    /// depth; the other walks (`evaluate`, `explain`, `contradiction`, …) recurse once per
    /// level and expect a validated expression.
    ///
    /// # Errors
    ///
    /// A [`SegmentError`] naming the path of the first problem.
    pub fn validate(&self) -> Result<(), SegmentError> {
        let mut nodes = 0usize;
        let mut path = String::new();
        self.check_limits(&mut path, 1, &mut nodes)
    }

    fn check_limits(
        &self,
        path: &mut String,
        depth: usize,
        nodes: &mut usize,
    ) -> Result<(), SegmentError> {
        let len = enter(path, self.kind());
        check_node(path, depth, nodes)?;
        let window = |days: u32, path: &str| check_days(days, path);
        match self {
            Expr::All(cs) | Expr::Any(cs) => {
                check_children(path, cs.len())?;
                for (i, c) in cs.iter().enumerate() {
                    let l = path.len();
                    let _ = write!(path, "[{i}]");
                    c.check_limits(path, depth + 1, nodes)?;
                    path.truncate(l);
                }
            }
            Expr::Not(c) => c.check_limits(path, depth + 1, nodes)?,
            // The same checks, in the same order, as loading (`load::convert`), so that an
            // expression accepted here is accepted again when its JSON is read back.
            Expr::Age(r) => check_range(r, path, MAX_AGE)?,
            Expr::DaysSinceLastVisit(r) | Expr::ReferralsMade(r) => {
                check_range(r, path, MAX_COUNT)?;
            }
            Expr::VisitsIn { days, min, max } => {
                check_range(
                    &CountRange {
                        min: *min,
                        max: *max,
                    },
                    path,
                    MAX_COUNT,
                )?;
                window(*days, path)?;
            }
            Expr::SpendIn { days, .. } => window(*days, path)?,
            _ => {}
        }
        path.truncate(len);
        Ok(())
    }

    /// The node kind as written in JSON (`all`, `has_tag`, `visits_in`, …).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Expr::All(_) => "all",
            Expr::Any(_) => "any",
            Expr::Not(_) => "not",
            Expr::HasTag(_) => "has_tag",
            Expr::HasCondition(_) => "has_condition",
            Expr::Age(_) => "age",
            Expr::Channel(_) => "channel",
            Expr::Lifecycle(_) => "lifecycle",
            Expr::VisitsIn { .. } => "visits_in",
            Expr::SpendIn { .. } => "spend_in",
            Expr::DaysSinceLastVisit(_) => "days_since_last_visit",
            Expr::Points(_) => "points",
            Expr::Tier(_) => "tier",
            Expr::ReferralsMade(_) => "referrals_made",
            Expr::PAlive(_) => "p_alive",
            Expr::Consent { .. } => "consent",
        }
    }

    /// The direct children of `all`, `any` and `not`.
    #[must_use]
    pub fn children(&self) -> &[Expr] {
        match self {
            Expr::All(cs) | Expr::Any(cs) => cs,
            Expr::Not(c) => std::slice::from_ref(&**c),
            _ => &[],
        }
    }

    /// Visits every node depth first with its path.
    pub fn walk<E>(&self, f: &mut impl FnMut(&Expr, &str) -> Result<(), E>) -> Result<(), E> {
        let mut path = String::new();
        self.walk_at(&mut path, f)
    }

    fn walk_at<E>(
        &self,
        path: &mut String,
        f: &mut impl FnMut(&Expr, &str) -> Result<(), E>,
    ) -> Result<(), E> {
        let len = enter(path, self.kind());
        f(self, path)?;
        match self {
            Expr::All(cs) | Expr::Any(cs) => {
                for (i, c) in cs.iter().enumerate() {
                    let l = path.len();
                    let _ = write!(path, "[{i}]");
                    c.walk_at(path, f)?;
                    path.truncate(l);
                }
            }
            Expr::Not(c) => c.walk_at(path, f)?,
            _ => {}
        }
        path.truncate(len);
        Ok(())
    }

    /// Every tag the expression reads, in order of appearance (repeats included).
    pub fn tags(&self) -> impl Iterator<Item = &TagName> {
        let mut out = Vec::new();
        self.collect_tags(&mut out);
        out.into_iter()
    }

    fn collect_tags<'a>(&'a self, out: &mut Vec<&'a TagName>) {
        if let Expr::HasTag(t) = self {
            out.push(t);
        }
        for c in self.children() {
            c.collect_tags(out);
        }
    }

    /// Checks every tag against the catalog.
    ///
    /// # Errors
    ///
    /// [`SegmentError::UnknownTag`] or [`SegmentError::DeletedTag`] for the first offending tag,
    /// with its path (`any[2].not.has_tag`).
    pub fn check_tags(&self, catalog: &TagCatalog) -> Result<(), SegmentError> {
        self.walk(&mut |e, path| match e {
            Expr::HasTag(t) => match catalog.status(t) {
                TagStatus::Live => Ok(()),
                TagStatus::Deleted => Err(SegmentError::DeletedTag {
                    path: path.to_owned(),
                    tag: t.to_string(),
                }),
                TagStatus::Unknown => Err(SegmentError::UnknownTag {
                    path: path.to_owned(),
                    tag: t.to_string(),
                }),
            },
            _ => Ok(()),
        })
    }

    /// Whether the expression reads health data: a condition, or a tag in a sensitive group
    /// of the catalog. Targeting with it for marketing needs the patient's
    /// `HealthDataSegmentation` consent (PIPL arts. 28–29).
    #[must_use]
    pub fn uses_sensitive_data(&self, catalog: &TagCatalog) -> bool {
        match self {
            Expr::HasCondition(_) => true,
            Expr::HasTag(t) => catalog.is_sensitive(t),
            _ => self
                .children()
                .iter()
                .any(|c| c.uses_sensitive_data(catalog)),
        }
    }
}

pub(super) fn enter(path: &mut String, kind: &str) -> usize {
    let len = path.len();
    if !path.is_empty() {
        path.push('.');
    }
    path.push_str(kind);
    len
}

pub(super) fn check_node(path: &str, depth: usize, nodes: &mut usize) -> Result<(), SegmentError> {
    if depth > MAX_DEPTH {
        return Err(SegmentError::TooDeep {
            path: path.to_owned(),
            depth,
            max: MAX_DEPTH,
        });
    }
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(SegmentError::TooManyNodes { max: MAX_NODES });
    }
    Ok(())
}

/// A count range's bounds against `max`, each named by its path (`age.min`), as loading
/// checks them.
fn check_range(r: &CountRange, path: &str, max: u32) -> Result<(), SegmentError> {
    for (bound, v) in [("min", r.min), ("max", r.max)] {
        if let Some(v) = v.filter(|v| *v > max) {
            return Err(SegmentError::OutOfRange {
                path: format!("{path}.{bound}"),
                value: i64::from(v),
                min: 0,
                max: i64::from(max),
            });
        }
    }
    Ok(())
}

pub(super) fn check_children(path: &str, count: usize) -> Result<(), SegmentError> {
    if count > MAX_CHILDREN {
        return Err(SegmentError::TooManyChildren {
            path: path.to_owned(),
            count,
            max: MAX_CHILDREN,
        });
    }
    Ok(())
}

pub(super) fn check_days(days: u32, path: &str) -> Result<(), SegmentError> {
    if (1..=MAX_WINDOW_DAYS).contains(&days) {
        Ok(())
    } else {
        Err(SegmentError::OutOfRange {
            path: format!("{path}.days"),
            value: i64::from(days),
            min: 1,
            max: i64::from(MAX_WINDOW_DAYS),
        })
    }
}

impl fmt::Display for Expr {
    /// A compact one-line form for traces and messages: `all(has_tag(condition/高血压),
    /// not(lifecycle(dormant)))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::All(cs) | Expr::Any(cs) => {
                write!(f, "{}(", self.kind())?;
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(")")
            }
            Expr::Not(c) => write!(f, "not({c})"),
            _ => f.write_str(&self.leaf_text()),
        }
    }
}

fn range_text<T: fmt::Display>(min: Option<T>, max: Option<T>, unit: &str) -> String {
    match (min, max) {
        (None, None) => "any".into(),
        (Some(a), None) => format!("≥{unit}{a}"),
        (None, Some(b)) => format!("≤{unit}{b}"),
        (Some(a), Some(b)) => format!("{unit}{a}..={unit}{b}"),
    }
}

impl Expr {
    /// The node alone, without its children: `visits_in(90d, ≥2)`, or the kind for `all`,
    /// `any` and `not`.
    #[must_use]
    pub fn leaf_text(&self) -> String {
        match self {
            Expr::All(_) | Expr::Any(_) | Expr::Not(_) => self.kind().into(),
            // The commonest leaf of a campaign trace's explain trees: built without the
            // formatting machinery.
            Expr::HasTag(t) => {
                let mut s = String::with_capacity(9 + t.as_str().len());
                s.push_str("has_tag(");
                s.push_str(t.as_str());
                s.push(')');
                s
            }
            Expr::HasCondition(c) => format!("has_condition({c})"),
            Expr::Age(r) => format!("age({})", range_text(r.min, r.max, "")),
            Expr::Channel(c) => format!("channel({c})"),
            Expr::Lifecycle(l) => format!("lifecycle({l})"),
            Expr::VisitsIn { days, min, max } => {
                format!("visits_in({days}d, {})", range_text(*min, *max, ""))
            }
            Expr::SpendIn { days, min, max } => {
                format!("spend_in({days}d, {})", range_text(*min, *max, "¥"))
            }
            Expr::DaysSinceLastVisit(r) => {
                format!("days_since_last_visit({})", range_text(r.min, r.max, ""))
            }
            Expr::Points(r) => format!("points({})", range_text(r.min, r.max, "")),
            Expr::Tier(t) => format!("tier({t})"),
            Expr::ReferralsMade(r) => format!("referrals_made({})", range_text(r.min, r.max, "")),
            Expr::PAlive(r) => format!("p_alive({})", range_text(r.min, r.max, "")),
            Expr::Consent { purpose } => format!("consent({purpose})"),
        }
    }
}
