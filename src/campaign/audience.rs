//! The audience language seen by the campaign engine.
//!
//! TEMPORARY stand-in until `segment::Expr` lands: a minimal `all`/`any`/`not`/`has_tag`
//! language with the same method names and JSON shape, so that the engine is written against
//! the real API and switching is a change of this file only.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::id::PatientId;
use crate::patient::ConsentPurpose;

/// An audience expression.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Expr {
    /// Every child holds (true when empty).
    All(Vec<Expr>),
    /// At least one child holds (false when empty).
    Any(Vec<Expr>),
    /// The child does not hold.
    Not(Box<Expr>),
    /// The patient carries the tag.
    HasTag(String),
}

/// What the engine knows about the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatientFacts {
    /// The patient.
    pub patient: PatientId,
    /// Consents in force.
    pub consents: BTreeSet<ConsentPurpose>,
    /// Tags carried.
    pub tags: BTreeSet<String>,
}

impl PatientFacts {
    /// The patient.
    pub fn patient(&self) -> PatientId {
        self.patient
    }
    /// Whether the purpose is consented to.
    pub fn may(&self, p: ConsentPurpose) -> bool {
        self.consents.contains(&p)
    }
}

/// The tag catalog: which tags are sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagCatalog {
    /// Sensitive tags.
    pub sensitive: BTreeSet<String>,
}

/// An explanation tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// The node's value.
    pub value: bool,
    /// The node.
    pub node: String,
    /// Children.
    pub children: Vec<Explanation>,
}

impl Expr {
    /// Evaluates.
    pub fn evaluate(&self, f: &PatientFacts) -> bool {
        match self {
            Expr::All(c) => c.iter().all(|e| e.evaluate(f)),
            Expr::Any(c) => c.iter().any(|e| e.evaluate(f)),
            Expr::Not(e) => !e.evaluate(f),
            Expr::HasTag(t) => f.tags.contains(t),
        }
    }
    /// Explains.
    pub fn explain(&self, f: &PatientFacts) -> Explanation {
        let (node, children) = match self {
            Expr::All(c) => ("all".to_owned(), c.iter().map(|e| e.explain(f)).collect()),
            Expr::Any(c) => ("any".to_owned(), c.iter().map(|e| e.explain(f)).collect()),
            Expr::Not(e) => ("not".to_owned(), vec![e.explain(f)]),
            Expr::HasTag(t) => (format!("has_tag {t}"), vec![]),
        };
        Explanation {
            value: self.evaluate(f),
            node,
            children,
        }
    }
    /// Whether it reads sensitive data.
    pub fn uses_sensitive_data(&self, c: &TagCatalog) -> bool {
        match self {
            Expr::All(v) | Expr::Any(v) => v.iter().any(|e| e.uses_sensitive_data(c)),
            Expr::Not(e) => e.uses_sensitive_data(c),
            Expr::HasTag(t) => c.sensitive.contains(t) || t.starts_with("condition/"),
        }
    }
    /// A reason it can never be true.
    pub fn contradiction(&self) -> Option<String> {
        match self {
            Expr::Any(v) if v.is_empty() => Some("any of nothing".to_owned()),
            Expr::Not(e) if matches!(**e, Expr::All(ref v) if v.is_empty()) => {
                Some("not of all-of-nothing".to_owned())
            }
            _ => None,
        }
    }
}
