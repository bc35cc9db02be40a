//! Consent is decided by time, never by the order records arrive (issue 15, PIPL art. 15).
//!
//! The model: of one purpose's records at or before an instant, the latest is in force, and at
//! a tie the withdrawal wins. Every test processes the same records or commands in a random
//! order, through the replayed path (`apply`), the live path (`decide`) and serde, and checks
//! `may` against the model, and that the campaign engine and the follow-up planner agree.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::campaign::{CampaignBook, EvalOptions, Event, EventKind, UsageSnapshot, evaluate};
use clinic_ops::followup::{
    CarePlan, Facts, FollowUpHistory, FollowUpPolicy, Priority, QuietHours, Rule, RuleKey,
    RuleKind, Skip, TaskChannel, plan,
};
use clinic_ops::id::{ClinicId, PatientId};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{
    self, Channel, ConsentAction, ConsentGiver, ConsentLog, ConsentPurpose, ConsentRecord, Label,
    MobileNumber, Patient, PatientCommand, PatientError, PatientEvent, PersonName, Registration,
};
use clinic_ops::segment::{FactsInput, PatientFacts};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;
const PURPOSES: [ConsentPurpose; 2] = [ConsentPurpose::Marketing, ConsentPurpose::CareReminder];

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
}

/// Record times are drawn from a few hours so that ties are common.
fn at(hour: u8) -> DateTime<Utc> {
    t0() + Duration::hours(i64::from(hour))
}

/// A generated consent fact: purpose, grant or withdraw, hour, source, policy version.
type Spec = (usize, bool, u8, u8, u8);

fn spec() -> impl Strategy<Value = Spec> {
    (0..2usize, any::<bool>(), 1..8u8, 0..2u8, 0..2u8)
}

fn label(s: &str) -> Label {
    Label::parse(s).unwrap()
}

fn record(s: &Spec) -> ConsentRecord {
    let (purpose, grant, hour, source, policy) = *s;
    ConsentRecord {
        purpose: PURPOSES[purpose],
        action: if grant {
            ConsentAction::Granted
        } else {
            ConsentAction::Withdrawn
        },
        at: at(hour),
        source: label(["mini_program", "paper_form"][source as usize]),
        policy_version: Some(label(["v1", "v2"][policy as usize])),
        given_by: ConsentGiver::Patient,
    }
}

fn command(s: &Spec) -> PatientCommand {
    let (_, grant, _, source, policy) = *s;
    let purpose = PURPOSES[s.0];
    let source = label(["mini_program", "paper_form"][source as usize]);
    if grant {
        PatientCommand::GrantConsent {
            purpose,
            source,
            policy_version: label(["v1", "v2"][policy as usize]),
            given_by: ConsentGiver::Patient,
        }
    } else {
        PatientCommand::WithdrawConsent {
            purpose,
            source,
            given_by: ConsentGiver::Patient,
        }
    }
}

/// The model: the latest fact at or before `when`, a withdrawal winning a tie.
fn model(specs: &[Spec], purpose: usize, when: DateTime<Utc>) -> bool {
    specs
        .iter()
        .filter(|s| s.0 == purpose && at(s.2) <= when)
        .max_by_key(|s| (s.2, !s.1))
        .is_some_and(|s| s.1)
}

/// Every instant worth asking about: before, at and after each record time.
fn probes() -> impl Iterator<Item = DateTime<Utc>> {
    (0..=9u8).flat_map(|h| [at(h) - Duration::seconds(1), at(h)])
}

fn registered() -> Option<Patient> {
    let reg = Registration {
        name: PersonName::parse("赵敏").unwrap(),
        mobile: MobileNumber::parse("13800001234").unwrap(),
        resident_id: None,
        external_id: None,
        sex: None,
        birth_date: NaiveDate::from_ymd_opt(1970, 5, 1),
        owner: None,
        home_clinic: ClinicId::new(1),
        channel: Channel::WalkIn,
        channel_code: None,
    };
    let events = patient::decide(None, id(), &PatientCommand::Register(reg), t0(), CAL).unwrap();
    Patient::replay(&events)
}

fn id() -> PatientId {
    PatientId::new(1)
}

/// The live path: each command decided at its own time, in the order given.
fn live(order: &[Spec]) -> Patient {
    let mut state = registered();
    for s in order {
        let events = patient::decide(state.as_ref(), id(), &command(s), at(s.2), CAL).unwrap();
        for e in &events {
            patient::apply(&mut state, e);
        }
    }
    state.unwrap()
}

fn shuffled(specs: &[Spec], keys: &[u32]) -> Vec<Spec> {
    let mut order: Vec<(u32, Spec)> = keys.iter().copied().zip(specs.iter().copied()).collect();
    order.sort_by_key(|(k, _)| *k);
    order.into_iter().map(|(_, s)| s).collect()
}

fn book() -> CampaignBook {
    serde_json::from_value(json!({ "campaigns": [{
        "id": 1, "name": "会员日",
        "window": { "start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00" },
        "trigger": { "on": "purchase" },
        "audience": { "all": [] },
        "effects": [ { "type": "fixed_points", "points": 10 } ],
        "consent": ["marketing"],
    }]}))
    .unwrap()
}

fn care_plan() -> CarePlan {
    let rule = Rule {
        key: RuleKey::parse("birthday_gift").unwrap(),
        kind: RuleKind::Birthday { days_before: 0 },
        channel: TaskChannel::WechatMessage,
        priority: Priority::Normal,
        promotional: true,
        give_up_after_days: None,
    };
    CarePlan::new("consent", vec![rule]).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Replayed: the same `ConsentRecorded` events applied in any order give the same log, and
    /// `may` is the model's answer at every instant.
    #[test]
    fn replay_in_any_order_is_decided_by_time(
        specs in prop::collection::vec(spec(), 0..12),
        keys in prop::collection::vec(any::<u32>(), 12),
    ) {
        let replay = |order: &[Spec]| {
            let mut state = registered();
            for s in order {
                patient::apply(&mut state, &PatientEvent::ConsentRecorded(record(s)));
            }
            state.unwrap()
        };
        let a = replay(&specs);
        let b = replay(&shuffled(&specs, &keys));
        prop_assert_eq!(a.consents(), b.consents());
        for when in probes() {
            for (i, p) in PURPOSES.iter().enumerate() {
                prop_assert_eq!(a.may(*p, when), model(&specs, i, when), "{} at {}", p, when);
            }
        }
        // The serde path: a log written in arrival order reads back decided by time.
        let arrival: Vec<ConsentRecord> = shuffled(&specs, &keys).iter().map(record).collect();
        let read: ConsentLog = serde_json::from_value(serde_json::to_value(&arrival).unwrap()).unwrap();
        prop_assert_eq!(&read, a.consents());
        let times: Vec<_> = read.records().iter().map(|r| r.at).collect();
        prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Live: consent commands decided in any order (each at its own `now`, a late one dated
    /// before records already held) give the model's answer, and the campaign engine and the
    /// follow-up planner agree with `may` at every instant.
    #[test]
    fn live_in_any_order_is_decided_by_time(
        specs in prop::collection::vec(spec(), 0..10),
        keys in prop::collection::vec(any::<u32>(), 10),
    ) {
        let a = live(&specs);
        let b = live(&shuffled(&specs, &keys));
        let mut sorted = specs.clone();
        sorted.sort_by_key(|s| s.2);
        let c = live(&sorted);
        prop_assert_eq!(a.consents(), b.consents());
        prop_assert_eq!(a.consents(), c.consents());
        let (book, care) = (book(), care_plan());
        let policy = FollowUpPolicy::new(
            QuietHours::default(),
            chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
            7,
        ).unwrap();
        for when in probes() {
            for (i, p) in PURPOSES.iter().enumerate() {
                let expected = model(&specs, i, when);
                prop_assert_eq!(b.may(*p, when), expected, "{} at {}", p, when);
            }
            let marketing = model(&specs, 0, when);
            let facts = PatientFacts::build(&b, &FactsInput::default(), when, CAL).unwrap();
            prop_assert_eq!(facts.may(ConsentPurpose::Marketing), marketing);
            let event = Event::new(EventKind::Purchase { amount: Yuan::from_whole(100).unwrap() })
                .with_base_points(Points::new(100));
            let out = evaluate(&book, &event, &facts, &UsageSnapshot::new(), when, CAL, EvalOptions::default()).unwrap();
            prop_assert_eq!(!out.effects.is_empty(), marketing, "campaign at {}", when);
            let planned = plan(&b, &Facts::default(), &FollowUpHistory::new(id()), &care, &policy, when, CAL).unwrap();
            let refused = planned.skipped.iter().any(|s| s.why == Skip::NoConsent { purpose: ConsentPurpose::Marketing });
            prop_assert_eq!(refused, !marketing, "planner at {}", when);
        }
    }
}

/// The defect as reported: a withdrawal, then a grant processed late but dated before it.
/// The withdrawal stands; the campaign does not apply; no promotional task is planned.
#[test]
fn a_late_grant_dated_before_a_withdrawal_does_not_revive_consent() {
    let grant = (0, true, 1, 0, 0);
    let withdraw = (0, false, 5, 0, 0);
    let late_grant = (0, true, 3, 1, 1);
    let p = live(&[grant, withdraw, late_grant]);
    assert!(p.may(ConsentPurpose::Marketing, at(4)));
    assert!(!p.may(ConsentPurpose::Marketing, at(6)));
    // The campaign engine and the planner see the withdrawal.
    let facts = PatientFacts::build(&p, &FactsInput::default(), at(6), CAL).unwrap();
    let event = Event::new(EventKind::Purchase {
        amount: Yuan::from_whole(100).unwrap(),
    })
    .with_base_points(Points::new(100));
    let book = book();
    let out = evaluate(
        &book,
        &event,
        &facts,
        &UsageSnapshot::new(),
        at(6),
        CAL,
        EvalOptions::default(),
    )
    .unwrap();
    assert!(out.effects.is_empty());
    let policy = FollowUpPolicy::new(
        QuietHours::default(),
        chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap(),
        7,
    )
    .unwrap();
    let planned = plan(
        &p,
        &Facts::default(),
        &FollowUpHistory::new(id()),
        &care_plan(),
        &policy,
        at(6),
        CAL,
    )
    .unwrap();
    assert!(planned.due.is_empty() && planned.overdue.is_empty());
}

/// A withdrawal decided before any grant is recorded all the same: a grant entered later but
/// dated earlier must not outlive it. A withdrawal names no policy version (the grant it ends
/// is derived by time).
#[test]
fn a_withdrawal_with_nothing_in_force_is_kept_for_late_grants() {
    let p = live(&[(0, false, 5, 0, 0), (0, true, 1, 0, 0)]);
    assert!(p.may(ConsentPurpose::Marketing, at(2)));
    assert!(!p.may(ConsentPurpose::Marketing, at(6)));
    let withdrawal = &p.consents().records()[1];
    assert_eq!(withdrawal.action, ConsentAction::Withdrawn);
    assert_eq!(withdrawal.policy_version, None);
}

/// At the same instant a withdrawal beats a grant, whichever arrived first.
#[test]
fn a_withdrawal_wins_a_tie() {
    for order in [
        [(0, true, 2, 0, 0), (0, false, 2, 0, 0)],
        [(0, false, 2, 0, 0), (0, true, 2, 0, 0)],
    ] {
        let p = live(&order);
        assert!(!p.may(ConsentPurpose::Marketing, at(2)));
        assert!(!p.may(ConsentPurpose::Marketing, at(3)));
    }
}

/// A retry (the same command at the same instant) records nothing new.
#[test]
fn a_retried_consent_command_records_nothing() {
    let once = live(&[(0, true, 2, 0, 0)]);
    let twice = live(&[(0, true, 2, 0, 0), (0, true, 2, 0, 0)]);
    assert_eq!(once.consents().records().len(), 1);
    assert_eq!(once, twice);
}

/// Contact details are last-write-wins by time: an older change is refused, and replaying an
/// older change after a newer one keeps the newer.
#[test]
fn contact_changes_are_decided_by_time() {
    let state = registered();
    let change = |mobile: &str| {
        PatientCommand::UpdateContact(patient::ContactUpdate {
            mobile: Some(MobileNumber::parse(mobile).unwrap()),
            ..Default::default()
        })
    };
    let newer = patient::decide(state.as_ref(), id(), &change("13900000002"), at(5), CAL).unwrap();
    let mut s = state.clone();
    for e in &newer {
        patient::apply(&mut s, e);
    }
    let err = patient::decide(s.as_ref(), id(), &change("13900000001"), at(3), CAL).unwrap_err();
    assert!(
        matches!(
            err,
            PatientError::Backdated {
                field: "contact details",
                ..
            }
        ),
        "{err}"
    );
    // Replayed out of order: the older event does not overwrite the newer one.
    let older = patient::decide(state.as_ref(), id(), &change("13900000001"), at(3), CAL).unwrap();
    let mut replayed = state;
    for e in newer.iter().chain(&older) {
        patient::apply(&mut replayed, e);
    }
    assert_eq!(replayed.unwrap().mobile().unwrap().expose(), "13900000002");
}

/// Found by `live_in_any_order_is_decided_by_time`: a withdrawal used to copy the policy
/// version of the grant in force when it was decided, so the same commands in another order
/// gave a different log.
#[test]
fn withdrawals_do_not_depend_on_what_arrived_before_them() {
    let (w3, g1, w4) = ((0, false, 3, 0, 0), (0, true, 1, 0, 0), (0, false, 4, 0, 0));
    let a = live(&[w3, g1, w4]);
    let b = live(&[g1, w3, w4]);
    assert_eq!(a.consents(), b.consents());
    assert_eq!(a.consents().records().len(), 3);
}

/// A chronic file cannot be closed before it was opened.
#[test]
fn a_chronic_file_is_not_closed_before_it_opened() {
    let mut state = registered();
    let condition = patient::ConditionCode::parse("E11").unwrap();
    let open = PatientCommand::OpenChronicFile {
        condition: condition.clone(),
        name: "2型糖尿病".into(),
        diagnosed_on: NaiveDate::from_ymd_opt(2026, 2, 1).unwrap(),
        cadence: patient::FollowUpCadence::per_year(4).unwrap(),
    };
    for e in patient::decide(state.as_ref(), id(), &open, at(5), CAL).unwrap() {
        patient::apply(&mut state, &e);
    }
    let close = PatientCommand::CloseChronicFile { condition };
    let err = patient::decide(state.as_ref(), id(), &close, at(4), CAL).unwrap_err();
    assert!(
        matches!(
            err,
            PatientError::Backdated {
                field: "chronic file",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        patient::decide(state.as_ref(), id(), &close, at(5), CAL).map(|e| e.len()),
        Ok(1)
    );
}
