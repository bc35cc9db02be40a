//! The masked serde form for logging (issue 15): `Masked(&value)` writes no raw personal data,
//! and the plain form the stores keep is byte-identical to what it was.

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{ClinicId, PatientId};
use clinic_ops::patient::{
    self, Channel, ConditionCode, ConsentGiver, ConsentPurpose, ContactUpdate, ExternalId,
    FollowUpCadence, Label, Masked, MobileNumber, Patient, PatientCommand, PatientEvent,
    PersonName, Registration, ResidentId,
};
use clinic_ops::testkit::strategies::{mobile_digits, person_name, resident_id_text};

const NAME: &str = "欧阳娜娜";
const MOBILE: &str = "13812345678";
const RID: &str = "110101199003072375";
const EXT: &str = "wmAbCdEf123456";
const BIRTH: &str = "1990-03-07";
const CONDITION: &str = "E11";
const CONDITION_NAME: &str = "2型糖尿病";

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_416_800, 0).unwrap()
}

fn registration() -> Registration {
    Registration {
        name: PersonName::parse(NAME).unwrap(),
        mobile: MobileNumber::parse(MOBILE).unwrap(),
        resident_id: Some(ResidentId::parse(RID).unwrap()),
        external_id: Some(ExternalId::parse(EXT).unwrap()),
        sex: None,
        birth_date: NaiveDate::from_ymd_opt(1990, 3, 7),
        owner: None,
        home_clinic: ClinicId::new(1),
        channel: Channel::WalkIn,
        channel_code: None,
    }
}

fn open_file() -> PatientCommand {
    PatientCommand::OpenChronicFile {
        condition: ConditionCode::parse(CONDITION).unwrap(),
        name: CONDITION_NAME.into(),
        diagnosed_on: NaiveDate::from_ymd_opt(2025, 6, 1).unwrap(),
        cadence: FollowUpCadence::per_year(4).unwrap(),
    }
}

fn patient_with_everything() -> (Patient, Vec<PatientEvent>) {
    let cal = ClinicCalendar::default();
    let id = PatientId::new(1);
    let mut state = None;
    let mut all = Vec::new();
    for cmd in [
        PatientCommand::Register(registration()),
        PatientCommand::GrantConsent {
            purpose: ConsentPurpose::CareReminder,
            source: Label::parse("front_desk").unwrap(),
            policy_version: Label::parse("2026-01").unwrap(),
            given_by: ConsentGiver::Patient,
        },
        open_file(),
    ] {
        for e in patient::decide(state.as_ref(), id, &cmd, now(), cal).unwrap() {
            patient::apply(&mut state, &e);
            all.push(e);
        }
    }
    (state.unwrap(), all)
}

/// Every raw personal or health value this test registers, and what must stand in its place.
const RAW: [&str; 7] = [NAME, MOBILE, RID, EXT, BIRTH, CONDITION, CONDITION_NAME];

fn assert_masked(plain: &str, masked: &str, must_show: &[&str]) {
    for raw in RAW {
        assert!(!masked.contains(raw), "{raw} leaks into {masked}");
    }
    for m in must_show {
        assert!(masked.contains(m), "{m} missing from {masked}");
    }
    // The same shape: only string leaves differ.
    let (p, m): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(plain).unwrap(),
        serde_json::from_str(masked).unwrap(),
    );
    assert_same_shape(&p, &m);
}

fn assert_same_shape(a: &serde_json::Value, b: &serde_json::Value) {
    use serde_json::Value::*;
    match (a, b) {
        (Object(x), Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            for (k, v) in x {
                assert_same_shape(v, &y[k]);
            }
        }
        (Array(x), Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(v, w)| assert_same_shape(v, w));
        }
        (String(_), String(_)) => {}
        _ => assert_eq!(a, b),
    }
}

#[test]
fn a_masked_patient_event_and_command_hold_no_raw_personal_value() {
    let (p, events) = patient_with_everything();
    let plain = serde_json::to_string(&p).unwrap();
    for raw in RAW {
        assert!(plain.contains(raw), "the plain form should hold {raw}");
    }
    let shown = [
        "欧***",
        "138****5678",
        "110101********2375",
        "wm**********56",
        "1990-**-**",
    ];
    assert_masked(&plain, &serde_json::to_string(&Masked(&p)).unwrap(), &shown);
    let registered = &events[0];
    assert!(matches!(registered, PatientEvent::Registered { .. }));
    assert_masked(
        &serde_json::to_string(registered).unwrap(),
        &serde_json::to_string(&Masked(registered)).unwrap(),
        &shown,
    );
    let opened = events
        .iter()
        .find(|e| matches!(e, PatientEvent::ChronicFileOpened(_)))
        .unwrap();
    assert_masked(
        &serde_json::to_string(opened).unwrap(),
        &serde_json::to_string(&Masked(opened)).unwrap(),
        &["***"],
    );
    let cmd = PatientCommand::Register(registration());
    assert_masked(
        &serde_json::to_string(&cmd).unwrap(),
        &serde_json::to_string(&Masked(&cmd)).unwrap(),
        &shown,
    );
    let cmd = open_file();
    assert_masked(
        &serde_json::to_string(&cmd).unwrap(),
        &serde_json::to_string(&Masked(&cmd)).unwrap(),
        &["***"],
    );
    let cmd = PatientCommand::UpdateContact(ContactUpdate {
        mobile: Some(MobileNumber::parse(MOBILE).unwrap()),
        external_id: Some(ExternalId::parse(EXT).unwrap()),
        ..ContactUpdate::default()
    });
    let masked = serde_json::to_string(&Masked(&cmd)).unwrap();
    assert_masked(
        &serde_json::to_string(&cmd).unwrap(),
        &masked,
        &["138****5678"],
    );
    // Through a list and a map, and through serde_json's Value serializer.
    let list = vec![events.clone()];
    let masked = serde_json::to_value(Masked(&list)).unwrap().to_string();
    assert_masked(&serde_json::to_string(&list).unwrap(), &masked, &shown);
    let map = std::collections::BTreeMap::from([(MOBILE.to_owned(), p.clone())]);
    let masked = serde_json::to_string(&Masked(&map)).unwrap();
    // Map keys that are plain strings are the host's choice; the values are masked.
    assert!(!masked.contains(NAME) && !masked.contains(RID));
    // The masked form does not load back.
    assert!(serde_json::from_str::<Patient>(&serde_json::to_string(&Masked(&p)).unwrap()).is_err());
}

/// The plain form, as stored, is byte-identical to the form before the personal types
/// serialised through a marker: each personal value a plain JSON string.
#[test]
fn the_plain_form_is_unchanged() {
    let reg = registration();
    let event = PatientEvent::Registered {
        id: PatientId::new(1),
        at: now(),
        registration: reg,
    };
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"event":"registered","id":1,"at":"2026-03-02T02:00:00Z","registration":{"name":"欧阳娜娜","mobile":"13812345678","resident_id":"110101199003072375","external_id":"wmAbCdEf123456","sex":null,"birth_date":"1990-03-07","owner":null,"home_clinic":1,"channel":"walk_in","channel_code":null}}"#
    );
}

proptest! {
    /// Each personal value's plain form is the JSON string of its exposed text (what the
    /// derived `into = "String"` wrote), reads back equal, and its masked form is the
    /// string of `masked()`/`Display`.
    #[test]
    fn personal_values_serialise_as_their_text(
        name in person_name(),
        mobile in mobile_digits(),
        rid in resident_id_text(),
        ext in "[a-zA-Z0-9_-]{1,64}",
    ) {
        let n = PersonName::parse(&name).unwrap();
        let m = MobileNumber::parse(&mobile).unwrap();
        let r = ResidentId::parse(&rid).unwrap();
        let e = ExternalId::parse(&ext).unwrap();
        let json = |v: &str| serde_json::to_string(v).unwrap();
        prop_assert_eq!(serde_json::to_string(&n).unwrap(), json(n.expose()));
        prop_assert_eq!(serde_json::to_string(&m).unwrap(), json(m.expose()));
        prop_assert_eq!(serde_json::to_string(&r).unwrap(), json(r.expose()));
        prop_assert_eq!(serde_json::to_string(&e).unwrap(), json(e.expose()));
        prop_assert_eq!(&serde_json::from_str::<PersonName>(&json(n.expose())).unwrap(), &n);
        prop_assert_eq!(&serde_json::from_str::<MobileNumber>(&json(m.expose())).unwrap(), &m);
        prop_assert_eq!(&serde_json::from_str::<ResidentId>(&json(r.expose())).unwrap(), &r);
        prop_assert_eq!(&serde_json::from_str::<ExternalId>(&json(e.expose())).unwrap(), &e);
        prop_assert_eq!(serde_json::to_string(&Masked(&n)).unwrap(), json(&n.to_string()));
        prop_assert_eq!(serde_json::to_string(&Masked(&m)).unwrap(), json(&m.to_string()));
        prop_assert_eq!(serde_json::to_string(&Masked(&r)).unwrap(), json(&r.to_string()));
        prop_assert_eq!(serde_json::to_string(&Masked(&e)).unwrap(), json(&e.to_string()));
    }
}
