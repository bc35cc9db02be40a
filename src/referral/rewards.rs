//! Reward decisions: what each referral earned, for whom, and where it stands.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::forest::ReferralForest;
use super::schedule::{Beneficiary, Caps, Reward, RewardSchedule, RuleId};
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
        approved_at: DateTime<Utc>,
    },
    /// The qualifying visit was refunded: the reward is void, and taken back if it was paid.
    Reversed {
        /// When the visit was refunded.
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
/// Decisions come in visit order, then in rule order. Runs in O(v + b log b) for v visits
/// and b bound referees.
pub fn decide_rewards(
    forest: &ReferralForest,
    visits: &[Visit],
    schedule: &RewardSchedule,
    as_of: DateTime<Utc>,
    calendar: ClinicCalendar,
) -> Vec<RewardDecision> {
    let min_paid = schedule.min_paid();
    let mut first: Vec<Option<u32>> = vec![None; forest.len()];
    for (vi, v) in visits.iter().enumerate() {
        if v.paid < min_paid {
            continue;
        }
        let Some(ri) = forest.index_of(v.patient) else {
            continue;
        };
        let Ok(vi) = u32::try_from(vi) else { break };
        if let Some(slot) = first.get_mut(ri as usize) {
            let earlier = match slot.and_then(|o| visits.get(o as usize)) {
                Some(o) => (v.at, v.id) < (o.at, o.id),
                None => true,
            };
            if earlier {
                *slot = Some(vi);
            }
        }
    }
    // Everything the decisions need from the forest is read here, in member order, where
    // the reads are independent and overlap; the time-ordered loop below then touches
    // little but the cap counters, and the sort keys never reach into the forest.
    let pending =
        Duration::seconds(i64::from(schedule.pending_days()).saturating_mul(SECONDS_PER_DAY));
    let mut events: Vec<Qualified> = first
        .iter()
        .enumerate()
        .filter_map(|(ri, vi)| {
            let ri = u32::try_from(ri).ok()?;
            let parent = forest.parent_index(ri);
            let referrer = forest.id_at(parent)?;
            let v = visits.get((*vi)? as usize)?;
            Some(Qualified {
                at: v.at,
                visit: v.id,
                referee: forest.id_at(ri)?,
                referrer,
                parent,
                paid: v.paid,
                earned: status_of(v, pending, as_of),
            })
        })
        .collect();
    events.sort_unstable_by_key(|q| (q.at, q.visit, q.referee));

    let caps = schedule.caps();
    let mut counters = CapCounters::new(caps, forest.len());
    let mut month = MonthCache::new(calendar);
    let depth = u32::from(schedule.depth());
    let mut out = Vec::with_capacity(events.len().saturating_mul(schedule.rules().len()));
    for q in events {
        let (referee, referrer, parent, earned) = (q.referee, q.referrer, q.parent, q.earned);
        let month = if caps.per_month.is_some() {
            month.of(q.at)
        } else {
            NaiveDate::MIN
        };
        // Per level (index 1 and 2): the beneficiary's status for this referral, decided once.
        let mut level_status: [Option<RewardStatus>; 3] = [None; 3];
        for rule in schedule.rules() {
            let (beneficiary, status) = match rule.beneficiary {
                Beneficiary::Referee => (referee, earned),
                Beneficiary::Referrer { level } => {
                    let level = u32::from(level);
                    let node = match level {
                        1 => parent,
                        2 if depth >= 2 => forest.parent_index(parent),
                        _ => continue,
                    };
                    let who = if level == 1 {
                        referrer
                    } else {
                        match forest.id_at(node) {
                            Some(who) => who,
                            None => continue,
                        }
                    };
                    let slot = level_status.get_mut(level as usize);
                    let status = match slot {
                        Some(Some(s)) => *s,
                        Some(slot) => {
                            let s = counters
                                .take(node, month)
                                .map_or(earned, |cap| RewardStatus::Withheld { cap });
                            *slot = Some(s);
                            s
                        }
                        None => continue,
                    };
                    (who, status)
                }
            };
            out.push(RewardDecision {
                rule: rule.id.clone(),
                beneficiary,
                role: rule.beneficiary,
                referee,
                referrer,
                visit: q.visit,
                visit_at: q.at,
                paid: q.paid,
                reward: rule.reward.clone(),
                status,
            });
        }
    }
    out
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
    caps: Caps,
    /// (lifetime count, count in `month`, `month`).
    slots: Vec<(u32, u32, NaiveDate)>,
}

impl CapCounters {
    fn new(caps: Caps, n: usize) -> Self {
        let on = caps.lifetime.is_some() || caps.per_month.is_some();
        CapCounters {
            caps,
            slots: vec![(0, 0, NaiveDate::MIN); if on { n } else { 0 }],
        }
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
