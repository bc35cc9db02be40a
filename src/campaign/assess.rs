//! Assessing one candidate campaign for an event: its window, trigger, consent, audience
//! and caps, its grants and counter increments, and what it is worth to the patient; and,
//! with the trace off, whether it can be left unassessed because it cannot win its group.

use chrono::{DateTime, Utc};

use super::book::{CampaignBook, CapRef, CapSpec, Gate, GroupMode};
use super::effects::{Basis, Packed, pts_from_u64};
use super::model::{Campaign, Effect, MAX_EFFECTS, Trigger, WindowMiss};
use super::outcome::{Amount, Cut, Event, EventKind, Granted, Outcome, TriggerMiss};
use super::resolve::{GroupState, Loss};
use super::usage::{Bucket, UsageAction, UsageIncrement, UsageKey, UsageSnapshot};
use super::window::DayInfo;
use crate::calendar::Period;
use crate::id::{CampaignId, PatientId};
use crate::money::Yuan;
use crate::patient::ConsentPurpose;
use crate::segment::{ConsentSet, PatientFacts, TagMemo};

pub(super) struct Ctx<'a> {
    pub(super) event: &'a Event,
    pub(super) facts: &'a PatientFacts,
    pub(super) usage: &'a UsageSnapshot,
    pub(super) now: DateTime<Utc>,
    /// Lifetime, then the day, week, month and year buckets of `now`.
    pub(super) buckets: [Bucket; 5],
    pub(super) patient: PatientId,
    /// The local date of `now` taken apart, for recurrences.
    pub(super) day: DayInfo,
    pub(super) consents: ConsentSet,
    pub(super) explain: bool,
    /// What the effects' desired amounts are computed from.
    pub(super) basis: Basis,
}

impl Ctx<'_> {
    /// The bucket of a counter of `period` (`None`: lifetime), from the buckets worked out
    /// once for this evaluation.
    #[inline]
    fn bucket(&self, p: Option<Period>) -> Bucket {
        let slot = match p {
            None => 0,
            Some(Period::Day) => 1,
            Some(Period::Week) => 2,
            Some(Period::Month) => 3,
            Some(_) => 4,
        };
        self.buckets.get(slot).copied().unwrap_or(Bucket::Lifetime)
    }
}

/// Per-evaluation working state of the candidates' checks.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    /// Where the next counter is expected in the snapshot (see `UsageSnapshot::get_slot_at`).
    pub(super) cursor: usize,
    /// The patient's answers to the book's audience tags.
    pub(super) tags: TagMemo,
    /// Per group of the book: with the trace off, the most an eligible member assessed so
    /// far is worth (see [`cannot_win`]); then the group's resolution.
    pub(super) groups: Vec<GroupState>,
    /// Per reserved counter, in the reservation's order: where the snapshot holds it
    /// (`u32::MAX`: absent), so that a host writing the reservation back to the same
    /// snapshot finds each counter without hashing its key again
    /// ([`UsageSnapshot::update_at`]).
    pub(super) slots: Vec<u32>,
}

impl Scratch {
    /// Ready for an evaluation of `book`: the snapshot read from its start, no tag answered,
    /// one fresh state per group.
    #[inline]
    pub(super) fn reset(&mut self, book: &CampaignBook) {
        self.cursor = 0;
        self.slots.clear();
        book.audiences.reset(&mut self.tags);
        self.groups.clear();
        self.groups
            .resize(book.groups().len(), GroupState::default());
    }
}

/// Whether candidate `gate`, with the trace off, can be left unassessed because it loses in
/// its group whatever it is: in a `first_match` group an earlier member is eligible; in a
/// `best_for_patient` group an earlier eligible member is worth at least the most this one
/// could be worth (ties go to the earlier). Either way it could only win by being exclusive,
/// so exclusive campaigns are always assessed. Its outcome would only be told by the trace.
fn cannot_win(book: &CampaignBook, gate: &Gate, cx: &Ctx<'_>, groups: &[GroupState]) -> bool {
    let Some((g, mode)) = gate.group else {
        return false;
    };
    if gate.exclusive || cx.explain {
        return false;
    }
    let Some(best) = groups.get(g as usize).and_then(|st| st.assessed_best) else {
        return false;
    };
    match mode {
        GroupMode::FirstMatch => true,
        GroupMode::BestForPatient => value_bound(book, gate, cx) <= best,
        _ => false,
    }
}

/// The most a candidate could be worth to the patient: its effects uncut by any budget or
/// limit (caps only lower grants), valued as an assessment values them.
fn value_bound(book: &CampaignBook, gate: &Gate, cx: &Ctx<'_>) -> u128 {
    let (e0, e1) = (gate.effects.0 as usize, gate.effects.1 as usize);
    let effects = book.effects.get(e0..e1).unwrap_or(&[]);
    let rates = book.rates.get(e0..e1).unwrap_or(&[]);
    let (mut points, mut fen) = (0u128, 0u128);
    for (e, &packed) in effects.iter().zip(rates) {
        // The counter units `desired` gives, without building the amounts.
        let (units, _) = e.desired_units(packed, cx.basis);
        match e.draws_on() {
            Some(UsageAction::EarnPoints) => points += u128::from(units),
            // Capped by the effect's own cap, as the assessment caps it.
            Some(UsageAction::Cashback) => fen += u128::from(units.min(packed.fen)),
            // Granted whole: worth its face value.
            _ => fen += u128::from(packed.fen),
        }
    }
    points * u128::from(book.point_fen) + fen
}

/// A candidate that passed every check but its group's.
#[derive(Debug)]
pub(super) struct Eligible {
    /// Its index in the book.
    pub(super) idx: usize,
    /// Its grants' range in the evaluation's effects.
    pub(super) grants: std::ops::Range<usize>,
    /// Its increments' range in the reservation.
    pub(super) keys: std::ops::Range<usize>,
    /// What it is worth to the patient, in fen.
    pub(super) value: u128,
    /// Its group (index and mode), copied here so that group resolution reads no campaign.
    pub(super) group: Option<(u32, GroupMode)>,
    /// Whether it is exclusive in its group.
    pub(super) exclusive: bool,
    /// Set by group resolution when another member of its group applies instead.
    pub(super) loss: Option<Loss>,
}

fn trigger_miss(c: &Campaign, event: &Event) -> Option<TriggerMiss> {
    let t = &c.spec().trigger;
    if t.class() != event.kind.class() {
        return Some(TriggerMiss::OtherEvent {
            listens_to: t.class(),
        });
    }
    match (t, &event.kind) {
        (Trigger::FirstVisit, EventKind::Visit { first: false, .. }) => {
            Some(TriggerMiss::NotFirstVisit)
        }
        (Trigger::Purchase { min }, EventKind::Purchase { amount }) if amount < min => {
            Some(TriggerMiss::BelowMinimum {
                min: *min,
                paid: *amount,
            })
        }
        (Trigger::TierChanged { to: Some(want) }, EventKind::TierChanged { to }) if want != to => {
            Some(TriggerMiss::OtherTier)
        }
        (Trigger::ManualBroadcast, EventKind::ManualBroadcast { campaign })
            if *campaign != c.id() =>
        {
            Some(TriggerMiss::OtherBroadcast)
        }
        _ => None,
    }
}

/// Takes `want` from what a budget or usage limit has left (`None`: no such limit), and
/// records the cut on the grant when the limit cannot cover it all.
fn draw_budget(
    left: &mut Option<(u64, CapRef)>,
    want: u64,
    action: UsageAction,
    cut: &mut Option<Cut>,
) -> u64 {
    match left {
        Some((left, origin)) if want > *left => {
            *cut = Some(Cut::Cap {
                cap: *origin,
                action,
                left: *left,
            });
            std::mem::take(left)
        }
        Some((left, _)) => {
            *left -= want;
            want
        }
        None => want,
    }
}

/// Checks everything but the group for candidate `i`. On success, pushes its grants, its
/// counter increments and its [`Eligible`] entry (with what it is worth to the patient).
#[inline]
pub(super) fn assess<'b>(
    book: &'b CampaignBook,
    i: usize,
    cx: &Ctx<'_>,
    grants: &mut Vec<Granted<'b>>,
    keys: &mut Vec<(UsageKey, UsageIncrement)>,
    scratch: &mut Scratch,
    eligible: &mut Vec<Eligible>,
) -> Result<(), Outcome> {
    let Some(gate) = book.gates.get(i) else {
        return Err(Outcome::NotTrigger {
            miss: TriggerMiss::OtherBroadcast,
        });
    };
    if cannot_win(book, gate, cx, &scratch.groups) {
        // Nothing to record: with the trace off, a losing candidate leaves no trace.
        cx.usage.skip_campaign(gate.id, &mut scratch.cursor);
        return Ok(());
    }
    check_window(gate, cx)?;
    check_trigger(book, i, gate, cx)?;
    check_consent(book, i, gate, cx)?;
    check_audience(book, i, gate, cx, &mut scratch.tags)?;
    let (e0, e1) = (gate.effects.0 as usize, gate.effects.1 as usize);
    let effects = book.effects.get(e0..e1).unwrap_or(&[]);
    let rates = book.rates.get(e0..e1).unwrap_or(&[]);
    let g0 = grants.len();
    let wanted = push_desired(gate.id, effects, rates, cx, grants);
    let k0 = keys.len();
    let (cursor, slots) = (&mut scratch.cursor, &mut scratch.slots);
    let left = match reserve_counters(book, gate, cx, &wanted, keys, cursor, slots) {
        Ok(left) => left,
        Err(stop) => {
            grants.truncate(g0);
            keys.truncate(k0);
            slots.truncate(k0);
            return Err(stop);
        }
    };
    let got = grant_in_rule_order(&mut grants[g0..], &wanted.units, rates, left);
    set_increments(&mut keys[k0..], &got);
    let value = got.value(book.point_fen);
    if let Some((g, _)) = gate.group
        && let Some(st) = scratch.groups.get_mut(g as usize)
    {
        st.assessed_best = Some(st.assessed_best.map_or(value, |v| v.max(value)));
    }
    eligible.push(Eligible {
        idx: i,
        grants: g0..grants.len(),
        keys: k0..keys.len(),
        value,
        group: gate.group,
        exclusive: gate.exclusive,
        loss: None,
    });
    Ok(())
}

/// The window: its start and end, then its recurrence on the local day.
#[inline]
fn check_window(gate: &Gate, cx: &Ctx<'_>) -> Result<(), Outcome> {
    if cx.now < gate.start {
        return Err(Outcome::OutsideWindow {
            miss: WindowMiss::NotStarted,
        });
    }
    if gate.end.is_some_and(|e| cx.now >= e) {
        return Err(Outcome::OutsideWindow {
            miss: WindowMiss::Ended,
        });
    }
    if let Some(r) = gate.recurrence {
        r.holds_on_day(&cx.day, cx.event.birth_date)
            .map_err(|miss| Outcome::OutsideWindow { miss })?;
    }
    Ok(())
}

/// The trigger's details. The index hands out campaigns of the event's class only: what is
/// left of the trigger is the purchase minimum (in fen, as the amount) and the rarer
/// details, read from the campaign itself only when the gate says they may fail.
#[inline]
fn check_trigger(book: &CampaignBook, i: usize, gate: &Gate, cx: &Ctx<'_>) -> Result<(), Outcome> {
    if (cx.basis.amount_fen < gate.min_fen || gate.detailed)
        && let Some(miss) = book
            .campaigns()
            .get(i)
            .and_then(|c| trigger_miss(c, cx.event))
    {
        return Err(Outcome::NotTrigger { miss });
    }
    Ok(())
}

/// The consents. On a miss, the purposes as written come first (the trace names the first
/// one missing in the spec's order), then any the book added: `marketing` for a care
/// campaign that promotes.
#[inline]
fn check_consent(book: &CampaignBook, i: usize, gate: &Gate, cx: &Ctx<'_>) -> Result<(), Outcome> {
    if !cx.consents.covers(gate.consent)
        && let Some(purpose) = book.campaigns().get(i).and_then(|c| {
            c.spec()
                .consent
                .iter()
                .copied()
                .chain(
                    ConsentPurpose::ALL
                        .into_iter()
                        .filter(|p| gate.consent.contains(*p)),
                )
                .find(|p| !cx.facts.may(*p))
        })
    {
        return Err(Outcome::NoConsent { purpose });
    }
    Ok(())
}

/// The audience, with its explanation tree when the trace is on.
#[inline]
fn check_audience(
    book: &CampaignBook,
    i: usize,
    gate: &Gate,
    cx: &Ctx<'_>,
    tags: &mut TagMemo,
) -> Result<(), Outcome> {
    if !book.audiences.evaluate(gate.audience, cx.facts, tags) {
        return Err(Outcome::AudienceFalse {
            explanation: cx
                .explain
                .then(|| {
                    book.campaigns()
                        .get(i)
                        .map(|c| Box::new(c.spec().audience.explain(cx.facts)))
                })
                .flatten(),
        });
    }
    Ok(())
}

/// What a candidate's effects ask for, in counter units.
struct Wanted {
    /// Points, over its point effects.
    points: u64,
    /// Fen, over its cashback effects, each within its own cap.
    fen: u64,
    /// Per rule, in the units of the counter it draws on, so that granting stays in
    /// integers.
    units: [u64; MAX_EFFECTS],
}

/// Pushes one grant per effect of campaign `id` at its desired amount (cut only by
/// overflow), and sums what they ask for per metered counter.
#[inline]
fn push_desired<'b>(
    id: CampaignId,
    effects: &'b [Effect],
    rates: &[Packed],
    cx: &Ctx<'_>,
    grants: &mut Vec<Granted<'b>>,
) -> Wanted {
    let mut wanted = Wanted {
        points: 0,
        fen: 0,
        units: [0u64; MAX_EFFECTS],
    };
    for (rule, e) in effects.iter().enumerate() {
        let packed = rates.get(rule).copied().unwrap_or_default();
        let (d, overflow, n) = e.desired(packed, cx.basis);
        // The amount's kind is the counter it draws on (`Effect::draws_on`).
        match d {
            Amount::Points(_) => wanted.points = wanted.points.saturating_add(n),
            Amount::Yuan(_) => wanted.fen = wanted.fen.saturating_add(n.min(packed.fen)),
            Amount::Count(_) => {}
        }
        if let Some(u) = wanted.units.get_mut(rule) {
            *u = n;
        }
        grants.push(Granted {
            campaign: id,
            rule,
            effect: e,
            desired: d,
            granted: d,
            cut: overflow,
        });
    }
    wanted
}

/// What the metered counters have left for a candidate: per action, the tightest cap and
/// which cap that is (`None`: no cap on it).
#[derive(Default)]
struct Left {
    points: Option<(u64, CapRef)>,
    fen: Option<(u64, CapRef)>,
}

/// Reads each cap's counter and pushes its key (once per counter) with the version read;
/// stops with [`Outcome::CapReached`] at a cap with nothing left for what is wanted.
/// On a stop the caller drops what was pushed.
#[inline]
fn reserve_counters(
    book: &CampaignBook,
    gate: &Gate,
    cx: &Ctx<'_>,
    wanted: &Wanted,
    keys: &mut Vec<(UsageKey, UsageIncrement)>,
    cursor: &mut usize,
    slots: &mut Vec<u32>,
) -> Result<Left, Outcome> {
    let caps = book
        .caps_flat
        .get(gate.caps.0 as usize..gate.caps.1 as usize)
        .unwrap_or(&[]);
    let mut left = Left::default();
    for cap in caps {
        let used = push_key_and_read(cap, gate.id, cx, keys, cursor, slots);
        if cap.repeat {
            // Its counter is already reserved, by an earlier cap of this campaign.
            keys.pop();
            slots.pop();
        }
        let remaining = cap.max.saturating_sub(used);
        let want = match cap.action {
            UsageAction::Apply => 1,
            UsageAction::EarnPoints => wanted.points,
            _ => wanted.fen,
        };
        if remaining == 0 && want > 0 {
            return Err(Outcome::CapReached {
                cap: cap.origin,
                used,
                max: cap.max,
            });
        }
        let slot = match cap.action {
            UsageAction::EarnPoints => Some(&mut left.points),
            UsageAction::Cashback => Some(&mut left.fen),
            _ => None,
        };
        if let Some(slot) = slot
            && slot.is_none_or(|(l, _)| remaining < l)
        {
            *slot = Some((remaining, cap.origin));
        }
    }
    Ok(left)
}

/// Pushes the key of `cap`'s counter, reads the counter, and records the version read on
/// the key's increment and where the counter was found in `slots`; returns the count read.
#[inline]
fn push_key_and_read(
    cap: &CapSpec,
    campaign: CampaignId,
    cx: &Ctx<'_>,
    keys: &mut Vec<(UsageKey, UsageIncrement)>,
    cursor: &mut usize,
    slots: &mut Vec<u32>,
) -> u64 {
    // The key is built in its place in the reservation and read from there: a key built
    // on the stack and copied stalled on store forwarding (its narrow fields stored, then
    // read back wide).
    keys.push((
        UsageKey {
            campaign,
            action: cap.action,
            patient: cap.per_patient.then_some(cx.patient),
            bucket: cx.bucket(cap.period),
        },
        UsageIncrement {
            expected: None,
            add: 0,
        },
    ));
    match keys.last_mut() {
        Some((key, inc)) => {
            let (used, version, slot) = cx.usage.get_slot_at(key, cursor);
            inc.expected = version;
            slots.push(slot);
            used
        }
        None => {
            slots.push(u32::MAX);
            0
        }
    }
}

/// What a candidate's grants came to, in counter units.
struct Got {
    points: u64,
    fen: u64,
    /// The face value of what was granted whole (coupons), in fen.
    face_fen: u64,
}

impl Got {
    /// What it is worth to the patient, in fen, at the book's point value.
    #[inline]
    fn value(&self, point_fen: u64) -> u128 {
        u128::from(self.points) * u128::from(point_fen)
            + u128::from(self.fen)
            + u128::from(self.face_fen)
    }
}

/// Grants in rule order, cutting each metered grant to what its counter has left (and a
/// cashback to its own cap first), and says why on the grant.
#[inline]
fn grant_in_rule_order(
    grants: &mut [Granted<'_>],
    units: &[u64; MAX_EFFECTS],
    rates: &[Packed],
    mut left: Left,
) -> Got {
    let mut got = Got {
        points: 0,
        fen: 0,
        face_fen: 0,
    };
    for g in grants {
        let want = units.get(g.rule).copied().unwrap_or(0);
        let packed = || rates.get(g.rule).copied().unwrap_or_default();
        // The desired amount's kind is the counter it draws on (`Effect::draws_on`): read
        // from the grant just written rather than from the effect.
        match g.desired {
            Amount::Points(_) => {
                let give = draw_budget(&mut left.points, want, UsageAction::EarnPoints, &mut g.cut);
                got.points = got.points.saturating_add(give);
                g.granted = Amount::Points(pts_from_u64(give));
            }
            Amount::Yuan(_) => {
                let mut want = want;
                let cap_fen = packed().fen;
                if want > cap_fen {
                    want = cap_fen;
                    // The effect's own cap, back from fen: exact (a ¥ amount has 2 places).
                    g.cut = Some(Cut::EffectCap {
                        cap: Yuan::saturating_from_fen(cap_fen),
                    });
                }
                let give = draw_budget(&mut left.fen, want, UsageAction::Cashback, &mut g.cut);
                got.fen = got.fen.saturating_add(give);
                // Uncut, the grant is the desired amount: skip building the decimal again.
                if give != units.get(g.rule).copied().unwrap_or(0) {
                    g.granted = Amount::Yuan(Yuan::saturating_from_fen(give));
                }
            }
            // Granted whole: worth its face value (a coupon's; 0 for the rest).
            _ => got.face_fen = got.face_fen.saturating_add(packed().fen),
        }
    }
    got
}

/// Sets each reserved counter's increment to what was granted on it.
#[inline]
fn set_increments(keys: &mut [(UsageKey, UsageIncrement)], got: &Got) {
    for (k, inc) in keys {
        inc.add = match k.action {
            UsageAction::Apply => 1,
            UsageAction::EarnPoints => got.points,
            _ => got.fen,
        };
    }
}
