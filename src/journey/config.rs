//! The clinic's rules the journey runs under, and their one serde form: the `--config` of
//! the `clinic` calculator and what a host stores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::appointments::AppointmentConfig;
use crate::calendar::ClinicCalendar;
use crate::campaign::CampaignBook;
use crate::followup::{CarePlan, FollowUpPolicy};
use crate::journey::Category;
use crate::money::Points;
use crate::points::{EarnPolicy, EarnRate, ExpiryRule, Policy, PolicyError, TierPolicy};
use crate::referral::{BindingPolicy, RewardSchedule};

/// The clinic's rules the journey runs under: one value per module.
///
/// Its serde form is one JSON object whose members are the modules' own serde forms, each
/// optional (absent: [`JourneyConfig::new`]'s default), unknown members refused:
///
/// ```
/// use clinic_ops::journey::JourneyConfig;
///
/// let config: JourneyConfig = serde_json::from_str(r#"{
///     "calendar": "+08:00",
///     "earn": { "rate": { "points": 1, "per_yuan": 1 }, "cap": 5000,
///               "expiry": { "after_days": 365 } },
///     "tiers": { "window_days": 365,
///                "tiers": [ { "code": "gold", "threshold": 5000, "retain": 3000 } ] }
/// }"#)?;
/// assert_eq!(config.points.tiers().tiers().len(), 1);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// `earn` is the earning policy ([`EarnPolicy`]'s members) with the expiry of new lots
/// ([`ExpiryRule`]) beside them; `tiers` is a [`TierPolicy`]; `campaigns` a
/// [`CampaignBook`]; `referral` a [`RewardSchedule`]; `binding` a [`BindingPolicy`];
/// `care_plans` a list of [`CarePlan`]s; `followup` a [`FollowUpPolicy`].
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ConfigSpec")]
pub struct JourneyConfig {
    /// The clinic calendar.
    pub calendar: ClinicCalendar,
    /// The points program.
    pub points: Policy,
    /// The campaign book.
    pub campaigns: CampaignBook,
    /// The referral reward schedule, if the clinic pays referral rewards.
    pub referral: Option<RewardSchedule>,
    /// The referral binding rules.
    pub binding: BindingPolicy,
    /// The care plans every patient is planned against.
    pub care_plans: Vec<CarePlan>,
    /// The follow-up contact rules.
    pub followup: FollowUpPolicy,
    /// Schedules and the appointment, reminder and complaint policies (no serde form yet:
    /// the default, set in code).
    pub appointments: AppointmentConfig,
    /// The staff accounts that hold patients' contacts (no serde form yet: set in code).
    pub staff: crate::relationship::StaffRoster,
    /// The platform's transfer rules, WeCom's by default.
    pub transfer_rules: crate::relationship::TransferRules,
    /// Content sequences and event reminders (issue 20; no serde form yet: set in code).
    pub content: super::content::ContentConfig,
}

impl JourneyConfig {
    /// The defaults in `calendar`: 1 point per ¥ that never expires, no campaigns, no
    /// referral rewards, the default binding rules, no care plans. Set the fields to change
    /// them.
    pub fn new(calendar: ClinicCalendar) -> Self {
        JourneyConfig {
            calendar,
            points: Policy::default(),
            // An empty book is within every limit `new` checks.
            campaigns: CampaignBook::new(BTreeMap::new(), Vec::new())
                .unwrap_or_else(|_| unreachable!("an empty campaign book is valid")),
            referral: None,
            binding: BindingPolicy::default(),
            care_plans: Vec::new(),
            followup: FollowUpPolicy::default(),
            appointments: AppointmentConfig::default(),
            staff: crate::relationship::StaffRoster::default(),
            transfer_rules: crate::relationship::TransferRules::wecom(),
            content: super::content::ContentConfig::default(),
        }
    }
}

/// `earn` in the serde form: the earning policy and the expiry of the lots it earns.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EarnSpec {
    rate: EarnRate,
    #[serde(default)]
    categories: BTreeMap<Category, EarnRate>,
    #[serde(default)]
    cap: Option<Points>,
    #[serde(default)]
    expiry: ExpiryRule,
}

/// [`JourneyConfig`]'s serde form; each member is checked as its module checks it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigSpec {
    #[serde(default)]
    calendar: ClinicCalendar,
    #[serde(default)]
    earn: Option<EarnSpec>,
    #[serde(default)]
    tiers: Option<TierPolicy>,
    #[serde(default)]
    campaigns: Option<CampaignBook>,
    #[serde(default)]
    referral: Option<RewardSchedule>,
    #[serde(default)]
    binding: Option<BindingPolicy>,
    #[serde(default)]
    care_plans: Vec<CarePlan>,
    #[serde(default)]
    followup: Option<FollowUpPolicy>,
}

impl TryFrom<ConfigSpec> for JourneyConfig {
    type Error = PolicyError;
    fn try_from(spec: ConfigSpec) -> Result<Self, PolicyError> {
        let mut config = JourneyConfig::new(spec.calendar);
        let mut policy = Policy::default();
        if let Some(earn) = spec.earn {
            let mut e = EarnPolicy::new(earn.rate);
            for (c, r) in earn.categories {
                e = e.with_category(c, r);
            }
            if let Some(cap) = earn.cap {
                e = e.with_cap(cap)?;
            }
            policy = policy.with_earn(e).with_expiry(earn.expiry)?;
        }
        if let Some(tiers) = spec.tiers {
            policy = policy.with_tiers(tiers);
        }
        config.points = policy;
        if let Some(book) = spec.campaigns {
            config.campaigns = book;
        }
        config.referral = spec.referral;
        if let Some(b) = spec.binding {
            config.binding = b;
        }
        config.care_plans = spec.care_plans;
        if let Some(f) = spec.followup {
            config.followup = f;
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clinic_calculators_default_configuration_reads() {
        let text = include_str!("../../examples/data/clinic.json");
        let c: JourneyConfig = serde_json::from_str(text).unwrap();
        assert_eq!(c.points.expiry(), ExpiryRule::AfterDays(365));
        assert_eq!(c.points.tiers().tiers().len(), 2);
        assert!(c.referral.is_some());
        assert_eq!(c.care_plans.len(), 1);
    }

    #[test]
    fn each_member_is_checked_and_named() {
        for (text, needle) in [
            (
                r#"{"earn":{"rate":{"points":1,"per_yuan":1},"cap":0}}"#,
                "cap",
            ),
            (
                r#"{"earn":{"rate":{"points":1,"per_yuan":1},"expiry":{"after_days":0}}}"#,
                "0",
            ),
            (r#"{"tiers":{"window_days":0,"tiers":[]}}"#, "0"),
            (r#"{"colour":"red"}"#, "colour"),
            (
                r#"{"earn":{"rate":{"points":1,"per_yuan":1},"bonus":2}}"#,
                "bonus",
            ),
        ] {
            let e = serde_json::from_str::<JourneyConfig>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn expiry_and_tiers_round_trip() {
        for r in [
            ExpiryRule::Never,
            ExpiryRule::AfterDays(30),
            ExpiryRule::EndOfMonth,
            ExpiryRule::EndOfYear,
        ] {
            let j = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<ExpiryRule>(&j).unwrap(), r);
        }
        let t: TierPolicy =
            serde_json::from_str(r#"{"tiers":[{"code":"silver","threshold":1000,"retain":600}]}"#)
                .unwrap();
        assert_eq!(t.window_days(), 365);
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<TierPolicy>(&j).unwrap(), t);
    }
}
