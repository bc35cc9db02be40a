//! The clinic's rules the journey runs under, and their one serde form: the `--config` of
//! the `clinic` calculator and what a host stores.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::appointments::AppointmentConfig;
use super::content::ContentConfig;
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
/// `care_plans` a list of [`CarePlan`]s; `followup` a [`FollowUpPolicy`]; `appointments` an
/// [`AppointmentConfig`] (schedules, no-show, reminder, service-level and auto-complaint
/// policies); `staff` a
/// [`StaffRoster`](crate::relationship::StaffRoster); `transfer_rules`
/// [`TransferRules`](crate::relationship::TransferRules) (WeCom's when absent); `groups` a list
/// of [`GroupSeries`](crate::relationship::GroupSeries), each id once; `content` a
/// [`ContentConfig`] (the content library, the content sequences and event reminders).
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
    /// Schedules and the appointment, reminder and complaint policies.
    pub appointments: AppointmentConfig,
    /// The staff accounts that hold patients' contacts.
    pub staff: crate::relationship::StaffRoster,
    /// The platform's transfer rules, WeCom's by default.
    pub transfer_rules: crate::relationship::TransferRules,
    /// The patient group series (社群) whose joins and leaves the journey records.
    pub groups: Vec<crate::relationship::GroupSeries>,
    /// The content library, content sequences and event reminders (issue 20).
    pub content: ContentConfig,
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
            groups: Vec::new(),
            content: ContentConfig::default(),
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
    #[serde(default)]
    appointments: Option<AppointmentConfig>,
    #[serde(default)]
    staff: Option<crate::relationship::StaffRoster>,
    #[serde(default)]
    transfer_rules: Option<crate::relationship::TransferRules>,
    #[serde(default, deserialize_with = "unique_groups")]
    groups: Vec<crate::relationship::GroupSeries>,
    #[serde(default)]
    content: Option<ContentConfig>,
}

/// The group series, each id once: a second series under one id would never be reached.
fn unique_groups<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<crate::relationship::GroupSeries>, D::Error> {
    let groups = Vec::<crate::relationship::GroupSeries>::deserialize(d)?;
    let mut seen = std::collections::BTreeSet::new();
    for g in &groups {
        if !seen.insert(g.id()) {
            return Err(serde::de::Error::custom(
                crate::relationship::RelationshipError::DuplicateId {
                    what: "group",
                    id: g.id().to_string(),
                },
            ));
        }
    }
    Ok(groups)
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
        if let Some(a) = spec.appointments {
            config.appointments = a;
        }
        if let Some(s) = spec.staff {
            config.staff = s;
        }
        if let Some(r) = spec.transfer_rules {
            config.transfer_rules = r;
        }
        config.groups = spec.groups;
        if let Some(c) = spec.content {
            config.content = c;
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
        assert_eq!(c.staff.len(), 4);
        assert_eq!(c.groups.len(), 1);
        // The default clinic's schedule, so bookings work without --config.
        let clinic = c.appointments.schedules.get(&crate::id::ClinicId::new(1));
        assert_eq!(clinic.map(|s| s.doctors().len()), Some(2));
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

    const SCHEDULE: &str = r#"{"clinic": 3, "doctors": [{"doctor": 7, "slot_minutes": 20,
        "capacity": 2, "hours": [{"weekday": "Tue", "start": "08:30:00", "end": "11:30:00"}]}],
        "closed_days": ["2026-10-01"]}"#;

    fn appointments_json() -> String {
        format!(
            r#"{{"schedules": [{SCHEDULE}],
                "no_show": {{"threshold": 3, "window_days": 60,
                             "requirement": {{"kind": "deposit", "amount": "50"}},
                             "grace_minutes": 20}},
                "reminders": {{"offsets": [{{"kind": "before", "minutes": 120}},
                                          {{"kind": "day_before_at", "time": "19:00:00"}}],
                               "channel": "call", "intake_hours_before": 12,
                               "no_show_call_after_hours": 4, "rebooking_after_hours": 24}},
                "sla": {{"working_days": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
                         "start": "08:00:00", "end": "17:00:00",
                         "acknowledge_hours": 2, "resolve_days": 5, "escalate_to": 9}},
                "auto_complaint": {{"open_at_or_below": 4, "category": "other",
                                    "severity": "medium", "owner": 9}},
                "recovery_after_hours": 48}}"#
        )
    }

    #[test]
    fn appointment_settings_round_trip_through_the_journey_config() {
        use crate::id::ClinicId;
        let a: AppointmentConfig = serde_json::from_str(&appointments_json()).unwrap();
        assert_ne!(a, AppointmentConfig::default());
        assert!(a.schedules.contains_key(&ClinicId::new(3)));
        assert_eq!(a.recovery_after_hours, 48);
        assert!(a.auto_complaint.is_some());
        let back: AppointmentConfig =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        let c: JourneyConfig =
            serde_json::from_str(&format!(r#"{{"appointments": {}}}"#, appointments_json()))
                .unwrap();
        assert_eq!(c.appointments, a);
        // Absent members are the defaults, in the journey config and in its member.
        let c: JourneyConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.appointments, AppointmentConfig::default());
        let d: AppointmentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(d, AppointmentConfig::default());
        let d: AppointmentConfig =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(d, AppointmentConfig::default());
    }

    #[test]
    fn appointment_settings_are_checked_and_named() {
        let zero_capacity = SCHEDULE.replace(r#""capacity": 2"#, r#""capacity": 0"#);
        for (text, needles) in [
            (
                format!(r#"{{"schedules": [{SCHEDULE}, {SCHEDULE}]}}"#),
                vec!["schedules[1].clinic", "twice"],
            ),
            (
                format!(r#"{{"schedules": [{SCHEDULE}, {zero_capacity}]}}"#),
                vec!["schedules[1]", "doctors[0].capacity"],
            ),
            (
                r#"{"recovery_after_hours": 721}"#.to_owned(),
                vec!["recovery_after_hours", "721"],
            ),
            (r#"{"reminder": {}}"#.to_owned(), vec!["reminder"]),
            (
                r#"{"no_show": {"threshold": 2, "window_days": 90,
                    "requirement": {"kind": "confirmation"}, "grace_minutes": 15,
                    "grace_minute": 5}}"#
                    .to_owned(),
                vec!["grace_minute"],
            ),
            (
                r#"{"auto_complaint": {"open_at_or_below": 11, "category": "other",
                    "severity": "medium", "owner": 9}}"#
                    .to_owned(),
                vec!["11"],
            ),
        ] {
            let e = serde_json::from_str::<AppointmentConfig>(&text)
                .unwrap_err()
                .to_string();
            for n in &needles {
                assert!(e.contains(n), "{text}: {e}");
            }
            // The same refusal through the journey config.
            let e =
                serde_json::from_str::<JourneyConfig>(&format!(r#"{{"appointments": {text}}}"#))
                    .unwrap_err()
                    .to_string();
            for n in &needles {
                assert!(e.contains(n), "journey config {text}: {e}");
            }
        }
    }

    #[test]
    fn staff_transfer_rules_and_groups_read_and_are_checked() {
        let text = r#"{
            "staff": {"accounts": [
                {"id": 1, "kind": "doctor", "clinic": 1, "capacity": 500},
                {"id": 2, "kind": "assistant", "clinic": 1, "capacity": 500}
            ]},
            "transfer_rules": {
                "on_job": {"decline_window_hours": 24, "limit": {"count": 2, "days": 90},
                           "on_decline": "stays_with_original"},
                "resigned": {"decline_window_hours": 24, "limit": {"count": 2, "days": 90},
                             "on_decline": "contact_lost"}
            },
            "groups": [{"id": 1, "name": "高血压", "purpose": "血压管理", "owner": 2,
                        "capacity": 3, "rule": {"has_tag": "condition/高血压"}}]
        }"#;
        let c: JourneyConfig = serde_json::from_str(text).unwrap();
        assert_eq!(c.staff.len(), 2);
        assert_eq!(c.groups.len(), 1);
        assert_eq!(c.groups[0].capacity(), 3);
        for (text, needle) in [
            (
                r#"{"staff":{"accounts":[{"id":1,"kind":"doctor","clinic":1,"capacity":1},{"id":1,"kind":"doctor","clinic":1,"capacity":1}]}}"#,
                "staff S1 is given twice",
            ),
            (
                r#"{"groups":[{"id":1,"name":"a","purpose":"b","owner":2,"capacity":0,"rule":{"has_tag":"x/y"}}]}"#,
                "capacity",
            ),
            (
                r#"{"groups":[{"id":4,"name":"a","purpose":"b","owner":2,"capacity":5,"rule":{"has_tag":"x/y"}},{"id":4,"name":"c","purpose":"d","owner":2,"capacity":5,"rule":{"has_tag":"x/y"}}]}"#,
                "group G4 is given twice",
            ),
        ] {
            let e = serde_json::from_str::<JourneyConfig>(text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    const LIBRARY: &str = r#"[
        {"id": 1, "title": "降压药怎么吃", "nature": "education", "conditions": ["I10"],
         "copy": "按时服药，定期测量血压"},
        {"id": 2, "title": "会员日", "nature": "promotional", "copy": "每月会员日免费测血压"}
    ]"#;

    fn sequence(id: u64, items: &[u64]) -> String {
        let steps: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(d, i)| format!(r#"{{"after_days": {d}, "item": {i}}}"#))
            .collect();
        format!(
            r#"{{"id": {id}, "name": "每日一药", "trigger": "chronic_file_opened",
                "condition": "I10", "channel": "wechat_message", "steps": [{}]}}"#,
            steps.join(",")
        )
    }

    #[test]
    fn content_settings_round_trip_through_the_journey_config() {
        use crate::content::{ContentNature, SequenceTrigger};
        use crate::id::{ContentItemId, SequenceId};
        let text = format!(
            r#"{{"library": {LIBRARY}, "sequences": [{}, {}],
                "event_reminders": {{"offsets": [{{"kind": "before", "minutes": 120}}],
                                     "channel": "wechat_message"}}}}"#,
            sequence(1, &[1, 2]),
            sequence(2, &[1])
        );
        let c: ContentConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(c.library.items().count(), 2);
        let nature = |i| c.library.get(ContentItemId::new(i)).map(|i| i.nature());
        assert_eq!(nature(1), Some(ContentNature::Education));
        assert_eq!(nature(2), Some(ContentNature::Promotional));
        let s = c.sequences.get(&SequenceId::new(1)).unwrap();
        assert_eq!(s.trigger(), SequenceTrigger::ChronicFileOpened);
        assert_eq!(s.steps().len(), 2);
        assert_ne!(
            c.event_reminders,
            crate::event::EventReminderPolicy::default()
        );
        let back: ContentConfig =
            serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
        let j: JourneyConfig = serde_json::from_str(&format!(r#"{{"content": {text}}}"#)).unwrap();
        assert_eq!(j.content, c);
        // Absent members are the defaults, in the journey config and in its member.
        let j: JourneyConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(j.content, ContentConfig::default());
        let d: ContentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(d, ContentConfig::default());
        // The constructor and the serde form refuse alike.
        let item = |i| c.library.get(ContentItemId::new(i)).cloned().unwrap();
        let only_first = crate::content::ContentLibrary::new(vec![item(1)]).unwrap();
        let e = ContentConfig::new(
            only_first,
            vec![s.clone()],
            crate::event::EventReminderPolicy::default(),
        )
        .unwrap_err();
        assert_eq!(e.path, "sequences[0].steps[1].item");
    }

    #[test]
    fn content_settings_are_checked_and_named() {
        let bad_copy = r#"[{"id": 1, "title": "t", "nature": "education", "copy": "治愈率", "findings": [{"word": "治愈率", "rule": "efficacy_claim"}]}]"#;
        for (text, needles) in [
            (
                format!(
                    r#"{{"library": {LIBRARY}, "sequences": [{}, {}]}}"#,
                    sequence(4, &[1]),
                    sequence(4, &[2])
                ),
                vec!["sequences[1].id", "SQ4", "twice"],
            ),
            (
                format!(
                    r#"{{"library": {LIBRARY}, "sequences": [{}]}}"#,
                    sequence(1, &[1, 9])
                ),
                vec!["sequences[0].steps[1].item", "CI9"],
            ),
            (
                format!(
                    r#"{{"library": {bad_copy}, "sequences": [{}]}}"#,
                    sequence(1, &[1])
                ),
                vec!["sequences[0].steps[0].item", "治愈率"],
            ),
            (
                format!(
                    r#"{{"library": {LIBRARY}, "sequences": [{}]}}"#,
                    sequence(1, &[])
                ),
                vec!["sequences[0]", "steps", "0 steps"],
            ),
            (
                format!(
                    r#"{{"library": {LIBRARY}, "sequences": [{}]}}"#,
                    sequence(1, &[1]).replace(r#""condition": "I10","#, "")
                ),
                vec!["sequences[0]", "condition"],
            ),
            (
                format!(
                    r#"{{"library": {LIBRARY}, "sequences": [{}]}}"#,
                    sequence(1, &[1]).replace("wechat_message", "in_clinic")
                ),
                vec!["sequences[0]", "channel"],
            ),
            (
                r#"{"library": [{"id": 1, "title": "a", "nature": "education", "copy": "x"},
                                {"id": 1, "title": "b", "nature": "education", "copy": "y"}]}"#
                    .to_owned(),
                vec!["library[1].id", "CI1", "twice"],
            ),
            (
                r#"{"library": [{"id": 1, "title": "a", "nature": "gossip", "copy": "x"}]}"#
                    .to_owned(),
                vec!["library[0]", "gossip"],
            ),
            (
                r#"{"event_reminders": {"offsets": [], "channel": "in_clinic"}}"#.to_owned(),
                vec!["event_reminders"],
            ),
            (r#"{"sequence": []}"#.to_owned(), vec!["sequence"]),
        ] {
            let e = serde_json::from_str::<ContentConfig>(&text)
                .unwrap_err()
                .to_string();
            for n in &needles {
                assert!(e.contains(n), "{text}: {e}");
            }
            // The same refusal through the journey config.
            let e = serde_json::from_str::<JourneyConfig>(&format!(r#"{{"content": {text}}}"#))
                .unwrap_err()
                .to_string();
            for n in &needles {
                assert!(e.contains(n), "journey config {text}: {e}");
            }
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
