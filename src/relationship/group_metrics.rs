//! Group metrics: members, growth, active members, leave rate, and members against
//! comparable non-members. Counts, mergeable across disjoint shards of groups.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{GroupChatRef, GroupEvent, GroupMembership, apply_group};
use crate::id::PatientId;
use crate::money::Yuan;

/// One group's figures over a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct GroupStats {
    /// Members when the period starts.
    pub members_at_start: u64,
    /// Members when it ends.
    pub members_at_end: u64,
    /// Joins in the period.
    pub joined: u64,
    /// Leaves and removals in the period.
    pub left: u64,
    /// Members who posted at least one message on a day in the period.
    pub active: u64,
}

impl GroupStats {
    /// Net growth: members at the end less members at the start.
    pub fn growth(&self) -> i64 {
        let end = i64::try_from(self.members_at_end).unwrap_or(i64::MAX);
        let start = i64::try_from(self.members_at_start).unwrap_or(i64::MAX);
        end.saturating_sub(start)
    }

    /// Leaves over everyone who was a member at some point of the period (0 to 1).
    pub fn leave_rate(&self) -> f64 {
        let base = self.members_at_start.saturating_add(self.joined);
        if base == 0 {
            0.0
        } else {
            self.left as f64 / base as f64
        }
    }

    /// Adds another shard's figures for the same group.
    pub fn merge(&mut self, o: &GroupStats) {
        self.members_at_start = self.members_at_start.saturating_add(o.members_at_start);
        self.members_at_end = self.members_at_end.saturating_add(o.members_at_end);
        self.joined = self.joined.saturating_add(o.joined);
        self.left = self.left.saturating_add(o.left);
        self.active = self.active.saturating_add(o.active);
    }
}

/// Each group's figures over `period` (half-open), from its events in time order.
pub fn group_stats(
    events: &[GroupEvent],
    period: Range<DateTime<Utc>>,
) -> BTreeMap<GroupChatRef, GroupStats> {
    let mut before = GroupMembership::new();
    let mut now = GroupMembership::new();
    let mut out: BTreeMap<GroupChatRef, GroupStats> = BTreeMap::new();
    let mut active: BTreeMap<GroupChatRef, BTreeSet<PatientId>> = BTreeMap::new();
    for e in events {
        let at = match e {
            GroupEvent::Invited { at, .. }
            | GroupEvent::Joined { at, .. }
            | GroupEvent::Left { at, .. }
            | GroupEvent::Removed { at, .. } => *at,
            GroupEvent::Messages { day, .. } => *day,
        };
        if at >= period.end {
            continue;
        }
        apply_group(&mut now, e);
        if at < period.start {
            apply_group(&mut before, e);
            continue;
        }
        let s = out.entry(e.chat()).or_default();
        match e {
            GroupEvent::Joined { .. } => s.joined = s.joined.saturating_add(1),
            GroupEvent::Left { .. } | GroupEvent::Removed { .. } => {
                s.left = s.left.saturating_add(1)
            }
            GroupEvent::Messages { count, .. } if *count > 0 => {
                active.entry(e.chat()).or_default().insert(e.patient());
            }
            _ => {}
        }
    }
    for (chat, m) in before.chats() {
        out.entry(chat).or_default().members_at_start = m.members.len() as u64;
    }
    for (chat, m) in now.chats() {
        out.entry(chat).or_default().members_at_end = m.members.len() as u64;
    }
    for (chat, ps) in active {
        out.entry(chat).or_default().active = ps.len() as u64;
    }
    out
}

/// Visits and spend of one cohort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct GroupCohort {
    /// Patients.
    pub patients: u64,
    /// Their visits.
    pub visits: u64,
    /// Their spend, in fen (saturating).
    pub spend_fen: u64,
}

impl GroupCohort {
    fn add(&mut self, visits: u32, spend: Yuan) {
        self.patients = self.patients.saturating_add(1);
        self.visits = self.visits.saturating_add(u64::from(visits));
        self.spend_fen = self.spend_fen.saturating_add(spend.to_fen());
    }

    /// Visits per patient.
    pub fn visits_per_patient(&self) -> f64 {
        if self.patients == 0 {
            0.0
        } else {
            self.visits as f64 / self.patients as f64
        }
    }

    /// Spend per patient, in yuan, at the reporting edge.
    pub fn spend_per_patient(&self) -> f64 {
        if self.patients == 0 {
            0.0
        } else {
            self.spend_fen as f64 / 100.0 / self.patients as f64
        }
    }
}

/// Group members against non-members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct MemberComparison {
    /// Patients who are members of some group.
    pub members: GroupCohort,
    /// The rest.
    pub non_members: GroupCohort,
}

impl MemberComparison {
    /// Adds a disjoint shard.
    pub fn merge(&mut self, o: &MemberComparison) {
        for (a, b) in [
            (&mut self.members, &o.members),
            (&mut self.non_members, &o.non_members),
        ] {
            a.patients = a.patients.saturating_add(b.patients);
            a.visits = a.visits.saturating_add(b.visits);
            a.spend_fen = a.spend_fen.saturating_add(b.spend_fen);
        }
    }
}

/// Splits `patients` (visits and spend over the host's period) into members and
/// non-members. The host passes comparable patients only (the same condition tag, the
/// same clinic): the comparison is as fair as that choice, and it is not a causal effect.
pub fn compare_members(
    membership: &GroupMembership,
    patients: impl IntoIterator<Item = (PatientId, u32, Yuan)>,
) -> MemberComparison {
    let members = membership.members();
    let mut c = MemberComparison::default();
    for (p, visits, spend) in patients {
        if members.contains(&p) {
            c.members.add(visits, spend);
        } else {
            c.non_members.add(visits, spend);
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::GroupId;
    use chrono::TimeZone;

    #[test]
    fn stats_count_the_period_only() {
        let t = |d: u32| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
        let chat = GroupChatRef {
            series: GroupId::new(1),
            number: 1,
        };
        let p = PatientId::new;
        let events = [
            GroupEvent::Joined {
                chat,
                patient: p(1),
                at: t(1),
            },
            GroupEvent::Joined {
                chat,
                patient: p(2),
                at: t(1),
            },
            GroupEvent::Joined {
                chat,
                patient: p(3),
                at: t(5),
            },
            GroupEvent::Left {
                chat,
                patient: p(1),
                at: t(6),
            },
            GroupEvent::Messages {
                chat,
                patient: p(2),
                day: t(7),
                count: 3,
            },
            GroupEvent::Messages {
                chat,
                patient: p(3),
                day: t(7),
                count: 0,
            },
            GroupEvent::Joined {
                chat,
                patient: p(4),
                at: t(20),
            },
        ];
        let stats = group_stats(&events, t(3)..t(10));
        let s = stats.get(&chat).copied().unwrap_or_default();
        assert_eq!(
            (
                s.members_at_start,
                s.members_at_end,
                s.joined,
                s.left,
                s.active
            ),
            (2, 2, 1, 1, 1)
        );
        assert_eq!(s.growth(), 0);
        assert!((s.leave_rate() - 1.0 / 3.0).abs() < 1e-12);
        let mut m = GroupMembership::new();
        for e in &events {
            apply_group(&mut m, e);
        }
        let c = compare_members(
            &m,
            [
                (p(2), 4, Yuan::from_fen(100)),
                (p(9), 1, Yuan::from_fen(50)),
            ],
        );
        assert_eq!(
            (c.members.patients, c.members.visits, c.non_members.visits),
            (1, 4, 1)
        );
    }
}
