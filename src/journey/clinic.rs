//! The clinic in memory: the state the journey layer reads, and `apply`, which folds what
//! an event implies into it.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::appointments::AppointmentState;
use super::config::JourneyConfig;
use super::error::JourneyError;
use super::keys::EventKey;
use super::planning::PlanIndex;
use super::records::{Purchase, Visit};
use super::rewards::RewardBook;
use crate::calendar::ClinicCalendar;
use crate::campaign::{UsageKey, UsageSnapshot};
use crate::event::Roster;
use crate::followup::{self, FollowUpHistory, Task};
use crate::id::{OutreachEventId, PatientId, PurchaseId, VisitId};
use crate::patient::{self, Patient};
use crate::points::{self, Account, LedgerCommand, Policy, Posting};
use crate::referral::{self, ReferralForest, RewardDecision};
use crate::version::{Version, Versioned};

use super::layer::{ClinicEvent, Decision, Implications, PurchaseEntry, decide_with_accounts};
/// The state the journey layer reads, held in memory: every aggregate and record of one
/// clinic. It is also the simple host: [`Clinic::handle`] decides an event and applies
/// what it implies.
///
/// A host with stores loads the aggregates an event touches into a `Clinic`, decides, and
/// commits the [`Implications`] to each store.
#[derive(Debug, Clone, Default)]
pub struct Clinic {
    pub(super) patients: BTreeMap<PatientId, Patient>,
    pub(super) accounts: BTreeMap<PatientId, Account>,
    pub(super) forest: ReferralForest,
    pub(super) visits: Vec<Visit>,
    // Both only looked up by key, never iterated: hash maps, a probe where an ordered
    // map walked a dozen comparisons per event (an event reads them several times).
    pub(super) visit_index: crate::id::IdMap<VisitId, usize>,
    pub(super) by_patient: crate::id::IdMap<PatientId, (Vec<Visit>, Vec<Purchase>)>,
    pub(super) purchases: BTreeMap<PurchaseId, PurchaseEntry>,
    // Every counter, kept as the snapshot the campaign engine reads: evaluating a purchase
    // then copies nothing (loading each candidate's keys into a fresh snapshot was a fifth
    // of a day's time).
    pub(super) usage: UsageSnapshot,
    pub(super) histories: BTreeMap<PatientId, FollowUpHistory>,
    // Looked up and added to once per event, never iterated: a hash map, since keys derived
    // from content land at random places in an ordered map, a cache miss per level.
    pub(super) decided: crate::id::IdMap<EventKey, (ClinicEvent, bool)>,
    /// The keys of remembered events that named a patient since erased, and whether each
    /// was a refusal: their content is gone, their keys still answer as decided.
    pub(super) erased_keys: crate::id::IdMap<EventKey, bool>,
    /// Every referral's rewards, so that an event checks only those that can need a
    /// posting ([`super::rewards`]).
    pub(super) reward_book: RewardBook,
    /// Who the next `Plan` must plan ([`super::planning`]).
    pub(super) plans: PlanIndex,
    pub(super) rosters: BTreeMap<OutreachEventId, Roster>,
    pub(super) appointments: AppointmentState,
    pub(super) contacts: crate::relationship::ContactBook,
    /// Staff accounts a resigned handover marked as left: the configured roster never
    /// changes, so later contact decisions consult this set ([`super::contacts`]).
    pub(super) departed: std::collections::BTreeSet<crate::id::StaffId>,
    pub(super) groups: crate::relationship::GroupMembership,
    pub(super) enrolments: BTreeMap<(PatientId, crate::id::SequenceId), crate::content::Enrolment>,
    /// Which enrolments the next `Plan` must visit ([`super::sequence_plans`]).
    pub(super) sequence_plans: super::sequence_plans::SequenceIndex,
}

/// Scratch ledger accounts of one decision: each command is decided against the account as
/// the earlier commands of the same event left it.
pub(super) struct Ledgers<'a> {
    pub(super) state: &'a Clinic,
    /// By id, each once: an event posts to one or two accounts, and a sorted vector is
    /// a single small allocation where a map allocated a node of a dozen accounts.
    pub(super) scratch: Vec<(PatientId, Account)>,
    pub(super) policy: &'a Policy,
    pub(super) calendar: ClinicCalendar,
    /// Where the clinic's usage snapshot holds each counter of `Implications::usage`, in
    /// its order (`u32::MAX`: absent), as the campaign engine found them: [`Clinic::handle`]
    /// writes the counters back without hashing their keys again. Empty when the event
    /// writes no counter.
    pub(super) usage_slots: Vec<u32>,
}

impl Ledgers<'_> {
    /// The account as the event's earlier commands left it: borrowed, since most
    /// decisions only read it (cloning a long account per reward check was most of a day's
    /// time).
    pub(super) fn account(&self, p: PatientId) -> Cow<'_, Account> {
        let held = match self.slot(p) {
            Ok(i) => self.scratch.get(i).map(|(_, a)| a),
            Err(_) => self.state.accounts.get(&p),
        };
        match held {
            Some(a) => Cow::Borrowed(a),
            None => Cow::Owned(Account::new(p)),
        }
    }

    /// Where `p`'s scratch account is, or would go.
    fn slot(&self, p: PatientId) -> Result<usize, usize> {
        self.scratch.binary_search_by_key(&p, |(id, _)| *id)
    }

    pub(super) fn post(
        &mut self,
        p: PatientId,
        cmd: &LedgerCommand,
        at: DateTime<Utc>,
        out: &mut Vec<Posting>,
    ) -> Result<(), JourneyError> {
        // Straight into `out`: no vector per command (a purchase posts a dozen).
        let start = out.len();
        let (policy, calendar) = (self.policy, self.calendar);
        let decide = |a: &Account, out: &mut Vec<Posting>| {
            points::decide_into(
                a,
                cmd,
                points::Clock::new(at),
                policy,
                calendar,
                out,
                &mut Vec::new(),
            )
        };
        // An account the event already posted to is decided and moved on in place: one
        // lookup in the (small) scratch map, none in the clinic's.
        let slot = self.slot(p);
        if let Ok(i) = slot
            && let Some((_, a)) = self.scratch.get_mut(i)
        {
            let replayed = decide(a, out)?;
            if replayed.is_none() {
                for x in out.get(start..).unwrap_or(&[]) {
                    points::apply(a, x);
                }
            }
            return Ok(());
        }
        let fresh;
        let base = match self.state.accounts.get(&p) {
            Some(a) => a,
            None => {
                fresh = Account::new(p);
                &fresh
            }
        };
        let replayed = decide(base, out)?;
        // A replayed key or an expiry run with nothing due posts nothing: no copy of the
        // account (the run asks every account, and most have nothing due).
        let posted = out.get(start..).unwrap_or(&[]);
        if replayed.is_some() || posted.is_empty() {
            return Ok(());
        }
        let mut a = base.clone_with_room(SCRATCH_ROOM);
        for x in posted {
            points::apply(&mut a, x);
        }
        if let Err(i) = slot {
            // Most events post to one account: room for exactly one first (a default
            // growth to four accounts was an allocation past the allocator's fast sizes).
            if self.scratch.is_empty() {
                self.scratch.reserve_exact(1);
            }
            self.scratch.insert(i, (p, a));
        }
        Ok(())
    }
}

/// The room a scratch account is copied with: a purchase posts its earning and a bonus per
/// campaign that granted points, so a day's busiest events fit without growing the copy.
const SCRATCH_ROOM: usize = 16;

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

    /// A patient's follow-up history: every task planned for them, with its outcome.
    pub fn history(&self, patient: PatientId) -> Option<&FollowUpHistory> {
        self.histories.get(&patient)
    }

    /// The staff accounts that left through a resigned handover, in id order (issue 19).
    pub fn departed(&self) -> &std::collections::BTreeSet<crate::id::StaffId> {
        &self.departed
    }

    /// Every patient group's members (issue 19).
    pub fn groups(&self) -> &crate::relationship::GroupMembership {
        &self.groups
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
        match decide_with_accounts(self, config, event) {
            Ok((Decision::New(step), held)) => {
                apply_with(self, &step, Some(held));
                Ok(Decision::New(step))
            }
            Ok((d, _)) => Ok(d),
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
    /// that calls [`decide`](super::decide) and [`apply`] itself calls it on a refusal.
    /// Accepted events need no call: [`apply`] remembers them.
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

    pub(super) fn records_of(&self, p: PatientId) -> (&[Visit], &[Purchase]) {
        self.by_patient
            .get(&p)
            .map_or((&[], &[]), |(v, pu)| (v.as_slice(), pu.as_slice()))
    }
}

/// Folds [`Implications`] into the clinic's state and remembers the event they are of, so
/// that its replay is answered [`Decision::Replayed`]. Cannot fail:
/// [`decide`](super::decide) checked everything.
pub fn apply(state: &mut Clinic, step: &Implications) {
    apply_with(state, step, None);
}

/// What [`Clinic::handle`] keeps from a decision besides its implications.
#[derive(Default)]
pub(super) struct Held {
    /// The accounts the decision posted `Implications::ledger` to, with the postings
    /// applied, by id.
    pub(super) accounts: Vec<(PatientId, Account)>,
    /// [`Ledgers::usage_slots`].
    pub(super) usage_slots: Vec<u32>,
}

/// [`apply`], given (from [`Clinic::handle`]) the accounts the decision already posted
/// `step.ledger` to: they replace the clinic's instead of each posting being applied a
/// second time (that was a sixth of a day's time). Debug builds check that they are what
/// applying the postings gives. The usage slots say where each counter is held (checked
/// against the key before use).
fn apply_with(state: &mut Clinic, step: &Implications, held: Option<Held>) {
    let (accounts, slots) = match held {
        Some(h) => (Some(h.accounts), h.usage_slots),
        None => (None, Vec::new()),
    };
    state.appointments.apply(step);
    for (p, e) in &step.contacts {
        state.contacts.apply(*p, std::slice::from_ref(e));
    }
    state.departed.extend(step.departed);
    for e in &step.groups {
        crate::relationship::apply_group(&mut state.groups, e);
    }
    for (id, e) in &step.patient {
        // In place: taking a patient out of the map and putting it back searched twice and
        // shifted the node's (large) patients both times.
        match state.patients.get_mut(id) {
            Some(p) => patient::apply_to(p, e),
            None => {
                let mut p = None;
                patient::apply(&mut p, e);
                if let Some(p) = p {
                    state.patients.insert(*id, p);
                }
            }
        }
    }
    for m in &step.members {
        // A member the forest refuses (an id it holds already) keeps the one it has.
        let _ = state.forest.upsert_member(m.clone());
    }
    for e in &step.referral {
        referral::apply(&mut state.forest, e);
    }
    match accounts {
        Some(accounts) => {
            #[cfg(debug_assertions)]
            check_posted(state, step, &accounts);
            state.accounts.extend(accounts);
        }
        None => {
            for p in &step.ledger {
                let a = state
                    .accounts
                    .entry(p.account)
                    .or_insert_with(|| Account::new(p.account));
                points::apply(a, p);
            }
        }
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
    // A slot per counter, or none at all (a host's own implications).
    let slots = if slots.len() == step.usage.len() {
        slots.as_slice()
    } else {
        &[]
    };
    for (n, (k, add)) in step.usage.iter().enumerate() {
        let next = |value: u64, version| Some(counted(value.saturating_add(*add), version));
        match slots.get(n) {
            Some(slot) => state.usage.update_at(*slot, *k, next),
            None => state.usage.update(*k, next),
        }
    }
    for (k, sub) in &step.usage_release {
        state.usage.update(*k, |value, version| {
            version.map(|v| counted(value.saturating_sub(*sub), Some(v)))
        });
    }
    for (id, e) in &step.followup {
        let history = state
            .histories
            .entry(*id)
            .or_insert_with(|| FollowUpHistory::new(*id));
        followup::apply(history, e);
    }
    super::outreach::apply_rosters(&mut state.rosters, &step.rosters);
    super::content::apply_enrolments(&mut state.enrolments, &step.enrolments);
    state.sequence_plans.apply(step);
    let (visits, index) = (&state.visits, &state.visit_index);
    state.plans.apply(step, |v| {
        index
            .get(&v)
            .and_then(|i| visits.get(*i))
            .map(|v| v.patient)
    });
    let mut book = std::mem::take(&mut state.reward_book);
    book.apply(state, step);
    state.reward_book = book;
    if let Some(p) = step.erased {
        super::erasure::apply_erasure(state, p);
    }
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

/// That `accounts` are exactly the clinic's accounts with `step.ledger` applied: what
/// [`apply_with`] relies on to take them instead of applying the postings.
#[cfg(debug_assertions)]
fn check_posted(state: &Clinic, step: &Implications, accounts: &[(PatientId, Account)]) {
    let mut want: BTreeMap<PatientId, Account> = BTreeMap::new();
    for p in &step.ledger {
        let a = want.entry(p.account).or_insert_with(|| {
            state
                .accounts
                .get(&p.account)
                .cloned()
                .unwrap_or_else(|| Account::new(p.account))
        });
        points::apply(a, p);
    }
    assert!(
        want.into_iter().collect::<Vec<_>>() == accounts,
        "the decision's accounts differ from its postings applied"
    );
}
