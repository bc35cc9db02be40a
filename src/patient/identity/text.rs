//! Short text fields: names, external (WeChat) ids, and the shared text check.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::mask_middle;

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

/// Trims and checks a short text field; `personal` fields are masked in the error.
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

/// A person's name, at most 64 characters. Masked as `张*`: the first character, then one
/// `*` for each other character.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct PersonName(String);

impl PersonName {
    /// The longest name accepted, in characters.
    pub const MAX_CHARS: usize = 64;

    /// Trims and checks a name.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, too long or holding control characters.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        clean_text("name", s, Self::MAX_CHARS, true).map(PersonName)
    }

    /// The full name. Use only where it is really needed (addressing the patient).
    ///
    /// `Serialize` writes this full value too (it is the stored form); to log a value that
    /// holds one, serialise [`Masked`](crate::patient::Masked)`(&value)`, which writes the
    /// masked form in its place.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form, `张*`.
    #[must_use]
    pub fn masked(&self) -> String {
        crate::patient::masked::Personal::Name.mask(&self.0)
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({})", self.masked())
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl TryFrom<String> for PersonName {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// The plain text, as a newtype that [`crate::patient::Masked`] recognises and masks; formats
/// that write newtypes as their content (serde_json) write exactly the text.
impl Serialize for PersonName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::patient::masked::Personal::Name.serialize(&self.0, s)
    }
}

impl From<PersonName> for String {
    fn from(n: PersonName) -> String {
        n.0
    }
}

/// A WeChat or WeCom external contact id (`external_userid`), at most 64 visible ASCII
/// characters. Masked as `wm****Yz`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ExternalId(String);

impl ExternalId {
    /// Checks an external id.
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, longer than 64 characters, or not visible ASCII.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let t = clean_text("external id", s, 64, true)?;
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TextError::Control {
                field: "external id",
                shown: mask_middle(&t, 2, 2),
            });
        }
        Ok(ExternalId(t))
    }

    /// The full id.
    ///
    /// `Serialize` writes this full value too (it is the stored form); to log a value that
    /// holds one, serialise [`Masked`](crate::patient::Masked)`(&value)`, which writes the
    /// masked form in its place.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ExternalId({})",
            crate::patient::masked::Personal::ExternalId.mask(&self.0)
        )
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::patient::masked::Personal::ExternalId.mask(&self.0))
    }
}

impl TryFrom<String> for ExternalId {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// The plain text, as a newtype that [`crate::patient::Masked`] recognises and masks; formats
/// that write newtypes as their content (serde_json) write exactly the text.
impl Serialize for ExternalId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::patient::masked::Personal::ExternalId.serialize(&self.0, s)
    }
}

impl From<ExternalId> for String {
    fn from(n: ExternalId) -> String {
        n.0
    }
}
