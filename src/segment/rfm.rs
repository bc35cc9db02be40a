//! RFM: lifetimes-compatible summaries, quintile scores and the Chinese 8-class map.
//! Private: its items are re-exported by `segment`, their one path.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;

use super::SegmentError;
use super::tag::TagName;
use crate::calendar::day_number;
use crate::money::Yuan;

/// One customer's summary, with the definitions of lifetimes'
/// `summary_data_from_transaction_data(freq='D')`.
///
/// Transactions are first collapsed to one per local day (amounts summed), and those after
/// the as-of day are dropped. Then:
/// - `frequency` = purchase days − 1 (repeat purchase days);
/// - `recency` = last purchase day − first purchase day, in days;
/// - `t` (`T` in lifetimes and in serde) = as-of day − first purchase day, in days;
/// - `monetary_value` = the mean spend of the repeat days (the first day excluded), rounded
///   to the fen with [`crate::money::ROUNDING`]; ¥0 when `frequency` is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RfmSummary {
    /// Repeat purchase days.
    pub frequency: u32,
    /// Days from the first to the last purchase day.
    pub recency: u32,
    /// Days from the first purchase day to the as-of day.
    #[serde(rename = "T")]
    pub t: u32,
    /// Mean spend per repeat purchase day.
    pub monetary_value: Yuan,
}

impl RfmSummary {
    /// Days from the last purchase to the as-of day: what the R score ranks (fewer is better).
    #[must_use]
    pub fn days_since_last(&self) -> u32 {
        self.t.saturating_sub(self.recency)
    }

    /// Summarises one customer's transactions given as (local day number, amount) in any
    /// order; the slice is sorted in place. `None` when no transaction is on or before
    /// `as_of_day` (lifetimes leaves such customers out).
    ///
    /// Day numbers are [`crate::calendar::day_number`]s of the local dates.
    ///
    /// # Errors
    ///
    /// [`SegmentError::Overflow`] (with an empty patient) when a sum leaves the decimal range
    /// or the mean exceeds [`crate::money::MAX_YUAN`].
    pub fn from_days(
        rows: &mut [(i64, Yuan)],
        as_of_day: i64,
    ) -> Result<Option<RfmSummary>, SegmentError> {
        rows.sort_unstable_by_key(|(d, _)| *d);
        summary_of_sorted(rows.iter().copied(), as_of_day)
    }
}

/// The summary of one customer's rows, sorted by day.
fn summary_of_sorted(
    mut rows: impl Iterator<Item = (i64, Yuan)>,
    as_of_day: i64,
) -> Result<Option<RfmSummary>, SegmentError> {
    let overflow = || SegmentError::Overflow {
        patient: String::new(),
    };
    let Some((first, _)) = rows.next().filter(|(d, _)| *d <= as_of_day) else {
        return Ok(None);
    };
    let mut last = first;
    let mut days = 1u32;
    let mut repeat_total = Decimal::ZERO;
    for (day, amount) in rows.take_while(|(d, _)| *d <= as_of_day) {
        if day != last {
            days = days.saturating_add(1);
            last = day;
        }
        if day != first {
            repeat_total = repeat_total
                .checked_add(amount.amount())
                .ok_or_else(overflow)?;
        }
    }
    let frequency = days - 1;
    let monetary_value = if frequency == 0 {
        Yuan::ZERO
    } else {
        let mean = repeat_total
            .checked_div(Decimal::from(frequency))
            .ok_or_else(overflow)?;
        Yuan::rounded(mean).map_err(|_| overflow())?
    };
    let span = |a: i64, b: i64| u32::try_from(b.saturating_sub(a)).unwrap_or(u32::MAX);
    Ok(Some(RfmSummary {
        frequency,
        recency: span(first, last),
        t: span(first, as_of_day),
        monetary_value,
    }))
}

/// Summarises transactions (customer, local date, amount) per customer, as of a local date.
/// Customers with no transaction on or before `as_of` are left out.
///
/// # Errors
///
/// [`SegmentError::Overflow`] naming the customer (by `Debug`); [`SegmentError::Calendar`]
/// when `as_of` lies outside the accepted range ([`crate::calendar::check_date`]).
pub fn summarize_rfm<K, I>(
    transactions: I,
    as_of: NaiveDate,
) -> Result<BTreeMap<K, RfmSummary>, SegmentError>
where
    K: Ord + fmt::Debug,
    I: IntoIterator<Item = (K, NaiveDate, Yuan)>,
{
    let as_of = day_number(crate::calendar::check_date("as_of", as_of)?);
    // One sort by (customer, day) instead of a map of vectors: contiguous runs, no per-customer
    // allocation.
    let mut rows: Vec<(K, i64, Yuan)> = transactions
        .into_iter()
        .map(|(k, d, a)| (k, day_number(d), a))
        .collect();
    rows.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=rows.len() {
        if rows.get(i).map(|r| &r.0) != rows.get(start).map(|r| &r.0) {
            runs.push(i - start);
            start = i;
        }
    }
    let mut out = Vec::with_capacity(runs.len());
    let mut it = rows.into_iter();
    for len in runs {
        let mut run = it.by_ref().take(len);
        let Some((k, d0, a0)) = run.next() else {
            continue;
        };
        let days = std::iter::once((d0, a0)).chain(run.by_ref().map(|(_, d, a)| (d, a)));
        let result = summary_of_sorted(days, as_of);
        // The summary stops at the as-of day; drain the rest of the run.
        run.for_each(drop);
        match result {
            Ok(Some(s)) => out.push((k, s)),
            Ok(None) => {}
            Err(_) => {
                return Err(SegmentError::Overflow {
                    patient: format!("{k:?}"),
                });
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The 8 Chinese RFM classes (RFM 八类客户).
///
/// A score is *high* at 3 or more (the upper three quintiles), *low* at 1 or 2.
///
/// | R | F | M | class |
/// |---|---|---|---|
/// | high | high | high | 重要价值客户 |
/// | high | low | high | 重要发展客户 |
/// | low | high | high | 重要保持客户 |
/// | low | low | high | 重要挽留客户 |
/// | high | high | low | 一般价值客户 |
/// | high | low | low | 一般发展客户 |
/// | low | high | low | 一般保持客户 |
/// | low | low | low | 一般挽留客户 |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RfmClass {
    /// 重要价值客户: recent, frequent, high spend.
    ImportantValue,
    /// 重要发展客户: recent, high spend, not yet frequent.
    ImportantDevelop,
    /// 重要保持客户: frequent and high spend, but not recent: keep them.
    ImportantKeep,
    /// 重要挽留客户: high spend only: win them back.
    ImportantRetain,
    /// 一般价值客户: recent and frequent, low spend.
    GeneralValue,
    /// 一般发展客户: recent only.
    GeneralDevelop,
    /// 一般保持客户: frequent only.
    GeneralKeep,
    /// 一般挽留客户: none of the three.
    GeneralRetain,
}

/// The score at or above which R, F or M counts as high.
pub const RFM_HIGH_SCORE: u8 = 3;

impl RfmClass {
    /// Every class, in table order.
    pub const ALL: [RfmClass; 8] = [
        RfmClass::ImportantValue,
        RfmClass::ImportantDevelop,
        RfmClass::ImportantKeep,
        RfmClass::ImportantRetain,
        RfmClass::GeneralValue,
        RfmClass::GeneralDevelop,
        RfmClass::GeneralKeep,
        RfmClass::GeneralRetain,
    ];

    /// The class of three 1–5 scores.
    #[must_use]
    pub fn from_scores(r: u8, f: u8, m: u8) -> RfmClass {
        let (r, f, m) = (
            r >= RFM_HIGH_SCORE,
            f >= RFM_HIGH_SCORE,
            m >= RFM_HIGH_SCORE,
        );
        match (m, r, f) {
            (true, true, true) => RfmClass::ImportantValue,
            (true, true, false) => RfmClass::ImportantDevelop,
            (true, false, true) => RfmClass::ImportantKeep,
            (true, false, false) => RfmClass::ImportantRetain,
            (false, true, true) => RfmClass::GeneralValue,
            (false, true, false) => RfmClass::GeneralDevelop,
            (false, false, true) => RfmClass::GeneralKeep,
            (false, false, false) => RfmClass::GeneralRetain,
        }
    }

    /// The Chinese name, as clinics expect it (`重要价值客户`).
    #[must_use]
    pub fn name_zh(self) -> &'static str {
        match self {
            RfmClass::ImportantValue => "重要价值客户",
            RfmClass::ImportantDevelop => "重要发展客户",
            RfmClass::ImportantKeep => "重要保持客户",
            RfmClass::ImportantRetain => "重要挽留客户",
            RfmClass::GeneralValue => "一般价值客户",
            RfmClass::GeneralDevelop => "一般发展客户",
            RfmClass::GeneralKeep => "一般保持客户",
            RfmClass::GeneralRetain => "一般挽留客户",
        }
    }

    /// The tag `value/<name>`, for auto-tagging.
    #[must_use]
    pub fn tag(self) -> Option<TagName> {
        TagName::parse(&format!("value/{}", self.name_zh())).ok()
    }
}

impl fmt::Display for RfmClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_zh())
    }
}

/// R, F and M scores (1–5) and the class they give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RfmScore {
    /// Recency score: fewer days since the last purchase (`T − recency`) score higher.
    pub r: u8,
    /// Frequency score: more repeat purchase days score higher.
    pub f: u8,
    /// Monetary score: a higher `monetary_value` scores higher.
    pub m: u8,
    /// The class.
    pub class: RfmClass,
}

/// Scores summaries by quintile, returning one score per summary in the same order.
///
/// The tie rule: a summary's score is `1 + ⌊5 × w ÷ n⌋`, where `n` is the number of summaries
/// and `w` the number with a strictly worse value. Equal values always get equal scores, the
/// result does not depend on input order or customer ids, and the best value scores 5 once
/// `n ≥ 5`. Scores rank `monetary_value` as shown, so one-time customers (¥0 by the lifetimes
/// definition) score low on M.
#[must_use]
pub fn score_rfm(summaries: &[RfmSummary]) -> Vec<RfmScore> {
    let r = quintiles(summaries, |s| Reverse(s.days_since_last()));
    let f = quintiles(summaries, |s| s.frequency);
    let m = quintiles(summaries, |s| s.monetary_value);
    r.into_iter()
        .zip(f)
        .zip(m)
        .map(|((r, f), m)| RfmScore {
            r,
            f,
            m,
            class: RfmClass::from_scores(r, f, m),
        })
        .collect()
}

fn quintiles<T: Ord, F: Fn(&RfmSummary) -> T>(items: &[RfmSummary], key: F) -> Vec<u8> {
    let n = items.len();
    let mut keyed: Vec<(T, usize)> = items.iter().map(key).zip(0..).collect();
    keyed.sort_unstable();
    let mut out = vec![1u8; n];
    let mut worse = 0usize;
    let mut prev: Option<&T> = None;
    for (pos, (k, i)) in keyed.iter().enumerate() {
        if prev != Some(k) {
            worse = pos;
        }
        prev = Some(k);
        if let Some(slot) = out.get_mut(*i) {
            // worse < n, so 5 × worse ÷ n < 5 and the score is in 1..=5.
            *slot = u8::try_from(1 + 5 * worse / n).unwrap_or(5);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn y(s: &str) -> Yuan {
        Yuan::parse(s).unwrap()
    }

    #[test]
    fn lifetimes_definitions() {
        let tx = vec![
            ("a", d(2026, 1, 1), y("10")),
            ("a", d(2026, 1, 1), y("5")),
            ("a", d(2026, 1, 3), y("20")),
            ("a", d(2026, 1, 3), y("1")),
            ("a", d(2026, 1, 10), y("30")),
            ("a", d(2026, 2, 1), y("999")), // after as-of
            ("b", d(2026, 1, 5), y("7")),
            ("c", d(2026, 3, 1), y("7")), // only after as-of
        ];
        let s = summarize_rfm(tx, d(2026, 1, 20)).unwrap();
        assert_eq!(s.len(), 2);
        let a = s["a"];
        assert_eq!((a.frequency, a.recency, a.t), (2, 9, 19));
        assert_eq!(a.monetary_value, y("25.50"));
        let b = s["b"];
        assert_eq!((b.frequency, b.recency, b.t), (0, 0, 15));
        assert_eq!(b.monetary_value, Yuan::ZERO);
    }

    #[test]
    fn quintile_ties_share_a_score() {
        let mk = |frequency, m: &str| RfmSummary {
            frequency,
            recency: 0,
            t: 0,
            monetary_value: y(m),
        };
        let s: Vec<RfmSummary> = (0..10).map(|i| mk(i / 2, "1")).collect();
        let sc = score_rfm(&s);
        let f: Vec<u8> = sc.iter().map(|x| x.f).collect();
        assert_eq!(f, [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert!(sc.iter().all(|x| x.m == 1 && x.r == 1));
        assert_eq!(sc[9].class, RfmClass::GeneralKeep);
        assert_eq!(RfmClass::from_scores(5, 5, 5).name_zh(), "重要价值客户");
        assert_eq!(RfmClass::from_scores(1, 1, 3), RfmClass::ImportantRetain);
        assert!(score_rfm(&[]).is_empty());
    }
}
