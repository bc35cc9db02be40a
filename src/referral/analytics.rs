//! Referral analytics: tree shape, advocates, conversion and the viral K-factor.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use super::forest::{BindOutcome, ReferralForest, instant_key};
use crate::id::PatientId;
use crate::journey::Visit;
use crate::money::Yuan;

const UNSET: u32 = u32::MAX;

/// Nanoseconds in a second.
const NANOS: u32 = 1_000_000_000;

/// Whole-forest figures, computed once in O(n) by [`ReferralForest::stats`]: the depth and
/// subtree size of every member, and a child index for per-level counts.
#[derive(Debug, Clone)]
pub struct ForestStats<'a> {
    forest: &'a ReferralForest,
    depth: Vec<u32>,
    subtree: Vec<u32>,
    child_start: Vec<u32>,
    children: Vec<u32>,
    max_depth: u32,
}

/// A patient who brought others, as ranked by [`ForestStats::top_advocates`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Advocate {
    /// The patient.
    pub patient: PatientId,
    /// Patients they referred directly.
    pub referrals: u32,
    /// Everyone below them in the tree, at any depth.
    pub descendants: u32,
}

impl ReferralForest {
    /// Computes depth and subtree size for every member, in O(n).
    #[must_use]
    pub fn stats(&self) -> ForestStats<'_> {
        let n = self.len();
        let parent = |i: u32| self.parent_index(i);
        let valid = |p: u32| (p as usize) < n;

        // Depths: walk up to the first node with a known depth, then fill the path down.
        let mut depth = vec![UNSET; n];
        let mut path: Vec<u32> = Vec::new();
        for i in 0..n {
            let mut cur = i as u32;
            while valid(cur) && depth[cur as usize] == UNSET && path.len() <= n {
                path.push(cur);
                cur = parent(cur);
            }
            let mut next = if valid(cur) {
                depth[cur as usize].saturating_add(1)
            } else {
                0
            };
            while let Some(x) = path.pop() {
                depth[x as usize] = next;
                next = next.saturating_add(1);
            }
        }
        let max_depth = depth.iter().copied().max().unwrap_or(0);

        // Children in compressed rows, and an order by depth (deepest first) from a counting
        // sort, so subtree sizes accumulate in one pass.
        let mut child_start = vec![0u32; n + 1];
        for i in 0..n as u32 {
            let p = parent(i);
            if valid(p) {
                child_start[p as usize + 1] += 1;
            }
        }
        for i in 0..n {
            child_start[i + 1] += child_start[i];
        }
        let mut fill = child_start.clone();
        let mut children = vec![0u32; child_start[n] as usize];
        let mut by_depth = vec![0u32; max_depth as usize + 2];
        for i in 0..n as u32 {
            let p = parent(i);
            if valid(p) {
                let slot = &mut fill[p as usize];
                children[*slot as usize] = i;
                *slot += 1;
            }
            by_depth[depth[i as usize] as usize + 1] += 1;
        }
        for d in 0..=max_depth as usize {
            by_depth[d + 1] += by_depth[d];
        }
        let mut order = vec![0u32; n];
        for i in 0..n as u32 {
            let d = depth[i as usize] as usize;
            order[by_depth[d] as usize] = i;
            by_depth[d] += 1;
        }
        let mut subtree = vec![1u32; n];
        for &i in order.iter().rev() {
            let p = parent(i);
            if valid(p) {
                subtree[p as usize] = subtree[p as usize].saturating_add(subtree[i as usize]);
            }
        }
        ForestStats {
            forest: self,
            depth,
            subtree,
            child_start,
            children,
            max_depth,
        }
    }
}

impl ForestStats<'_> {
    fn at(&self, id: PatientId) -> Option<usize> {
        self.forest.index_of(id).map(|i| i as usize)
    }

    /// The longest chain of bindings: A→B→C is 2; 0 when nobody is bound.
    #[must_use]
    pub fn max_depth(&self) -> u32 {
        self.max_depth
    }

    /// A member's depth (0 for a root).
    #[must_use]
    pub fn depth(&self, id: PatientId) -> Option<u32> {
        self.depth.get(self.at(id)?).copied()
    }

    /// A member's subtree size, itself included.
    #[must_use]
    pub fn subtree_size(&self, id: PatientId) -> Option<u32> {
        self.subtree.get(self.at(id)?).copied()
    }

    /// How many members sit at each depth: `[roots, depth 1, depth 2, ...]`.
    #[must_use]
    pub fn members_per_depth(&self) -> Vec<u32> {
        let mut out = vec![0u32; self.max_depth as usize + usize::from(!self.depth.is_empty())];
        for &d in &self.depth {
            if let Some(c) = out.get_mut(d as usize) {
                *c += 1;
            }
        }
        out
    }

    /// A member's descendants per level below it: `[direct referees, their referees, ...]`,
    /// ending at the last non-empty level. O(subtree size).
    #[must_use]
    pub fn descendants_per_level(&self, id: PatientId) -> Vec<u32> {
        let Some(i) = self.at(id) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut level: Vec<u32> = vec![i as u32];
        while !level.is_empty() {
            let mut next = Vec::new();
            for &x in &level {
                let (lo, hi) = (
                    self.child_start.get(x as usize).copied().unwrap_or(0),
                    self.child_start.get(x as usize + 1).copied().unwrap_or(0),
                );
                next.extend(self.children.get(lo as usize..hi as usize).unwrap_or(&[]));
            }
            if next.is_empty() {
                break;
            }
            out.push(u32::try_from(next.len()).unwrap_or(u32::MAX));
            level = next;
        }
        out
    }

    /// The `k` members with the most direct referrals; ties go to more descendants, then to
    /// the lower patient id. Members who referred nobody are never listed.
    #[must_use]
    pub fn top_advocates(&self, k: usize) -> Vec<Advocate> {
        let mut all: Vec<Advocate> = (0..self.subtree.len())
            .filter_map(|i| {
                let ix = u32::try_from(i).ok()?;
                let referrals = self.forest.referrals_at(ix);
                (referrals > 0).then(|| Advocate {
                    patient: self.forest.id_at(ix).unwrap_or(PatientId::new(0)),
                    referrals,
                    descendants: self.subtree.get(i).copied().unwrap_or(1).saturating_sub(1),
                })
            })
            .collect();
        let key = |a: &Advocate| {
            (
                std::cmp::Reverse(a.referrals),
                std::cmp::Reverse(a.descendants),
                a.patient,
            )
        };
        if k < all.len() {
            all.select_nth_unstable_by_key(k, key);
            all.truncate(k);
        }
        all.sort_unstable_by_key(key);
        all
    }
}

/// Referral conversion: bound referees, and how many of them became paying patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Conversion {
    /// Referees with a binding in force.
    pub bound: u64,
    /// Bound referees with a visit paid at least the minimum and not refunded by `as_of`.
    pub converted: u64,
}

impl Conversion {
    /// `converted ÷ bound`, 0 when nobody is bound. A reporting-edge `f64`.
    #[must_use]
    pub fn rate(&self) -> f64 {
        if self.bound == 0 {
            0.0
        } else {
            self.converted as f64 / self.bound as f64
        }
    }
}

/// Counts referral conversion: bound, then a qualifying paid visit that was not refunded by
/// `as_of`. O(v).
#[must_use]
pub fn conversion(
    forest: &ReferralForest,
    visits: &[Visit],
    min_paid: Yuan,
    as_of: DateTime<Utc>,
) -> Conversion {
    let mut converted = vec![false; forest.len()];
    for v in visits {
        if v.paid < min_paid || v.is_refunded_by(as_of) {
            continue;
        }
        if let Some(i) = forest.index_of(v.patient)
            && forest.is_bound_at(i)
            && let Some(c) = converted.get_mut(i as usize)
        {
            *c = true;
        }
    }
    Conversion {
        bound: forest.bound_count() as u64,
        converted: converted.iter().filter(|c| **c).count() as u64,
    }
}

/// The viral loop of a referral program (裂变), and the growth it implies.
///
/// - invites per inviter = accepted bindings ÷ distinct patients who tried to refer someone
///   (refused attempts count as trying; a rebinding counts as an accepted binding);
/// - invite conversion = converted ÷ bound referees ([`Conversion`]);
/// - K = invites per inviter × invite conversion;
/// - cycle time = the median time from a referrer's first contact to a binding they made.
///
/// **Growth model.** [`ViralReport::project`] assumes every patient keeps inviting at the
/// same rate, cycle after cycle: users_n = users_0 × (1+K)^n, n counted in cycle times. It is
/// an upper bound; real programs decay as the easy friends are used up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[must_use]
pub struct ViralReport {
    /// Distinct patients who attempted at least one referral.
    pub inviters: u64,
    /// Accepted bindings.
    pub invites: u64,
    /// Referees bound and converted.
    pub conversion: Conversion,
    /// Median first contact → binding time of referrers, `None` when nobody is bound.
    pub cycle_time: Option<Duration>,
}

/// The most cycles [`ViralReport::project`] computes.
pub const MAX_PROJECTION_CYCLES: u32 = 1000;

impl ViralReport {
    /// Builds the report from a batch of outcomes ([`super::bind_all`]) and the conversion of
    /// the forest they were applied to.
    pub fn new(outcomes: &[BindOutcome], forest: &ReferralForest, conversion: Conversion) -> Self {
        // Members are marked in a bitmap; only referrers unknown to the forest need a set.
        let mut seen = vec![false; forest.len()];
        let mut strangers: HashSet<PatientId> = HashSet::new();
        let mut inviters = 0u64;
        // One pass over the outcomes: at a million they are read from memory, not cache.
        let mut invites = 0u64;
        for o in outcomes {
            invites += u64::from(o.result.is_ok());
            match forest.index_of(o.attempt.referrer) {
                Some(i) => {
                    if let Some(s) = seen.get_mut(i as usize)
                        && !*s
                    {
                        *s = true;
                        inviters += 1;
                    }
                }
                None => {
                    if strangers.insert(o.attempt.referrer) {
                        inviters += 1;
                    }
                }
            }
        }
        ViralReport {
            inviters,
            invites,
            conversion,
            cycle_time: cycle_time(forest),
        }
    }

    /// Accepted bindings per inviter, 0 without inviters.
    #[must_use]
    pub fn invites_per_inviter(&self) -> f64 {
        if self.inviters == 0 {
            0.0
        } else {
            self.invites as f64 / self.inviters as f64
        }
    }

    /// Share of bound referees who converted.
    #[must_use]
    pub fn invite_conversion(&self) -> f64 {
        self.conversion.rate()
    }

    /// K = invites per inviter × invite conversion.
    #[must_use]
    pub fn k_factor(&self) -> f64 {
        self.invites_per_inviter() * self.invite_conversion()
    }

    /// users_n = users_0 × (1+K)^n for n = 0..=cycles (at most
    /// [`MAX_PROJECTION_CYCLES`]): the growth model stated on [`ViralReport`].
    #[must_use]
    pub fn project(&self, users_0: u64, cycles: u32) -> Vec<f64> {
        let growth = 1.0 + self.k_factor();
        let mut cur = users_0 as f64;
        let mut out = Vec::new();
        for _ in 0..=cycles.min(MAX_PROJECTION_CYCLES) {
            out.push(cur);
            cur *= growth;
        }
        out
    }
}

/// The median time from a referrer's first contact to a binding in force they made (the
/// lower median for an even count; negative gaps count as zero). O(n).
#[must_use]
pub fn cycle_time(forest: &ReferralForest) -> Option<Duration> {
    let mut gaps: Vec<i64> = (0..forest.len())
        .filter_map(|i| {
            let i = u32::try_from(i).ok()?;
            let at = forest.bound_at_index(i)?;
            let parent = forest.parent_index(i);
            let (fs, fns) = forest.contact_at(parent)?;
            let (bs, bns) = instant_key(at);
            if fns < NANOS && bns < NANOS {
                // Whole seconds of the difference, truncated toward zero as chrono does, and
                // negative gaps as zero: a positive second count loses one when the
                // nanoseconds go backwards.
                let secs = bs.saturating_sub(fs);
                return Some(if secs > 0 {
                    secs - i64::from(bns < fns)
                } else {
                    0
                });
            }
            // A leap second: chrono's own arithmetic, which counts it.
            let referrer = forest.member_at(parent)?;
            Some((at - referrer.first_contact).num_seconds().max(0))
        })
        .collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = (gaps.len() - 1) / 2;
    let (_, m, _) = gaps.select_nth_unstable(mid);
    Some(Duration::seconds(*m))
}
