//! The outreach event roster against a plain model, and the publishing rules (issue 20).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use clinic_ops::campaign::AdLawWords;
use clinic_ops::event::{
    self, EventCheck, LectureVenue, OutreachEvent, OutreachEventError, OutreachEventKind, Roster,
    RosterCommand, RosterStatus, check_event, event_conversion,
};
use clinic_ops::id::{ClinicId, OutreachEventId, PatientId};
use clinic_ops::text::Label;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_416_800, 0).unwrap()
}

fn event_of(kind: OutreachEventKind, capacity: u32, invitation: &str) -> OutreachEvent {
    OutreachEvent::new(
        OutreachEventId::new(1),
        ClinicId::new(1),
        kind,
        Label::parse("会员日").unwrap(),
        now() + Duration::days(2),
        capacity,
    )
    .and_then(|e| e.with_invitation(invitation, &AdLawWords::default()))
    .unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    Publish,
    Register(u64),
    Unregister(u64),
    Attend(u64),
    Cancel,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Publish),
        6 => (0u64..6).prop_map(Op::Register),
        2 => (0u64..6).prop_map(Op::Unregister),
        3 => (0u64..6).prop_map(Op::Attend),
        1 => Just(Op::Cancel),
    ]
}

#[derive(Debug, Default)]
struct Model {
    published: bool,
    cancelled: bool,
    seats: BTreeMap<u64, bool>,
}

impl Model {
    /// Whether the command is accepted, applying it when it is.
    fn step(&mut self, op: &Op, capacity: usize) -> bool {
        let open = self.published && !self.cancelled;
        match op {
            Op::Publish => {
                let ok = !self.published && !self.cancelled;
                self.published |= ok;
                ok
            }
            Op::Cancel => {
                let ok = !self.cancelled;
                self.cancelled = true;
                ok
            }
            Op::Register(p) => {
                let ok = open && !self.seats.contains_key(p) && self.seats.len() < capacity;
                if ok {
                    self.seats.insert(*p, false);
                }
                ok
            }
            Op::Unregister(p) => {
                let ok = open && self.seats.get(p) == Some(&false);
                if ok {
                    self.seats.remove(p);
                }
                ok
            }
            Op::Attend(p) => {
                let ok = open && self.seats.get(p) == Some(&false);
                if ok {
                    self.seats.insert(*p, true);
                }
                ok
            }
        }
    }
}

fn command(op: &Op) -> RosterCommand {
    match op {
        Op::Publish => RosterCommand::Publish,
        Op::Cancel => RosterCommand::Cancel,
        Op::Register(p) => RosterCommand::Register {
            patient: PatientId::new(*p),
        },
        Op::Unregister(p) => RosterCommand::Unregister {
            patient: PatientId::new(*p),
        },
        Op::Attend(p) => RosterCommand::Attend {
            patient: PatientId::new(*p),
        },
    }
}

proptest! {
    /// The roster aggregate follows the model command by command: the same commands are
    /// accepted, the seats and attendance agree, and the seats never pass the capacity
    /// (a registration over capacity is refused as `Full`).
    #[test]
    fn roster_follows_the_model(capacity in 1u32..4, ops in prop::collection::vec(op(), 0..40)) {
        let e = event_of(OutreachEventKind::Lecture { venue: LectureVenue::Group }, capacity, "讲座");
        let mut roster: Option<Roster> = None;
        for ev in event::decide(None, &RosterCommand::Create(e), now()).unwrap() {
            event::apply(&mut roster, &ev);
        }
        let mut model = Model::default();
        for op in &ops {
            let full_before = roster.as_ref().unwrap().free_seats() == 0;
            let decided = event::decide(roster.as_ref(), &command(op), now());
            let accepted = model.step(op, capacity as usize);
            prop_assert_eq!(decided.is_ok(), accepted, "{:?} gave {:?}", op, decided);
            match decided {
                Ok(events) => for ev in &events { event::apply(&mut roster, ev) },
                Err(OutreachEventError::Full { .. }) => prop_assert!(full_before),
                Err(_) => {}
            }
            let r = roster.as_ref().unwrap();
            prop_assert!(r.seats().len() <= capacity as usize);
            let seats: BTreeMap<u64, bool> = r
                .seats()
                .iter()
                .map(|(p, s)| (p.get(), s.attended_at.is_some()))
                .collect();
            prop_assert_eq!(&seats, &model.seats);
            let status = if model.cancelled {
                RosterStatus::Cancelled
            } else if model.published {
                RosterStatus::Published
            } else {
                RosterStatus::Draft
            };
            prop_assert_eq!(r.status(), status);
        }
        // The stored form reads back as the same roster.
        let json = serde_json::to_string(roster.as_ref().unwrap()).unwrap();
        prop_assert_eq!(serde_json::from_str::<Roster>(&json).unwrap(), roster.unwrap());
    }

    /// A free clinic without an approval reference can never be published, whatever its
    /// seats and copy; with one, clean copy and a future start, it can.
    #[test]
    fn free_clinic_needs_approval(capacity in 1u32..500, reference in "[A-Z0-9]{1,12}") {
        let bare = event_of(OutreachEventKind::FreeClinic { approval: None }, capacity, "免费测血糖");
        prop_assert!(check_event(&bare, now()).contains(&EventCheck::FreeClinicWithoutApproval));
        let mut roster = None;
        event::apply(&mut roster, &event::decide(None, &RosterCommand::Create(bare), now()).unwrap()[0]);
        let refused = event::decide(roster.as_ref(), &RosterCommand::Publish, now());
        let unpublishable = matches!(refused, Err(OutreachEventError::Unpublishable { .. }));
        prop_assert!(unpublishable);
        let approved = event_of(
            OutreachEventKind::FreeClinic { approval: Some(Label::parse(&reference).unwrap()) },
            capacity,
            "免费测血糖",
        );
        prop_assert_eq!(check_event(&approved, now()), vec![]);
    }
}

#[test]
fn invitation_copy_goes_through_the_ad_law_lint() {
    let e = event_of(
        OutreachEventKind::MemberDay,
        10,
        "会员日义诊，根治失眠，有效率98%",
    );
    let found = check_event(&e, now());
    let words: BTreeSet<String> = found
        .iter()
        .filter_map(|c| match c {
            EventCheck::AdLaw { word, .. } => Some(word.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        words,
        BTreeSet::from(["根治".to_owned(), "有效率".to_owned()])
    );
    let mut roster = None;
    event::apply(
        &mut roster,
        &event::decide(None, &RosterCommand::Create(e), now()).unwrap()[0],
    );
    let err = event::decide(roster.as_ref(), &RosterCommand::Publish, now()).unwrap_err();
    assert!(err.to_string().contains("根治"), "{err}");
    assert!(
        OutreachEvent::new(
            OutreachEventId::new(2),
            ClinicId::new(1),
            OutreachEventKind::MemberDay,
            Label::parse("x").unwrap(),
            now(),
            0,
        )
        .is_err()
    );
}

/// One lecture's result: 3 came, 2 of them paid within 14 days; 2 registered and stayed
/// away, 1 of them paid anyway. Late visits and visits of other patients do not count.
#[test]
fn lecture_conversion_against_no_shows() {
    let e = event_of(
        OutreachEventKind::Lecture {
            venue: LectureVenue::OnSite,
        },
        10,
        "讲座",
    );
    let starts = e.starts();
    let mut roster = None;
    let mut run = |cmd: RosterCommand| {
        for ev in event::decide(roster.as_ref(), &cmd, now()).unwrap() {
            event::apply(&mut roster, &ev);
        }
    };
    run(RosterCommand::Create(e));
    run(RosterCommand::Publish);
    for p in 1..=5 {
        run(RosterCommand::Register {
            patient: PatientId::new(p),
        });
    }
    for p in 1..=3 {
        run(RosterCommand::Attend {
            patient: PatientId::new(p),
        });
    }
    let r = roster.unwrap();
    let day = Duration::days(1);
    let visits = [
        (PatientId::new(1), starts + day),
        (PatientId::new(2), starts + day * 14),
        (PatientId::new(3), starts + day * 15),
        (PatientId::new(4), starts + day * 3),
        (PatientId::new(9), starts + day),
        (PatientId::new(5), starts - day),
    ];
    let c = event_conversion(&r, &visits, 14);
    assert_eq!(
        (
            c.attendees,
            c.attendees_converted,
            c.no_shows,
            c.no_shows_converted
        ),
        (3, 2, 2, 1)
    );
    assert_eq!(c.no_show_rate(), Some(0.5));
}
