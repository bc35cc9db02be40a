//! Attribution of patients to posts, through the funnel engine.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::ContentError;
use crate::metrics::event::{JourneyEventKind, JourneyStage};
use crate::metrics::funnel::par::{fan_out_owned, split};
use crate::metrics::funnel::{
    Attribution, ConversionWindow, Dimension, EventColumns, FunnelBreakdown, FunnelMode,
    FunnelSpec, FunnelState, Step,
};

/// Which of a patient's touches (rows that carry a post's code) wins the patient.
///
/// Only touches at or before the patient's first paid visit count (every touch, for a
/// patient who never paid): a post seen after paying did not bring the patient. A patient
/// whose every touch came later stays unattributed under both rules, so the two rules
/// agree whenever a patient has one touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TouchRule {
    /// The earliest counted touch; ties by the lowest code.
    FirstTouch,
    /// The latest counted touch; ties by the highest code.
    LastTouch,
}

/// Journey events as columns, with the post each row came through: the input of
/// [`AcquisitionSpec::compute`].
///
/// Row `i` is patient `patient[i]` (dense, `< patient_count`) doing kind `kind[i]` (a
/// [`JourneyEventKind`] code) at `at[i]` (Unix seconds), through post `post[i]` (a code of
/// a [`PostBook`](super::PostBook), 0 for none), paying `amount_fen[i]` fen (read on
/// purchases only). A row with a post is a *touch*: the contact or registration that
/// carried the post's channel code, which the host writes as a
/// [`Lead`](JourneyStage::Lead).
#[derive(Debug, Clone, Copy)]
pub struct AcquisitionColumns<'a> {
    /// How many patients the set has.
    pub patient_count: u32,
    /// The patient of each row.
    pub patient: &'a [u32],
    /// The kind code of each row.
    pub kind: &'a [u32],
    /// Unix seconds of each row.
    pub at: &'a [i64],
    /// The post code of each row, 0 for none.
    pub post: &'a [u32],
    /// The amount of each row in fen (purchases), 0 for none.
    pub amount_fen: &'a [u64],
}

/// How patients are attributed and followed: the rule, the funnel
/// lead → converted → first paid visit → retained (a revisit) inside a window from the
/// lead, and the days after the touch whose revenue counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquisitionSpec {
    rule: TouchRule,
    funnel: FunnelSpec,
    revenue_days: u16,
}

/// The funnel steps of an acquisition, in order.
pub const ACQUISITION_STEPS: [JourneyStage; 4] = [
    JourneyStage::Lead,
    JourneyStage::Converted,
    JourneyStage::Purchased,
    JourneyStage::Revisited,
];

/// The exact, mergeable result of an attribution over a set of patients: the funnel
/// broken down by post code, and the revenue per post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquisitionState {
    /// The funnel, broken down by post code (`BreakdownKey::Value(code)`).
    pub funnel: FunnelState,
    /// Revenue in fen of each post's patients within the revenue days of their touch.
    pub revenue_fen: BTreeMap<u32, u128>,
    /// Revenue in fen of every purchase row, attributed or not.
    pub total_revenue_fen: u128,
}

impl AcquisitionState {
    /// Adds the state of a disjoint set of patients (all events of one patient in one
    /// state): exact, associative and commutative, like [`FunnelState::merge`]. Sums of
    /// fen saturate at `u128::MAX`, which no real revenue reaches.
    ///
    /// # Errors
    ///
    /// [`ContentError::Funnel`] when the funnels differ; `self` is then unchanged.
    pub fn merge(&mut self, other: &AcquisitionState) -> Result<(), ContentError> {
        self.funnel.merge(&other.funnel)?;
        for (code, fen) in &other.revenue_fen {
            let e = self.revenue_fen.entry(*code).or_insert(0);
            *e = e.saturating_add(*fen);
        }
        self.total_revenue_fen = self
            .total_revenue_fen
            .saturating_add(other.total_revenue_fen);
        Ok(())
    }
}

const NO_TOUCH: (i64, u32) = (i64::MIN, 0);

impl AcquisitionSpec {
    /// The longest revenue horizon, in days.
    pub const MAX_REVENUE_DAYS: u16 = 3660;

    /// A spec: `rule`, the funnel `window` from the lead, and `revenue_days` (90 in the
    /// issue's reports) of revenue after the touch.
    ///
    /// # Errors
    ///
    /// [`ContentError::RevenueDays`] for 0 or more than
    /// [`AcquisitionSpec::MAX_REVENUE_DAYS`].
    pub fn new(
        rule: TouchRule,
        window: ConversionWindow,
        revenue_days: u16,
    ) -> Result<Self, ContentError> {
        if revenue_days == 0 || revenue_days > Self::MAX_REVENUE_DAYS {
            return Err(ContentError::RevenueDays {
                days: revenue_days,
                max: Self::MAX_REVENUE_DAYS,
            });
        }
        let steps = ACQUISITION_STEPS.iter().map(|s| Step::kind(*s)).collect();
        // Every row of a patient carries the post the rule chose, so the funnel's own
        // attribution only has to pick any event of the patient: the first touch of its
        // chain is one.
        let funnel = FunnelSpec::new(steps, window, FunnelMode::Default)?.with_breakdown(
            FunnelBreakdown {
                dimension: Dimension::Channel,
                attribution: Attribution::FirstTouch,
            },
        )?;
        Ok(AcquisitionSpec {
            rule,
            funnel,
            revenue_days,
        })
    }

    /// The rule.
    #[must_use]
    pub fn rule(&self) -> TouchRule {
        self.rule
    }

    /// The funnel the spec runs.
    #[must_use]
    pub fn funnel(&self) -> &FunnelSpec {
        &self.funnel
    }

    /// The post each patient is attributed to under the rule (0: none), with the time of
    /// the winning touch. Exactly one entry per patient, so no patient counts for two
    /// posts.
    ///
    /// # Errors
    ///
    /// As [`compute`](Self::compute).
    pub fn attribute(
        &self,
        cols: &AcquisitionColumns<'_>,
        max_code: u32,
    ) -> Result<Vec<(i64, u32)>, ContentError> {
        check_columns(cols, max_code)?;
        let n = cols.patient_count as usize;
        let purchased = JourneyEventKind::stage(JourneyStage::Purchased).code();
        let mut first_paid = vec![i64::MAX; n];
        for ((&p, &k), &t) in cols.patient.iter().zip(cols.kind).zip(cols.at) {
            if let Some(f) = first_paid.get_mut(p as usize).filter(|_| k == purchased) {
                *f = (*f).min(t);
            }
        }
        let mut best = vec![NO_TOUCH; n];
        let rows = cols.patient.iter().zip(cols.at).zip(cols.post);
        for ((&p, &t), &code) in rows {
            let Some(b) = best.get_mut(p as usize).filter(|_| code != 0) else {
                continue;
            };
            if t > first_paid.get(p as usize).copied().unwrap_or(i64::MAX) {
                continue;
            }
            let better = b.1 == 0
                || match self.rule {
                    TouchRule::FirstTouch => (t, code) < *b,
                    TouchRule::LastTouch => (t, code) > *b,
                };
            if better {
                *b = (t, code);
            }
        }
        Ok(best)
    }

    /// Attributes every patient to at most one post under the rule, then runs the funnel
    /// with every row of a patient carrying that post, so the funnel's breakdown is per
    /// post, and sums each post's revenue: purchases of its patients from the touch to
    /// `revenue_days` after it, inclusive. `threads` is passed to
    /// [`FunnelSpec::compute_columns`]; the result does not depend on it.
    ///
    /// # Errors
    ///
    /// - [`ContentError::ColumnLengths`] for columns of different lengths;
    /// - [`ContentError::PatientOutOfRange`] for a patient `>= patient_count`;
    /// - [`ContentError::UnknownPostCode`] for a post code above `max_code`;
    /// - [`ContentError::TooManyPosts`] for a `max_code` above
    ///   [`PostBook::MAX_POSTS`](super::PostBook::MAX_POSTS);
    /// - [`ContentError::Funnel`] from the funnel engine (timestamps too wide to pack).
    pub fn compute(
        &self,
        cols: &AcquisitionColumns<'_>,
        max_code: u32,
        threads: usize,
    ) -> Result<AcquisitionState, ContentError> {
        let best = self.attribute(cols, max_code)?;
        let purchased = JourneyEventKind::stage(JourneyStage::Purchased).code();
        let horizon = i64::from(self.revenue_days) * 86_400;
        // One pass over the rows gives each row its patient's post and sums the revenue of
        // purchases, reading `best` once per row (a random read into a table of every
        // patient, which was most of the time of two separate passes), on `threads` chunks
        // with a revenue table each. Saturating sums of non-negative amounts are
        // associative, so the chunks add up to what one pass gives.
        let threads = threads.max(1);
        let rows = cols.patient.len();
        let mut dim = vec![0u32; rows];
        let mut work = Vec::with_capacity(threads);
        let mut rest: &mut [u32] = &mut dim;
        for r in split(rows, threads) {
            let (head, tail) = rest.split_at_mut(r.len().min(rest.len()));
            work.push((r, head));
            rest = tail;
        }
        let parts = fan_out_owned(work, |(r, out)| {
            let mut revenue = vec![0u128; max_code as usize + 1];
            let mut total: u128 = 0;
            let rows = cols
                .patient
                .get(r.clone())
                .unwrap_or(&[])
                .iter()
                .zip(cols.kind.get(r.clone()).unwrap_or(&[]))
                .zip(cols.at.get(r.clone()).unwrap_or(&[]))
                .zip(cols.amount_fen.get(r).unwrap_or(&[]))
                .zip(out.iter_mut());
            for ((((&p, &k), &t), &fen), d) in rows {
                let (touch, code) = best.get(p as usize).copied().unwrap_or(NO_TOUCH);
                *d = code;
                if k != purchased || fen == 0 {
                    continue;
                }
                total = total.saturating_add(u128::from(fen));
                let within = code != 0
                    && t.checked_sub(touch)
                        .is_some_and(|d| (0..=horizon).contains(&d));
                if let Some(r) = revenue.get_mut(code as usize).filter(|_| within) {
                    *r = r.saturating_add(u128::from(fen));
                }
            }
            (revenue, total)
        });
        let mut parts = parts.into_iter();
        let (mut revenue, mut total) = parts.next().unwrap_or_default();
        for (r, t) in parts {
            total = total.saturating_add(t);
            for (a, b) in revenue.iter_mut().zip(r) {
                *a = a.saturating_add(b);
            }
        }
        let events = EventColumns::new(cols.patient_count, cols.patient, cols.kind, cols.at)
            .with_dimension(&dim);
        let funnel = self.funnel.compute_columns(&events, threads)?;
        let revenue_fen = revenue
            .into_iter()
            .enumerate()
            .filter(|(_, r)| *r > 0)
            .filter_map(|(c, r)| Some((u32::try_from(c).ok()?, r)))
            .collect();
        Ok(AcquisitionState {
            funnel,
            revenue_fen,
            total_revenue_fen: total,
        })
    }
}

fn check_columns(cols: &AcquisitionColumns<'_>, max_code: u32) -> Result<(), ContentError> {
    if max_code as usize > super::PostBook::MAX_POSTS {
        return Err(ContentError::TooManyPosts {
            count: max_code as usize,
            max: super::PostBook::MAX_POSTS,
        });
    }
    let n = cols.patient.len();
    let lens = [
        cols.kind.len(),
        cols.at.len(),
        cols.post.len(),
        cols.amount_fen.len(),
    ];
    if lens.iter().any(|&l| l != n) {
        return Err(ContentError::ColumnLengths {
            patient: n,
            kind: cols.kind.len(),
            at: cols.at.len(),
            post: cols.post.len(),
            amount: cols.amount_fen.len(),
        });
    }
    for (row, (&p, &code)) in cols.patient.iter().zip(cols.post).enumerate() {
        if p >= cols.patient_count {
            return Err(ContentError::PatientOutOfRange {
                row,
                patient: p,
                patient_count: cols.patient_count,
            });
        }
        if code > max_code {
            return Err(ContentError::UnknownPostCode {
                row,
                code,
                max_code,
            });
        }
    }
    Ok(())
}
