//! The journey layer's glue for patient groups (社群, issue 19): a join, a leave or a
//! removal the platform reports, decided by [`relationship`](crate::relationship) against
//! the clinic's group membership and the configured group series.
//!
//! A reported join is a fact on the platform, so it needs no `GroupChat` consent here: the
//! consent gates what the clinic *proposes* ([`plan_groups`](crate::relationship::plan_groups)
//! never invites without it). A join into a full group is refused as the platform refuses
//! it, and a group the configuration does not hold is refused by name.

use super::layer::Implications;
use super::{JourneyConfig, JourneyError};
use crate::relationship::{self, GroupEvent, GroupMembership};

/// `Group`: one group event, decided against the membership and the configured series.
///
/// # Errors
///
/// [`RelationshipError::UnknownGroup`](crate::relationship::RelationshipError::UnknownGroup)
/// or [`RelationshipError::GroupOverCapacity`](crate::relationship::RelationshipError::GroupOverCapacity).
pub(super) fn group_step(
    membership: &GroupMembership,
    config: &JourneyConfig,
    event: &GroupEvent,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let events = relationship::decide_group(membership, &config.groups, event)?;
    step.groups.extend(events);
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use crate::calendar::ClinicCalendar;
    use crate::id::{GroupId, PatientId, StaffId};
    use crate::journey::{
        Clinic, ClinicEvent, ClinicEventKind, EventKey, JourneyConfig, JourneyError,
    };
    use crate::relationship::{GroupChatRef, GroupEvent, GroupSeries, RelationshipError};
    use crate::segment::{Expr, TagName};
    use crate::testkit::patient_store::registration;
    use crate::text::Label;

    #[test]
    fn joins_fill_a_group_to_capacity_and_leaves_free_a_seat() {
        let mut config = JourneyConfig::new(ClinicCalendar::CHINA);
        let tag = TagName::parse("condition/高血压").unwrap();
        config.groups = vec![
            GroupSeries::new(
                GroupId::new(1),
                Label::parse("高血压").unwrap(),
                Label::parse("血压管理").unwrap(),
                StaffId::new(4),
                Expr::has_tag(tag),
            )
            .unwrap()
            .with_capacity(1)
            .unwrap(),
        ];
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let mut clinic = Clinic::new();
        let mut key = 0;
        let mut handle = |clinic: &mut Clinic, kind| {
            key += 1;
            let e = ClinicEvent {
                key: EventKey::new(key),
                at,
                kind,
            };
            clinic.handle(&config, &e).map(|_| ())
        };
        for n in 1..=2 {
            handle(
                &mut clinic,
                ClinicEventKind::Register {
                    patient: PatientId::new(n),
                    registration: Box::new(registration(n)),
                },
            )
            .unwrap();
        }
        let chat = GroupChatRef {
            series: GroupId::new(1),
            number: 1,
        };
        let join = |p| {
            ClinicEventKind::Group(GroupEvent::Joined {
                chat,
                patient: PatientId::new(p),
                at,
            })
        };
        handle(&mut clinic, join(1)).unwrap();
        let full = handle(&mut clinic, join(2)).unwrap_err();
        assert!(
            matches!(
                full,
                JourneyError::Relationship(RelationshipError::GroupOverCapacity {
                    capacity: 1,
                    ..
                })
            ),
            "{full}"
        );
        let unknown = handle(&mut clinic, join(3)).unwrap_err();
        assert!(
            matches!(unknown, JourneyError::UnknownPatient { .. }),
            "{unknown}"
        );
        let other = GroupChatRef {
            series: GroupId::new(9),
            number: 1,
        };
        let nowhere = handle(
            &mut clinic,
            ClinicEventKind::Group(GroupEvent::Joined {
                chat: other,
                patient: PatientId::new(2),
                at,
            }),
        )
        .unwrap_err();
        assert!(
            matches!(
                nowhere,
                JourneyError::Relationship(RelationshipError::UnknownGroup { .. })
            ),
            "{nowhere}"
        );
        handle(
            &mut clinic,
            ClinicEventKind::Group(GroupEvent::Left {
                chat,
                patient: PatientId::new(1),
                at,
            }),
        )
        .unwrap();
        handle(&mut clinic, join(2)).unwrap();
        let members = &clinic.groups().chat(chat).unwrap().members;
        assert_eq!(
            members.iter().copied().collect::<Vec<_>>(),
            [PatientId::new(2)]
        );
    }
}
