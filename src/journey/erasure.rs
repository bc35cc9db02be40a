//! Erasure in the journey layer: `Erase` anonymises a patient everywhere the clinic holds
//! them, the in-memory twin of [`store::erase_patient`](crate::store::erase_patient).
//!
//! The decision is made of the same events the store's erasure commits (the patient's,
//! the follow-up history's, each appointment book's, each complaint's and each roster's
//! anonymisation), so a host with stores commits them as it commits any implications,
//! then calls [`store::erase_patient`](crate::store::erase_patient) for the ports that keep
//! no events (purchase categories, contact logs, group events, feedback comments), which
//! finds its own events already done. [`apply`](super::apply) also removes what only the
//! clinic in memory holds: the referral member's mobile and resident id, the contact pool,
//! group seats, content enrolments, purchase categories, feedback comments, and the
//! remembered events that named the patient (a registration holds their name and mobile).

use chrono::{DateTime, Utc};

use super::clinic::Clinic;
use super::error::JourneyError;
use super::layer::{ClinicEvent, ClinicEventKind, Implications};
use crate::calendar::ClinicCalendar;
use crate::followup::FollowUpHistory;
use crate::id::PatientId;
use crate::patient::{self, PatientCommand};
use crate::referral::Member;

/// `Erase`: every anonymisation the patient's data needs, each decided by its own module.
/// Erasing twice decides only what the first left undone (nothing, after `apply`), so a
/// host that failed half-way sends the event again under a new key.
///
/// # Errors
///
/// [`JourneyError::UnknownPatient`]; [`JourneyError::Patient`] for a time outside the
/// accepted range.
pub(super) fn erase_step(
    state: &Clinic,
    patient: PatientId,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let p = state
        .patients
        .get(&patient)
        .ok_or(JourneyError::UnknownPatient { patient })?;
    if !p.is_anonymised() {
        let events = patient::decide(Some(p), patient, &PatientCommand::Anonymise, at, cal)?;
        step.patient
            .extend(events.into_iter().map(|e| (patient, e)));
    }
    let fresh;
    let history = match state.histories.get(&patient) {
        Some(h) => h,
        None => {
            fresh = FollowUpHistory::new(patient);
            &fresh
        }
    };
    step.followup
        .extend(history.anonymise(at).into_iter().map(|e| (patient, e)));
    for (clinic, book) in &state.appointments.books {
        step.appointments.extend(
            book.anonymise(patient, at)
                .into_iter()
                .map(|e| (*clinic, e)),
        );
    }
    for (id, c) in &state.appointments.complaints {
        if c.opened.patient == patient {
            step.complaints
                .extend(c.anonymise(at).into_iter().map(|e| (*id, e)));
        }
    }
    for (id, r) in &state.rosters {
        step.rosters
            .extend(r.anonymise(patient).into_iter().map(|e| (*id, e)));
    }
    if let Some(m) = state.forest.member(patient)
        && (m.mobile.is_some() || m.resident_id.is_some())
    {
        step.members.push(Member {
            mobile: None,
            resident_id: None,
            ..m.clone()
        });
    }
    step.erased = Some(patient);
    Ok(())
}

/// Removes from the clinic in memory what the patient's events do not: see the module docs.
pub(super) fn apply_erasure(state: &mut Clinic, patient: PatientId) {
    for entry in state.purchases.values_mut() {
        if entry.purchase.patient == patient {
            entry.purchase.category = None;
        }
    }
    if let Some((_, purchases)) = state.by_patient.get_mut(&patient) {
        for p in purchases {
            p.category = None;
        }
    }
    state.appointments.erase_feedback_comments(patient);
    state.contacts.remove(patient);
    state.groups.forget(patient);
    state.enrolments.retain(|(p, _), _| *p != patient);
    let named: Vec<_> = state
        .decided
        .iter()
        .filter(|(_, (e, _))| names(state, e, patient))
        .map(|(k, (_, refused))| (*k, *refused))
        .collect();
    for (key, refused) in named {
        state.decided.remove(&key);
        state.erased_keys.insert(key, refused);
    }
}

/// Whether a remembered event names the patient (directly, or through the purchase,
/// complaint or appointment it is about).
fn names(state: &Clinic, event: &ClinicEvent, patient: PatientId) -> bool {
    use crate::appointment::AppointmentCommand as A;
    use crate::event::RosterCommand as R;
    match &event.kind {
        ClinicEventKind::Register { patient: p, .. }
        | ClinicEventKind::Consent { patient: p, .. }
        | ClinicEventKind::Redeem { patient: p, .. }
        | ClinicEventKind::Contact { patient: p, .. }
        | ClinicEventKind::Sequence { patient: p, .. } => *p == patient,
        ClinicEventKind::Visit(v) => v.patient == patient,
        ClinicEventKind::Purchase { purchase, .. } => purchase.patient == patient,
        ClinicEventKind::Refund { purchase, .. } => state
            .purchases
            .get(purchase)
            .is_some_and(|e| e.purchase.patient == patient),
        ClinicEventKind::Refer { referrer, referee } => *referrer == patient || *referee == patient,
        ClinicEventKind::Outreach { command, .. } => match command {
            R::Register { patient: p }
            | R::Unregister { patient: p }
            | R::Attend { patient: p } => *p == patient,
            _ => false,
        },
        ClinicEventKind::Appointment { clinic, command } => match command {
            A::Book { patient: p, .. } => *p == patient,
            A::Reschedule { id, .. }
            | A::Cancel { id, .. }
            | A::CheckIn { id }
            | A::MarkNoShow { id }
            | A::Complete { id } => state
                .appointments
                .books
                .get(clinic)
                .and_then(|b| b.get(*id))
                .is_some_and(|b| b.patient == patient),
        },
        ClinicEventKind::Complaint { id, command } => match command {
            crate::feedback::ComplaintCommand::Open(n) => n.patient == patient,
            _ => state
                .appointments
                .complaints
                .get(id)
                .is_some_and(|c| c.opened.patient == patient),
        },
        ClinicEventKind::Feedback(f) => f.patient == patient,
        ClinicEventKind::Group(g) => g.patient() == patient,
        ClinicEventKind::Expire
        | ClinicEventKind::Plan
        | ClinicEventKind::StaffLeft { .. }
        | ClinicEventKind::Erase { .. } => false,
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use crate::calendar::ClinicCalendar;
    use crate::campaign::AdLawWords;
    use crate::event::{LectureVenue, OutreachEvent, OutreachEventKind, RosterCommand};
    use crate::feedback::{Category, Comment, ComplaintCommand, Feedback, NewComplaint, Severity};
    use crate::id::{
        ClinicId, ComplaintId, DoctorId, FeedbackId, GroupId, OutreachEventId, PatientId,
        PurchaseId, StaffId, VisitId,
    };
    use crate::journey::{
        Clinic, ClinicEvent, ClinicEventKind, Decision, EventKey, JourneyConfig, JourneyError,
        Purchase,
    };
    use crate::metrics::satisfaction::NpsScore;
    use crate::money::{Points, Yuan};
    use crate::relationship::{
        AccountKind, ContactCommand, GroupChatRef, GroupEvent, GroupSeries, StaffAccount,
        StaffRoster,
    };
    use crate::segment::{Expr, TagName};
    use crate::testkit::patient_store::registration;
    use crate::text::Label;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_772_416_800, 0).unwrap()
    }

    fn config() -> JourneyConfig {
        let mut c = JourneyConfig::new(ClinicCalendar::default());
        c.staff = StaffRoster::new(vec![StaffAccount::new(
            StaffId::new(1),
            AccountKind::Doctor,
            ClinicId::new(1),
            100,
        )])
        .unwrap();
        c.groups = vec![
            GroupSeries::new(
                GroupId::new(1),
                Label::parse("高血压").unwrap(),
                Label::parse("血压管理").unwrap(),
                StaffId::new(1),
                Expr::has_tag(TagName::parse("condition/高血压").unwrap()),
            )
            .unwrap(),
        ];
        c
    }

    /// Every kind of record that holds something of the patient, for patients 1 and 2.
    fn clinic_with_two_patients(config: &JourneyConfig) -> (Clinic, u64) {
        clinic_with(config, &[0xff, 0xff])
    }

    /// Patients 1..=n, each registered, with the records their mask picks: 1 contact,
    /// 2 group, 4 seat, 8 purchase, 16 feedback, 32 complaint.
    fn clinic_with(config: &JourneyConfig, masks: &[u8]) -> (Clinic, u64) {
        let mut clinic = Clinic::new();
        let mut key = 0;
        let mut handle = |clinic: &mut Clinic, kind| {
            key += 1;
            let e = ClinicEvent {
                key: EventKey::new(key),
                at: now() + Duration::minutes(i64::try_from(key).unwrap()),
                kind,
            };
            let d = clinic.handle(config, &e);
            assert!(matches!(d, Ok(Decision::New(_))), "{d:?}");
        };
        let lecture = OutreachEvent::new(
            OutreachEventId::new(1),
            ClinicId::new(1),
            OutreachEventKind::Lecture {
                venue: LectureVenue::Group,
            },
            Label::parse("高血压讲堂").unwrap(),
            now() + Duration::days(2),
            30,
        )
        .and_then(|e| e.with_invitation("血压怎么管", &AdLawWords::default()))
        .unwrap();
        handle(&mut clinic, outreach(RosterCommand::Create(lecture)));
        handle(&mut clinic, outreach(RosterCommand::Publish));
        for (n, mask) in (1u64..).zip(masks.iter().copied()) {
            let patient = PatientId::new(n);
            let has = |bit: u8| mask & bit != 0;
            handle(
                &mut clinic,
                ClinicEventKind::Register {
                    patient,
                    registration: Box::new(registration(n)),
                },
            );
            if has(1) {
                handle(
                    &mut clinic,
                    ClinicEventKind::Contact {
                        patient,
                        command: ContactCommand::Add {
                            staff: StaffId::new(1),
                            channel: None,
                        },
                    },
                );
            }
            if has(2) {
                handle(
                    &mut clinic,
                    ClinicEventKind::Group(GroupEvent::Joined {
                        chat: GroupChatRef {
                            series: GroupId::new(1),
                            number: 1,
                        },
                        patient,
                        at: now(),
                    }),
                );
            }
            if has(4) {
                handle(&mut clinic, outreach(RosterCommand::Register { patient }));
            }
            if has(8) {
                handle(
                    &mut clinic,
                    ClinicEventKind::Purchase {
                        purchase: Purchase {
                            id: PurchaseId::new(n),
                            patient,
                            at: now(),
                            amount: Yuan::from_whole(100).unwrap(),
                            category: Some(crate::journey::Category::parse("herbal").unwrap()),
                            days_supply: None,
                        },
                        visit: None,
                        points: Points::ZERO,
                    },
                );
            }
            if has(16) {
                handle(
                    &mut clinic,
                    ClinicEventKind::Feedback(Feedback {
                        id: FeedbackId::new(n),
                        patient,
                        visit: VisitId::new(n),
                        doctor: DoctorId::new(1),
                        clinic: ClinicId::new(1),
                        score: NpsScore::new(3).unwrap(),
                        csat: None,
                        comment: Some(Comment::parse("候诊太久").unwrap()),
                        at: now(),
                    }),
                );
            }
            if has(32) {
                handle(
                    &mut clinic,
                    ClinicEventKind::Complaint {
                        id: ComplaintId::new(n),
                        command: ComplaintCommand::Open(NewComplaint {
                            id: ComplaintId::new(n),
                            patient,
                            clinic: ClinicId::new(1),
                            doctor: None,
                            visit: None,
                            feedback: None,
                            category: Category::Other,
                            severity: Severity::Medium,
                            owner: StaffId::new(1),
                            comment: Some(Comment::parse("药太苦").unwrap()),
                        }),
                    },
                );
            }
        }
        (clinic, key)
    }

    fn outreach(command: RosterCommand) -> ClinicEventKind {
        ClinicEventKind::Outreach {
            event: OutreachEventId::new(1),
            command,
        }
    }

    /// Whether the clinic still holds anything of patient `n` beyond pseudonymous facts.
    fn holds(clinic: &Clinic, n: u64) -> Vec<&'static str> {
        let p = PatientId::new(n);
        let mut found = vec![];
        if clinic.patient(p).is_some_and(|x| x.identity().is_some()) {
            found.push("identity");
        }
        if clinic
            .forest()
            .member(p)
            .is_some_and(|m| m.mobile.is_some() || m.resident_id.is_some())
        {
            found.push("referral member keys");
        }
        if clinic.contacts().get(p).is_some() {
            found.push("contact pool");
        }
        if clinic.groups().is_member_anywhere(p) {
            found.push("group seat");
        }
        if clinic
            .roster(OutreachEventId::new(1))
            .is_some_and(|r| r.seats().contains_key(&p))
        {
            found.push("roster seat");
        }
        if clinic
            .purchase(PurchaseId::new(n))
            .is_some_and(|e| e.purchase.category.is_some())
            || clinic.records_of(p).1.iter().any(|x| x.category.is_some())
        {
            found.push("purchase category");
        }
        if clinic
            .appointments()
            .feedback()
            .any(|f| f.patient == p && f.comment.is_some())
        {
            found.push("feedback comment");
        }
        if clinic
            .appointments()
            .complaint(ComplaintId::new(n))
            .is_some_and(|c| c.opened.comment.is_some() || !c.notes.is_empty())
        {
            found.push("complaint words");
        }
        if clinic
            .decided
            .values()
            .any(|(e, _)| super::names(clinic, e, p))
        {
            found.push("remembered events");
        }
        found
    }

    #[test]
    fn erase_anonymises_the_patient_everywhere_the_clinic_holds_them() {
        let config = config();
        let (mut clinic, last) = clinic_with_two_patients(&config);
        let everything = vec![
            "identity",
            "referral member keys",
            "contact pool",
            "group seat",
            "roster seat",
            "purchase category",
            "feedback comment",
            "complaint words",
            "remembered events",
        ];
        assert_eq!(holds(&clinic, 1), everything);
        let p = PatientId::new(1);
        let erase = |key| ClinicEvent {
            key: EventKey::new(key),
            at: now() + Duration::hours(1),
            kind: ClinicEventKind::Erase { patient: p },
        };
        let Ok(Decision::New(step)) = clinic.handle(&config, &erase(last + 1)) else {
            panic!("erasure refused");
        };
        assert_eq!(step.erased, Some(p));
        assert_eq!(step.patient.len(), 1);
        assert_eq!(step.followup.len(), 1);
        assert_eq!((step.complaints.len(), step.rosters.len()), (1, 1));
        assert_eq!(holds(&clinic, 1), Vec::<&str>::new());
        // The other patient keeps everything.
        assert_eq!(holds(&clinic, 2), everything);
        // The patient's first event, replayed, is answered as decided; nothing new is
        // recorded about them.
        let first_registration = clinic_with_two_patients(&config)
            .0
            .decided
            .iter()
            .find(|(_, (e, _))| matches!(e.kind, ClinicEventKind::Register { patient, .. } if patient == p))
            .map(|(_, (e, _))| e.clone())
            .unwrap();
        assert_eq!(
            clinic.handle(&config, &first_registration),
            Ok(Decision::Replayed { refused: false })
        );
        // Erasing again (a host retrying under a new key) finds nothing left to do.
        let Ok(Decision::New(again)) = clinic.handle(&config, &erase(last + 2)) else {
            panic!("second erasure refused");
        };
        assert!(again.patient.is_empty() && again.followup.is_empty());
        assert!(again.complaints.is_empty() && again.rosters.is_empty());
        assert_eq!(holds(&clinic, 1), Vec::<&str>::new());
    }

    #[test]
    fn erasing_an_unknown_patient_is_refused() {
        let config = config();
        let mut clinic = Clinic::new();
        let e = ClinicEvent {
            key: EventKey::new(1),
            at: now(),
            kind: ClinicEventKind::Erase {
                patient: PatientId::new(9),
            },
        };
        assert_eq!(
            clinic.handle(&config, &e),
            Err(JourneyError::UnknownPatient {
                patient: PatientId::new(9)
            })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever a patient's records, erasing them leaves nothing of them, and every
        /// other patient keeps exactly what they had.
        #[test]
        fn erasure_reaches_all_of_one_patient_and_none_of_the_others(
            masks in proptest::collection::vec(0u8..64, 1..5),
            pick in 0usize..5,
        ) {
            let config = config();
            let (mut clinic, last) = clinic_with(&config, &masks);
            let n = u64::try_from(pick % masks.len()).unwrap() + 1;
            let others: Vec<u64> = (1..=masks.len() as u64).filter(|&o| o != n).collect();
            let before: Vec<_> = others.iter().map(|&o| holds(&clinic, o)).collect();
            let erase = ClinicEvent {
                key: EventKey::new(last + 1),
                at: now() + Duration::hours(1),
                kind: ClinicEventKind::Erase { patient: PatientId::new(n) },
            };
            let done = clinic.handle(&config, &erase);
            proptest::prop_assert!(matches!(done, Ok(Decision::New(_))), "{:?}", done);
            proptest::prop_assert_eq!(holds(&clinic, n), Vec::<&str>::new());
            let after: Vec<_> = others.iter().map(|&o| holds(&clinic, o)).collect();
            proptest::prop_assert_eq!(after, before);
        }
    }
}
