//! Loading expressions: the raw serde form and its conversion, which checks every value and
//! names the path of the first problem.

use rust_decimal::Decimal;
use serde::Deserialize;
use std::fmt::Write as _;

use super::SegmentError;
use super::expr::{
    CountRange, Expr, MAX_AGE, MAX_COUNT, PointsRange, check_children, check_days, check_node,
    enter,
};
use super::lifecycle::Lifecycle;
use super::probability::{Probability, ProbabilityRange};
use super::tag::TagName;
use crate::money::{Points, Yuan};
use crate::patient::{Channel, ConditionCode, ConsentPurpose};
use crate::text::Label;

/// What serde reads: plain strings and integers, so every value is checked here with its path.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum RawExpr {
    All(Vec<RawExpr>),
    Any(Vec<RawExpr>),
    Not(Box<RawExpr>),
    HasTag(String),
    HasCondition(String),
    Age(RawRange),
    Channel(String),
    Lifecycle(String),
    VisitsIn(RawWindow),
    SpendIn(RawMoneyWindow),
    DaysSinceLastVisit(RawRange),
    Points(RawRange),
    Tier(String),
    ReferralsMade(RawRange),
    PAlive(RawProbabilityRange),
    Consent(RawConsent),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbabilityRange {
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRange {
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    days: i64,
    #[serde(default)]
    min: Option<i64>,
    #[serde(default)]
    max: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMoneyWindow {
    days: i64,
    #[serde(default)]
    min: Option<RawMoney>,
    #[serde(default)]
    max: Option<RawMoney>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawMoney {
    Text(String),
    Whole(u64),
    Float(f64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsent {
    purpose: String,
}

impl TryFrom<RawExpr> for Expr {
    type Error = SegmentError;
    fn try_from(raw: RawExpr) -> Result<Self, Self::Error> {
        let mut path = String::new();
        let mut nodes = 0;
        convert(raw, &mut path, 1, &mut nodes)
    }
}

fn raw_kind(raw: &RawExpr) -> &'static str {
    match raw {
        RawExpr::All(_) => "all",
        RawExpr::Any(_) => "any",
        RawExpr::Not(_) => "not",
        RawExpr::HasTag(_) => "has_tag",
        RawExpr::HasCondition(_) => "has_condition",
        RawExpr::Age(_) => "age",
        RawExpr::Channel(_) => "channel",
        RawExpr::Lifecycle(_) => "lifecycle",
        RawExpr::VisitsIn(_) => "visits_in",
        RawExpr::SpendIn(_) => "spend_in",
        RawExpr::DaysSinceLastVisit(_) => "days_since_last_visit",
        RawExpr::Points(_) => "points",
        RawExpr::Tier(_) => "tier",
        RawExpr::ReferralsMade(_) => "referrals_made",
        RawExpr::PAlive(_) => "p_alive",
        RawExpr::Consent(_) => "consent",
    }
}

fn convert(
    raw: RawExpr,
    path: &mut String,
    depth: usize,
    nodes: &mut usize,
) -> Result<Expr, SegmentError> {
    let len = enter(path, raw_kind(&raw));
    check_node(path, depth, nodes)?;
    // Owned, because converting the children extends `path` in place.
    let p = path.clone();
    let p = p.as_str();
    let text = |source| SegmentError::BadText {
        path: p.to_owned(),
        source,
    };
    let out = match raw {
        RawExpr::All(cs) => Expr::All(convert_children(cs, path, depth, nodes)?),
        RawExpr::Any(cs) => Expr::Any(convert_children(cs, path, depth, nodes)?),
        RawExpr::Not(c) => Expr::Not(Box::new(convert(*c, path, depth + 1, nodes)?)),
        RawExpr::HasTag(s) => {
            Expr::HasTag(TagName::parse(&s).map_err(|source| SegmentError::BadTag {
                path: p.to_owned(),
                source,
            })?)
        }
        RawExpr::HasCondition(s) => Expr::HasCondition(ConditionCode::parse(&s).map_err(text)?),
        RawExpr::Channel(s) => Expr::Channel(Channel::parse(&s).map_err(text)?),
        RawExpr::Tier(s) => Expr::Tier(Label::parse(&s).map_err(text)?),
        RawExpr::Lifecycle(s) => {
            Expr::Lifecycle(
                Lifecycle::from_code(&s).ok_or_else(|| SegmentError::UnknownCode {
                    path: p.to_owned(),
                    value: s.clone(),
                    expected: "new, active, at_risk, dormant, lost, won_back",
                })?,
            )
        }
        RawExpr::Consent(c) => Expr::Consent {
            purpose: ConsentPurpose::ALL
                .into_iter()
                .find(|q| q.code() == c.purpose)
                .ok_or_else(|| SegmentError::UnknownCode {
                    path: format!("{p}.purpose"),
                    value: c.purpose.clone(),
                    expected: "care_reminder, marketing, health_data_segmentation, group_chat, \
                               third_party_sharing",
                })?,
        },
        RawExpr::Age(r) => Expr::Age(count_range(r, p, MAX_AGE)?),
        RawExpr::DaysSinceLastVisit(r) => Expr::DaysSinceLastVisit(count_range(r, p, MAX_COUNT)?),
        RawExpr::ReferralsMade(r) => Expr::ReferralsMade(count_range(r, p, MAX_COUNT)?),
        RawExpr::PAlive(r) => {
            let bound = |v: Option<f64>, name: &str| {
                v.map(|v| {
                    Probability::new(v).ok_or_else(|| SegmentError::BadProbability {
                        path: format!("{p}.{name}"),
                        value: v.to_string(),
                    })
                })
                .transpose()
            };
            Expr::PAlive(ProbabilityRange {
                min: bound(r.min, "min")?,
                max: bound(r.max, "max")?,
            })
        }
        RawExpr::Points(r) => Expr::Points(PointsRange {
            min: r.min.map(Points::new),
            max: r.max.map(Points::new),
        }),
        RawExpr::VisitsIn(w) => {
            let r = count_range(
                RawRange {
                    min: w.min,
                    max: w.max,
                },
                p,
                MAX_COUNT,
            )?;
            Expr::VisitsIn {
                days: window_days(w.days, p)?,
                min: r.min,
                max: r.max,
            }
        }
        RawExpr::SpendIn(w) => Expr::SpendIn {
            days: window_days(w.days, p)?,
            min: w.min.map(|m| money(m, &format!("{p}.min"))).transpose()?,
            max: w.max.map(|m| money(m, &format!("{p}.max"))).transpose()?,
        },
    };
    path.truncate(len);
    Ok(out)
}

fn convert_children(
    cs: Vec<RawExpr>,
    path: &mut String,
    depth: usize,
    nodes: &mut usize,
) -> Result<Vec<Expr>, SegmentError> {
    check_children(path, cs.len())?;
    let mut out = Vec::with_capacity(cs.len());
    for (i, c) in cs.into_iter().enumerate() {
        let l = path.len();
        let _ = write!(path, "[{i}]");
        out.push(convert(c, path, depth + 1, nodes)?);
        path.truncate(l);
    }
    Ok(out)
}

fn bounded(v: i64, path: String, max: u32) -> Result<u32, SegmentError> {
    u32::try_from(v)
        .ok()
        .filter(|x| *x <= max)
        .ok_or(SegmentError::OutOfRange {
            path,
            value: v,
            min: 0,
            max: i64::from(max),
        })
}

fn count_range(r: RawRange, path: &str, max: u32) -> Result<CountRange, SegmentError> {
    Ok(CountRange {
        min: r
            .min
            .map(|v| bounded(v, format!("{path}.min"), max))
            .transpose()?,
        max: r
            .max
            .map(|v| bounded(v, format!("{path}.max"), max))
            .transpose()?,
    })
}

fn window_days(v: i64, path: &str) -> Result<u32, SegmentError> {
    // `check_days` names the range `1..=MAX_WINDOW_DAYS`, as `Expr::validate` does, whatever
    // side of it `v` falls.
    let d = u32::try_from(v).unwrap_or(0);
    check_days(d, path).map_err(|e| match e {
        SegmentError::OutOfRange { path, min, max, .. } => SegmentError::OutOfRange {
            path,
            value: v,
            min,
            max,
        },
        other => other,
    })?;
    Ok(d)
}

fn money(raw: RawMoney, path: &str) -> Result<Yuan, SegmentError> {
    let bad = |source| SegmentError::BadAmount {
        path: path.to_owned(),
        source,
    };
    match raw {
        RawMoney::Text(s) => Yuan::parse(&s).map_err(bad),
        RawMoney::Whole(n) => Yuan::new(Decimal::from(n)).map_err(bad),
        // Shortest round-trip text of the float, so 12.3 reads as 12.30, not 12.2999….
        RawMoney::Float(f) => Yuan::parse(&f.to_string()).map_err(bad),
    }
}
