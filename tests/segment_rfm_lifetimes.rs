//! RFM summaries against lifetimes 0.11.3 on real transactions (a CDNOW_master subset; see
//! `tests/fixtures/rfm_cdnow_make.py` for how the expected values were produced).

use chrono::NaiveDate;
use clinic_ops::money::Yuan;
use clinic_ops::segment::summarize_rfm;
use rust_decimal::Decimal;
use std::str::FromStr;

#[test]
fn cdnow_subset_matches_lifetimes() {
    let input = include_str!("fixtures/rfm_cdnow_in.csv");
    let expected = include_str!("fixtures/rfm_cdnow_expected_lifetimes.csv");
    let mut tx = Vec::new();
    for r in csv::Reader::from_reader(input.as_bytes()).records() {
        let r = r.unwrap();
        tx.push((
            r[0].to_owned(),
            NaiveDate::parse_from_str(&r[1], "%Y-%m-%d").unwrap(),
            Yuan::parse(&r[2]).unwrap(),
        ));
    }
    let as_of = NaiveDate::from_ymd_opt(1997, 9, 30).unwrap();
    let ours = summarize_rfm(tx, as_of).unwrap();
    let mut n = 0;
    for r in csv::Reader::from_reader(expected.as_bytes()).records() {
        let r = r.unwrap();
        let s = ours
            .get(&r[0])
            .unwrap_or_else(|| panic!("missing {}", &r[0]));
        let whole = |i: usize| r[i].parse::<f64>().unwrap() as u32;
        assert_eq!(s.frequency, whole(1), "frequency of {}", &r[0]);
        assert_eq!(s.recency, whole(2), "recency of {}", &r[0]);
        assert_eq!(s.t, whole(3), "T of {}", &r[0]);
        // lifetimes keeps the float mean; ours is rounded to the fen.
        let theirs = Decimal::from_str(&r[4])
            .or_else(|_| Decimal::from_scientific(&r[4]))
            .unwrap();
        let diff = (s.monetary_value.amount() - theirs).abs();
        assert!(
            diff <= Decimal::new(5, 3),
            "monetary of {}: {s:?} vs {theirs}",
            &r[0]
        );
        n += 1;
    }
    assert_eq!(n, ours.len(), "lifetimes and ours list the same customers");
    assert!(n > 150);
}
