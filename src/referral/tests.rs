//! Unit tests of the binding rules, reward decisions and analytics.

use chrono::{DateTime, Duration, Utc};

use super::*;
use crate::calendar::ClinicCalendar;
use crate::id::{ClinicId, PatientId, VisitId};
use crate::journey::Visit;
use crate::money::{Points, Yuan};
use crate::patient::{MobileNumber, ResidentId};
use crate::text::Label;

fn t(day: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_000_000, 0).unwrap() + Duration::days(day)
}

fn p(n: u64) -> PatientId {
    PatientId::new(n)
}

/// Patients 1..=n, patient k registered on day k.
fn forest(n: u64) -> ReferralForest {
    let mut f = ReferralForest::new();
    for k in 1..=n {
        f.upsert_member(Member::new(p(k), t(k as i64))).unwrap();
    }
    f
}

fn policy() -> BindingPolicy {
    BindingPolicy::default()
}

fn visit(id: u64, patient: u64, day: i64, paid: u32, refunded: Option<i64>) -> Visit {
    Visit {
        id: VisitId::new(id),
        patient: p(patient),
        at: t(day),
        clinic: ClinicId::new(1),
        doctor: None,
        paid: Yuan::from_whole(u64::from(paid)).unwrap(),
        refunded_at: refunded.map(t),
    }
}

fn schedule(rules: Vec<(Beneficiary, i64)>, depth: u8, caps: RewardCaps) -> RewardSchedule {
    RewardSchedule::new(ScheduleSpec {
        profile: ComplianceProfile::MedicalInstitution,
        depth,
        min_paid: Yuan::from_whole(100).unwrap(),
        pending_days: 7,
        caps,
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(i, (beneficiary, pts))| RuleSpec {
                id: RuleId::parse(&format!("r{i}")).unwrap(),
                beneficiary,
                basis: Basis::FirstPaidVisit,
                reward: Reward::Points(Points::new(pts)),
            })
            .collect(),
    })
    .unwrap()
}

const L1: Beneficiary = Beneficiary::Referrer { level: 1 };
const L2: Beneficiary = Beneficiary::Referrer { level: 2 };

#[test]
fn each_rule_has_its_own_refusal() {
    let mut f = forest(5);
    let pol = policy();
    let code = |r: Result<ReferralEvent, BindError>| r.map(|_| "ok").unwrap_or_else(|e| e.code());
    assert_eq!(code(f.bind(p(9), p(1), t(9), &pol)), "unknown_patient");
    assert_eq!(code(f.bind(p(2), p(9), t(2), &pol)), "unknown_patient");
    assert_eq!(code(f.bind(p(2), p(2), t(2), &pol)), "self_referral");
    assert_eq!(code(f.bind(p(2), p(1), t(2), &pol)), "ok");
    assert_eq!(code(f.bind(p(2), p(3), t(3), &pol)), "already_bound");
    assert_eq!(code(f.bind(p(2), p(1), t(3), &pol)), "already_bound");
    assert_eq!(code(f.bind(p(1), p(2), t(3), &pol)), "cycle");
    assert_eq!(
        code(f.bind(p(3), p(4), t(4), &pol)),
        "referee_registered_first"
    );
    assert_eq!(code(f.bind(p(3), p(2), t(3 + 31), &pol)), "outside_window");
    assert_eq!(
        code(f.bind(p(3), p(2), t(3 + 30), &pol)),
        "ok",
        "window end is inclusive"
    );
    // Scanning the code before the file was opened is fine.
    assert_eq!(code(f.bind(p(4), p(3), t(0), &pol)), "ok");
    assert_eq!(f.bound_count(), 3);
}

#[test]
fn shared_mobile_or_resident_id_is_one_person() {
    let m = MobileNumber::parse("+86 138-0013-8000").unwrap();
    let r = ResidentId::parse("11010519491231002X").unwrap();
    let mut f = ReferralForest::new();
    f.upsert_member(Member::new(p(1), t(1)).with_mobile(m))
        .unwrap();
    f.upsert_member(
        Member::new(p(2), t(2)).with_mobile(MobileNumber::parse("0086 13800138000").unwrap()),
    )
    .unwrap();
    f.upsert_member(Member::new(p(3), t(1)).with_resident_id(r))
        .unwrap();
    f.upsert_member(Member::new(p(4), t(4)).with_resident_id(r))
        .unwrap();
    let e = f.bind(p(2), p(1), t(2), &policy()).unwrap_err();
    assert_eq!(
        e,
        BindError::SameIdentity {
            referee: p(2),
            referrer: p(1),
            key: IdentityKey::Mobile
        }
    );
    assert!(
        !e.to_string().contains("13800138000"),
        "no personal data in {e}"
    );
    assert_eq!(
        f.bind(p(4), p(3), t(4), &policy()).unwrap_err().code(),
        "same_identity"
    );
}

#[test]
fn cycles_are_refused_at_any_depth() {
    let mut f = forest(6);
    let pol = BindingPolicy {
        window_days: 10_000,
        protection: Protection::Days { days: 1 },
    };
    for k in 2..=5 {
        f.bind(p(k), p(k - 1), t(k as i64), &pol).unwrap();
    }
    // Rebinding 2 under 5 would close 2→3→4→5→2.
    let e = f.bind(p(2), p(5), t(100), &pol).unwrap_err();
    assert_eq!(e.code(), "cycle");
    assert_eq!(
        f.ancestors(p(5)).collect::<Vec<_>>(),
        vec![p(4), p(3), p(2), p(1)]
    );
    assert_eq!(f.depth(p(5)), Some(4));
    assert_eq!(f.ancestor(p(5), 2), Some(p(3)));
    assert_eq!(f.ancestor(p(5), 0), None);
    // apply ignores an event that would close a loop.
    let bad = ReferralEvent::Bound {
        binding: Binding {
            referee: p(1),
            referrer: p(5),
            at: t(7),
        },
    };
    apply(&mut f, &bad);
    assert_eq!(f.referrer_of(p(1)), None);
}

#[test]
fn protection_period_allows_rebinding_after_it_ends() {
    let mut f = forest(4);
    let pol = BindingPolicy {
        window_days: 60,
        protection: Protection::Days { days: 14 },
    };
    f.bind(p(3), p(1), t(3), &pol).unwrap();
    let e = f.bind(p(3), p(2), t(3 + 13), &pol).unwrap_err();
    assert_eq!(
        e,
        BindError::AlreadyBound {
            referee: p(3),
            current: p(1),
            protected_until: Some(t(17))
        }
    );
    let ev = f.bind(p(3), p(2), t(17), &pol).unwrap();
    assert!(matches!(ev, ReferralEvent::Rebound { previous, .. } if previous.referrer == p(1)));
    assert_eq!(f.referrer_of(p(3)), Some(p(2)));
    assert_eq!(f.referral_count(p(1)), 0);
    assert_eq!(f.referral_count(p(2)), 1);
}

#[test]
fn bind_all_applies_in_time_order() {
    let mut f = forest(4);
    let attempts = [
        Bind {
            referee: p(4),
            referrer: p(2),
            at: t(6),
        },
        Bind {
            referee: p(4),
            referrer: p(1),
            at: t(5),
        },
    ];
    let out = bind_all(&mut f, &attempts, &policy());
    assert_eq!(
        out.iter().map(|o| o.position).collect::<Vec<_>>(),
        vec![1, 0]
    );
    assert!(out[0].result.is_ok());
    assert_eq!(out[1].result.as_ref().unwrap_err().code(), "already_bound");
    assert_eq!(f.referrer_of(p(4)), Some(p(1)));
}

#[test]
fn stats_give_depths_subtrees_levels_and_advocates() {
    // 1 → 2 → 4, 1 → 3, 2 → 5, 6 alone.
    let mut f = forest(6);
    for (e, r) in [(2, 1), (3, 1), (4, 2), (5, 2)] {
        f.bind(p(e), p(r), t(e as i64), &policy()).unwrap();
    }
    let s = f.stats();
    assert_eq!(s.max_depth(), 2);
    assert_eq!(s.subtree_size(p(1)), Some(5));
    assert_eq!(s.subtree_size(p(2)), Some(3));
    assert_eq!(s.subtree_size(p(6)), Some(1));
    assert_eq!(s.depth(p(5)), Some(2));
    assert_eq!(s.members_per_depth(), vec![2, 2, 2]);
    assert_eq!(s.descendants_per_level(p(1)), vec![2, 2]);
    assert!(s.descendants_per_level(p(6)).is_empty());
    let top = s.top_advocates(5);
    assert_eq!(
        top.iter()
            .map(|a| (a.patient, a.referrals, a.descendants))
            .collect::<Vec<_>>(),
        vec![(p(1), 2, 4), (p(2), 2, 2)],
        "ties on referrals go to more descendants"
    );
    assert_eq!(s.top_advocates(1).len(), 1);
    assert_eq!(
        ReferralForest::new().stats().members_per_depth(),
        Vec::<u32>::new()
    );
}

#[test]
fn rewards_pending_approved_reversed_and_first_visit_only() {
    let mut f = forest(5);
    for (e, r) in [(2, 1), (3, 1), (4, 1)] {
        f.bind(p(e), p(r), t(e as i64), &policy()).unwrap();
    }
    let visits = vec![
        visit(1, 2, 10, 50, None),      // too small
        visit(2, 2, 11, 268, None),     // qualifies, approved by day 30
        visit(3, 3, 25, 150, None),     // pending at day 30
        visit(4, 4, 12, 300, Some(20)), // refunded → reversed
        visit(5, 4, 13, 300, None),     // a later visit never replaces the first
        visit(6, 5, 12, 900, None),     // unbound: no reward
    ];
    let s = schedule(
        vec![(L1, 200), (Beneficiary::Referee, 50)],
        1,
        RewardCaps::default(),
    );
    let out = decide_rewards(&f, &visits, &s, t(30), ClinicCalendar::default());
    let got: Vec<_> = out
        .iter()
        .map(|d| (d.beneficiary, d.referee, d.visit.get(), d.status.code()))
        .collect();
    assert_eq!(
        got,
        vec![
            (p(1), p(2), 2, "approved"),
            (p(2), p(2), 2, "approved"),
            (p(1), p(4), 4, "reversed"),
            (p(4), p(4), 4, "reversed"),
            (p(1), p(3), 3, "pending"),
            (p(3), p(3), 3, "pending"),
        ]
    );
    assert_eq!(out[0].status, RewardStatus::Approved { approved_at: t(18) });
    assert!(
        out[0].to_string().contains("qualified under rule r0"),
        "{}",
        out[0]
    );
    // Before the refund, the reward was still pending.
    let early = decide_rewards(&f, &visits, &s, t(15), ClinicCalendar::default());
    assert!(early.iter().all(|d| d.status.code() == "pending"));
}

#[test]
fn caps_hold_back_rewards_per_month_and_for_life() {
    let mut f = forest(8);
    let pol = BindingPolicy {
        window_days: 1000,
        ..policy()
    };
    for e in 2..=8 {
        f.bind(p(e), p(1), t(e as i64), &pol).unwrap();
    }
    // Visits: 2,3,4 in March, 5,6 in April, 7 (refunded) and 8 in May.
    let visits: Vec<Visit> = [
        (2, 10),
        (3, 11),
        (4, 12),
        (5, 45),
        (6, 46),
        (7, 75),
        (8, 80),
    ]
    .into_iter()
    .map(|(k, day)| visit(k, k, day, 200, (k == 7).then_some(day + 1)))
    .collect();
    let caps = RewardCaps {
        per_month: Some(2),
        lifetime: Some(5),
    };
    let s = schedule(vec![(L1, 100), (Beneficiary::Referee, 10)], 1, caps);
    let out = decide_rewards(&f, &visits, &s, t(200), ClinicCalendar::default());
    let referrer: Vec<&str> = out
        .iter()
        .filter(|d| d.role == L1)
        .map(|d| d.status.code())
        .collect();
    assert_eq!(
        referrer,
        vec![
            "approved", "approved", "withheld", "approved", "approved", "reversed", "withheld"
        ]
    );
    assert!(matches!(
        out.iter().rfind(|d| d.role == L1).unwrap().status,
        RewardStatus::Withheld {
            cap: CapKind::Lifetime
        }
    ));
    assert!(
        out.iter()
            .filter(|d| d.role == Beneficiary::Referee)
            .all(|d| d.status.code() != "withheld"),
        "the new patient's side is never capped"
    );
}

#[test]
fn depth_two_rewards_reach_the_grandparent_only() {
    let mut f = forest(4);
    for (e, r) in [(2, 1), (3, 2), (4, 3)] {
        f.bind(p(e), p(r), t(e as i64), &policy()).unwrap();
    }
    let visits = vec![visit(1, 2, 10, 500, None), visit(2, 4, 10, 500, None)];
    let s = schedule(vec![(L1, 100), (L2, 20)], 2, RewardCaps::default());
    let out = decide_rewards(&f, &visits, &s, t(30), ClinicCalendar::default());
    let got: Vec<_> = out
        .iter()
        .map(|d| (d.referee, d.beneficiary, d.role))
        .collect();
    assert_eq!(
        got,
        vec![(p(2), p(1), L1), (p(4), p(3), L1), (p(4), p(2), L2)],
        "patient 2 has no level-2 referrer; patient 1 is never paid for 4"
    );
}

#[test]
fn conversion_and_viral_report() {
    let mut f = forest(6);
    let attempts: Vec<Bind> = [(2, 1), (3, 1), (4, 2), (4, 3), (5, 5)]
        .into_iter()
        .enumerate()
        .map(|(i, (e, r))| Bind {
            referee: p(e),
            referrer: p(r),
            at: t(e as i64 + i as i64),
        })
        .collect();
    let out = bind_all(&mut f, &attempts, &policy());
    let visits = vec![
        visit(1, 2, 10, 200, None),
        visit(2, 3, 10, 200, Some(11)),
        visit(3, 3, 12, 100, None),
        visit(4, 6, 12, 900, None),
    ];
    let c = conversion(&f, &visits, Yuan::from_whole(100).unwrap(), t(30));
    assert_eq!(
        c,
        Conversion {
            bound: 3,
            converted: 2
        }
    );
    let v = ViralReport::new(&out, &f, c);
    assert_eq!((v.inviters, v.invites), (4, 3));
    assert!((v.k_factor() - 0.75 * (2.0 / 3.0)).abs() < 1e-12);
    // Gaps from the referrer's first contact: 1, 3 and 4 days.
    assert_eq!(v.cycle_time, Some(Duration::days(3)));
    let proj = v.project(100, 2);
    assert_eq!(proj.len(), 3);
    assert!((proj[2] - 100.0 * 1.5f64.powi(2)).abs() < 1e-9);
    assert_eq!(ViralReport::default().k_factor(), 0.0);
}

#[test]
fn schedule_rewards_can_be_any_lawful_kind() {
    let gift = Reward::Gift(Label::parse("艾灸贴").unwrap());
    assert_eq!(gift.to_string(), "gift 艾灸贴");
}

#[test]
fn ids_far_apart_and_refreshed_members_keep_working() {
    let mut f = ReferralForest::with_capacity(4);
    let big = PatientId::new(u64::MAX - 1);
    let mid = PatientId::new(1 << 40);
    for (id, day) in [(p(3), 1), (big, 2), (mid, 3), (p(2000), 4)] {
        f.upsert_member(Member::new(id, t(day))).unwrap();
    }
    f.bind(big, p(3), t(2), &policy()).unwrap();
    f.bind(mid, big, t(3), &policy()).unwrap();
    f.bind(p(2000), mid, t(4), &policy()).unwrap();
    assert_eq!(
        f.ancestors(p(2000)).collect::<Vec<_>>(),
        vec![mid, big, p(3)]
    );
    assert_eq!(f.member(p(4)), None);
    assert_eq!(
        f.bind(p(4), p(3), t(5), &policy()).unwrap_err().code(),
        "unknown_patient"
    );
    // A refreshed member (a new mobile) keeps its place and bindings.
    let m = MobileNumber::parse("13900001111").unwrap();
    f.upsert_member(Member::new(mid, t(3)).with_mobile(m))
        .unwrap();
    assert_eq!(f.len(), 4);
    assert_eq!(f.referrer_of(mid), Some(big));
    assert_eq!(f.member(mid).unwrap().mobile, Some(m));
    assert_eq!(f.binding_of(p(2000)).map(|b| b.referrer), Some(mid));
    assert_eq!(f.bindings().count(), 3);
}

/// The median gap chrono computes, for comparison with `cycle_time`'s integer arithmetic.
fn chrono_cycle_time(f: &ReferralForest) -> Option<Duration> {
    let mut gaps: Vec<i64> = f
        .bindings()
        .map(|b| {
            let fc = f.member(b.referrer).unwrap().first_contact;
            (b.at - fc).num_seconds().max(0)
        })
        .collect();
    gaps.sort_unstable();
    let mid = gaps.len().checked_sub(1)? / 2;
    Some(Duration::seconds(gaps[mid]))
}

#[test]
fn cycle_time_matches_chrono_with_nanoseconds_leap_seconds_and_refreshed_contacts() {
    let ns = |d: i64, s: i64, n: u32| DateTime::from_timestamp(t(d).timestamp() + s, n).unwrap();
    let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .unwrap()
        .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
        .unwrap()
        .and_utc();
    // (first contact of referrer, binding time) pairs: nanoseconds backwards, forwards,
    // equal seconds, negative gaps, and a leap second on either side.
    let cases = [
        (ns(0, 0, 900_000_000), ns(0, 5, 100_000_000)),
        (ns(0, 0, 100_000_000), ns(0, 5, 900_000_000)),
        (ns(0, 0, 700_000_000), ns(0, 0, 200_000_000)),
        (ns(0, 9, 0), ns(0, 2, 500_000_000)),
        (leap, leap + Duration::milliseconds(1_700)),
        (leap - Duration::seconds(3), leap),
        (ns(0, 0, 0), ns(0, 1, 0)),
    ];
    for (k, (contact, at)) in cases.iter().enumerate() {
        let mut f = ReferralForest::new();
        let (a, b) = (p(1), p(2));
        let early = *contact.min(at) - Duration::days(1);
        f.upsert_member(Member::new(a, early).with_first_contact(*contact))
            .unwrap();
        f.upsert_member(Member::new(b, early)).unwrap();
        f.bind(b, a, *at, &policy()).unwrap();
        assert_eq!(cycle_time(&f), chrono_cycle_time(&f), "case {k}");
        // Refreshing the referrer's first contact moves the gap with it.
        f.upsert_member(Member::new(a, early).with_first_contact(early))
            .unwrap();
        assert_eq!(cycle_time(&f), chrono_cycle_time(&f), "refreshed case {k}");
    }
}

#[test]
fn rewards_at_scale_come_in_visit_order_with_every_tie_rule() {
    // Over a thousand qualifying visits (the radix path), many sharing a second or a
    // whole (instant, visit id), against a plain sort of the same decisions.
    let n = 3000u64;
    let mut f = ReferralForest::new();
    f.upsert_member(Member::new(p(0), t(-1))).unwrap();
    for k in 1..=n {
        f.upsert_member(Member::new(p(k), t(0))).unwrap();
        f.bind(p(k), p(k % 7), t(0), &policy()).ok();
    }
    let base = t(1);
    let visits: Vec<Visit> = (1..=n)
        .map(|k| Visit {
            id: VisitId::new((k * 7919) % 97),
            patient: p(n + 1 - k),
            at: base + Duration::milliseconds(((k * 104_729) % 5_000) as i64 * 250),
            clinic: ClinicId::new(1),
            doctor: None,
            paid: Yuan::from_whole(200).unwrap(),
            refunded_at: None,
        })
        .collect();
    let s = schedule(
        vec![
            (Beneficiary::Referrer { level: 1 }, 100),
            (Beneficiary::Referee, 10),
        ],
        1,
        RewardCaps {
            per_month: Some(3),
            lifetime: Some(400),
        },
    );
    let out = decide_rewards(&f, &visits, &s, t(60), ClinicCalendar::default());
    assert!(out.len() > 2 * 1024);
    let mut sorted = out.clone();
    sorted.sort_by_key(|d| (d.visit_at, d.visit, d.referee));
    let keys = |v: &[RewardDecision]| {
        v.iter()
            .map(|d| (d.visit_at, d.visit, d.referee))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&out), keys(&sorted));
    let withheld = out
        .iter()
        .filter(|d| matches!(d.status, RewardStatus::Withheld { .. }))
        .count();
    assert!(withheld > 0, "the caps must bite");
}

#[test]
fn attribution_window_ends_to_the_nanosecond_and_around_a_leap_second() {
    let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
        .unwrap()
        .and_hms_nano_opt(23, 59, 59, 1_250_000_000)
        .unwrap()
        .and_utc();
    let odd = t(0) + Duration::nanoseconds(123_456_789);
    for contact in [odd, leap, t(0)] {
        let end = policy().window_end(contact);
        let mut f = ReferralForest::new();
        let early = contact - Duration::days(1);
        f.upsert_member(Member::new(p(1), early)).unwrap();
        f.upsert_member(Member::new(p(2), early).with_first_contact(contact))
            .unwrap();
        let at_end = Bind {
            referee: p(2),
            referrer: p(1),
            at: end,
        };
        let late = Bind {
            at: end + Duration::nanoseconds(1),
            ..at_end
        };
        assert!(decide(&f, &at_end, &policy()).is_ok(), "{contact}");
        assert_eq!(
            decide(&f, &late, &policy()),
            Err(BindError::OutsideWindow {
                referee: p(2),
                at: late.at,
                window_end: end
            }),
            "{contact}"
        );
        // A refreshed first contact moves the window with it.
        f.upsert_member(Member::new(p(2), early).with_first_contact(contact + Duration::days(1)))
            .unwrap();
        assert!(decide(&f, &late, &policy()).is_ok(), "{contact}");
    }
}
