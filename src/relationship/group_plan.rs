//! The group planner: invitations and removals as tags and consent change, overflowing into
//! numbered groups.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::{GroupChatRef, GroupEvent, GroupMembership, GroupSeries, RelationshipError};
use crate::id::{IdMap, PatientId};
use crate::patient::ConsentPurpose;
use crate::segment::{CompiledExprs, Expr, ExprRef, PatientFacts, TagMemo, TagName};

/// The most series one plan takes.
pub const MAX_GROUP_SERIES: usize = 10_000;

/// A group the plan opens because the series' groups are full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGroupChat {
    /// Its reference.
    pub chat: GroupChatRef,
    /// Its display name (`高血压2群`).
    pub name: String,
}

/// What the planner proposes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct GroupPlan {
    /// `Invited` and `Removed` events, in patient order, then series order: send the
    /// invitations and removals, then apply the events.
    pub events: Vec<GroupEvent>,
    /// The groups to open first, in order.
    pub new_chats: Vec<NewGroupChat>,
}

/// The rules compiled once, and for each a tag every patient it matches must carry (the
/// first `has_tag` of a top-level `all`, or a bare `has_tag`), so a patient is tested only
/// against the rules their own tags can satisfy.
struct Rules {
    compiled: CompiledExprs,
    roots: Vec<ExprRef>,
    by_tag: HashMap<TagName, Vec<usize>>,
    always: Vec<usize>,
}

fn required_tag(e: &Expr) -> Option<&TagName> {
    match e {
        Expr::HasTag(t) => Some(t),
        Expr::All(cs) => cs.iter().find_map(|c| match c {
            Expr::HasTag(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

impl Rules {
    fn new(series: &[GroupSeries]) -> Self {
        let mut compiled = CompiledExprs::default();
        let mut by_tag: HashMap<TagName, Vec<usize>> = HashMap::new();
        let mut always = Vec::new();
        let roots = series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                match required_tag(s.rule()) {
                    Some(t) => by_tag.entry(t.clone()).or_default().push(i),
                    None => always.push(i),
                }
                compiled.add(s.rule())
            })
            .collect();
        Rules {
            compiled,
            roots,
            by_tag,
            always,
        }
    }

    /// The series whose rule `facts` match, ascending; none without `GroupChat` consent.
    fn matching(&self, facts: &PatientFacts, memo: &mut TagMemo, out: &mut Vec<usize>) {
        out.clear();
        if !facts.may(ConsentPurpose::GroupChat) {
            return;
        }
        self.compiled.reset(memo);
        let candidates = facts
            .tags()
            .iter()
            .filter_map(|t| self.by_tag.get(t))
            .flatten()
            .chain(&self.always);
        for &i in candidates {
            if let Some(&root) = self.roots.get(i)
                && self.compiled.evaluate(root, facts, memo)
            {
                out.push(i);
            }
        }
        out.sort_unstable();
        out.dedup();
    }
}

/// Seats taken per group number of one series.
#[derive(Default)]
struct Seats {
    taken: BTreeMap<u32, u32>,
}

impl Seats {
    /// The lowest-numbered group with room, or a new one after the highest.
    fn take(&mut self, capacity: u32) -> (u32, bool) {
        let free = self
            .taken
            .iter()
            .find(|(_, n)| **n < capacity)
            .map(|(k, _)| *k);
        let (number, new) = match free {
            Some(k) => (k, false),
            None => (
                self.taken
                    .keys()
                    .next_back()
                    .map_or(1, |k| k.saturating_add(1)),
                true,
            ),
        };
        let n = self.taken.entry(number).or_insert(0);
        *n = n.saturating_add(1);
        (number, new)
    }

    fn free(&mut self, number: u32) {
        if let Some(n) = self.taken.get_mut(&number) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Plans group membership from the patients' facts at `at`:
///
/// - a patient whose facts match a series' rule, who has `GroupChat` consent and holds no
///   seat in that series is invited to its lowest-numbered group with room, or to a new
///   group numbered after the last (`高血压2群`) when all are full;
/// - a patient who holds a seat (member or invited) in a series whose rule they no longer
///   match, or who withdrew `GroupChat` consent, is removed;
/// - patients not in `facts` are left as they are.
///
/// Idempotent: applying the plan's events ([`apply_group`](super::apply_group)) and
/// planning again with the same facts proposes nothing. Deterministic: the plan is the same
/// whatever order `facts` comes in (patients are taken in id order; a patient given twice
/// counts once, the first given). No group exceeds its series' capacity.
///
/// # Errors
///
/// [`RelationshipError::TooMany`] past [`MAX_GROUP_SERIES`];
/// [`RelationshipError::DuplicateId`] for a series given twice.
pub fn plan_groups(
    series: &[GroupSeries],
    membership: &GroupMembership,
    facts: &[PatientFacts],
    at: DateTime<Utc>,
) -> Result<GroupPlan, RelationshipError> {
    if series.len() > MAX_GROUP_SERIES {
        return Err(RelationshipError::TooMany {
            what: "group series",
            len: series.len(),
            max: MAX_GROUP_SERIES,
        });
    }
    let mut index = BTreeMap::new();
    for (i, s) in series.iter().enumerate() {
        if index.insert(s.id(), i).is_some() {
            return Err(RelationshipError::DuplicateId {
                what: "group series",
                id: s.id().to_string(),
            });
        }
    }
    let rules = Rules::new(series);
    let mut seats: Vec<Seats> = series.iter().map(|_| Seats::default()).collect();
    let mut held: IdMap<PatientId, Vec<(usize, u32)>> = IdMap::default();
    for (chat, m) in membership.chats() {
        let Some(&i) = index.get(&chat.series) else {
            continue;
        };
        if let Some(s) = seats.get_mut(i) {
            s.taken
                .insert(chat.number, u32::try_from(m.seats()).unwrap_or(u32::MAX));
        }
        for p in m.members.iter().chain(&m.invited) {
            held.entry(*p).or_default().push((i, chat.number));
        }
    }
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by_key(|&i| facts.get(i).map(PatientFacts::patient));
    order.dedup_by_key(|i| facts.get(*i).map(PatientFacts::patient));
    let mut plan = GroupPlan::default();
    let (mut memo, mut matched) = (TagMemo::default(), Vec::new());
    for f in order.iter().filter_map(|&i| facts.get(i)) {
        rules.matching(f, &mut memo, &mut matched);
        let mine = held.get(&f.patient()).map_or(&[][..], Vec::as_slice);
        plan_patient(
            f.patient(),
            series,
            &matched,
            mine,
            &mut seats,
            at,
            &mut plan,
        );
    }
    Ok(plan)
}

fn plan_patient(
    patient: PatientId,
    series: &[GroupSeries],
    matched: &[usize],
    held: &[(usize, u32)],
    seats: &mut [Seats],
    at: DateTime<Utc>,
    plan: &mut GroupPlan,
) {
    let mut held: Vec<(usize, u32)> = held.to_vec();
    held.sort_unstable();
    for &(i, number) in &held {
        if matched.binary_search(&i).is_err()
            && let Some(s) = series.get(i)
        {
            if let Some(seat) = seats.get_mut(i) {
                seat.free(number);
            }
            let chat = GroupChatRef {
                series: s.id(),
                number,
            };
            plan.events.push(GroupEvent::Removed { chat, patient, at });
        }
    }
    for &i in matched {
        if held.iter().any(|(h, _)| *h == i) {
            continue;
        }
        let (Some(s), Some(seat)) = (series.get(i), seats.get_mut(i)) else {
            continue;
        };
        let (number, new) = seat.take(s.capacity());
        let chat = GroupChatRef {
            series: s.id(),
            number,
        };
        if new {
            plan.new_chats.push(NewGroupChat {
                chat,
                name: s.chat_name(number),
            });
        }
        plan.events.push(GroupEvent::Invited { chat, patient, at });
    }
}
