//! Postings for the adapter's own ledger tests (the crash test, the ledger checks).

#![allow(dead_code)]

use clinic_ops::id::{LotId, PatientId, PurchaseId};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::points::{CommandKey, CommandKind, Fingerprint, Multiplier, Posting, PostingKind};

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
        at: clinic_ops::testkit::scenario_now(),
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
