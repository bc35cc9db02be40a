//! Outreach events in the journey layer (issue 20): the glue the layer's match arms call,
//! kept out of `layer.rs`.

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use super::JourneyError;
use crate::event::{self, Roster, RosterCommand, RosterEvent};
use crate::id::OutreachEventId;

/// Decides a command on one outreach event against its roster. A patient who registers
/// or attends must be known to the clinic (`known` finds them): a free clinic's walk-ins
/// are registered as patients first. An erased patient takes no new seat.
///
/// # Errors
///
/// [`JourneyError::UnknownPatient`] for a patient the clinic does not know,
/// [`JourneyError::Anonymised`] for an erased patient registering or attending,
/// [`JourneyError::OutreachEvent`] for what [`event::decide`] refuses.
pub(super) fn outreach_step<'a>(
    rosters: &BTreeMap<OutreachEventId, Roster>,
    known: impl Fn(crate::id::PatientId) -> Option<&'a crate::patient::Patient>,
    id: OutreachEventId,
    command: &RosterCommand,
    at: DateTime<Utc>,
    out: &mut Vec<(OutreachEventId, RosterEvent)>,
) -> Result<(), JourneyError> {
    let patient = match command {
        RosterCommand::Register { patient }
        | RosterCommand::Unregister { patient }
        | RosterCommand::Attend { patient } => Some(*patient),
        _ => None,
    };
    if let Some(p) = patient {
        match known(p) {
            None => return Err(JourneyError::UnknownPatient { patient: p }),
            Some(found)
                if found.is_anonymised()
                    && !matches!(command, RosterCommand::Unregister { .. }) =>
            {
                return Err(JourneyError::Anonymised { patient: p });
            }
            Some(_) => {}
        }
    }
    let events = event::decide(rosters.get(&id), command, at)?;
    out.extend(events.into_iter().map(|e| (id, e)));
    Ok(())
}

/// Folds the roster events of one decision into the clinic's rosters.
pub(super) fn apply_rosters(
    rosters: &mut BTreeMap<OutreachEventId, Roster>,
    events: &[(OutreachEventId, RosterEvent)],
) {
    for (id, e) in events {
        let mut r = rosters.remove(id);
        event::apply(&mut r, e);
        if let Some(r) = r {
            rosters.insert(*id, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use crate::calendar::ClinicCalendar;
    use crate::campaign::AdLawWords;
    use crate::event::{LectureVenue, OutreachEvent, OutreachEventKind, RosterCommand};
    use crate::id::{ClinicId, OutreachEventId, PatientId};
    use crate::journey::{
        Clinic, ClinicEvent, ClinicEventKind, Decision, EventKey, JourneyConfig, JourneyError,
    };
    use crate::patient::{Channel, MobileNumber, PersonName, Registration};
    use crate::text::Label;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_772_416_800, 0).unwrap()
    }

    fn ev(key: u64, kind: ClinicEventKind) -> ClinicEvent {
        ClinicEvent {
            key: EventKey::new(key),
            at: now(),
            kind,
        }
    }

    fn outreach(key: u64, command: RosterCommand) -> ClinicEvent {
        ev(
            key,
            ClinicEventKind::Outreach {
                event: OutreachEventId::new(1),
                command,
            },
        )
    }

    #[test]
    fn a_lecture_through_the_journey_layer() {
        let config = JourneyConfig::new(ClinicCalendar::default());
        let mut clinic = Clinic::new();
        let registration = Registration::new(
            PersonName::parse("王五").unwrap(),
            MobileNumber::parse("13800000001").unwrap(),
            ClinicId::new(1),
            Channel::CommunityEvent,
        );
        let p = PatientId::new(1);
        let register = ClinicEventKind::Register {
            patient: p,
            registration: Box::new(registration),
        };
        let registered = clinic.handle(&config, &ev(1, register));
        assert!(matches!(registered, Ok(Decision::New(_))));
        let lecture = OutreachEvent::new(
            OutreachEventId::new(1),
            ClinicId::new(1),
            OutreachEventKind::Lecture {
                venue: LectureVenue::Group,
            },
            Label::parse("糖尿病饮食讲堂").unwrap(),
            now() + Duration::days(1),
            30,
        )
        .and_then(|e| e.with_invitation("控糖饮食怎么吃", &AdLawWords::default()))
        .unwrap();
        for (key, cmd) in [
            (2, RosterCommand::Create(lecture)),
            (3, RosterCommand::Publish),
        ] {
            let done = clinic.handle(&config, &outreach(key, cmd));
            assert!(matches!(done, Ok(Decision::New(_))), "{done:?}");
        }
        let join = outreach(4, RosterCommand::Register { patient: p });
        let Ok(Decision::New(step)) = clinic.handle(&config, &join) else {
            panic!("registration refused");
        };
        assert_eq!(step.rosters.len(), 1);
        assert_eq!(
            clinic.handle(&config, &join).unwrap(),
            Decision::Replayed { refused: false }
        );
        let stranger = outreach(
            5,
            RosterCommand::Register {
                patient: PatientId::new(9),
            },
        );
        assert!(matches!(
            clinic.handle(&config, &stranger),
            Err(JourneyError::UnknownPatient { .. })
        ));
        let twice = outreach(6, RosterCommand::Register { patient: p });
        assert!(matches!(
            clinic.handle(&config, &twice),
            Err(JourneyError::OutreachEvent(_))
        ));
        let roster = clinic.roster(OutreachEventId::new(1)).unwrap();
        assert_eq!(roster.seats().len(), 1);
        assert_eq!(roster.free_seats(), 29);
        // Once the patient is erased they take no new seat, but may still give theirs up.
        let erased = crate::journey::Implications {
            patient: vec![(p, crate::patient::PatientEvent::Anonymised { at: now() })],
            ..crate::journey::Implications::default()
        };
        crate::journey::apply(&mut clinic, &erased);
        let attend = outreach(7, RosterCommand::Attend { patient: p });
        assert_eq!(
            clinic.handle(&config, &attend),
            Err(JourneyError::Anonymised { patient: p })
        );
        let leave = outreach(8, RosterCommand::Unregister { patient: p });
        assert!(matches!(
            clinic.handle(&config, &leave),
            Ok(Decision::New(_))
        ));
    }
}
