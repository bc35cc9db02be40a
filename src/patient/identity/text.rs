//! Personal short text: names and external (WeChat) ids. The shared text check and its
//! error are the vocabulary's ([`crate::text`]).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::text::{TextError, clean_text, mask_middle};

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
