//! Satisfaction: NPS and CSAT, overall and by doctor.
//!
//! - **NPS** (net promoter score) asks "how likely are you to recommend us", 0–10.
//!   Promoters answer 9–10, detractors 0–6, passives 7–8. NPS = % promoters − % detractors,
//!   from −100 to 100.
//! - **CSAT** asks "how satisfied were you", 1–5. CSAT = the share of 4 and 5 answers.
//!
//! A score outside its scale cannot be built ([`NpsScore::new`], [`CsatScore::new`], and serde
//! through the same check), so the tallies never see one.
//!
//! ```
//! use clinic_ops::metrics::satisfaction::{NpsScore, NpsTally};
//!
//! let mut t = NpsTally::default();
//! for s in [10, 9, 8, 6, 3] {
//!     t.add(NpsScore::new(s)?);
//! }
//! assert_eq!(t.nps(), Some(0.0)); // 2 promoters, 2 detractors of 5
//! # Ok::<(), clinic_ops::metrics::satisfaction::SatisfactionError>(())
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::id::DoctorId;

/// A score outside its scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SatisfactionError {
    /// The score is not on the survey's scale.
    #[error("{scale} score {value} is outside {min}..={max}")]
    OutOfScale {
        /// `nps` or `csat`.
        scale: &'static str,
        /// The value given.
        value: i64,
        /// The lowest valid score.
        min: u8,
        /// The highest valid score.
        max: u8,
    },
}

/// An answer to the NPS question, 0–10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct NpsScore(u8);

impl NpsScore {
    /// Checks an NPS answer.
    ///
    /// # Errors
    ///
    /// [`SatisfactionError::OutOfScale`] outside 0..=10.
    pub fn new(value: i64) -> Result<Self, SatisfactionError> {
        match u8::try_from(value) {
            Ok(v) if v <= 10 => Ok(Self(v)),
            _ => Err(SatisfactionError::OutOfScale {
                scale: "nps",
                value,
                min: 0,
                max: 10,
            }),
        }
    }

    /// The answer.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for NpsScore {
    type Error = SatisfactionError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<NpsScore> for u8 {
    fn from(s: NpsScore) -> u8 {
        s.0
    }
}

/// An answer to the CSAT question, 1–5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u8")]
pub struct CsatScore(u8);

impl CsatScore {
    /// Checks a CSAT answer.
    ///
    /// # Errors
    ///
    /// [`SatisfactionError::OutOfScale`] outside 1..=5.
    pub fn new(value: i64) -> Result<Self, SatisfactionError> {
        match u8::try_from(value) {
            Ok(v) if (1..=5).contains(&v) => Ok(Self(v)),
            _ => Err(SatisfactionError::OutOfScale {
                scale: "csat",
                value,
                min: 1,
                max: 5,
            }),
        }
    }

    /// The answer.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for CsatScore {
    type Error = SatisfactionError;
    fn try_from(v: i64) -> Result<Self, Self::Error> {
        Self::new(v)
    }
}

impl From<CsatScore> for u8 {
    fn from(s: CsatScore) -> u8 {
        s.0
    }
}

/// NPS answers counted by class. Tallies over disjoint answers [`merge`](Self::merge) exactly.
///
/// Counts saturate at `u64::MAX` rather than overflow (the rule of
/// [`Rate::merge`](crate::metrics::rates::Rate::merge)): the fields are public, so a tally may
/// hold any numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct NpsTally {
    /// Answers 9–10.
    pub promoters: u64,
    /// Answers 7–8.
    pub passives: u64,
    /// Answers 0–6.
    pub detractors: u64,
}

impl NpsTally {
    /// Counts one answer.
    pub fn add(&mut self, s: NpsScore) {
        match s.0 {
            9..=10 => self.promoters = self.promoters.saturating_add(1),
            7..=8 => self.passives = self.passives.saturating_add(1),
            _ => self.detractors = self.detractors.saturating_add(1),
        }
    }

    /// All answers.
    #[must_use]
    pub fn responses(&self) -> u64 {
        self.promoters
            .saturating_add(self.passives)
            .saturating_add(self.detractors)
    }

    /// NPS in `[−100, 100]`, or `None` without answers.
    #[must_use]
    pub fn nps(&self) -> Option<f64> {
        let n = self.responses();
        (n > 0).then(|| (self.promoters as f64 - self.detractors as f64) * 100.0 / n as f64)
    }

    /// The sum of two tallies.
    #[must_use]
    pub fn merge(self, o: NpsTally) -> NpsTally {
        NpsTally {
            promoters: self.promoters.saturating_add(o.promoters),
            passives: self.passives.saturating_add(o.passives),
            detractors: self.detractors.saturating_add(o.detractors),
        }
    }
}

/// CSAT answers counted. Tallies over disjoint answers [`merge`](Self::merge) exactly.
///
/// Counts saturate at `u64::MAX` rather than overflow, as [`NpsTally`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CsatTally {
    /// Answers 4–5.
    pub satisfied: u64,
    /// All answers.
    pub responses: u64,
}

impl CsatTally {
    /// Counts one answer.
    pub fn add(&mut self, s: CsatScore) {
        self.responses = self.responses.saturating_add(1);
        self.satisfied = self.satisfied.saturating_add(u64::from(s.0 >= 4));
    }

    /// The share of 4–5 answers in `[0, 1]`, or `None` without answers.
    #[must_use]
    pub fn csat(&self) -> Option<f64> {
        (self.responses > 0).then(|| self.satisfied as f64 / self.responses as f64)
    }

    /// The sum of two tallies.
    #[must_use]
    pub fn merge(self, o: CsatTally) -> CsatTally {
        CsatTally {
            satisfied: self.satisfied.saturating_add(o.satisfied),
            responses: self.responses.saturating_add(o.responses),
        }
    }
}

/// A tally overall and per doctor. Answers without a doctor count only overall.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ByDoctor<T> {
    /// Every answer.
    pub overall: T,
    /// Answers about each doctor.
    pub by_doctor: BTreeMap<DoctorId, T>,
}

/// NPS overall and by doctor from (doctor, answer) pairs.
pub fn nps_by_doctor<'a, I>(answers: I) -> ByDoctor<NpsTally>
where
    I: IntoIterator<Item = &'a (Option<DoctorId>, NpsScore)>,
{
    let mut out = ByDoctor::<NpsTally>::default();
    for (doctor, s) in answers {
        out.overall.add(*s);
        if let Some(d) = doctor {
            out.by_doctor.entry(*d).or_default().add(*s);
        }
    }
    out
}

/// CSAT overall and by doctor from (doctor, answer) pairs.
pub fn csat_by_doctor<'a, I>(answers: I) -> ByDoctor<CsatTally>
where
    I: IntoIterator<Item = &'a (Option<DoctorId>, CsatScore)>,
{
    let mut out = ByDoctor::<CsatTally>::default();
    for (doctor, s) in answers {
        out.overall.add(*s);
        if let Some(d) = doctor {
            out.by_doctor.entry(*d).or_default().add(*s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_enforced() {
        assert!(NpsScore::new(11).is_err());
        assert!(NpsScore::new(-1).is_err());
        assert_eq!(
            CsatScore::new(0).unwrap_err().to_string(),
            "csat score 0 is outside 1..=5"
        );
        assert!(serde_json::from_str::<NpsScore>("12").is_err());
        assert_eq!(serde_json::from_str::<CsatScore>("4").unwrap().get(), 4);
    }

    /// Merging or counting past `u64::MAX` overflowed (a panic in debug, a wrap in release).
    #[test]
    fn tallies_saturate_instead_of_overflowing() {
        let full = NpsTally {
            promoters: u64::MAX,
            passives: 1,
            detractors: 0,
        };
        assert_eq!(full.responses(), u64::MAX);
        let mut m = full.merge(full);
        assert_eq!((m.promoters, m.passives), (u64::MAX, 2));
        m.add(NpsScore::new(10).unwrap());
        assert_eq!(m.promoters, u64::MAX);
        let c = CsatTally {
            satisfied: u64::MAX,
            responses: u64::MAX,
        };
        let mut c = c.merge(c);
        c.add(CsatScore::new(5).unwrap());
        assert_eq!((c.satisfied, c.responses), (u64::MAX, u64::MAX));
    }

    #[test]
    fn nps_and_csat_by_doctor() {
        let d1 = Some(DoctorId::new(1));
        let s = |v| NpsScore::new(v).unwrap();
        let answers = [(d1, s(10)), (d1, s(9)), (None, s(0)), (d1, s(7))];
        let r = nps_by_doctor(&answers);
        assert_eq!(r.overall.nps(), Some(25.0));
        assert_eq!(r.by_doctor[&DoctorId::new(1)].nps().unwrap(), 200.0 / 3.0);
        assert_eq!(NpsTally::default().nps(), None);
        let c = |v| CsatScore::new(v).unwrap();
        let r = csat_by_doctor(&[(d1, c(5)), (d1, c(3)), (None, c(4))]);
        assert_eq!(r.overall.csat(), Some(2.0 / 3.0));
        assert_eq!(r.by_doctor[&DoctorId::new(1)].csat(), Some(0.5));
    }
}
