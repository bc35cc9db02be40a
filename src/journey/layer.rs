//! The journey layer: one clinic event in, everything it implies across the modules out.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::appointments::{self, AppointmentState};
use super::bridge::{self, CampaignBonus, Cashback, RewardPosting};
use super::config::JourneyConfig;
use super::error::JourneyError;
use super::keys::{EventKey, KeyUse};
use super::records::{Purchase, Visit};
use super::rewards::{self, RewardsChecked};
use crate::calendar::ClinicCalendar;
use crate::campaign::{self, Amount, Effect, EvalOptions, Evaluation, UsageKey, UsageSnapshot};
use crate::event::{Roster, RosterCommand, RosterEvent};
use crate::followup::{self, FollowUpEvent, FollowUpHistory, Task};
use crate::id::{CampaignId, OutreachEventId, PatientId, PurchaseId, VisitId};
use crate::money::{Points, Yuan};
use crate::patient::{
    self, ConsentGiver, ConsentPurpose, Label, Patient, PatientCommand, PatientEvent, Registration,
};
use crate::points::{self, Account, CommandKind, LedgerCommand, LedgerDecision, Policy, Posting};
use crate::referral::{self, Bind, Member, ReferralEvent, ReferralForest, RewardDecision};
use crate::version::{Version, Versioned};

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

/// Everything one clinic event implies, as values: apply them with [`apply`] (or commit
/// each to its store), then carry out `host`.
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
    /// What the referral-reward check before the event found, when it ran: kept by the
    /// clinic so that later events can skip the check until something changes.
    pub rewards_checked: Option<RewardsChecked>,
    /// The event these implications are of: [`apply`] remembers its key, so that the
    /// event's replay is answered [`Decision::Replayed`]. `None` in implications a host
    /// builds itself (patient commands the layer does not cover).
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

/// The state the journey layer reads, held in memory: every aggregate and record of one
/// clinic. It is also the simple host: [`Clinic::handle`] decides an event and applies
/// what it implies.
///
/// A host with stores loads the aggregates an event touches into a `Clinic`, decides, and
/// commits the [`Implications`] to each store.
#[derive(Debug, Clone, Default)]
pub struct Clinic {
    patients: BTreeMap<PatientId, Patient>,
    accounts: BTreeMap<PatientId, Account>,
    forest: ReferralForest,
    visits: Vec<Visit>,
    visit_index: BTreeMap<VisitId, usize>,
    by_patient: BTreeMap<PatientId, (Vec<Visit>, Vec<Purchase>)>,
    purchases: BTreeMap<PurchaseId, PurchaseEntry>,
    // Every counter, kept as the snapshot the campaign engine reads: evaluating a purchase
    // then copies nothing (loading each candidate's keys into a fresh snapshot was a fifth
    // of a day's time).
    usage: UsageSnapshot,
    histories: BTreeMap<PatientId, FollowUpHistory>,
    decided: BTreeMap<EventKey, (ClinicEvent, bool)>,
    /// Until when the referral-reward check can be skipped ([`super::rewards`]).
    pub(super) rewards_checked: Option<RewardsChecked>,
    rosters: BTreeMap<OutreachEventId, Roster>,
    appointments: AppointmentState,
    contacts: crate::relationship::ContactBook,
}

/// Scratch ledger accounts of one decision: each command is decided against the account as
/// the earlier commands of the same event left it.
pub(super) struct Ledgers<'a> {
    state: &'a Clinic,
    scratch: BTreeMap<PatientId, Account>,
    policy: &'a Policy,
    calendar: ClinicCalendar,
}

impl Ledgers<'_> {
    /// The account as the event's earlier commands left it: borrowed, since most
    /// decisions only read it (cloning a long account per reward check was most of a day's
    /// time).
    pub(super) fn account(&self, p: PatientId) -> Cow<'_, Account> {
        match self.scratch.get(&p).or_else(|| self.state.accounts.get(&p)) {
            Some(a) => Cow::Borrowed(a),
            None => Cow::Owned(Account::new(p)),
        }
    }

    pub(super) fn post(
        &mut self,
        p: PatientId,
        cmd: &LedgerCommand,
        at: DateTime<Utc>,
        out: &mut Vec<Posting>,
    ) -> Result<(), JourneyError> {
        let decision = points::decide(&self.account(p), cmd, at, self.policy, self.calendar)?;
        if let LedgerDecision::Posted(ps) = decision {
            if !self.scratch.contains_key(&p) {
                let a = self.account(p).into_owned();
                self.scratch.insert(p, a);
            }
            if let Some(a) = self.scratch.get_mut(&p) {
                for x in &ps {
                    points::apply(a, x);
                }
            }
            out.extend(ps);
        }
        Ok(())
    }
}

impl Clinic {
    /// An empty clinic.
    pub fn new() -> Self {
        Self::default()
    }

    /// A patient.
    pub fn patient(&self, id: PatientId) -> Option<&Patient> {
        self.patients.get(&id)
    }

    /// Every patient, by id.
    pub fn patients(&self) -> impl Iterator<Item = &Patient> {
        self.patients.values()
    }

    /// A patient's points account.
    pub fn account(&self, id: PatientId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    /// Appointment books, complaints and feedback.
    pub fn appointments(&self) -> &AppointmentState {
        &self.appointments
    }

    /// The referral forest.
    pub fn forest(&self) -> &ReferralForest {
        &self.forest
    }

    /// Who holds each patient's contact (issue 19).
    pub fn contacts(&self) -> &crate::relationship::ContactBook {
        &self.contacts
    }

    /// Every visit, in the order recorded.
    pub fn visits(&self) -> &[Visit] {
        &self.visits
    }

    /// What a purchase did.
    pub fn purchase(&self, id: PurchaseId) -> Option<&PurchaseEntry> {
        self.purchases.get(&id)
    }

    /// Every purchase, by id.
    pub fn purchases(&self) -> impl Iterator<Item = &PurchaseEntry> {
        self.purchases.values()
    }

    /// An outreach event's roster (issue 20).
    pub fn roster(&self, id: OutreachEventId) -> Option<&Roster> {
        self.rosters.get(&id)
    }

    /// A usage counter (0 when never written).
    pub fn usage(&self, key: &UsageKey) -> u64 {
        self.usage.get(key).0
    }

    /// Every follow-up task planned, by patient, then in the order planned.
    pub fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.histories
            .values()
            .flat_map(|h| h.tasks().map(|r| &r.task))
    }

    /// The referral rewards at `as_of` (empty without a schedule).
    pub fn rewards(&self, config: &JourneyConfig, as_of: DateTime<Utc>) -> Vec<RewardDecision> {
        config.referral.as_ref().map_or_else(Vec::new, |s| {
            referral::decide_rewards(&self.forest, &self.visits, s, as_of, config.calendar)
        })
    }

    /// Decides `event` and applies what it implies; a refusal is remembered as the event's
    /// outcome, so a replay of a refused event stays refused and changes nothing.
    ///
    /// # Errors
    ///
    /// The [`JourneyError`] that refused the event (again, for a replayed refusal).
    pub fn handle(
        &mut self,
        config: &JourneyConfig,
        event: &ClinicEvent,
    ) -> Result<Decision, JourneyError> {
        match decide(self, config, event) {
            Ok(Decision::New(step)) => {
                apply(self, &step);
                Ok(Decision::New(step))
            }
            Ok(d) => Ok(d),
            Err(e) => {
                if !matches!(e, JourneyError::KeyReused { .. }) {
                    self.remember_refusal(event);
                }
                Err(e)
            }
        }
    }

    /// Remembers that `event` was refused, so that its replay is answered
    /// [`Decision::Replayed`] `{ refused: true }` and changes nothing even if the state
    /// would now accept it (a redemption refused for the balance stays refused when the
    /// till retries after the patient earned more). [`Clinic::handle`] calls it; a host
    /// that calls [`decide`] and [`apply`] itself calls it on a refusal. Accepted events
    /// need no call: [`apply`] remembers them.
    pub fn remember_refusal(&mut self, event: &ClinicEvent) {
        self.decided
            .entry(event.key)
            .or_insert_with(|| (event.clone(), true));
    }

    /// A visit.
    pub(super) fn visit(&self, id: VisitId) -> Option<&Visit> {
        self.visit_index.get(&id).and_then(|i| self.visits.get(*i))
    }

    /// A patient's visits, in the order recorded.
    pub(super) fn visits_of(&self, p: PatientId) -> &[Visit] {
        self.records_of(p).0
    }

    fn records_of(&self, p: PatientId) -> (&[Visit], &[Purchase]) {
        self.by_patient
            .get(&p)
            .map_or((&[], &[]), |(v, pu)| (v.as_slice(), pu.as_slice()))
    }
}

/// Decides one clinic event against the clinic's state: everything it implies, as values.
/// Reads no clock and does no I/O. Every key it derives comes from the event's key, so an
/// event decided twice decides the same, and after [`apply`] a replay is
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
    if let Some((first, refused)) = state.decided.get(&event.key) {
        return if first == event {
            Ok(Decision::Replayed { refused: *refused })
        } else {
            Err(JourneyError::KeyReused { key: event.key })
        };
    }
    let mut step = Implications::default();
    let mut ledgers = Ledgers {
        state,
        scratch: BTreeMap::new(),
        policy: &config.points,
        calendar: config.calendar,
    };
    rewards::pay_rewards(state, config, event.at, &mut ledgers, &mut step)?;
    let (key, at, cal) = (event.key, event.at, config.calendar);
    match &event.kind {
        ClinicEventKind::Register {
            patient,
            registration,
        } => register_step(state, *patient, registration, at, cal, &mut step)?,
        ClinicEventKind::Consent {
            patient,
            purpose,
            granted,
            source,
        } => {
            let cmd = consent_command(*purpose, *granted, source);
            consent_step(state, *patient, &cmd, at, cal, &mut step)?
        }
        ClinicEventKind::Visit(v) => visit_step(state, v, &mut step)?,
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
            &mut step,
        )?,
        ClinicEventKind::Refund { purchase, amount } => {
            refund_step(state, key, at, *purchase, *amount, &mut ledgers, &mut step)?
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
        ClinicEventKind::Plan => plan_step(state, config, at, &mut step)?,
        ClinicEventKind::Outreach { event, command } => super::outreach::outreach_step(
            &state.rosters,
            |p| state.patients.contains_key(&p),
            *event,
            command,
            at,
            &mut step.rosters,
        )?,
        ClinicEventKind::Appointment { clinic, command } => appointments::appointment_step(
            &state.appointments,
            &config.appointments,
            *clinic,
            command,
            &|p| state.patients.get(&p).map(|x| (x, state.histories.get(&p))),
            at,
            cal,
            &mut step,
        )?,
        ClinicEventKind::Complaint { id, command } => appointments::complaint_step(
            &state.appointments,
            &config.appointments,
            *id,
            command,
            &|p| state.patients.get(&p).map(|x| (x, state.histories.get(&p))),
            at,
            cal,
            &mut step,
        )?,
        ClinicEventKind::Feedback(f) => appointments::feedback_step(
            &state.appointments,
            &config.appointments,
            f,
            &|p| state.patients.get(&p).map(|x| (x, state.histories.get(&p))),
            at,
            cal,
            &mut step,
        )?,
        ClinicEventKind::Contact { patient, command } => {
            known(state, *patient)?;
            let book = &state.contacts;
            super::contacts::contact_step(book, config, *patient, command, at, &mut step)?
        }
        ClinicEventKind::StaffLeft { handover } => {
            super::contacts::staff_left_step(&state.contacts, config, handover, at, &mut step)?
        }
    }
    step.event = Some(event.clone());
    Ok(Decision::New(Box::new(step)))
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

/// `Plan`: every patient's follow-ups for the local day of `at`, under every care plan.
fn plan_step(
    state: &Clinic,
    config: &JourneyConfig,
    at: DateTime<Utc>,
    step: &mut Implications,
) -> Result<(), JourneyError> {
    for (id, p) in &state.patients {
        let (visits, purchases) = state.records_of(*id);
        let facts = followup::Facts {
            visits,
            fills: &[],
            purchases,
        };
        let empty;
        let history = match state.histories.get(id) {
            Some(h) => h,
            None => {
                empty = FollowUpHistory::new(*id);
                &empty
            }
        };
        for care in &config.care_plans {
            let plan = followup::plan(
                p,
                &facts,
                history,
                care,
                &config.followup,
                at,
                config.calendar,
            )?;
            step.followup
                .extend(plan.events(history).into_iter().map(|e| (*id, e)));
        }
    }
    Ok(())
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
    let eval = evaluate_purchase(state, config, p, purchase, at, ledgers)?;
    let earning = bridge::earning(key, purchase, &eval.effects, None);
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
) -> Result<Evaluation<'c>, JourneyError> {
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
    Ok(campaign::evaluate(
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

/// Folds [`Implications`] into the clinic's state and remembers the event they are of, so
/// that its replay is answered [`Decision::Replayed`]. Cannot fail: [`decide`] checked
/// everything.
pub fn apply(state: &mut Clinic, step: &Implications) {
    state.appointments.apply(step);
    for (p, e) in &step.contacts {
        state.contacts.apply(*p, std::slice::from_ref(e));
    }
    for (id, e) in &step.patient {
        let mut p = state.patients.remove(id);
        patient::apply(&mut p, e);
        if let Some(p) = p {
            state.patients.insert(*id, p);
        }
    }
    for m in &step.members {
        // A member the forest refuses (an id it holds already) keeps the one it has.
        let _ = state.forest.upsert_member(m.clone());
    }
    for e in &step.referral {
        referral::apply(&mut state.forest, e);
    }
    for p in &step.ledger {
        let a = state
            .accounts
            .entry(p.account)
            .or_insert_with(|| Account::new(p.account));
        points::apply(a, p);
    }
    for v in &step.visits {
        state.visit_index.insert(v.id, state.visits.len());
        state.visits.push(v.clone());
        state
            .by_patient
            .entry(v.patient)
            .or_default()
            .0
            .push(v.clone());
    }
    for (id, t) in &step.visit_refunds {
        if let Some(v) = state
            .visit_index
            .get(id)
            .and_then(|i| state.visits.get_mut(*i))
        {
            v.refunded_at.get_or_insert(*t);
            let (pid, vid, at) = (v.patient, v.id, v.refunded_at);
            if let Some((vs, _)) = state.by_patient.get_mut(&pid) {
                for x in vs.iter_mut().filter(|x| x.id == vid) {
                    x.refunded_at = at;
                }
            }
        }
    }
    if let Some(entry) = &step.purchase {
        if !state.purchases.contains_key(&entry.purchase.id) {
            state
                .by_patient
                .entry(entry.purchase.patient)
                .or_default()
                .1
                .push(entry.purchase.clone());
        }
        state.purchases.insert(entry.purchase.id, entry.clone());
    }
    for (k, add) in &step.usage {
        let (value, version) = state.usage.get(k);
        state
            .usage
            .insert(*k, counted(value.saturating_add(*add), version));
    }
    for (k, sub) in &step.usage_release {
        if let (value, Some(version)) = state.usage.get(k) {
            state
                .usage
                .insert(*k, counted(value.saturating_sub(*sub), Some(version)));
        }
    }
    for (id, e) in &step.followup {
        let history = state
            .histories
            .entry(*id)
            .or_insert_with(|| FollowUpHistory::new(*id));
        followup::apply(history, e);
    }
    super::outreach::apply_rosters(&mut state.rosters, &step.rosters);
    let checked = step
        .rewards_checked
        .clone()
        .or_else(|| state.rewards_checked.take());
    state.rewards_checked = checked.and_then(|c| c.after(state, step));
    if let Some(e) = &step.event {
        state
            .decided
            .entry(e.key)
            .or_insert_with(|| (e.clone(), false));
    }
}

/// A usage counter's next value, one version after `version` (the first write is version 1).
fn counted(value: u64, version: Option<Version>) -> Versioned<u64> {
    Versioned {
        value,
        version: Version::new(version.map_or(1, |v| v.get().saturating_add(1))),
    }
}
