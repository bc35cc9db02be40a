//! Resident identity card numbers (GB 11643), sex and age.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Sex, as recorded or as derived from a resident id (odd sequence = male).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
}

/// A resident id number could not be parsed. Values are shown masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResidentIdError {
    /// Not 18 characters (or 15 digits in the legacy form).
    #[error("resident id {masked} has {len} characters, expected 18 (or 15 in the legacy form)")]
    Length {
        /// The value given, masked.
        masked: String,
        /// Its length in characters.
        len: usize,
    },
    /// A character other than a digit, or other than `X` in the check position.
    #[error("resident id {masked} has a character that is not a digit")]
    NotDigits {
        /// The value given, masked.
        masked: String,
    },
    /// The first two digits are not a province code of GB/T 2260.
    #[error("resident id {masked} starts with {province:?}, which is not a province code")]
    Province {
        /// The value given, masked.
        masked: String,
        /// The two leading digits.
        province: String,
    },
    /// Digits 7–14 are not a real date.
    #[error("resident id {masked} does not hold a real birth date")]
    BirthDate {
        /// The value given, masked.
        masked: String,
    },
    /// The birth date is a real date outside [`ResidentId::EARLIEST_BIRTH_DATE`] ..=
    /// [`ResidentId::LATEST_BIRTH_DATE`]. The date is not shown: it is part of the number.
    #[error("resident id {masked} holds a birth date outside {earliest}..={latest}")]
    BirthDateOutOfRange {
        /// The value given, masked.
        masked: String,
        /// The earliest birth date accepted.
        earliest: NaiveDate,
        /// The latest birth date accepted.
        latest: NaiveDate,
    },
    /// The birth date is after the day the number was checked against
    /// ([`ResidentId::parse_as_of`]).
    #[error("resident id {masked} holds a birth date after {today}")]
    BirthDateInFuture {
        /// The value given, masked.
        masked: String,
        /// The day it was checked against.
        today: NaiveDate,
    },
    /// The check character does not match ISO 7064 MOD 11-2.
    #[error("resident id {masked} fails its check character")]
    CheckCharacter {
        /// The value given, masked.
        masked: String,
    },
}

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARS: &[u8; 11] = b"10X98765432";

/// The ISO 7064 MOD 11-2 check character of the first 17 digits.
fn check_char(first17: &[u8]) -> u8 {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    CHECK_CHARS[(sum % 11) as usize]
}

fn valid_province(p: u8) -> bool {
    matches!(p, 11..=15 | 21..=23 | 31..=37 | 41..=46 | 50..=54 | 61..=65 | 71 | 81 | 82 | 91)
}

/// A mainland resident identity card number (GB 11643), always in the 18-character form.
///
/// Parsing checks the length, a province prefix (11–15, 21–23, 31–37, 41–46, 50–54, 61–65,
/// 71, 81, 82, 91), a real birth date, and the ISO 7064 MOD 11-2 check character (a lower-case
/// `x` is accepted as `X`). The legacy 15-digit form (born 19xx, no check character) is
/// upgraded to 18. Masked as `110101********2176`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct ResidentId([u8; 18]);

impl ResidentId {
    /// The earliest birth date a number may hold: the start of the crate's accepted date
    /// range, [`calendar::EARLIEST_DATE`](crate::calendar::EARLIEST_DATE).
    pub const EARLIEST_BIRTH_DATE: NaiveDate = crate::calendar::EARLIEST_DATE;
    /// The latest birth date a number may hold: the end of the crate's accepted date range,
    /// [`calendar::LATEST_DATE`](crate::calendar::LATEST_DATE).
    /// [`ResidentId::parse`] knows no today; [`ResidentId::parse_as_of`] also refuses a birth
    /// date after the day given, and registration refuses one after the clinic's today.
    pub const LATEST_BIRTH_DATE: NaiveDate = crate::calendar::LATEST_DATE;

    /// Parses an 18-character or legacy 15-digit resident id.
    ///
    /// The birth date must lie in [`ResidentId::EARLIEST_BIRTH_DATE`] ..=
    /// [`ResidentId::LATEST_BIRTH_DATE`]; where today is known, use
    /// [`ResidentId::parse_as_of`], which also refuses a birth date after it. Serde reads
    /// through this function.
    ///
    /// # Errors
    ///
    /// A [`ResidentIdError`] naming what is wrong, with the value masked.
    pub fn parse(s: &str) -> Result<Self, ResidentIdError> {
        let t = s.trim();
        let masked = || crate::patient::masked::Personal::ResidentId.mask(t);
        let b = t.as_bytes();
        let mut id = [0u8; 18];
        match b.len() {
            18 => {
                if !b[..17].iter().all(u8::is_ascii_digit) {
                    return Err(ResidentIdError::NotDigits { masked: masked() });
                }
                id.copy_from_slice(b);
                id[17] = match id[17] {
                    b'x' => b'X',
                    c @ (b'0'..=b'9' | b'X') => c,
                    _ => return Err(ResidentIdError::NotDigits { masked: masked() }),
                };
            }
            15 => {
                if !b.iter().all(u8::is_ascii_digit) {
                    return Err(ResidentIdError::NotDigits { masked: masked() });
                }
                id[..6].copy_from_slice(&b[..6]);
                id[6..8].copy_from_slice(b"19");
                id[8..17].copy_from_slice(&b[6..15]);
                id[17] = check_char(&id[..17]);
            }
            _ => {
                return Err(ResidentIdError::Length {
                    masked: masked(),
                    len: t.chars().count(),
                });
            }
        }
        let province = (id[0] - b'0') * 10 + (id[1] - b'0');
        if !valid_province(province) {
            return Err(ResidentIdError::Province {
                masked: masked(),
                province: format!("{:02}", province),
            });
        }
        match Self::date_of(&id) {
            None => return Err(ResidentIdError::BirthDate { masked: masked() }),
            Some(d) if !(Self::EARLIEST_BIRTH_DATE..=Self::LATEST_BIRTH_DATE).contains(&d) => {
                return Err(ResidentIdError::BirthDateOutOfRange {
                    masked: masked(),
                    earliest: Self::EARLIEST_BIRTH_DATE,
                    latest: Self::LATEST_BIRTH_DATE,
                });
            }
            Some(_) => {}
        }
        if check_char(&id[..17]) != id[17] {
            return Err(ResidentIdError::CheckCharacter { masked: masked() });
        }
        Ok(ResidentId(id))
    }

    /// Parses as [`ResidentId::parse`] does, and refuses a birth date after `today` (the
    /// clinic's local date: a number of someone not yet born is a typing error).
    ///
    /// # Errors
    ///
    /// What [`ResidentId::parse`] refuses, and [`ResidentIdError::BirthDateInFuture`], with
    /// the value masked.
    pub fn parse_as_of(s: &str, today: NaiveDate) -> Result<Self, ResidentIdError> {
        let id = Self::parse(s)?;
        if id.birth_date() > today {
            return Err(ResidentIdError::BirthDateInFuture {
                masked: id.masked(),
                today,
            });
        }
        Ok(id)
    }

    fn date_of(id: &[u8; 18]) -> Option<NaiveDate> {
        let num = |r: std::ops::Range<usize>| -> u32 {
            id[r].iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'))
        };
        let year = num(6..10);
        NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, num(10..12), num(12..14))
    }

    /// The birth date encoded in digits 7–14.
    #[must_use]
    pub fn birth_date(&self) -> NaiveDate {
        // Parsing guarantees a real date; MIN is never returned.
        Self::date_of(&self.0).unwrap_or(NaiveDate::MIN)
    }

    /// Sex from the sequence number: odd is male, even is female.
    #[must_use]
    pub fn sex(&self) -> Sex {
        if (self.0[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Age in whole years on `date` (0 before the birth date).
    #[must_use]
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        age_on(self.birth_date(), date)
    }

    /// The six-digit administrative region code.
    #[must_use]
    pub fn region(&self) -> &str {
        std::str::from_utf8(&self.0[..6]).unwrap_or_default()
    }

    /// The full 18 characters. Use only where the number is really needed.
    ///
    /// `Serialize` writes this full value too (it is the stored form); to log a value that
    /// holds one, serialise [`Masked`](crate::patient::Masked)`(&value)`, which writes the
    /// masked form in its place.
    #[must_use]
    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form, `110101********2176`.
    #[must_use]
    pub fn masked(&self) -> String {
        crate::patient::masked::Personal::ResidentId.mask(self.expose())
    }
}

/// Whole years from `birth` to `on`, the way ages are counted for consent and public-health
/// rules: the birthday itself counts (a patient born on 29 February turns a year older on
/// 1 March in common years).
#[must_use]
pub fn age_on(birth: NaiveDate, on: NaiveDate) -> u32 {
    if on < birth {
        return 0;
    }
    let mut years = on.year() - birth.year();
    if (on.month(), on.day()) < (birth.month(), birth.day()) {
        years -= 1;
    }
    u32::try_from(years).unwrap_or(0)
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", self.masked())
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl FromStr for ResidentId {
    type Err = ResidentIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for ResidentId {
    type Error = ResidentIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// The plain text, as a newtype that [`crate::patient::Masked`] recognises and masks; formats
/// that write newtypes as their content (serde_json) write exactly the text.
impl Serialize for ResidentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::patient::masked::Personal::ResidentId.serialize(self.expose(), s)
    }
}

impl From<ResidentId> for String {
    fn from(r: ResidentId) -> String {
        r.expose().to_owned()
    }
}
