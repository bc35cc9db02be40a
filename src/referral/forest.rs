//! The referral forest: who brought whom, with the binding rules as decide/apply.

use chrono::{DateTime, Utc};

use super::binding::{Bind, BindError, Binding, BindingPolicy, Member, ReferralEvent};
use crate::calendar::SECONDS_PER_DAY;
use crate::id::{IdMap, PatientId};

/// No parent.
const ROOT: u32 = u32::MAX;

/// Patient id → position. Hosts mostly number patients densely (auto-increment keys), so
/// ids below about twice the member count live in a plain vector, one cache line away;
/// the rest go to a hash map. Memory stays O(n) whatever ids a host uses.
#[derive(Debug, Clone, Default)]
struct IdIndex {
    dense: Vec<u32>,
    sparse: IdMap<PatientId, u32>,
}

impl IdIndex {
    fn with_capacity(n: usize) -> Self {
        IdIndex {
            dense: Vec::with_capacity(n),
            sparse: IdMap::default(),
        }
    }

    fn get(&self, id: PatientId) -> Option<u32> {
        let hit = usize::try_from(id.get())
            .ok()
            .and_then(|k| self.dense.get(k))
            .copied()
            .filter(|i| *i != ROOT);
        match hit {
            Some(i) => Some(i),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get(&id).copied(),
        }
    }

    fn insert(&mut self, id: PatientId, i: u32, members: usize) {
        let limit = members.saturating_mul(2).saturating_add(1024);
        match usize::try_from(id.get()) {
            Ok(k) if k < limit => {
                if k >= self.dense.len() {
                    self.dense.resize(k + 1, ROOT);
                }
                if let Some(slot) = self.dense.get_mut(k) {
                    *slot = i;
                }
            }
            _ => {
                self.sparse.insert(id, i);
            }
        }
    }
}

/// The referral forest (转介绍树): every patient known to the program, and for each at most
/// one referrer.
///
/// It is the state of the binding rules. [`decide`] checks a [`Bind`] against it and a
/// [`BindingPolicy`] and returns the [`ReferralEvent`] to record; [`apply`] records it;
/// [`ReferralForest::bind`] does both. The forest never holds a cycle: every event `decide`
/// produces keeps it acyclic, [`apply`] ignores one that would not, and the walks upward are
/// bounded by the number of members whatever happens.
///
/// Lookups: [`ReferralForest::referrer_of`] is O(1), [`ReferralForest::ancestors`] and
/// [`ReferralForest::depth`] are O(depth). Whole-forest figures (subtree sizes, levels)
/// come from [`ReferralForest::stats`] in O(n).
#[derive(Debug, Clone, Default)]
pub struct ReferralForest {
    index: IdIndex,
    // Columns rather than one struct per node: the binding checks and the analytics each
    // touch one or two of them, and a million-node forest stays in cache that way.
    members: Vec<Member>,
    /// The members' ids again, 8 bytes apart: the reward and analytics loops resolve
    /// referrers to ids at random positions.
    ids: Vec<PatientId>,
    parent: Vec<u32>,
    bound_at: Vec<Option<DateTime<Utc>>>,
    /// Direct referees: lets the cycle check skip referees who never referred anyone.
    referrals: Vec<u32>,
    /// The members' first contacts again, as (Unix second, nanosecond): the cycle time reads
    /// them at the referrers' random positions, 16 bytes apart instead of a whole record.
    contact: Vec<(i64, u32)>,
}

/// An instant as (Unix second, nanosecond of the second; 1e9 and up in a leap second).
pub(crate) fn instant_key(at: DateTime<Utc>) -> (i64, u32) {
    (at.timestamp(), at.timestamp_subsec_nanos())
}

impl ReferralForest {
    /// An empty forest.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty forest with room for `n` members.
    #[must_use]
    pub fn with_capacity(n: usize) -> Self {
        ReferralForest {
            index: IdIndex::with_capacity(n),
            members: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
            parent: Vec::with_capacity(n),
            bound_at: Vec::with_capacity(n),
            referrals: Vec::with_capacity(n),
            contact: Vec::with_capacity(n),
        }
    }

    /// Adds a patient, or refreshes what the forest knows of one (a new mobile, an
    /// anonymisation); its bindings are kept.
    ///
    /// # Errors
    ///
    /// [`BindError::UnknownPatient`] naming the member when the forest already holds
    /// `u32::MAX - 1` members, its limit; [`BindError::Calendar`] when the member's
    /// registration or first contact lies outside the accepted range.
    pub fn upsert_member(&mut self, member: Member) -> Result<(), BindError> {
        crate::calendar::check_instant("registered_at", member.registered_at)?;
        crate::calendar::check_instant("first_contact", member.first_contact)?;
        if let Some(i) = self.index.get(member.id) {
            if let Some(c) = self.contact.get_mut(i as usize) {
                *c = instant_key(member.first_contact);
            }
            if let Some(m) = self.members.get_mut(i as usize) {
                *m = member;
            }
            return Ok(());
        }
        let i = match u32::try_from(self.members.len()) {
            Ok(i) if i < ROOT => i,
            _ => return Err(BindError::UnknownPatient { patient: member.id }),
        };
        self.index.insert(member.id, i, self.members.len());
        self.ids.push(member.id);
        self.contact.push(instant_key(member.first_contact));
        self.members.push(member);
        self.parent.push(ROOT);
        self.bound_at.push(None);
        self.referrals.push(0);
        Ok(())
    }

    /// The number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the forest has no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A member, if known.
    #[must_use]
    pub fn member(&self, id: PatientId) -> Option<&Member> {
        self.member_at(self.index_of(id)?)
    }

    /// Members in the order they were added.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.iter()
    }

    fn binding_at(&self, i: u32) -> Option<Binding> {
        Some(Binding {
            referee: self.id_at(i)?,
            referrer: self.id_at(self.parent_index(i))?,
            at: self.bound_at.get(i as usize).copied().flatten()?,
        })
    }

    /// The binding in force for a referee.
    #[must_use]
    pub fn binding_of(&self, referee: PatientId) -> Option<Binding> {
        self.binding_at(self.index_of(referee)?)
    }

    /// Every binding in force, in the order the referees were added.
    pub fn bindings(&self) -> impl Iterator<Item = Binding> + '_ {
        (0..self.members.len()).filter_map(|i| self.binding_at(u32::try_from(i).ok()?))
    }

    /// The number of bindings in force.
    #[must_use]
    pub fn bound_count(&self) -> usize {
        self.parent.iter().filter(|p| **p != ROOT).count()
    }

    /// The direct referrer of a patient. O(1).
    #[must_use]
    pub fn referrer_of(&self, id: PatientId) -> Option<PatientId> {
        self.id_at(self.parent_index(self.index_of(id)?))
    }

    /// The number of patients `id` referred directly.
    #[must_use]
    pub fn referral_count(&self, id: PatientId) -> u32 {
        self.index_of(id).map_or(0, |i| self.referrals_at(i))
    }

    /// The referrer, the referrer's referrer, and so on up to a root. O(depth).
    #[must_use]
    pub fn ancestors(&self, id: PatientId) -> Ancestors<'_> {
        Ancestors {
            forest: self,
            next: self.index_of(id).map_or(ROOT, |i| self.parent_index(i)),
            left: self.members.len(),
        }
    }

    /// The ancestor `level` steps up (1 = the referrer), if there is one. O(level).
    #[must_use]
    pub fn ancestor(&self, id: PatientId, level: u32) -> Option<PatientId> {
        let steps = usize::try_from(level).ok()?.checked_sub(1)?;
        self.ancestors(id).nth(steps)
    }

    /// How many referrals up the patient sits from its root (a root is at depth 0), or
    /// `None` for an unknown patient. O(depth).
    #[must_use]
    pub fn depth(&self, id: PatientId) -> Option<u32> {
        self.index_of(id)?;
        Some(u32::try_from(self.ancestors(id).count()).unwrap_or(u32::MAX))
    }

    pub(crate) fn index_of(&self, id: PatientId) -> Option<u32> {
        self.index.get(id)
    }

    pub(crate) fn parent_index(&self, i: u32) -> u32 {
        self.parent.get(i as usize).copied().unwrap_or(ROOT)
    }

    pub(crate) fn id_at(&self, i: u32) -> Option<PatientId> {
        self.ids.get(i as usize).copied()
    }

    pub(crate) fn is_bound_at(&self, i: u32) -> bool {
        self.parent_index(i) != ROOT
    }

    pub(crate) fn member_at(&self, i: u32) -> Option<&Member> {
        self.members.get(i as usize)
    }

    pub(crate) fn bound_at_index(&self, i: u32) -> Option<DateTime<Utc>> {
        self.bound_at.get(i as usize).copied().flatten()
    }

    /// The member's first contact as [`instant_key`].
    pub(crate) fn contact_at(&self, i: u32) -> Option<(i64, u32)> {
        self.contact.get(i as usize).copied()
    }

    pub(crate) fn referrals_at(&self, i: u32) -> u32 {
        self.referrals.get(i as usize).copied().unwrap_or(0)
    }

    /// Whether `a` is `b` or above it. Bounded by the member count.
    fn is_ancestor_or_self(&self, a: u32, b: u32) -> bool {
        let mut cur = b;
        let mut left = self.members.len();
        while cur != ROOT && left > 0 {
            if cur == a {
                return true;
            }
            cur = self.parent_index(cur);
            left -= 1;
        }
        false
    }

    /// Whether binding `ri` under `fi` would close a cycle. Only a referee who referred
    /// someone can be above anyone, so most checks end without a walk.
    fn would_cycle(&self, ri: u32, fi: u32) -> bool {
        ri == fi || (self.referrals_at(ri) > 0 && self.is_ancestor_or_self(ri, fi))
    }

    /// Records a binding already known to be acyclic.
    fn link(&mut self, ri: u32, fi: u32, at: DateTime<Utc>) {
        let old = self.parent_index(ri);
        if let Some(r) = self.referrals.get_mut(old as usize) {
            *r = r.saturating_sub(1);
        }
        if let Some(r) = self.referrals.get_mut(fi as usize) {
            *r = r.saturating_add(1);
        }
        if let Some(p) = self.parent.get_mut(ri as usize) {
            *p = fi;
        }
        if let Some(b) = self.bound_at.get_mut(ri as usize) {
            *b = Some(at);
        }
    }

    /// Checks a binding and records it: [`decide`] then [`apply`].
    ///
    /// # Errors
    ///
    /// The [`BindError`] of [`decide`]; nothing changes then.
    pub fn bind(
        &mut self,
        referee: PatientId,
        referrer: PatientId,
        at: DateTime<Utc>,
        policy: &BindingPolicy,
    ) -> Result<ReferralEvent, BindError> {
        let cmd = Bind {
            referee,
            referrer,
            at,
        };
        let (event, ri, fi) = decide_indexed(self, &cmd, policy)?;
        // `decide` just proved the link acyclic; no second walk.
        self.link(ri, fi, at);
        Ok(event)
    }
}

/// The ancestors of a patient, nearest first. See [`ReferralForest::ancestors`].
#[derive(Debug, Clone)]
pub struct Ancestors<'a> {
    forest: &'a ReferralForest,
    next: u32,
    left: usize,
}

impl Iterator for Ancestors<'_> {
    type Item = PatientId;
    fn next(&mut self) -> Option<PatientId> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let id = self.forest.id_at(self.next)?;
        self.next = self.forest.parent_index(self.next);
        Some(id)
    }
}

/// Checks a bind against the forest and the policy, and returns the event to record.
///
/// It returns one event, not a list: a bind is one fact. The rules, in the order they are
/// checked (the first broken one is reported):
///
/// 1. both patients are members ([`BindError::UnknownPatient`]);
/// 2. nobody refers themself ([`BindError::SelfReferral`]);
/// 3. the referee is not above the referrer ([`BindError::Cycle`]), checked in O(depth);
/// 4. the first referrer wins ([`BindError::AlreadyBound`]) unless the policy's protection
///    ended at or before `at`, in which case the result is a [`ReferralEvent::Rebound`];
///    binding again to the same referrer is always refused;
/// 5. the referee did not register before the referrer
///    ([`BindError::RefereeRegisteredFirst`]); the same instant is allowed;
/// 6. the two share no normalised mobile or resident id ([`BindError::SameIdentity`]);
/// 7. `at` is no later than the policy's window after the referee's first contact
///    ([`BindError::OutsideWindow`]). A binding before the first contact is allowed: the
///    friend's code is often scanned before the file is opened.
///
/// # Errors
///
/// The [`BindError`] of the first broken rule.
pub fn decide(
    forest: &ReferralForest,
    cmd: &Bind,
    policy: &BindingPolicy,
) -> Result<ReferralEvent, BindError> {
    decide_indexed(forest, cmd, policy).map(|(event, _, _)| event)
}

fn decide_indexed(
    forest: &ReferralForest,
    cmd: &Bind,
    policy: &BindingPolicy,
) -> Result<(ReferralEvent, u32, u32), BindError> {
    let resolved = (forest.index_of(cmd.referee), forest.index_of(cmd.referrer));
    decide_resolved(forest, cmd, resolved, policy)
}

/// [`decide`] with the two positions already looked up (`None`: unknown).
fn decide_resolved(
    forest: &ReferralForest,
    cmd: &Bind,
    (ri, fi): (Option<u32>, Option<u32>),
    policy: &BindingPolicy,
) -> Result<(ReferralEvent, u32, u32), BindError> {
    crate::calendar::check_instant("at", cmd.at)?;
    let unknown = |patient| BindError::UnknownPatient { patient };
    let ri = ri.ok_or(unknown(cmd.referee))?;
    let fi = fi.ok_or(unknown(cmd.referrer))?;
    if ri == fi {
        return Err(BindError::SelfReferral {
            patient: cmd.referee,
        });
    }
    let referee = forest.member_at(ri).ok_or(unknown(cmd.referee))?;
    let referrer = forest.member_at(fi).ok_or(unknown(cmd.referrer))?;
    if forest.would_cycle(ri, fi) {
        return Err(BindError::Cycle {
            referee: cmd.referee,
            referrer: cmd.referrer,
        });
    }
    let current = forest.parent_index(ri);
    let previous = match (forest.id_at(current), forest.bound_at_index(ri)) {
        (Some(current_id), Some(bound_at)) => {
            let until = policy.protected_until(bound_at);
            let free = until.is_some_and(|u| u <= cmd.at);
            if !free || current == fi {
                return Err(BindError::AlreadyBound {
                    referee: cmd.referee,
                    current: current_id,
                    protected_until: until,
                });
            }
            Some(Binding {
                referee: cmd.referee,
                referrer: current_id,
                at: bound_at,
            })
        }
        _ => None,
    };
    if referee.registered_at < referrer.registered_at {
        return Err(BindError::RefereeRegisteredFirst {
            referee: cmd.referee,
            referrer: cmd.referrer,
            referee_registered: referee.registered_at,
            referrer_registered: referrer.registered_at,
        });
    }
    if let Some(key) = referee.shared_identity(referrer) {
        return Err(BindError::SameIdentity {
            referee: cmd.referee,
            referrer: cmd.referrer,
            key,
        });
    }
    if outside_window(forest.contact_at(ri), referee.first_contact, cmd.at, policy) {
        return Err(BindError::OutsideWindow {
            referee: cmd.referee,
            at: cmd.at,
            window_end: policy.window_end(referee.first_contact),
        });
    }
    let binding = Binding {
        referee: cmd.referee,
        referrer: cmd.referrer,
        at: cmd.at,
    };
    let event = match previous {
        None => ReferralEvent::Bound { binding },
        Some(previous) => ReferralEvent::Rebound { binding, previous },
    };
    Ok((event, ri, fi))
}

/// Whether `at` is after the window that opens at the first contact: in integer seconds
/// from the forest's contact column, or with chrono's arithmetic around a leap second.
fn outside_window(
    contact: Option<(i64, u32)>,
    first_contact: DateTime<Utc>,
    at: DateTime<Utc>,
    policy: &BindingPolicy,
) -> bool {
    const NANOS: u32 = 1_000_000_000;
    let (secs, nanos) = instant_key(at);
    match contact {
        Some((fs, fns)) if fns < NANOS && nanos < NANOS => {
            // An end past chrono's range saturates there, and nothing is after that.
            let window = i64::from(policy.window_days).saturating_mul(SECONDS_PER_DAY);
            (secs, nanos) > (fs.saturating_add(window), fns)
        }
        _ => at > policy.window_end(first_contact),
    }
}

/// Records an event in the forest.
///
/// Events name members by id; an event naming a patient the forest does not know, or one
/// that would close a cycle (only a corrupt store could hold such an event), is ignored, so
/// the forest stays acyclic whatever it is fed.
pub fn apply(forest: &mut ReferralForest, event: &ReferralEvent) {
    let b = event.binding();
    let (Some(ri), Some(fi)) = (forest.index_of(b.referee), forest.index_of(b.referrer)) else {
        return;
    };
    if forest.would_cycle(ri, fi) {
        return;
    }
    forest.link(ri, fi, b.at);
}

/// One attempt in a batch for [`bind_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a bound attempt's event must be stored"]
pub struct BindOutcome {
    /// The attempt's position in the input.
    pub position: usize,
    /// The attempt.
    pub attempt: Bind,
    /// What happened.
    pub result: Result<ReferralEvent, BindError>,
}

/// Applies a batch of attempts in time order, ties in input order, and returns every
/// outcome in the order applied.
///
/// Sorting first is what makes the winners independent of how the batch was listed when the
/// timestamps differ: "first referrer wins" means first in time, not first in the file.
pub fn bind_all(
    forest: &mut ReferralForest,
    attempts: &[Bind],
    policy: &BindingPolicy,
) -> Vec<BindOutcome> {
    // Exports usually come in time order already, and then the input order is the order.
    // Otherwise (time, position) keys are unique, so an unstable sort gives the stable order.
    let in_order = attempts.windows(2).all(|w| match w {
        [a, b] => a.at <= b.at,
        _ => true,
    });
    let order: Vec<usize> = if in_order {
        Vec::new()
    } else {
        let mut keyed: Vec<(DateTime<Utc>, usize)> = attempts
            .iter()
            .enumerate()
            .map(|(i, a)| (a.at, i))
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    };
    let mut out = Vec::with_capacity(attempts.len());
    // In blocks: first look every position up and read the referrers' records (independent
    // loads the processor overlaps), then decide the block while those are still in cache.
    // The outcome is the same as deciding one attempt at a time.
    const BLOCK: usize = 64;
    let mut resolved: Vec<(Option<u32>, Option<u32>)> = Vec::with_capacity(BLOCK);
    let mut block: Vec<usize> = Vec::with_capacity(BLOCK);
    for start in (0..attempts.len()).step_by(BLOCK) {
        let end = start.saturating_add(BLOCK).min(attempts.len());
        block.clear();
        if in_order {
            block.extend(start..end);
        } else {
            block.extend_from_slice(order.get(start..end).unwrap_or(&[]));
        }
        resolved.clear();
        // The warming loop does little besides the loads, so that many of them are in
        // flight at once; a record may straddle two cache lines, so both ends are touched.
        let mut warm = 0u64;
        for position in &block {
            let Some(a) = attempts.get(*position) else {
                resolved.push((None, None));
                continue;
            };
            let (ri, fi) = (forest.index_of(a.referee), forest.index_of(a.referrer));
            if let Some(fi) = fi {
                if let Some(m) = forest.member_at(fi) {
                    warm ^= m.id.get()
                        ^ u64::from(m.mobile.is_some())
                        ^ u64::from(m.resident_id.is_some());
                }
                warm ^= u64::from(forest.referrals_at(fi));
            }
            resolved.push((ri, fi));
        }
        std::hint::black_box(warm);
        for (position, r) in block.iter().zip(&resolved) {
            let Some(attempt) = attempts.get(*position).copied() else {
                continue;
            };
            let result = decide_resolved(forest, &attempt, *r, policy).map(|(event, ri, fi)| {
                forest.link(ri, fi, attempt.at);
                event
            });
            out.push(BindOutcome {
                position: *position,
                attempt,
                result,
            });
        }
    }
    out
}
