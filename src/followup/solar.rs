//! The 24 solar terms (二十四节气) as a data table of local dates, for season-change calls.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use super::FollowUpError;

/// One of the 24 solar terms, in calendar-year order (小寒 in early January first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolarTerm {
    /// 小寒, early January.
    Xiaohan,
    /// 大寒.
    Dahan,
    /// 立春, the beginning of spring.
    Lichun,
    /// 雨水.
    Yushui,
    /// 惊蛰.
    Jingzhe,
    /// 春分, the spring equinox.
    Chunfen,
    /// 清明.
    Qingming,
    /// 谷雨.
    Guyu,
    /// 立夏, the beginning of summer.
    Lixia,
    /// 小满.
    Xiaoman,
    /// 芒种.
    Mangzhong,
    /// 夏至, the summer solstice.
    Xiazhi,
    /// 小暑.
    Xiaoshu,
    /// 大暑.
    Dashu,
    /// 立秋, the beginning of autumn.
    Liqiu,
    /// 处暑.
    Chushu,
    /// 白露.
    Bailu,
    /// 秋分, the autumn equinox.
    Qiufen,
    /// 寒露.
    Hanlu,
    /// 霜降.
    Shuangjiang,
    /// 立冬, the beginning of winter.
    Lidong,
    /// 小雪.
    Xiaoxue,
    /// 大雪.
    Daxue,
    /// 冬至, the winter solstice.
    Dongzhi,
}

const NAMES: [&str; 24] = [
    "小寒", "大寒", "立春", "雨水", "惊蛰", "春分", "清明", "谷雨", "立夏", "小满", "芒种", "夏至",
    "小暑", "大暑", "立秋", "处暑", "白露", "秋分", "寒露", "霜降", "立冬", "小雪", "大雪", "冬至",
];

impl SolarTerm {
    /// Every term, in calendar-year order.
    pub const ALL: [SolarTerm; 24] = [
        SolarTerm::Xiaohan,
        SolarTerm::Dahan,
        SolarTerm::Lichun,
        SolarTerm::Yushui,
        SolarTerm::Jingzhe,
        SolarTerm::Chunfen,
        SolarTerm::Qingming,
        SolarTerm::Guyu,
        SolarTerm::Lixia,
        SolarTerm::Xiaoman,
        SolarTerm::Mangzhong,
        SolarTerm::Xiazhi,
        SolarTerm::Xiaoshu,
        SolarTerm::Dashu,
        SolarTerm::Liqiu,
        SolarTerm::Chushu,
        SolarTerm::Bailu,
        SolarTerm::Qiufen,
        SolarTerm::Hanlu,
        SolarTerm::Shuangjiang,
        SolarTerm::Lidong,
        SolarTerm::Xiaoxue,
        SolarTerm::Daxue,
        SolarTerm::Dongzhi,
    ];

    /// The four beginnings of the seasons (立春, 立夏, 立秋, 立冬): the usual season-change
    /// call dates.
    pub const SEASON_STARTS: [SolarTerm; 4] = [
        SolarTerm::Lichun,
        SolarTerm::Lixia,
        SolarTerm::Liqiu,
        SolarTerm::Lidong,
    ];

    /// The position in the calendar year, 0 (小寒) to 23 (冬至).
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }

    /// The month the term falls in: two terms a month, in order.
    #[must_use]
    pub fn month(self) -> u32 {
        (self.index() / 2) as u32 + 1
    }

    /// The Chinese name.
    #[must_use]
    pub fn name(self) -> &'static str {
        NAMES.get(self.index()).copied().unwrap_or("")
    }
}

impl fmt::Display for SolarTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The days of the month of the 24 terms, Beijing time (UTC+8), 2024–2030.
///
/// Computed with the 寿星 formula `⌊Y·0.2422 + C⌋ − ⌊L/4⌋` and its published correction for
/// 2026 雨水 (18 February), then spot-checked against the almanac (2025 立春 3 February,
/// 2026 冬至 22 December). Hosts that need other years or an official source load their own
/// [`SolarTermTable`].
const BUILTIN_FIRST_YEAR: i32 = 2024;
const BUILTIN: [[u8; 24]; 7] = [
    [
        6, 20, 4, 19, 5, 20, 4, 19, 5, 20, 5, 21, 6, 22, 7, 22, 7, 22, 8, 23, 7, 22, 6, 21,
    ], // 2024
    [
        5, 20, 3, 18, 5, 20, 4, 20, 5, 21, 5, 21, 7, 22, 7, 23, 7, 23, 8, 23, 7, 22, 7, 21,
    ], // 2025
    [
        5, 20, 4, 18, 5, 20, 5, 20, 5, 21, 5, 21, 7, 23, 7, 23, 7, 23, 8, 23, 7, 22, 7, 22,
    ], // 2026
    [
        5, 20, 4, 19, 6, 21, 5, 20, 6, 21, 6, 21, 7, 23, 8, 23, 8, 23, 8, 23, 7, 22, 7, 22,
    ], // 2027
    [
        6, 20, 4, 19, 5, 20, 4, 19, 5, 20, 5, 21, 6, 22, 7, 22, 7, 22, 8, 23, 7, 22, 6, 21,
    ], // 2028
    [
        5, 20, 3, 18, 5, 20, 4, 20, 5, 21, 5, 21, 7, 22, 7, 23, 7, 23, 8, 23, 7, 22, 7, 21,
    ], // 2029
    [
        5, 20, 4, 18, 5, 20, 5, 20, 5, 21, 5, 21, 7, 23, 7, 23, 7, 23, 8, 23, 7, 22, 7, 22,
    ], // 2030
];

/// The local dates of the 24 solar terms for a run of years, validated on load: every year
/// has 24 real dates, each in its term's month, strictly increasing.
///
/// Serialised as a map from year to the 24 days of the month, in term order:
/// `{"2026": [5, 20, 4, 18, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<i32, Vec<u8>>", into = "BTreeMap<i32, Vec<u8>>")]
pub struct SolarTermTable {
    years: BTreeMap<i32, [NaiveDate; 24]>,
}

impl Default for SolarTermTable {
    /// The built-in table for 2024–2030, Beijing time.
    fn default() -> Self {
        Self::builtin()
    }
}

impl SolarTermTable {
    /// The built-in table, 2024–2030, Beijing time.
    #[must_use]
    pub fn builtin() -> Self {
        let mut years = BTreeMap::new();
        for (year, days) in (BUILTIN_FIRST_YEAR..).zip(BUILTIN.iter()) {
            if let Ok(dates) = year_dates(year, days) {
                years.insert(year, dates);
            }
        }
        SolarTermTable { years }
    }

    /// A table from days of the month per year, in term order.
    ///
    /// # Errors
    ///
    /// [`FollowUpError::SolarTerms`] naming the year when it has not 24 entries, a date
    /// does not exist, or the dates do not increase.
    pub fn new(days: &BTreeMap<i32, Vec<u8>>) -> Result<Self, FollowUpError> {
        let mut years = BTreeMap::new();
        for (&year, d) in days {
            years.insert(year, year_dates(year, d)?);
        }
        Ok(SolarTermTable { years })
    }

    /// The local date of a term in a year, if the table covers that year.
    #[must_use]
    pub fn date(&self, year: i32, term: SolarTerm) -> Option<NaiveDate> {
        self.years
            .get(&year)
            .and_then(|d| d.get(term.index()).copied())
    }

    /// The years covered.
    pub fn years(&self) -> impl Iterator<Item = i32> + '_ {
        self.years.keys().copied()
    }
}

fn year_dates(year: i32, days: &[u8]) -> Result<[NaiveDate; 24], FollowUpError> {
    let bad = |why: &'static str| FollowUpError::SolarTerms { year, why };
    if days.len() != 24 {
        return Err(bad("a year needs exactly 24 dates"));
    }
    let mut out = [NaiveDate::MIN; 24];
    for ((slot, term), &day) in out.iter_mut().zip(SolarTerm::ALL).zip(days) {
        *slot = NaiveDate::from_ymd_opt(year, term.month(), u32::from(day))
            .ok_or(bad("a date does not exist"))?;
    }
    if out.windows(2).any(|w| w.first() >= w.get(1)) {
        return Err(bad("dates must increase in term order"));
    }
    Ok(out)
}

impl TryFrom<BTreeMap<i32, Vec<u8>>> for SolarTermTable {
    type Error = FollowUpError;
    fn try_from(m: BTreeMap<i32, Vec<u8>>) -> Result<Self, Self::Error> {
        Self::new(&m)
    }
}

impl From<SolarTermTable> for BTreeMap<i32, Vec<u8>> {
    fn from(t: SolarTermTable) -> Self {
        t.years
            .into_iter()
            .map(|(y, d)| (y, d.iter().map(|x| x.day() as u8).collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_covers_2024_to_2030_and_known_dates() {
        let t = SolarTermTable::builtin();
        assert_eq!(
            t.years().collect::<Vec<_>>(),
            (2024..=2030).collect::<Vec<_>>()
        );
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day);
        assert_eq!(t.date(2025, SolarTerm::Lichun), d(2025, 2, 3));
        assert_eq!(t.date(2026, SolarTerm::Yushui), d(2026, 2, 18));
        assert_eq!(t.date(2026, SolarTerm::Lidong), d(2026, 11, 7));
        assert_eq!(t.date(2026, SolarTerm::Dongzhi), d(2026, 12, 22));
        assert_eq!(t.date(2024, SolarTerm::Xiaohan), d(2024, 1, 6));
        assert_eq!(t.date(2031, SolarTerm::Lichun), None);
        assert_eq!(SolarTerm::Lidong.name(), "立冬");
        let json = serde_json::to_string(&t).unwrap();
        let back: SolarTermTable = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn bad_tables_are_refused_naming_the_year() {
        let mut m = BTreeMap::new();
        m.insert(2026, vec![5u8; 23]);
        let e = SolarTermTable::new(&m).unwrap_err();
        assert!(e.to_string().contains("2026"), "{e}");
        m.insert(2026, vec![5u8; 24]); // two terms on one day each month
        assert!(SolarTermTable::new(&m).is_err());
        let mut days = BUILTIN[2].to_vec();
        days[3] = 30; // 30 February
        m.insert(2026, days);
        assert!(SolarTermTable::new(&m).is_err());
        assert!(serde_json::from_str::<SolarTermTable>("{\"2026\": [1]}").is_err());
    }
}
