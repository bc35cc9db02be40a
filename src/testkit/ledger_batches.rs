//! Deterministic batches of ledger postings for adapters' own ledger tests: the crash and
//! fault tests (a writer killed mid-commit) and the ledger checks. Each commit's size and
//! content follow from its version alone, so a test can tell after a crash whether a commit
//! landed whole. One copy for every adapter.

use crate::calendar::ClinicCalendar;
use crate::id::{LotId, PatientId, PurchaseId};
use crate::money::{Points, Yuan};
use crate::points::{
    self, Account, CommandKey, CommandKind, Fingerprint, LedgerCommand, Multiplier, Policy,
    Posting, PostingKind,
};

/// How many postings the commit that makes version `v` carries: 1 to 4, so that a commit
/// cut in half would show as a short group.
pub fn batch_len(v: u64) -> u64 {
    1 + v % 4
}

/// An earn posting of `points`, its lot numbered by its seq, keyed by the commit's version.
pub fn earned(account: PatientId, seq: u64, key: u64, points: i64) -> Posting {
    let purchase = PurchaseId::new(seq);
    let paid = Yuan::from_fen(u32::try_from(points * 100).unwrap_or(u32::MAX));
    Posting {
        account,
        seq,
        key: CommandKey::new(key),
        command: Fingerprint::of(&CommandKind::Earn {
            purchase,
            paid,
            category: None,
            multiplier: Multiplier::ONE,
            lock_until: None,
        }),
        at: crate::testkit::scenario_now(),
        kind: PostingKind::Earned {
            purchase,
            paid,
            lot: Some(LotId::new(seq)),
            points: Points::new(points),
            expires: None,
            locked_until: None,
            settled: Points::ZERO,
            growth: points,
        },
    }
}

/// The postings of the commit that takes an account from `stored` postings to version `v`.
pub fn commit_batch(account: PatientId, v: u64, stored: u64) -> Vec<Posting> {
    (1..=batch_len(v))
        .map(|i| {
            earned(
                account,
                stored + i,
                v,
                i64::try_from(v % 97 + i).unwrap_or(1),
            )
        })
        .collect()
}

/// The command the crash child runs as the `i`th of the append that makes version `v`:
/// mostly purchases earning points, and every third a redemption of part of the balance.
/// A pure function of `v`, `i` and the account, so the parent can recompute every append.
pub fn command_for(v: u64, i: u64, account: &Account) -> LedgerCommand {
    let key = CommandKey::new(v * 10 + i);
    let available = account.available().get();
    if (v + i).is_multiple_of(3) && available > 0 {
        let points = available.min(i64::try_from(7 + v % 13).unwrap_or(7));
        return LedgerCommand::new(
            key,
            CommandKind::Redeem {
                points: Points::new(points),
                purchase: None,
            },
        );
    }
    LedgerCommand::new(
        key,
        CommandKind::Earn {
            purchase: PurchaseId::new(v * 10 + i),
            paid: Yuan::from_fen(u32::try_from((v % 50 + 1) * 100 + i).unwrap_or(100)),
            category: None,
            multiplier: Multiplier::ONE,
            lock_until: None,
        },
    )
}

/// The postings of the append that makes version `v` on `account`: `batch_len(v)` commands
/// decided one after another with the pure core, as one append.
pub fn decide_batch(v: u64, account: &Account) -> Vec<Posting> {
    let mut scratch = account.clone();
    let mut out = Vec::new();
    for i in 1..=batch_len(v) {
        let cmd = command_for(v, i, &scratch);
        let outcome = points::decide(
            &scratch,
            &cmd,
            crate::testkit::scenario_now(),
            &Policy::default(),
            ClinicCalendar::default(),
        )
        .unwrap_or_else(|e| panic!("crash child command v{v}/{i} refused: {e}"));
        for p in outcome.postings() {
            points::apply(&mut scratch, p);
        }
        out.extend_from_slice(outcome.postings());
    }
    out
}
