//! Many expressions of the one language compiled together, for evaluating all of them against
//! one patient: the trees are flattened into one array, and their tags interned, so that each
//! tag is looked up in the patient's set once per patient however many expressions ask.
//!
//! The result is exactly [`Expr::evaluate`]'s (same short circuits, same leaves); only the
//! walk and the tag lookups are cheaper. The campaign book compiles its audiences with it.

use std::collections::HashMap;

use super::expr::Expr;
use super::facts::PatientFacts;
use super::tag::TagName;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// `all` of nothing.
    True,
    /// `any` of nothing.
    False,
    All,
    Any,
    Not,
    /// An interned tag.
    Tag(u32),
    /// Any other leaf, evaluated as written.
    Leaf(u32),
}

#[derive(Debug, Clone, Copy)]
struct Node {
    op: Op,
    /// The index just past this node's subtree (pre-order), to skip it.
    end: u32,
}

/// Expressions compiled into one flat pre-order array with interned tags.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledExprs {
    nodes: Vec<Node>,
    leaves: Vec<Expr>,
    tags: Vec<TagName>,
    tag_ids: HashMap<TagName, u32>,
}

/// The root of one compiled expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExprRef(u32);

/// Per-patient answers to the interned tags: unknown, false or true. Reset it (with
/// [`CompiledExprs::reset`]) before evaluating for another patient. The first 64 tags are
/// two bit masks, so that a memo for a usual book needs no allocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct TagMemo {
    known: u64,
    yes: u64,
    /// Tags from the 65th on: unknown, false or true.
    rest: Vec<u8>,
}

const UNKNOWN: u8 = 0;
const NO: u8 = 1;
const YES: u8 = 2;

impl TagMemo {
    #[inline]
    fn get(&self, t: usize) -> Option<bool> {
        if t < 64 {
            let bit = 1u64 << t;
            return (self.known & bit != 0).then_some(self.yes & bit != 0);
        }
        match self.rest.get(t - 64) {
            Some(&YES) => Some(true),
            Some(&NO) => Some(false),
            _ => None,
        }
    }

    fn set(&mut self, t: usize, v: bool) {
        if t < 64 {
            let bit = 1u64 << t;
            self.known |= bit;
            if v {
                self.yes |= bit;
            }
        } else if let Some(m) = self.rest.get_mut(t - 64) {
            *m = if v { YES } else { NO };
        }
    }
}

fn idx(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl CompiledExprs {
    /// Adds an expression, returning its root.
    pub(crate) fn add(&mut self, e: &Expr) -> ExprRef {
        let root = idx(self.nodes.len());
        self.push(e);
        ExprRef(root)
    }

    fn push(&mut self, e: &Expr) {
        let at = self.nodes.len();
        let op = match e {
            Expr::All(cs) if cs.is_empty() => Op::True,
            Expr::Any(cs) if cs.is_empty() => Op::False,
            Expr::All(_) => Op::All,
            Expr::Any(_) => Op::Any,
            Expr::Not(_) => Op::Not,
            Expr::HasTag(t) => {
                let next = idx(self.tags.len());
                let id = *self.tag_ids.entry(t.clone()).or_insert(next);
                if id == next {
                    self.tags.push(t.clone());
                }
                Op::Tag(id)
            }
            leaf => {
                self.leaves.push(leaf.clone());
                Op::Leaf(idx(self.leaves.len() - 1))
            }
        };
        self.nodes.push(Node { op, end: 0 });
        match e {
            Expr::All(cs) | Expr::Any(cs) => cs.iter().for_each(|c| self.push(c)),
            Expr::Not(c) => self.push(c),
            _ => {}
        }
        let end = idx(self.nodes.len());
        if let Some(n) = self.nodes.get_mut(at) {
            n.end = end;
        }
    }

    /// Sets `memo` to "unknown" for every tag, for a new patient.
    pub(crate) fn reset(&self, memo: &mut TagMemo) {
        memo.known = 0;
        memo.yes = 0;
        memo.rest.clear();
        if self.tags.len() > 64 {
            memo.rest.resize(self.tags.len() - 64, UNKNOWN);
        }
    }

    /// [`Expr::evaluate`] of the expression at `root`. `memo` must have been reset for
    /// `facts`' patient.
    #[inline]
    pub(crate) fn evaluate(&self, root: ExprRef, facts: &PatientFacts, memo: &mut TagMemo) -> bool {
        // The commonest audiences, everyone and one tag already looked up, without a call.
        match self.nodes.get(root.0 as usize).map(|n| n.op) {
            Some(Op::True) => true,
            Some(Op::Tag(t)) if memo.get(t as usize).is_some() => {
                memo.get(t as usize) == Some(true)
            }
            _ => self.eval(root.0 as usize, facts, memo),
        }
    }

    fn eval(&self, at: usize, facts: &PatientFacts, memo: &mut TagMemo) -> bool {
        let Some(n) = self.nodes.get(at) else {
            return false;
        };
        match n.op {
            Op::True => true,
            Op::False => false,
            Op::All | Op::Any => {
                // `all` stops at the first false child, `any` at the first true one.
                let stop = n.op == Op::Any;
                let mut c = at + 1;
                while c < n.end as usize {
                    if self.eval(c, facts, memo) == stop {
                        return stop;
                    }
                    c = self.nodes.get(c).map_or(usize::MAX, |k| k.end as usize);
                }
                !stop
            }
            Op::Not => !self.eval(at + 1, facts, memo),
            Op::Tag(t) => {
                let t = t as usize;
                match memo.get(t) {
                    Some(v) => v,
                    None => {
                        let v = self.tags.get(t).is_some_and(|tag| facts.has_tag(tag));
                        memo.set(t, v);
                        v
                    }
                }
            }
            Op::Leaf(l) => self
                .leaves
                .get(l as usize)
                .is_some_and(|e| e.evaluate(facts)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PatientId;
    use crate::patient::ConsentPurpose;
    use crate::segment::{CountRange, Lifecycle};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    const TAGS: [&str; 4] = ["value/member", "value/vip", "life/沉睡", "condition/高血压"];

    fn tag(i: usize) -> TagName {
        TagName::parse(TAGS[i % TAGS.len()]).unwrap()
    }

    fn expr() -> impl Strategy<Value = Expr> {
        let leaf = prop_oneof![
            (0..TAGS.len()).prop_map(|i| Expr::HasTag(tag(i))),
            (0..3usize).prop_map(|i| Expr::Lifecycle(Lifecycle::ALL[i])),
            (prop::option::of(0..90u32), prop::option::of(0..90u32))
                .prop_map(|(min, max)| Expr::Age(CountRange { min, max })),
            Just(Expr::consent(ConsentPurpose::Marketing)),
        ];
        leaf.prop_recursive(4, 40, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::All),
                prop::collection::vec(inner.clone(), 0..4).prop_map(Expr::Any),
                inner.prop_map(Expr::not),
            ]
        })
    }

    fn facts() -> impl Strategy<Value = PatientFacts> {
        (
            prop::collection::vec(0..TAGS.len(), 0..4),
            0..3usize,
            prop::option::of(0..90u32),
            any::<bool>(),
        )
            .prop_map(|(tags, stage, age, marketing)| {
                let mut b = PatientFacts::builder(
                    PatientId::new(1),
                    NaiveDate::from_ymd_opt(2026, 7, 8).unwrap(),
                )
                .lifecycle(Lifecycle::ALL[stage]);
                for t in tags {
                    b = b.tag(tag(t));
                }
                if let Some(a) = age {
                    b = b.age(a);
                }
                if marketing {
                    b = b.consent(ConsentPurpose::Marketing);
                }
                b.build()
            })
    }

    /// Books with more than 64 distinct tags spill the memo past its bit masks.
    #[test]
    fn many_tags_spill_past_the_masks() {
        let names: Vec<TagName> = (0..150)
            .map(|i| TagName::parse(&format!("t/n{i}")).unwrap())
            .collect();
        let mut set = CompiledExprs::default();
        // Half the tags at the root (the inline path), half under `any` (the walk).
        let roots: Vec<ExprRef> = names
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let leaf = Expr::HasTag(t.clone());
                set.add(&if i % 2 == 0 {
                    leaf
                } else {
                    Expr::Any(vec![leaf])
                })
            })
            .collect();
        let f = PatientFacts::builder(
            PatientId::new(1),
            NaiveDate::from_ymd_opt(2026, 7, 8).unwrap(),
        )
        .tag(names[3].clone())
        .tag(names[100].clone())
        .build();
        let mut memo = TagMemo::default();
        set.reset(&mut memo);
        for _ in 0..2 {
            for (i, r) in roots.iter().enumerate() {
                assert_eq!(set.evaluate(*r, &f, &mut memo), i == 3 || i == 100, "{i}");
            }
        }
    }

    proptest! {
        /// Compiled together, every expression evaluates as written, for every patient, with
        /// one memo reused across the expressions of a patient.
        #[test]
        fn compiled_evaluates_as_written(
            es in prop::collection::vec(expr(), 1..8),
            patients in prop::collection::vec(facts(), 1..4),
        ) {
            let mut set = CompiledExprs::default();
            let roots: Vec<ExprRef> = es.iter().map(|e| set.add(e)).collect();
            let mut memo = TagMemo::default();
            for f in &patients {
                set.reset(&mut memo);
                for (e, r) in es.iter().zip(&roots) {
                    prop_assert_eq!(set.evaluate(*r, f, &mut memo), e.evaluate(f), "{:?}", e);
                }
            }
        }
    }
}
