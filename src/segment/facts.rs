//! [`PatientFacts`]: the snapshot of everything a rule may read about one patient.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::error::SegmentError;
use super::lifecycle::{Lifecycle, LifecycleRules};
use super::probability::Probability;
use super::tag::{TagName, TagSet, text_hash};
use crate::calendar::{ClinicCalendar, day_number};
use crate::id::PatientId;
use crate::journey::{Purchase, Visit};
use crate::money::{Points, Yuan};
use crate::patient::{Channel, ConditionCode, ConsentPurpose, Patient};
use crate::text::Label;

/// What [`PatientFacts::build`] reads besides the patient: the journey records and the
/// numbers other modules own.
#[derive(Debug, Clone, Default)]
pub struct FactsInput<'a> {
    /// The patient's visits, any order. Visits of other patients and visits after `now` are
    /// ignored.
    pub visits: &'a [Visit],
    /// The patient's purchases, any order; the same filtering applies.
    pub purchases: &'a [Purchase],
    /// The spendable points balance, when the host has a points ledger.
    pub points: Option<Points>,
    /// The membership tier code (`gold`), when the host has tiers.
    pub tier: Option<Label>,
    /// How many referrals the patient made that were bound.
    pub referrals_made: u32,
    /// The tags the patient carries now.
    pub tags: TagSet,
}

impl<'a> FactsInput<'a> {
    /// The journey records alone: no points, no tier, no referrals, no tags; add those with
    /// the `with_…` methods.
    ///
    /// ```
    /// use clinic_ops::money::Points;
    /// use clinic_ops::segment::FactsInput;
    ///
    /// let input = FactsInput::new(&[], &[]).with_points(Points::new(1200)).with_referrals_made(2);
    /// assert_eq!(input.referrals_made, 2);
    /// assert!(input.tier.is_none());
    /// ```
    #[must_use]
    pub fn new(visits: &'a [Visit], purchases: &'a [Purchase]) -> Self {
        FactsInput {
            visits,
            purchases,
            ..FactsInput::default()
        }
    }

    /// The same input with a spendable points balance.
    #[must_use]
    pub fn with_points(mut self, points: Points) -> Self {
        self.points = Some(points);
        self
    }

    /// The same input with a membership tier code.
    #[must_use]
    pub fn with_tier(mut self, tier: Label) -> Self {
        self.tier = Some(tier);
        self
    }

    /// The same input with how many bound referrals the patient made.
    #[must_use]
    pub fn with_referrals_made(mut self, referrals_made: u32) -> Self {
        self.referrals_made = referrals_made;
        self
    }

    /// The same input with the tags the patient carries now.
    #[must_use]
    pub fn with_tags(mut self, tags: TagSet) -> Self {
        self.tags = tags;
        self
    }
}

/// The consents in force at the snapshot instant, as a small bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct ConsentSet(u8);

impl ConsentSet {
    fn bit(p: ConsentPurpose) -> u8 {
        let i = ConsentPurpose::ALL
            .iter()
            .position(|q| *q == p)
            .unwrap_or(7);
        1u8 << i
    }

    /// Whether the purpose is granted.
    #[must_use]
    pub fn contains(self, p: ConsentPurpose) -> bool {
        self.0 & Self::bit(p) != 0
    }

    /// Adds a purpose.
    pub fn insert(&mut self, p: ConsentPurpose) {
        self.0 |= Self::bit(p);
    }

    /// Removes a purpose.
    pub fn remove(&mut self, p: ConsentPurpose) {
        self.0 &= !Self::bit(p);
    }

    /// Whether every purpose of `needed` is granted: one mask test for a campaign's consents.
    pub(crate) fn covers(self, needed: ConsentSet) -> bool {
        self.0 & needed.0 == needed.0
    }
}

/// A value snapshot of one patient at one instant: what every rule and audience reads.
///
/// Build it with [`PatientFacts::build`] from a [`Patient`] and [`FactsInput`] (a pure
/// function of `now` and the calendar), or directly with [`PatientFacts::builder`] in tests and
/// benches. Windows ("visits in the last 30 days") are counted in local days: a record on the
/// local day `today − k` is `k` days ago, and the last `N` days are `k` in `0..N`, today
/// included.
///
/// Spend is what the patient paid: visits' `paid` (unless refunded by `now`) plus purchases'
/// `amount`.
///
/// Facts serialise (for audit logs and traces) but do not deserialise: they are derived
/// values, rebuilt from their sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatientFacts {
    pub(crate) patient: PatientId,
    pub(crate) today: NaiveDate,
    pub(crate) age: Option<u32>,
    pub(crate) channel: Option<Channel>,
    pub(crate) consents: ConsentSet,
    pub(crate) lifecycle: Lifecycle,
    /// Days ago of each visit, ascending.
    pub(crate) visits_ago: Vec<u32>,
    /// (days ago, cumulative spend up to and including that day), ascending by days ago.
    pub(crate) spend_ago: Vec<(u32, Decimal)>,
    pub(crate) conditions: Vec<ConditionCode>,
    /// Hashes of `conditions`, same order: a membership test reads these inline first.
    #[serde(skip)]
    pub(crate) condition_hashes: Vec<u64>,
    pub(crate) points: Option<Points>,
    pub(crate) tier: Option<Label>,
    pub(crate) referrals_made: u32,
    pub(crate) tags: TagSet,
    /// A churn model's probability that the patient is still active, when the host scored one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) p_alive: Option<Probability>,
}

impl PatientFacts {
    /// The snapshot at `now` with the default [`LifecycleRules`].
    ///
    /// # Errors
    ///
    /// [`SegmentError::Calendar`] when `now` lies outside the accepted range
    /// ([`crate::calendar::check_instant`]).
    pub fn build(
        patient: &Patient,
        input: &FactsInput<'_>,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
    ) -> Result<PatientFacts, SegmentError> {
        Self::build_with(patient, input, now, calendar, &LifecycleRules::default())
    }

    /// The snapshot at `now` with the given lifecycle rules.
    ///
    /// # Errors
    ///
    /// [`SegmentError::Calendar`] when `now` lies outside the accepted range
    /// ([`crate::calendar::check_instant`]).
    pub fn build_with(
        patient: &Patient,
        input: &FactsInput<'_>,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
        rules: &LifecycleRules,
    ) -> Result<PatientFacts, SegmentError> {
        crate::calendar::check_instant("now", now)?;
        Ok(Self::build_checked(patient, input, now, calendar, rules))
    }

    /// [`Self::build_with`] for a `now` already checked.
    fn build_checked(
        patient: &Patient,
        input: &FactsInput<'_>,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
        rules: &LifecycleRules,
    ) -> PatientFacts {
        let id = patient.id();
        let today = calendar.local_date(now);
        let today_n = day_number(today);
        let ago_of = |day: i64| u32::try_from(today_n - day).unwrap_or(u32::MAX);
        let mut builder = PatientFacts::builder(id, today);
        // Pushed in place rather than through the builder's by-value methods: each of those
        // moved the whole builder, a copy per record of a patient's history (a tenth of a
        // long journal's replay).
        builder.facts.visits_ago.reserve(input.visits.len());
        builder
            .spends
            .reserve(input.visits.len() + input.purchases.len());
        let mut visit_days = Vec::with_capacity(input.visits.len());
        for v in input
            .visits
            .iter()
            .filter(|v| v.patient == id && v.at <= now)
        {
            let day = day_number(calendar.local_date(v.at));
            builder.facts.visits_ago.push(ago_of(day));
            visit_days.push(day);
            if !v.is_refunded_by(now) && !v.paid.is_zero() {
                builder.spends.push((ago_of(day), v.paid.amount()));
            }
        }
        for p in input
            .purchases
            .iter()
            .filter(|p| p.patient == id && p.at <= now)
        {
            let day = day_number(calendar.local_date(p.at));
            builder.spends.push((ago_of(day), p.amount.amount()));
        }
        visit_days.sort_unstable();
        visit_days.dedup();
        let registered = day_number(calendar.local_date(patient.registered_at()));
        builder.lifecycle = Some(rules.stage(&visit_days, registered, today_n));
        builder.facts.age = patient.age_on(today);
        builder.facts.channel = Some(patient.channel().clone());
        for p in ConsentPurpose::ALL {
            if patient.may(p, now) {
                builder.facts.consents.insert(p);
            }
        }
        for f in patient.chronic_files() {
            if f.closed_at.is_none_or(|c| c > now) && f.opened_at <= now {
                builder.facts.conditions.push(f.condition.clone());
            }
        }
        builder.facts.points = input.points;
        builder.facts.tier = input.tier.clone();
        builder.facts.referrals_made = input.referrals_made;
        builder.facts.tags = input.tags.clone();
        builder.build()
    }

    /// A builder for facts without a [`Patient`]: tests, benches and hosts that keep their own
    /// snapshot tables.
    #[must_use]
    pub fn builder(patient: PatientId, today: NaiveDate) -> FactsBuilder {
        FactsBuilder {
            facts: PatientFacts {
                patient,
                today,
                age: None,
                channel: None,
                consents: ConsentSet::default(),
                lifecycle: Lifecycle::New,
                visits_ago: Vec::new(),
                spend_ago: Vec::new(),
                conditions: Vec::new(),
                condition_hashes: Vec::new(),
                points: None,
                tier: None,
                referrals_made: 0,
                tags: TagSet::new(),
                p_alive: None,
            },
            spends: Vec::new(),
            lifecycle: None,
        }
    }

    /// The patient.
    #[must_use]
    pub fn patient(&self) -> PatientId {
        self.patient
    }

    /// The local date of the snapshot.
    #[must_use]
    pub fn today(&self) -> NaiveDate {
        self.today
    }

    /// Age in whole years, when known.
    #[must_use]
    pub fn age(&self) -> Option<u32> {
        self.age
    }

    /// The acquisition channel, when known.
    #[must_use]
    pub fn channel(&self) -> Option<&Channel> {
        self.channel.as_ref()
    }

    /// Whether the purpose was consented to at the snapshot instant.
    #[must_use]
    pub fn may(&self, purpose: ConsentPurpose) -> bool {
        self.consents.contains(purpose)
    }

    /// The consents in force.
    #[must_use]
    pub fn consents(&self) -> ConsentSet {
        self.consents
    }

    /// The lifecycle stage.
    #[must_use]
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Visits in the last `days` local days, today included.
    #[must_use]
    pub fn visits_in(&self, days: u32) -> u32 {
        let n = self.visits_ago.partition_point(|d| *d < days);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Money paid in the last `days` local days, today included.
    #[must_use]
    pub fn spend_in(&self, days: u32) -> Yuan {
        let n = self.spend_ago.partition_point(|(d, _)| *d < days);
        match n.checked_sub(1).and_then(|i| self.spend_ago.get(i)) {
            Some((_, total)) => Yuan::new(*total).unwrap_or(Yuan::ZERO),
            None => Yuan::ZERO,
        }
    }

    /// A churn model's probability that the patient is still active, when scored.
    #[must_use]
    pub fn p_alive(&self) -> Option<Probability> {
        self.p_alive
    }

    /// The same facts with a churn model's `p_alive` (for example
    /// `crate::churn::BgNbd::p_alive` of the patient's RFM summary), which the `p_alive`
    /// audience leaf reads; `rules` then moves an active or won-back patient whose `p_alive`
    /// is below [`LifecycleRules::p_alive_at_risk`] to at risk (see
    /// [`LifecycleRules::with_p_alive`]).
    #[must_use]
    pub fn with_p_alive(mut self, p_alive: Probability, rules: &LifecycleRules) -> Self {
        self.p_alive = Some(p_alive);
        self.lifecycle = rules.with_p_alive(self.lifecycle, Some(p_alive));
        self
    }

    /// Whole local days since the last visit, or `None` before the first.
    #[must_use]
    pub fn days_since_last_visit(&self) -> Option<u32> {
        self.visits_ago.first().copied()
    }

    /// How many visits in all, up to the snapshot.
    #[must_use]
    pub fn visit_count(&self) -> u32 {
        u32::try_from(self.visits_ago.len()).unwrap_or(u32::MAX)
    }

    /// Codes of the chronic files open at the snapshot, sorted.
    #[must_use]
    pub fn conditions(&self) -> &[ConditionCode] {
        &self.conditions
    }

    /// Whether a chronic file with this condition is open.
    #[must_use]
    pub fn has_condition(&self, code: &ConditionCode) -> bool {
        let h = text_hash(code.as_str());
        self.condition_hashes
            .iter()
            .zip(&self.conditions)
            .any(|(x, c)| *x == h && c == code)
    }

    /// The points balance, when known.
    #[must_use]
    pub fn points(&self) -> Option<Points> {
        self.points
    }

    /// The tier code, when known.
    #[must_use]
    pub fn tier(&self) -> Option<&Label> {
        self.tier.as_ref()
    }

    /// Referrals the patient made.
    #[must_use]
    pub fn referrals_made(&self) -> u32 {
        self.referrals_made
    }

    /// The tags carried.
    #[must_use]
    pub fn tags(&self) -> &TagSet {
        &self.tags
    }

    /// Whether the patient carries the tag.
    #[must_use]
    pub fn has_tag(&self, tag: &TagName) -> bool {
        self.tags.contains(tag)
    }

    /// The tags, for applying auto-tag events to the snapshot.
    pub fn tags_mut(&mut self) -> &mut TagSet {
        &mut self.tags
    }
}

/// Builds [`PatientFacts`] directly. Every setter is optional; the lifecycle, when not set, is
/// derived from the visits with the default [`LifecycleRules`] (registration taken as the
/// first visit, or today).
#[derive(Debug, Clone)]
pub struct FactsBuilder {
    facts: PatientFacts,
    spends: Vec<(u32, Decimal)>,
    lifecycle: Option<Lifecycle>,
}

impl FactsBuilder {
    /// Sets the age.
    #[must_use]
    pub fn age(mut self, years: u32) -> Self {
        self.facts.age = Some(years);
        self
    }

    /// Sets the channel.
    #[must_use]
    pub fn channel(mut self, channel: Channel) -> Self {
        self.facts.channel = Some(channel);
        self
    }

    /// Grants a consent.
    #[must_use]
    pub fn consent(mut self, purpose: ConsentPurpose) -> Self {
        self.facts.consents.insert(purpose);
        self
    }

    /// Sets a churn model's `p_alive` (the lifecycle is left as set or derived).
    #[must_use]
    pub fn p_alive(mut self, p: Probability) -> Self {
        self.facts.p_alive = Some(p);
        self
    }

    /// Sets the lifecycle stage instead of deriving it.
    #[must_use]
    pub fn lifecycle(mut self, stage: Lifecycle) -> Self {
        self.lifecycle = Some(stage);
        self
    }

    /// Records a visit `days_ago` local days before today.
    #[must_use]
    pub fn visit(mut self, days_ago: u32) -> Self {
        self.facts.visits_ago.push(days_ago);
        self
    }

    /// Records money paid `days_ago` local days before today.
    #[must_use]
    pub fn spend(mut self, days_ago: u32, amount: Yuan) -> Self {
        self.spends.push((days_ago, amount.amount()));
        self
    }

    /// Adds an open chronic condition.
    #[must_use]
    pub fn condition(mut self, code: ConditionCode) -> Self {
        self.facts.conditions.push(code);
        self
    }

    /// Sets the points balance.
    #[must_use]
    pub fn points(mut self, points: Points) -> Self {
        self.facts.points = Some(points);
        self
    }

    /// Sets the tier code.
    #[must_use]
    pub fn tier(mut self, tier: Label) -> Self {
        self.facts.tier = Some(tier);
        self
    }

    /// Sets the referrals made.
    #[must_use]
    pub fn referrals_made(mut self, n: u32) -> Self {
        self.facts.referrals_made = n;
        self
    }

    /// Adds a tag.
    #[must_use]
    pub fn tag(mut self, tag: TagName) -> Self {
        self.facts.tags.insert(tag);
        self
    }

    /// Sets all the tags.
    #[must_use]
    pub fn tags(mut self, tags: TagSet) -> Self {
        self.facts.tags = tags;
        self
    }

    /// The facts.
    #[must_use]
    pub fn build(self) -> PatientFacts {
        let FactsBuilder {
            mut facts,
            mut spends,
            lifecycle,
        } = self;
        facts.visits_ago.sort_unstable();
        facts.conditions.sort();
        facts.conditions.dedup();
        facts.condition_hashes = facts
            .conditions
            .iter()
            .map(|c| text_hash(c.as_str()))
            .collect();
        spends.sort_unstable_by_key(|(d, _)| *d);
        let mut cumulative = Decimal::ZERO;
        for (d, amount) in spends {
            cumulative = cumulative.saturating_add(amount);
            match facts.spend_ago.last_mut() {
                Some((last, total)) if *last == d => *total = cumulative,
                _ => facts.spend_ago.push((d, cumulative)),
            }
        }
        facts.lifecycle = lifecycle.unwrap_or_else(|| {
            let today = i64::from(u32::MAX);
            let mut days: Vec<i64> = facts
                .visits_ago
                .iter()
                .rev()
                .map(|d| today - i64::from(*d))
                .collect();
            days.dedup();
            let registered = days.first().copied().unwrap_or(today);
            LifecycleRules::default().stage(&days, registered, today)
        });
        facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_local_days_back_from_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        let f = PatientFacts::builder(PatientId::new(1), today)
            .visit(0)
            .visit(29)
            .visit(30)
            .spend(0, Yuan::from_whole(100).unwrap())
            .spend(0, Yuan::from_whole(20).unwrap())
            .spend(45, Yuan::from_whole(5).unwrap())
            .build();
        assert_eq!(f.visits_in(1), 1);
        assert_eq!(f.visits_in(30), 2);
        assert_eq!(f.visits_in(31), 3);
        assert_eq!(f.spend_in(1).to_string(), "120.00");
        assert_eq!(f.spend_in(45).to_string(), "120.00");
        assert_eq!(f.spend_in(46).to_string(), "125.00");
        assert_eq!(f.days_since_last_visit(), Some(0));
        assert_eq!(f.lifecycle(), Lifecycle::Active);
    }
}
