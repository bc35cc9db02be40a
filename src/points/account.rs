//! The account state and `apply`: what the postings add up to.

use chrono::{DateTime, Utc};

use super::table::{IdIndex, Probe};

use super::command::Fingerprint;
use super::error::PointsError;
use super::posting::{Posting, PostingKind};
use super::types::{CommandKey, Draw, Lot, PendingLot, TierCode, to_lot, to_unix};
use crate::id::{LotId, PatientId, PurchaseId};
use crate::money::{Points, SignedYuan, Yuan};

/// What the account remembers of a key: the command's content and where its postings are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) command: Fingerprint,
    pub(crate) first_seq: u64,
    pub(crate) count: u32,
}

/// What the account remembers of a purchase, so refunds never take or give twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PurchaseRecord {
    pub(crate) earned_on: bool,
    pub(crate) paid_fen: i64,
    pub(crate) refunded_fen: i64,
    pub(crate) earned: i64,
    pub(crate) clawed: i64,
    pub(crate) lot: Option<(DateTime<Utc>, LotId)>,
    pub(crate) paid_with_points: bool,
    pub(crate) redeemed: i64,
    pub(crate) returned: i64,
    pub(crate) draws: (u32, u32),
}

/// A draw kept for a purchase paid with points: 32 bytes in one shared per-account arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeptDraw {
    pub(crate) expires: Option<DateTime<Utc>>,
    pub(crate) lot: LotId,
    pub(crate) points: i64,
}

/// A member's points account: the result of applying its postings in order.
///
/// Getters answer balance questions; [`super::decide`] turns a command into postings and
/// [`apply`] folds a posting in. The state is never edited any other way.
///
/// Invariants (checked by the state-machine test): `balance = available − debt`;
/// `available` is the sum of the open lots' remaining points; `debt > 0` only under
/// [`super::ShortfallPolicy::AllowNegative`], and then no lot is open.
// Laid out by hand (`repr(C)`), hottest first, and aligned to a cache line: every command
// reads the first line (sequence, clock, balances, lots) and the second (its key), an
// earning or refund the third (purchases), and the rest only now and then. With the
// compiler's layout the fields a command needs were spread over five or six lines, each a
// cache miss on a large book.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct Account {
    // Line 1.
    pub(crate) seq: u64,
    pub(crate) last_at: i64,
    pub(crate) available: i64,
    pub(crate) debt: i64,
    /// Open lots in spending order from `spent` on; the `spent` lots before them are
    /// emptied lots not yet dropped (see [`Account::drop_spent`]).
    pub(crate) lots: Vec<Lot>,
    pub(crate) spent: usize,
    // Line 2.
    /// Key → index into `seen_log`. The index holds 8-byte entries, so the probe every
    /// command makes (and the rehash as keys accumulate) moves little memory; the full
    /// fingerprints sit in an append-only log read only when a key comes back.
    pub(crate) seen: IdIndex,
    pub(crate) seen_log: Vec<(CommandKey, Seen)>,
    // Line 3.
    /// Purchase → index into `purchase_log`.
    pub(crate) purchases: IdIndex,
    pub(crate) purchase_log: Vec<(PurchaseId, PurchaseRecord)>,
    // Line 4.
    pub(crate) growth: i64,
    /// `(unix seconds, growth delta)`, sorted by time; reviews drop what left the window.
    pub(crate) growth_log: Vec<(i64, i64)>,
    pub(crate) locked: i64,
    pub(crate) pending: Vec<PendingLot>,
    // Line 5.
    id: PatientId,
    pub(crate) kept_draws: Vec<KeptDraw>,
    pub(crate) tier: Option<TierCode>,
}

impl PartialEq for Account {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
            && self.seq == o.seq
            && self.last_at == o.last_at
            && self.lots() == o.lots()
            && self.pending == o.pending
            && self.available == o.available
            && self.locked == o.locked
            && self.debt == o.debt
            && self.growth == o.growth
            && self.growth_log == o.growth_log
            && self.tier == o.tier
            && self.purchase_log == o.purchase_log
            && self.kept_draws == o.kept_draws
            && self.seen_log == o.seen_log
    }
}

impl Eq for Account {}

impl Account {
    /// An empty account for a member.
    #[must_use]
    pub fn new(id: PatientId) -> Self {
        Account {
            id,
            seq: 0,
            last_at: i64::MIN,
            lots: Vec::new(),
            spent: 0,
            pending: Vec::new(),
            available: 0,
            locked: 0,
            debt: 0,
            growth: 0,
            growth_log: Vec::new(),
            tier: None,
            purchases: IdIndex::default(),
            purchase_log: Vec::new(),
            kept_draws: Vec::new(),
            seen: IdIndex::default(),
            seen_log: Vec::new(),
        }
    }

    /// A copy with room for `extra` more entries in each of its logs, for an account that is
    /// about to take postings: a plain clone has no spare capacity, so its first posting
    /// reallocated and copied every log again (a tenth of the journey layer's day).
    pub(crate) fn clone_with_room(&self, extra: usize) -> Account {
        fn roomy<T: Clone>(v: &[T], extra: usize) -> Vec<T> {
            let mut out = Vec::with_capacity(v.len().saturating_add(extra));
            out.extend_from_slice(v);
            out
        }
        Account {
            id: self.id,
            seq: self.seq,
            last_at: self.last_at,
            lots: roomy(&self.lots, extra),
            spent: self.spent,
            pending: self.pending.clone(),
            available: self.available,
            locked: self.locked,
            debt: self.debt,
            growth: self.growth,
            growth_log: roomy(&self.growth_log, extra),
            tier: self.tier,
            purchases: self.purchases.clone(),
            purchase_log: roomy(&self.purchase_log, extra),
            kept_draws: self.kept_draws.clone(),
            seen: self.seen.clone(),
            seen_log: roomy(&self.seen_log, extra),
        }
    }

    /// Rebuilds an account from postings that came from outside (a [`LedgerStore`], a file, a
    /// message): each must follow the one before it (`seq` 1, 2, …).
    ///
    /// # Errors
    ///
    /// [`PointsError::OutOfSequence`] at the first posting that does not follow; nothing of
    /// the account is returned then.
    ///
    /// [`LedgerStore`]: crate::store::LedgerStore
    pub fn load<'a>(
        id: PatientId,
        postings: impl IntoIterator<Item = &'a Posting>,
    ) -> Result<Self, PointsError> {
        let mut a = Account::new(id);
        for p in postings {
            let expected = a.seq.saturating_add(1);
            if p.seq != expected {
                return Err(PointsError::OutOfSequence {
                    expected,
                    found: p.seq,
                });
            }
            apply(&mut a, p);
        }
        Ok(a)
    }

    /// Rebuilds an account from postings known to be in `seq` order, such as the ones
    /// [`super::decide`] just returned; a posting out of sequence is skipped (see [`apply`]).
    /// Postings from outside go through [`Account::load`], which refuses them instead.
    pub fn replay<'a>(id: PatientId, postings: impl IntoIterator<Item = &'a Posting>) -> Self {
        let mut a = Account::new(id);
        for p in postings {
            apply(&mut a, p);
        }
        a
    }

    /// The member.
    #[must_use]
    pub fn id(&self) -> PatientId {
        self.id
    }

    /// The `seq` of the last posting (0 for none): the next posting gets one more.
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// The time of the latest posting.
    #[must_use]
    pub fn last_posted_at(&self) -> Option<DateTime<Utc>> {
        if self.last_at == i64::MIN {
            None
        } else {
            DateTime::from_timestamp(self.last_at, 0)
        }
    }

    /// The balance: spendable points less any debt. Negative only under `AllowNegative`.
    #[must_use]
    pub fn balance(&self) -> Points {
        Points::new(self.available.saturating_sub(self.debt))
    }

    /// Spendable points: the sum of the open lots.
    #[must_use]
    pub fn available(&self) -> Points {
        Points::new(self.available)
    }

    /// Locked (pending) points: not spendable, not counted toward tier.
    #[must_use]
    pub fn locked(&self) -> Points {
        Points::new(self.locked)
    }

    /// Points owed after a clawback of spent points (`AllowNegative`).
    #[must_use]
    pub fn debt(&self) -> Points {
        Points::new(self.debt)
    }

    /// Lifetime growth value (成长值): earned, never spent, reduced only by clawbacks.
    #[must_use]
    pub fn growth(&self) -> i64 {
        self.growth
    }

    /// Growth value credited at or after `since`.
    #[must_use]
    pub fn growth_since(&self, since: DateTime<Utc>) -> i64 {
        let s = since.timestamp();
        self.growth_log
            .iter()
            .rev()
            .take_while(|(at, _)| *at >= s)
            .fold(0i64, |acc, (_, g)| acc.saturating_add(*g))
    }

    /// The current tier, `None` below every tier.
    #[must_use]
    pub fn tier(&self) -> Option<&TierCode> {
        self.tier.as_ref()
    }

    /// Open lots in spending order.
    #[must_use]
    pub fn lots(&self) -> &[Lot] {
        self.lots.get(self.spent..).unwrap_or(&[])
    }

    /// Locked lots, in earning order.
    #[must_use]
    pub fn pending(&self) -> &[PendingLot] {
        &self.pending
    }

    /// Open lots that expire at or before `by`, soonest first.
    #[must_use]
    pub fn expiring_by(&self, by: DateTime<Utc>) -> &[Lot] {
        let open = self.lots();
        let n = open.partition_point(|l| l.expires <= by);
        open.get(..n).unwrap_or(&[])
    }

    /// Whether the key has been posted, and if so the seq range of its postings.
    #[must_use]
    pub fn postings_of(&self, key: CommandKey) -> Option<std::ops::Range<u64>> {
        self.seen_of(key)
            .map(|s| s.first_seq..s.first_seq.saturating_add(u64::from(s.count)))
    }

    /// Points the purchase earned, clawed back so far, paid with points, and returned so far.
    #[must_use]
    pub fn purchase_points(&self, purchase: PurchaseId) -> Option<PurchasePoints> {
        self.purchase(purchase).map(|r| PurchasePoints {
            earned: Points::new(r.earned),
            clawed_back: Points::new(r.clawed),
            redeemed: Points::new(r.redeemed),
            returned: Points::new(r.returned),
        })
    }

    /// What the account remembers of a key.
    pub(crate) fn seen_of(&self, key: CommandKey) -> Option<&Seen> {
        let i = self.seen.get(key.get(), |i| {
            self.seen_log
                .get(i as usize)
                .is_some_and(|(k, _)| *k == key)
        })?;
        self.seen_log.get(i as usize).map(|(_, s)| s)
    }

    /// What the account remembers of a purchase.
    pub(crate) fn purchase(&self, p: PurchaseId) -> Option<&PurchaseRecord> {
        let i = self.purchases.get(p.get(), |i| {
            self.purchase_log
                .get(i as usize)
                .is_some_and(|(k, _)| *k == p)
        })?;
        self.purchase_log.get(i as usize).map(|(_, r)| r)
    }

    fn see(&mut self, p: &Posting) {
        // The postings of one command come together, so a repeated key is almost always
        // the last one logged: checked before hashing.
        if let Some((k, s)) = self.seen_log.last_mut()
            && *k == p.key
        {
            s.count = s.count.saturating_add(1);
            return;
        }
        let log = &self.seen_log;
        let probe = self.seen.probe(p.key.get(), |i| {
            log.get(i as usize).is_some_and(|(k, _)| *k == p.key)
        });
        let slot = match probe {
            Probe::Found(i) => {
                if let Some((_, s)) = self.seen_log.get_mut(i as usize) {
                    s.count = s.count.saturating_add(1);
                }
                return;
            }
            Probe::Vacant(slot) => slot,
        };
        let i = u32::try_from(self.seen_log.len()).unwrap_or(u32::MAX);
        self.seen.insert_at(slot, p.key.get(), i);
        self.seen_log.push((
            p.key,
            Seen {
                command: p.command,
                first_seq: p.seq,
                count: 1,
            },
        ));
    }

    /// Where a lot is, or would go, among the open lots.
    pub(crate) fn lot_index(&self, expires: DateTime<Utc>, lot: LotId) -> Result<usize, usize> {
        self.lots()
            .binary_search_by(|l| l.order().cmp(&(expires, lot)))
    }

    /// Drops the emptied lots at the front once they outnumber half the open ones.
    ///
    /// Redemptions and expiry empty lots from the front of the spending order. Removing
    /// each at once shifted every open lot down, a copy of the whole list per emptied lot;
    /// dropping them in bulk moves each open lot about twice per emptied lot instead.
    /// Dead lots are at most half the open ones, so an open lot costs at most 48 bytes
    /// (under the 64-byte bound) even before a drop.
    fn drop_spent(&mut self) {
        if self.spent * 2 > self.lots.len() - self.spent.min(self.lots.len()) {
            self.lots.drain(..self.spent.min(self.lots.len()));
            self.spent = 0;
        }
    }

    fn take(&mut self, d: &Draw) {
        let p = d.points.get();
        // Lot ids are unique, and draws come from the front of the spending order, so a
        // scan by id finds them at once without comparing expiries.
        if let Some(i) = self.lots().iter().position(|l| l.id == d.lot) {
            let at = self.spent + i;
            if let Some(l) = self.lots.get_mut(at) {
                l.remaining = l.remaining.saturating_sub(p);
                if l.remaining <= 0 {
                    if i == 0 {
                        self.spent += 1;
                    } else {
                        self.lots.remove(at);
                    }
                    self.drop_spent();
                }
            }
            self.available = self.available.saturating_sub(p);
        }
    }

    fn put(&mut self, expires: DateTime<Utc>, lot: LotId, points: i64) {
        if points <= 0 {
            return;
        }
        let new = Lot {
            expires,
            id: lot,
            remaining: points,
        };
        self.available = self.available.saturating_add(points);
        // A new lot usually expires last and is the newest: append without searching, so an
        // earning touches only the tail of the lots.
        if self
            .lots()
            .last()
            .is_none_or(|l| l.order() < (expires, lot))
        {
            if self.lots().is_empty() {
                self.lots.clear();
                self.spent = 0;
            }
            self.lots.push(new);
            return;
        }
        match self.lot_index(expires, lot) {
            Ok(i) => {
                if let Some(l) = self.lots.get_mut(self.spent + i) {
                    l.remaining = l.remaining.saturating_add(points);
                }
            }
            // A lot given back at the front of the spending order reuses a dead slot.
            Err(0) if self.spent > 0 => {
                self.spent -= 1;
                if let Some(l) = self.lots.get_mut(self.spent) {
                    *l = new;
                }
            }
            Err(i) => self.lots.insert(self.spent + i, new),
        }
    }

    fn credit_growth(&mut self, at: i64, g: i64) {
        if g == 0 {
            return;
        }
        self.growth = self.growth.saturating_add(g);
        // Postings almost always come in time order: append without searching.
        if self.growth_log.last().is_none_or(|(t, _)| *t <= at) {
            self.growth_log.push((at, g));
        } else {
            let i = self.growth_log.partition_point(|(t, _)| *t <= at);
            self.growth_log.insert(i, (at, g));
        }
    }

    fn settle(&mut self, settled: Points) {
        self.debt = self.debt.saturating_sub(settled.get()).max(0);
    }

    fn record(&mut self, p: PurchaseId) -> &mut PurchaseRecord {
        let log = &self.purchase_log;
        let probe = self.purchases.probe(p.get(), |i| {
            log.get(i as usize).is_some_and(|(k, _)| *k == p)
        });
        let i = match probe {
            Probe::Found(i) => i as usize,
            Probe::Vacant(slot) => {
                let i = self.purchase_log.len();
                self.purchases
                    .insert_at(slot, p.get(), u32::try_from(i).unwrap_or(u32::MAX));
                self.purchase_log.push((p, PurchaseRecord::default()));
                i
            }
        };
        // `i` was found in, or just pushed to, the log, so it is in range; the clamp keeps
        // this total without a second lookup.
        if self.purchase_log.is_empty() {
            self.purchase_log.push((p, PurchaseRecord::default()));
        }
        let last = self.purchase_log.len() - 1;
        &mut self.purchase_log[i.min(last)].1
    }

    /// Remembers what an earning posted for its purchase, so a refund never takes twice.
    #[inline]
    fn record_earning(
        &mut self,
        purchase: PurchaseId,
        paid: Yuan,
        points: Points,
        lot: Option<(DateTime<Utc>, LotId)>,
    ) {
        let r = self.record(purchase);
        r.earned_on = true;
        r.paid_fen = SignedYuan::from(paid).to_fen();
        r.earned = points.get();
        r.lot = lot;
    }

    /// Holds an earning's lot as pending until its lock ends.
    #[inline]
    fn lock(
        &mut self,
        purchase: PurchaseId,
        lot: LotId,
        points: Points,
        expires: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) {
        self.pending.push(PendingLot {
            id: lot,
            points: points.get(),
            expires: to_unix(expires),
            until: until.timestamp(),
            purchase,
        });
        self.locked = self.locked.saturating_add(points.get());
    }

    /// Drops a released lot from the pending ones.
    #[inline]
    fn unlock(&mut self, lot: LotId, points: Points) {
        self.pending.retain(|l| l.id != lot);
        self.locked = self.locked.saturating_sub(points.get());
    }

    /// Settles debt from `points` and opens a lot with the rest.
    #[inline]
    fn settle_and_put(
        &mut self,
        expires: DateTime<Utc>,
        lot: LotId,
        points: Points,
        settled: Points,
    ) {
        self.settle(settled);
        self.put(expires, lot, points.get().saturating_sub(settled.get()));
    }

    /// [`Account::settle_and_put`], crediting `growth` at `at` as well.
    #[inline]
    fn credit(
        &mut self,
        expires: DateTime<Utc>,
        lot: LotId,
        points: Points,
        settled: Points,
        at: i64,
        growth: i64,
    ) {
        self.settle_and_put(expires, lot, points, settled);
        self.credit_growth(at, growth);
    }

    /// Takes each draw from its lot.
    // Always inlined: as a function of its own, `take` was inlined into its loop and the
    // lot scan compiled to about 8 more instructions a draw (callgrind).
    #[inline(always)]
    fn take_all(&mut self, draws: &[Draw]) {
        for d in draws {
            self.take(d);
        }
    }

    /// Takes a redemption's draws from the lots, keeping them when it paid for a purchase.
    #[inline]
    fn redeemed(&mut self, purchase: Option<PurchaseId>, draws: &[Draw]) {
        self.take_all(draws);
        if let Some(p) = purchase {
            self.keep_draws(p, draws);
        }
    }

    /// Keeps the draws of a redemption that paid for `purchase`, so a refund can give the
    /// points back to the very lots they came from.
    fn keep_draws(&mut self, purchase: PurchaseId, draws: &[Draw]) {
        let start = u32::try_from(self.kept_draws.len()).unwrap_or(u32::MAX);
        self.kept_draws.extend(draws.iter().map(|d| KeptDraw {
            expires: d.expires,
            lot: d.lot,
            points: d.points.get(),
        }));
        let len = u32::try_from(draws.len()).unwrap_or(u32::MAX);
        let total = draws
            .iter()
            .fold(0i64, |s, d| s.saturating_add(d.points.get()));
        let r = self.record(purchase);
        r.paid_with_points = true;
        r.redeemed = total;
        r.draws = (start, len);
    }

    /// Takes `voided` clawed-back points from the purchase's pending lot.
    #[inline]
    fn void_pending(&mut self, purchase: PurchaseId, voided: Points) {
        if !voided.is_positive() {
            return;
        }
        if let Some(i) = self.pending.iter().position(|l| l.purchase == purchase)
            && let Some(l) = self.pending.get_mut(i)
        {
            l.points = l.points.saturating_sub(voided.get());
            if l.points <= 0 {
                self.pending.remove(i);
            }
        }
        self.locked = self.locked.saturating_sub(voided.get());
    }

    /// Books a clawback's debt, growth and refund on the account and the purchase (its draws
    /// and voided points are taken separately).
    #[inline]
    fn clawed_back(
        &mut self,
        purchase: PurchaseId,
        refunded: Yuan,
        points: Points,
        debt: Points,
        growth: i64,
        at: i64,
    ) {
        self.debt = self.debt.saturating_add(debt.get());
        if growth != 0 {
            self.credit_growth(at, growth.saturating_neg());
        }
        let r = self.record(purchase);
        r.refunded_fen = r
            .refunded_fen
            .saturating_add(SignedYuan::from(refunded).to_fen());
        r.clawed = r.clawed.saturating_add(points.get());
    }

    /// Puts returned points back in the lots they came from, settling debt from the first.
    fn give_back(&mut self, purchase: PurchaseId, points: Points, draws: &[Draw], settled: Points) {
        self.settle(settled);
        let mut to_settle = settled.get();
        for d in draws {
            let s = to_settle.min(d.points.get());
            to_settle -= s;
            self.put(to_lot(d.expires), d.lot, d.points.get().saturating_sub(s));
        }
        let r = self.record(purchase);
        r.returned = r.returned.saturating_add(points.get());
    }

    /// Forgets the growth credited before a review's window, which no later review counts.
    fn forget_growth_before(&mut self, window_start: DateTime<Utc>) {
        let s = window_start.timestamp();
        let n = self.growth_log.partition_point(|(t, _)| *t < s);
        self.growth_log.drain(..n);
    }
}

/// What one purchase did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurchasePoints {
    /// Points it earned.
    pub earned: Points,
    /// Of those, clawed back by refunds.
    pub clawed_back: Points,
    /// Points that paid for it.
    pub redeemed: Points,
    /// Of those, given back by refunds.
    pub returned: Points,
}

/// Folds one posting into the account. Postings come in `seq` order; `apply` never fails,
/// because [`super::decide`] checked everything when it made the posting. A posting that
/// does not follow the account's last one (a host's bug, or a list from outside that
/// [`Account::load`] would refuse) changes nothing.
pub fn apply(a: &mut Account, p: &Posting) {
    if p.seq != a.seq.wrapping_add(1) {
        return;
    }
    apply_at(a, p, p.at.timestamp());
}

/// [`apply`] given `p.at` in Unix seconds, which a batch run at one `now` has at hand.
pub(crate) fn apply_at(a: &mut Account, p: &Posting, at: i64) {
    debug_assert_eq!(p.seq, a.seq.wrapping_add(1), "postings out of sequence");
    debug_assert_eq!(p.at.timestamp(), at, "posting time");
    a.seq = p.seq;
    a.last_at = a.last_at.max(at);
    a.see(p);
    match &p.kind {
        PostingKind::Earned {
            purchase,
            paid,
            lot,
            points,
            expires,
            locked_until,
            settled,
            growth,
        } => {
            let exp = to_lot(*expires);
            a.record_earning(*purchase, *paid, *points, lot.map(|l| (exp, l)));
            match (*lot, locked_until) {
                (None, _) => {}
                (Some(lot), Some(until)) => a.lock(*purchase, lot, *points, *expires, *until),
                (Some(lot), None) => a.credit(exp, lot, *points, *settled, at, *growth),
            }
        }
        PostingKind::Released {
            lot,
            points,
            expires,
            settled,
            growth,
            ..
        } => {
            a.unlock(*lot, *points);
            a.credit(to_lot(*expires), *lot, *points, *settled, at, *growth);
        }
        PostingKind::Redeemed {
            purchase, draws, ..
        } => a.redeemed(*purchase, draws),
        PostingKind::Expired { draws, .. } => a.take_all(draws),
        PostingKind::Adjusted {
            points,
            lot,
            expires,
            settled,
            draws,
            ..
        } => {
            a.take_all(draws);
            if let Some(lot) = lot {
                a.settle_and_put(to_lot(*expires), *lot, *points, *settled);
            }
        }
        PostingKind::ClawedBack {
            purchase,
            refunded,
            points,
            voided,
            draws,
            debt,
            growth,
            ..
        } => {
            a.void_pending(*purchase, *voided);
            a.take_all(draws);
            a.clawed_back(*purchase, *refunded, *points, *debt, *growth, at);
        }
        PostingKind::Returned {
            purchase,
            points,
            draws,
            settled,
        } => a.give_back(*purchase, *points, draws, *settled),
        PostingKind::TierChanged { to, .. } => a.tier = *to,
        PostingKind::Reviewed { window_start, .. } => a.forget_growth_before(*window_start),
    }
}
