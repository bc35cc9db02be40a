//! Property tests for patient identity, masking and serde.

use chrono::{DateTime, NaiveDate, Utc};
use proptest::prelude::*;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{ClinicId, PatientId};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{
    self, Channel, ConsentGiver, ConsentPurpose, Label, MobileNumber, PatientCommand, PersonName,
    Registration, ResidentId,
};
use clinic_ops::testkit::strategies::{
    mobile_digits, mobile_spelling, person_name, resident_id_check_char, resident_id_text,
};

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_416_800, 0).unwrap()
}

proptest! {
    #[test]
    fn valid_resident_ids_parse_and_round_trip(s in resident_id_text()) {
        let id = ResidentId::parse(&s).unwrap();
        prop_assert_eq!(id.expose(), s.as_str());
        let json = serde_json::to_string(&id).unwrap();
        prop_assert_eq!(serde_json::from_str::<ResidentId>(&json).unwrap(), id);
        prop_assert_eq!(ResidentId::parse(&s.to_lowercase()).unwrap(), id);
    }

    #[test]
    fn any_single_character_change_is_rejected(s in resident_id_text(), pos in 0usize..18, d in 0u8..11) {
        let mut b = s.clone().into_bytes();
        let new = if pos == 17 { b"0123456789X"[d as usize] } else { b'0' + d % 10 };
        prop_assume!(new != b[pos]);
        b[pos] = new;
        let changed = String::from_utf8(b).unwrap();
        prop_assert!(ResidentId::parse(&changed).is_err(), "{} accepted", changed);
    }

    #[test]
    fn legacy_ids_upgrade_to_valid_18(s in resident_id_text()) {
        prop_assume!(&s[6..8] == "19");
        let legacy = format!("{}{}", &s[..6], &s[8..17]);
        let id = ResidentId::parse(&legacy).unwrap();
        prop_assert_eq!(&id.expose()[..17], &s[..17]);
        prop_assert_eq!(ResidentId::parse(id.expose()).unwrap(), id);
    }

    #[test]
    fn mobile_normalisation_is_idempotent((spelled, digits) in mobile_spelling()) {
        let m = MobileNumber::parse(&spelled).unwrap();
        prop_assert_eq!(m.expose(), digits.as_str());
        prop_assert_eq!(MobileNumber::parse(m.expose()).unwrap(), m);
        let json = serde_json::to_string(&m).unwrap();
        prop_assert_eq!(serde_json::from_str::<MobileNumber>(&json).unwrap(), m);
    }

    #[test]
    fn invalid_values_give_the_parse_error_through_serde(s in "[0-9a-zX+ -]{0,20}") {
        match (MobileNumber::parse(&s), serde_json::from_value::<MobileNumber>(serde_json::json!(s))) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(e), Err(de)) => prop_assert_eq!(de.to_string(), e.to_string()),
            (a, b) => prop_assert!(false, "parse {:?} but serde {:?}", a, b),
        }
        match (ResidentId::parse(&s), serde_json::from_value::<ResidentId>(serde_json::json!(s))) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(e), Err(de)) => prop_assert_eq!(de.to_string(), e.to_string()),
            (a, b) => prop_assert!(false, "parse {:?} but serde {:?}", a, b),
        }
        match (Yuan::parse(&s), serde_json::from_value::<Yuan>(serde_json::json!(s))) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(e), Err(de)) => prop_assert_eq!(de.to_string(), e.to_string()),
            (a, b) => prop_assert!(false, "parse {:?} but serde {:?}", a, b),
        }
    }

    #[test]
    fn patient_debug_and_errors_never_show_personal_data(
        name in person_name(), mobile in mobile_digits(), rid in resident_id_text(),
    ) {
        let rid = ResidentId::parse(&rid).unwrap();
        let reg = Registration {
            name: PersonName::parse(&name).unwrap(),
            mobile: MobileNumber::parse(&mobile).unwrap(),
            resident_id: Some(rid),
            external_id: None,
            sex: None,
            birth_date: None,
            owner: None,
            home_clinic: ClinicId::new(1),
            channel: Channel::Kol,
            channel_code: None,
        };
        let id = PatientId::new(1);
        let cal = ClinicCalendar::default();
        let mut state = None;
        let events = patient::decide(None, id, &PatientCommand::Register(reg.clone()), now(), cal).unwrap();
        for e in &events { patient::apply(&mut state, e); }
        let p = state.clone().unwrap();
        let texts = [
            format!("{p:?}"), format!("{events:?}"), format!("{reg:?}"),
            format!("{}", p.mobile().unwrap()), format!("{}", p.resident_id().unwrap()),
            format!("{}", p.name().unwrap()),
            patient::decide(state.as_ref(), id, &PatientCommand::Register(reg.clone()), now(), cal)
                .unwrap_err().to_string(),
            MobileNumber::parse(&format!("{mobile}9")).unwrap_err().to_string(),
        ];
        let birth = rid.birth_date().format("%Y%m%d").to_string();
        let birth_dashed = rid.birth_date().format("%Y-%m-%d").to_string();
        for t in &texts {
            prop_assert!(!t.contains(&mobile), "mobile leaked: {}", t);
            prop_assert!(!t.contains(rid.expose()), "resident id leaked: {}", t);
            prop_assert!(!t.contains(&birth), "birth date leaked: {}", t);
            prop_assert!(!t.contains(&birth_dashed), "birth date leaked: {}", t);
            if name.chars().count() > 1 {
                prop_assert!(!t.contains(&name), "name leaked: {}", t);
            }
        }
    }

    #[test]
    fn patients_survive_a_serde_round_trip(name in person_name(), mobile in mobile_digits(), grant in any::<bool>()) {
        let id = PatientId::new(9);
        let cal = ClinicCalendar::default();
        let reg = Registration {
            name: PersonName::parse(&name).unwrap(),
            mobile: MobileNumber::parse(&mobile).unwrap(),
            resident_id: None,
            external_id: None,
            sex: None,
            birth_date: NaiveDate::from_ymd_opt(1980, 2, 29),
            owner: None,
            home_clinic: ClinicId::new(2),
            channel: Channel::parse("doctor_ip/xiaohongshu").unwrap(),
            channel_code: Some(Label::parse("qr-0042").unwrap()),
        };
        let mut events = patient::decide(None, id, &PatientCommand::Register(reg), now(), cal).unwrap();
        let mut state = patient::Patient::replay(&events);
        if grant {
            let more = patient::decide(state.as_ref(), id, &PatientCommand::GrantConsent {
                purpose: ConsentPurpose::Marketing,
                source: Label::parse("wecom").unwrap(),
                policy_version: Label::parse("v1").unwrap(),
                given_by: ConsentGiver::Patient,
            }, now(), cal).unwrap();
            for e in &more { patient::apply(&mut state, e); }
            events.extend(more);
        }
        let p = state.unwrap();
        let back: patient::Patient = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        prop_assert_eq!(&back, &p);
        let ev: Vec<patient::PatientEvent> = serde_json::from_str(&serde_json::to_string(&events).unwrap()).unwrap();
        prop_assert_eq!(ev, events);
        let pts = Points::new(mobile.len() as i64);
        prop_assert_eq!(serde_json::from_str::<Points>(&serde_json::to_string(&pts).unwrap()).unwrap(), pts);
    }
}

#[test]
fn minors_need_a_guardian() {
    let cal = ClinicCalendar::default();
    let id = PatientId::new(3);
    let reg = Registration {
        name: PersonName::parse("王小明").unwrap(),
        mobile: MobileNumber::parse("13700000000").unwrap(),
        resident_id: None,
        external_id: None,
        sex: None,
        birth_date: NaiveDate::from_ymd_opt(2016, 6, 1),
        owner: None,
        home_clinic: ClinicId::new(1),
        channel: Channel::WalkIn,
        channel_code: None,
    };
    let mut state = patient::Patient::replay(
        &patient::decide(None, id, &PatientCommand::Register(reg), now(), cal).unwrap(),
    );
    let grant = |by| PatientCommand::GrantConsent {
        purpose: ConsentPurpose::CareReminder,
        source: Label::parse("paper_form").unwrap(),
        policy_version: Label::parse("v1").unwrap(),
        given_by: by,
    };
    let err = patient::decide(
        state.as_ref(),
        id,
        &grant(ConsentGiver::Patient),
        now(),
        cal,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "patient P3 is 9, under 14: consent must be given by a guardian"
    );
    let ev = patient::decide(
        state.as_ref(),
        id,
        &grant(ConsentGiver::Guardian),
        now(),
        cal,
    )
    .unwrap();
    for e in &ev {
        patient::apply(&mut state, e);
    }
    let p = state.unwrap();
    assert!(p.may(ConsentPurpose::CareReminder, now()));
    assert_eq!(p.consents().records()[0].given_by, ConsentGiver::Guardian);
    // Granting again under the same policy is a no-op; withdrawing is one record.
    assert!(
        patient::decide(Some(&p), id, &grant(ConsentGiver::Guardian), now(), cal)
            .unwrap()
            .is_empty()
    );
}

proptest! {
    /// A resident id's birth date is accepted by `parse` exactly inside the crate's range,
    /// and by `parse_as_of` exactly inside it and not after today; errors never show the
    /// date (it is part of the number).
    #[test]
    fn resident_id_birth_dates_are_bounded(
        days in -60_000i64..120_000,
        today_days in 0i64..60_000,
        seq in 0u32..1000,
    ) {
        let epoch = NaiveDate::from_ymd_opt(1850, 1, 1).unwrap();
        let birth = epoch + chrono::Duration::days(days.rem_euclid(160_000));
        let today = epoch + chrono::Duration::days(today_days + 50_000);
        let first17 = format!("110101{}{seq:03}", birth.format("%Y%m%d"));
        prop_assume!(first17.len() == 17);
        let s = format!("{first17}{}", resident_id_check_char(&first17));
        let in_range = (ResidentId::EARLIEST_BIRTH_DATE..=ResidentId::LATEST_BIRTH_DATE)
            .contains(&birth);
        let parsed = ResidentId::parse(&s);
        prop_assert_eq!(parsed.is_ok(), in_range);
        let as_of = ResidentId::parse_as_of(&s, today);
        prop_assert_eq!(as_of.is_ok(), in_range && birth <= today);
        for e in [parsed.err(), as_of.err()].into_iter().flatten() {
            prop_assert!(!e.to_string().contains(&first17[6..14]), "{}", e);
        }
    }
}
