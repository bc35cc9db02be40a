//! Unit tests of the bridges and the layer.

use chrono::{Duration, NaiveDate, TimeZone, Utc};

use super::*;
use crate::calendar::ClinicCalendar;
use crate::campaign::CampaignBook;
use crate::id::{ClinicId, PatientId, PurchaseId, VisitId};
use crate::money::{Points, Yuan};
use crate::patient::{Channel, ConsentPurpose, Label, MobileNumber, PersonName, Registration};
use crate::points::{
    self, Account, AdjustReason, Chronology, CommandKind, EarnPolicy, EarnRate, LedgerCommand,
    LedgerDecision, Multiplier, Policy,
};
use crate::referral::{
    Basis, Beneficiary, BindingPolicy, ComplianceProfile, Reward, RewardCaps, RewardSchedule,
    RewardStatus, RuleId, RuleSpec, ScheduleSpec,
};
use rust_decimal::Decimal;

fn t(d: u32, h: u32) -> chrono::DateTime<Utc> {
    // 2026-11-d at h:00 in the clinic (UTC+8).
    Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap() - Duration::hours(8)
}

fn reg(n: u64, birth: Option<NaiveDate>) -> Registration {
    Registration {
        name: PersonName::parse("王五").unwrap(),
        mobile: MobileNumber::parse(&format!("138{n:08}")).unwrap(),
        resident_id: None,
        external_id: None,
        sex: None,
        birth_date: birth,
        owner: None,
        home_clinic: ClinicId::new(1),
        channel: Channel::WalkIn,
        channel_code: None,
    }
}

fn purchase(id: u64, patient: u64, at: chrono::DateTime<Utc>, amount: &str) -> Purchase {
    Purchase {
        id: PurchaseId::new(id),
        patient: PatientId::new(patient),
        at,
        amount: Yuan::parse(amount).unwrap(),
        category: None,
        days_supply: None,
    }
}

/// A member day on the 23rd: double points for patients with marketing consent.
fn member_day() -> CampaignBook {
    serde_json::from_str(
        r#"{ "campaigns": [ {
            "id": 23, "name": "会员日",
            "window": { "start": "2026-01-01T00:00:00+08:00",
                        "recurrence": { "every": "month_day", "day": 23 } },
            "trigger": { "on": "purchase", "min": "100" },
            "consent": ["marketing"],
            "effects": [ { "type": "points_multiplier", "factor": "2" } ],
            "caps": { "budget": { "points": 100000 } } } ] }"#,
    )
    .unwrap()
}

fn config() -> JourneyConfig {
    let mut c = JourneyConfig::new(ClinicCalendar::default());
    c.campaigns = member_day();
    c.referral = Some(
        RewardSchedule::new(ScheduleSpec {
            profile: ComplianceProfile::MedicalInstitution,
            depth: 1,
            min_paid: Yuan::from_whole(100).unwrap(),
            pending_days: 7,
            caps: RewardCaps {
                per_month: None,
                lifetime: None,
            },
            rules: vec![RuleSpec {
                id: RuleId::parse("friend-200").unwrap(),
                beneficiary: Beneficiary::Referrer { level: 1 },
                basis: Basis::FirstPaidVisit,
                reward: Reward::Points(Points::new(200)),
            }],
        })
        .unwrap(),
    );
    c.binding = BindingPolicy::default();
    c
}

fn ev(key: u64, at: chrono::DateTime<Utc>, kind: ClinicEventKind) -> ClinicEvent {
    ClinicEvent {
        key: EventKey::new(key),
        at,
        kind,
    }
}

fn register(key: u64, p: u64, at: chrono::DateTime<Utc>) -> ClinicEvent {
    ev(
        key,
        at,
        ClinicEventKind::Register {
            patient: PatientId::new(p),
            registration: Box::new(reg(p, NaiveDate::from_ymd_opt(1960, 5, 1))),
        },
    )
}

#[test]
fn factor_converts_to_a_multiplier() {
    let m = |s: &str| Multiplier::from_factor(s.parse::<Decimal>().unwrap());
    assert_eq!(m("2").unwrap().get(), 200);
    assert_eq!(m("1.5").unwrap().get(), 150);
    // Finer than a percent: rounded down, never more than written.
    assert_eq!(m("1.255").unwrap().get(), 125);
    assert_eq!(m("100").unwrap().get(), 10_000);
    assert!(m("0").is_err());
    assert!(m("-2").is_err());
    assert!(m("100.01").is_err());
    assert!(Multiplier::from_factor(Decimal::MAX).is_err());
}

#[test]
fn base_points_follow_the_policy_without_hand_truncation() {
    let herbal = Category::parse("herbal").unwrap();
    let earn = EarnPolicy::new(EarnRate::ONE_PER_YUAN)
        .with_category(herbal.clone(), EarnRate::new(3, 2).unwrap());
    let mut p = purchase(1, 1, t(1, 10), "99.99");
    assert_eq!(base_points(&p, &earn).unwrap(), Points::new(99));
    p.category = Some(herbal);
    assert_eq!(base_points(&p, &earn).unwrap(), Points::new(149));
    let e = purchase_event(&p, &earn, None).unwrap();
    assert_eq!(e.base_points, Points::new(149));
}

#[test]
fn a_member_day_multiplier_reaches_the_ledger_as_granted() {
    let book = member_day();
    let p = purchase(1, 7, t(23, 10), "128.50");
    let event = purchase_event(&p, &EarnPolicy::default(), None).unwrap();
    let facts = crate::segment::PatientFacts::builder(
        PatientId::new(7),
        NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
    )
    .consent(ConsentPurpose::Marketing)
    .build();
    let eval = crate::campaign::evaluate(
        &book,
        &event,
        &facts,
        &Default::default(),
        t(23, 10),
        ClinicCalendar::default(),
        Default::default(),
    )
    .unwrap();
    let key = EventKey::new(5);
    let e = earning(key, &p, &eval.effects, None);
    assert_eq!(e.bonuses.len(), 1);
    assert_eq!(e.bonuses[0].points, Points::new(128));
    assert!(matches!(
        e.bonuses[0].command.kind,
        CommandKind::Adjust {
            reason: AdjustReason::Campaign(_),
            ..
        }
    ));
    let policy = Policy::default();
    let mut a = Account::new(PatientId::new(7));
    for cmd in e.earn.iter().chain(e.bonuses.iter().map(|b| &b.command)) {
        let LedgerDecision::Posted(ps) =
            points::decide(&a, cmd, t(23, 10), &policy, ClinicCalendar::default()).unwrap()
        else {
            panic!("posted")
        };
        ps.iter().for_each(|x| points::apply(&mut a, x));
    }
    assert_eq!(a.balance(), Points::new(256));
    // The same event derives the same keys.
    assert_eq!(earning(key, &p, &eval.effects, None), e);
}

#[test]
fn refund_shares_add_up_and_never_exceed() {
    let y = |s: &str| Yuan::parse(s).unwrap();
    assert_eq!(refund_share(128, y("50"), y("128.50")), 49);
    assert_eq!(refund_share(128, y("128.50"), y("128.50")), 128);
    assert_eq!(refund_share(128, y("0"), y("128.50")), 0);
    assert_eq!(refund_share(7, y("1"), y("0")), 7);
}

fn decision(status: RewardStatus) -> crate::referral::RewardDecision {
    crate::referral::RewardDecision {
        rule: RuleId::parse("friend-200").unwrap(),
        beneficiary: PatientId::new(1),
        role: Beneficiary::Referrer { level: 1 },
        referee: PatientId::new(2),
        referrer: PatientId::new(1),
        visit: VisitId::new(9),
        visit_at: t(1, 10),
        paid: Yuan::from_whole(268).unwrap(),
        reward: Reward::Points(Points::new(200)),
        status,
    }
}

#[test]
fn a_reward_decided_late_is_paid_never_backdated() {
    let cal = ClinicCalendar::default();
    let strict = Policy::default().with_chronology(Chronology::Strict);
    let mut a = Account::new(PatientId::new(1));
    // The referrer earned on the 10th; the reward was approved on the 8th, noticed later.
    let earn = LedgerCommand::new(
        points::CommandKey::new(1),
        CommandKind::Earn {
            purchase: PurchaseId::new(1),
            paid: Yuan::from_whole(10).unwrap(),
            category: None,
            multiplier: Multiplier::ONE,
            lock_until: None,
        },
    );
    for x in points::decide(&a, &earn, t(10, 10), &strict, cal)
        .unwrap()
        .postings()
        .to_vec()
    {
        points::apply(&mut a, &x);
    }
    let approved = decision(RewardStatus::Approved {
        approved_at: t(8, 10),
    });
    let r = reward_posting(&approved, &a).unwrap();
    assert_eq!(r.leg, RewardLeg::Pay);
    assert_eq!(r.at, t(10, 10), "at the last posting, not before it");
    // Dated at the approval itself, the ledger would refuse it.
    assert!(matches!(
        points::decide(&a, &r.command, t(8, 10), &strict, cal),
        Err(points::PointsError::Backdated { .. })
    ));
    for x in points::decide(&a, &r.command, r.at, &strict, cal)
        .unwrap()
        .postings()
        .to_vec()
    {
        points::apply(&mut a, &x);
    }
    assert_eq!(a.balance(), Points::new(210));
    assert!(matches!(
        r.command.kind,
        CommandKind::Adjust { reason: AdjustReason::ReferralReward { referee }, .. } if referee == PatientId::new(2)
    ));
    // Paid: nothing more to pay, whoever decides it again.
    assert_eq!(reward_posting(&approved, &a), None);
    // Reversed after the visit's refund: taken back, under its own key.
    let reversed = decision(RewardStatus::Reversed {
        refunded_at: t(12, 10),
    });
    let back = reward_posting(&reversed, &a).unwrap();
    assert_eq!(back.leg, RewardLeg::Reverse);
    assert_ne!(back.command.key, r.command.key);
    assert_eq!(back.command.key, reward_key(&reversed, RewardLeg::Reverse));
    for x in points::decide(&a, &back.command, back.at, &strict, cal)
        .unwrap()
        .postings()
        .to_vec()
    {
        points::apply(&mut a, &x);
    }
    assert_eq!(a.balance(), Points::new(10));
    assert_eq!(reward_posting(&reversed, &a), None);
    // A reward never paid is not taken back, and pending ones are not paid.
    let fresh = Account::new(PatientId::new(1));
    assert_eq!(reward_posting(&reversed, &fresh), None);
    assert_eq!(
        reward_posting(
            &decision(RewardStatus::Pending {
                approves_at: t(20, 0)
            }),
            &fresh
        ),
        None
    );
}

#[test]
fn facts_in_one_call_know_the_age() {
    let cal = ClinicCalendar::default();
    let mut p = None;
    for e in crate::patient::decide(
        None,
        PatientId::new(1),
        &crate::patient::PatientCommand::Register(reg(1, NaiveDate::from_ymd_opt(1960, 5, 1))),
        t(1, 10),
        cal,
    )
    .unwrap()
    {
        crate::patient::apply(&mut p, &e);
    }
    let p = p.unwrap();
    let f = patient_facts(&p, &[], &[], None, 0, t(1, 10), cal).unwrap();
    assert_eq!(f.age(), Some(66));
    let builder = crate::segment::PatientFacts::builder(
        PatientId::new(1),
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
    )
    .build();
    assert_eq!(builder.age(), None);
}

#[test]
fn a_member_day_purchase_and_its_full_refund() {
    let c = config();
    let mut clinic = Clinic::new();
    let p = PatientId::new(7);
    let consent = ev(
        2,
        t(1, 10),
        ClinicEventKind::Consent {
            patient: p,
            purpose: ConsentPurpose::Marketing,
            granted: true,
            source: Label::parse("front_desk").unwrap(),
        },
    );
    let buy = ev(
        3,
        t(23, 10),
        ClinicEventKind::Purchase {
            purchase: purchase(1, 7, t(23, 10), "128.50"),
            visit: None,
            points: Points::ZERO,
        },
    );
    for e in [&register(1, 7, t(1, 9)), &consent, &buy] {
        assert!(matches!(clinic.handle(&c, e).unwrap(), Decision::New(_)));
    }
    assert_eq!(clinic.account(p).unwrap().balance(), Points::new(256));
    assert_eq!(
        clinic.handle(&c, &buy).unwrap(),
        Decision::Replayed { refused: false }
    );
    let refund = ev(
        4,
        t(24, 10),
        ClinicEventKind::Refund {
            purchase: PurchaseId::new(1),
            amount: Yuan::parse("128.50").unwrap(),
        },
    );
    let Decision::New(step) = clinic.handle(&c, &refund).unwrap() else {
        panic!("new")
    };
    assert!(!step.usage_release.is_empty());
    assert!(step.ledger.iter().any(|x| x.account == p));
    assert_eq!(clinic.account(p).unwrap().balance(), Points::ZERO);
    // Every counter the purchase used is back where it was.
    for (k, _) in &clinic.purchase(PurchaseId::new(1)).unwrap().usage {
        assert_eq!(clinic.usage(k), 0);
    }
    // A second refund is over the amount paid: refused, and its replay stays refused.
    let again = ev(
        5,
        t(24, 11),
        ClinicEventKind::Refund {
            purchase: PurchaseId::new(1),
            amount: Yuan::parse("1").unwrap(),
        },
    );
    assert!(matches!(
        clinic.handle(&c, &again),
        Err(JourneyError::OverRefund { .. })
    ));
    assert_eq!(
        clinic.handle(&c, &again).unwrap(),
        Decision::Replayed { refused: true }
    );
    // The same key for another event is refused.
    let other = ev(5, t(24, 11), ClinicEventKind::Expire);
    assert!(matches!(
        clinic.handle(&c, &other),
        Err(JourneyError::KeyReused { .. })
    ));
}

#[test]
fn a_referral_is_paid_after_its_delay_and_reversed_by_the_refund() {
    let c = config();
    let mut clinic = Clinic::new();
    let (a, b) = (PatientId::new(1), PatientId::new(2));
    let visit = Visit {
        id: VisitId::new(9),
        patient: b,
        at: t(3, 10),
        clinic: ClinicId::new(1),
        doctor: None,
        paid: Yuan::from_whole(268).unwrap(),
        refunded_at: None,
    };
    let events = [
        register(1, 1, t(1, 9)),
        register(2, 2, t(2, 9)),
        ev(
            3,
            t(2, 10),
            ClinicEventKind::Refer {
                referrer: a,
                referee: b,
            },
        ),
        ev(4, t(3, 10), ClinicEventKind::Visit(visit)),
        ev(
            5,
            t(3, 11),
            ClinicEventKind::Purchase {
                purchase: purchase(1, 2, t(3, 11), "300"),
                visit: Some(VisitId::new(9)),
                points: Points::ZERO,
            },
        ),
        // Eight days later: the reward is approved and paid at the next event.
        ev(6, t(11, 12), ClinicEventKind::Expire),
    ];
    for e in &events {
        assert!(matches!(clinic.handle(&c, e), Ok(Decision::New(_))));
    }
    assert_eq!(clinic.account(a).unwrap().balance(), Points::new(200));
    let paid_at = clinic.account(a).unwrap().last_posted_at().unwrap();
    assert_eq!(
        paid_at,
        t(10, 10),
        "paid at the approval, not at the expiry run"
    );
    let refund = ev(
        7,
        t(12, 10),
        ClinicEventKind::Refund {
            purchase: PurchaseId::new(1),
            amount: Yuan::from_whole(300).unwrap(),
        },
    );
    assert!(matches!(clinic.handle(&c, &refund), Ok(Decision::New(_))));
    // The next event takes the paid reward back.
    let Ok(Decision::New(step)) = clinic.handle(&c, &ev(8, t(12, 11), ClinicEventKind::Plan))
    else {
        panic!("new")
    };
    assert_eq!(step.rewards.len(), 1);
    assert_eq!(step.rewards[0].leg, RewardLeg::Reverse);
    assert_eq!(clinic.account(a).unwrap().balance(), Points::ZERO);
    assert_eq!(clinic.account(b).unwrap().balance(), Points::ZERO);
    let rewards = clinic.rewards(&c, t(13, 0));
    assert_eq!(rewards[0].status.code(), "reversed");
}
