//! Reward decisions: what each referral earned, for whom, and where it stands.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::forest::ReferralForest;
use super::schedule::{Beneficiary, Reward, RewardCaps, RewardSchedule, RuleId};
use crate::calendar::{ClinicCalendar, Period, SECONDS_PER_DAY};
use crate::id::{PatientId, VisitId};
use crate::journey::Visit;
use crate::money::Yuan;

/// Which cap held a reward back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "cap")]
#[non_exhaustive]
pub enum CapKind {
    /// The per-month cap, for the clinic calendar month starting on `month`.
    Month {
        /// The first local date of the month.
        #[serde(with = "crate::calendar::in_range::date")]
        month: NaiveDate,
    },
    /// The lifetime cap.
    Lifetime,
}

/// Where a reward stands at the statement's `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
#[non_exhaustive]
pub enum RewardStatus {
    /// Earned, waiting out the pending delay: not yet spendable.
    Pending {
        /// When it will be approved, unless the visit is refunded first.
        approves_at: DateTime<Utc>,
    },
    /// Earned and past the delay: the host pays it.
    Approved {
        /// When it was approved.
        #[serde(with = "crate::calendar::in_range::instant")]
        approved_at: DateTime<Utc>,
    },
    /// The qualifying visit was refunded: the reward is void, and taken back if it was paid.
    Reversed {
        /// When the visit was refunded.
        #[serde(with = "crate::calendar::in_range::instant")]
        refunded_at: DateTime<Utc>,
    },
    /// A cap held it back: nothing is paid.
    Withheld {
        /// The cap that was full.
        cap: CapKind,
    },
}

impl RewardStatus {
    /// The lowercase code: `pending`, `approved`, `reversed` or `withheld`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RewardStatus::Pending { .. } => "pending",
            RewardStatus::Approved { .. } => "approved",
            RewardStatus::Reversed { .. } => "reversed",
            RewardStatus::Withheld { .. } => "withheld",
        }
    }
}

/// One reward decision, with its provenance: who gets what, because of which referral,
/// which visit and which rule. It is an effect: the host (or the points module) carries out
/// approved rewards and takes back reversed ones it already paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[must_use = "a reward decision is an effect the host must carry out"]
pub struct RewardDecision {
    /// The rule that made it.
    pub rule: RuleId,
    /// Who receives it.
    pub beneficiary: PatientId,
    /// The beneficiary's side of the referral.
    pub role: Beneficiary,
    /// The referee whose visit qualified.
    pub referee: PatientId,
    /// The referee's direct referrer.
    pub referrer: PatientId,
    /// The referee's first qualifying paid visit.
    pub visit: VisitId,
    /// When it happened.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub visit_at: DateTime<Utc>,
    /// What was paid.
    pub paid: Yuan,
    /// The reward.
    pub reward: Reward,
    /// Where it stands.
    pub status: RewardStatus,
}

impl fmt::Display for RewardDecision {
    /// The provenance in one line, for an audit log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.role {
            Beneficiary::Referee => "as the new patient".to_owned(),
            Beneficiary::Referrer { level: 1 } => "as referrer".to_owned(),
            Beneficiary::Referrer { level } => format!("as level-{level} referrer"),
        };
        write!(
            f,
            "{} gets {} {side}: {} referred {}, whose first paid visit {} (¥{}) qualified under rule {}; {}",
            self.beneficiary,
            self.reward,
            self.referrer,
            self.referee,
            self.visit,
            self.paid,
            self.rule,
            self.status.code()
        )
    }
}

/// The referee's first qualifying paid visit: the earliest (ties by visit id) with
/// `paid >= min_paid`, refunded or not.
pub fn first_qualifying_visit<'a>(
    visits: impl IntoIterator<Item = &'a Visit>,
    referee: PatientId,
    min_paid: Yuan,
) -> Option<&'a Visit> {
    visits
        .into_iter()
        .filter(|v| v.patient == referee && v.paid >= min_paid)
        .min_by_key(|v| (v.at, v.id))
}

/// Decides every reward the forest's bindings earned by `as_of`.
///
/// The rules:
///
/// - A bound referee's reward comes from their first qualifying paid visit (the earliest with
///   `paid >= min_paid`, ties by visit id), never from sign-up. A later visit never replaces
///   it, even when it was refunded: one referral pays at most once.
/// - Each rule of the schedule names a beneficiary: the referee, the direct referrer, or
///   (depth 2 only) the referrer's referrer; a missing level-2 referrer simply gets nothing.
///   The referrer in force at `as_of` is the one rewarded.
/// - Referrer-side rewards count against the beneficiary's caps, per clinic calendar month
///   of the visit and for life; one referral counts once however many rules pay it.
///   Referrals are counted in visit order (ties by visit id, then referee), and a reward
///   counts even when it is later reversed, so a refund never turns a withheld reward into
///   a paid one after the fact. Referee-side rewards have no cap.
/// - Status at `as_of`: `Reversed` if the visit was refunded by then, else `Approved` once
///   `pending_days` whole days (of 24 h) have passed since the visit, else `Pending`.
///
/// Decisions come in visit order, then in rule order. Runs in O(v + b) for v visits and b
/// bound referees when few qualifying visits share a second (a radix sort on the second),
/// O(v + b log b) at worst.
#[must_use]
pub fn decide_rewards(
    forest: &ReferralForest,
    visits: &[Visit],
    schedule: &RewardSchedule,
    as_of: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Vec<RewardDecision> {
    let first = first_visits(forest, visits, schedule.min_paid());
    let mut keys = bound_keys(forest, visits, &first);
    drop(first);
    sort_keys(&mut keys, forest);

    let pending =
        Duration::seconds(i64::from(schedule.pending_days()).saturating_mul(SECONDS_PER_DAY));
    let caps = schedule.caps();
    let mut counters = CapCounters::new(caps, forest.len());
    let mut month = MonthCache::new(calendar);
    let depth = u32::from(schedule.depth());
    let mut out = Vec::with_capacity(keys.len().saturating_mul(schedule.rules().len()));
    // In blocks, as in `bind_all`: first gather the block's records (independent loads at
    // random positions, which the processor overlaps), then decide them in order.
    const BLOCK: usize = 64;
    let mut block: Vec<Qualified> = Vec::with_capacity(BLOCK);
    for chunk in keys.chunks(BLOCK) {
        gather(chunk, visits, forest, &counters, pending, as_of, &mut block);
        for q in block.drain(..) {
            let month = if caps.per_month.is_some() {
                month.of(q.at)
            } else {
                NaiveDate::MIN
            };
            let referral = Referral {
                q: &q,
                month,
                depth,
                forest,
            };
            referral.decide(schedule, &mut counters, &mut out);
        }
    }
    out
}

/// Each member's first qualifying visit (`paid >= min_paid`, earliest, ties by visit id),
/// as a visit position (`NO_VISIT`: none), indexed by forest position.
fn first_visits(forest: &ReferralForest, visits: &[Visit], min_paid: Yuan) -> Vec<u32> {
    let mut first: Vec<u32> = vec![NO_VISIT; forest.len()];
    for (vi, v) in visits.iter().enumerate() {
        if v.paid < min_paid {
            continue;
        }
        let Some(ri) = forest.index_of(v.patient) else {
            continue;
        };
        let vi = match u32::try_from(vi) {
            Ok(vi) if vi != NO_VISIT => vi,
            _ => break,
        };
        if let Some(slot) = first.get_mut(ri as usize) {
            let earlier = match visits.get(*slot as usize) {
                Some(o) => (v.at, v.id) < (o.at, o.id),
                None => true,
            };
            if earlier {
                *slot = vi;
            }
        }
    }
    first
}

/// Bound referees with a qualifying visit, as small integer sort keys: sorting 32-byte keys
/// (radix on the second, comparisons only within a second) is what keeps a million
/// referrals fast; the records are gathered again, a block at a time, by [`gather`].
fn bound_keys(forest: &ReferralForest, visits: &[Visit], first: &[u32]) -> Vec<Key> {
    first
        .iter()
        .enumerate()
        .filter_map(|(ri, vi)| {
            let ri = u32::try_from(ri).ok()?;
            // Bound is enough here: the referrer's id is read in the time-ordered loop.
            if !forest.is_bound_at(ri) {
                return None;
            }
            let parent = forest.parent_index(ri);
            let v = visits.get(*vi as usize)?;
            Some(Key {
                secs: order_secs(v.at),
                visit: v.id.get(),
                nanos: v.at.timestamp_subsec_nanos(),
                ri,
                vi: *vi,
                parent,
            })
        })
        .collect()
}

/// Replaces `block` with the records of the referrals in `chunk`, in order.
#[inline]
fn gather(
    chunk: &[Key],
    visits: &[Visit],
    forest: &ReferralForest,
    counters: &CapCounters,
    pending: Duration,
    as_of: DateTime<Utc>,
    block: &mut Vec<Qualified>,
) {
    block.clear();
    // A light loop that only loads (a record may straddle two cache lines, so both ends
    // are touched), so that many loads are in flight at once.
    let mut warm = 0u64;
    for k in chunk {
        if let Some(v) = visits.get(k.vi as usize) {
            warm ^= v.id.get() ^ u64::from(v.refunded_at.is_some());
        }
        warm ^= forest.id_at(k.ri).map_or(0, |id| id.get())
            ^ forest.id_at(k.parent).map_or(0, |id| id.get())
            ^ u64::from(counters.peek(k.parent));
    }
    for k in chunk {
        let parent = k.parent;
        let (Some(v), Some(referee), Some(referrer)) = (
            visits.get(k.vi as usize),
            forest.id_at(k.ri),
            forest.id_at(parent),
        ) else {
            continue;
        };
        block.push(Qualified {
            at: v.at,
            visit: v.id,
            referee,
            referrer,
            parent,
            paid: v.paid,
            earned: status_of(v, pending, as_of),
        });
    }
    std::hint::black_box(warm);
}

/// One qualifying referral being decided, with what its decisions read.
struct Referral<'a> {
    q: &'a Qualified,
    /// The clinic calendar month of the visit (`NaiveDate::MIN` without a monthly cap).
    month: NaiveDate,
    depth: u32,
    forest: &'a ReferralForest,
}

impl Referral<'_> {
    /// Appends the referral's decisions to `out`, in rule order.
    #[inline]
    fn decide(
        &self,
        schedule: &RewardSchedule,
        counters: &mut CapCounters,
        out: &mut Vec<RewardDecision>,
    ) {
        let q = self.q;
        // Per level (index 1 and 2): the beneficiary's status for this referral, decided once.
        let mut level_status: [Option<RewardStatus>; 3] = [None; 3];
        for rule in schedule.rules() {
            let (beneficiary, status) = match rule.beneficiary {
                Beneficiary::Referee => (q.referee, q.earned),
                Beneficiary::Referrer { level } => {
                    match self.referrer_side(level, counters, &mut level_status) {
                        Some(side) => side,
                        None => continue,
                    }
                }
            };
            out.push(RewardDecision {
                rule: rule.id.clone(),
                beneficiary,
                role: rule.beneficiary,
                referee: q.referee,
                referrer: q.referrer,
                visit: q.visit,
                visit_at: q.at,
                paid: q.paid,
                reward: rule.reward.clone(),
                status,
            });
        }
    }

    /// The referrer at `level` and their status, the first rule for a level counting the
    /// referral against their caps; `None` when the schedule's depth or the forest has no
    /// such referrer.
    #[inline]
    fn referrer_side(
        &self,
        level: u8,
        counters: &mut CapCounters,
        level_status: &mut [Option<RewardStatus>; 3],
    ) -> Option<(PatientId, RewardStatus)> {
        let q = self.q;
        let level = u32::from(level);
        let node = match level {
            1 => q.parent,
            2 if self.depth >= 2 => self.forest.parent_index(q.parent),
            _ => return None,
        };
        let who = if level == 1 {
            q.referrer
        } else {
            self.forest.id_at(node)?
        };
        let status = match level_status.get_mut(level as usize)? {
            Some(s) => *s,
            slot @ None => {
                let s = counters
                    .take(node, self.month)
                    .map_or(q.earned, |cap| RewardStatus::Withheld { cap });
                *slot = Some(s);
                s
            }
        };
        Some((who, status))
    }
}

/// No qualifying visit.
const NO_VISIT: u32 = u32::MAX;

/// The sort key of a bound referee's first qualifying visit: (instant, visit id, referee),
/// the referee only read for the rare full tie.
#[derive(Debug, Clone, Copy, Default)]
struct Key {
    /// The instant's Unix second, sign bit flipped so that unsigned order is time order.
    secs: u64,
    visit: u64,
    nanos: u32,
    /// The referee's position in the forest.
    ri: u32,
    /// The visit's position in the input.
    vi: u32,
    /// The referee's referrer's position in the forest.
    parent: u32,
}

fn order_secs(at: DateTime<Utc>) -> u64 {
    (at.timestamp() as u64) ^ (1 << 63)
}

/// Sorts keys by (instant, visit id, referee id): an LSD radix sort on the second (stable,
/// O(n) per 12-bit digit of the seconds' span), then a comparison sort within each run of
/// equal seconds, which is short unless many visits share a second.
fn sort_keys(keys: &mut Vec<Key>, forest: &ReferralForest) {
    let full = |a: &Key, b: &Key| {
        (a.secs, a.nanos, a.visit)
            .cmp(&(b.secs, b.nanos, b.visit))
            .then_with(|| forest.id_at(a.ri).cmp(&forest.id_at(b.ri)))
    };
    const SMALL: usize = 1024;
    const MAX_DIGIT: u32 = 12;
    if keys.len() < SMALL {
        keys.sort_unstable_by(full);
        return;
    }
    let lo = keys.iter().map(|k| k.secs).min().unwrap_or(0);
    let hi = keys.iter().map(|k| k.secs).max().unwrap_or(0);
    let bits = u64::BITS - (hi - lo).leading_zeros();
    // As few passes as digits of at most 12 bits allow (two for half a year of seconds).
    let width = bits.div_ceil(bits.div_ceil(MAX_DIGIT).max(1)).max(1);
    let mask = (1u64 << width) - 1;
    let mut buf = vec![Key::default(); keys.len()];
    let mut shift = 0;
    while shift < bits {
        let digit = |k: &Key| ((k.secs - lo) >> shift & mask) as usize;
        let mut start = [0usize; 1 << MAX_DIGIT];
        for k in keys.iter() {
            if let Some(c) = start.get_mut(digit(k)) {
                *c += 1;
            }
        }
        let mut sum = 0;
        for c in &mut start {
            (*c, sum) = (sum, sum + *c);
        }
        for k in keys.iter() {
            if let Some(at) = start.get_mut(digit(k)) {
                if let Some(slot) = buf.get_mut(*at) {
                    *slot = *k;
                }
                *at += 1;
            }
        }
        std::mem::swap(keys, &mut buf);
        shift += width;
    }
    for run in keys.chunk_by_mut(|a, b| a.secs == b.secs) {
        if run.len() > 1 {
            run.sort_unstable_by(full);
        }
    }
}

/// A bound referee's first qualifying visit, with everything its decisions need.
struct Qualified {
    at: DateTime<Utc>,
    visit: VisitId,
    referee: PatientId,
    referrer: PatientId,
    parent: u32,
    paid: Yuan,
    earned: RewardStatus,
}

/// Where a reward on `visit` stands at `as_of`, caps aside.
fn status_of(visit: &Visit, pending: Duration, as_of: DateTime<Utc>) -> RewardStatus {
    if let Some(refunded_at) = visit.refunded_at.filter(|r| *r <= as_of) {
        return RewardStatus::Reversed { refunded_at };
    }
    let approves_at = visit
        .at
        .checked_add_signed(pending)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if as_of >= approves_at {
        RewardStatus::Approved {
            approved_at: approves_at,
        }
    } else {
        RewardStatus::Pending { approves_at }
    }
}

/// The clinic month of an instant, remembering the last month's bounds: decisions are made
/// in time order, so almost every lookup hits.
struct MonthCache {
    calendar: ClinicCalendar,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    month: NaiveDate,
}

impl MonthCache {
    fn new(calendar: ClinicCalendar) -> Self {
        MonthCache {
            calendar,
            start: DateTime::<Utc>::MAX_UTC,
            end: DateTime::<Utc>::MIN_UTC,
            month: NaiveDate::MIN,
        }
    }

    fn of(&mut self, at: DateTime<Utc>) -> NaiveDate {
        if at < self.start || at >= self.end {
            self.month = self.calendar.bucket(at, Period::Month);
            self.start = self.calendar.start_of(self.month);
            self.end = self.calendar.end_of_period(at, Period::Month);
        }
        self.month
    }
}

/// Per-beneficiary cap counters, one slot per member. Referrals arrive in time order, so a
/// month counter only ever needs the beneficiary's latest month: a new month resets it.
struct CapCounters {
    caps: RewardCaps,
    /// (lifetime count, count in `month`, `month`).
    slots: Vec<(u32, u32, NaiveDate)>,
}

impl CapCounters {
    fn new(caps: RewardCaps, n: usize) -> Self {
        let on = caps.lifetime.is_some() || caps.per_month.is_some();
        CapCounters {
            caps,
            slots: vec![(0, 0, NaiveDate::MIN); if on { n } else { 0 }],
        }
    }

    /// Reads the beneficiary's counters, to have them in cache when [`Self::take`] comes.
    fn peek(&self, node: u32) -> u32 {
        self.slots.get(node as usize).map_or(0, |s| s.0)
    }

    /// Takes one slot of the beneficiary's caps, or says which cap is full.
    fn take(&mut self, node: u32, month: NaiveDate) -> Option<CapKind> {
        // No slots means no caps: nothing can be full.
        let slot = self.slots.get_mut(node as usize)?;
        let (life, in_month, m) = *slot;
        if self.caps.lifetime.is_some_and(|c| life >= c) {
            return Some(CapKind::Lifetime);
        }
        let this_month = if m == month { in_month } else { 0 };
        if self.caps.per_month.is_some_and(|c| this_month >= c) {
            return Some(CapKind::Month { month });
        }
        *slot = (life.saturating_add(1), this_month.saturating_add(1), month);
        None
    }
}
