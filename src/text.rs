//! Short, checked text: the [`Label`] every module uses for codes and names that are not
//! personal (a tier, a reward, a consent source, a policy version), and the one
//! [`TextError`] every short text field refuses with.
//!
//! A vocabulary module: it stands on nothing, so `journey`, `points`, `referral`, `campaign`
//! and `segment` name labels without standing on `patient`. The personal text types
//! ([`PersonName`](crate::patient::PersonName), [`ExternalId`](crate::patient::ExternalId))
//! stay in `patient`, which also re-exports [`Label`] and [`TextError`] under their old paths.
//!
//! Every short text field goes through the same check: trimmed, not empty, at most a
//! field-specific number of characters, no control characters.
//!
//! ```
//! use clinic_ops::text::{Label, TextError};
//!
//! assert_eq!(Label::parse("  mini_program ")?.as_str(), "mini_program");
//! assert!(matches!(Label::parse(" "), Err(TextError::Empty { field: "label" })));
//! # Ok::<(), TextError>(())
//! ```

use serde::{Deserialize, Serialize};
use std::fmt;

/// A short text field (a name, a source, a policy version) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Empty after trimming.
    #[error("{field} is empty")]
    Empty {
        /// Which field.
        field: &'static str,
    },
    /// Longer than the field allows.
    #[error("{field} {shown} has {len} characters, more than the limit of {max}")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// The value, masked where the field is personal.
        shown: String,
        /// Its length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Holds a control character.
    #[error("{field} {shown} contains a control character")]
    Control {
        /// Which field.
        field: &'static str,
        /// The value, masked where the field is personal.
        shown: String,
    },
}

/// Trims and checks a short text field of at most `max` characters; `personal` fields are
/// masked in the error (first character kept, as a name is masked).
pub(crate) fn clean_text(
    field: &'static str,
    s: &str,
    max: usize,
    personal: bool,
) -> Result<String, TextError> {
    let t = s.trim();
    let shown = || {
        if personal {
            mask_middle(t, 1, 0)
        } else {
            format!("{t:?}")
        }
    };
    if t.is_empty() {
        return Err(TextError::Empty { field });
    }
    let len = t.chars().count();
    if len > max {
        return Err(TextError::TooLong {
            field,
            shown: shown(),
            len,
            max,
        });
    }
    if t.chars().any(char::is_control) {
        return Err(TextError::Control {
            field,
            shown: shown(),
        });
    }
    Ok(t.to_owned())
}

/// Masks `s` keeping `head` leading and `tail` trailing characters, each other character
/// becoming `*`. Short values are masked whole, so that masking never reveals most of a value.
pub(crate) fn mask_middle(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n <= head + tail {
        return "*".repeat(n.max(1));
    }
    let mut out = String::with_capacity(s.len());
    out.extend(&chars[..head]);
    out.extend(std::iter::repeat_n('*', n - head - tail));
    out.extend(&chars[n - tail..]);
    out
}

/// A short, non-personal label of at most 64 characters: a tier, a coupon, a gift, where
/// consent was captured (`mini_program`, `paper_form`) or which privacy-policy version it
/// refers to.
///
/// Use `Label` for text a clinic chooses; use the personal types in
/// [`patient`](crate::patient) for text a patient gives (names, WeChat ids), which are
/// masked in `Debug` and `Display` and `Label` is not.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// The longest label accepted, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Checks a label.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, longer than 64 characters or holding control characters.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        clean_text("label", s, Self::MAX_CHARS, false).map(Label)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Label {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_text_trims_and_refuses_in_order() {
        assert_eq!(clean_text("f", "  ab ", 2, false), Ok("ab".to_owned()));
        assert_eq!(
            clean_text("f", " \t ", 2, false),
            Err(TextError::Empty { field: "f" })
        );
        assert_eq!(
            clean_text("f", "abc", 2, false),
            Err(TextError::TooLong {
                field: "f",
                shown: "\"abc\"".to_owned(),
                len: 3,
                max: 2,
            })
        );
        // Characters, not bytes: two CJK characters fit a limit of 2.
        assert_eq!(clean_text("f", "艾灸", 2, false), Ok("艾灸".to_owned()));
        assert_eq!(
            clean_text("f", "a\u{0}b", 5, false),
            Err(TextError::Control {
                field: "f",
                shown: "\"a\\0b\"".to_owned(),
            })
        );
    }

    #[test]
    fn personal_text_is_masked_in_errors() {
        let Err(TextError::TooLong { shown, .. }) = clean_text("name", "张三丰", 2, true) else {
            panic!("expected too long");
        };
        assert_eq!(shown, "张**");
        let Err(TextError::Control { shown, .. }) = clean_text("name", "张\u{7}三", 9, true)
        else {
            panic!("expected control");
        };
        assert!(!shown.contains('三'), "{shown}");
    }

    #[test]
    fn mask_middle_never_shows_most_of_a_short_value() {
        assert_eq!(mask_middle("13800138000", 3, 4), "138****8000");
        assert_eq!(mask_middle("abc", 2, 2), "***");
        assert_eq!(mask_middle("", 1, 0), "*");
    }

    #[test]
    fn label_round_trips_through_serde_and_checks_on_the_way_in() {
        let l = Label::parse(" gold ").unwrap();
        assert_eq!(l.as_str(), "gold");
        assert_eq!(serde_json::to_string(&l).unwrap(), "\"gold\"");
        assert_eq!(serde_json::from_str::<Label>("\" gold\"").unwrap(), l);
        assert!(serde_json::from_str::<Label>("\"\"").is_err());
        assert!(Label::parse(&"x".repeat(Label::MAX_CHARS)).is_ok());
        assert!(Label::parse(&"x".repeat(Label::MAX_CHARS + 1)).is_err());
    }
}
