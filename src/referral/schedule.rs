//! Reward schedules: what a referral earns, for whom, and the legal limits checked on load.
//!
//! A [`ScheduleSpec`] is what a clinic manager writes (serde data). [`RewardSchedule`] is a
//! spec that passed validation; it is the only thing the reward engine accepts, and
//! deserialising a `RewardSchedule` runs the same checks.
//!
//! The limits, and why:
//!
//! - **Depth 1 by default, 2 at most.** Rewarding people for recruits through several levels
//!   is pyramid selling (传销) under 《禁止传销条例》 art. 7; the criminal threshold is three
//!   levels and thirty people. A schedule deeper than 2 is refused.
//! - **No reward based on a referee's own recruits.** Paying A because B (whom A brought)
//!   brought others is a reward through levels, whatever the depth setting says.
//! - **No cash under the medical-institution profile** (the default). Medical institutions may
//!   not pay kickbacks (回扣) to attract patients; use points, a service or a gift.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

use crate::money::{Points, Yuan};
use crate::text::{Label, TextError};

/// The deepest reward level the law allows a schedule to reach.
pub const MAX_REWARD_DEPTH: u8 = 2;

/// Who the clinic is, for the rules that differ by kind of business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ComplianceProfile {
    /// A licensed medical institution (clinics, TCM halls): no cash for bringing patients.
    /// The default.
    #[default]
    MedicalInstitution,
    /// A business outside medical-institution rules (a wellness shop, a health-products
    /// retailer): cash rewards are allowed, the depth limits still apply.
    General,
}

/// What a beneficiary receives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
#[non_exhaustive]
pub enum Reward {
    /// Membership points, for the host or the points module to credit.
    Points(Points),
    /// A coupon, by the host's coupon code.
    Coupon(Label),
    /// A free service (a moxibustion session, a check-up), by name.
    Service(Label),
    /// A gift, by name.
    Gift(Label),
    /// Cash. Refused under [`ComplianceProfile::MedicalInstitution`].
    Cash(Yuan),
}

impl fmt::Display for Reward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reward::Points(p) => write!(f, "{} points", p.get()),
            Reward::Coupon(c) => write!(f, "coupon {c}"),
            Reward::Service(s) => write!(f, "service {s}"),
            Reward::Gift(g) => write!(f, "gift {g}"),
            Reward::Cash(y) => write!(f, "¥{y} cash"),
        }
    }
}

/// Who a rule rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "who")]
#[non_exhaustive]
pub enum Beneficiary {
    /// The new patient who was brought (the second side of a two-sided reward).
    Referee,
    /// The referrer `level` steps up from the referee: 1 is the direct referrer, 2 the
    /// referrer's referrer.
    Referrer {
        /// 1 or 2.
        level: u8,
    },
}

/// What a rule is paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Basis {
    /// The referee's first qualifying paid visit: the only lawful basis.
    FirstPaidVisit,
    /// The number of patients the referee went on to recruit. Always refused: it is a
    /// reward through levels.
    RefereeRecruits,
    /// Signing up, before any paid visit. Always refused: rewards are paid on a paid visit,
    /// never on sign-up, or second accounts pay for themselves.
    SignUp,
}

/// A rule's name, unique in its schedule; cheap to clone into every decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RuleId(Arc<str>);

impl RuleId {
    /// Checks a rule name: 1 to 64 characters, no control characters.
    ///
    /// # Errors
    ///
    /// [`TextError`] otherwise.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        Label::parse(s).map(|l| RuleId(Arc::from(l.as_str())))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RuleId {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<RuleId> for String {
    fn from(r: RuleId) -> String {
        r.0.to_string()
    }
}

/// One line of a schedule: pay `reward` to `beneficiary` on `basis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// The rule's name, quoted in every decision it makes.
    pub id: RuleId,
    /// Who is rewarded.
    pub beneficiary: Beneficiary,
    /// What for.
    pub basis: Basis,
    /// What they get.
    pub reward: Reward,
}

/// How many referrals a referrer may be rewarded for. `None` means no cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct RewardCaps {
    /// Per clinic calendar month of the qualifying visit.
    pub per_month: Option<u32>,
    /// Over the referrer's lifetime.
    pub lifetime: Option<u32>,
}

/// A reward schedule as written: unchecked. Turn it into a [`RewardSchedule`] with
/// [`RewardSchedule::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSpec {
    /// The clinic's compliance profile.
    #[serde(default)]
    pub profile: ComplianceProfile,
    /// How many referrer levels may be rewarded: 1 (the default) or 2.
    #[serde(default = "default_depth")]
    pub depth: u8,
    /// The least a visit must be paid to qualify.
    pub min_paid: Yuan,
    /// Days (of 24 h) a reward stays pending after the qualifying visit.
    pub pending_days: u32,
    /// Caps on referrer-side rewards.
    #[serde(default)]
    pub caps: RewardCaps,
    /// The rules, applied in this order.
    pub rules: Vec<RuleSpec>,
}

fn default_depth() -> u8 {
    1
}

impl ScheduleSpec {
    /// A spec with the defaults serde gives missing fields: the default compliance profile,
    /// depth 1 and no caps; change them with the `with_…` methods. Nothing is checked until
    /// [`RewardSchedule::new`].
    ///
    /// ```
    /// use clinic_ops::money::{Points, Yuan};
    /// use clinic_ops::referral::{
    ///     Basis, Beneficiary, Reward, RewardCaps, RewardSchedule, RuleId, RuleSpec, ScheduleSpec,
    /// };
    ///
    /// let rule = RuleSpec {
    ///     id: RuleId::parse("friend-200")?,
    ///     beneficiary: Beneficiary::Referrer { level: 1 },
    ///     basis: Basis::FirstPaidVisit,
    ///     reward: Reward::Points(Points::new(200)),
    /// };
    /// let spec = ScheduleSpec::new(Yuan::from_whole(100)?, 7, vec![rule])
    ///     .with_caps(RewardCaps { per_month: Some(5), lifetime: None });
    /// assert_eq!(spec.depth, 1);
    /// assert!(RewardSchedule::new(spec).is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn new(min_paid: Yuan, pending_days: u32, rules: Vec<RuleSpec>) -> Self {
        ScheduleSpec {
            profile: ComplianceProfile::default(),
            depth: default_depth(),
            min_paid,
            pending_days,
            caps: RewardCaps::default(),
            rules,
        }
    }

    /// The same spec under another compliance profile.
    #[must_use]
    pub fn with_profile(mut self, profile: ComplianceProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The same spec rewarding `depth` referrer levels (1 or 2, checked by
    /// [`RewardSchedule::new`]).
    #[must_use]
    pub fn with_depth(mut self, depth: u8) -> Self {
        self.depth = depth;
        self
    }

    /// The same spec with caps on referrer-side rewards.
    #[must_use]
    pub fn with_caps(mut self, caps: RewardCaps) -> Self {
        self.caps = caps;
        self
    }
}

/// Why a schedule was refused. The messages say why in plain words, since they are shown to
/// the clinic manager who wrote the schedule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// Depth 0, or deeper than [`MAX_REWARD_DEPTH`].
    #[error(
        "reward depth {depth} is not allowed: rewards may reach 1 or at most 2 levels of referrers, because rewarding recruitment through more levels is pyramid selling under 《禁止传销条例》 art. 7"
    )]
    TooDeep {
        /// The depth asked for.
        depth: u8,
    },
    /// A rule rewards a referrer level beyond the schedule's depth.
    #[error(
        "rule {rule} rewards referrer level {level}, beyond the schedule's depth of {depth}: raise the depth (at most 2) or drop the rule"
    )]
    LevelBeyondDepth {
        /// The rule.
        rule: RuleId,
        /// Its level.
        level: u8,
        /// The schedule's depth.
        depth: u8,
    },
    /// A rule pays for a referee's own recruits.
    #[error(
        "rule {rule} pays for the referee's own recruits, which is a reward through levels of recruitment (pyramid selling under 《禁止传销条例》 art. 7); reward only the referee's first paid visit"
    )]
    DependsOnRecruits {
        /// The rule.
        rule: RuleId,
    },
    /// A rule pays on sign-up.
    #[error(
        "rule {rule} pays on sign-up: referral rewards are paid on the referee's first paid visit, never on sign-up, or second accounts would pay for themselves"
    )]
    PaidOnSignUp {
        /// The rule.
        rule: RuleId,
    },
    /// Cash under the medical-institution profile.
    #[error(
        "rule {rule} pays cash, but a medical institution may not pay kickbacks to attract patients; use points, a coupon, a service or a gift"
    )]
    CashForMedicalInstitution {
        /// The rule.
        rule: RuleId,
    },
    /// A reward of zero or negative points, or zero cash.
    #[error("rule {rule} gives an empty reward ({reward}): a reward must be positive")]
    EmptyReward {
        /// The rule.
        rule: RuleId,
        /// The reward given.
        reward: String,
    },
    /// Two rules share a name.
    #[error("rule name {rule} is used twice")]
    DuplicateRule {
        /// The name.
        rule: RuleId,
    },
    /// A cap of zero: a program that may never pay.
    #[error("the {which} cap is 0, so no referral could ever be rewarded; leave it out for no cap")]
    ZeroCap {
        /// `per-month` or `lifetime`.
        which: &'static str,
    },
}

/// A validated reward schedule: the only kind [`super::decide_rewards`] accepts.
///
/// [`RewardSchedule::new`] (and deserialisation) refuses, with an error that says why:
///
/// - **a depth beyond 2.** Rewarding people for recruits through several levels is pyramid
///   selling (传销) under 《禁止传销条例》 art. 7; the criminal threshold is three levels and
///   thirty people. The depth defaults to 1.
/// - **a reward based on a referee's own recruits**, a reward through levels whatever the
///   depth says, and a reward on sign-up rather than on a paid visit;
/// - **cash under [`ComplianceProfile::MedicalInstitution`]** (the default): medical
///   institutions may not pay kickbacks (回扣) to attract patients, so points, coupons,
///   services or gifts instead.
///
/// ```
/// use clinic_ops::money::{Points, Yuan};
/// use clinic_ops::referral::{
///     Basis, Beneficiary, RewardCaps, ComplianceProfile, Reward, RewardSchedule, RuleId, RuleSpec,
///     ScheduleError, ScheduleSpec,
/// };
///
/// let mut spec = ScheduleSpec {
///     profile: ComplianceProfile::MedicalInstitution,
///     depth: 1,
///     min_paid: Yuan::from_whole(100)?,
///     pending_days: 7,
///     caps: RewardCaps { per_month: Some(5), lifetime: Some(50) },
///     rules: vec![RuleSpec {
///         id: RuleId::parse("friend-200")?,
///         beneficiary: Beneficiary::Referrer { level: 1 },
///         basis: Basis::FirstPaidVisit,
///         reward: Reward::Points(Points::new(200)),
///     }],
/// };
/// assert!(RewardSchedule::new(spec.clone()).is_ok());
/// spec.depth = 3;
/// let e = RewardSchedule::new(spec).unwrap_err();
/// assert!(matches!(e, ScheduleError::TooDeep { depth: 3 }));
/// assert!(e.to_string().contains("pyramid selling"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleSpec", into = "ScheduleSpec")]
pub struct RewardSchedule(ScheduleSpec);

impl RewardSchedule {
    /// Checks a spec against the legal limits and for consistency.
    ///
    /// # Errors
    ///
    /// The first [`ScheduleError`] found: depth, then each rule in order (basis, level,
    /// cash, empty reward, duplicate name), then caps.
    pub fn new(spec: ScheduleSpec) -> Result<Self, ScheduleError> {
        if spec.depth == 0 || spec.depth > MAX_REWARD_DEPTH {
            return Err(ScheduleError::TooDeep { depth: spec.depth });
        }
        for (i, r) in spec.rules.iter().enumerate() {
            let rule = || r.id.clone();
            match r.basis {
                Basis::FirstPaidVisit => {}
                Basis::RefereeRecruits => {
                    return Err(ScheduleError::DependsOnRecruits { rule: rule() });
                }
                Basis::SignUp => return Err(ScheduleError::PaidOnSignUp { rule: rule() }),
            }
            if let Beneficiary::Referrer { level } = r.beneficiary {
                if level == 0 || level > MAX_REWARD_DEPTH {
                    return Err(ScheduleError::TooDeep { depth: level });
                }
                if level > spec.depth {
                    return Err(ScheduleError::LevelBeyondDepth {
                        rule: rule(),
                        level,
                        depth: spec.depth,
                    });
                }
            }
            let empty = match &r.reward {
                Reward::Cash(y) => {
                    if spec.profile == ComplianceProfile::MedicalInstitution {
                        return Err(ScheduleError::CashForMedicalInstitution { rule: rule() });
                    }
                    y.is_zero()
                }
                Reward::Points(p) => !p.is_positive(),
                Reward::Coupon(_) | Reward::Service(_) | Reward::Gift(_) => false,
            };
            if empty {
                return Err(ScheduleError::EmptyReward {
                    rule: rule(),
                    reward: r.reward.to_string(),
                });
            }
            if spec.rules.iter().take(i).any(|o| o.id == r.id) {
                return Err(ScheduleError::DuplicateRule { rule: rule() });
            }
        }
        if spec.caps.per_month == Some(0) {
            return Err(ScheduleError::ZeroCap { which: "per-month" });
        }
        if spec.caps.lifetime == Some(0) {
            return Err(ScheduleError::ZeroCap { which: "lifetime" });
        }
        Ok(RewardSchedule(spec))
    }

    /// The spec it was built from.
    #[must_use]
    pub fn spec(&self) -> &ScheduleSpec {
        &self.0
    }

    /// The compliance profile.
    #[must_use]
    pub fn profile(&self) -> ComplianceProfile {
        self.0.profile
    }

    /// The deepest referrer level rewarded: 1 or 2.
    #[must_use]
    pub fn depth(&self) -> u8 {
        self.0.depth
    }

    /// The least a visit must be paid to qualify.
    #[must_use]
    pub fn min_paid(&self) -> Yuan {
        self.0.min_paid
    }

    /// Days a reward stays pending.
    #[must_use]
    pub fn pending_days(&self) -> u32 {
        self.0.pending_days
    }

    /// The caps on referrer-side rewards.
    #[must_use]
    pub fn caps(&self) -> RewardCaps {
        self.0.caps
    }

    /// The rules, in order.
    #[must_use]
    pub fn rules(&self) -> &[RuleSpec] {
        &self.0.rules
    }
}

impl TryFrom<ScheduleSpec> for RewardSchedule {
    type Error = ScheduleError;
    fn try_from(spec: ScheduleSpec) -> Result<Self, Self::Error> {
        Self::new(spec)
    }
}

impl From<RewardSchedule> for ScheduleSpec {
    fn from(s: RewardSchedule) -> ScheduleSpec {
        s.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, beneficiary: Beneficiary, reward: Reward) -> RuleSpec {
        RuleSpec {
            id: RuleId::parse(id).unwrap(),
            beneficiary,
            basis: Basis::FirstPaidVisit,
            reward,
        }
    }

    fn spec(rules: Vec<RuleSpec>) -> ScheduleSpec {
        ScheduleSpec::new(Yuan::from_whole(100).unwrap(), 7, rules)
    }

    const L1: Beneficiary = Beneficiary::Referrer { level: 1 };
    const L2: Beneficiary = Beneficiary::Referrer { level: 2 };

    #[test]
    fn lawful_two_sided_schedule_is_accepted() {
        let s = RewardSchedule::new(spec(vec![
            rule("r", L1, Reward::Points(Points::new(200))),
            rule(
                "new",
                Beneficiary::Referee,
                Reward::Gift(Label::parse("艾灸贴").unwrap()),
            ),
        ]))
        .unwrap();
        assert_eq!(s.depth(), 1);
        assert_eq!(s.profile(), ComplianceProfile::MedicalInstitution);
    }

    #[test]
    fn depth_beyond_two_is_pyramid_selling() {
        let mut s = spec(vec![]);
        s.depth = 3;
        let e = RewardSchedule::new(s).unwrap_err();
        assert_eq!(e, ScheduleError::TooDeep { depth: 3 });
        assert!(e.to_string().contains("《禁止传销条例》 art. 7"), "{e}");
        let mut s = spec(vec![rule("up", L2, Reward::Points(Points::new(5)))]);
        assert!(matches!(
            RewardSchedule::new(s.clone()),
            Err(ScheduleError::LevelBeyondDepth {
                level: 2,
                depth: 1,
                ..
            })
        ));
        s.depth = 2;
        assert!(RewardSchedule::new(s).is_ok());
        let s = spec(vec![rule(
            "up3",
            Beneficiary::Referrer { level: 3 },
            Reward::Points(Points::new(5)),
        )]);
        assert!(matches!(
            RewardSchedule::new(s),
            Err(ScheduleError::TooDeep { depth: 3 })
        ));
    }

    #[test]
    fn recruits_signup_and_medical_cash_are_refused_in_plain_words() {
        let mut r = rule("team", L1, Reward::Points(Points::new(5)));
        r.basis = Basis::RefereeRecruits;
        let e = RewardSchedule::new(spec(vec![r])).unwrap_err();
        assert!(matches!(e, ScheduleError::DependsOnRecruits { .. }));
        assert!(e.to_string().contains("pyramid selling"), "{e}");
        let mut r = rule("hi", L1, Reward::Points(Points::new(5)));
        r.basis = Basis::SignUp;
        assert!(matches!(
            RewardSchedule::new(spec(vec![r])),
            Err(ScheduleError::PaidOnSignUp { .. })
        ));
        let cash = rule("cash", L1, Reward::Cash(Yuan::from_whole(50).unwrap()));
        let e = RewardSchedule::new(spec(vec![cash.clone()])).unwrap_err();
        assert!(matches!(e, ScheduleError::CashForMedicalInstitution { .. }));
        assert!(e.to_string().contains("kickbacks"), "{e}");
        let mut general = spec(vec![cash]);
        general.profile = ComplianceProfile::General;
        assert!(RewardSchedule::new(general).is_ok());
    }

    #[test]
    fn empty_rewards_duplicates_and_zero_caps_are_refused() {
        assert!(matches!(
            RewardSchedule::new(spec(vec![rule("z", L1, Reward::Points(Points::ZERO))])),
            Err(ScheduleError::EmptyReward { .. })
        ));
        let r = rule("a", L1, Reward::Points(Points::new(1)));
        assert!(matches!(
            RewardSchedule::new(spec(vec![r.clone(), r])),
            Err(ScheduleError::DuplicateRule { .. })
        ));
        let mut s = spec(vec![]);
        s.caps.per_month = Some(0);
        assert!(matches!(
            RewardSchedule::new(s),
            Err(ScheduleError::ZeroCap { .. })
        ));
    }

    #[test]
    fn serde_goes_through_validation() {
        let ok = r#"{"min_paid":"100","pending_days":7,"rules":[
            {"id":"r1","beneficiary":{"who":"referrer","level":1},"basis":"first_paid_visit",
             "reward":{"kind":"points","value":200}}]}"#;
        let s: RewardSchedule = serde_json::from_str(ok).unwrap();
        assert_eq!(s.depth(), 1);
        let back: RewardSchedule =
            serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
        let cash = ok.replace(
            r#""kind":"points","value":200"#,
            r#""kind":"cash","value":"50""#,
        );
        let e = serde_json::from_str::<RewardSchedule>(&cash).unwrap_err();
        assert!(e.to_string().contains("kickbacks"), "{e}");
        let deep = ok.replace(r#""pending_days":7"#, r#""pending_days":7,"depth":3"#);
        assert!(serde_json::from_str::<RewardSchedule>(&deep).is_err());
    }
}
