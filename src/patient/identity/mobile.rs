//! Mainland mobile numbers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A mobile number could not be parsed. The value is shown masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MobileError {
    /// After removing `+86`/`0086`, spaces and dashes, the text is not 11 digits matching
    /// `1[3-9]\d{9}`.
    #[error("mobile {masked} is not an 11-digit mainland mobile number (1[3-9]xxxxxxxxx)")]
    Malformed {
        /// The value given, masked.
        masked: String,
    },
}

/// A mainland China mobile number, normalised to 11 digits.
///
/// [`MobileNumber::parse`] strips spaces and dashes and a `+86` or `0086` prefix, then requires
/// `1[3-9]` followed by 9 digits. Two spellings of one number parse to equal values, which is
/// what makes "a duplicate mobile is one person" checkable. Masked as `138****1234`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct MobileNumber([u8; 11]);

impl MobileNumber {
    /// Parses and normalises a mobile number.
    ///
    /// # Errors
    ///
    /// [`MobileError::Malformed`], with the input masked.
    pub fn parse(s: &str) -> Result<Self, MobileError> {
        let mut digits = [0u8; 15];
        let mut n = 0usize;
        let bytes = s.trim().as_bytes();
        let (bytes, plus) = match bytes.first() {
            Some(b'+') => (&bytes[1..], true),
            _ => (bytes, false),
        };
        for &b in bytes {
            match b {
                b'0'..=b'9' => {
                    if n == digits.len() {
                        return Err(Self::malformed(s));
                    }
                    digits[n] = b;
                    n += 1;
                }
                b' ' | b'-' => {}
                _ => return Err(Self::malformed(s)),
            }
        }
        let d = &digits[..n];
        let core = match (n, plus) {
            (11, false) => d,
            (13, true) if d.starts_with(b"86") => &d[2..],
            (15, false) if d.starts_with(b"0086") => &d[4..],
            _ => return Err(Self::malformed(s)),
        };
        if core[0] != b'1' || !(b'3'..=b'9').contains(&core[1]) {
            return Err(Self::malformed(s));
        }
        let mut out = [0u8; 11];
        out.copy_from_slice(core);
        Ok(MobileNumber(out))
    }

    fn malformed(s: &str) -> MobileError {
        MobileError::Malformed {
            masked: crate::patient::masked::Personal::Mobile.mask(s.trim()),
        }
    }

    /// The full 11 digits. Use only where the number is really needed (dialling, hashing for
    /// a lookup); everything else should print the masked form.
    ///
    /// `Serialize` writes this full value too (it is the stored form); to log a value that
    /// holds one, serialise [`Masked`](crate::patient::Masked)`(&value)`, which writes the
    /// masked form in its place.
    #[must_use]
    pub fn expose(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form, `138****1234`.
    #[must_use]
    pub fn masked(&self) -> String {
        crate::patient::masked::Personal::Mobile.mask(self.expose())
    }
}

impl fmt::Debug for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MobileNumber({})", self.masked())
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl FromStr for MobileNumber {
    type Err = MobileError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for MobileNumber {
    type Error = MobileError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// The plain text, as a newtype that [`crate::patient::Masked`] recognises and masks; formats
/// that write newtypes as their content (serde_json) write exactly the text.
impl Serialize for MobileNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::patient::masked::Personal::Mobile.serialize(self.expose(), s)
    }
}

impl From<MobileNumber> for String {
    fn from(m: MobileNumber) -> String {
        m.expose().to_owned()
    }
}
