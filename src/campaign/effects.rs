//! What a campaign gives, and its caps.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::usage::UsageAction;
use crate::calendar::Period;
use crate::money::{Points, Yuan};

/// A staff task a campaign asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StaffTaskKind {
    /// A phone call.
    Call,
    /// A home visit.
    HomeVisit,
}

/// What a campaign gives or asks for. Point effects are values for the points module; the
/// rest are for the host to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Effect {
    /// A fixed number of points, 1 to [`crate::campaign::MAX_FIXED_POINTS`].
    FixedPoints {
        /// How many.
        points: Points,
    },
    /// Points per ¥1 of the amount paid, rounded down to whole points.
    PointsPerYuan {
        /// Points per ¥1, above 0 and at most 1,000.
        points: Decimal,
    },
    /// Extra points so that the base earning is multiplied: `base × (factor − 1)`, rounded
    /// down (double points: factor 2).
    PointsMultiplier {
        /// Above 1 and at most 100.
        factor: Decimal,
    },
    /// Cashback: `percent`% of the amount paid, rounded with [`crate::money::ROUNDING`], at
    /// most `cap`.
    Cashback {
        /// Above 0 and at most 100.
        percent: Decimal,
        /// The most one application gives, above ¥0.
        cap: Yuan,
    },
    /// A coupon.
    Coupon {
        /// The coupon code or template.
        code: String,
        /// Its face value, if it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Yuan>,
    },
    /// A gift.
    Gift {
        /// What is given.
        item: String,
    },
    /// A task for staff.
    StaffTask {
        /// Call or home visit.
        task: StaffTaskKind,
        /// Due within this many days, 0 to 365.
        #[serde(default)]
        due_in_days: u16,
    },
    /// A message from a template.
    Message {
        /// The template id.
        template: String,
    },
}

impl Effect {
    /// Whether this is a marketing benefit (points, cashback, coupon, gift), which a care
    /// campaign may not give.
    pub fn is_marketing(&self) -> bool {
        !matches!(self, Effect::StaffTask { .. } | Effect::Message { .. })
    }

    /// The snake_case name used in JSON and traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Effect::FixedPoints { .. } => "fixed_points",
            Effect::PointsPerYuan { .. } => "points_per_yuan",
            Effect::PointsMultiplier { .. } => "points_multiplier",
            Effect::Cashback { .. } => "cashback",
            Effect::Coupon { .. } => "coupon",
            Effect::Gift { .. } => "gift",
            Effect::StaffTask { .. } => "staff_task",
            Effect::Message { .. } => "message",
        }
    }
}

/// A campaign's budget: any of points, ¥ (cashback) and uses, over its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// Points it may grant in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<u64>,
    /// Cashback it may pay in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yuan: Option<Yuan>,
    /// Times it may apply in total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<u64>,
}

/// Whom a usage limit counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitKey {
    /// Each patient separately.
    Patient,
    /// The whole campaign.
    Campaign,
}

/// The period a usage limit resets on, in the clinic calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LimitPeriod {
    /// Each local day.
    Day,
    /// Each local week (Monday first).
    Week,
    /// Each local month.
    Month,
    /// Each local year.
    Year,
    /// Never resets.
    Lifetime,
}

impl LimitPeriod {
    /// The calendar period, `None` for lifetime.
    pub fn period(self) -> Option<Period> {
        match self {
            LimitPeriod::Day => Some(Period::Day),
            LimitPeriod::Week => Some(Period::Week),
            LimitPeriod::Month => Some(Period::Month),
            LimitPeriod::Year => Some(Period::Year),
            LimitPeriod::Lifetime => None,
        }
    }
}

/// One usage limit (Talon.One's model): at most `max` of `action` per `per` per `period`.
/// Units: uses for `apply`, points for `earn_points`, fen for `cashback`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageLimit {
    /// What is counted.
    pub action: UsageAction,
    /// For each patient or for the whole campaign.
    pub per: LimitKey,
    /// When the count resets.
    pub period: LimitPeriod,
    /// The most allowed, at least 1.
    pub max: u64,
}

/// Budget and usage limits.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// The campaign's lifetime budget.
    #[serde(default)]
    pub budget: Budget,
    /// Usage limits, at most [`crate::campaign::MAX_LIMITS`].
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "super::error::limits"
    )]
    pub limits: Vec<UsageLimit>,
}

/// The text a campaign's message shows, checked against the Advertising Law word list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageCopy {
    /// A title, at most 64 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The body, 1 to [`crate::campaign::MAX_COPY_CHARS`] characters.
    pub body: String,
}
