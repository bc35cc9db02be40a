//! Properties of the contact pools and handover: a state-machine test against a simple
//! model, the transfer limit, handover coverage, capacity and determinism.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use clinic_ops::id::{ClinicId, PatientId, StaffId};
use clinic_ops::relationship::{
    self, AccountKind, ContactBook, ContactCommand, ContactEvent, ContactLog, ContactPool,
    Handover, HandoverScope, RelationshipError, StaffAccount, StaffRoster, SuccessorRule,
    TransferMode, TransferRules,
};
use proptest::prelude::*;

const STAFF: u64 = 4;
const PATIENTS: u64 = 3;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap()
}

fn roster(left: &BTreeSet<u64>, capacity: u32) -> StaffRoster {
    let mut r = StaffRoster::new(
        (1..=STAFF)
            .map(|s| {
                let kind = if s == 1 {
                    AccountKind::Doctor
                } else {
                    AccountKind::Assistant
                };
                StaffAccount::new(StaffId::new(s), kind, ClinicId::new(1), capacity)
            })
            .collect(),
    )
    .unwrap();
    for s in left {
        r.mark_left(StaffId::new(*s));
    }
    r
}

#[derive(Debug, Clone)]
enum Op {
    Add(u64, u64),
    RemoveByPatient(u64, u64),
    RemoveByStaff(u64, u64),
    Transfer(u64, u64, u64, bool),
    Decline(u64),
    Settle(u64),
    Leave(u64),
    /// Advance the clock by this many hours.
    Wait(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let p = 1..=PATIENTS;
    let s = 1..=STAFF;
    prop_oneof![
        (p.clone(), s.clone()).prop_map(|(p, s)| Op::Add(p, s)),
        (p.clone(), s.clone()).prop_map(|(p, s)| Op::RemoveByPatient(p, s)),
        (p.clone(), s.clone()).prop_map(|(p, s)| Op::RemoveByStaff(p, s)),
        (p.clone(), s.clone(), s.clone(), any::<bool>())
            .prop_map(|(p, a, b, r)| Op::Transfer(p, a, b, r)),
        p.clone().prop_map(Op::Decline),
        p.prop_map(Op::Settle),
        s.prop_map(Op::Leave),
        prop_oneof![1u32..30, 24u32..24 * 40].prop_map(Op::Wait),
    ]
}

/// A pending transfer in the model: from, to, resigned, started, settles.
type ModelPending = (u64, u64, bool, DateTime<Utc>, DateTime<Utc>);

/// The model: holders per patient, the pending transfer, and the on-job transfers
/// started and not declined.
#[derive(Debug, Default, Clone)]
struct Model {
    holders: BTreeSet<u64>,
    pending: Option<ModelPending>,
    on_job_starts: Vec<DateTime<Utc>>,
}

impl Model {
    fn on_job_in_90(&self, at: DateTime<Utc>) -> usize {
        self.on_job_starts
            .iter()
            .filter(|t| **t > at - Duration::days(90) && **t <= at)
            .count()
    }
}

/// What the model says a command does: `Some(new model)` if accepted.
fn model_step(m: &Model, op: &Op, at: DateTime<Utc>, left: &BTreeSet<u64>) -> Option<Model> {
    let mut n = m.clone();
    // A transfer whose window has closed takes effect before any command but a decline.
    if !matches!(op, Op::Decline(_))
        && let Some((a, b, _, _, until)) = n.pending
        && at >= until
    {
        n.holders.remove(&a);
        n.holders.insert(b);
        n.pending = None;
    }
    let m = &n.clone();
    match *op {
        Op::Add(_, s) => {
            if left.contains(&s) {
                return None;
            }
            n.holders.insert(s);
        }
        Op::RemoveByPatient(_, s) | Op::RemoveByStaff(_, s) => {
            if !n.holders.remove(&s) {
                return None;
            }
            if n.pending.is_some_and(|p| p.0 == s) {
                n.pending = None;
            }
        }
        Op::Transfer(_, a, b, resigned) => {
            let ok = a != b
                && !left.contains(&b)
                && (!resigned || left.contains(&a))
                && m.holders.contains(&a)
                && m.pending.is_none()
                && (resigned || m.on_job_in_90(at) < 2);
            if !ok {
                return None;
            }
            n.pending = Some((a, b, resigned, at, at + Duration::hours(24)));
            if !resigned {
                n.on_job_starts.push(at);
            }
        }
        Op::Decline(_) => {
            let (a, _, resigned, started, until) = m.pending?;
            if at >= until {
                return None;
            }
            n.pending = None;
            if !resigned {
                if let Some(i) = n.on_job_starts.iter().rposition(|t| *t == started) {
                    n.on_job_starts.remove(i);
                }
            } else {
                n.holders.remove(&a);
            }
        }
        Op::Settle(_) => {
            if let Some((a, b, _, _, until)) = m.pending
                && at >= until
            {
                n.holders.remove(&a);
                n.holders.insert(b);
                n.pending = None;
            }
        }
        Op::Leave(_) | Op::Wait(_) => {}
    }
    Some(n)
}

fn command(op: &Op) -> Option<(u64, ContactCommand)> {
    let s = StaffId::new;
    Some(match *op {
        Op::Add(p, st) => (
            p,
            ContactCommand::Add {
                staff: s(st),
                channel: None,
            },
        ),
        Op::RemoveByPatient(p, st) => (p, ContactCommand::RemoveByPatient { staff: s(st) }),
        Op::RemoveByStaff(p, st) => (p, ContactCommand::RemoveByStaff { staff: s(st) }),
        Op::Transfer(p, a, b, r) => (
            p,
            ContactCommand::Transfer {
                from: s(a),
                to: s(b),
                mode: if r {
                    TransferMode::Resigned
                } else {
                    TransferMode::OnJob
                },
            },
        ),
        Op::Decline(p) => (p, ContactCommand::Decline),
        Op::Settle(p) => (p, ContactCommand::Settle),
        Op::Leave(_) | Op::Wait(_) => return None,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every command is accepted exactly when the model accepts it, and the pool's holders
    /// and pending transfer match the model after each step; the pool rebuilt from the log
    /// equals the pool built step by step; the on-job limit is never exceeded.
    #[test]
    fn pools_follow_the_model(ops in proptest::collection::vec(op(), 1..60)) {
        let rules = TransferRules::wecom();
        let mut left = BTreeSet::new();
        let mut at = t0();
        let mut models: BTreeMap<u64, Model> = BTreeMap::new();
        let mut pools: BTreeMap<u64, ContactPool> = BTreeMap::new();
        let mut logs: BTreeMap<u64, ContactLog> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Leave(s) => { left.insert(*s); }
                Op::Wait(h) => { at += Duration::hours(i64::from(*h)); }
                _ => {}
            }
            let Some((p, cmd)) = command(op) else { continue };
            let r = roster(&left, 1_000);
            let m = models.entry(p).or_default();
            let pool = pools.entry(p).or_insert_with(|| ContactPool::new(PatientId::new(p)));
            let decided = relationship::decide(pool, &cmd, at, &r, &rules);
            let expect = model_step(m, op, at, &left);
            match (&decided, &expect) {
                (Ok(events), Some(next)) => {
                    for e in events {
                        relationship::apply(pool, e);
                    }
                    logs.entry(p).or_insert_with(|| ContactLog::new(PatientId::new(p)))
                        .append(events).unwrap();
                    *m = next.clone();
                }
                (Err(_), None) => {}
                _ => prop_assert!(false, "{op:?}: pool {decided:?}, model {expect:?}"),
            }
            let holders: BTreeSet<u64> = pool.holders().map(|(s, _)| s.get()).collect();
            prop_assert_eq!(&holders, &m.holders, "{:?}", op);
            prop_assert_eq!(pool.pending().map(|t| (t.from.get(), t.to.get())),
                m.pending.map(|t| (t.0, t.1)));
            prop_assert!(pool.transfers_in(TransferMode::OnJob, 90, at) <= 2);
            if let Some(log) = logs.get(&p) {
                prop_assert_eq!(&ContactPool::from_log(log), &*pool);
            }
        }
    }

    /// A handover gives every patient in scope exactly one outcome, a transfer or a typed
    /// refusal; never assigns a successor past capacity; is the same planned twice and
    /// whatever order the patients are named in; balances load within one contact when
    /// successors start equal; and, settled, every patient held before is still held.
    #[test]
    fn handover_covers_every_patient(
        held in proptest::collection::btree_set(1u64..200, 0..80),
        extra in proptest::collection::btree_set(1u64..250, 0..10),
        capacity in 1u32..60,
        resigned in any::<bool>(),
    ) {
        let rules = TransferRules::wecom();
        let left: BTreeSet<u64> = if resigned { [1].into() } else { BTreeSet::new() };
        let r = roster(&left, capacity);
        let mut book = ContactBook::new();
        for p in &held {
            book.apply(PatientId::new(*p), &[ContactEvent::Added {
                staff: StaffId::new(1), channel: None, at: t0(),
            }]);
        }
        let scope: Vec<PatientId> = held.iter().chain(&extra).rev().map(|p| PatientId::new(*p)).collect();
        let handover = Handover {
            departing: StaffId::new(1),
            mode: if resigned { TransferMode::Resigned } else { TransferMode::OnJob },
            scope: HandoverScope::Patients(scope.clone()),
            rule: SuccessorRule::SameClinic,
            notice: None,
        };
        let at = t0() + Duration::hours(1);
        let plan = relationship::plan_handover(&book, &handover, at, &r, &rules).unwrap();
        let in_scope: BTreeSet<PatientId> = scope.iter().copied().collect();
        let mut outcomes: Vec<PatientId> = plan.transfers.iter().map(|t| t.patient)
            .chain(plan.refusals.iter().map(|(p, _)| *p)).collect();
        outcomes.sort();
        prop_assert_eq!(outcomes, in_scope.iter().copied().collect::<Vec<_>>());
        prop_assert_eq!(plan.messages.len(), plan.transfers.len());
        let mut per: BTreeMap<StaffId, u32> = BTreeMap::new();
        for t in &plan.transfers {
            *per.entry(t.to).or_default() += 1;
        }
        for n in per.values() {
            prop_assert!(*n <= capacity);
        }
        if plan.refusals.iter().all(|(_, e)| !matches!(e, RelationshipError::SuccessorAtCapacity { .. })) {
            let loads: Vec<u32> = (2..=STAFF).map(|s| per.get(&StaffId::new(s)).copied().unwrap_or(0)).collect();
            let (lo, hi) = (loads.iter().min().copied().unwrap_or(0), loads.iter().max().copied().unwrap_or(0));
            prop_assert!(hi - lo <= 1, "unbalanced {loads:?}");
        }
        for (p, e) in &plan.refusals {
            let ok = match e {
                RelationshipError::UnknownPatient { .. } | RelationshipError::NotHeld { .. } => !held.contains(&p.get()),
                RelationshipError::SuccessorAtCapacity { .. } => true,
                _ => false,
            };
            prop_assert!(ok, "unexpected refusal {e:?}");
        }
        let again = relationship::plan_handover(&book, &handover, at, &r, &rules).unwrap();
        prop_assert_eq!(&again, &plan);
        let mut sorted = handover.clone();
        sorted.scope = HandoverScope::Patients(in_scope.iter().copied().collect());
        prop_assert_eq!(&relationship::plan_handover(&book, &sorted, at, &r, &rules).unwrap(), &plan);
        let after = plan.settled(&book);
        for p in &held {
            let pool = after.get(PatientId::new(*p)).unwrap();
            prop_assert!(pool.is_held(), "patient {p} lost by the handover");
        }
    }
}

/// The on-job limit refuses a third transfer within 90 days and allows it after.
#[test]
fn a_third_on_job_transfer_in_90_days_is_refused() {
    let rules = TransferRules::wecom();
    let r = roster(&BTreeSet::new(), 100);
    let mut pool = ContactPool::new(PatientId::new(1));
    let mut at = t0();
    let run = |pool: &mut ContactPool, cmd: ContactCommand, at| {
        let events = relationship::decide(pool, &cmd, at, &r, &rules)?;
        for e in &events {
            relationship::apply(pool, e);
        }
        Ok::<_, RelationshipError>(())
    };
    run(
        &mut pool,
        ContactCommand::Add {
            staff: StaffId::new(1),
            channel: None,
        },
        at,
    )
    .unwrap();
    for (from, to) in [(1, 2), (2, 3)] {
        let cmd = ContactCommand::Transfer {
            from: StaffId::new(from),
            to: StaffId::new(to),
            mode: TransferMode::OnJob,
        };
        run(&mut pool, cmd, at).unwrap();
        at += Duration::days(2);
        run(&mut pool, ContactCommand::Settle, at).unwrap();
    }
    let third = ContactCommand::Transfer {
        from: StaffId::new(3),
        to: StaffId::new(4),
        mode: TransferMode::OnJob,
    };
    let e = run(&mut pool, third.clone(), at).unwrap_err();
    assert!(
        matches!(
            e,
            RelationshipError::OverTransferLimit {
                count: 2,
                limit: 2,
                days: 90,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "patient P1 was transferred 2 times in 90 days, the limit is 2"
    );
    run(&mut pool, third, t0() + Duration::days(91)).unwrap();
}

/// Regression (found by `pools_follow_the_model`): a contact added after a transfer's
/// window closed, then the settle: the completion was dated at the window's end, after the
/// later event, and the log refused it. A command decided after the window now completes
/// the transfer first.
#[test]
fn a_command_after_the_window_completes_the_transfer_first() {
    let rules = TransferRules::wecom();
    let r = roster(&BTreeSet::new(), 100);
    let p = PatientId::new(1);
    let mut pool = ContactPool::new(p);
    let mut log = ContactLog::new(p);
    let steps = [
        (
            ContactCommand::Add {
                staff: StaffId::new(2),
                channel: None,
            },
            t0(),
        ),
        (
            ContactCommand::Transfer {
                from: StaffId::new(2),
                to: StaffId::new(1),
                mode: TransferMode::OnJob,
            },
            t0(),
        ),
        (
            ContactCommand::Add {
                staff: StaffId::new(1),
                channel: None,
            },
            t0() + Duration::hours(25),
        ),
        (ContactCommand::Settle, t0() + Duration::hours(25)),
    ];
    for (cmd, at) in steps {
        let events = relationship::decide(&pool, &cmd, at, &r, &rules).unwrap();
        log.append(&events).unwrap();
        for e in &events {
            relationship::apply(&mut pool, e);
        }
    }
    assert!(matches!(
        log.events().get(2),
        Some(ContactEvent::TransferCompleted { .. })
    ));
    let holders: Vec<u64> = pool.holders().map(|(s, _)| s.get()).collect();
    assert_eq!(holders, vec![1]);
    assert_eq!(ContactPool::from_log(&log), pool);
}
