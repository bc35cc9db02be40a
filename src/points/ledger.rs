//! `Ledger`: an in-memory book of accounts that runs commands one by one or in batches.

use chrono::{DateTime, Utc};
use std::hint::black_box;

use super::account::{Account, apply_at};
use super::command::{CommandKind, LedgerCommand};
use super::decide::{Clock, LedgerDecision, Receipt, decide_into, recycle};
use super::error::PointsError;
use super::policy::Policy;
use super::posting::Posting;
use super::types::Draw;
use crate::calendar::ClinicCalendar;
use crate::id::IdMap;
use crate::id::PatientId;

/// How many commands of a batch have their accounts fetched from memory together before
/// any of them runs.
///
/// A command on a cold account waits for several dependent memory loads (the account, then
/// its lots and its key table). Fetching a group's accounts first lets those loads overlap,
/// so a group pays about one round of memory latency instead of one per command.
const GROUP: usize = 16;

/// An in-memory book of members' accounts under one policy and calendar: the loop a host
/// runs between its [`crate::store::LedgerStore`] and its tills.
///
/// [`Ledger::execute`] is [`decide`](super::decide) then [`apply`](super::apply) on the
/// member's account (created empty on first use). [`Ledger::execute_batch`] does the same
/// for many commands, in input order, so each account sees its commands in the order given
/// and results come back in that order; it only overlaps the memory traffic of
/// neighbouring commands. The postings in each [`LedgerDecision::Posted`] are what the host
/// appends to its store.
#[derive(Debug, Clone)]
pub struct Ledger {
    policy: Policy,
    calendar: ClinicCalendar,
    index: IdMap<PatientId, u32>,
    accounts: Vec<Account>,
    /// The postings of the batch command in hand, lent to the sink, then cleared.
    buf: Vec<Posting>,
    /// Draw lists of finished postings, reused so a batch allocates nothing per command.
    pool: Vec<Vec<Draw>>,
    /// The expiry of lots earned on one local day (the day's number, the expiry). Every
    /// [`ExpiryRule`](super::ExpiryRule) depends on the local date of earning alone, so
    /// the calendar arithmetic runs once a day rather than once per earning.
    expiry: Option<(i64, Option<DateTime<Utc>>)>,
}

/// What [`Ledger::execute_batch`] hands its sink for an accepted command: a [`LedgerDecision`]
/// whose postings are lent rather than given, so the batch allocates nothing for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Executed<'a> {
    /// New postings, already applied to the account: append them to the store.
    Posted(&'a [Posting]),
    /// The key was already posted with identical content: nothing changed.
    Exists(Receipt),
}

impl Executed<'_> {
    /// The new postings (none for [`Executed::Exists`]).
    #[must_use]
    pub fn postings(&self) -> &[Posting] {
        match self {
            Executed::Posted(p) => p,
            Executed::Exists(_) => &[],
        }
    }

    /// The owned [`LedgerDecision`] that [`Ledger::execute`] would have returned.
    pub fn to_outcome(&self) -> LedgerDecision {
        match self {
            Executed::Posted(p) => LedgerDecision::Posted(p.to_vec()),
            Executed::Exists(r) => LedgerDecision::Exists(*r),
        }
    }
}

impl Ledger {
    /// An empty book.
    #[must_use]
    pub fn new(policy: Policy, calendar: ClinicCalendar) -> Self {
        Ledger {
            policy,
            calendar,
            index: IdMap::default(),
            accounts: Vec::new(),
            buf: Vec::new(),
            pool: Vec::new(),
            expiry: None,
        }
    }

    /// The policy commands are decided under.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The clinic calendar.
    #[must_use]
    pub fn calendar(&self) -> ClinicCalendar {
        self.calendar
    }

    /// How many accounts the book holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the book holds no account.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// A member's account, if it has been loaded or used.
    #[must_use]
    pub fn account(&self, id: PatientId) -> Option<&Account> {
        let i = *self.index.get(&id)?;
        self.accounts.get(i as usize)
    }

    /// Every account, in the order they were first loaded or used.
    #[must_use]
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Loads an account (for example one rebuilt by [`Account::replay`] from the store),
    /// replacing any account of the same member.
    pub fn insert(&mut self, account: Account) {
        match self.index.get(&account.id()) {
            Some(&i) => {
                if let Some(slot) = self.accounts.get_mut(i as usize) {
                    *slot = account;
                }
            }
            None => {
                let i = u32::try_from(self.accounts.len()).unwrap_or(u32::MAX);
                self.index.insert(account.id(), i);
                self.accounts.push(account);
            }
        }
    }

    fn slot(&mut self, id: PatientId) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i as usize;
        }
        let i = self.accounts.len();
        self.index.insert(id, u32::try_from(i).unwrap_or(u32::MAX));
        self.accounts.push(Account::new(id));
        i
    }

    /// Decides `command` on the member's account at `now` and applies what it posts.
    ///
    /// # Errors
    ///
    /// The [`PointsError`] of [`decide`](super::decide); the account is then unchanged.
    pub fn execute(
        &mut self,
        account: PatientId,
        command: &LedgerCommand,
        now: DateTime<Utc>,
    ) -> Result<LedgerDecision, PointsError> {
        let i = self.slot(account);
        self.run(i, account, command, now)
    }

    fn run(
        &mut self,
        i: usize,
        id: PatientId,
        command: &LedgerCommand,
        now: DateTime<Utc>,
    ) -> Result<LedgerDecision, PointsError> {
        let clock = self.clock(now);
        match self.accounts.get_mut(i) {
            Some(acc) => {
                // One command has no neighbour to overlap with, but its own lines (lots, key
                // slot, purchase record) can be fetched together rather than one by one as
                // `decide` reaches them.
                black_box(touch(acc, command, true));
                step(acc, command, clock, &self.policy, self.calendar)
            }
            // `slot` always returns an index it has filled; kept total rather than indexing.
            None => {
                let mut acc = Account::new(id);
                let out = step(&mut acc, command, clock, &self.policy, self.calendar);
                self.insert(acc);
                out
            }
        }
    }

    /// `now` with the expiry of new lots, from the memo when `now` is on its day.
    fn clock(&mut self, now: DateTime<Utc>) -> Clock {
        let clock = Clock::new(now);
        let day = self.calendar.local_day_number(clock.secs());
        let expires = match self.expiry {
            Some((d, e)) if d == day => e,
            _ => {
                let e = self.policy.expiry().expires(now, self.calendar);
                self.expiry = Some((day, e));
                e
            }
        };
        clock.with_expires(expires)
    }

    /// Executes many commands at `now`, in input order, handing each result to `sink` with
    /// its position in `commands` as soon as it is known: the host appends the lent
    /// postings to its store (or copies them) before the next command runs.
    ///
    /// Equivalent to calling [`Ledger::execute`] on each command in turn (a unit test holds
    /// them equal), only cheaper on a large book: the accounts of each group of 16 commands
    /// are fetched from memory together before the group runs, and posting buffers and draw
    /// lists are reused instead of allocated per command.
    pub fn execute_batch(
        &mut self,
        commands: &[(PatientId, LedgerCommand)],
        now: DateTime<Utc>,
        mut sink: impl FnMut(usize, Result<Executed<'_>, PointsError>),
    ) {
        let clock = self.clock(now);
        let mut slots = [0usize; GROUP];
        let mut at = 0usize;
        // Commands for one account often come together (a till's session, a processor
        // sharded by account): the previous command's account is reused without a lookup.
        let mut last: Option<(PatientId, usize)> = None;
        for group in commands.chunks(GROUP) {
            for (s, (id, _)) in slots.iter_mut().zip(group) {
                *s = match last {
                    Some((l, i)) if l == *id => i,
                    _ => self.slot(*id),
                };
                last = Some((*id, *s));
            }
            let slots = slots.get(..group.len()).unwrap_or(&[]);
            self.warm(slots, group);
            for (&i, (id, cmd)) in slots.iter().zip(group) {
                let Some(acc) = self.accounts.get_mut(i) else {
                    // `slot` always returns an index it has filled; kept total anyway.
                    let r = self.execute(*id, cmd, now);
                    sink(at, r.as_ref().map(executed).map_err(Clone::clone));
                    at += 1;
                    continue;
                };
                let r = decide_into(
                    acc,
                    cmd,
                    clock,
                    &self.policy,
                    self.calendar,
                    &mut self.buf,
                    &mut self.pool,
                );
                match r {
                    Ok(Some(receipt)) => sink(at, Ok(Executed::Exists(receipt))),
                    Ok(None) => {
                        for p in &self.buf {
                            apply_at(acc, p, clock.secs());
                        }
                        sink(at, Ok(Executed::Posted(&self.buf)));
                        recycle(&mut self.buf, 0, &mut self.pool);
                    }
                    Err(e) => sink(at, Err(e)),
                }
                at += 1;
            }
        }
    }

    /// Reads what each command of a group will touch first (the account, the ends of its
    /// lots, its key's slot, the record of the purchase it names) with independent loads,
    /// so their cache misses are in flight together rather than one after another.
    fn warm(&self, slots: &[usize], group: &[(PatientId, LedgerCommand)]) {
        let mut sum = 0u64;
        for &i in slots {
            if let Some(a) = self.accounts.get(i) {
                sum = sum.wrapping_add(a.seq);
            }
        }
        let mut prev = usize::MAX;
        for (&i, (_, cmd)) in slots.iter().zip(group) {
            let Some(a) = self.accounts.get(i) else {
                continue;
            };
            let first = std::mem::replace(&mut prev, i) != i;
            sum = sum.wrapping_add(touch(a, cmd, first));
        }
        // Keeps the loads: without a use, the compiler would drop them as dead.
        black_box(sum);
    }
}

/// Reads the lines of `a` that `cmd` will need, with loads independent of one another once
/// the account's own line is in, and returns a value to keep them alive.
///
/// A command on the same account as the one before (`first` false) shares its account's
/// lines, but not its own key's slot or its purchase's record, which sit elsewhere: in runs
/// per account, skipping those left most commands a miss or two each.
fn touch(a: &Account, cmd: &LedgerCommand, first: bool) -> u64 {
    let mut sum = 0u64;
    if first {
        if let (Some(f), Some(l)) = (a.lots().first(), a.lots().last()) {
            sum = sum.wrapping_add(f.id.get() ^ l.id.get());
        }
        if let Some((k, _)) = a.seen_log.last() {
            sum = sum.wrapping_add(k.get());
        }
        if let Some((t, _)) = a.growth_log.last() {
            sum = sum.wrapping_add(*t as u64);
        }
    }
    sum = sum.wrapping_add(a.seen.touch(cmd.key.get()));
    // An earning names a new purchase (its probe ends at an empty slot); the other
    // commands name a known one, whose record, behind the index, is read too.
    match &cmd.kind {
        CommandKind::Earn { purchase, .. } => {
            sum = sum.wrapping_add(a.purchases.touch(purchase.get()));
        }
        CommandKind::Refund { purchase, .. }
        | CommandKind::Release { purchase }
        | CommandKind::Redeem {
            purchase: Some(purchase),
            ..
        } => {
            let paid = a.purchase(*purchase).map_or(0, |r| r.paid_fen);
            sum = sum.wrapping_add(paid as u64);
        }
        _ => {}
    }
    sum
}

fn executed(o: &LedgerDecision) -> Executed<'_> {
    match o {
        LedgerDecision::Posted(p) => Executed::Posted(p),
        LedgerDecision::Exists(r) => Executed::Exists(*r),
    }
}

fn step(
    acc: &mut Account,
    command: &LedgerCommand,
    clock: Clock,
    policy: &Policy,
    calendar: ClinicCalendar,
) -> Result<LedgerDecision, PointsError> {
    let mut postings = Vec::with_capacity(1);
    let out = match decide_into(
        acc,
        command,
        clock,
        policy,
        calendar,
        &mut postings,
        &mut Vec::new(),
    )? {
        Some(receipt) => LedgerDecision::Exists(receipt),
        None => LedgerDecision::Posted(postings),
    };
    for p in out.postings() {
        apply_at(acc, p, clock.secs());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PurchaseId;
    use crate::money::{Points, Yuan};
    use crate::points::TierPolicy;
    use crate::points::{CommandKey, ExpiryRule, Multiplier, PointsError, Tier, TierCode};
    use crate::points::{apply, decide};

    fn policy() -> Policy {
        let code = |c: &str| TierCode::parse(c).unwrap();
        let tiers = TierPolicy::new(
            vec![
                Tier::new(code("member"), 0, 0),
                Tier::new(code("gold"), 300, 200),
            ],
            30,
        )
        .unwrap();
        Policy::default()
            .with_expiry(ExpiryRule::AfterDays(3))
            .unwrap()
            .with_tiers(tiers)
    }

    /// A deterministic mix over 5 accounts, with retried keys, reused keys and refusals.
    fn commands(n: u64) -> Vec<(PatientId, LedgerCommand)> {
        let mut r = 0x9e37_79b9_7f4a_7c15u64;
        let mut out: Vec<(PatientId, LedgerCommand)> = Vec::new();
        for i in 0..n {
            {
                r ^= r << 13;
                r ^= r >> 7;
                r ^= r << 17;
                let acct = PatientId::new(r % 5);
                let p = PurchaseId::new((r >> 8) % 12);
                let kind = match (r >> 16) % 7 {
                    0 | 1 => CommandKind::Earn {
                        purchase: p,
                        paid: Yuan::from_fen(100 + (r >> 24) as u32 % 20_000),
                        category: None,
                        multiplier: Multiplier::ONE,
                        lock_until: None,
                    },
                    2 => CommandKind::Redeem {
                        points: Points::new(1 + (r >> 24) as i64 % 150),
                        purchase: Some(p),
                    },
                    3 => CommandKind::Refund {
                        purchase: p,
                        amount: Yuan::from_fen(1 + (r >> 24) as u32 % 5_000),
                        points: Points::new((r >> 40) as i64 % 20),
                    },
                    4 => CommandKind::Expire,
                    5 => CommandKind::Review,
                    _ => CommandKind::Redeem {
                        points: Points::new(1 + (r >> 24) as i64 % 50),
                        purchase: None,
                    },
                };
                // Every eighth command retries one made three commands before; every other
                // eighth reuses the key of the one just before, on its account, for a
                // different command.
                let prev = |k: usize| out.len().checked_sub(k).and_then(|j| out.get(j)).cloned();
                let c = match (i % 8, prev(3), prev(1)) {
                    (7, Some(c), _) => c,
                    (3, _, Some((a, c))) => (a, LedgerCommand::new(c.key, kind)),
                    _ => (acct, LedgerCommand::new(CommandKey::new(i), kind)),
                };
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn a_batch_is_the_same_as_one_command_at_a_time() {
        let cmds = commands(600);
        let t0 = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let mut batched = Ledger::new(policy(), ClinicCalendar::CHINA);
        let mut single = Ledger::new(policy(), ClinicCalendar::CHINA);
        let mut by_hand: std::collections::BTreeMap<PatientId, Account> = Default::default();
        let (mut posted, mut refused, mut exists) = (0, 0, 0);
        for (day, chunk) in cmds.chunks(100).enumerate() {
            let now = t0 + chrono::Duration::days(day as i64);
            let mut got = Vec::new();
            batched.execute_batch(chunk, now, |i, r| got.push((i, r.map(|e| e.to_outcome()))));
            assert_eq!(got.len(), chunk.len());
            for ((i, r), (j, (id, cmd))) in got.into_iter().zip(chunk.iter().enumerate()) {
                assert_eq!(i, j, "results come back in input order");
                assert_eq!(r, single.execute(*id, cmd, now));
                let acc = by_hand.entry(*id).or_insert_with(|| Account::new(*id));
                // By hand: `decide` and `apply`, with nothing worked out ahead.
                let by_hand = decide(acc, cmd, now, &policy(), ClinicCalendar::CHINA);
                if let Ok(o) = &by_hand {
                    for p in o.postings() {
                        apply(acc, p);
                    }
                }
                assert_eq!(r, by_hand);
                match r {
                    Ok(LedgerDecision::Posted(p)) if !p.is_empty() => posted += 1,
                    Ok(LedgerDecision::Exists(_)) => exists += 1,
                    Err(PointsError::KeyReused { .. } | PointsError::Insufficient { .. }) => {
                        refused += 1
                    }
                    _ => {}
                }
            }
        }
        // The mix exercises every path, so the comparison above means something.
        assert!(
            posted > 100 && refused > 10 && exists > 5,
            "{posted} {refused} {exists}"
        );
        assert_eq!(batched.len(), 5);
        for (id, acc) in &by_hand {
            assert_eq!(batched.account(*id), Some(acc));
            assert_eq!(single.account(*id), Some(acc));
        }
        assert!(!batched.is_empty());
        assert_eq!(batched.accounts().len(), 5);
    }

    #[test]
    fn insert_replaces_and_loads() {
        let mut l = Ledger::new(Policy::default(), ClinicCalendar::CHINA);
        let id = PatientId::new(9);
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        let earn = LedgerCommand::new(
            CommandKey::new(1),
            CommandKind::Earn {
                purchase: PurchaseId::new(1),
                paid: Yuan::from_fen(1_000),
                category: None,
                multiplier: Multiplier::ONE,
                lock_until: None,
            },
        );
        let out = l.execute(id, &earn, now).unwrap();
        assert_eq!(l.account(id).map(|a| a.balance()), Some(Points::new(10)));
        // Replaying the postings elsewhere gives the same account; loading it replaces.
        let replayed = Account::replay(id, out.postings());
        assert_eq!(l.account(id), Some(&replayed));
        l.insert(Account::new(id));
        assert_eq!(l.account(id).map(|a| a.balance()), Some(Points::ZERO));
        assert_eq!(l.len(), 1);
        assert!(matches!(
            l.execute(id, &earn, now),
            Ok(LedgerDecision::Posted(_))
        ));
    }
}
