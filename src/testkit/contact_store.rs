//! Conformance scenarios for [`ContactStore`].

use std::sync::Barrier;

use super::{Factory, minutes, must, scenario_now};
use crate::id::{ClinicId, PatientId, StaffId};
use crate::relationship::{
    self, AccountKind, ContactBook, ContactCommand, ContactEvent, ContactLog, ContactPool,
    Handover, HandoverScope, RelationshipError, StaffAccount, StaffRoster, SuccessorRule,
    TransferMode, TransferRules,
};
use crate::store::{ContactStore, StoreError, Version};
use crate::text::Label;

/// Runs every scenario, each on a fresh store.
pub fn run_all<S: ContactStore + Send>(factory: &impl Factory<S>) {
    add_and_get(&mut factory.fresh());
    stale_version_conflicts(&mut factory.fresh());
    empty_commit_writes_nothing(&mut factory.fresh());
    out_of_order_events_are_refused(&mut factory.fresh());
    scan_pages_in_patient_order(&mut factory.fresh());
    erase_deletes_the_log(&mut factory.fresh());
    racing_handovers_one_wins(factory);
}

/// Doctor 1 leaving (on-job reassignment) with assistants 2 and 3 at clinic 1.
pub fn sample_roster() -> StaffRoster {
    let c = ClinicId::new(1);
    must(
        StaffRoster::new(vec![
            StaffAccount::new(StaffId::new(1), AccountKind::Doctor, c, 10_000),
            StaffAccount::new(StaffId::new(2), AccountKind::Assistant, c, 10_000),
            StaffAccount::new(StaffId::new(3), AccountKind::Assistant, c, 10_000),
        ]),
        "sample roster",
    )
}

fn added(staff: u64, channel: &str, m: i64) -> ContactEvent {
    ContactEvent::Added {
        staff: StaffId::new(staff),
        channel: Some(must(Label::parse(channel), "channel")),
        at: minutes(m),
    }
}

/// Adding a contact and loading it back gives the same log and pool.
pub fn add_and_get<S: ContactStore>(store: &mut S) {
    let p = PatientId::new(1);
    assert!(must(store.get_contacts(p), "get").is_none());
    let v1 = must(
        store.commit_contacts(p, None, &[added(1, "xhs_dr_li", 0)]),
        "add",
    );
    assert_eq!(v1, Version::FIRST);
    let v2 = must(
        store.commit_contacts(p, Some(v1), &[added(2, "front_desk", 5)]),
        "second add",
    );
    let got = must(store.get_contacts(p), "get").unwrap_or_else(|| panic!("log lost"));
    assert_eq!(got.version, v2);
    assert_eq!(got.value.events().len(), 2);
    let pool = ContactPool::from_log(&got.value);
    let holders: Vec<StaffId> = pool.holders().map(|(s, _)| s).collect();
    assert_eq!(holders, vec![StaffId::new(1), StaffId::new(2)]);
}

/// A commit at a stale version is a `Conflict` naming both versions, and writes nothing.
pub fn stale_version_conflicts<S: ContactStore>(store: &mut S) {
    let p = PatientId::new(2);
    let v1 = must(store.commit_contacts(p, None, &[added(1, "a", 0)]), "add");
    let r = store.commit_contacts(p, None, &[added(2, "b", 1)]);
    assert!(
        matches!(r, Err(StoreError::Conflict { expected: None, actual: Some(a) }) if a == v1),
        "{r:?}"
    );
    let got = must(store.get_contacts(p), "get").map(|v| v.value.events().len());
    assert_eq!(got, Some(1), "a conflicting commit wrote");
}

/// An empty commit checks the version and writes nothing.
pub fn empty_commit_writes_nothing<S: ContactStore>(store: &mut S) {
    let p = PatientId::new(3);
    assert!(matches!(
        store.commit_contacts(p, None, &[]),
        Err(StoreError::NotFound { .. })
    ));
    let v1 = must(store.commit_contacts(p, None, &[added(1, "a", 0)]), "add");
    assert_eq!(must(store.commit_contacts(p, Some(v1), &[]), "empty"), v1);
}

/// Events earlier than the log's last are refused and nothing is written.
pub fn out_of_order_events_are_refused<S: ContactStore>(store: &mut S) {
    let p = PatientId::new(4);
    let v1 = must(store.commit_contacts(p, None, &[added(1, "a", 10)]), "add");
    let r = store.commit_contacts(p, Some(v1), &[added(2, "b", 5)]);
    assert!(matches!(r, Err(StoreError::Backend(_))), "{r:?}");
    let got = must(store.get_contacts(p), "get").map(|v| v.version);
    assert_eq!(got, Some(v1));
}

/// Scans page in ascending patient order.
pub fn scan_pages_in_patient_order<S: ContactStore>(store: &mut S) {
    for id in [5u64, 3, 9, 1, 7] {
        must(
            store.commit_contacts(PatientId::new(id), None, &[added(1, "a", 0)]),
            "add",
        );
    }
    let first = must(store.scan_contacts(None, 3), "scan");
    let ids: Vec<u64> = first.iter().map(|v| v.value.patient().get()).collect();
    assert_eq!(ids, vec![1, 3, 5]);
    let next = must(store.scan_contacts(Some(PatientId::new(5)), 10), "scan");
    let ids: Vec<u64> = next.iter().map(|v| v.value.patient().get()).collect();
    assert_eq!(ids, vec![7, 9]);
}

/// Erasing deletes the whole log, once; the other patients stay.
pub fn erase_deletes_the_log<S: ContactStore>(store: &mut S) {
    let (p, q) = (PatientId::new(11), PatientId::new(12));
    must(store.commit_contacts(p, None, &[added(1, "a", 0)]), "add");
    must(store.commit_contacts(q, None, &[added(1, "a", 0)]), "add");
    assert!(must(store.erase_contacts(p), "erase"));
    assert!(!must(store.erase_contacts(p), "erase twice"));
    assert!(must(store.get_contacts(p), "get").is_none());
    assert!(must(store.get_contacts(q), "get").is_some());
}

fn handover_to(to: u64) -> Handover {
    Handover {
        departing: StaffId::new(1),
        mode: TransferMode::OnJob,
        scope: HandoverScope::All,
        rule: SuccessorRule::Named(StaffId::new(to)),
        notice: None,
    }
}

/// Two handovers of the same patient race, each on its own handle, each planned against
/// the same loaded log: exactly one commit wins, the other is a `Conflict`; planning again
/// against the winner's log refuses the patient as pending, so the patient ends with one
/// transfer to the winner's successor.
pub fn racing_handovers_one_wins<S: ContactStore + Send>(factory: &impl Factory<S>) {
    let mut store = factory.fresh();
    let p = PatientId::new(21);
    let v1 = must(store.commit_contacts(p, None, &[added(1, "a", 0)]), "add");
    let roster = sample_roster();
    let rules = TransferRules::wecom();
    let loaded = must(store.get_contacts(p), "get").unwrap_or_else(|| panic!("log lost"));
    let barrier = Barrier::new(2);
    let results: Vec<(u64, Result<Version, StoreError>)> = std::thread::scope(|s| {
        let joins: Vec<_> = [2u64, 3]
            .into_iter()
            .map(|to| {
                let mut h = factory.handle(&store);
                let (barrier, roster, rules, log) = (&barrier, &roster, &rules, &loaded.value);
                s.spawn(move || {
                    let book = ContactBook::from_logs([log]);
                    let plan = must(
                        relationship::plan_handover(
                            &book,
                            &handover_to(to),
                            minutes(1),
                            roster,
                            rules,
                        ),
                        "plan",
                    );
                    let events: Vec<ContactEvent> =
                        plan.transfers.into_iter().flat_map(|t| t.events).collect();
                    barrier.wait();
                    (to, h.commit_contacts(p, Some(v1), &events))
                })
            })
            .collect();
        joins
            .into_iter()
            .map(|j| j.join().unwrap_or_else(|_| panic!("thread panicked")))
            .collect()
    });
    let winners: Vec<u64> = results
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|(to, _)| *to)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one handover wins: {results:?}");
    assert!(
        results
            .iter()
            .any(|(_, r)| matches!(r, Err(e) if e.is_conflict())),
        "the loser sees a conflict: {results:?}"
    );
    let after = must(store.get_contacts(p), "get").unwrap_or_else(|| panic!("log lost"));
    let pool = ContactPool::from_log(&after.value);
    let winner = winners.first().copied().unwrap_or_default();
    assert_eq!(pool.pending().map(|t| t.to.get()), Some(winner));
    let loser = if winner == 2 { 3 } else { 2 };
    let book = ContactBook::from_logs([&after.value]);
    let replan = must(
        relationship::plan_handover(&book, &handover_to(loser), minutes(2), &roster, &rules),
        "replan",
    );
    assert!(replan.transfers.is_empty());
    assert!(matches!(
        replan.refusals.as_slice(),
        [(q, RelationshipError::TransferPending { .. })] if *q == p
    ));
    let settle = must(
        relationship::decide(
            &pool,
            &ContactCommand::Settle,
            scenario_now() + chrono::Duration::days(2),
            &roster,
            &rules,
        ),
        "settle",
    );
    let mut log: ContactLog = after.value;
    must(log.append(&settle), "append settle");
    let done = ContactPool::from_log(&log);
    let holders: Vec<u64> = done.holders().map(|(s, _)| s.get()).collect();
    assert_eq!(holders, vec![winner]);
}
