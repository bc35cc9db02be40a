//! Patient groups (社群): series of numbered WeChat or WeCom customer groups with a
//! membership rule, their events and the membership they leave.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::RelationshipError;
use crate::calendar::in_range;
use crate::id::{GroupId, PatientId, StaffId};
use crate::segment::{Expr, TagCatalog, TagStatus};
use crate::text::Label;

/// A WeChat or WeCom customer group's member limit: the default capacity. A platform's
/// limit is data ([`GroupSeries::with_capacity`]).
pub const WECHAT_GROUP_CAPACITY: u32 = 500;
/// The largest capacity accepted (WeCom's internal groups hold 2,000).
pub const MAX_GROUP_CAPACITY: u32 = 2_000;

/// A group series: one purpose and rule, served by numbered groups (`高血压群`,
/// `高血压2群`, ...) as each fills up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawGroupSeries")]
pub struct GroupSeries {
    id: GroupId,
    name: Label,
    purpose: Label,
    owner: StaffId,
    capacity: u32,
    rule: Expr,
}

#[derive(Deserialize)]
struct RawGroupSeries {
    id: GroupId,
    name: Label,
    purpose: Label,
    owner: StaffId,
    capacity: u32,
    rule: Expr,
}

impl TryFrom<RawGroupSeries> for GroupSeries {
    type Error = RelationshipError;
    fn try_from(r: RawGroupSeries) -> Result<Self, Self::Error> {
        GroupSeries::new(r.id, r.name, r.purpose, r.owner, r.rule)?.with_capacity(r.capacity)
    }
}

impl GroupSeries {
    /// A series of groups of [`WECHAT_GROUP_CAPACITY`] members. The rule is the segment
    /// expression language's ([`Expr`]): villages, clinics and conditions are tags
    /// (`village/李家村`, `clinic/城东店`, `condition/高血压`). `GroupChat` consent is
    /// required whatever the rule says.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::InvalidRule`] when the rule fails [`Expr::validate`].
    pub fn new(
        id: GroupId,
        name: Label,
        purpose: Label,
        owner: StaffId,
        rule: Expr,
    ) -> Result<Self, RelationshipError> {
        rule.validate()
            .map_err(|e| RelationshipError::InvalidRule {
                group: id,
                reason: e.to_string(),
            })?;
        Ok(GroupSeries {
            id,
            name,
            purpose,
            owner,
            capacity: WECHAT_GROUP_CAPACITY,
            rule,
        })
    }

    /// With another capacity, 1 to [`MAX_GROUP_CAPACITY`].
    ///
    /// # Errors
    ///
    /// [`RelationshipError::OutOfRange`] outside that range.
    pub fn with_capacity(mut self, capacity: u32) -> Result<Self, RelationshipError> {
        if capacity == 0 || capacity > MAX_GROUP_CAPACITY {
            return Err(RelationshipError::OutOfRange {
                field: "group capacity",
                value: capacity.to_string(),
                reason: "a group holds 1 to 2000 members",
            });
        }
        self.capacity = capacity;
        Ok(self)
    }

    /// Checks the rule's tags against the organisation's catalog.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::UnknownTag`] for the first tag that is not live.
    pub fn check_tags(&self, catalog: &TagCatalog) -> Result<(), RelationshipError> {
        match self
            .rule
            .tags()
            .find(|t| catalog.status(t) != TagStatus::Live)
        {
            Some(t) => Err(RelationshipError::UnknownTag {
                group: self.id,
                tag: t.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The series id.
    pub fn id(&self) -> GroupId {
        self.id
    }
    /// The name the groups are numbered from (`高血压`).
    pub fn name(&self) -> &Label {
        &self.name
    }
    /// What the groups are for (`血压管理与健康讲座`).
    pub fn purpose(&self) -> &Label {
        &self.purpose
    }
    /// The staff account that owns the groups (群主).
    pub fn owner(&self) -> StaffId {
        self.owner
    }
    /// Members per group.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }
    /// The membership rule.
    pub fn rule(&self) -> &Expr {
        &self.rule
    }

    /// The display name of group `number`: `高血压群` for 1, `高血压2群` after.
    pub fn chat_name(&self, number: u32) -> String {
        if number <= 1 {
            format!("{}群", self.name.as_str())
        } else {
            format!("{}{number}群", self.name.as_str())
        }
    }
}

/// One numbered group of a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupChatRef {
    /// The series.
    pub series: GroupId,
    /// The group's number in it, from 1.
    pub number: u32,
}

/// What happened in a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum GroupEvent {
    /// The patient was invited (the planner proposes it, the host sends it).
    Invited {
        /// The group.
        chat: GroupChatRef,
        /// The patient.
        patient: PatientId,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient joined.
    Joined {
        /// The group.
        chat: GroupChatRef,
        /// The patient.
        patient: PatientId,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The patient left (or turned the invitation down).
    Left {
        /// The group.
        chat: GroupChatRef,
        /// The patient.
        patient: PatientId,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// The owner removed the patient (or withdrew the invitation).
    Removed {
        /// The group.
        chat: GroupChatRef,
        /// The patient.
        patient: PatientId,
        /// When.
        #[serde(with = "in_range::instant")]
        at: DateTime<Utc>,
    },
    /// How many messages the member posted on one local day: counts only, never content.
    Messages {
        /// The group.
        chat: GroupChatRef,
        /// The member.
        patient: PatientId,
        /// The start of the local day.
        #[serde(with = "in_range::instant")]
        day: DateTime<Utc>,
        /// Messages that day.
        count: u32,
    },
}

impl GroupEvent {
    /// The group.
    pub fn chat(&self) -> GroupChatRef {
        match self {
            GroupEvent::Invited { chat, .. }
            | GroupEvent::Joined { chat, .. }
            | GroupEvent::Left { chat, .. }
            | GroupEvent::Removed { chat, .. }
            | GroupEvent::Messages { chat, .. } => *chat,
        }
    }

    /// The patient.
    pub fn patient(&self) -> PatientId {
        match self {
            GroupEvent::Invited { patient, .. }
            | GroupEvent::Joined { patient, .. }
            | GroupEvent::Left { patient, .. }
            | GroupEvent::Removed { patient, .. }
            | GroupEvent::Messages { patient, .. } => *patient,
        }
    }
}

/// One group's members and outstanding invitations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChatMembers {
    /// Members.
    pub members: BTreeSet<PatientId>,
    /// Invited, not yet joined: they hold a seat, so a group never overfills when they
    /// accept.
    pub invited: BTreeSet<PatientId>,
}

impl ChatMembers {
    /// Seats taken: members and invitations.
    pub fn seats(&self) -> usize {
        self.members.len().saturating_add(self.invited.len())
    }
}

/// Every group's members: the state group events leave.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GroupMembership {
    chats: BTreeMap<GroupChatRef, ChatMembers>,
}

impl GroupMembership {
    /// No groups.
    pub fn new() -> Self {
        Self::default()
    }

    /// One group.
    pub fn chat(&self, chat: GroupChatRef) -> Option<&ChatMembers> {
        self.chats.get(&chat)
    }

    /// Every group, in (series, number) order.
    pub fn chats(&self) -> impl Iterator<Item = (GroupChatRef, &ChatMembers)> {
        self.chats.iter().map(|(c, m)| (*c, m))
    }

    /// Whether the patient is a member of any group.
    pub fn is_member_anywhere(&self, patient: PatientId) -> bool {
        self.chats.values().any(|c| c.members.contains(&patient))
    }

    /// Removes the patient from every group, as a member or an invitee (their erasure).
    pub fn forget(&mut self, patient: PatientId) {
        for c in self.chats.values_mut() {
            c.members.remove(&patient);
            c.invited.remove(&patient);
        }
    }

    /// The set of patients who are members of some group.
    pub fn members(&self) -> BTreeSet<PatientId> {
        self.chats
            .values()
            .flat_map(|c| c.members.iter().copied())
            .collect()
    }
}

/// Applies one group event. Never fails; message counts change no membership.
pub fn apply_group(membership: &mut GroupMembership, event: &GroupEvent) {
    match event {
        GroupEvent::Invited { chat, patient, .. } => {
            let c = membership.chats.entry(*chat).or_default();
            if !c.members.contains(patient) {
                c.invited.insert(*patient);
            }
        }
        GroupEvent::Joined { chat, patient, .. } => {
            let c = membership.chats.entry(*chat).or_default();
            c.invited.remove(patient);
            c.members.insert(*patient);
        }
        GroupEvent::Left { chat, patient, .. } | GroupEvent::Removed { chat, patient, .. } => {
            if let Some(c) = membership.chats.get_mut(chat) {
                c.invited.remove(patient);
                c.members.remove(patient);
            }
        }
        GroupEvent::Messages { .. } => {}
    }
}

/// Decides a platform event the host reports (a join, a leave, a removal, a day's message
/// count) against the membership: a join into a full group is refused, as the platform
/// refuses it.
///
/// # Errors
///
/// [`RelationshipError::UnknownGroup`] for a series not in `series`;
/// [`RelationshipError::GroupOverCapacity`] for a join past the capacity.
pub fn decide_group(
    membership: &GroupMembership,
    series: &[GroupSeries],
    event: &GroupEvent,
) -> Result<Vec<GroupEvent>, RelationshipError> {
    let chat = event.chat();
    let s = series
        .iter()
        .find(|s| s.id == chat.series)
        .ok_or(RelationshipError::UnknownGroup { group: chat.series })?;
    let current = membership.chat(chat);
    if let GroupEvent::Joined { patient, .. } | GroupEvent::Invited { patient, .. } = event {
        let already =
            current.is_some_and(|c| c.members.contains(patient) || c.invited.contains(patient));
        let seats = current.map_or(0, ChatMembers::seats);
        if !already && seats >= s.capacity as usize {
            return Err(RelationshipError::GroupOverCapacity {
                group: chat.series,
                members: u32::try_from(seats.saturating_add(1)).unwrap_or(u32::MAX),
                capacity: s.capacity,
            });
        }
    }
    Ok(vec![event.clone()])
}
