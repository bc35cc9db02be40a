//! Properties of the journey layer over random journals: a replayed event changes nothing,
//! refunding every purchase in full undoes what the purchases did, and what the layer
//! decides, applied module by module with each module's own `apply`, is the clinic it keeps.

use chrono::{DateTime, Duration, TimeZone, Utc};
use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{ClinicId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{
    Clinic, ClinicEvent, ClinicEventKind, EventKey, JourneyConfig, Purchase, Visit,
};
use clinic_ops::journey::{Decision, JourneyError, apply, decide};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::Patient;
use clinic_ops::patient::{ConsentPurpose, Label};
use clinic_ops::points::Account;
use clinic_ops::referral::ReferralForest;
use clinic_ops::referral::{
    Basis, Beneficiary, ComplianceProfile, Reward, RewardCaps, RewardSchedule, RuleId, RuleSpec,
    ScheduleSpec,
};
use clinic_ops::testkit::patient_store::registration;
use proptest::prelude::*;
use std::collections::BTreeMap;

const PATIENTS: u64 = 4;

fn config() -> JourneyConfig {
    let mut c = JourneyConfig::new(ClinicCalendar::default());
    c.campaigns = serde_json::from_str(
        r#"{ "campaigns": [ {
            "id": 23, "name": "会员日",
            "window": { "start": "2026-01-01T00:00:00+08:00",
                        "recurrence": { "every": "month_day", "day": 3 } },
            "trigger": { "on": "purchase", "min": "100" },
            "consent": ["marketing"],
            "effects": [ { "type": "points_multiplier", "factor": "2" } ],
            "caps": { "budget": { "points": 5000 } } } ] }"#,
    )
    .unwrap();
    c.referral = Some(
        RewardSchedule::new(ScheduleSpec {
            profile: ComplianceProfile::MedicalInstitution,
            depth: 1,
            min_paid: Yuan::from_whole(100).unwrap(),
            pending_days: 1,
            caps: RewardCaps {
                per_month: None,
                lifetime: None,
            },
            rules: vec![RuleSpec {
                id: RuleId::parse("friend").unwrap(),
                beneficiary: Beneficiary::Referrer { level: 1 },
                basis: Basis::FirstPaidVisit,
                reward: Reward::Points(Points::new(50)),
            }],
        })
        .unwrap(),
    );
    c
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap()
}

/// What a generated line does, before it gets its time and key.
#[derive(Debug, Clone)]
enum Op {
    Consent(u64),
    Visit(u64, u32),
    Purchase(u64, u32),
    Refund(u64, u32),
    Redeem(u64, i64),
    Refer(u64, u64),
    Expire,
    Plan,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..PATIENTS).prop_map(Op::Consent),
        (0..PATIENTS, 0u32..400).prop_map(|(p, y)| Op::Visit(p, y)),
        (0..PATIENTS, 1u32..400).prop_map(|(p, y)| Op::Purchase(p, y)),
        (0u64..20, 1u32..400).prop_map(|(n, y)| Op::Refund(n, y)),
        (0..PATIENTS, 1i64..300).prop_map(|(p, n)| Op::Redeem(p, n)),
        (0..PATIENTS, 0..PATIENTS).prop_map(|(a, b)| Op::Refer(a, b)),
        Just(Op::Expire),
        Just(Op::Plan),
    ]
}

/// The journal: registrations, then the generated lines, each an hour or more apart.
fn journal(ops: &[Op]) -> Vec<ClinicEvent> {
    let mut out = Vec::new();
    let mut at = t0();
    let mut key = 0u64;
    let mut push = |at: DateTime<Utc>, kind| {
        key += 1;
        out.push(ClinicEvent {
            key: EventKey::new(key),
            at,
            kind,
        });
    };
    for p in 0..PATIENTS {
        at += Duration::hours(1);
        push(
            at,
            ClinicEventKind::Register {
                patient: PatientId::new(p + 1),
                registration: Box::new(registration(p + 1)),
            },
        );
    }
    let (mut visits, mut purchases) = (0u64, 0u64);
    for o in ops {
        at += Duration::hours(7);
        let kind = match *o {
            Op::Consent(p) => ClinicEventKind::Consent {
                patient: PatientId::new(p + 1),
                purpose: ConsentPurpose::Marketing,
                granted: true,
                source: Label::parse("front_desk").unwrap(),
            },
            Op::Visit(p, y) => {
                visits += 1;
                ClinicEventKind::Visit(Visit {
                    id: VisitId::new(visits),
                    patient: PatientId::new(p + 1),
                    at,
                    clinic: ClinicId::new(1),
                    doctor: None,
                    paid: Yuan::from_whole(u64::from(y)).unwrap(),
                    refunded_at: None,
                })
            }
            Op::Purchase(p, y) => {
                purchases += 1;
                ClinicEventKind::Purchase {
                    purchase: Purchase {
                        id: PurchaseId::new(purchases),
                        patient: PatientId::new(p + 1),
                        at,
                        amount: Yuan::from_whole(u64::from(y)).unwrap(),
                        category: None,
                        days_supply: None,
                    },
                    visit: None,
                    points: Points::ZERO,
                }
            }
            Op::Refund(n, y) => ClinicEventKind::Refund {
                purchase: PurchaseId::new(n % purchases.max(1) + 1),
                amount: Yuan::from_whole(u64::from(y)).unwrap(),
            },
            Op::Redeem(p, n) => ClinicEventKind::Redeem {
                patient: PatientId::new(p + 1),
                points: Points::new(n),
            },
            Op::Refer(a, b) => ClinicEventKind::Refer {
                referrer: PatientId::new(a + 1),
                referee: PatientId::new(b + 1),
            },
            Op::Expire => ClinicEventKind::Expire,
            Op::Plan => ClinicEventKind::Plan,
        };
        push(at, kind);
    }
    out
}

/// What the output shows of a clinic: balances and lots, rewards, tasks, usage.
fn summary(c: &Clinic, config: &JourneyConfig, as_of: DateTime<Utc>) -> String {
    let mut s = String::new();
    for p in c.patients() {
        if let Some(a) = c.account(p.id()) {
            s += &format!("{}:{}:{:?};", p.id(), a.balance().get(), a.lots());
        }
    }
    s += &format!("{:?};", c.rewards(config, as_of));
    s += &format!("{:?};", c.tasks().collect::<Vec<_>>());
    s
}

fn run(config: &JourneyConfig, events: &[&ClinicEvent]) -> (Clinic, Vec<Option<String>>) {
    let mut c = Clinic::new();
    let outcomes = events
        .iter()
        .map(|e| c.handle(config, e).err().map(|e| e.to_string()))
        .collect();
    (c, outcomes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every line twice in a row, or the whole journal twice, gives the same state as once;
    /// the replays themselves are never refused anew.
    #[test]
    fn replaying_each_line_twice_is_replaying_it_once(ops in prop::collection::vec(op(), 0..40)) {
        let config = config();
        let j = journal(&ops);
        let as_of = j.last().map_or(t0(), |e| e.at) + Duration::days(30);
        let once: Vec<&ClinicEvent> = j.iter().collect();
        let (a, refused_once) = run(&config, &once);
        let twice: Vec<&ClinicEvent> = j.iter().flat_map(|e| [e, e]).collect();
        let (b, refused_twice) = run(&config, &twice);
        let whole: Vec<&ClinicEvent> = j.iter().chain(j.iter()).collect();
        let (c, _) = run(&config, &whole);
        let expected = summary(&a, &config, as_of);
        prop_assert_eq!(&summary(&b, &config, as_of), &expected);
        prop_assert_eq!(&summary(&c, &config, as_of), &expected);
        // The first of each pair decides as the single run did.
        let firsts: Vec<Option<String>> = refused_twice.iter().step_by(2).cloned().collect();
        prop_assert_eq!(firsts, refused_once);
    }

    /// Refunding every purchase in full, after a journal of purchases only, leaves every
    /// balance at zero (base points and campaign bonuses taken back) and every campaign
    /// counter given back.
    #[test]
    fn refunding_every_purchase_in_full_undoes_them(ops in prop::collection::vec(op(), 0..40)) {
        let config = config();
        let ops: Vec<Op> = ops
            .into_iter()
            .filter(|o| matches!(o, Op::Purchase(..) | Op::Consent(..) | Op::Expire | Op::Plan))
            .collect();
        let mut j = journal(&ops);
        let mut at = j.last().map_or(t0(), |e| e.at);
        let mut key = 10_000;
        let purchases: Vec<(PurchaseId, Yuan)> = j
            .iter()
            .filter_map(|e| match &e.kind {
                ClinicEventKind::Purchase { purchase, .. } => Some((purchase.id, purchase.amount)),
                _ => None,
            })
            .collect();
        for (id, amount) in purchases {
            at += Duration::hours(1);
            key += 1;
            j.push(ClinicEvent {
                key: EventKey::new(key),
                at,
                kind: ClinicEventKind::Refund { purchase: id, amount },
            });
        }
        let all: Vec<&ClinicEvent> = j.iter().collect();
        let (c, refused) = run(&config, &all);
        prop_assert!(refused.iter().all(Option::is_none), "{:?}", refused);
        for p in c.patients() {
            if let Some(a) = c.account(p.id()) {
                prop_assert_eq!(a.balance(), Points::ZERO);
            }
        }
        for e in c.purchases() {
            for (k, _) in &e.usage {
                prop_assert_eq!(c.usage(k), 0);
            }
        }
    }
}

/// The modules' states, each folded with its own `apply` from the layer's implications.
#[derive(Default)]
struct Modules {
    patients: BTreeMap<PatientId, Option<Patient>>,
    accounts: BTreeMap<PatientId, Account>,
    forest: ReferralForest,
    histories: BTreeMap<PatientId, clinic_ops::followup::FollowUpHistory>,
    usage: BTreeMap<String, u64>,
}

impl Modules {
    fn fold(&mut self, step: &clinic_ops::journey::Implications) {
        for (id, e) in &step.patient {
            clinic_ops::patient::apply(self.patients.entry(*id).or_default(), e);
        }
        for m in &step.members {
            let _ = self.forest.upsert_member(m.clone());
        }
        for e in &step.referral {
            clinic_ops::referral::apply(&mut self.forest, e);
        }
        for p in &step.ledger {
            let a = self
                .accounts
                .entry(p.account)
                .or_insert_with(|| Account::new(p.account));
            clinic_ops::points::apply(a, p);
        }
        for (k, n) in &step.usage {
            *self.usage.entry(k.to_string()).or_default() += n;
        }
        for (k, n) in &step.usage_release {
            let c = self.usage.entry(k.to_string()).or_default();
            *c = c.saturating_sub(*n);
        }
        for (id, e) in &step.followup {
            let h = self
                .histories
                .entry(*id)
                .or_insert_with(|| clinic_ops::followup::FollowUpHistory::new(*id));
            clinic_ops::followup::apply(h, e);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// `Clinic::handle` keeps the accounts its decision posted to instead of applying each
    /// posting a second time: every answer, account and usage counter it leaves equals what
    /// `decide` then `apply` (the host's path) leave, refunds and replays included.
    #[test]
    fn handle_equals_decide_then_apply(ops in prop::collection::vec(op(), 0..40)) {
        let config = config();
        let (mut fast, mut slow) = (Clinic::new(), Clinic::new());
        let mut usage_keys = Vec::new();
        let mut j = journal(&ops);
        // Each line again, and every purchase refunded in full an hour after the last line.
        let again = j.clone();
        let mut at = j.last().map_or(t0(), |e| e.at);
        let refunds: Vec<ClinicEvent> = again
            .iter()
            .filter_map(|e| match &e.kind {
                ClinicEventKind::Purchase { purchase, .. } => Some((purchase.id, purchase.amount)),
                _ => None,
            })
            .enumerate()
            .map(|(n, (id, amount))| {
                at += Duration::hours(1);
                ClinicEvent {
                    key: EventKey::new(30_000 + n as u64),
                    at,
                    kind: ClinicEventKind::Refund { purchase: id, amount },
                }
            })
            .collect();
        j.extend(again);
        j.extend(refunds);
        for e in &j {
            let a = fast.handle(&config, e);
            let b = match decide(&slow, &config, e) {
                Ok(Decision::New(step)) => {
                    apply(&mut slow, &step);
                    Ok(Decision::New(step))
                }
                Ok(d) => Ok(d),
                Err(err) => {
                    if !matches!(err, JourneyError::KeyReused { .. }) {
                        slow.remember_refusal(e);
                    }
                    Err(err)
                }
            };
            if let Ok(Decision::New(step)) = &a {
                usage_keys.extend(step.usage.iter().map(|(k, _)| *k));
            }
            prop_assert_eq!(&a, &b);
        }
        for p in slow.patients() {
            prop_assert_eq!(fast.account(p.id()), slow.account(p.id()));
            prop_assert_eq!(format!("{:?}", fast.account(p.id())), format!("{:?}", slow.account(p.id())));
        }
        for k in &usage_keys {
            prop_assert_eq!(fast.usage(k), slow.usage(k));
        }
    }

    /// Every aggregate the clinic keeps equals the one its module builds from the layer's
    /// implications: patients, ledger accounts (balance, lots, postings), the referral
    /// forest, the usage counters and the follow-up tasks.
    #[test]
    fn the_layer_equals_its_implications_applied_module_by_module(
        ops in prop::collection::vec(op(), 0..40),
    ) {
        let config = config();
        let mut clinic = Clinic::new();
        let mut modules = Modules::default();
        let mut usage_keys = Vec::new();
        // Then every purchase refunded in full, so that usage is given back and visits and
        // rewards reversed too.
        let mut j = journal(&ops);
        let mut at = j.last().map_or(t0(), |e| e.at);
        let full: Vec<(PurchaseId, Yuan)> = j
            .iter()
            .filter_map(|e| match &e.kind {
                ClinicEventKind::Purchase { purchase, .. } => Some((purchase.id, purchase.amount)),
                _ => None,
            })
            .collect();
        for (n, (id, amount)) in full.into_iter().enumerate() {
            at += Duration::hours(1);
            j.push(ClinicEvent {
                key: EventKey::new(20_000 + n as u64),
                at,
                kind: ClinicEventKind::Refund { purchase: id, amount },
            });
        }
        for e in j {
            if let Ok(Decision::New(step)) = clinic.handle(&config, &e) {
                usage_keys.extend(step.usage.iter().map(|(k, _)| *k));
                modules.fold(&step);
            }
        }
        for (id, p) in &modules.patients {
            prop_assert_eq!(clinic.patient(*id), p.as_ref());
        }
        prop_assert_eq!(clinic.patients().count(), modules.patients.values().flatten().count());
        for (id, a) in &modules.accounts {
            let c = clinic.account(*id).expect("an account the ledger posted to");
            prop_assert_eq!(c.balance(), a.balance());
            prop_assert_eq!(c.lots(), a.lots());
            prop_assert_eq!(format!("{c:?}"), format!("{a:?}"));
        }
        for id in modules.patients.keys() {
            prop_assert_eq!(clinic.forest().referrer_of(*id), modules.forest.referrer_of(*id));
        }
        for k in &usage_keys {
            prop_assert_eq!(clinic.usage(k), modules.usage.get(&k.to_string()).copied().unwrap_or(0));
        }
        let tasks: Vec<_> = clinic.tasks().cloned().collect();
        let folded: Vec<_> = modules
            .histories
            .values()
            .flat_map(|h| h.tasks().map(|r| r.task.clone()))
            .collect();
        prop_assert_eq!(tasks, folded);
    }
}
