//! Field parsers for the input rows: dates, days in the clinic calendar, amounts.

use chrono::NaiveDate;
use clinic_ops::calendar::{ClinicCalendar, day_number};
use clinic_ops::money::Yuan;
use rust_decimal::Decimal;

pub(crate) fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

pub(crate) fn parse_date(b: &[u8]) -> Option<NaiveDate> {
    let (y, m, d) = match b.len() {
        10 if b.get(4) == Some(&b'-') && b.get(7) == Some(&b'-') => {
            (b.get(0..4)?, b.get(5..7)?, b.get(8..10)?)
        }
        8 => (b.get(0..4)?, b.get(4..6)?, b.get(6..8)?),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(i32::try_from(digits(y)?).ok()?, digits(m)?, digits(d)?)
}

/// The local day number of a date cell, or why not.
pub(crate) fn parse_day(b: &[u8], cal: ClinicCalendar) -> Result<i64, String> {
    if let Some(d) = parse_date(b) {
        return Ok(day_number(d));
    }
    let s = String::from_utf8_lossy(b);
    if b.len() != 8
        && !b.is_empty()
        && b.iter().all(u8::is_ascii_digit)
        && let Ok(secs) = s.parse::<i64>()
    {
        return Ok(cal.local_day_number(secs));
    }
    Err(format!("date {s:?} is not YYYY-MM-DD or YYYYMMDD"))
}

/// Parses `123`, `123.4` or `123.45` without allocating; anything else goes through
/// `Yuan::parse` for its error message (or its wider syntax).
pub(crate) fn parse_amount(b: &[u8]) -> Result<Yuan, String> {
    let fast = || -> Option<Yuan> {
        let (int, frac) = match b.iter().position(|c| *c == b'.') {
            Some(p) => (b.get(..p)?, b.get(p + 1..)?),
            None => (b, &b""[..]),
        };
        if int.is_empty() || int.len() > 13 || frac.len() > 2 {
            return None;
        }
        let mut cents = i64::from(digits(int.get(..int.len().min(9))?)?);
        for c in int.get(9..).unwrap_or(&[]) {
            cents = cents * 10 + i64::from(c.checked_sub(b'0').filter(|d| *d < 10)?);
        }
        for i in 0..2 {
            let d = match frac.get(i) {
                Some(c) => i64::from(c.checked_sub(b'0').filter(|d| *d < 10)?),
                None => 0,
            };
            cents = cents * 10 + d;
        }
        // Up to ¥42,949,672.95 the fen fit a u32 and need no further check.
        match u32::try_from(cents) {
            Ok(fen) => Some(Yuan::from_fen(fen)),
            Err(_) => Yuan::new(Decimal::new(cents, 2)).ok(),
        }
    };
    if let Some(y) = fast() {
        return Ok(y);
    }
    let s = String::from_utf8_lossy(b);
    Yuan::parse(&s).map_err(|e| e.to_string())
}

pub(crate) fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}
