//! `PatientFacts::build` from a real patient: local-day windows in UTC+8, consents at `now`,
//! open chronic files, refunds, other patients' records; relationship defaults.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{ClinicId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{Purchase, Visit};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{
    self, Channel, ConditionCode, ConsentGiver, ConsentPurpose, FollowUpCadence, Label,
    MobileNumber, Patient, PatientCommand, PersonName, Registration,
};
use clinic_ops::segment::{
    Expr, FactsInput, Lifecycle, PatientFacts, Relationship, RelationshipRules, TagName, TagSet,
};

fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn patient(registered: DateTime<Utc>, now: DateTime<Utc>) -> Patient {
    let cal = ClinicCalendar::default();
    let id = PatientId::new(1);
    let mut state = None;
    let run = |cmd: PatientCommand, at: DateTime<Utc>, state: &mut Option<Patient>| {
        for e in patient::decide(state.as_ref(), id, &cmd, at, cal).unwrap() {
            patient::apply(state, &e);
        }
    };
    run(
        PatientCommand::Register(
            Registration::new(
                PersonName::parse("王芳").unwrap(),
                MobileNumber::parse("13800138000").unwrap(),
                ClinicId::new(1),
                Channel::parse("kol").unwrap(),
            )
            .with_birth_date(NaiveDate::from_ymd_opt(1960, 5, 1).unwrap()),
        ),
        registered,
        &mut state,
    );
    run(
        PatientCommand::GrantConsent {
            purpose: ConsentPurpose::Marketing,
            source: Label::parse("mini_program").unwrap(),
            policy_version: Label::parse("v1").unwrap(),
            given_by: ConsentGiver::Patient,
        },
        registered,
        &mut state,
    );
    // Granted after `now`: not in force in the snapshot.
    run(
        PatientCommand::GrantConsent {
            purpose: ConsentPurpose::GroupChat,
            source: Label::parse("mini_program").unwrap(),
            policy_version: Label::parse("v1").unwrap(),
            given_by: ConsentGiver::Patient,
        },
        now + Duration::hours(1),
        &mut state,
    );
    run(
        PatientCommand::OpenChronicFile {
            condition: ConditionCode::parse("I10").unwrap(),
            name: "高血压".into(),
            diagnosed_on: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
        },
        registered,
        &mut state,
    );
    state.unwrap()
}

fn visit(n: u64, patient: u64, at: DateTime<Utc>, paid: u64, refunded: bool) -> Visit {
    Visit {
        id: VisitId::new(n),
        patient: PatientId::new(patient),
        at,
        clinic: ClinicId::new(1),
        doctor: None,
        paid: Yuan::from_whole(paid).unwrap(),
        refunded_at: refunded.then_some(at + Duration::hours(2)),
    }
}

#[test]
fn facts_from_a_patient_use_local_days_and_consents_at_now() {
    let cal = ClinicCalendar::default();
    // 01:30 UTC on 23 Nov = 09:30 in Beijing.
    let now = utc(2026, 11, 23, 1);
    let p = patient(utc(2026, 1, 5, 2), now);
    let visits = [
        // 16:30 UTC on 22 Nov is 00:30 on 23 Nov in Beijing: today, 0 days ago.
        visit(1, 1, utc(2026, 11, 22, 16), 100, false),
        // 15:00 UTC on 22 Nov is 23:00 on 22 Nov: yesterday.
        visit(2, 1, utc(2026, 11, 22, 15), 50, true),
        visit(3, 1, utc(2026, 3, 1, 2), 80, false),
        visit(4, 2, utc(2026, 11, 22, 16), 999, false), // another patient
        visit(5, 1, utc(2026, 11, 23, 3), 999, false),  // after now
    ];
    let purchases = [Purchase::new(
        PurchaseId::new(1),
        PatientId::new(1),
        utc(2026, 11, 20, 2),
        Yuan::parse("300.50").unwrap(),
    )];
    let tags: TagSet = vec![TagName::parse("value/vip").unwrap()].into();
    let input = FactsInput::new(&visits, &purchases)
        .with_points(Points::new(1200))
        .with_tier(Label::parse("gold").unwrap())
        .with_referrals_made(2)
        .with_tags(tags);
    let f = PatientFacts::build(&p, &input, now, cal).unwrap();
    assert_eq!(f.today(), NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert_eq!(f.visits_in(1), 1);
    assert_eq!(f.visits_in(2), 2);
    assert_eq!(f.visit_count(), 3);
    assert_eq!(f.days_since_last_visit(), Some(0));
    // The refunded visit's payment does not count; the purchase does.
    assert_eq!(f.spend_in(1).to_string(), "100.00");
    assert_eq!(f.spend_in(7).to_string(), "400.50");
    assert_eq!(f.spend_in(365).to_string(), "480.50");
    assert_eq!(f.age(), Some(66));
    assert!(f.may(ConsentPurpose::Marketing));
    assert!(!f.may(ConsentPurpose::GroupChat));
    assert!(f.has_condition(&ConditionCode::parse("i10").unwrap()));
    assert_eq!(f.channel(), Some(&Channel::Kol));
    assert_eq!(f.lifecycle(), Lifecycle::WonBack);
    assert_eq!(f.points(), Some(Points::new(1200)));

    let audience: Expr = serde_json::from_str(
        r#"{"all":[{"has_condition":"I10"},{"visits_in":{"days":2,"min":2}},
                   {"spend_in":{"days":7,"min":"400.50"}},{"tier":"gold"},
                   {"points":{"min":1000}},{"referrals_made":{"min":2}},{"age":{"min":60}},
                   {"channel":"kol"},{"lifecycle":"won_back"},{"has_tag":"value/vip"},
                   {"days_since_last_visit":{"max":0}},{"consent":{"purpose":"marketing"}}]}"#,
    )
    .unwrap();
    let why = audience.explain(&f);
    assert!(why.value, "{why}");
    assert!(audience.evaluate(&f));

    // Closing the file removes the condition from later snapshots.
    let mut state = Some(p);
    for e in patient::decide(
        state.as_ref(),
        PatientId::new(1),
        &PatientCommand::CloseChronicFile {
            condition: ConditionCode::parse("I10").unwrap(),
        },
        now,
        cal,
    )
    .unwrap()
    {
        patient::apply(&mut state, &e);
    }
    let later = PatientFacts::build(&state.unwrap(), &input, now + Duration::days(1), cal).unwrap();
    assert!(later.conditions().is_empty());
}

#[test]
fn relationship_defaults() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let rules = RelationshipRules::default();
    let mut b = PatientFacts::builder(PatientId::new(1), today);
    for d in [1, 30, 60, 90, 120, 150] {
        b = b.visit(d);
    }
    let six = b.clone().build();
    assert_eq!(Relationship::classify(&six, &rules), Relationship::Deep);
    let advocate = b.clone().referrals_made(1).build();
    assert_eq!(
        Relationship::classify(&advocate, &rules),
        Relationship::Core
    );
    let spender = b.spend(3, Yuan::from_whole(3000).unwrap()).build();
    assert_eq!(Relationship::classify(&spender, &rules), Relationship::Core);
    let once = PatientFacts::builder(PatientId::new(2), today)
        .visit(3)
        .build();
    assert_eq!(
        Relationship::classify(&once, &rules),
        Relationship::Marginal
    );
    let json = serde_json::to_string(&rules).unwrap();
    let back: RelationshipRules = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rules);
}
