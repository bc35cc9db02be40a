//! The group-post lint: the Advertising Law words of [`campaign`](crate::campaign) plus
//! group rules as data, with a finding per rule.

use serde::{Deserialize, Serialize};

use crate::campaign::{AdLawRule, AdLawWords, lint_copy};

/// Which rule a group post breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GroupPostRule {
    /// An Advertising Law rule (《广告法》 art. 16), from the campaign word list.
    AdLaw(AdLawRule),
    /// A price of a prescription drug: prescription drugs may not be advertised to the
    /// public outside professional journals (《广告法》 art. 15), and a price posted to a patient
    /// group is an offer.
    PrescriptionDrugPrice,
    /// A claim that a treatment cures.
    CureClaim,
    /// A patient testimonial used as advertising.
    Testimonial,
}

/// A group's posting rules: data a clinic extends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPostRules {
    /// The Advertising Law words.
    pub ad_law: AdLawWords,
    /// Names of prescription drugs the clinic dispenses (`硝苯地平`, `二甲双胍`).
    pub prescription_drugs: Vec<String>,
    /// Words of a cure claim (`治好`, `痊愈`, `断根`).
    pub cure_words: Vec<String>,
    /// Words that mark a testimonial (`吃了以后`, `我妈用了`, `亲测`).
    pub testimonial_words: Vec<String>,
}

impl Default for GroupPostRules {
    /// The campaign word list and a starting list of each group rule.
    fn default() -> Self {
        let v = |xs: &[&str]| xs.iter().map(|s| (*s).to_owned()).collect();
        GroupPostRules {
            ad_law: AdLawWords::default(),
            prescription_drugs: Vec::new(),
            cure_words: v(&["治好", "痊愈", "断根", "彻底治愈", "不再复发"]),
            testimonial_words: v(&[
                "亲测",
                "吃了以后",
                "用了以后",
                "我妈用了",
                "我爸用了",
                "现身说法",
            ]),
        }
    }
}

/// One finding: the rule and the word that broke it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupPostFinding {
    /// The rule.
    pub rule: GroupPostRule,
    /// The word found (for a price, the drug's name).
    pub word: String,
}

/// Marks of a price: a currency sign, or a unit of money after a digit.
fn has_price(text: &str) -> bool {
    if text.contains('¥') || text.contains('￥') {
        return true;
    }
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(2)
        .any(|w| matches!(w, [d, u] if d.is_ascii_digit() && matches!(u, '元' | '块')))
}

/// The findings in a text a clinic posts to a group, in rule order (Advertising Law words
/// in list order, then drug prices, cure claims, testimonials), each word once.
pub fn lint_group_post(text: &str, rules: &GroupPostRules) -> Vec<GroupPostFinding> {
    let mut out: Vec<GroupPostFinding> = lint_copy(text, &rules.ad_law)
        .into_iter()
        .map(|(w, r)| GroupPostFinding {
            rule: GroupPostRule::AdLaw(r),
            word: w.to_owned(),
        })
        .collect();
    if has_price(text) {
        for d in rules
            .prescription_drugs
            .iter()
            .filter(|d| !d.is_empty() && text.contains(d.as_str()))
        {
            out.push(GroupPostFinding {
                rule: GroupPostRule::PrescriptionDrugPrice,
                word: d.clone(),
            });
        }
    }
    for (rule, words) in [
        (GroupPostRule::CureClaim, &rules.cure_words),
        (GroupPostRule::Testimonial, &rules.testimonial_words),
    ] {
        for w in words
            .iter()
            .filter(|w| !w.is_empty() && text.contains(w.as_str()))
        {
            out.push(GroupPostFinding {
                rule,
                word: w.clone(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_is_found_and_clean_text_passes() {
        let mut rules = GroupPostRules::default();
        rules.prescription_drugs.push("硝苯地平".into());
        let text = "硝苯地平控释片今天只要29元！亲测有效，根治高血压，吃三个月彻底治愈";
        let found: Vec<GroupPostRule> = lint_group_post(text, &rules)
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            found,
            vec![
                GroupPostRule::AdLaw(AdLawRule::EfficacyClaim),
                GroupPostRule::PrescriptionDrugPrice,
                GroupPostRule::CureClaim,
                GroupPostRule::Testimonial,
            ]
        );
        assert!(lint_group_post("本周四晚八点，张医生讲高血压的饮食", &rules).is_empty());
        // A drug named without a price is information, not an offer.
        assert!(lint_group_post("按时服用硝苯地平，不要自行停药", &rules).is_empty());
    }
}
