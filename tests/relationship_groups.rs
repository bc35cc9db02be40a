//! Properties of the group planner: idempotence, capacity, consent, determinism.

use std::collections::BTreeSet;

use chrono::{NaiveDate, TimeZone, Utc};
use clinic_ops::id::{GroupId, PatientId, StaffId};
use clinic_ops::patient::ConsentPurpose;
use clinic_ops::relationship::{
    GroupChatRef, GroupEvent, GroupMembership, GroupSeries, RelationshipError, apply_group,
    decide_group, plan_groups,
};
use clinic_ops::segment::{Expr, PatientFacts, TagCatalog, TagName};
use clinic_ops::text::Label;
use proptest::prelude::*;

const TAGS: [&str; 4] = [
    "condition/高血压",
    "condition/糖尿病",
    "village/李家村",
    "village/王庄",
];

fn tag(i: usize) -> TagName {
    TagName::parse(TAGS[i % TAGS.len()]).unwrap()
}

fn series(capacity: u32) -> Vec<GroupSeries> {
    let mk = |id: u64, name: &str, rule: Expr| {
        GroupSeries::new(
            GroupId::new(id),
            Label::parse(name).unwrap(),
            Label::parse("健康讲座").unwrap(),
            StaffId::new(1),
            rule,
        )
        .unwrap()
        .with_capacity(capacity)
        .unwrap()
    };
    vec![
        mk(1, "高血压", Expr::has_tag(tag(0))),
        mk(
            2,
            "李家村糖尿病",
            Expr::all(vec![Expr::has_tag(tag(1)), Expr::has_tag(tag(2))]),
        ),
        mk(
            3,
            "王庄",
            Expr::any(vec![Expr::has_tag(tag(3)), Expr::has_tag(tag(0))]),
        ),
    ]
}

fn facts(p: u64, tags: &BTreeSet<usize>, consent: bool) -> PatientFacts {
    let mut b = PatientFacts::builder(
        PatientId::new(p),
        NaiveDate::from_ymd_opt(2026, 3, 2).unwrap(),
    );
    for t in tags {
        b = b.tag(tag(*t));
    }
    if consent {
        b = b.consent(ConsentPurpose::GroupChat);
    }
    b.build()
}

fn patients() -> impl Strategy<Value = Vec<(u64, BTreeSet<usize>, bool)>> {
    proptest::collection::vec(
        (
            1u64..60,
            proptest::collection::btree_set(0usize..4, 0..4),
            any::<bool>(),
        ),
        0..60,
    )
}

fn seats_ok(m: &GroupMembership, capacity: u32) -> bool {
    m.chats().all(|(_, c)| c.seats() <= capacity as usize)
}

proptest! {
    /// Planning, applying and planning again proposes nothing; no group exceeds its
    /// capacity; nobody without `GroupChat` consent is invited; the plan does not depend
    /// on the order of the facts; after tags change, a second round keeps every invariant.
    #[test]
    fn planning_is_idempotent_and_within_capacity(
        first in patients(),
        second in patients(),
        capacity in 1u32..8,
    ) {
        let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
        let s = series(capacity);
        let mut m = GroupMembership::new();
        for round in [&first, &second] {
            let fs: Vec<PatientFacts> = round.iter().map(|(p, t, c)| facts(*p, t, *c)).collect();
            let plan = plan_groups(&s, &m, &fs, at).unwrap();
            let mut reversed = fs.clone();
            reversed.reverse();
            // A patient given twice counts once, the first given: reverse only distinct ones.
            let distinct: BTreeSet<u64> = round.iter().map(|(p, _, _)| *p).collect();
            if distinct.len() == round.len() {
                prop_assert_eq!(&plan_groups(&s, &m, &reversed, at).unwrap(), &plan);
            }
            for e in &plan.events {
                if let GroupEvent::Invited { patient, .. } = e {
                    let f = fs.iter().find(|f| f.patient() == *patient).unwrap();
                    prop_assert!(f.may(ConsentPurpose::GroupChat), "invited without consent");
                }
                apply_group(&mut m, e);
            }
            prop_assert!(seats_ok(&m, capacity));
            let again = plan_groups(&s, &m, &fs, at).unwrap();
            prop_assert!(again.events.is_empty(), "second plan proposed {:?}", again.events);
            prop_assert!(again.new_chats.is_empty());
            // Everyone invited accepts: membership is still within capacity.
            let invited: Vec<(GroupChatRef, PatientId)> = m.chats()
                .flat_map(|(c, ms)| ms.invited.iter().map(move |p| (c, *p))).collect();
            for (chat, patient) in invited {
                let join = GroupEvent::Joined { chat, patient, at };
                for e in decide_group(&m, &s, &join).unwrap() {
                    apply_group(&mut m, &e);
                }
            }
            prop_assert!(seats_ok(&m, capacity));
        }
    }
}

#[test]
fn a_full_group_overflows_into_a_numbered_one_and_refuses_a_direct_join() {
    let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).unwrap();
    let s = series(2);
    let hyper: BTreeSet<usize> = [0].into();
    let fs: Vec<PatientFacts> = (1..=3).map(|p| facts(p, &hyper, true)).collect();
    let mut m = GroupMembership::new();
    let plan = plan_groups(&s[..1], &m, &fs, at).unwrap();
    let names: Vec<&str> = plan.new_chats.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["高血压群", "高血压2群"]);
    for e in &plan.events {
        apply_group(&mut m, e);
    }
    let full = GroupChatRef {
        series: GroupId::new(1),
        number: 1,
    };
    let walk_in = GroupEvent::Joined {
        chat: full,
        patient: PatientId::new(9),
        at,
    };
    let e = decide_group(&m, &s, &walk_in).unwrap_err();
    assert!(
        matches!(
            e,
            RelationshipError::GroupOverCapacity {
                members: 3,
                capacity: 2,
                ..
            }
        ),
        "{e}"
    );
    // Withdrawing consent removes the patient.
    let withdrawn = vec![facts(1, &hyper, false)];
    let plan = plan_groups(&s[..1], &m, &withdrawn, at).unwrap();
    assert!(
        matches!(plan.events.as_slice(), [GroupEvent::Removed { patient, .. }] if *patient == PatientId::new(1))
    );
}

#[test]
fn a_rule_naming_an_unknown_tag_is_refused() {
    let catalog = TagCatalog::new();
    let e = series(500)[0].check_tags(&catalog).unwrap_err();
    assert_eq!(
        e.to_string(),
        "group G1 rule references unknown tag condition/高血压"
    );
}
