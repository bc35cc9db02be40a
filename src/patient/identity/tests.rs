use super::*;
use chrono::NaiveDate;

#[test]
fn mobile_normalises_prefixes_and_separators() {
    let want = MobileNumber::parse("13812341234").unwrap();
    for s in [
        "+86 138-1234-1234",
        "0086 13812341234",
        " 138 1234 1234 ",
        "+8613812341234",
    ] {
        assert_eq!(MobileNumber::parse(s).unwrap(), want, "{s}");
    }
    assert_eq!(want.to_string(), "138****1234");
    assert_eq!(format!("{want:?}"), "MobileNumber(138****1234)");
    for bad in [
        "12812341234",
        "1381234123",
        "138123412345",
        "86 13812341234",
        "+1 3812341234",
        "1381234123a",
    ] {
        assert!(MobileNumber::parse(bad).is_err(), "{bad}");
    }
    let e = MobileNumber::parse("23812341234").unwrap_err();
    assert_eq!(
        e.to_string(),
        "mobile 238****1234 is not an 11-digit mainland mobile number (1[3-9]xxxxxxxxx)"
    );
}

#[test]
fn resident_id_known_values() {
    // The GB 11643 worked example.
    let id = ResidentId::parse("11010519491231002X").unwrap();
    assert_eq!(
        id.birth_date(),
        NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
    );
    assert_eq!(id.sex(), Sex::Female);
    assert_eq!(id.to_string(), "110105********002X");
    assert_eq!(ResidentId::parse("11010519491231002x").unwrap(), id);
    let id2 = ResidentId::parse("110101199003072375").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(id2.masked(), "110101********2375");
    assert_eq!(id2.sex(), Sex::Male);
    assert_eq!(id2.age_on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()), 35);
    assert_eq!(id2.age_on(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()), 36);
}

#[test]
fn resident_id_legacy_upgrade() {
    // 15-digit form of 110105491231002 → 11010519491231002X
    let id = ResidentId::parse("110105491231002").unwrap();
    assert_eq!(id.expose(), "11010519491231002X");
}

#[test]
fn resident_id_refusals() {
    assert!(matches!(
        ResidentId::parse("110105194912310021"),
        Err(ResidentIdError::CheckCharacter { .. })
    ));
    assert!(matches!(
        ResidentId::parse("99010519491231002X"),
        Err(ResidentIdError::Province { .. })
    ));
    assert!(matches!(
        ResidentId::parse("11010519490231002X"),
        Err(ResidentIdError::BirthDate { .. })
    ));
    assert!(matches!(
        ResidentId::parse("1101051949"),
        Err(ResidentIdError::Length { .. })
    ));
    assert!(matches!(
        ResidentId::parse("1101051949123100AX"),
        Err(ResidentIdError::NotDigits { .. })
    ));
    let e = ResidentId::parse("110105194912310021")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("194912"), "{e}");
}

#[test]
fn names_mask_all_but_first_char() {
    let n = PersonName::parse(" 张三 ").unwrap();
    assert_eq!(n.expose(), "张三");
    assert_eq!(n.to_string(), "张*");
    assert_eq!(PersonName::parse("欧阳娜娜").unwrap().to_string(), "欧***");
    assert!(PersonName::parse("  ").is_err());
    let e = PersonName::parse("张\u{7}三").unwrap_err().to_string();
    assert!(!e.contains('三'), "{e}");
}

#[test]
fn ages_count_birthdays() {
    let b = NaiveDate::from_ymd_opt(2012, 2, 29).unwrap();
    assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()), 13);
    assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()), 14);
    assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()), 0);
}

/// An 18-character id with region 110101, the birth date given, sequence 237 and its check
/// character.
fn id_born(y: u32, m: u32, d: u32) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let first17 = format!("110101{y:04}{m:02}{d:02}237");
    let sum: u32 = first17
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{first17}{check}")
}

/// Issue 15: `ResidentId::parse` accepted birth dates in the future (and any after 1850).
#[test]
fn resident_id_birth_date_in_range_and_not_after_today() {
    let today = NaiveDate::from_ymd_opt(2026, 3, 6).unwrap();
    assert_eq!(id_born(1990, 3, 7), "110101199003072375");
    // The edges of the fixed range.
    for (y, m, d) in [(1900, 1, 1), (2200, 12, 31)] {
        let id = ResidentId::parse(&id_born(y, m, d)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(y as i32, m, d).unwrap()
        );
    }
    assert_eq!(
        ResidentId::EARLIEST_BIRTH_DATE,
        NaiveDate::from_ymd_opt(1900, 1, 1).unwrap()
    );
    assert_eq!(
        ResidentId::LATEST_BIRTH_DATE,
        NaiveDate::from_ymd_opt(2200, 12, 31).unwrap()
    );
    for (y, m, d) in [(1899, 12, 31), (1850, 6, 1), (2201, 1, 1), (9999, 12, 31)] {
        let raw = id_born(y, m, d);
        let e = ResidentId::parse(&raw).unwrap_err();
        assert_eq!(
            e,
            ResidentIdError::BirthDateOutOfRange {
                masked: format!("110101********{}", &raw[14..]),
                earliest: ResidentId::EARLIEST_BIRTH_DATE,
                latest: ResidentId::LATEST_BIRTH_DATE,
            },
            "{y}-{m}-{d}"
        );
        let text = e.to_string();
        assert!(!text.contains(&raw[6..14]), "the birth date leaks: {text}");
        assert!(serde_json::from_str::<ResidentId>(&format!("\"{raw}\"")).is_err());
    }
    // Where today is known: a birth date after it is refused, today itself is not.
    let tomorrow = id_born(2026, 3, 7);
    assert!(ResidentId::parse(&tomorrow).is_ok(), "parse knows no today");
    let e = ResidentId::parse_as_of(&tomorrow, today).unwrap_err();
    assert_eq!(
        e,
        ResidentIdError::BirthDateInFuture {
            masked: format!("110101********{}", &tomorrow[14..]),
            today
        }
    );
    assert!(!e.to_string().contains(&tomorrow[6..14]));
    assert!(ResidentId::parse_as_of(&id_born(2026, 3, 6), today).is_ok());
    // parse_as_of refuses everything parse refuses.
    assert_eq!(
        ResidentId::parse_as_of("11010519491231002Y", today),
        ResidentId::parse("11010519491231002Y")
    );
}
