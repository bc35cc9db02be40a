//! Property and state-machine tests of the referral forest, rewards and their limits.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::id::{ClinicId, PatientId, VisitId};
use clinic_ops::journey::Visit;
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::MobileNumber;
use clinic_ops::referral::{
    Basis, Beneficiary, Bind, BindingPolicy, ComplianceProfile, Member, Protection, ReferralForest,
    Reward, RewardCaps, RewardSchedule, RewardStatus, RuleId, RuleSpec, ScheduleError,
    ScheduleSpec, bind_all, decide_rewards,
};

fn t(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_000_000, 0).unwrap() + Duration::hours(hours)
}

fn p(n: usize) -> PatientId {
    PatientId::new(n as u64)
}

/// Patients 0..n: registration at a whole day (ties happen) and an optional mobile from a small pool, so that
/// shared identities happen.
fn members() -> impl Strategy<Value = Vec<(i64, Option<u8>)>> {
    prop::collection::vec(
        (
            (0i64..10).prop_map(|d| d * 24),
            prop::option::weighted(0.3, 0u8..4),
        ),
        2..16,
    )
}

fn forest_of(ms: &[(i64, Option<u8>)]) -> ReferralForest {
    let mut f = ReferralForest::new();
    for (i, (h, mob)) in ms.iter().enumerate() {
        let mut m = Member::new(p(i), t(*h));
        if let Some(k) = mob {
            m = m.with_mobile(MobileNumber::parse(&format!("1380000000{k}")).unwrap());
        }
        f.upsert_member(m).unwrap();
    }
    f
}

fn policy() -> impl Strategy<Value = BindingPolicy> {
    (
        0u32..20,
        prop_oneof![
            Just(Protection::Permanent),
            (0u32..10).prop_map(|days| Protection::Days { days })
        ],
    )
        .prop_map(|(window_days, protection)| BindingPolicy {
            window_days,
            protection,
        })
}

/// Attempts over patients 0..=n (n is unknown to the forest), at whole days (so that the
/// window's and the protection's edges are hit exactly) or an hour after.
fn attempts(n: usize) -> impl Strategy<Value = Vec<(usize, usize, i64)>> {
    prop::collection::vec((0..=n, 0..=n, 0i64..40, 0i64..2), 0..60).prop_map(|v| {
        v.into_iter()
            .map(|(e, r, d, h)| (e, r, d * 24 + h))
            .collect()
    })
}

fn binds(raw: &[(usize, usize, i64)]) -> Vec<Bind> {
    raw.iter()
        .map(|&(e, r, h)| Bind {
            referee: p(e),
            referrer: p(r),
            at: t(h),
        })
        .collect()
}

/// The naive model of the binding rules: a map referee → (referrer, at), checked rule by rule
/// with a visited set for cycles.
struct Model {
    members: Vec<(DateTime<Utc>, Option<u8>)>,
    parent: HashMap<usize, (usize, DateTime<Utc>)>,
}

impl Model {
    fn bind(&mut self, e: usize, r: usize, at: DateTime<Utc>, pol: &BindingPolicy) -> &'static str {
        let (Some(&(reg_e, mob_e)), Some(&(reg_r, mob_r))) =
            (self.members.get(e), self.members.get(r))
        else {
            return "unknown_patient";
        };
        if e == r {
            return "self_referral";
        }
        let mut cur = Some(r);
        let mut seen = HashSet::new();
        while let Some(c) = cur {
            assert!(seen.insert(c), "the model itself has a cycle");
            if c == e {
                return "cycle";
            }
            cur = self.parent.get(&c).map(|x| x.0);
        }
        if let Some(&(cur_r, since)) = self.parent.get(&e) {
            let free = match pol.protection {
                Protection::Permanent => false,
                Protection::Days { days } => since + Duration::days(i64::from(days)) <= at,
                _ => false,
            };
            if !free || cur_r == r {
                return "already_bound";
            }
        }
        if reg_e < reg_r {
            return "referee_registered_first";
        }
        if mob_e.is_some() && mob_e == mob_r {
            return "same_identity";
        }
        if at > reg_e + Duration::days(i64::from(pol.window_days)) {
            return "outside_window";
        }
        self.parent.insert(e, (r, at));
        "ok"
    }
}

fn qualifying_schedule(depth: u8, levels: &[u8], caps: RewardCaps) -> RewardSchedule {
    let mut rules: Vec<RuleSpec> = levels
        .iter()
        .enumerate()
        .map(|(i, &level)| RuleSpec {
            id: RuleId::parse(&format!("l{level}-{i}")).unwrap(),
            beneficiary: Beneficiary::Referrer { level },
            basis: Basis::FirstPaidVisit,
            reward: Reward::Points(Points::new(100)),
        })
        .collect();
    rules.push(RuleSpec {
        id: RuleId::parse("welcome").unwrap(),
        beneficiary: Beneficiary::Referee,
        basis: Basis::FirstPaidVisit,
        reward: Reward::Points(Points::new(30)),
    });
    RewardSchedule::new(ScheduleSpec {
        profile: ComplianceProfile::MedicalInstitution,
        depth,
        min_paid: Yuan::from_whole(100).unwrap(),
        pending_days: 7,
        caps,
        rules,
    })
    .unwrap()
}

/// A visit as generated: (patient, hour, yuan, refunded after hours).
type RawVisit = (usize, i64, u32, Option<i64>);

/// A forest of `n` patients where patient k is bound to a random earlier patient, plus
/// random visits: (patient, hour, yuan, refunded after hours).
fn bound_forest_and_visits() -> impl Strategy<Value = (Vec<usize>, Vec<RawVisit>)> {
    (2usize..40).prop_flat_map(|n| {
        (
            (1..n).map(|k| 0..k).collect::<Vec<_>>(),
            prop::collection::vec(
                (
                    1..n,
                    0i64..3000,
                    0u32..400,
                    prop::option::weighted(0.3, 0i64..400),
                ),
                0..80,
            ),
        )
    })
}

fn build(parents: &[usize]) -> ReferralForest {
    let n = parents.len() + 1;
    let mut f = ReferralForest::new();
    for k in 0..n {
        f.upsert_member(Member::new(p(k), t(k as i64))).unwrap();
    }
    let pol = BindingPolicy {
        window_days: 1,
        protection: Protection::Permanent,
    };
    for (i, &r) in parents.iter().enumerate() {
        let k = i + 1;
        f.bind(p(k), p(r), t(k as i64), &pol).unwrap();
    }
    f
}

fn visits_of(raw: &[RawVisit]) -> Vec<Visit> {
    raw.iter()
        .enumerate()
        .map(|(i, &(patient, h, yuan, refund))| Visit {
            id: VisitId::new(i as u64),
            patient: p(patient),
            at: t(h),
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::from_whole(u64::from(yuan)).unwrap(),
            refunded_at: refund.map(|d| t(h + d)),
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_forest_never_has_a_cycle(ms in members(), pol in policy(), raw in attempts(16)) {
        let mut f = forest_of(&ms);
        bind_all(&mut f, &binds(&raw), &pol);
        let n = f.len();
        let stats = f.stats();
        for m in f.members() {
            let chain: Vec<PatientId> = f.ancestors(m.id).collect();
            prop_assert!(chain.len() < n, "chain of {} is as long as the forest", m.id);
            let distinct: HashSet<_> = chain.iter().collect();
            prop_assert_eq!(distinct.len(), chain.len());
            prop_assert!(!chain.contains(&m.id));
            prop_assert_eq!(stats.depth(m.id), Some(chain.len() as u32));
        }
    }

    #[test]
    fn bind_matches_a_simple_model(ms in members(), pol in policy(), raw in attempts(16)) {
        let mut f = forest_of(&ms);
        let mut model = Model {
            members: ms.iter().map(|(h, mob)| (t(*h), *mob)).collect(),
            parent: HashMap::new(),
        };
        for (e, r, h) in raw {
            let got = f.bind(p(e), p(r), t(h), &pol).map(|_| "ok").unwrap_or_else(|e| e.code());
            let want = model.bind(e, r, t(h), &pol);
            prop_assert_eq!(got, want, "bind {} → {} at {}", e, r, h);
            for k in 0..ms.len() {
                prop_assert_eq!(f.referrer_of(p(k)), model.parent.get(&k).map(|x| p(x.0)));
            }
        }
        prop_assert_eq!(f.bound_count(), model.parent.len());
    }

    #[test]
    fn binding_order_does_not_change_the_winners(
        ms in members(),
        pol in policy(),
        raw in attempts(16).prop_flat_map(|v| {
            // Distinct timestamps: the position decides the hour.
            let v: Vec<_> = v.into_iter().enumerate().map(|(i, (e, r, _))| (e, r, i as i64 * 7)).collect();
            (Just(v.clone()), Just(v).prop_shuffle())
        }),
    ) {
        let (a, b) = raw;
        let mut fa = forest_of(&ms);
        let mut fb = forest_of(&ms);
        let oa = bind_all(&mut fa, &binds(&a), &pol);
        let ob = bind_all(&mut fb, &binds(&b), &pol);
        let key = |o: &clinic_ops::referral::BindOutcome| {
            (o.attempt.at, o.attempt.referee, o.attempt.referrer, o.result.as_ref().map(|_| "ok").unwrap_or_else(|e| e.code()))
        };
        prop_assert_eq!(oa.iter().map(key).collect::<Vec<_>>(), ob.iter().map(key).collect::<Vec<_>>());
        prop_assert_eq!(fa.bindings().collect::<Vec<_>>(), fb.bindings().collect::<Vec<_>>());
    }

    #[test]
    fn reward_depth_never_exceeds_the_schedule(
        (parents, raw) in bound_forest_and_visits(),
        two in any::<bool>(),
    ) {
        let f = build(&parents);
        let depth = if two { 2 } else { 1 };
        let levels: &[u8] = if two { &[1, 2] } else { &[1] };
        let s = qualifying_schedule(depth, levels, RewardCaps::default());
        for d in decide_rewards(&f, &visits_of(&raw), &s, t(5000), ClinicCalendar::default()) {
            match d.role {
                Beneficiary::Referrer { level } => {
                    prop_assert!(level >= 1 && level <= depth);
                    prop_assert_eq!(Some(d.beneficiary), f.ancestor(d.referee, u32::from(level)));
                }
                Beneficiary::Referee => prop_assert_eq!(d.beneficiary, d.referee),
                _ => prop_assert!(false, "unknown role"),
            }
            let dist = f.ancestors(d.referee).position(|a| a == d.beneficiary).map_or(0, |i| i + 1);
            prop_assert!(dist <= usize::from(depth));
        }
    }

    #[test]
    fn rewards_per_referrer_never_exceed_the_caps(
        (parents, raw) in bound_forest_and_visits(),
        per_month in prop::option::of(1u32..4),
        lifetime in prop::option::of(1u32..6),
    ) {
        let f = build(&parents);
        let caps = RewardCaps { per_month, lifetime };
        let s = qualifying_schedule(2, &[1, 2], caps);
        let cal = ClinicCalendar::default();
        let decisions = decide_rewards(&f, &visits_of(&raw), &s, t(5000), cal);
        let mut life: HashMap<PatientId, HashSet<PatientId>> = HashMap::new();
        let mut month: BTreeMap<(PatientId, chrono::NaiveDate), HashSet<PatientId>> = BTreeMap::new();
        let mut points: HashMap<PatientId, i64> = HashMap::new();
        for d in decisions.iter().filter(|d| d.role != Beneficiary::Referee) {
            if matches!(d.status, RewardStatus::Withheld { .. }) {
                continue;
            }
            life.entry(d.beneficiary).or_default().insert(d.referee);
            month.entry((d.beneficiary, cal.bucket(d.visit_at, Period::Month))).or_default().insert(d.referee);
            if let Reward::Points(p) = d.reward {
                *points.entry(d.beneficiary).or_default() += p.get();
            }
        }
        if let Some(c) = lifetime {
            for (who, referees) in &life {
                prop_assert!(referees.len() as u32 <= c, "{} rewarded for {} referrals", who, referees.len());
                // Each referral pays at most 100 points per rule, and a beneficiary is
                // paid by one rule per referral (its level).
                prop_assert!(points.get(who).copied().unwrap_or(0) <= i64::from(c) * 100);
            }
        }
        if let Some(c) = per_month {
            for referees in month.values() {
                prop_assert!(referees.len() as u32 <= c);
            }
        }
    }

    #[test]
    fn a_refunded_qualifying_visit_leaves_no_approved_reward(
        (parents, raw) in bound_forest_and_visits(),
        as_of in 0i64..4000,
    ) {
        let f = build(&parents);
        let visits = visits_of(&raw);
        let s = qualifying_schedule(2, &[1, 2], RewardCaps::default());
        let by_id: HashMap<VisitId, &Visit> = visits.iter().map(|v| (v.id, v)).collect();
        for d in decide_rewards(&f, &visits, &s, t(as_of), ClinicCalendar::default()) {
            let v = by_id[&d.visit];
            prop_assert!(v.paid >= s.min_paid());
            let reversed = matches!(d.status, RewardStatus::Reversed { .. });
            let approved = matches!(d.status, RewardStatus::Approved { .. });
            prop_assert_eq!(reversed, v.is_refunded_by(t(as_of)), "{}", d);
            prop_assert!(!(approved && v.is_refunded_by(t(as_of))));
            // Only the referee's first qualifying visit pays.
            let first = visits
                .iter()
                .filter(|w| w.patient == d.referee && w.paid >= s.min_paid())
                .min_by_key(|w| (w.at, w.id))
                .map(|w| w.id);
            prop_assert_eq!(first, Some(d.visit));
        }
    }

    #[test]
    fn schedules_deeper_than_two_are_always_refused(depth in 3u8..=255) {
        let spec = ScheduleSpec {
            profile: ComplianceProfile::General,
            depth,
            min_paid: Yuan::ZERO,
            pending_days: 0,
            caps: RewardCaps::default(),
            rules: vec![],
        };
        prop_assert_eq!(RewardSchedule::new(spec), Err(ScheduleError::TooDeep { depth }));
    }
}
