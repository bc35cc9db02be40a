//! The pure evaluation engine: an event, the patient's facts, the usage counters and `now` in;
//! effects with provenance, a usage reservation and (optionally) a trace out. Each candidate
//! is assessed in [`super::assess`].

use chrono::{DateTime, Utc};

use super::assess::{Ctx, Eligible, Scratch, assess};
use super::book::CampaignBook;
use super::effects::{Basis, pts_u64};
use super::error::CampaignError;
use super::outcome::{EvalOptions, Evaluation, Event, Outcome, TraceEntry, TriggerMiss};
use super::resolve::{base_entry, base_trace, note, remove_ranges, resolve_groups};
use super::usage::{Bucket, UsageIncrement, UsageKey, UsageReservation, UsageSnapshot};
use super::window::DayInfo;
use crate::calendar::{ClinicCalendar, Period, check_instant};
use crate::segment::PatientFacts;

/// Evaluates the book for one event of one patient.
///
/// Campaigns are considered in the book's evaluation order (priority high to low, then id),
/// so the result does not depend on the order they were written in. For each campaign of
/// the event's class whose window could hold (found through the index), the checks run in
/// this order: window (and recurrence), trigger details, consent, audience, caps. Eligible
/// campaigns then meet their group: ungrouped campaigns all apply; in a group, an eligible
/// exclusive campaign (the first in order) applies alone; otherwise `stack_all` applies all,
/// `first_match` the first, `best_for_patient` the one worth most (points at the book's point
/// value, plus cashback, plus coupon face value; ties to the first).
///
/// Caps: a budget or limit with nothing left stops the campaign (`cap_reached`); one with
/// less left than desired cuts the effects, in rule order, and says so in
/// [`Granted::cut`](super::Granted::cut).
/// The usage in `usage` is not changed: commit [`Evaluation::reservation`].
///
/// With `options.trace`, the trace has one entry per campaign in the book, with explain
/// trees for audiences that were false. With the trace off, a group member that cannot win
/// (a `first_match` member after an eligible one; a `best_for_patient` member worth at most
/// what an eligible earlier member is worth, before any cap) is not assessed: only the
/// trace would have told its outcome, and the effects and reservation are the same.
///
/// Speed: load `usage` with the keys of [`CampaignBook::usage_keys`], in their order (the
/// stores do): the engine reads the counters in that order and finds each with one
/// comparison; a snapshot in another order gives the same result through its hash index. A
/// host that evaluates many events should keep an [`Evaluator`], which gives the same result
/// without allocating once its buffers have grown (and, with the trace on, reuses the
/// trace's base entries while no window starts or ends).
///
/// # Errors
///
/// [`CampaignError::Calendar`] when `now` lies outside the accepted range
/// ([`crate::calendar::check_instant`]): windows, recurrences and usage buckets are only
/// meaningful inside it.
#[must_use = "the evaluation holds the usage reservation to commit"]
pub fn evaluate<'b>(
    book: &'b CampaignBook,
    event: &Event,
    facts: &PatientFacts,
    usage: &UsageSnapshot,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
    options: EvalOptions,
) -> Result<Evaluation<'b>, CampaignError> {
    evaluate_with_slots(book, event, facts, usage, now, calendar, options).map(|(out, _)| out)
}

/// [`evaluate`], also handing over where `usage` holds each counter of the reservation, in
/// its order (`u32::MAX`: absent): a host that writes the reservation back to the same
/// snapshot passes them to [`UsageSnapshot::update_at`] and finds each counter without
/// hashing its key a second time.
pub(crate) fn evaluate_with_slots<'b>(
    book: &'b CampaignBook,
    event: &Event,
    facts: &PatientFacts,
    usage: &UsageSnapshot,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
    options: EvalOptions,
) -> Result<(Evaluation<'b>, Vec<u32>), CampaignError> {
    check_instant("now", now)?;
    // Buffers allocated once at their final size (the evaluation's `reserve`s are then
    // no-ops): cheaper than growing them through `reserve`.
    let n = book.candidate_iter(event.kind.class(), now).len();
    let mut ev = Evaluator {
        one_shot: true,
        out: Evaluation {
            effects: Vec::with_capacity(n * 2),
            reservation: UsageReservation::from_unique(Vec::with_capacity(n * 3)),
            trace: if options.trace {
                Vec::with_capacity(book.meta.len())
            } else {
                Vec::new()
            },
        },
        eligible: Vec::with_capacity(n),
        scratch: Scratch {
            groups: Vec::with_capacity(book.groups().len()),
            slots: Vec::with_capacity(n * 3),
            ..Scratch::default()
        },
        ..Evaluator::default()
    };
    ev.evaluate(book, event, facts, usage, now, calendar, options)?;
    Ok((ev.out, ev.scratch.slots))
}

/// An evaluation engine with reusable buffers: [`Evaluator::evaluate`] gives exactly what
/// [`evaluate`] gives, but keeps its result and working space between calls, so that a host
/// evaluating a stream of events does not allocate once the buffers have grown to the
/// largest evaluation seen.
#[derive(Debug, Default)]
pub struct Evaluator<'b> {
    out: Evaluation<'b>,
    eligible: Vec<Eligible>,
    scratch: Scratch,
    /// Trace entries the last evaluation set past the base trace.
    touched: Vec<usize>,
    /// The instants `[from, until)` (µs) over which the base trace in `out.trace` holds:
    /// no campaign starts or ends in between, so only the touched entries need resetting.
    base_valid: Option<(i64, i64)>,
    /// The book that base trace came from.
    base_book: Option<&'b CampaignBook>,
    /// Used once (by [`evaluate`]): the base trace will not be reused, so its validity
    /// interval is not worth computing.
    one_shot: bool,
}

impl<'b> Evaluator<'b> {
    /// An evaluator with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last evaluation (empty before the first call).
    pub fn last(&self) -> &Evaluation<'b> {
        &self.out
    }

    /// Hands over the last evaluation, leaving empty buffers behind.
    pub fn take(&mut self) -> Evaluation<'b> {
        self.base_valid = None;
        self.touched.clear();
        std::mem::take(&mut self.out)
    }

    /// Evaluates the book for one event of one patient, as [`evaluate`] does, replacing the
    /// previous result.
    ///
    /// # Errors
    ///
    /// [`CampaignError::Calendar`] when `now` lies outside the accepted range
    /// ([`crate::calendar::check_instant`]); the previous result is then kept.
    #[allow(clippy::too_many_arguments)]
    pub fn evaluate(
        &mut self,
        book: &'b CampaignBook,
        event: &Event,
        facts: &PatientFacts,
        usage: &UsageSnapshot,
        now: DateTime<Utc>,
        calendar: ClinicCalendar,
        options: EvalOptions,
    ) -> Result<&Evaluation<'b>, CampaignError> {
        check_instant("now", now)?;
        let cx = context(event, facts, usage, now, calendar, options);
        let candidates = book.candidate_iter(event.kind.class(), now);
        let n = candidates.len();
        let mut keys = self.clear_for(n);
        // With the trace on, every campaign starts with the outcome its packed metadata
        // gives (window by instants, event class); the candidates' entries are overwritten
        // below.
        self.reset_trace(book, now, options.trace);
        self.touched.clear();
        // A one-shot evaluation never resets its trace, so it need not track what it set.
        let track = options.trace && !self.one_shot;
        if track {
            self.touched.reserve(n);
        }
        let scratch = &mut self.scratch;
        scratch.reset(book);
        let out = &mut self.out;
        for i in candidates {
            if let Err(o) = assess(
                book,
                i,
                &cx,
                &mut out.effects,
                &mut keys,
                scratch,
                &mut self.eligible,
            ) {
                note(&mut out.trace, &mut self.touched, track, i, o);
            }
        }
        let any_loss = resolve_groups(&mut self.eligible, &mut scratch.groups);
        if options.trace {
            self.note_eligible_outcomes(book, track);
        }
        // The buffers hold exactly the eligible campaigns' grants and keys, in evaluation
        // order: drop the losers' and hand the rest over without copying.
        if any_loss {
            let lost = || self.eligible.iter().filter(|e| e.loss.is_some());
            remove_ranges(&mut self.out.effects, lost().map(|e| e.grants.clone()));
            remove_ranges(&mut keys, lost().map(|e| e.keys.clone()));
            remove_ranges(&mut self.scratch.slots, lost().map(|e| e.keys.clone()));
        }
        debug_assert_eq!(keys.len(), self.scratch.slots.len(), "a slot per counter");
        debug_assert!(
            !options.trace || index_missed_none(book, &self.out.trace, event),
            "the index missed a campaign whose window holds"
        );
        // Each campaign owns its keys and `assess` lists each once.
        self.out.reservation = UsageReservation::from_unique(keys);
        Ok(&self.out)
    }

    /// Empties the result's buffers for `n` candidates (keeping their capacity), and hands
    /// over the reservation's increments to fill.
    #[inline]
    fn clear_for(&mut self, n: usize) -> Vec<(UsageKey, UsageIncrement)> {
        let mut keys = self.out.reservation.take_increments();
        self.out.effects.clear();
        keys.clear();
        self.out.effects.reserve(n * 2);
        keys.reserve(n * 3);
        self.eligible.clear();
        self.eligible.reserve(n);
        keys
    }

    /// Sets the trace to the base outcomes at `now` (or empties it with the trace off):
    /// while the last base trace still holds, only the entries the last evaluation touched
    /// are reset; otherwise it is built again, with the interval over which it will hold.
    #[inline]
    fn reset_trace(&mut self, book: &'b CampaignBook, now: DateTime<Utc>, trace_on: bool) {
        let trace = &mut self.out.trace;
        if !trace_on {
            self.base_valid = None;
            trace.clear();
            return;
        }
        let now_us = now.timestamp_micros();
        match self.base_valid {
            Some((from, until))
                if self.base_book.is_some_and(|b| std::ptr::eq(b, book))
                    && trace.len() == book.meta.len()
                    && from <= now_us
                    && now_us < until =>
            {
                for &i in self.touched.iter() {
                    if let (Some(t), Some(m)) = (trace.get_mut(i), book.meta.get(i)) {
                        *t = base_entry(m, now_us);
                    }
                }
            }
            _ => {
                let valid = base_trace(book, now_us, trace, !self.one_shot);
                self.base_valid = valid;
                self.base_book = Some(book);
            }
        }
    }

    /// Notes in the trace the outcome of each eligible candidate: applied (cut or not), or
    /// beaten in its group.
    fn note_eligible_outcomes(&mut self, book: &CampaignBook, track: bool) {
        let Evaluation { effects, trace, .. } = &mut self.out;
        for e in &self.eligible {
            let o = match e.loss {
                Some(loss) => loss.outcome(book),
                None => {
                    let gs = effects.get(e.grants.clone()).unwrap_or(&[]);
                    let cut = gs.iter().any(|g| g.cut.is_some());
                    Some(Outcome::Applied { cut })
                }
            };
            if let Some(o) = o {
                note(trace, &mut self.touched, track, e.idx, o);
            }
        }
    }
}

/// What every candidate's checks read, worked out once per evaluation: the buckets of `now`,
/// the local day, the consents, and the amounts effects compute from.
#[inline]
fn context<'a>(
    event: &'a Event,
    facts: &'a PatientFacts,
    usage: &'a UsageSnapshot,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
    options: EvalOptions,
) -> Ctx<'a> {
    let today = calendar.local_date(now);
    let bucket = |period| Bucket::Period {
        period,
        start: calendar.period_start(today, period),
    };
    Ctx {
        event,
        facts,
        usage,
        now,
        buckets: [
            Bucket::Lifetime,
            Bucket::Period {
                period: Period::Day,
                start: today,
            },
            bucket(Period::Week),
            bucket(Period::Month),
            bucket(Period::Year),
        ],
        patient: facts.patient(),
        day: DayInfo::of(today),
        consents: facts.consents(),
        explain: options.trace,
        basis: Basis {
            amount_fen: event.kind.amount().to_fen(),
            base_points: pts_u64(event.base_points),
        },
    }
}

/// Whether the trace shows no campaign of the event's class as listening to another event:
/// the index handed out every campaign whose window holds.
fn index_missed_none(book: &CampaignBook, trace: &[TraceEntry], event: &Event) -> bool {
    trace.iter().zip(&book.meta).all(|(t, m)| {
        m.class != event.kind.class()
            || !matches!(
                t.outcome,
                Outcome::NotTrigger {
                    miss: TriggerMiss::OtherEvent { .. }
                }
            )
    })
}
