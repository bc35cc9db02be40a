//! Auto-tag rules: a pure step from a patient's facts to tag events.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use super::SegmentError;
use super::expr::Expr;
use super::facts::PatientFacts;
use super::tag::{TagCatalog, TagName, TagSet, TagStatus};
use crate::id::PatientId;
use crate::patient::ConsentPurpose;

/// The most rules one [`TagRuleSet`] may hold.
pub const MAX_RULES: usize = 1_000;

/// "Carry `tag` while `when` holds."
///
/// A rule owns its tag: when no rule for the tag holds any more, the tag is removed, even if
/// staff had set it by hand. Several rules for one tag are alternatives (any of them adds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRule {
    /// The tag written.
    pub tag: TagName,
    /// When the patient carries it.
    pub when: Expr,
}

/// What the tags will be used for, which decides whether health data needs separate consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TagUse {
    /// Audiences for offers and campaigns: a sensitive rule needs the patient's
    /// `HealthDataSegmentation` consent (PIPL art. 29).
    Marketing,
    /// Care work by the patient's clinicians (follow-up lists, the hypertension group's
    /// lectures), where the health data is processed for the care itself.
    Care,
}

/// A tag change for one patient.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum TagEvent {
    /// The tag was added.
    Added {
        /// The patient.
        patient: PatientId,
        /// The tag.
        tag: TagName,
    },
    /// The tag was removed.
    Removed {
        /// The patient.
        patient: PatientId,
        /// The tag.
        tag: TagName,
    },
}

/// Applies a tag event to a patient's tags. Applying twice changes nothing more.
pub fn apply(tags: &mut TagSet, event: &TagEvent) {
    match event {
        TagEvent::Added { tag, .. } => {
            tags.insert(tag.clone());
        }
        TagEvent::Removed { tag, .. } => {
            tags.remove(tag);
        }
    }
}

/// Why a rule's tag was left alone (or, for missing consent, taken away).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SkipReason {
    /// The rule is sensitive (a sensitive tag, or a condition read) and the patient has not
    /// given `HealthDataSegmentation` consent. A tag already carried is removed.
    NoHealthDataConsent,
    /// The tag is deleted in the catalog.
    TagDeleted,
    /// The tag is not in the catalog.
    TagUnknown,
}

/// A tag whose rules were not applied, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTagRule {
    /// The tag.
    pub tag: TagName,
    /// Why.
    pub reason: SkipReason,
}

/// The result of one auto-tag step for one patient.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[must_use = "the tag events must be applied to the patient's tags"]
pub struct TagOutcome {
    /// The changes, in the order tags were decided.
    pub events: Vec<TagEvent>,
    /// Tags whose rules were skipped.
    pub skipped: Vec<SkippedTagRule>,
}

/// A validated set of auto-tag rules, ordered so that one step reaches a fixed point.
///
/// Rules may read tags that other rules write. The set is ordered by those dependencies
/// (ties by tag name) and a cycle is refused, so deciding tags in that order, each seeing the
/// earlier decisions, is stable: applying the events and deciding again yields no events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<TagRule>", into = "Vec<TagRule>")]
pub struct TagRuleSet {
    rules: Vec<TagRule>,
    /// Owned tags in decision order, each with the indexes of its rules.
    order: Vec<(TagName, Vec<usize>)>,
}

impl TryFrom<Vec<TagRule>> for TagRuleSet {
    type Error = SegmentError;
    fn try_from(rules: Vec<TagRule>) -> Result<Self, Self::Error> {
        Self::new(rules)
    }
}

impl From<TagRuleSet> for Vec<TagRule> {
    fn from(s: TagRuleSet) -> Self {
        s.rules
    }
}

impl TagRuleSet {
    /// Orders the rules by their tag dependencies.
    ///
    /// # Errors
    ///
    /// [`SegmentError::TooManyRules`] beyond [`MAX_RULES`]; the first error of
    /// [`Expr::validate`] in a rule's condition, with its path under `rules[i].when` (the
    /// limits loading enforces, so a set built in code also loads back from its JSON, and no
    /// walk below meets an over-deep expression); [`SegmentError::RuleCycle`] when rules read
    /// each other's tags in a cycle (a rule reading its own tag included).
    pub fn new(rules: Vec<TagRule>) -> Result<Self, SegmentError> {
        if rules.len() > MAX_RULES {
            return Err(SegmentError::TooManyRules {
                count: rules.len(),
                max: MAX_RULES,
            });
        }
        for (i, r) in rules.iter().enumerate() {
            r.when
                .validate()
                .map_err(|e| e.under(&format!("rules[{i}].when")))?;
        }
        let mut owned: BTreeMap<&TagName, Vec<usize>> = BTreeMap::new();
        for (i, r) in rules.iter().enumerate() {
            owned.entry(&r.tag).or_default().push(i);
        }
        // deps[t] = owned tags that t's rules read.
        let mut deps: BTreeMap<&TagName, BTreeSet<&TagName>> = BTreeMap::new();
        for (tag, idx) in &owned {
            let set = deps.entry(*tag).or_default();
            for i in idx {
                if let Some(r) = rules.get(*i) {
                    set.extend(r.when.tags().filter(|t| owned.contains_key(t)));
                }
            }
        }
        let mut done: BTreeSet<&TagName> = BTreeSet::new();
        let mut order = Vec::with_capacity(owned.len());
        while done.len() < owned.len() {
            let next = deps
                .iter()
                .find(|(t, d)| !done.contains(*t) && d.iter().all(|u| done.contains(u)))
                .map(|(t, _)| *t);
            match next {
                Some(t) => {
                    done.insert(t);
                    order.push((t.clone(), owned.get(t).cloned().unwrap_or_default()));
                }
                None => {
                    let stuck = deps.keys().find(|t| !done.contains(*t));
                    return Err(SegmentError::RuleCycle {
                        tag: stuck.map(|t| t.to_string()).unwrap_or_default(),
                    });
                }
            }
        }
        Ok(TagRuleSet { rules, order })
    }

    /// The rules, as given.
    #[must_use]
    pub fn rules(&self) -> &[TagRule] {
        &self.rules
    }

    /// Checks every rule's tag and condition against the catalog.
    ///
    /// # Errors
    ///
    /// The first unknown or deleted tag, with a path like `rules[3].when.any[0].has_tag`.
    pub fn check_tags(&self, catalog: &TagCatalog) -> Result<(), SegmentError> {
        for (i, r) in self.rules.iter().enumerate() {
            let prefix = format!("rules[{i}]");
            match catalog.status(&r.tag) {
                TagStatus::Live => {}
                TagStatus::Deleted => {
                    return Err(SegmentError::DeletedTag {
                        path: format!("{prefix}.tag"),
                        tag: r.tag.to_string(),
                    });
                }
                TagStatus::Unknown => {
                    return Err(SegmentError::UnknownTag {
                        path: format!("{prefix}.tag"),
                        tag: r.tag.to_string(),
                    });
                }
            }
            r.when.check_tags(catalog).map_err(|e| match e {
                SegmentError::UnknownTag { path, tag } => SegmentError::UnknownTag {
                    path: format!("{prefix}.when.{path}"),
                    tag,
                },
                SegmentError::DeletedTag { path, tag } => SegmentError::DeletedTag {
                    path: format!("{prefix}.when.{path}"),
                    tag,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// Evaluates the rules for one patient and returns the tag changes they imply (applied
    /// with [`apply`]): a pure step, run again whenever the facts change.
    ///
    /// For each owned tag in dependency order: skipped when the tag is not live in the
    /// catalog; for [`TagUse::Marketing`], a sensitive tag (sensitive group, or a rule reading
    /// a condition or a sensitive tag) without `HealthDataSegmentation` consent is skipped and
    /// removed if carried; otherwise the tag is added when any of its rules holds and removed
    /// when none does.
    pub fn evaluate(
        &self,
        facts: &PatientFacts,
        catalog: &TagCatalog,
        usage: TagUse,
    ) -> TagOutcome {
        let mut out = TagOutcome::default();
        // Cloned only once a change happens, so later rules see earlier decisions.
        let mut working: Option<PatientFacts> = None;
        for (tag, idx) in &self.order {
            let current = working.as_ref().unwrap_or(facts);
            let reason = match catalog.status(tag) {
                TagStatus::Deleted => Some(SkipReason::TagDeleted),
                TagStatus::Unknown => Some(SkipReason::TagUnknown),
                TagStatus::Live => None,
            };
            if let Some(reason) = reason {
                out.skipped.push(SkippedTagRule {
                    tag: tag.clone(),
                    reason,
                });
                continue;
            }
            let rules = idx.iter().filter_map(|i| self.rules.get(*i));
            let sensitive = catalog.is_sensitive(tag)
                || rules.clone().any(|r| r.when.uses_sensitive_data(catalog));
            let carried = current.has_tag(tag);
            let wanted = if sensitive
                && usage == TagUse::Marketing
                && !current.may(ConsentPurpose::HealthDataSegmentation)
            {
                out.skipped.push(SkippedTagRule {
                    tag: tag.clone(),
                    reason: SkipReason::NoHealthDataConsent,
                });
                false
            } else {
                rules.clone().any(|r| r.when.evaluate(current))
            };
            let patient = current.patient();
            let event = match (carried, wanted) {
                (false, true) => TagEvent::Added {
                    patient,
                    tag: tag.clone(),
                },
                (true, false) => TagEvent::Removed {
                    patient,
                    tag: tag.clone(),
                },
                _ => continue,
            };
            let w = working.get_or_insert_with(|| facts.clone());
            apply(w.tags_mut(), &event);
            out.events.push(event);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn t(s: &str) -> TagName {
        TagName::parse(s).unwrap()
    }

    fn rule(tag: &str, when: &str) -> TagRule {
        TagRule {
            tag: t(tag),
            when: serde_json::from_str(when).unwrap(),
        }
    }

    #[test]
    fn chained_rules_reach_a_fixed_point_and_cycles_are_refused() {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut cat = TagCatalog::new();
        for n in ["value/vip", "care/高血压群", "condition/高血压"] {
            cat.add(t(n), now).unwrap();
        }
        // Listed out of dependency order on purpose.
        let set = TagRuleSet::new(vec![
            rule("care/高血压群", r#"{"has_tag":"condition/高血压"}"#),
            rule("condition/高血压", r#"{"has_condition":"I10"}"#),
            rule("value/vip", r#"{"visits_in":{"days":365,"min":2}}"#),
        ])
        .unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let base = PatientFacts::builder(PatientId::new(7), today)
            .condition(crate::patient::ConditionCode::parse("I10").unwrap())
            .visit(1);
        let mut f = base.clone().build();
        let out = set.evaluate(&f, &cat, TagUse::Marketing);
        assert!(out.events.is_empty());
        assert_eq!(out.skipped.len(), 2, "{out:?}");
        let out = set.evaluate(&f, &cat, TagUse::Care);
        assert_eq!(out.events.len(), 2);
        for e in &out.events {
            apply(f.tags_mut(), e);
        }
        assert!(set.evaluate(&f, &cat, TagUse::Care).events.is_empty());
        // With consent, marketing use tags too; without, carried sensitive tags are removed.
        let consented = base.consent(ConsentPurpose::HealthDataSegmentation).build();
        assert_eq!(
            set.evaluate(&consented, &cat, TagUse::Marketing)
                .events
                .len(),
            2
        );
        let out = set.evaluate(&f, &cat, TagUse::Marketing);
        assert_eq!(out.events.len(), 2);
        assert!(matches!(out.events[0], TagEvent::Removed { .. }));

        let cyc = TagRuleSet::new(vec![
            rule("a/x", r#"{"has_tag":"a/y"}"#),
            rule("a/y", r#"{"not":{"has_tag":"a/x"}}"#),
        ]);
        assert!(matches!(cyc, Err(SegmentError::RuleCycle { .. })));
        assert!(TagRuleSet::new(vec![rule("a/x", r#"{"not":{"has_tag":"a/x"}}"#)]).is_err());
    }
}
