//! The referral forest: who brought whom, with the binding rules as decide/apply.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::binding::{Bind, BindError, Binding, BindingPolicy, Member, ReferralEvent};
use crate::id::PatientId;

/// A hasher for the forest's id index. Patient ids are host-assigned integers, not attacker
/// text, so a multiply-shift hash is enough and keeps a million-patient bind under budget.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

pub(crate) type IdMap<V> = HashMap<PatientId, V, BuildHasherDefault<IdHasher>>;

/// No parent.
const ROOT: u32 = u32::MAX;

#[derive(Debug, Clone)]
struct Node {
    member: Member,
    parent: u32,
    bound_at: Option<DateTime<Utc>>,
    /// Direct referees: lets the cycle check skip referees who never referred anyone.
    referrals: u32,
}

/// The referral forest (转介绍树): every patient known to the program, and for each at most
/// one referrer.
///
/// It is the state of the binding rules. [`decide`] checks a [`Bind`] against it and a
/// [`BindingPolicy`] and returns the [`ReferralEvent`] to record; [`apply`] records it;
/// [`ReferralForest::bind`] does both. The forest never holds a cycle: every event `decide`
/// produces keeps it acyclic, and the walks upward are bounded by the number of members
/// even for events loaded from a corrupt store.
///
/// Lookups: [`ReferralForest::referrer_of`] is O(1), [`ReferralForest::ancestors`] and
/// [`ReferralForest::depth`] are O(depth). Whole-forest figures (subtree sizes, levels)
/// come from [`ReferralForest::stats`] in O(n).
#[derive(Debug, Clone, Default)]
pub struct ReferralForest {
    index: IdMap<u32>,
    nodes: Vec<Node>,
}

impl ReferralForest {
    /// An empty forest.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty forest with room for `n` members.
    pub fn with_capacity(n: usize) -> Self {
        ReferralForest {
            index: IdMap::with_capacity_and_hasher(n, BuildHasherDefault::default()),
            nodes: Vec::with_capacity(n),
        }
    }

    /// Adds a patient, or refreshes what the forest knows of one (a new mobile, an
    /// anonymisation); its bindings are kept.
    ///
    /// # Errors
    ///
    /// [`BindError::UnknownPatient`] naming the member when the forest already holds
    /// `u32::MAX - 1` members, its limit.
    pub fn upsert_member(&mut self, member: Member) -> Result<(), BindError> {
        if let Some(&i) = self.index.get(&member.id) {
            if let Some(n) = self.nodes.get_mut(i as usize) {
                n.member = member;
            }
            return Ok(());
        }
        let Ok(i) = u32::try_from(self.nodes.len()) else {
            return Err(BindError::UnknownPatient { patient: member.id });
        };
        if i >= ROOT {
            return Err(BindError::UnknownPatient { patient: member.id });
        }
        self.index.insert(member.id, i);
        self.nodes.push(Node {
            member,
            parent: ROOT,
            bound_at: None,
            referrals: 0,
        });
        Ok(())
    }

    /// The number of members.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the forest has no members.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// A member, if known.
    pub fn member(&self, id: PatientId) -> Option<&Member> {
        self.node(id).map(|n| &n.member)
    }

    /// Members in the order they were added.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.nodes.iter().map(|n| &n.member)
    }

    /// The binding in force for a referee.
    pub fn binding_of(&self, referee: PatientId) -> Option<Binding> {
        let n = self.node(referee)?;
        let parent = self.nodes.get(n.parent as usize)?;
        Some(Binding {
            referee,
            referrer: parent.member.id,
            at: n.bound_at?,
        })
    }

    /// Every binding in force, in the order the referees were added.
    pub fn bindings(&self) -> impl Iterator<Item = Binding> + '_ {
        self.nodes.iter().filter_map(|n| {
            let parent = self.nodes.get(n.parent as usize)?;
            Some(Binding {
                referee: n.member.id,
                referrer: parent.member.id,
                at: n.bound_at?,
            })
        })
    }

    /// The number of bindings in force.
    pub fn bound_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.parent != ROOT).count()
    }

    /// The direct referrer of a patient. O(1).
    pub fn referrer_of(&self, id: PatientId) -> Option<PatientId> {
        let n = self.node(id)?;
        self.nodes.get(n.parent as usize).map(|p| p.member.id)
    }

    /// The number of patients `id` referred directly.
    pub fn referral_count(&self, id: PatientId) -> u32 {
        self.node(id).map_or(0, |n| n.referrals)
    }

    /// The referrer, the referrer's referrer, and so on up to a root. O(depth).
    pub fn ancestors(&self, id: PatientId) -> Ancestors<'_> {
        Ancestors {
            forest: self,
            next: self.index.get(&id).map_or(ROOT, |&i| self.parent_index(i)),
            left: self.nodes.len(),
        }
    }

    /// The ancestor `level` steps up (1 = the referrer), if there is one. O(level).
    pub fn ancestor(&self, id: PatientId, level: u32) -> Option<PatientId> {
        let steps = usize::try_from(level).ok()?.checked_sub(1)?;
        self.ancestors(id).nth(steps)
    }

    /// How many referrals up the patient sits from its root (a root is at depth 0), or
    /// `None` for an unknown patient. O(depth).
    pub fn depth(&self, id: PatientId) -> Option<u32> {
        self.index.get(&id)?;
        Some(u32::try_from(self.ancestors(id).count()).unwrap_or(u32::MAX))
    }

    pub(crate) fn index_of(&self, id: PatientId) -> Option<u32> {
        self.index.get(&id).copied()
    }

    pub(crate) fn parent_index(&self, i: u32) -> u32 {
        self.nodes.get(i as usize).map_or(ROOT, |n| n.parent)
    }

    pub(crate) fn id_at(&self, i: u32) -> Option<PatientId> {
        self.nodes.get(i as usize).map(|n| n.member.id)
    }

    pub(crate) fn referrals_at(&self, i: u32) -> u32 {
        self.nodes.get(i as usize).map_or(0, |n| n.referrals)
    }

    fn node(&self, id: PatientId) -> Option<&Node> {
        self.nodes.get(*self.index.get(&id)? as usize)
    }

    /// Whether `a` is `b` or above it. Bounded by the member count.
    fn is_ancestor_or_self(&self, a: u32, b: u32) -> bool {
        let mut cur = b;
        let mut left = self.nodes.len();
        while cur != ROOT && left > 0 {
            if cur == a {
                return true;
            }
            cur = self.parent_index(cur);
            left -= 1;
        }
        false
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
        let event = decide(
            self,
            &Bind {
                referee,
                referrer,
                at,
            },
            policy,
        )?;
        apply(self, &event);
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
        let node = self.forest.nodes.get(self.next as usize)?;
        self.next = node.parent;
        Some(node.member.id)
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
    let Some(ri) = forest.index_of(cmd.referee) else {
        return Err(BindError::UnknownPatient {
            patient: cmd.referee,
        });
    };
    let Some(fi) = forest.index_of(cmd.referrer) else {
        return Err(BindError::UnknownPatient {
            patient: cmd.referrer,
        });
    };
    if ri == fi {
        return Err(BindError::SelfReferral {
            patient: cmd.referee,
        });
    }
    let (Some(referee), Some(referrer)) =
        (forest.nodes.get(ri as usize), forest.nodes.get(fi as usize))
    else {
        return Err(BindError::UnknownPatient {
            patient: cmd.referee,
        });
    };
    if referee.referrals > 0 && forest.is_ancestor_or_self(ri, fi) {
        return Err(BindError::Cycle {
            referee: cmd.referee,
            referrer: cmd.referrer,
        });
    }
    let previous = match (forest.nodes.get(referee.parent as usize), referee.bound_at) {
        (Some(current), Some(bound_at)) => {
            let until = policy.protected_until(bound_at);
            let free = until.is_some_and(|u| u <= cmd.at);
            if !free || referee.parent == fi {
                return Err(BindError::AlreadyBound {
                    referee: cmd.referee,
                    current: current.member.id,
                    protected_until: until,
                });
            }
            Some(Binding {
                referee: cmd.referee,
                referrer: current.member.id,
                at: bound_at,
            })
        }
        _ => None,
    };
    if referee.member.registered_at < referrer.member.registered_at {
        return Err(BindError::RefereeRegisteredFirst {
            referee: cmd.referee,
            referrer: cmd.referrer,
            referee_registered: referee.member.registered_at,
            referrer_registered: referrer.member.registered_at,
        });
    }
    if let Some(key) = referee.member.shared_identity(&referrer.member) {
        return Err(BindError::SameIdentity {
            referee: cmd.referee,
            referrer: cmd.referrer,
            key,
        });
    }
    let window_end = policy.window_end(referee.member.first_contact);
    if cmd.at > window_end {
        return Err(BindError::OutsideWindow {
            referee: cmd.referee,
            at: cmd.at,
            window_end,
        });
    }
    let binding = Binding {
        referee: cmd.referee,
        referrer: cmd.referrer,
        at: cmd.at,
    };
    Ok(match previous {
        None => ReferralEvent::Bound { binding },
        Some(previous) => ReferralEvent::Rebound { binding, previous },
    })
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
    if forest.is_ancestor_or_self(ri, fi) {
        return;
    }
    let old = forest.parent_index(ri);
    if let Some(p) = forest.nodes.get_mut(old as usize) {
        p.referrals = p.referrals.saturating_sub(1);
    }
    if let Some(p) = forest.nodes.get_mut(fi as usize) {
        p.referrals = p.referrals.saturating_add(1);
    }
    if let Some(n) = forest.nodes.get_mut(ri as usize) {
        n.parent = fi;
        n.bound_at = Some(b.at);
    }
}

/// One attempt in a batch for [`bind_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
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
    let mut order: Vec<usize> = (0..attempts.len()).collect();
    order.sort_by_key(|&i| attempts.get(i).map(|a| a.at));
    order
        .into_iter()
        .filter_map(|position| {
            let attempt = *attempts.get(position)?;
            let result = forest.bind(attempt.referee, attempt.referrer, attempt.at, policy);
            Some(BindOutcome {
                position,
                attempt,
                result,
            })
        })
        .collect()
}
