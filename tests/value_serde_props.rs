//! Every public value type survives a serde round trip, and invalid values are refused by
//! serde exactly as by their constructors.

use proptest::prelude::*;
use rust_decimal::Decimal;

use clinic_ops::calendar::{ClinicCalendar, Period};
use clinic_ops::id::{
    CampaignId, ClinicId, DoctorId, LotId, PatientId, PurchaseId, StaffId, TaskId, VisitId,
};
use clinic_ops::journey::{Category, DaysSupply};
use clinic_ops::money::{Points, SignedYuan, Yuan};
use clinic_ops::patient::{Channel, ConditionCode, ConsentPurpose, FollowUpCadence, Label};
use clinic_ops::store::Version;

fn round_trip<T>(v: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()
}

proptest! {
    #[test]
    fn money_round_trips(fen in 0u64..100_000_000_000_000, neg in any::<bool>()) {
        let d = Decimal::new(fen as i64, 2);
        let y = Yuan::new(d).unwrap();
        prop_assert_eq!(round_trip(&y), y);
        let s = SignedYuan::new(if neg { -d } else { d }).unwrap();
        prop_assert_eq!(round_trip(&s), s);
        prop_assert_eq!(Yuan::parse(&y.to_string()).unwrap(), y);
    }

    #[test]
    fn points_and_ids_round_trip(n in any::<u64>(), p in any::<i64>()) {
        prop_assert_eq!(round_trip(&Points::new(p)), Points::new(p));
        prop_assert_eq!(round_trip(&PatientId::new(n)), PatientId::new(n));
        prop_assert_eq!(round_trip(&ClinicId::new(n)), ClinicId::new(n));
        prop_assert_eq!(round_trip(&DoctorId::new(n)), DoctorId::new(n));
        prop_assert_eq!(round_trip(&StaffId::new(n)), StaffId::new(n));
        prop_assert_eq!(round_trip(&CampaignId::new(n)), CampaignId::new(n));
        prop_assert_eq!(round_trip(&PurchaseId::new(n)), PurchaseId::new(n));
        prop_assert_eq!(round_trip(&VisitId::new(n)), VisitId::new(n));
        prop_assert_eq!(round_trip(&TaskId::new(n)), TaskId::new(n));
        prop_assert_eq!(round_trip(&LotId::new(n)), LotId::new(n));
        prop_assert_eq!(round_trip(&Version::new(n)), Version::new(n));
        prop_assert_eq!(PatientId::new(n).to_string().parse::<PatientId>().unwrap(), PatientId::new(n));
    }

    #[test]
    fn calendars_round_trip(minutes in -(14 * 60)..=(14 * 60i32)) {
        let cal = ClinicCalendar::from_offset_seconds(minutes * 60).unwrap();
        prop_assert_eq!(round_trip(&cal), cal);
        prop_assert_eq!(ClinicCalendar::parse(&cal.to_string()).unwrap(), cal);
    }

    #[test]
    fn labels_and_codes_round_trip(s in "[a-zA-Z0-9_/\u{4e00}-\u{4e80}]{1,30}") {
        let l = Label::parse(&s).unwrap();
        prop_assert_eq!(round_trip(&l), l);
        let c = Channel::parse(&s).unwrap();
        prop_assert_eq!(round_trip(&c), c.clone());
        prop_assert_eq!(Channel::parse(&c.code()).unwrap(), c);
        let cat = Category::parse(&s).unwrap();
        prop_assert_eq!(round_trip(&cat), cat);
        if s.is_ascii() && s.len() <= 16 {
            let code = ConditionCode::parse(&s).unwrap();
            prop_assert_eq!(round_trip(&code), code);
        }
    }

    #[test]
    fn bounded_numbers_refuse_the_same_through_serde(n in 0u32..4000) {
        match (DaysSupply::new(n), serde_json::from_str::<DaysSupply>(&n.to_string())) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(e), Err(de)) => prop_assert_eq!(de.to_string(), e.to_string()),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
        let small = (n % 60) as u8;
        match (FollowUpCadence::per_year(small), serde_json::from_str::<FollowUpCadence>(&small.to_string())) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(e), Err(de)) => prop_assert_eq!(de.to_string(), e.to_string()),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a, b),
        }
    }
}

#[test]
fn enums_round_trip() {
    for p in ConsentPurpose::ALL {
        assert_eq!(round_trip(&p), p);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            format!("\"{}\"", p.code())
        );
    }
    for p in [Period::Day, Period::Week, Period::Month, Period::Year] {
        assert_eq!(round_trip(&p), p);
    }
}
