//! Assessing one candidate campaign for an event: its window, trigger, consent, audience
//! and caps, its grants and counter increments, and what it is worth to the patient; and,
//! with the trace off, whether it can be left unassessed because it cannot win its group.

use chrono::{DateTime, Utc};

use super::book::{CampaignBook, CapRef, Gate, GroupMode, fen_to_yuan};
use super::effects::{Basis, pts_from_u64};
use super::model::{Campaign, MAX_EFFECTS, Trigger, WindowMiss};
use super::outcome::{Amount, Cut, Event, EventKind, Granted, Outcome, TriggerMiss};
use super::resolve::{GroupState, Loss};
use super::usage::{Bucket, UsageAction, UsageIncrement, UsageKey, UsageSnapshot};
use super::window::DayInfo;
use crate::calendar::Period;
use crate::id::PatientId;
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
    /// Where the next counter is expected in the snapshot (see `UsageSnapshot::get_at`).
    pub(super) cursor: usize,
    /// The patient's answers to the book's audience tags.
    pub(super) tags: TagMemo,
    /// Per group of the book: with the trace off, the most an eligible member assessed so
    /// far is worth (see [`cannot_win`]); then the group's resolution.
    pub(super) groups: Vec<GroupState>,
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
    // The campaign itself is read only to say why it failed, and for trigger details.
    let campaign = || book.campaigns().get(i);
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
    // The index hands out campaigns of the event's class only: what is left of the trigger
    // is the purchase minimum (in fen, as the amount) and the rarer details.
    if (cx.basis.amount_fen < gate.min_fen || gate.detailed)
        && let Some(miss) = campaign().and_then(|c| trigger_miss(c, cx.event))
    {
        return Err(Outcome::NotTrigger { miss });
    }
    // The purposes as written first (the trace names the first one missing in the spec's
    // order), then any the book added: `marketing` for a care campaign that promotes.
    if !cx.consents.covers(gate.consent)
        && let Some(purpose) = campaign().and_then(|c| {
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
    if !book
        .audiences
        .evaluate(gate.audience, cx.facts, &mut scratch.tags)
    {
        return Err(Outcome::AudienceFalse {
            explanation: cx
                .explain
                .then(|| campaign().map(|c| Box::new(c.spec().audience.explain(cx.facts))))
                .flatten(),
        });
    }
    // Desired amounts, in counter units, per metered action.
    let g0 = grants.len();
    let mut want_points: u64 = 0;
    let mut want_fen: u64 = 0;
    // Counter units per rule, so the granting loop below stays in integers.
    let mut units = [0u64; MAX_EFFECTS];
    let (e0, e1) = (gate.effects.0 as usize, gate.effects.1 as usize);
    let effects = book.effects.get(e0..e1).unwrap_or(&[]);
    let rates = book.rates.get(e0..e1).unwrap_or(&[]);
    for (rule, e) in effects.iter().enumerate() {
        let packed = rates.get(rule).copied().unwrap_or_default();
        let (d, overflow, n) = e.desired(packed, cx.basis);
        // The amount's kind is the counter it draws on (`Effect::draws_on`).
        match d {
            Amount::Points(_) => want_points = want_points.saturating_add(n),
            Amount::Yuan(_) => want_fen = want_fen.saturating_add(n.min(packed.fen)),
            Amount::Count(_) => {}
        }
        if let Some(u) = units.get_mut(rule) {
            *u = n;
        }
        grants.push(Granted {
            campaign: gate.id,
            rule,
            effect: e,
            desired: d,
            granted: d,
            cut: overflow,
        });
    }
    // Counters: what each cap has left; the tightest per action binds.
    let caps = book
        .caps_flat
        .get(gate.caps.0 as usize..gate.caps.1 as usize)
        .unwrap_or(&[]);
    let k0 = keys.len();
    let mut points_left: Option<(u64, CapRef)> = None;
    let mut fen_left: Option<(u64, CapRef)> = None;
    for cap in caps {
        // The key is built in its place in the reservation and read from there: a key built
        // on the stack and copied stalled on store forwarding (its narrow fields stored, then
        // read back wide).
        keys.push((
            UsageKey {
                campaign: gate.id,
                action: cap.action,
                patient: cap.per_patient.then_some(cx.patient),
                bucket: cx.bucket(cap.period),
            },
            UsageIncrement {
                expected: None,
                add: 0,
            },
        ));
        let used = match keys.last_mut() {
            Some((key, inc)) => {
                let (used, version) = cx.usage.get_at(key, &mut scratch.cursor);
                inc.expected = version;
                used
            }
            None => 0,
        };
        if cap.repeat {
            // Its counter is already reserved, by an earlier cap of this campaign.
            keys.pop();
        }
        let left = cap.max.saturating_sub(used);
        let wanted = match cap.action {
            UsageAction::Apply => 1,
            UsageAction::EarnPoints => want_points,
            _ => want_fen,
        };
        if left == 0 && wanted > 0 {
            grants.truncate(g0);
            keys.truncate(k0);
            return Err(Outcome::CapReached {
                cap: cap.origin,
                used,
                max: cap.max,
            });
        }
        let slot = match cap.action {
            UsageAction::EarnPoints => Some(&mut points_left),
            UsageAction::Cashback => Some(&mut fen_left),
            _ => None,
        };
        if let Some(slot) = slot
            && slot.is_none_or(|(l, _)| left < l)
        {
            *slot = Some((left, cap.origin));
        }
    }
    // Grant in rule order, cutting to what is left.
    let (mut got_points, mut got_fen, mut coupon_fen) = (0u64, 0u64, 0u64);
    for g in &mut grants[g0..] {
        let want = units.get(g.rule).copied().unwrap_or(0);
        let packed = || rates.get(g.rule).copied().unwrap_or_default();
        // The desired amount's kind is the counter it draws on (`Effect::draws_on`): read
        // from the grant just written rather than from the effect.
        match g.desired {
            Amount::Points(_) => {
                let give = draw_budget(&mut points_left, want, UsageAction::EarnPoints, &mut g.cut);
                got_points = got_points.saturating_add(give);
                g.granted = Amount::Points(pts_from_u64(give));
            }
            Amount::Yuan(_) => {
                let mut want = want;
                let cap_fen = packed().fen;
                if want > cap_fen {
                    want = cap_fen;
                    // The effect's own cap, back from fen: exact (a ¥ amount has 2 places).
                    g.cut = Some(Cut::EffectCap {
                        cap: fen_to_yuan(cap_fen),
                    });
                }
                let give = draw_budget(&mut fen_left, want, UsageAction::Cashback, &mut g.cut);
                got_fen = got_fen.saturating_add(give);
                // Uncut, the grant is the desired amount: skip building the decimal again.
                if give != units.get(g.rule).copied().unwrap_or(0) {
                    g.granted = Amount::Yuan(fen_to_yuan(give));
                }
            }
            // Granted whole: worth its face value (a coupon's; 0 for the rest).
            _ => coupon_fen = coupon_fen.saturating_add(packed().fen),
        }
    }
    for (k, inc) in &mut keys[k0..] {
        inc.add = match k.action {
            UsageAction::Apply => 1,
            UsageAction::EarnPoints => got_points,
            _ => got_fen,
        };
    }
    let point_fen = u128::from(book.point_fen);
    let value = u128::from(got_points) * point_fen + u128::from(got_fen) + u128::from(coupon_fen);
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
