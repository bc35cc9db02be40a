//! State-machine test of the points ledger against a simple model, plus pinned regressions.
//!
//! Random command sequences run against `decide`/`apply`. A naive model keeps every lot in
//! a plain map, updated only from the postings' own draws, and the per-purchase totals; after
//! every step the account must agree with it and with the rules:
//! - the balance is the sum of the remaining lots (less a debt, only under `AllowNegative`);
//! - spendable points never go negative under `TakeAvailable`;
//! - expiry never touches a lot before its time, and leaves nothing overdue;
//! - redemptions draw in spending order;
//! - replaying any earlier key returns the original outcome and changes nothing;
//! - refunds never claw back more than was earned nor return more than was redeemed;
//! - replaying the postings rebuilds the same account, and the same commands give the same
//!   postings.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use clinic_ops::calendar::ClinicCalendar;
use clinic_ops::id::{PatientId, PurchaseId};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::points::{
    self, Account, AdjustReason, CommandKey, CommandKind, ExpiryRule, LedgerCommand,
    LedgerDecision, Multiplier, Policy, Posting, PostingKind, ShortfallPolicy, Tier, TierCode,
    TierPolicy,
};

const CAL: ClinicCalendar = ClinicCalendar::CHINA;

#[derive(Debug, Clone)]
enum Step {
    /// Minutes.
    Advance(i64),
    /// Jump to this many minutes around the soonest lot expiry (never back in time).
    NearExpiry(i64),
    Earn {
        purchase: u64,
        fen: u32,
        locked: bool,
        mult: u32,
    },
    Redeem {
        points: i64,
        purchase: Option<u64>,
    },
    Refund {
        purchase: u64,
        fen: u32,
        points: i64,
    },
    Release {
        purchase: u64,
    },
    Expire,
    Adjust(i64),
    Review,
    Retry(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0i64..180).prop_map(Step::Advance),
        2 => (0i64..100_000).prop_map(Step::Advance),
        4 => (0u64..10, 0u32..50_000, any::<bool>(), prop_oneof![Just(100u32), Just(200), Just(150)])
            .prop_map(|(purchase, fen, locked, mult)| Step::Earn { purchase, fen, locked, mult }),
        3 => (-5i64..400, proptest::option::of(0u64..10))
            .prop_map(|(points, purchase)| Step::Redeem { points, purchase }),
        3 => (0u64..11, 0u32..30_000, 0i64..200)
            .prop_map(|(purchase, fen, points)| Step::Refund { purchase, fen, points }),
        1 => (0u64..10).prop_map(|purchase| Step::Release { purchase }),
        2 => Just(Step::Expire),
        2 => (-90i64..=90).prop_map(Step::NearExpiry),
        1 => (-300i64..300).prop_map(Step::Adjust),
        1 => Just(Step::Review),
        2 => (0usize..1_000).prop_map(Step::Retry),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let expiry = prop_oneof![
        Just(ExpiryRule::Never),
        (1u32..60).prop_map(ExpiryRule::AfterDays),
        Just(ExpiryRule::EndOfMonth),
        Just(ExpiryRule::EndOfYear),
    ];
    let shortfall = prop_oneof![
        Just(ShortfallPolicy::TakeAvailable),
        Just(ShortfallPolicy::AllowNegative)
    ];
    (expiry, shortfall).prop_map(|(e, s)| {
        let code = |c: &str| TierCode::parse(c).unwrap();
        let tiers = TierPolicy::new(
            vec![
                Tier::new(code("member"), 0, 0),
                Tier::new(code("silver"), 300, 150),
                Tier::new(code("gold"), 1000, 600),
            ],
            90,
        )
        .unwrap();
        Policy::default()
            .with_expiry(e)
            .unwrap()
            .with_shortfall(s)
            .with_tiers(tiers)
    })
}

#[derive(Default, Debug)]
struct Model {
    /// lot → (remaining, expires as unix seconds, `i64::MAX` for never)
    lots: BTreeMap<u64, (i64, i64)>,
    earned: BTreeMap<u64, i64>,
    clawed: BTreeMap<u64, i64>,
    paid: BTreeMap<u64, i64>,
    refunded: BTreeMap<u64, i64>,
    redeemed: BTreeMap<u64, i64>,
    returned: BTreeMap<u64, i64>,
}

fn exp(e: Option<DateTime<Utc>>) -> i64 {
    e.map_or(i64::MAX, |t| t.timestamp())
}

fn fen(y: Yuan) -> i64 {
    let mut d = y.amount();
    d.rescale(2);
    i64::try_from(d.mantissa()).unwrap()
}

impl Model {
    fn available(&self) -> i64 {
        self.lots.values().map(|(r, _)| r).sum()
    }

    fn spending_order(&self) -> Vec<(u64, i64)> {
        let mut v: Vec<(i64, u64, i64)> =
            self.lots.iter().map(|(id, (r, e))| (*e, *id, *r)).collect();
        v.sort();
        v.into_iter().map(|(_, id, r)| (id, r)).collect()
    }

    fn take(&mut self, draws: &[points::Draw]) {
        for d in draws {
            let e = self
                .lots
                .get_mut(&d.lot.get())
                .expect("draw from an open lot");
            assert!(e.0 >= d.points.get(), "drew more than the lot holds");
            e.0 -= d.points.get();
            if e.0 == 0 {
                self.lots.remove(&d.lot.get());
            }
        }
    }

    fn put(&mut self, lot: u64, points: i64, expires: i64) {
        if points > 0 {
            self.lots.entry(lot).or_insert((0, expires)).0 += points;
        }
    }

    fn settle_into(&mut self, draws: &[points::Draw], mut settled: i64) {
        for d in draws {
            let s = settled.min(d.points.get());
            settled -= s;
            self.put(d.lot.get(), d.points.get() - s, exp(d.expires));
        }
    }

    fn see(&mut self, p: &Posting, policy: &Policy) {
        let at = p.at.timestamp();
        match &p.kind {
            PostingKind::Earned {
                purchase,
                paid,
                lot,
                points,
                expires,
                locked_until,
                settled,
                ..
            } => {
                self.earned.insert(purchase.get(), points.get());
                self.paid.insert(purchase.get(), fen(*paid));
                if let (Some(l), None) = (lot, locked_until) {
                    self.put(l.get(), points.get() - settled.get(), exp(*expires));
                }
            }
            PostingKind::Released {
                lot,
                points,
                expires,
                settled,
                ..
            } => {
                self.put(lot.get(), points.get() - settled.get(), exp(*expires));
            }
            PostingKind::Redeemed {
                purchase,
                points,
                draws,
            } => {
                let want = self.spending_order();
                let mut need = points.get();
                let mut expect = Vec::new();
                for (id, r) in want {
                    if need == 0 {
                        break;
                    }
                    let t = r.min(need);
                    expect.push((id, t));
                    need -= t;
                }
                let got: Vec<(u64, i64)> = draws
                    .iter()
                    .map(|d| (d.lot.get(), d.points.get()))
                    .collect();
                assert_eq!(got, expect, "redemption out of spending order");
                self.take(draws);
                if let Some(pur) = purchase {
                    self.redeemed.insert(pur.get(), points.get());
                }
            }
            PostingKind::Expired { draws, .. } => {
                for d in draws {
                    assert!(exp(d.expires) <= at, "expired a lot before its time");
                    assert_eq!(
                        self.lots.get(&d.lot.get()).map(|x| x.0),
                        Some(d.points.get()),
                        "expiry empties the whole lot"
                    );
                }
                self.take(draws);
                assert!(
                    self.lots.values().all(|(_, e)| *e > at),
                    "an overdue lot survived an expiry run"
                );
            }
            PostingKind::Adjusted {
                points,
                lot,
                expires,
                settled,
                draws,
                ..
            } => {
                self.take(draws);
                if let Some(l) = lot {
                    self.put(l.get(), points.get() - settled.get(), exp(*expires));
                }
            }
            PostingKind::ClawedBack {
                purchase,
                refunded,
                points,
                voided,
                draws,
                debt,
                shortfall,
                ..
            } => {
                let taken: i64 = draws.iter().map(|d| d.points.get()).sum();
                assert_eq!(
                    points.get(),
                    voided.get() + taken + debt.get() + shortfall.get()
                );
                match policy.shortfall() {
                    ShortfallPolicy::TakeAvailable => assert_eq!(debt.get(), 0),
                    _ => assert_eq!(shortfall.get(), 0),
                }
                self.take(draws);
                *self.clawed.entry(purchase.get()).or_default() += points.get();
                *self.refunded.entry(purchase.get()).or_default() += fen(*refunded);
            }
            PostingKind::Returned {
                purchase,
                points,
                draws,
                settled,
            } => {
                let total: i64 = draws.iter().map(|d| d.points.get()).sum();
                assert_eq!(total, points.get());
                self.settle_into(draws, settled.get());
                *self.returned.entry(purchase.get()).or_default() += points.get();
            }
            _ => {}
        }
    }

    fn check(&self, acc: &Account, policy: &Policy) {
        let sum: i64 = acc.lots().iter().map(|l| l.remaining().get()).sum();
        assert_eq!(acc.available().get(), sum, "available ≠ sum of lots");
        assert_eq!(
            acc.available().get(),
            self.available(),
            "account and model lots differ"
        );
        assert_eq!(acc.balance().get(), sum - acc.debt().get());
        let lots: Vec<(u64, i64)> = acc
            .lots()
            .iter()
            .map(|l| (l.id().get(), l.remaining().get()))
            .collect();
        assert_eq!(
            lots,
            self.spending_order(),
            "lots not kept in spending order"
        );
        if policy.shortfall() == ShortfallPolicy::TakeAvailable {
            assert!(
                !acc.balance().is_negative(),
                "negative balance under TakeAvailable"
            );
            assert_eq!(acc.debt(), Points::ZERO);
        }
        if acc.debt().is_positive() {
            assert!(acc.lots().is_empty(), "open lots while in debt");
        }
        assert!(acc.growth() >= 0);
        for (p, c) in &self.clawed {
            assert!(
                *c <= self.earned.get(p).copied().unwrap_or(0),
                "clawed back more than earned"
            );
        }
        for (p, r) in &self.refunded {
            assert!(
                *r <= self.paid.get(p).copied().unwrap_or(0),
                "refunded more than paid"
            );
        }
        for (p, r) in &self.returned {
            assert!(
                *r <= self.redeemed.get(p).copied().unwrap_or(0),
                "returned more than redeemed"
            );
        }
    }
}

fn to_kind(s: &Step, now: DateTime<Utc>) -> Option<CommandKind> {
    Some(match s {
        Step::Earn {
            purchase,
            fen,
            locked,
            mult,
        } => CommandKind::Earn {
            purchase: PurchaseId::new(*purchase),
            paid: Yuan::from_fen(*fen),
            category: None,
            multiplier: Multiplier::percent(*mult).unwrap(),
            lock_until: locked.then(|| now + Duration::days(7)),
        },
        Step::Redeem { points, purchase } => CommandKind::Redeem {
            points: Points::new(*points),
            purchase: purchase.map(PurchaseId::new),
        },
        Step::Refund {
            purchase,
            fen,
            points,
        } => CommandKind::Refund {
            purchase: PurchaseId::new(*purchase),
            amount: Yuan::from_fen(*fen),
            points: Points::new(*points),
        },
        Step::Release { purchase } => CommandKind::Release {
            purchase: PurchaseId::new(*purchase),
        },
        Step::Expire => CommandKind::Expire,
        Step::Adjust(p) => CommandKind::Adjust {
            points: Points::new(*p),
            reason: AdjustReason::Correction,
        },
        Step::Review => CommandKind::Review,
        Step::Advance(_) | Step::NearExpiry(_) | Step::Retry(_) => return None,
    })
}

/// Runs the steps; returns every posting. Panics on a broken invariant.
fn run(policy: &Policy, steps: &[Step]) -> Vec<Posting> {
    let id = PatientId::new(1);
    let mut acc = Account::new(id);
    let mut model = Model::default();
    let mut log: Vec<Posting> = Vec::new();
    let mut accepted: Vec<LedgerCommand> = Vec::new();
    let mut now = DateTime::from_timestamp(1_767_225_600, 0).unwrap(); // 2026-01-01 08:00 +08
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::Advance(h) => {
                now += Duration::minutes(*h);
                continue;
            }
            Step::NearExpiry(m) => {
                if let Some(e) = acc.lots().first().and_then(|l| l.expires()) {
                    now = now.max(e + Duration::minutes(*m));
                }
                continue;
            }
            Step::Retry(k) => {
                if accepted.is_empty() {
                    continue;
                }
                let cmd = &accepted[k % accepted.len()];
                let before = acc.clone();
                match points::decide(&acc, cmd, now, policy, CAL) {
                    Ok(LedgerDecision::Exists(r)) => {
                        let range = acc.postings_of(cmd.key).unwrap();
                        assert_eq!(r.first_seq, range.start);
                        assert!(
                            log[(range.start - 1) as usize..(range.end - 1) as usize]
                                .iter()
                                .all(|p| p.key == cmd.key)
                        );
                    }
                    other => panic!("a retry must be Exists, got {other:?}"),
                }
                assert_eq!(acc, before, "a retry changed the account");
                // The same key with other content is refused, naming a field.
                let other = LedgerCommand::new(cmd.key, CommandKind::Review);
                if !matches!(cmd.kind, CommandKind::Review) {
                    assert!(matches!(
                        points::decide(&acc, &other, now, policy, CAL),
                        Err(points::PointsError::KeyReused { field: "op", .. })
                    ));
                }
                continue;
            }
            _ => {}
        }
        let Some(kind) = to_kind(s, now) else {
            continue;
        };
        let cmd = LedgerCommand::new(CommandKey::new(i as u64 + 1), kind);
        let available = model.available();
        match points::decide(&acc, &cmd, now, policy, CAL) {
            Ok(LedgerDecision::Posted(ps)) => {
                if let CommandKind::Redeem { points, .. } = &cmd.kind {
                    assert!(points.get() <= available, "redeemed more than available");
                }
                for p in &ps {
                    points::apply(&mut acc, p);
                    model.see(p, policy);
                }
                log.extend(ps.iter().cloned());
                if !ps.is_empty() {
                    accepted.push(cmd);
                }
            }
            Ok(other) => panic!("a fresh key replayed: {other:?}"),
            Err(e) => {
                if let CommandKind::Redeem {
                    points,
                    purchase: None,
                } = &cmd.kind
                    && points.is_positive()
                    && points.get() <= available
                {
                    panic!("a valid redemption was refused: {e}");
                }
            }
        }
        model.check(&acc, policy);
    }
    assert_eq!(
        Account::replay(id, &log),
        acc,
        "replay differs from the live account"
    );
    log
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn ledger_state_machine(policy in policy(), steps in proptest::collection::vec(step(), 1..80)) {
        let a = run(&policy, &steps);
        let b = run(&policy, &steps);
        prop_assert_eq!(a, b, "the same commands gave different postings");
    }
}

fn at(h: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).unwrap() + Duration::hours(h)
}

#[test]
fn regression_full_refund_after_partial_void_and_release() {
    // A locked earning partly refunded (voided), released, then refunded in full: the
    // second clawback takes exactly the rest, and growth comes back to zero.
    let policy = Policy::default();
    let steps = [
        Step::Earn {
            purchase: 1,
            fen: 10_000,
            locked: true,
            mult: 100,
        },
        Step::Refund {
            purchase: 1,
            fen: 2_500,
            points: 0,
        },
        Step::Advance(60 * 24 * 8),
        Step::Release { purchase: 1 },
        Step::Refund {
            purchase: 1,
            fen: 7_500,
            points: 0,
        },
    ];
    let log = run(&policy, &steps);
    let acc = Account::replay(PatientId::new(1), &log);
    assert_eq!(acc.balance(), Points::ZERO);
    assert_eq!(acc.growth(), 0);
}

fn earn_cmd(key: u64, purchase: u64, fen: u32) -> LedgerCommand {
    LedgerCommand::new(
        CommandKey::new(key),
        CommandKind::Earn {
            purchase: PurchaseId::new(purchase),
            paid: Yuan::from_fen(fen),
            category: None,
            multiplier: Multiplier::ONE,
            lock_until: None,
        },
    )
}

fn posted(acc: &mut Account, cmd: &LedgerCommand, policy: &Policy) -> Vec<Posting> {
    match points::decide(acc, cmd, at(0), policy, CAL).unwrap() {
        LedgerDecision::Posted(ps) => {
            for p in &ps {
                points::apply(acc, p);
            }
            ps
        }
        other => panic!("{other:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// However a refund is split, each clawback is the floor of the cumulative share less
    /// what was taken before, so the running total is exactly floor(earned × refunded ÷
    /// paid) and a full refund takes back exactly what was earned.
    #[test]
    fn split_refunds_add_up_exactly(paid in 1u32..1_000_000, cuts in proptest::collection::vec(1u32..1_000, 1..8)) {
        let policy = Policy::default();
        let mut acc = Account::new(PatientId::new(1));
        posted(&mut acc, &earn_cmd(1, 1, paid), &policy);
        let earned = acc.balance().get();
        // Split `paid` into parts proportional to `cuts`, the last part taking the rest.
        let total_cut: u64 = cuts.iter().map(|c| u64::from(*c)).sum();
        let mut parts: Vec<u32> = cuts.iter().map(|c| (u64::from(paid) * u64::from(*c) / total_cut) as u32).collect();
        let used: u32 = parts.iter().sum();
        if let Some(last) = parts.last_mut() { *last += paid - used; }
        let (mut refunded, mut clawed) = (0i64, 0i64);
        for (k, part) in parts.iter().enumerate() {
            if *part == 0 { continue; }
            let cmd = LedgerCommand::new(CommandKey::new(10 + k as u64), CommandKind::Refund {
                purchase: PurchaseId::new(1),
                amount: Yuan::from_fen(*part),
                points: Points::ZERO,
            });
            for p in posted(&mut acc, &cmd, &policy) {
                if let PostingKind::ClawedBack { points, .. } = p.kind {
                    clawed += points.get();
                }
            }
            refunded += i64::from(*part);
            prop_assert_eq!(clawed, earned * refunded / i64::from(paid));
        }
        prop_assert_eq!(clawed, earned);
        prop_assert_eq!(acc.balance(), Points::ZERO);
        // Nothing is left to refund.
        let more = LedgerCommand::new(CommandKey::new(99), CommandKind::Refund {
            purchase: PurchaseId::new(1), amount: Yuan::from_fen(1), points: Points::ZERO,
        });
        let refused = matches!(
            points::decide(&acc, &more, at(0), &policy, CAL),
            Err(points::PointsError::RefundExceedsPaid { .. })
        );
        prop_assert!(refused);
    }

    /// Earning floors: never more than paid × rate × multiplier, less by under one point,
    /// and never above the cap.
    #[test]
    fn earning_floors_and_caps(fen in 0u32..100_000_000, pts in 0u32..20, per in 1u32..20, mult in 1u32..1_000, cap in 1i64..100_000) {
        let rate = points::EarnRate::new(pts, per).unwrap();
        let p = points::EarnPolicy::new(rate).with_cap(Points::new(cap)).unwrap();
        let got = p.points(Yuan::from_fen(fen), None, Multiplier::percent(mult).unwrap()).unwrap().get();
        let exact_num = i128::from(fen) * i128::from(pts) * i128::from(mult);
        let den = i128::from(per) * 10_000;
        let floor = (exact_num / den) as i64;
        prop_assert_eq!(got, floor.min(cap));
        prop_assert!(i128::from(got) * den <= exact_num);
    }

    /// N-day expiry agrees with `ClinicCalendar::midnight_after_days` for any instant and
    /// offset, and is never before the earning.
    #[test]
    fn n_day_expiry_matches_the_calendar(secs in 0i64..4_000_000_000, offset_min in -720i32..=840, n in 1u32..36_600) {
        let cal = ClinicCalendar::from_offset_seconds(offset_min * 60).unwrap();
        let t = DateTime::from_timestamp(secs, 0).unwrap();
        let e = ExpiryRule::AfterDays(n).expires(t, cal).unwrap();
        prop_assert_eq!(e, cal.midnight_after_days(t, n));
        prop_assert!(e > t);
    }

    /// Postings survive a JSON round trip exactly (what a SQLite or document store keeps).
    #[test]
    fn postings_round_trip_json(policy in policy(), steps in proptest::collection::vec(step(), 1..40)) {
        let log = run(&policy, &steps);
        let json = serde_json::to_string(&log).unwrap();
        let back: Vec<Posting> = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &log);
        prop_assert_eq!(Account::replay(PatientId::new(1), &back), Account::replay(PatientId::new(1), &log));
    }
}

/// Shrunk by the state-machine test against a mutant that clawed back the cumulative
/// target again on every partial refund: ¥35 then ¥99 refunded of ¥168 (168 points earned,
/// 97 spent) take 35 and then 134 − 35 = 99, never the cumulative 134 a second time.
#[test]
fn regression_split_refund_after_spending_claws_back_once() {
    let steps = [
        Step::Earn {
            purchase: 2,
            fen: 16_800,
            locked: false,
            mult: 100,
        },
        Step::Redeem {
            points: 97,
            purchase: Some(2),
        },
        Step::Refund {
            purchase: 2,
            fen: 3_500,
            points: 0,
        },
        Step::Refund {
            purchase: 2,
            fen: 9_900,
            points: 0,
        },
    ];
    let log = run(&Policy::default(), &steps);
    let clawed: Vec<i64> = log
        .iter()
        .filter_map(|p| match &p.kind {
            PostingKind::ClawedBack { points, .. } => Some(points.get()),
            _ => None,
        })
        .collect();
    assert_eq!(clawed, vec![35, 99]);
}

/// Shrunk by the state-machine test against a mutant that expired lots an hour early: a
/// lot due at midnight is untouched by an expiry run one minute before.
#[test]
fn regression_expiry_one_minute_early_touches_nothing() {
    let policy = Policy::default()
        .with_expiry(ExpiryRule::AfterDays(1))
        .unwrap();
    let steps = [
        Step::Earn {
            purchase: 0,
            fen: 67,
            locked: false,
            mult: 200,
        },
        Step::NearExpiry(-1),
        Step::Expire,
    ];
    let log = run(&policy, &steps);
    assert_eq!(log.len(), 1, "only the earning was posted");
    let acc = Account::replay(PatientId::new(1), &log);
    assert_eq!(acc.balance(), Points::new(1));
}
