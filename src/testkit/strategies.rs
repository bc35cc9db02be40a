//! Proptest strategies for valid and invalid inputs.

use chrono::{Days, NaiveDate};
use proptest::prelude::*;

const PROVINCES: [u8; 34] = [
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// Computes the MOD 11-2 check character for 17 digits.
pub fn resident_id_check_char(first17: &str) -> char {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .bytes()
        .zip(W)
        .map(|(b, w)| u32::from(b.wrapping_sub(b'0')) * w)
        .sum();
    char::from(b"10X98765432"[(sum % 11) as usize])
}

/// Valid 18-character resident id strings, born 1900–2025.
pub fn resident_id_text() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(&PROVINCES[..]),
        0u32..10_000,
        0u64..46_000,
        0u32..1000,
    )
        .prop_map(|(prov, region, day, seq)| {
            let base = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or_default();
            let birth = base + Days::new(day);
            let first17 = format!("{prov:02}{region:04}{}{seq:03}", birth.format("%Y%m%d"));
            let check = resident_id_check_char(&first17);
            format!("{first17}{check}")
        })
}

/// Valid mobile numbers as 11 bare digits.
pub fn mobile_digits() -> impl Strategy<Value = String> {
    (3u8..=9, 0u64..1_000_000_000).prop_map(|(second, rest)| format!("1{second}{rest:09}"))
}

/// Valid mobile numbers written the ways people write them: `+86`, `0086`, spaces, dashes.
pub fn mobile_spelling() -> impl Strategy<Value = (String, String)> {
    (mobile_digits(), 0usize..5).prop_map(|(d, style)| {
        let spelled = match style {
            0 => d.clone(),
            1 => format!("+86 {d}"),
            2 => format!("0086{d}"),
            3 => format!("{}-{}-{}", &d[..3], &d[3..7], &d[7..]),
            _ => format!(" {} {} {} ", &d[..3], &d[3..7], &d[7..]),
        };
        (spelled, d)
    })
}

/// Names of 1 to 8 CJK characters.
pub fn person_name() -> impl Strategy<Value = String> {
    proptest::collection::vec(0x4e00u32..0x9fa5, 1..8)
        .prop_map(|cs| cs.into_iter().filter_map(char::from_u32).collect())
}
