//! Attribution of patients to posts, through the funnel engine.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicI64, AtomicU64};

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
        let won = self.touches(cols, max_code, 1)?;
        Ok((0..cols.patient_count as usize)
            .map(|p| won.get(p))
            .collect())
    }

    /// Checks the columns and picks each patient's touch, on `threads` chunks of rows.
    fn touches(
        &self,
        cols: &AcquisitionColumns<'_>,
        max_code: u32,
        threads: usize,
    ) -> Result<Touches, ContentError> {
        let threads = threads.max(1);
        let n = cols.patient_count as usize;
        let chunks = split(cols.patient.len(), threads);
        let first_paid: Vec<AtomicI64> = (0..n).map(|_| AtomicI64::new(i64::MAX)).collect();
        // Pass 1: the checks, each patient's first paid visit, and the touches' time range.
        let scans = fan_out_owned(chunks.clone(), |r| {
            scan_chunk(cols, max_code, r, &first_paid)
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let range = scans
            .iter()
            .filter_map(|s| s.touch_range)
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
        let code_bits = 32 - max_code.leading_zeros();
        let Some(packing) = Packing::new(range, code_bits) else {
            // Touch times too far apart to pack beside a code: the plain way, on one
            // thread (no real journey spans that).
            return Ok(Touches::Plain(self.plain(cols, &first_paid)));
        };
        // Pass 2: each touch at or before its patient's first paid visit competes for the
        // patient with one atomic min (first touch) or max (last touch) of `(at, code)`
        // packed into one number, so chunks need no merge and the winner is the same
        // whatever the order.
        let none = match self.rule {
            TouchRule::FirstTouch => u64::MAX,
            TouchRule::LastTouch => 0,
        };
        let best: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(none)).collect();
        let rule = self.rule;
        fan_out_owned(chunks, |r| {
            let rows = cols
                .patient
                .get(r.clone())
                .unwrap_or(&[])
                .iter()
                .zip(cols.at.get(r.clone()).unwrap_or(&[]))
                .zip(cols.post.get(r).unwrap_or(&[]));
            for ((&p, &t), &code) in rows {
                if code == 0 {
                    continue;
                }
                let p = p as usize;
                let paid = first_paid.get(p).map_or(i64::MAX, |f| f.load(Relaxed));
                if t > paid {
                    continue;
                }
                if let Some(b) = best.get(p) {
                    let v = packing.pack(t, code);
                    match rule {
                        TouchRule::FirstTouch => b.fetch_min(v, Relaxed),
                        TouchRule::LastTouch => b.fetch_max(v, Relaxed),
                    };
                }
            }
        });
        Ok(Touches::Packed {
            packing,
            none,
            best: best.into_iter().map(AtomicU64::into_inner).collect(),
        })
    }

    /// The touches the plain way: a pass over every row, comparing `(at, code)` pairs.
    fn plain(&self, cols: &AcquisitionColumns<'_>, first_paid: &[AtomicI64]) -> Vec<(i64, u32)> {
        let mut best = vec![NO_TOUCH; cols.patient_count as usize];
        let rows = cols.patient.iter().zip(cols.at).zip(cols.post);
        for ((&p, &t), &code) in rows {
            let Some(b) = best.get_mut(p as usize).filter(|_| code != 0) else {
                continue;
            };
            if t > first_paid
                .get(p as usize)
                .map_or(i64::MAX, |f| f.load(Relaxed))
            {
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
        best
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
        let threads = threads.max(1);
        let best = self.touches(cols, max_code, threads)?;
        let (revenue, total) = self.revenue(cols, &best, max_code, threads);
        // The funnel takes each patient's post once, rather than a column that gives every
        // row its patient's post: building that column was a random read of the patients'
        // touches per row (most of the attribution's time), and the engine reads the posts
        // in patient order.
        let posts = best.posts(cols.patient_count as usize, threads);
        let events = EventColumns::new(cols.patient_count, cols.patient, cols.kind, cols.at);
        let funnel = self
            .funnel
            .compute_columns_by_patient(&events, &posts, threads)?;
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

    /// Each post's revenue (indexed by code) and the revenue of every purchase, from one
    /// pass over the rows on `threads` chunks, each with its own table: saturating sums of
    /// non-negative amounts are associative, so the chunks add up to what one pass gives.
    fn revenue(
        &self,
        cols: &AcquisitionColumns<'_>,
        best: &Touches,
        max_code: u32,
        threads: usize,
    ) -> (Vec<u128>, u128) {
        let purchased = JourneyEventKind::stage(JourneyStage::Purchased).code();
        let horizon = i64::from(self.revenue_days) * 86_400;
        let parts = fan_out_owned(split(cols.patient.len(), threads), |r| {
            let mut revenue = vec![0u128; max_code as usize + 1];
            let mut total: u128 = 0;
            let rows = cols
                .patient
                .get(r.clone())
                .unwrap_or(&[])
                .iter()
                .zip(cols.kind.get(r.clone()).unwrap_or(&[]))
                .zip(cols.at.get(r.clone()).unwrap_or(&[]))
                .zip(cols.amount_fen.get(r).unwrap_or(&[]));
            for (((&p, &k), &t), &fen) in rows {
                if k != purchased || fen == 0 {
                    continue;
                }
                total = total.saturating_add(u128::from(fen));
                let (touch, code) = best.get(p as usize);
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
        (revenue, total)
    }
}

/// What the first pass found in one chunk of rows.
struct ChunkScan {
    /// The least and greatest time of the chunk's touches.
    touch_range: Option<(i64, i64)>,
}

/// The first pass over rows `r`: the checks of [`AcquisitionSpec::compute`] (lengths, patient
/// numbers, post codes), each patient's first paid visit (an atomic min into `first_paid`),
/// and the time range of the touches. A refusal names the chunk's first bad row; chunks
/// run in row order, so the first chunk's refusal is the first bad row of all.
fn scan_chunk(
    cols: &AcquisitionColumns<'_>,
    max_code: u32,
    r: std::ops::Range<usize>,
    first_paid: &[AtomicI64],
) -> Result<ChunkScan, ContentError> {
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
    let purchased = JourneyEventKind::stage(JourneyStage::Purchased).code();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    let start = r.start;
    let rows = cols
        .patient
        .get(r.clone())
        .unwrap_or(&[])
        .iter()
        .zip(cols.kind.get(r.clone()).unwrap_or(&[]))
        .zip(cols.at.get(r.clone()).unwrap_or(&[]))
        .zip(cols.post.get(r).unwrap_or(&[]));
    for (i, (((&p, &k), &t), &code)) in rows.enumerate() {
        if p >= cols.patient_count {
            return Err(ContentError::PatientOutOfRange {
                row: start + i,
                patient: p,
                patient_count: cols.patient_count,
            });
        }
        if code > max_code {
            return Err(ContentError::UnknownPostCode {
                row: start + i,
                code,
                max_code,
            });
        }
        if k == purchased
            && let Some(f) = first_paid.get(p as usize)
        {
            f.fetch_min(t, Relaxed);
        }
        if code != 0 {
            lo = lo.min(t);
            hi = hi.max(t);
        }
    }
    Ok(ChunkScan {
        touch_range: (lo <= hi).then_some((lo, hi)),
    })
}

/// How a touch `(at, code)` packs into one `u64`: the time after the earliest touch
/// above `code_bits` bits of code, so that the order of packed numbers is the order of
/// `(at, code)` pairs.
#[derive(Debug, Clone, Copy)]
struct Packing {
    base: i64,
    code_bits: u32,
}

impl Packing {
    /// A packing for touches in `range`, if their times and codes fit in 64 bits.
    fn new(range: Option<(i64, i64)>, code_bits: u32) -> Option<Packing> {
        let (lo, hi) = range.unwrap_or((0, 0));
        let span = u64::try_from(i128::from(hi) - i128::from(lo)).ok()?;
        let time_bits = 64 - span.leading_zeros();
        // One bit to spare keeps every packed touch below `u64::MAX`, the first-touch "none".
        (time_bits + code_bits <= 63).then_some(Packing {
            base: lo,
            code_bits,
        })
    }

    fn pack(self, t: i64, code: u32) -> u64 {
        let since = t.wrapping_sub(self.base) as u64;
        (since << self.code_bits) | u64::from(code)
    }

    fn unpack(self, v: u64) -> (i64, u32) {
        let mask = (1u64 << self.code_bits) - 1;
        let code = u32::try_from(v & mask).unwrap_or(0);
        (self.base.wrapping_add((v >> self.code_bits) as i64), code)
    }
}

/// Each patient's winning touch.
enum Touches {
    /// Packed ([`Packing`]), `none` for a patient without one.
    Packed {
        packing: Packing,
        none: u64,
        best: Vec<u64>,
    },
    /// As pairs, [`NO_TOUCH`] for none.
    Plain(Vec<(i64, u32)>),
}

impl Touches {
    /// Patient `p`'s touch, [`NO_TOUCH`] for none.
    #[inline]
    fn get(&self, p: usize) -> (i64, u32) {
        match self {
            Touches::Packed {
                packing,
                none,
                best,
            } => match best.get(p) {
                Some(&v) if v != *none => packing.unpack(v),
                _ => NO_TOUCH,
            },
            Touches::Plain(best) => best.get(p).copied().unwrap_or(NO_TOUCH),
        }
    }

    /// The post of each of the `n` patients (0: none), on `threads` chunks of patients.
    fn posts(&self, n: usize, threads: usize) -> Vec<u32> {
        let mut posts = vec![0u32; n];
        let mut work = Vec::with_capacity(threads);
        let mut rest: &mut [u32] = &mut posts;
        for r in split(n, threads) {
            let (head, tail) = rest.split_at_mut(r.len().min(rest.len()));
            work.push((r, head));
            rest = tail;
        }
        fan_out_owned(work, |(r, out)| {
            for (p, o) in r.zip(out) {
                *o = self.get(p).1;
            }
        });
        posts
    }
}
