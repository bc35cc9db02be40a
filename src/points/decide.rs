//! `decide`: a command against the account's state gives postings, or a typed refusal.

use chrono::{DateTime, Utc};

use super::account::{Account, KeptDraw, PurchaseRecord, Seen};
use super::command::{AdjustReason, CommandKind, Fingerprint, LedgerCommand};
use super::error::PointsError;
use super::policy::{Chronology, Policy, ShortfallPolicy};
use super::posting::{Posting, PostingKind, TierReason};
use super::types::{CommandKey, Draw, Lot, Multiplier, from_lot};
use crate::calendar::{ClinicCalendar, check_instant};
use crate::id::{LotId, PurchaseId};
use crate::journey::Category;
use crate::money::{Points, SignedYuan, Yuan};

/// What [`decide`] answers for an accepted command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "posted postings must be appended to the store and applied"]
pub enum LedgerDecision {
    /// New postings: append them to the store, then [`super::apply`] each. May be empty
    /// (an expiry run with nothing due); an empty outcome records no key.
    Posted(Vec<Posting>),
    /// The key was already posted with identical content: nothing to do. The original
    /// postings are those with `seq` in the receipt's range.
    Exists(Receipt),
}

impl LedgerDecision {
    /// The new postings (none for [`LedgerDecision::Exists`]).
    #[must_use]
    pub fn postings(&self) -> &[Posting] {
        match self {
            LedgerDecision::Posted(p) => p,
            LedgerDecision::Exists(_) => &[],
        }
    }
}

/// Where the original postings of a replayed key are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The key.
    pub key: CommandKey,
    /// The `seq` of its first posting.
    pub first_seq: u64,
    /// How many postings it made.
    pub postings: u32,
}

/// One command's decision in progress: the account and the terms it is decided under, and
/// the postings made so far.
struct Out<'a, 'b> {
    a: &'a Account,
    policy: &'a Policy,
    calendar: ClinicCalendar,
    clock: &'b Clock,
    key: CommandKey,
    command: Fingerprint,
    at: DateTime<Utc>,
    seq: u64,
    postings: &'b mut Vec<Posting>,
    pool: &'b mut Vec<Vec<Draw>>,
}

impl Out<'_, '_> {
    /// An empty draw list, reusing one from the pool when there is one.
    fn draws(&mut self) -> Vec<Draw> {
        self.pool.pop().unwrap_or_else(|| Vec::with_capacity(4))
    }

    fn next_seq(&self) -> Result<u64, PointsError> {
        self.seq
            .checked_add(1)
            .ok_or(PointsError::SequenceExhausted)
    }

    fn push(&mut self, kind: PostingKind) -> Result<(), PointsError> {
        self.seq = self.next_seq()?;
        self.postings.push(Posting {
            account: self.a.id(),
            seq: self.seq,
            key: self.key,
            command: self.command,
            at: self.at,
            kind,
        });
        Ok(())
    }

    /// Posts the upgrade that crediting `extra` growth earns, if any.
    #[inline]
    fn push_upgrade(&mut self, extra: i64) -> Result<(), PointsError> {
        match upgrade(self.a, self.policy, self.at, self.calendar, extra) {
            Some(k) => self.push(k),
            None => Ok(()),
        }
    }

    /// Draws `need` spendable points in spending order, or refuses when there are fewer.
    #[inline(always)]
    fn spend(&mut self, need: i64) -> Result<Vec<Draw>, PointsError> {
        let a = self.a;
        if need > a.available {
            return Err(PointsError::Insufficient {
                requested: Points::new(need),
                available: a.available(),
            });
        }
        let mut draws = self.draws();
        draw_in_order(a.lots(), need, None, &mut draws);
        Ok(draws)
    }
}

fn positive(field: &'static str, p: Points) -> Result<i64, PointsError> {
    if p.is_positive() {
        Ok(p.get())
    } else {
        Err(PointsError::NotPositive {
            field,
            value: p.get(),
        })
    }
}

fn draw(l: &Lot, points: i64) -> Draw {
    Draw {
        lot: l.id,
        points: Points::new(points),
        expires: from_lot(l.expires),
    }
}

/// Draws up to `need` points from `lots` in spending order, skipping `skip`; returns the
/// points taken.
fn draw_in_order(lots: &[Lot], mut need: i64, skip: Option<LotId>, out: &mut Vec<Draw>) -> i64 {
    let mut taken = 0i64;
    for l in lots {
        if need == 0 {
            break;
        }
        if Some(l.id) == skip || l.remaining <= 0 {
            continue;
        }
        let t = l.remaining.min(need);
        out.push(draw(l, t));
        need -= t;
        taken += t;
    }
    taken
}

/// Refuses a credit that would overflow the account's totals, rather than saturating them.
fn room(a: &Account, points: i64, locked: bool) -> Result<(), PointsError> {
    let total = if locked { a.locked } else { a.available };
    let (field, ok) = if locked {
        ("locked", total.checked_add(points).is_some())
    } else {
        (
            "balance",
            total.checked_add(points).is_some() && a.growth.checked_add(points).is_some(),
        )
    };
    if ok {
        Ok(())
    } else {
        Err(PointsError::Overflow { field })
    }
}

fn sum(draws: &[Draw]) -> i64 {
    draws
        .iter()
        .fold(0i64, |s, d| s.saturating_add(d.points.get()))
}

/// An upgrade, if growth in the window (plus `extra` about to be credited) reaches a
/// higher tier.
fn upgrade(
    a: &Account,
    policy: &Policy,
    now: DateTime<Utc>,
    calendar: ClinicCalendar,
    extra: i64,
) -> Option<PostingKind> {
    let tiers = policy.tiers();
    let top = tiers.tiers().len().checked_sub(1)?;
    let rank = tiers.rank(a.tier());
    if rank == Some(top) || extra <= 0 {
        return None;
    }
    // Growth in the window never exceeds lifetime growth (every prefix of the growth log
    // sums to ≥ 0, as a clawback follows the credit it undoes), so when lifetime growth
    // cannot reach the next tier the window walk and its calendar arithmetic are skipped.
    let next = rank.map_or(0, |r| r + 1);
    let lifetime = a.growth().saturating_add(extra);
    if tiers.get(next).is_some_and(|t| lifetime < t.threshold()) {
        return None;
    }
    let wg = a
        .growth_since(tiers.window_start(now, calendar))
        .saturating_add(extra);
    let reached = tiers.reached(wg)?;
    if rank.is_some_and(|r| reached <= r) {
        return None;
    }
    let t = tiers.get(reached)?;
    Some(PostingKind::TierChanged {
        from: a.tier().copied(),
        to: Some(*t.code()),
        reason: TierReason::Upgrade {
            threshold: t.threshold(),
        },
        window_growth: wg,
    })
}

/// Decides a command at `now`: checks it against the account and the policy and returns
/// the postings it makes, or the original outcome of a replayed key.
///
/// Rules, in order: a known key is a comparison (identical content → [`LedgerDecision::Exists`],
/// else [`PointsError::KeyReused`] naming the first differing field); then chronology; then
/// the command's own checks. See [`CommandKind`] for what each command posts.
///
/// # Errors
///
/// [`PointsError`]: non-positive amounts, overflow, insufficient points, unknown or
/// duplicate purchases, over-refunds, releases before the lock ends, backdated commands
/// under [`Chronology::Strict`], and reused keys; [`PointsError::Calendar`] for a `now` or
/// a `lock_until` outside the accepted range ([`crate::calendar::check_instant`]).
pub fn decide(
    a: &Account,
    cmd: &LedgerCommand,
    now: DateTime<Utc>,
    policy: &Policy,
    calendar: ClinicCalendar,
) -> Result<LedgerDecision, PointsError> {
    let mut postings = Vec::with_capacity(1);
    match decide_into(
        a,
        cmd,
        Clock::new(now),
        policy,
        calendar,
        &mut postings,
        &mut Vec::new(),
    )? {
        Some(r) => Ok(LedgerDecision::Exists(r)),
        None => Ok(LedgerDecision::Posted(postings)),
    }
}

/// [`decide`] appending the postings to `postings` (left as it was on an error, and
/// untouched for a replayed key, whose receipt is returned), taking draw lists from `pool`
/// rather than allocating them.
pub(crate) fn decide_into(
    a: &Account,
    cmd: &LedgerCommand,
    now: Clock,
    policy: &Policy,
    calendar: ClinicCalendar,
    postings: &mut Vec<Posting>,
    pool: &mut Vec<Vec<Draw>>,
) -> Result<Option<Receipt>, PointsError> {
    let start = postings.len();
    let r = decide_in(a, cmd, now, policy, calendar, postings, pool);
    if r.is_err() {
        recycle(postings, start, pool);
    }
    r
}

/// Drops the postings from `start` on, keeping their draw lists in `pool` (at most 64).
///
/// The draw lists are taken out in place and the postings then truncated, so a posting
/// (about 190 bytes) is never moved just to be dropped.
pub(crate) fn recycle(postings: &mut Vec<Posting>, start: usize, pool: &mut Vec<Vec<Draw>>) {
    for p in postings.get_mut(start..).unwrap_or(&mut []) {
        let draws = match &mut p.kind {
            PostingKind::Redeemed { draws, .. }
            | PostingKind::Expired { draws, .. }
            | PostingKind::Adjusted { draws, .. }
            | PostingKind::ClawedBack { draws, .. }
            | PostingKind::Returned { draws, .. } => draws,
            PostingKind::Earned { .. }
            | PostingKind::Released { .. }
            | PostingKind::TierChanged { .. }
            | PostingKind::Reviewed { .. } => continue,
        };
        if pool.len() < 64 && draws.capacity() > 0 {
            let mut d = std::mem::take(draws);
            d.clear();
            pool.push(d);
        }
    }
    postings.truncate(start);
}

/// What [`decide`] derives from `now` alone, so a caller that knows it can say so: the
/// [`crate::points::Ledger`] works out the expiry of new lots once per local day (it walks
/// chrono's calendar) and, in a batch, the Unix time once per batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    now: DateTime<Utc>,
    secs: i64,
    /// The expiry of a lot created at `now`, when already known.
    expires: Option<Option<DateTime<Utc>>>,
}

impl Clock {
    /// `now`, with the expiry of new lots left to work out when needed.
    pub(crate) fn new(now: DateTime<Utc>) -> Self {
        Clock {
            now,
            secs: now.timestamp(),
            expires: None,
        }
    }

    /// The same `now`, with the expiry of a lot created then, already worked out.
    pub(crate) fn with_expires(self, expires: Option<DateTime<Utc>>) -> Self {
        Clock {
            expires: Some(expires),
            ..self
        }
    }

    /// `now` in Unix seconds.
    pub(crate) fn secs(&self) -> i64 {
        self.secs
    }

    fn expires(&self, policy: &Policy, calendar: ClinicCalendar) -> Option<DateTime<Utc>> {
        match self.expires {
            Some(e) => e,
            None => policy.expiry().expires(self.now, calendar),
        }
    }
}

fn decide_in(
    a: &Account,
    cmd: &LedgerCommand,
    clock: Clock,
    policy: &Policy,
    calendar: ClinicCalendar,
    postings: &mut Vec<Posting>,
    pool: &mut Vec<Vec<Draw>>,
) -> Result<Option<Receipt>, PointsError> {
    // Before anything else, a replayed key included: calendar arithmetic on `now` (expiry,
    // tier window) is only meaningful inside the accepted range.
    check_instant("now", clock.now)?;
    let command = Fingerprint::of(&cmd.kind);
    if let Some(s) = a.seen_of(cmd.key) {
        return replayed(cmd.key, s, &command).map(Some);
    }
    in_order(a, policy, clock)?;
    let mut out = Out {
        a,
        policy,
        calendar,
        clock: &clock,
        key: cmd.key,
        command,
        at: clock.now,
        seq: a.seq,
        postings,
        pool,
    };
    match &cmd.kind {
        CommandKind::Earn {
            purchase,
            paid,
            category,
            multiplier,
            lock_until,
        } => earn(
            &mut out,
            *purchase,
            *paid,
            category.as_ref(),
            *multiplier,
            *lock_until,
        )?,
        CommandKind::Redeem { points, purchase } => redeem(&mut out, *points, *purchase)?,
        CommandKind::Refund {
            purchase,
            amount,
            points,
        } => refund(&mut out, *purchase, *amount, *points)?,
        CommandKind::Release { purchase } => release(&mut out, *purchase)?,
        CommandKind::Expire => expire(&mut out)?,
        CommandKind::Adjust { points, reason } => adjust(&mut out, *points, *reason)?,
        CommandKind::Review => review(&mut out)?,
    }
    Ok(None)
}

/// A known key is a comparison, not a re-run: the same content gets the original receipt,
/// different content is refused naming the first field that differs.
#[inline]
fn replayed(key: CommandKey, s: &Seen, command: &Fingerprint) -> Result<Receipt, PointsError> {
    match s.command.first_difference(command) {
        None => Ok(Receipt {
            key,
            first_seq: s.first_seq,
            postings: s.count,
        }),
        Some(field) => Err(PointsError::KeyReused { key, field }),
    }
}

/// Under [`Chronology::Strict`], refuses a command dated before the account's last posting.
#[inline]
fn in_order(a: &Account, policy: &Policy, clock: Clock) -> Result<(), PointsError> {
    if policy.chronology() == Chronology::Strict && clock.secs < a.last_at {
        return Err(PointsError::Backdated {
            at: clock.now,
            last: a.last_posted_at().unwrap_or(clock.now),
        });
    }
    Ok(())
}

/// [`CommandKind::Earn`]: one lot for a purchase not yet earned on (locked if asked), then
/// any upgrade its growth reaches.
fn earn(
    out: &mut Out<'_, '_>,
    purchase: PurchaseId,
    paid: Yuan,
    category: Option<&Category>,
    multiplier: Multiplier,
    lock_until: Option<DateTime<Utc>>,
) -> Result<(), PointsError> {
    let a = out.a;
    if paid.is_zero() {
        return Err(PointsError::NotPositive {
            field: "paid",
            value: 0,
        });
    }
    if a.purchase(purchase).is_some_and(|r| r.earned_on) {
        return Err(PointsError::DuplicatePurchase {
            purchase,
            what: "earned points",
        });
    }
    if let Some(u) = lock_until {
        // The lock end is stored in the posting, which must load again.
        check_instant("lock_until", u)?;
        if u <= out.at {
            return Err(PointsError::LockInPast { until: u });
        }
    }
    let points = out.policy.earn().points(paid, category, multiplier)?;
    room(a, points.get(), lock_until.is_some())?;
    let expires = out.clock.expires(out.policy, out.calendar);
    let lot = points.is_positive().then(|| out.next_seq()).transpose()?;
    let lot = lot.map(LotId::new);
    let locked = lock_until.is_some() && lot.is_some();
    let (settled, growth) = if locked {
        (Points::ZERO, 0)
    } else {
        (points.min(Points::new(a.debt)), points.get())
    };
    out.push(PostingKind::Earned {
        purchase,
        paid,
        lot,
        points,
        expires,
        locked_until: if locked { lock_until } else { None },
        settled,
        growth,
    })?;
    out.push_upgrade(growth)
}

/// [`CommandKind::Redeem`]: draws the points in spending order.
fn redeem(
    out: &mut Out<'_, '_>,
    points: Points,
    purchase: Option<PurchaseId>,
) -> Result<(), PointsError> {
    let need = positive("points", points)?;
    if let Some(p) = purchase
        && out.a.purchase(p).is_some_and(|r| r.paid_with_points)
    {
        return Err(PointsError::DuplicatePurchase {
            purchase: p,
            what: "was paid with points",
        });
    }
    let draws = out.spend(need)?;
    out.push(PostingKind::Redeemed {
        purchase,
        points,
        draws,
    })
}

/// [`CommandKind::Release`]: the purchase's locked lot becomes spendable once its lock has
/// ended, then any upgrade its growth reaches.
fn release(out: &mut Out<'_, '_>, purchase: PurchaseId) -> Result<(), PointsError> {
    let a = out.a;
    if a.purchase(purchase).is_none() {
        return Err(PointsError::UnknownPurchase { purchase });
    }
    let Some(l) = a.pending.iter().find(|l| l.purchase == purchase) else {
        return Err(PointsError::NotLocked { purchase });
    };
    if out.clock.secs < l.until {
        return Err(PointsError::StillLocked {
            purchase,
            until: l.until().unwrap_or(out.at),
        });
    }
    let pts = l.points();
    room(a, pts.get(), false)?;
    out.push(PostingKind::Released {
        purchase,
        lot: l.id,
        points: pts,
        expires: l.expires(),
        settled: pts.min(Points::new(a.debt)),
        growth: pts.get(),
    })?;
    out.push_upgrade(pts.get())
}

/// [`CommandKind::Expire`]: empties every lot due by now, in one posting (none if none is).
fn expire(out: &mut Out<'_, '_>) -> Result<(), PointsError> {
    let due = out.a.expiring_by(out.at);
    if due.is_empty() {
        return Ok(());
    }
    let mut draws = out.draws();
    draws.extend(due.iter().map(|l| draw(l, l.remaining)));
    out.push(PostingKind::Expired {
        points: Points::new(sum(&draws)),
        draws,
    })
}

/// [`CommandKind::Adjust`]: a positive change creates a lot, a negative one draws in
/// spending order.
fn adjust(out: &mut Out<'_, '_>, points: Points, reason: AdjustReason) -> Result<(), PointsError> {
    if points.is_zero() {
        return Err(PointsError::NotPositive {
            field: "points",
            value: 0,
        });
    }
    if points.is_positive() {
        room(out.a, points.get(), false)?;
        let lot = LotId::new(out.next_seq()?);
        let expires = out.clock.expires(out.policy, out.calendar);
        out.push(PostingKind::Adjusted {
            reason,
            points,
            lot: Some(lot),
            expires,
            settled: points.min(Points::new(out.a.debt)),
            draws: Vec::new(),
        })
    } else {
        let need = points
            .get()
            .checked_neg()
            .ok_or(PointsError::Overflow { field: "points" })?;
        let draws = out.spend(need)?;
        out.push(PostingKind::Adjusted {
            reason,
            points,
            lot: None,
            expires: None,
            settled: Points::ZERO,
            draws,
        })
    }
}

/// [`CommandKind::Refund`]: checks the refund against the purchase, then claws back the
/// points the cash refund makes due and gives back the points that paid for it.
fn refund(
    out: &mut Out<'_, '_>,
    purchase: PurchaseId,
    amount: Yuan,
    points: Points,
) -> Result<(), PointsError> {
    let a = out.a;
    let cash = SignedYuan::from(amount).to_fen();
    let r = refundable(a, purchase, amount, cash, points)?;
    let mut debt_after = a.debt;
    if cash > 0 {
        let debt = claw_back(out, r, purchase, amount, cash)?;
        debt_after = debt_after.saturating_add(debt);
    }
    if points.get() > 0 {
        return_points(out, r, purchase, points, debt_after)?;
    }
    Ok(())
}

/// The purchase's record, if a refund of `cash` fen (`amount`) and `points` is within what
/// it paid and what paid for it.
fn refundable(
    a: &Account,
    purchase: PurchaseId,
    amount: Yuan,
    cash: i64,
    points: Points,
) -> Result<&PurchaseRecord, PointsError> {
    let back = points.get();
    if back < 0 {
        return Err(PointsError::NotPositive {
            field: "points",
            value: back,
        });
    }
    if cash == 0 && back == 0 {
        return Err(PointsError::NotPositive {
            field: "amount",
            value: 0,
        });
    }
    let Some(r) = a.purchase(purchase) else {
        return Err(PointsError::UnknownPurchase { purchase });
    };
    let refundable = r.paid_fen.saturating_sub(r.refunded_fen);
    if cash > 0 && (!r.earned_on || cash > refundable) {
        return Err(PointsError::RefundExceedsPaid {
            purchase,
            requested: amount,
            // Never negative (refunds are checked against what was paid); were it, zero.
            refundable: u64::try_from(if r.earned_on { refundable } else { 0 })
                .map_or(Yuan::ZERO, Yuan::saturating_from_fen),
        });
    }
    let returnable = r.redeemed.saturating_sub(r.returned);
    if back > returnable {
        return Err(PointsError::ReturnExceedsRedeemed {
            purchase,
            requested: points,
            returnable: Points::new(returnable),
        });
    }
    Ok(r)
}

/// Posts the clawback a cash refund of `cash` fen makes due: the purchase's locked points
/// first, then its own lot, then the other lots in spending order; what is still missing
/// becomes debt or a shortfall as the policy says. Returns the debt added.
fn claw_back(
    out: &mut Out<'_, '_>,
    r: &PurchaseRecord,
    purchase: PurchaseId,
    amount: Yuan,
    cash: i64,
) -> Result<i64, PointsError> {
    let a = out.a;
    let due = clawback_due(r, cash)?;
    let voided = a
        .pending
        .iter()
        .find(|l| l.purchase == purchase)
        .map_or(0, |l| l.points.min(due));
    let mut draws = out.draws();
    let rest = draw_own_lot_first(a, r, due - voided, &mut draws);
    let (debt, shortfall) = match out.policy.shortfall() {
        ShortfallPolicy::AllowNegative => (rest, 0),
        ShortfallPolicy::TakeAvailable => (0, rest),
    };
    out.push(PostingKind::ClawedBack {
        purchase,
        refunded: amount,
        points: Points::new(due),
        voided: Points::new(voided),
        draws,
        debt: Points::new(debt),
        shortfall: Points::new(shortfall),
        growth: due - voided,
    })?;
    Ok(debt)
}

/// The points a further cash refund of `cash` fen takes back from the purchase.
///
/// Floor of earned × (refunded so far ÷ paid), less what was already clawed: the cumulative
/// clawback never exceeds the points earned, however refunds are split, and a full refund
/// takes back exactly what was earned.
#[inline]
fn clawback_due(r: &PurchaseRecord, cash: i64) -> Result<i64, PointsError> {
    let total = r.refunded_fen.saturating_add(cash);
    let paid = r.paid_fen.max(1);
    // Everyday amounts fit in i64; 128-bit division only for the rare huge ones.
    let target = match r.earned.checked_mul(total) {
        Some(num) => num / paid,
        None => i64::try_from(i128::from(r.earned) * i128::from(total) / i128::from(paid))
            .map_err(|_| PointsError::Overflow { field: "points" })?,
    };
    Ok(target.saturating_sub(r.clawed).max(0))
}

/// Draws up to `need` points from the purchase's own lot, then from the other lots in
/// spending order; returns the points still missing.
#[inline]
fn draw_own_lot_first(a: &Account, r: &PurchaseRecord, mut need: i64, out: &mut Vec<Draw>) -> i64 {
    // Lot ids are unique, so a scan by id finds the purchase's own lot; from the back,
    // because refunds mostly follow recent purchases, whose lots expire last. (A binary
    // search by expiry compares whole `DateTime`s at every step and cost more.)
    let own = r
        .lot
        .and_then(|(_, id)| a.lots().iter().rev().find(|l| l.id == id).map(|l| (l, id)));
    if let Some((l, _)) = own {
        let t = l.remaining.min(need);
        if t > 0 {
            out.push(draw(l, t));
            need -= t;
        }
    }
    need - draw_in_order(a.lots(), need, own.map(|(_, id)| id), out)
}

/// Posts the return of `points` that paid for the purchase, to the lots they came from,
/// settling debt (`debt_after`, as it stands after any clawback) first.
fn return_points(
    out: &mut Out<'_, '_>,
    r: &PurchaseRecord,
    purchase: PurchaseId,
    points: Points,
    debt_after: i64,
) -> Result<(), PointsError> {
    let a = out.a;
    room(a, points.get(), false)?;
    let (start, len) = r.draws;
    let kept = a
        .kept_draws
        .get(start as usize..(start as usize).saturating_add(len as usize))
        .unwrap_or(&[]);
    let mut draws = out.draws();
    unwind(kept, r.returned, points.get(), &mut draws);
    out.push(PostingKind::Returned {
        purchase,
        points,
        draws,
        settled: points.min(Points::new(debt_after)),
    })
}

/// Draws `need` points back from the `kept` draws of a redemption, most recent first,
/// passing over the `skip` points earlier returns gave back: successive partial returns
/// unwind the redemption, and a full return restores every lot exactly.
#[inline]
fn unwind(kept: &[KeptDraw], mut skip: i64, mut need: i64, out: &mut Vec<Draw>) {
    for k in kept.iter().rev() {
        if need == 0 {
            break;
        }
        let left = k.points - skip.min(k.points);
        skip -= skip.min(k.points);
        let t = left.min(need);
        if t > 0 {
            out.push(Draw {
                lot: k.lot,
                points: Points::new(t),
                expires: k.expires,
            });
            need -= t;
        }
    }
}

/// [`CommandKind::Review`]: moves the tier up or down to what the window's growth holds,
/// then records the review.
fn review(out: &mut Out<'_, '_>) -> Result<(), PointsError> {
    let a = out.a;
    let tiers = out.policy.tiers();
    let ws = tiers.window_start(out.at, out.calendar);
    let wg = a.growth_since(ws);
    let rank = tiers.rank(a.tier());
    let reached = tiers.reached(wg);
    if reached > rank {
        if let Some(t) = reached.and_then(|r| tiers.get(r)) {
            out.push(PostingKind::TierChanged {
                from: a.tier().copied(),
                to: Some(*t.code()),
                reason: TierReason::Upgrade {
                    threshold: t.threshold(),
                },
                window_growth: wg,
            })?;
        }
    } else if let Some(cur) = rank.and_then(|r| tiers.get(r))
        && wg < cur.retain()
    {
        let below = rank.unwrap_or(0);
        let to = tiers
            .tiers()
            .get(..below)
            .unwrap_or(&[])
            .iter()
            .rev()
            .find(|t| wg >= t.retain());
        out.push(PostingKind::TierChanged {
            from: a.tier().copied(),
            to: to.map(|t| *t.code()),
            reason: TierReason::BelowRetain {
                retain: cur.retain(),
            },
            window_growth: wg,
        })?;
    }
    out.push(PostingKind::Reviewed {
        window_start: ws,
        window_growth: wg,
    })
}
