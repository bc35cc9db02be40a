//! The rules a clinic chooses: earning rates, expiry, shortfall, chronology and tiers.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, Utc};
use serde::{Deserialize, Serialize};

use super::error::{PointsError, PolicyError};
use super::types::{EarnRate, Multiplier, TierCode};
use crate::calendar::{ClinicCalendar, Period};
use crate::journey::Category;
use crate::money::{Points, SignedYuan, Yuan};

/// When a lot expires, in the clinic calendar.
///
/// Serde form: `"never"`, `"end_of_month"`, `"end_of_year"` or `{"after_days": N}` with
/// `N` in `1..=36600`, checked as [`Policy::with_expiry`] checks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", try_from = "RawExpiry", into = "RawExpiry")]
#[non_exhaustive]
pub enum ExpiryRule {
    /// Never.
    #[default]
    Never,
    /// At 00:00 local time, N local days after the day of earning
    /// ([`ClinicCalendar::midnight_after_days`]).
    AfterDays(u32),
    /// At 00:00 on the first day of the next local month: Open Loyalty's "earned 22 January,
    /// expires 00:00 1 February".
    EndOfMonth,
    /// At 00:00 on 1 January of the next local year.
    EndOfYear,
}

/// [`ExpiryRule`]'s serde form, before its check.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RawExpiry {
    Never,
    AfterDays(u32),
    EndOfMonth,
    EndOfYear,
}

impl TryFrom<RawExpiry> for ExpiryRule {
    type Error = PolicyError;
    fn try_from(r: RawExpiry) -> Result<Self, PolicyError> {
        let rule = match r {
            RawExpiry::Never => ExpiryRule::Never,
            RawExpiry::AfterDays(d) => ExpiryRule::AfterDays(d),
            RawExpiry::EndOfMonth => ExpiryRule::EndOfMonth,
            RawExpiry::EndOfYear => ExpiryRule::EndOfYear,
        };
        Policy::default().with_expiry(rule).map(|p| p.expiry)
    }
}

impl From<ExpiryRule> for RawExpiry {
    fn from(r: ExpiryRule) -> Self {
        match r {
            ExpiryRule::Never => RawExpiry::Never,
            ExpiryRule::AfterDays(d) => RawExpiry::AfterDays(d),
            ExpiryRule::EndOfMonth => RawExpiry::EndOfMonth,
            ExpiryRule::EndOfYear => RawExpiry::EndOfYear,
        }
    }
}

impl ExpiryRule {
    /// The expiry of a lot earned at `at` (`None`: never).
    #[must_use]
    pub fn expires(self, at: DateTime<Utc>, calendar: ClinicCalendar) -> Option<DateTime<Utc>> {
        if let ExpiryRule::AfterDays(n) = self {
            // The hot path: the same instant as `ClinicCalendar::midnight_after_days`, by the
            // calendar's own integer day numbering (a fixed offset has 86,400 s in every
            // local day), without building dates. A unit test holds the two equal.
            let day = calendar
                .local_day_number(at.timestamp())
                .saturating_add(i64::from(n));
            let start = day
                .saturating_mul(crate::calendar::SECONDS_PER_DAY)
                .saturating_sub(i64::from(calendar.offset_seconds()));
            if let Some(t) = DateTime::from_timestamp(start, 0) {
                return Some(t);
            }
        }
        match self {
            ExpiryRule::Never => None,
            ExpiryRule::AfterDays(n) => Some(calendar.midnight_after_days(at, n)),
            ExpiryRule::EndOfMonth => Some(calendar.end_of_period(at, Period::Month)),
            ExpiryRule::EndOfYear => Some(calendar.end_of_period(at, Period::Year)),
        }
    }
}

/// What a clawback does when the points it must take were already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ShortfallPolicy {
    /// Book the rest as a debt: the balance goes negative and later earnings pay it first.
    AllowNegative,
    /// Take what is available and record the rest as a shortfall; the balance stays ≥ 0.
    #[default]
    TakeAvailable,
}

/// Whether a command may be dated before the account's last posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Chronology {
    /// Refuse it with [`PointsError::Backdated`].
    #[default]
    Strict,
    /// Accept it (late imports); expiry still only touches lots due at the command's time.
    AllowBackdated,
}

/// One membership tier. Serde form: `{"code": "gold", "threshold": 5000, "retain": 3000}`,
/// checked with the other tiers by [`TierPolicy`]'s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    code: TierCode,
    threshold: i64,
    retain: i64,
}

impl Tier {
    /// A tier reached at `threshold` growth in the window and kept at a review with at least
    /// `retain` (保级). Checked by [`TierPolicy::new`].
    #[must_use]
    pub fn new(code: TierCode, threshold: i64, retain: i64) -> Self {
        Tier {
            code,
            threshold,
            retain,
        }
    }

    /// The code.
    #[must_use]
    pub fn code(&self) -> &TierCode {
        &self.code
    }

    /// Upgrade threshold.
    #[must_use]
    pub fn threshold(&self) -> i64 {
        self.threshold
    }

    /// Retain threshold.
    #[must_use]
    pub fn retain(&self) -> i64 {
        self.retain
    }
}

/// Tiers over a rolling window of growth value (成长值).
///
/// Growth value is credited when points are earned and unlocked (one per point) and removed
/// by clawbacks; it is never spent. A member moves up as soon as the growth in the window
/// reaches a higher tier's threshold. A member moves down only at a review
/// ([`super::CommandKind::Review`]): if the window's growth is below the current tier's retain
/// threshold, to the highest lower tier whose retain threshold it meets (or to no tier).
/// A review moves in one direction at most.
///
/// Serde form: `{"window_days": 365, "tiers": [..]}` (`window_days` 365 when absent), checked
/// by [`TierPolicy::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTiers", into = "RawTiers")]
pub struct TierPolicy {
    tiers: Vec<Tier>,
    window_days: u32,
}

/// [`TierPolicy`]'s serde form, before its check.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    #[serde(default = "default_window_days")]
    window_days: u32,
    tiers: Vec<Tier>,
}

fn default_window_days() -> u32 {
    365
}

impl TryFrom<RawTiers> for TierPolicy {
    type Error = PolicyError;
    fn try_from(r: RawTiers) -> Result<Self, PolicyError> {
        TierPolicy::new(r.tiers, r.window_days)
    }
}

impl From<TierPolicy> for RawTiers {
    fn from(t: TierPolicy) -> Self {
        RawTiers {
            window_days: t.window_days,
            tiers: t.tiers,
        }
    }
}

impl Default for TierPolicy {
    /// No tiers.
    fn default() -> Self {
        TierPolicy {
            tiers: Vec::new(),
            window_days: 365,
        }
    }
}

impl TierPolicy {
    /// Tiers in ascending order with a rolling window in local days.
    ///
    /// # Errors
    ///
    /// [`PolicyError`] when thresholds do not strictly increase, a retain threshold is
    /// outside `0..=threshold`, or the window is outside `1..=3660` days.
    pub fn new(tiers: Vec<Tier>, window_days: u32) -> Result<Self, PolicyError> {
        if !(1..=3660).contains(&window_days) {
            return Err(PolicyError::Window { days: window_days });
        }
        let mut prev: Option<i64> = None;
        for t in &tiers {
            if prev.is_some_and(|p| t.threshold <= p) || t.threshold < 0 {
                return Err(PolicyError::TiersNotIncreasing {
                    tier: t.code.to_string(),
                    threshold: t.threshold,
                });
            }
            if t.retain < 0 || t.retain > t.threshold {
                return Err(PolicyError::RetainOutOfRange {
                    tier: t.code.to_string(),
                    retain: t.retain,
                    threshold: t.threshold,
                });
            }
            prev = Some(t.threshold);
        }
        Ok(TierPolicy { tiers, window_days })
    }

    /// The tiers, lowest first.
    #[must_use]
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The rolling window in local days.
    #[must_use]
    pub fn window_days(&self) -> u32 {
        self.window_days
    }

    pub(crate) fn rank(&self, code: Option<&TierCode>) -> Option<usize> {
        code.and_then(|c| self.tiers.iter().position(|t| &t.code == c))
    }

    /// The highest tier whose upgrade threshold `growth` reaches.
    pub(crate) fn reached(&self, growth: i64) -> Option<usize> {
        self.tiers.iter().rposition(|t| growth >= t.threshold)
    }

    pub(crate) fn get(&self, rank: usize) -> Option<&Tier> {
        self.tiers.get(rank)
    }

    /// The start of the window that ends at `now`: 00:00 local time, `window_days` local
    /// days before today.
    #[must_use]
    pub fn window_start(&self, now: DateTime<Utc>, calendar: ClinicCalendar) -> DateTime<Utc> {
        let today = calendar.local_date(now);
        let start = today
            .checked_sub_days(Days::new(u64::from(self.window_days)))
            .unwrap_or(chrono::NaiveDate::MIN);
        calendar.start_of(start)
    }
}

/// How purchases earn points: `floor(paid × rate × multiplier)`, capped per transaction.
///
/// Serde form: `{"rate": {"points": 1, "per_yuan": 1}, "categories": {"herbal": {..}},
/// "cap": 5000}` (`categories` and `cap` optional), checked as the `with_…` methods check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawEarn", into = "RawEarn")]
pub struct EarnPolicy {
    base: EarnRate,
    categories: Vec<(Category, EarnRate)>,
    cap: Option<Points>,
}

impl Default for EarnPolicy {
    /// One point per yuan, no category rates, no cap.
    fn default() -> Self {
        EarnPolicy {
            base: EarnRate::ONE_PER_YUAN,
            categories: Vec::new(),
            cap: None,
        }
    }
}

/// [`EarnPolicy`]'s serde form, before its check.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEarn {
    rate: EarnRate,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    categories: BTreeMap<Category, EarnRate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cap: Option<Points>,
}

impl TryFrom<RawEarn> for EarnPolicy {
    type Error = PolicyError;
    fn try_from(r: RawEarn) -> Result<Self, PolicyError> {
        let mut e = EarnPolicy::new(r.rate);
        for (c, rate) in r.categories {
            e = e.with_category(c, rate);
        }
        match r.cap {
            Some(cap) => e.with_cap(cap),
            None => Ok(e),
        }
    }
}

impl From<EarnPolicy> for RawEarn {
    fn from(e: EarnPolicy) -> Self {
        RawEarn {
            rate: e.base,
            categories: e.categories.into_iter().collect(),
            cap: e.cap,
        }
    }
}

impl EarnPolicy {
    /// A policy with a base rate.
    #[must_use]
    pub fn new(base: EarnRate) -> Self {
        EarnPolicy {
            base,
            ..EarnPolicy::default()
        }
    }

    /// Adds (or replaces) the rate of one category.
    #[must_use]
    pub fn with_category(mut self, category: Category, rate: EarnRate) -> Self {
        self.categories.retain(|(c, _)| c != &category);
        self.categories.push((category, rate));
        self
    }

    /// Caps the points of one transaction (after the multiplier).
    ///
    /// # Errors
    ///
    /// [`PolicyError::Cap`] unless the cap is positive.
    pub fn with_cap(mut self, cap: Points) -> Result<Self, PolicyError> {
        if !cap.is_positive() {
            return Err(PolicyError::Cap { cap: cap.get() });
        }
        self.cap = Some(cap);
        Ok(self)
    }

    /// The rate for a category: its own, or the base rate.
    #[must_use]
    pub fn rate(&self, category: Option<&Category>) -> EarnRate {
        category
            .and_then(|c| self.categories.iter().find(|(k, _)| k == c))
            .map_or(self.base, |(_, r)| *r)
    }

    /// The points a payment earns: `floor(fen × points × multiplier% ÷ (per_yuan × 100 ×
    /// 100))` in exact integer arithmetic, then the cap. Floor, so a member is never
    /// credited a fraction they did not pay for.
    ///
    /// # Errors
    ///
    /// [`PointsError::Overflow`] if the result does not fit in `i64`.
    pub fn points(
        &self,
        paid: Yuan,
        category: Option<&Category>,
        multiplier: Multiplier,
    ) -> Result<Points, PointsError> {
        let rate = self.rate(category);
        // Signed fen, exact (see `SignedYuan::to_fen`): the arithmetic below is in i64.
        let f = SignedYuan::from(paid).to_fen();
        let (pts, mult, per) = (
            i64::from(rate.points()),
            i64::from(multiplier.get()),
            i64::from(rate.per_yuan()),
        );
        // Everyday amounts fit in i64; 128-bit division only for the rare huge payment.
        let p = match f.checked_mul(pts).and_then(|x| x.checked_mul(mult)) {
            Some(num) => num / (per * 10_000),
            None => {
                let num = i128::from(f) * i128::from(pts) * i128::from(mult);
                i64::try_from(num / (i128::from(per) * 10_000))
                    .map_err(|_| PointsError::Overflow { field: "points" })?
            }
        };
        Ok(match self.cap {
            Some(c) => Points::new(p).min(c),
            None => Points::new(p),
        })
    }
}

/// Everything a clinic decides about its points program.
///
/// Build it from [`Policy::default`] (1 point per ¥, never expires, `TakeAvailable`,
/// `Strict`, no tiers) and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    earn: EarnPolicy,
    expiry: ExpiryRule,
    shortfall: ShortfallPolicy,
    chronology: Chronology,
    tiers: TierPolicy,
}

impl Policy {
    /// Sets the earning rule.
    #[must_use]
    pub fn with_earn(mut self, earn: EarnPolicy) -> Self {
        self.earn = earn;
        self
    }

    /// Sets the expiry rule of new lots.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ExpiryDays`] for `AfterDays` outside `1..=36600`.
    pub fn with_expiry(mut self, expiry: ExpiryRule) -> Result<Self, PolicyError> {
        if let ExpiryRule::AfterDays(d) = expiry
            && !(1..=36_600).contains(&d)
        {
            return Err(PolicyError::ExpiryDays { days: d });
        }
        self.expiry = expiry;
        Ok(self)
    }

    /// Sets the shortfall policy for clawbacks.
    #[must_use]
    pub fn with_shortfall(mut self, shortfall: ShortfallPolicy) -> Self {
        self.shortfall = shortfall;
        self
    }

    /// Sets whether backdated commands are accepted.
    #[must_use]
    pub fn with_chronology(mut self, chronology: Chronology) -> Self {
        self.chronology = chronology;
        self
    }

    /// Sets the tiers.
    #[must_use]
    pub fn with_tiers(mut self, tiers: TierPolicy) -> Self {
        self.tiers = tiers;
        self
    }

    /// The earning rule.
    #[must_use]
    pub fn earn(&self) -> &EarnPolicy {
        &self.earn
    }

    /// The expiry rule.
    #[must_use]
    pub fn expiry(&self) -> ExpiryRule {
        self.expiry
    }

    /// The shortfall policy.
    #[must_use]
    pub fn shortfall(&self) -> ShortfallPolicy {
        self.shortfall
    }

    /// The chronology rule.
    #[must_use]
    pub fn chronology(&self) -> Chronology {
        self.chronology
    }

    /// The tiers.
    #[must_use]
    pub fn tiers(&self) -> &TierPolicy {
        &self.tiers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};

    fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        let cal = ClinicCalendar::default();
        cal.start_of(NaiveDate::from_ymd_opt(y, m, d).unwrap()) + chrono::Duration::hours(h.into())
    }

    #[test]
    fn open_loyalty_examples() {
        let cal = ClinicCalendar::default();
        assert_eq!(
            ExpiryRule::EndOfMonth.expires(local(2026, 1, 22, 15), cal),
            Some(local(2026, 2, 1, 0))
        );
        for (m, d) in [(1, 1), (7, 9), (12, 31)] {
            assert_eq!(
                ExpiryRule::EndOfYear.expires(local(2018, m, d, 23), cal),
                Some(local(2019, 1, 1, 0))
            );
        }
        // 23:30 on 31 January in Beijing is 15:30 UTC: still January locally.
        let late = Utc.with_ymd_and_hms(2026, 1, 31, 15, 30, 0).unwrap();
        assert_eq!(
            ExpiryRule::EndOfMonth.expires(late, cal),
            Some(local(2026, 2, 1, 0))
        );
        assert_eq!(
            ExpiryRule::AfterDays(30).expires(local(2026, 3, 3, 23), cal),
            Some(local(2026, 4, 2, 0))
        );
        assert_eq!(ExpiryRule::Never.expires(late, cal), None);
        // The integer fast path agrees with the calendar, across offsets and hours.
        for offset in [-12 * 3600, -5 * 3600 - 1800, 0, 8 * 3600, 14 * 3600] {
            let c = ClinicCalendar::from_offset_seconds(offset).unwrap();
            for h in 0..48 {
                let t = late + chrono::Duration::minutes(h * 37);
                for n in [1, 30, 365, 36_600] {
                    assert_eq!(
                        ExpiryRule::AfterDays(n).expires(t, c),
                        Some(c.midnight_after_days(t, n))
                    );
                }
            }
        }
    }

    #[test]
    fn earning_floors_and_caps() {
        let herbal = Category::parse("herbal").unwrap();
        let p = EarnPolicy::new(EarnRate::new(1, 1).unwrap())
            .with_category(herbal.clone(), EarnRate::new(3, 2).unwrap())
            .with_cap(Points::new(500))
            .unwrap();
        let y = |s: &str| Yuan::parse(s).unwrap();
        assert_eq!(
            p.points(y("99.99"), None, Multiplier::ONE).unwrap(),
            Points::new(99)
        );
        assert_eq!(
            p.points(y("99.99"), Some(&herbal), Multiplier::ONE)
                .unwrap(),
            Points::new(149)
        );
        let double = Multiplier::percent(200).unwrap();
        assert_eq!(
            p.points(y("128.50"), None, double).unwrap(),
            Points::new(257)
        );
        assert_eq!(p.points(y("1000"), None, double).unwrap(), Points::new(500));
        assert_eq!(
            p.points(y("0.99"), None, Multiplier::ONE).unwrap(),
            Points::ZERO
        );
        assert!(EarnPolicy::default().with_cap(Points::ZERO).is_err());
    }

    #[test]
    fn tier_policy_is_checked() {
        let t = |c: &str, th, r| Tier::new(TierCode::parse(c).unwrap(), th, r);
        assert!(TierPolicy::new(vec![t("a", 10, 5), t("b", 10, 5)], 365).is_err());
        assert!(TierPolicy::new(vec![t("a", 10, 11)], 365).is_err());
        assert!(TierPolicy::new(vec![t("a", 10, 5)], 0).is_err());
        let ok = TierPolicy::new(vec![t("a", 0, 0), t("b", 100, 60)], 365).unwrap();
        assert_eq!(ok.reached(99), Some(0));
        assert_eq!(ok.reached(100), Some(1));
        assert!(
            Policy::default()
                .with_expiry(ExpiryRule::AfterDays(0))
                .is_err()
        );
    }
}
