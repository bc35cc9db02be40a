//! The journey layer: one clinic event in, everything it implies across the modules out.

use chrono::{DateTime, Utc};

use super::appointments::{self};
use super::bridge::{self, CampaignBonus, Cashback, RewardPosting};
use super::clinic::{Clinic, Held, Ledgers};
use super::config::JourneyConfig;
use super::error::JourneyError;
use super::keys::{EventKey, KeyUse};
use super::planning::PlanChecked;
use super::records::{Purchase, Visit};
use super::rewards::{self, RewardsChecked};
use crate::calendar::ClinicCalendar;
use crate::campaign::{self, Amount, Effect, EvalOptions, Evaluation, UsageKey};
use crate::event::{RosterCommand, RosterEvent};
use crate::followup::FollowUpEvent;
use crate::id::{CampaignId, OutreachEventId, PatientId, PurchaseId, VisitId};
use crate::money::{Points, Yuan};
use crate::patient::{
    self, ConsentGiver, ConsentPurpose, Label, Patient, PatientCommand, PatientEvent, Registration,
};
use crate::points::{CommandKind, LedgerCommand, Posting};
use crate::referral::{self, Bind, Member, ReferralEvent};

/// What happened at the clinic.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClinicEventKind {
    /// A patient registered.
    Register {
        /// The new patient's id.
        patient: PatientId,
        /// What they registered with.
        registration: Box<Registration>,
    },
    /// A patient granted or withdrew consent to a purpose.
    Consent {
        /// The patient.
        patient: PatientId,
        /// The purpose.
        purpose: ConsentPurpose,
        /// Granted (`true`) or withdrawn.
        granted: bool,
        /// Where it was captured (`front_desk`, `mini_program`).
        source: Label,
    },
    /// A visit.
    Visit(Visit),
    /// A purchase, paid in cash (`purchase.amount`) and optionally with points.
    Purchase {
        /// The purchase.
        purchase: Purchase,
        /// The visit it was made at, if any: refunding the purchase in full refunds the visit.
        visit: Option<VisitId>,
        /// Points used to pay, zero for none.
        points: Points,
    },
    /// A cash refund of (part of) a purchase.
    Refund {
        /// The purchase.
        purchase: PurchaseId,
        /// The cash refunded now.
        amount: Yuan,
    },
    /// Points spent outside a purchase (a gift from the points mall).
    Redeem {
        /// The patient.
        patient: PatientId,
        /// How many.
        points: Points,
    },
    /// A referral code was used.
    Refer {
        /// The patient who referred.
        referrer: PatientId,
        /// The new patient.
        referee: PatientId,
    },
    /// The nightly points expiry run, for every account.
    Expire,
    /// Planning the care follow-ups of the local day, for every patient.
    Plan,
    /// A command on an outreach event: a lecture, a free clinic or a member day (issue 20).
    Outreach {
        /// The event.
        event: OutreachEventId,
        /// What is asked of it.
        command: RosterCommand,
    },
    /// A command to a clinic's appointment book (book, reschedule, cancel, check in,
    /// no-show, complete).
    Appointment {
        /// The clinic.
        clinic: crate::id::ClinicId,
        /// The command.
        command: crate::appointment::AppointmentCommand,
    },
    /// A command to a complaint (open, acknowledge, resolve, close, reopen, reassign).
    Complaint {
        /// The complaint.
        id: crate::id::ComplaintId,
        /// The command.
        command: crate::feedback::ComplaintCommand,
    },
    /// Feedback after a visit.
    Feedback(crate::feedback::Feedback),
    /// A staff account's contact with a patient changed (issue 19).
    Contact {
        /// The patient.
        patient: PatientId,
        /// What changed.
        command: crate::relationship::ContactCommand,
    },
    /// A staff member left or was reassigned: their patients are handed over (issue 19).
    StaffLeft {
        /// Who, to whom, which patients.
        handover: crate::relationship::Handover,
    },
    /// A patient joined, left or was removed from a patient group (issue 19).
    Group(crate::relationship::GroupEvent),
    /// A command on a patient's enrolment in a content sequence (issue 20).
    Sequence {
        /// The patient.
        patient: PatientId,
        /// The sequence.
        sequence: crate::id::SequenceId,
        /// Enrol, plan the next step, or stop.
        command: crate::content::EnrolmentCommand,
    },
    /// The patient is erased (asked to be forgotten, or their retention deadline passed):
    /// anonymised everywhere the clinic holds them, as
    /// [`store::erase_patient`](crate::store::erase_patient) does in the stores.
    Erase {
        /// The patient.
        patient: PatientId,
    },
}

/// One clinic event: its key, its time and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicEvent {
    /// The event's idempotency key; every derived key comes from it.
    pub key: EventKey,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// What happened.
    pub kind: ClinicEventKind,
}

/// A campaign effect granted, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedEffect {
    /// The patient it is for.
    pub patient: PatientId,
    /// The campaign.
    pub campaign: CampaignId,
    /// The effect's position in the campaign.
    pub rule: usize,
    /// The effect as written.
    pub effect: Effect,
    /// What was granted.
    pub granted: Amount,
}

/// Something the host must carry out outside the modules.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostTask {
    /// Pay cashback.
    PayCashback {
        /// To whom.
        patient: PatientId,
        /// The grant.
        cashback: Cashback,
    },
    /// A campaign effect that is neither points nor cashback (coupon, gift, message, staff
    /// task): carry it out.
    CarryOut(AppliedEffect),
    /// A refund's share of cashback paid on the purchase: reclaim it, or cancel it if it
    /// was not paid out yet ([`bridge::refund_cashback`]).
    ReclaimCashback {
        /// From whom.
        patient: PatientId,
        /// The grant and the amount to reclaim now.
        cashback: Cashback,
    },
}

/// What a purchase did, kept so that its refunds can undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseEntry {
    /// The purchase.
    pub purchase: Purchase,
    /// The visit it was made at.
    pub visit: Option<VisitId>,
    /// The campaign bonuses it earned.
    pub bonuses: Vec<CampaignBonus>,
    /// Of each bonus, the points refunds took back.
    pub bonus_back: Vec<Points>,
    /// The cashback it earned.
    pub cashback: Vec<Cashback>,
    /// Of each cashback, the amount refunds asked back.
    pub cashback_back: Vec<Yuan>,
    /// The usage it consumed, released by a full refund.
    pub usage: Vec<(UsageKey, u64)>,
    /// Cash refunded so far.
    pub refunded: Yuan,
}

/// Everything one clinic event implies, as values: apply them with
/// [`apply`](super::apply) (or commit each to its store), then carry out `host`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use]
pub struct Implications {
    /// Patient events, in order.
    pub patient: Vec<(PatientId, PatientEvent)>,
    /// Ledger postings, in order (each names its account).
    pub ledger: Vec<Posting>,
    /// Referral members to add.
    pub members: Vec<Member>,
    /// Referral events.
    pub referral: Vec<ReferralEvent>,
    /// Visits to record.
    pub visits: Vec<Visit>,
    /// Visits refunded in full, with the time.
    pub visit_refunds: Vec<(VisitId, DateTime<Utc>)>,
    /// A purchase to record, or the new state of one after a refund.
    pub purchase: Option<PurchaseEntry>,
    /// Usage counters to add to.
    pub usage: Vec<(UsageKey, u64)>,
    /// Usage counters to give back (a purchase refunded in full).
    pub usage_release: Vec<(UsageKey, u64)>,
    /// Follow-up events.
    pub followup: Vec<(PatientId, FollowUpEvent)>,
    /// The campaign effects granted, with provenance.
    pub effects: Vec<AppliedEffect>,
    /// Referral rewards paid or taken back.
    pub rewards: Vec<RewardPosting>,
    /// What the host must do.
    pub host: Vec<HostTask>,
    /// What the referral-reward check before the event did, when it ran: kept by the
    /// clinic's reward book so that later events check only the rewards that can change.
    pub rewards_checked: Option<RewardsChecked>,
    /// What a `Plan` event found, when it ran: kept by the clinic so that later plans
    /// re-plan only the patients whose plan can have changed.
    pub planned: Option<PlanChecked>,
    /// The event these implications are of: [`apply`](super::apply) remembers its key, so
    /// that the event's replay is answered [`Decision::Replayed`]. `None` in implications a
    /// host builds itself (patient commands the layer does not cover).
    pub event: Option<ClinicEvent>,
    /// Outreach event roster events (issue 20).
    pub rosters: Vec<(OutreachEventId, RosterEvent)>,
    /// Appointment book events, by clinic.
    pub appointments: Vec<(crate::id::ClinicId, crate::appointment::AppointmentEvent)>,
    /// Complaint events, by complaint.
    pub complaints: Vec<(crate::id::ComplaintId, crate::feedback::ComplaintEvent)>,
    /// Feedback to record.
    pub feedback: Vec<crate::feedback::Feedback>,
    /// Contact events, per patient, in order (issue 19).
    pub contacts: Vec<(PatientId, crate::relationship::ContactEvent)>,
    /// The patients a handover could not transfer, and why.
    pub handover_refusals: Vec<(PatientId, crate::relationship::RelationshipError)>,
    /// The transfer notices the host sends with the platform's transfer call.
    pub handover_messages: Vec<crate::relationship::HandoverMessage>,
    /// The account a resigned handover marked as left: the clinic treats it as left from
    /// then on (no new contacts, no transfers to it).
    pub departed: Option<crate::id::StaffId>,
    /// Patient group events, in order (issue 19).
    pub groups: Vec<crate::relationship::GroupEvent>,
    /// The patient an `Erase` anonymised: besides the events above, the host erases what
    /// its stores keep without events (purchase categories, contact logs, group events,
    /// feedback comments) with [`store::erase_patient`](crate::store::erase_patient), and
    /// [`apply`](super::apply) removes the clinic's in-memory copies.
    pub erased: Option<PatientId>,
    /// Content sequence enrolment events, by patient and sequence, in order (issue 20).
    pub enrolments: Vec<(
        PatientId,
        crate::id::SequenceId,
        crate::content::EnrolmentEvent,
    )>,
    /// What a `Plan` event's content sequence pass found, when it ran: kept by the clinic
    /// so that later plans visit only the enrolments that can change (issue 20).
    pub sequences_planned: Option<super::sequence_plans::SequencesChecked>,
}

/// What [`decide`] answers for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum Decision {
    /// A new event: what it implies.
    New(Box<Implications>),
    /// The key was decided before with the same content: nothing new. `refused` tells
    /// whether it was refused then.
    Replayed {
        /// Whether the first decision was a refusal.
        refused: bool,
    },
}

/// Decides one clinic event against the clinic's state: everything it implies, as values.
/// Reads no clock and does no I/O. Every key it derives comes from the event's key, so an
/// event decided twice decides the same, and after [`apply`](super::apply) a replay is
/// [`Decision::Replayed`].
///
/// Before the event itself, referral rewards approved (or reversed) by the event's time are
/// paid (or taken back), dated at their decision's time ([`bridge::reward_posting`]).
///
/// # Errors
///
/// [`JourneyError`]: the module refusal (a duplicate registration, a redemption over the
/// balance, a gamed referral), an unknown patient or purchase, an over-refund, or a key
/// reused for another event.
pub fn decide(
    state: &Clinic,
    config: &JourneyConfig,
    event: &ClinicEvent,
) -> Result<Decision, JourneyError> {
    decide_with_accounts(state, config, event).map(|(d, _)| d)
}

/// [`decide`], also handing over the accounts its ledger postings were decided against,
/// with them applied (empty unless the decision is new and posts): [`super::Clinic::handle`]
/// keeps them instead of applying each posting again.
pub(super) fn decide_with_accounts(
    state: &Clinic,
    config: &JourneyConfig,
    event: &ClinicEvent,
) -> Result<(Decision, Held), JourneyError> {
    if let Some((first, refused)) = state.decided.get(&event.key) {
        return if first == event {
            Ok((Decision::Replayed { refused: *refused }, Held::default()))
        } else {
            Err(JourneyError::KeyReused { key: event.key })
        };
    }
    // An event that named an erased patient is forgotten with them: its key is still
    // answered as decided, though its content can no longer be compared.
    if let Some(refused) = state.erased_keys.get(&event.key) {
        return Ok((Decision::Replayed { refused: *refused }, Held::default()));
    }
    // Built in its box: moving the finished implications (a kilobyte of mostly empty
    // vectors) into one cost a copy per event.
    let mut boxed = Box::<Implications>::default();
    let step = &mut *boxed;
    let mut ledgers = Ledgers {
        state,
        scratch: Vec::new(),
        usage_slots: Vec::new(),
        policy: &config.points,
        calendar: config.calendar,
    };
    rewards::pay_rewards(state, config, event.at, &mut ledgers, step)?;
    let (key, at, cal) = (event.key, event.at, config.calendar);
    match &event.kind {
        ClinicEventKind::Register {
            patient,
            registration,
        } => register_step(state, *patient, registration, at, cal, step)?,
        ClinicEventKind::Consent {
            patient,
            purpose,
            granted,
            source,
        } => {
            let cmd = consent_command(*purpose, *granted, source);
            consent_step(state, *patient, &cmd, at, cal, step)?
        }
        ClinicEventKind::Visit(v) => visit_step(state, v, step)?,
        ClinicEventKind::Purchase {
            purchase,
            visit,
            points,
        } => purchase_step(
            state,
            config,
            key,
            at,
            purchase,
            *visit,
            *points,
            &mut ledgers,
            step,
        )?,
        ClinicEventKind::Refund { purchase, amount } => {
            refund_step(state, key, at, *purchase, *amount, &mut ledgers, step)?
        }
        ClinicEventKind::Redeem { patient, points } => {
            known(state, *patient)?;
            let cmd = LedgerCommand::new(
                key.derive(KeyUse::Redeem, 0),
                CommandKind::Redeem {
                    points: *points,
                    purchase: None,
                },
            );
            ledgers.post(*patient, &cmd, at, &mut step.ledger)?;
        }
        ClinicEventKind::Refer { referrer, referee } => {
            let bind = Bind {
                referee: *referee,
                referrer: *referrer,
                at,
            };
            step.referral
                .push(referral::decide(&state.forest, &bind, &config.binding)?);
        }
        ClinicEventKind::Expire => {
            for id in state.accounts.keys() {
                let cmd =
                    LedgerCommand::new(key.derive(KeyUse::Expire, id.get()), CommandKind::Expire);
                ledgers.post(*id, &cmd, at, &mut step.ledger)?;
            }
        }
        ClinicEventKind::Plan => {
            super::planning::plan_step(state, config, at, step)?;
            super::sequence_plans::plan_sequences_step(state, config, at, step)?
        }
        ClinicEventKind::Outreach { event, command } => {
            super::outreach::outreach_step(
                &state.rosters,
                |p| state.patients.get(&p),
                *event,
                command,
                at,
                &mut step.rosters,
            )?;
            super::content::event_reminders_step(state, config, *event, at, step)
        }
        ClinicEventKind::Appointment { clinic, command } => appointments::appointment_step(
            &state.appointments,
            &config.appointments,
            *clinic,
            command,
            &|p| state.patients.get(&p).map(|x| (x, state.histories.get(&p))),
            at,
            cal,
            step,
        )?,
        ClinicEventKind::Complaint { id, command } => appointments::complaint_step(
            &state.appointments,
            &config.appointments,
            *id,
            command,
            &|p| state.patients.get(&p).map(|x| (x, state.histories.get(&p))),
            at,
            cal,
            step,
        )?,
        ClinicEventKind::Feedback(f) => appointments::feedback_step(
            &state.appointments,
            &config.appointments,
            f,
            &|p| state.patients.get(&p).map(|x| (x, state.histories.get(&p))),
            at,
            cal,
            step,
        )?,
        ClinicEventKind::Contact { patient, command } => {
            known(state, *patient)?;
            let (book, left) = (&state.contacts, &state.departed);
            super::contacts::contact_step(book, left, config, *patient, command, at, step)?
        }
        ClinicEventKind::StaffLeft { handover } => {
            let (book, left) = (&state.contacts, &state.departed);
            super::contacts::staff_left_step(book, left, config, handover, at, step)?
        }
        ClinicEventKind::Group(e) => {
            known(state, e.patient())?;
            super::groups::group_step(&state.groups, config, e, step)?
        }
        ClinicEventKind::Sequence {
            patient,
            sequence,
            command,
        } => super::content::sequence_step(state, config, *patient, *sequence, command, at, step)?,
        ClinicEventKind::Erase { patient } => {
            super::erasure::erase_step(state, *patient, at, cal, step)?
        }
    }
    step.event = Some(event.clone());
    let held = Held {
        accounts: ledgers.scratch,
        usage_slots: ledgers.usage_slots,
    };
    Ok((Decision::New(boxed), held))
}

/// `Register`: the patient's decision, and the referral forest's member for them.
fn register_step(
    state: &Clinic,
    patient: PatientId,
    registration: &Registration,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let cmd = PatientCommand::Register(registration.clone());
    let events = patient::decide(state.patients.get(&patient), patient, &cmd, at, cal)?;
    let mut p = None;
    for e in &events {
        patient::apply(&mut p, e);
    }
    if let Some(p) = &p {
        step.members.push(Member::from_patient(p));
    }
    step.patient
        .extend(events.into_iter().map(|e| (patient, e)));
    Ok(())
}

/// A consent line as a patient command: a grant under the policy version named by its
/// source, or a withdrawal.
fn consent_command(purpose: ConsentPurpose, granted: bool, source: &Label) -> PatientCommand {
    if granted {
        PatientCommand::GrantConsent {
            purpose,
            source: source.clone(),
            policy_version: source.clone(),
            given_by: ConsentGiver::Patient,
        }
    } else {
        PatientCommand::WithdrawConsent {
            purpose,
            source: source.clone(),
            given_by: ConsentGiver::Patient,
        }
    }
}

/// `Consent`: the patient's decision on a known patient.
fn consent_step(
    state: &Clinic,
    patient: PatientId,
    cmd: &PatientCommand,
    at: DateTime<Utc>,
    cal: ClinicCalendar,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let p = known(state, patient)?;
    let events = patient::decide(Some(p), patient, cmd, at, cal)?;
    step.patient
        .extend(events.into_iter().map(|e| (patient, e)));
    Ok(())
}

/// `Visit`: recorded once; the same id with other content is refused.
fn visit_step(state: &Clinic, v: &Visit, step: &mut Implications) -> Result<(), JourneyError> {
    known(state, v.patient)?;
    match state
        .visit_index
        .get(&v.id)
        .and_then(|i| state.visits.get(*i))
    {
        Some(old) if old == v => Ok(()),
        Some(_) => Err(JourneyError::DuplicateRecord {
            what: "visit",
            id: v.id.get(),
        }),
        None => {
            step.visits.push(v.clone());
            Ok(())
        }
    }
}

fn known(state: &Clinic, p: PatientId) -> Result<&Patient, JourneyError> {
    state
        .patients
        .get(&p)
        .ok_or(JourneyError::UnknownPatient { patient: p })
}

#[allow(clippy::too_many_arguments)]
fn purchase_step(
    state: &Clinic,
    config: &JourneyConfig,
    key: EventKey,
    at: DateTime<Utc>,
    purchase: &Purchase,
    visit: Option<VisitId>,
    paid_points: Points,
    ledgers: &mut Ledgers<'_>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let p = check_purchase(state, purchase, visit)?;
    let who = purchase.patient;
    if paid_points.is_positive() || paid_points.is_negative() {
        let cmd = LedgerCommand::new(
            key.derive(KeyUse::Redeem, 0),
            CommandKind::Redeem {
                points: paid_points,
                purchase: Some(purchase.id),
            },
        );
        ledgers.post(who, &cmd, at, &mut step.ledger)?;
    }
    let (eval, slots) = evaluate_purchase(state, config, p, purchase, at, ledgers)?;
    ledgers.usage_slots = slots;
    let earning = bridge::earning(key, purchase, &eval.effects, None);
    // Sized once: a purchase under a busy book posts and grants dozens of entries.
    step.ledger
        .reserve(usize::from(earning.earn.is_some()) + earning.bonuses.len());
    step.effects.reserve(eval.effects.len());
    step.host.reserve(
        earning.cashback.len()
            + eval
                .effects
                .iter()
                .filter(|g| g.effect.draws_on().is_none())
                .count(),
    );
    if let Some(cmd) = &earning.earn {
        ledgers.post(who, cmd, at, &mut step.ledger)?;
    }
    for b in &earning.bonuses {
        ledgers.post(who, &b.command, at, &mut step.ledger)?;
    }
    for g in &eval.effects {
        let e = AppliedEffect {
            patient: who,
            campaign: g.campaign,
            rule: g.rule,
            effect: g.effect.clone(),
            granted: g.granted,
        };
        // Points and cashback reach the ledger and the cashback task above; the rest
        // (coupons, gifts, messages, staff tasks) the host carries out.
        if g.effect.draws_on().is_none() {
            step.host.push(HostTask::CarryOut(e.clone()));
        }
        step.effects.push(e);
    }
    for c in &earning.cashback {
        step.host.push(HostTask::PayCashback {
            patient: who,
            cashback: *c,
        });
    }
    let usage: Vec<(UsageKey, u64)> = eval
        .reservation
        .increments()
        .map(|(k, i)| (*k, i.add))
        .collect();
    step.usage.clone_from(&usage);
    step.purchase = Some(PurchaseEntry {
        purchase: purchase.clone(),
        visit,
        bonus_back: vec![Points::ZERO; earning.bonuses.len()],
        bonuses: earning.bonuses,
        cashback_back: vec![Yuan::ZERO; earning.cashback.len()],
        cashback: earning.cashback,
        usage,
        refunded: Yuan::ZERO,
    });
    Ok(())
}

/// A purchase is new, of a known patient, and linked (if at all) to one of their visits.
fn check_purchase<'s>(
    state: &'s Clinic,
    purchase: &Purchase,
    visit: Option<VisitId>,
) -> Result<&'s Patient, JourneyError> {
    let p = known(state, purchase.patient)?;
    if state.purchases.contains_key(&purchase.id) {
        return Err(JourneyError::DuplicateRecord {
            what: "purchase",
            id: purchase.id.get(),
        });
    }
    if let Some(v) = visit {
        let ok = state
            .visit_index
            .get(&v)
            .and_then(|i| state.visits.get(*i))
            .is_some_and(|x| x.patient == purchase.patient);
        if !ok {
            return Err(JourneyError::UnknownVisit {
                visit: v,
                patient: purchase.patient,
            });
        }
    }
    Ok(p)
}

/// The campaign book's answer for a purchase: the patient's facts at `at` (age, records,
/// points, referrals) and the usage counters the book reads.
fn evaluate_purchase<'c>(
    state: &Clinic,
    config: &'c JourneyConfig,
    p: &Patient,
    purchase: &Purchase,
    at: DateTime<Utc>,
    ledgers: &mut Ledgers<'_>,
) -> Result<(Evaluation<'c>, Vec<u32>), JourneyError> {
    let who = purchase.patient;
    let event = bridge::purchase_event(purchase, config.points.earn(), p.birth_date())?;
    let (visits, purchases) = state.records_of(who);
    let account = ledgers.account(who);
    let facts = bridge::patient_facts(
        p,
        visits,
        purchases,
        Some(&account),
        state.forest.referral_count(who),
        at,
        config.calendar,
    )?;
    Ok(campaign::evaluate_with_slots(
        &config.campaigns,
        &event,
        &facts,
        &state.usage,
        at,
        config.calendar,
        EvalOptions::default(),
    )?)
}

fn refund_step(
    state: &Clinic,
    key: EventKey,
    at: DateTime<Utc>,
    id: PurchaseId,
    amount: Yuan,
    ledgers: &mut Ledgers<'_>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    let entry = state
        .purchases
        .get(&id)
        .ok_or(JourneyError::UnknownPurchase { purchase: id })?;
    let who = entry.purchase.patient;
    let total = bridge::check_refund(&entry.purchase, entry.refunded, amount)?;
    let account = ledgers.account(who);
    if let Some(cmd) = bridge::refund_command(key, &account, &entry.purchase, amount, total) {
        ledgers.post(who, &cmd, at, &mut step.ledger)?;
    }
    let mut next = entry.clone();
    next.refunded = total;
    for (n, (b, back)) in entry.bonuses.iter().zip(&mut next.bonus_back).enumerate() {
        let available = ledgers.account(who).available();
        if let Some(c) = bridge::refund_bonus(
            key,
            n as u64,
            b,
            *back,
            total,
            entry.purchase.amount,
            available,
        ) {
            ledgers.post(who, &c.command, at, &mut step.ledger)?;
            *back = back.saturating_sub(c.points);
        }
    }
    for (c, back) in entry.cashback.iter().zip(&mut next.cashback_back) {
        if let Some(c) = bridge::refund_cashback(c, *back, total, entry.purchase.amount) {
            // Never more than the grant (the share is at most what was granted).
            *back = back.checked_add(c.amount).unwrap_or(c.amount);
            step.host.push(HostTask::ReclaimCashback {
                patient: who,
                cashback: c,
            });
        }
    }
    if total == entry.purchase.amount {
        step.usage_release.clone_from(&entry.usage);
        if let Some(v) = entry.visit {
            step.visit_refunds.push((v, at));
        }
    }
    step.purchase = Some(next);
    Ok(())
}
