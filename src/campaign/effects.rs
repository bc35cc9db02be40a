//! What a campaign gives, and its caps.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::CampaignError;
use super::model::{MAX_FIXED_POINTS, Trigger, combo, label, places, range};
use super::outcome::{Amount, Cut};
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
///
/// Everything the library knows about one kind of effect is in the methods of this type
/// (`src/campaign/effects.rs`); the engine, the book and the checks only ask them. Each
/// method matches every variant by name, without a `_` arm, so a new variant does not
/// compile until each has been answered.
///
/// # Adding an effect
///
/// 1. Add the variant here, documented, with its fields' ranges in their docs. Its serde
///    form is `{ "type": "<snake_case name>", ... }`; fields with a default take
///    `#[serde(default)]`.
/// 2. Answer it in each method of `impl Effect` in `effects.rs` (the compiler lists them):
///    - [`kind`](Effect::kind): its snake_case code, the same as its serde `type`;
///    - [`is_marketing`](Effect::is_marketing): whether it is a marketing benefit (a care
///      campaign may not give it, and it needs `marketing` consent);
///    - [`sends_message`](Effect::sends_message): whether the patient reads the campaign's
///      copy through it (copy is then checked for promotion and an opt-out);
///    - [`draws_on`](Effect::draws_on): the counter a grant draws on, which decides its
///      [`Amount`] and the budgets and limits that cut it: points
///      ([`UsageAction::EarnPoints`]), cashback in fen ([`UsageAction::Cashback`]), or
///      nothing (granted whole, `Amount::Count(1)`);
///    - `packed`: its rate × 10⁴ and its ¥ amount in fen (a cap on what one application
///      pays, or the face value best-for-patient counts), so evaluation stays in integers;
///    - `desired_units`: its formula, from the amount paid and the base points, in the
///      units of its counter, with the rounding rule named;
///    - `check`: its static checks (ranges, labels, whether it needs an amount paid), each
///      error naming the field's path relative to the effect.
/// 3. Tests: a row in the table of `effects::tests` (code, marketing, message, counter),
///    a unit test of its formula and its checks beside the code, an arm in
///    `tests/campaign_props.rs`'s `effect` strategy, and its JSON in an example of the
///    campaign docs if it is a common one.
/// 4. A `### Added` line in `CHANGELOG.md`.
///
/// An effect that draws on a counter other than points or fen needs more: a
/// [`UsageAction`] and its budget in [`Budget`], an [`Amount`] for it, and its arm in the
/// granting loop of `assess.rs` (`grant_in_rule_order`).
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
    /// campaign may not give, and which makes its campaign [promote](super::Campaign::promotes).
    pub fn is_marketing(&self) -> bool {
        match self {
            Effect::FixedPoints { .. }
            | Effect::PointsPerYuan { .. }
            | Effect::PointsMultiplier { .. }
            | Effect::Cashback { .. }
            | Effect::Coupon { .. }
            | Effect::Gift { .. } => true,
            Effect::StaffTask { .. } | Effect::Message { .. } => false,
        }
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

    /// Whether it sends the patient a message, so that the campaign's copy is what the
    /// patient reads (checked for promotion and for an opt-out).
    pub fn sends_message(&self) -> bool {
        match self {
            Effect::Message { .. } => true,
            Effect::FixedPoints { .. }
            | Effect::PointsPerYuan { .. }
            | Effect::PointsMultiplier { .. }
            | Effect::Cashback { .. }
            | Effect::Coupon { .. }
            | Effect::Gift { .. }
            | Effect::StaffTask { .. } => false,
        }
    }

    /// The metered counter a grant of this effect draws on and adds to:
    /// [`UsageAction::EarnPoints`] for point effects (a points budget and `earn_points`
    /// limits cut it), [`UsageAction::Cashback`] for money paid out (a ¥ budget and
    /// `cashback` limits cut it, in fen), `None` for what is granted whole (one item). Every
    /// applied campaign also counts one [`UsageAction::Apply`], whatever its effects.
    ///
    /// The granted [`Amount`](super::Amount) follows: points, ¥ or a count of one.
    #[inline]
    pub fn draws_on(&self) -> Option<UsageAction> {
        match self {
            Effect::FixedPoints { .. }
            | Effect::PointsPerYuan { .. }
            | Effect::PointsMultiplier { .. } => Some(UsageAction::EarnPoints),
            Effect::Cashback { .. } => Some(UsageAction::Cashback),
            Effect::Coupon { .. }
            | Effect::Gift { .. }
            | Effect::StaffTask { .. }
            | Effect::Message { .. } => None,
        }
    }

    /// The integer form the engine computes with, worked out once when the campaign is
    /// built: see [`Packed`].
    pub(crate) fn packed(&self) -> Packed {
        let (rate, fen) = match self {
            Effect::PointsPerYuan { points } => (e4(*points), 0),
            Effect::PointsMultiplier { factor } => (e4(*factor - Decimal::ONE), 0),
            Effect::Cashback { percent, cap } => (e4(*percent), cap.to_fen()),
            Effect::Coupon { value: Some(v), .. } => (0, v.to_fen()),
            Effect::FixedPoints { .. }
            | Effect::Coupon { value: None, .. }
            | Effect::Gift { .. }
            | Effect::StaffTask { .. }
            | Effect::Message { .. } => (0, 0),
        };
        Packed { rate, fen }
    }

    /// What the effect asks for, in the unit of the counter it [draws on](Effect::draws_on)
    /// (points, or fen), before any cap, and whether it was cut at `i64::MAX` points; 0 for
    /// an effect that draws on nothing. Points round down; cashback rounds half to even, as
    /// [`crate::money::Yuan::percent`] does. `packed` is [`Effect::packed`].
    #[inline]
    pub(crate) fn desired_units(&self, packed: Packed, basis: Basis) -> (u64, bool) {
        match self {
            Effect::FixedPoints { points } => (pts_u64(*points), false),
            // fen × (points per ¥ × 10⁴) ÷ (100 × 10⁴)
            Effect::PointsPerYuan { .. } => {
                clamp_points(mul_div(basis.amount_fen, packed.rate, 1_000_000))
            }
            Effect::PointsMultiplier { .. } => {
                clamp_points(mul_div(basis.base_points, packed.rate, 10_000))
            }
            Effect::Cashback { .. } => (cashback_fen(basis.amount_fen, packed.rate), false),
            Effect::Coupon { .. }
            | Effect::Gift { .. }
            | Effect::StaffTask { .. }
            | Effect::Message { .. } => (0, false),
        }
    }

    /// The desired amount (points, ¥, or a count of one), why it is already below what the
    /// rule computes (only [`Cut::Overflow`]), and the same in counter units
    /// ([`Effect::desired_units`]).
    #[inline]
    pub(crate) fn desired(&self, packed: Packed, basis: Basis) -> (Amount, Option<Cut>, u64) {
        let (units, overflow) = self.desired_units(packed, basis);
        let amount = match self.draws_on() {
            Some(UsageAction::EarnPoints) => Amount::Points(pts_from_u64(units)),
            Some(UsageAction::Cashback) => Amount::Yuan(Yuan::saturating_from_fen(units)),
            _ => Amount::Count(1),
        };
        (amount, overflow.then_some(Cut::Overflow), units)
    }

    /// Checks the effect's own values, and that it fits its campaign: a care campaign gives
    /// no marketing benefit, and an effect computed from the amount paid needs a trigger
    /// that has one. Paths are relative to the effect (`percent`).
    pub(crate) fn check(&self, trigger: &Trigger, care: bool) -> Result<(), CampaignError> {
        if care && self.is_marketing() {
            return Err(combo(
                "type",
                &format!(
                    "a care campaign (consent care_reminder) may not give {}: that is marketing",
                    self.kind()
                ),
            ));
        }
        let needs_amount = || {
            if trigger.has_amount() {
                Ok(())
            } else {
                Err(combo(
                    "type",
                    &format!(
                        "{} needs an amount paid: the trigger must be visit, first_visit or purchase",
                        self.kind()
                    ),
                ))
            }
        };
        match self {
            Effect::FixedPoints { points } => range(
                "points",
                points,
                (1..=MAX_FIXED_POINTS).contains(&points.get()),
                "1..=10000000",
            ),
            Effect::PointsPerYuan { points } => {
                needs_amount()?;
                places("points", *points)?;
                range(
                    "points",
                    points,
                    *points > Decimal::ZERO && *points <= Decimal::ONE_THOUSAND,
                    "above 0 and at most 1000",
                )
            }
            Effect::PointsMultiplier { factor } => {
                needs_amount()?;
                places("factor", *factor)?;
                range(
                    "factor",
                    factor,
                    *factor > Decimal::ONE && *factor <= Decimal::ONE_HUNDRED,
                    "above 1 and at most 100",
                )
            }
            Effect::Cashback { percent, cap } => {
                needs_amount()?;
                places("percent", *percent)?;
                range(
                    "percent",
                    percent,
                    *percent > Decimal::ZERO && *percent <= Decimal::ONE_HUNDRED,
                    "above 0 and at most 100",
                )?;
                range("cap", cap, !cap.is_zero(), "above 0")
            }
            Effect::Coupon { code, .. } => label("code", code),
            Effect::Gift { item } => label("item", item),
            Effect::StaffTask { due_in_days, .. } => {
                range("due_in_days", due_in_days, *due_in_days <= 365, "0..=365")
            }
            Effect::Message { template } => label("template", template),
        }
    }
}

/// An effect's numbers as the engine computes with them, in integers: worked out once per
/// effect when its campaign is built ([`Effect::packed`]), so that evaluation does no
/// decimal arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Packed {
    /// The effect's rate × 10⁴: points per ¥1, the multiplier's factor − 1, or the cashback
    /// percent; 0 for an effect without a rate.
    pub(crate) rate: u64,
    /// In fen: the most one application pays out (the cashback's cap), or the face value
    /// of what it gives (a coupon's value), which best-for-patient counts; 0 otherwise.
    pub(crate) fen: u64,
}

/// What an effect's desired amount is computed from: the event's amount paid and base
/// points, as counter units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Basis {
    /// The amount paid, in fen.
    pub(crate) amount_fen: u64,
    /// The event's base points (negative counts as 0).
    pub(crate) base_points: u64,
}

/// A decimal with at most 4 places, times 10⁴, as an integer (0 when negative or huge).
pub(crate) fn e4(d: Decimal) -> u64 {
    let n = d.normalize();
    let scale = n.scale();
    if scale > 4 {
        return 0;
    }
    let factor = 10i128.pow(4 - scale);
    u64::try_from(n.mantissa().saturating_mul(factor)).unwrap_or(0)
}

/// Points as a non-negative `u64` counter amount.
#[inline]
pub(crate) fn pts_u64(p: Points) -> u64 {
    u64::try_from(p.get()).unwrap_or(0)
}

/// A counter amount as points, saturating at `i64::MAX`.
#[inline]
pub(crate) fn pts_from_u64(n: u64) -> Points {
    Points::new(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A computed number of points as counter units, cut at `i64::MAX` (and whether it was).
#[inline]
fn clamp_points(v: u128) -> (u64, bool) {
    match i64::try_from(v) {
        Ok(n) => (n.unsigned_abs(), false),
        Err(_) => (i64::MAX.unsigned_abs(), true),
    }
}

/// `n ÷ d` rounded half to even ([`crate::money::ROUNDING`]), for `d > 0`.
fn div_half_even(n: u128, d: u128) -> u128 {
    let (q, r) = (n / d, n % d);
    match (2 * r).cmp(&d) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
        std::cmp::Ordering::Less => q,
    }
}

/// [`div_half_even`] in 64 bits, for `d > 0`.
fn div_half_even_u64(n: u64, d: u64) -> u64 {
    let (q, r) = (n / d, n % d);
    match (2 * u128::from(r)).cmp(&u128::from(d)) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
        std::cmp::Ordering::Less => q,
    }
}

/// `a × b ÷ d`, rounded down, in 64 bits when the product fits (the usual case) and in 128
/// bits otherwise.
#[inline]
fn mul_div(a: u64, b: u64, d: u64) -> u128 {
    match a.checked_mul(b) {
        Some(p) => u128::from(p / d),
        None => u128::from(a) * u128::from(b) / u128::from(d),
    }
}

/// Cashback in fen: `fen × (percent × 10⁴) ÷ (100 × 10⁴)`, rounded half to even.
#[inline]
fn cashback_fen(amount_fen: u64, rate: u64) -> u64 {
    match amount_fen.checked_mul(rate) {
        Some(p) => div_half_even_u64(p, 1_000_000),
        None => u64::try_from(div_half_even(
            u128::from(amount_fen) * u128::from(rate),
            1_000_000,
        ))
        .unwrap_or(u64::MAX),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn yuan(s: &str) -> Yuan {
        Yuan::parse(s).unwrap_or(Yuan::ZERO)
    }

    /// One effect of each kind.
    fn every_kind() -> Vec<Effect> {
        vec![
            Effect::FixedPoints {
                points: Points::new(100),
            },
            Effect::PointsPerYuan {
                points: Decimal::new(15, 1),
            },
            Effect::PointsMultiplier {
                factor: Decimal::new(2, 0),
            },
            Effect::Cashback {
                percent: Decimal::new(5, 0),
                cap: yuan("20"),
            },
            Effect::Coupon {
                code: "C10".into(),
                value: Some(yuan("10")),
            },
            Effect::Gift {
                item: "艾灸贴".into(),
            },
            Effect::StaffTask {
                task: StaffTaskKind::Call,
                due_in_days: 3,
            },
            Effect::Message {
                template: "refill_reminder".into(),
            },
        ]
    }

    #[test]
    fn each_kind_answers_code_marketing_message_and_counter() {
        use UsageAction::{Cashback, EarnPoints};
        let table: Vec<_> = every_kind()
            .iter()
            .map(|e| (e.kind(), e.is_marketing(), e.sends_message(), e.draws_on()))
            .collect();
        assert_eq!(
            table,
            [
                ("fixed_points", true, false, Some(EarnPoints)),
                ("points_per_yuan", true, false, Some(EarnPoints)),
                ("points_multiplier", true, false, Some(EarnPoints)),
                ("cashback", true, false, Some(Cashback)),
                ("coupon", true, false, None),
                ("gift", true, false, None),
                ("staff_task", false, false, None),
                ("message", false, true, None),
            ]
        );
        // The code is the serde `type`.
        for e in every_kind() {
            let json = serde_json::to_value(&e).unwrap_or_default();
            assert_eq!(json["type"], e.kind(), "{e:?}");
        }
    }

    #[test]
    fn desired_amount_follows_the_counter_and_the_formula() {
        // ¥268 paid, 268 base points.
        let basis = Basis {
            amount_fen: 26_800,
            base_points: 268,
        };
        let got: Vec<_> = every_kind()
            .iter()
            .map(|e| e.desired(e.packed(), basis))
            .collect();
        assert_eq!(
            got,
            [
                (Amount::Points(Points::new(100)), None, 100),
                (Amount::Points(Points::new(402)), None, 402), // 268 × 1.5
                (Amount::Points(Points::new(268)), None, 268), // 268 × (2 − 1)
                (Amount::Yuan(yuan("13.40")), None, 1340),     // 5% of ¥268, before its cap
                (Amount::Count(1), None, 0),
                (Amount::Count(1), None, 0),
                (Amount::Count(1), None, 0),
                (Amount::Count(1), None, 0),
            ]
        );
    }

    #[test]
    fn packing_keeps_rates_caps_and_face_values_in_integers() {
        let packed: Vec<_> = every_kind()
            .iter()
            .map(|e| {
                let p = e.packed();
                (p.rate, p.fen)
            })
            .collect();
        assert_eq!(
            packed,
            [
                (0, 0),
                (15_000, 0),
                (10_000, 0),
                (50_000, 2_000),
                (0, 1_000),
                (0, 0),
                (0, 0),
                (0, 0),
            ]
        );
    }

    #[test]
    fn points_past_i64_max_are_cut_and_say_so() {
        let e = Effect::PointsMultiplier {
            factor: Decimal::ONE_HUNDRED,
        };
        let basis = Basis {
            amount_fen: 0,
            base_points: u64::MAX,
        };
        let (amount, cut, units) = e.desired(e.packed(), basis);
        assert_eq!(amount, Amount::Points(Points::new(i64::MAX)));
        assert_eq!(cut, Some(Cut::Overflow));
        assert_eq!(units, i64::MAX.unsigned_abs());
    }

    #[test]
    fn checks_name_the_field_and_refuse_marketing_in_care() {
        let purchase = Trigger::Purchase { min: Yuan::ZERO };
        for e in every_kind() {
            assert_eq!(e.check(&purchase, false), Ok(()), "{e:?}");
            let care = e.check(&purchase, true);
            assert_eq!(care.is_err(), e.is_marketing(), "{e:?}: {care:?}");
        }
        let e = Effect::Cashback {
            percent: Decimal::new(101, 0),
            cap: yuan("20"),
        };
        let err = e.check(&purchase, false).map_err(|e| e.to_string());
        assert!(
            err.as_ref().is_err_and(|m| m.contains("percent")),
            "{err:?}"
        );
        // Computed from the amount paid: a birthday has none.
        let e = Effect::PointsPerYuan {
            points: Decimal::ONE,
        };
        assert!(e.check(&Trigger::Birthday, false).is_err());
    }
}
