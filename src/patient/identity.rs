//! Personal identifiers: mobile numbers, resident id numbers, names and WeChat ids.
//!
//! Each is parsed once into a value that is valid by construction, and each masks itself in
//! `Debug` and `Display`. The full value is reached only through an explicit `expose()`, so a
//! log line or an error message can never leak it by accident.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

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
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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
            masked: mask_middle(s.trim(), 3, 4),
        }
    }

    /// The full 11 digits. Use only where the number is really needed (dialling, hashing for
    /// a lookup); everything else should print the masked form.
    pub fn expose(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form, `138****1234`.
    pub fn masked(&self) -> String {
        mask_middle(self.expose(), 3, 4)
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

impl From<MobileNumber> for String {
    fn from(m: MobileNumber) -> String {
        m.expose().to_owned()
    }
}

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
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResidentId([u8; 18]);

impl ResidentId {
    /// Parses an 18-character or legacy 15-digit resident id.
    ///
    /// # Errors
    ///
    /// A [`ResidentIdError`] naming what is wrong, with the value masked.
    pub fn parse(s: &str) -> Result<Self, ResidentIdError> {
        let t = s.trim();
        let masked = || mask_middle(t, 6, 4);
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
        if Self::date_of(&id).is_none() {
            return Err(ResidentIdError::BirthDate { masked: masked() });
        }
        if check_char(&id[..17]) != id[17] {
            return Err(ResidentIdError::CheckCharacter { masked: masked() });
        }
        Ok(ResidentId(id))
    }

    fn date_of(id: &[u8; 18]) -> Option<NaiveDate> {
        let num = |r: std::ops::Range<usize>| -> u32 {
            id[r].iter().fold(0u32, |a, d| a * 10 + u32::from(d - b'0'))
        };
        let year = num(6..10);
        if year < 1850 {
            return None;
        }
        NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, num(10..12), num(12..14))
    }

    /// The birth date encoded in digits 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        // Parsing guarantees a real date; MIN is never returned.
        Self::date_of(&self.0).unwrap_or(NaiveDate::MIN)
    }

    /// Sex from the sequence number: odd is male, even is female.
    pub fn sex(&self) -> Sex {
        if (self.0[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Age in whole years on `date` (0 before the birth date).
    pub fn age_on(&self, date: NaiveDate) -> u32 {
        age_on(self.birth_date(), date)
    }

    /// The six-digit administrative region code.
    pub fn region(&self) -> &str {
        std::str::from_utf8(&self.0[..6]).unwrap_or_default()
    }

    /// The full 18 characters. Use only where the number is really needed.
    pub fn expose(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The masked form, `110101********2176`.
    pub fn masked(&self) -> String {
        mask_middle(self.expose(), 6, 4)
    }
}

/// Whole years from `birth` to `on`, the way ages are counted for consent and public-health
/// rules: the birthday itself counts (a patient born on 29 February turns a year older on
/// 1 March in common years).
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

impl From<ResidentId> for String {
    fn from(r: ResidentId) -> String {
        r.expose().to_owned()
    }
}

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
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form, `张*`.
    pub fn masked(&self) -> String {
        mask_middle(&self.0, 1, 0)
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

impl From<PersonName> for String {
    fn from(n: PersonName) -> String {
        n.0
    }
}

/// A WeChat or WeCom external contact id (`external_userid`), at most 64 visible ASCII
/// characters. Masked as `wm****Yz`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
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
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalId({})", mask_middle(&self.0, 2, 2))
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask_middle(&self.0, 2, 2))
    }
}

impl TryFrom<String> for ExternalId {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ExternalId> for String {
    fn from(n: ExternalId) -> String {
        n.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_normalises_prefixes_and_separators() {
        let want = MobileNumber::parse("13812341234").unwrap();
        for s in [
            "+86 138-1234-1234",
            "0086 13812341234",
            " 138 1234 1234 ",
            "+8613812341234",
        ] {
            assert_eq!(MobileNumber::parse(s).unwrap(), want, "{s}");
        }
        assert_eq!(want.to_string(), "138****1234");
        assert_eq!(format!("{want:?}"), "MobileNumber(138****1234)");
        for bad in [
            "12812341234",
            "1381234123",
            "138123412345",
            "86 13812341234",
            "+1 3812341234",
            "1381234123a",
        ] {
            assert!(MobileNumber::parse(bad).is_err(), "{bad}");
        }
        let e = MobileNumber::parse("23812341234").unwrap_err();
        assert_eq!(
            e.to_string(),
            "mobile 238****1234 is not an 11-digit mainland mobile number (1[3-9]xxxxxxxxx)"
        );
    }

    #[test]
    fn resident_id_known_values() {
        // The GB 11643 worked example.
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.to_string(), "110105********002X");
        assert_eq!(ResidentId::parse("11010519491231002x").unwrap(), id);
        let id2 = ResidentId::parse("110101199003072375").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(id2.masked(), "110101********2375");
        assert_eq!(id2.sex(), Sex::Male);
        assert_eq!(id2.age_on(NaiveDate::from_ymd_opt(2026, 3, 6).unwrap()), 35);
        assert_eq!(id2.age_on(NaiveDate::from_ymd_opt(2026, 3, 7).unwrap()), 36);
    }

    #[test]
    fn resident_id_legacy_upgrade() {
        // 15-digit form of 110105491231002 → 11010519491231002X
        let id = ResidentId::parse("110105491231002").unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
    }

    #[test]
    fn resident_id_refusals() {
        assert!(matches!(
            ResidentId::parse("110105194912310021"),
            Err(ResidentIdError::CheckCharacter { .. })
        ));
        assert!(matches!(
            ResidentId::parse("99010519491231002X"),
            Err(ResidentIdError::Province { .. })
        ));
        assert!(matches!(
            ResidentId::parse("11010519490231002X"),
            Err(ResidentIdError::BirthDate { .. })
        ));
        assert!(matches!(
            ResidentId::parse("1101051949"),
            Err(ResidentIdError::Length { .. })
        ));
        assert!(matches!(
            ResidentId::parse("1101051949123100AX"),
            Err(ResidentIdError::NotDigits { .. })
        ));
        let e = ResidentId::parse("110105194912310021")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("194912"), "{e}");
    }

    #[test]
    fn names_mask_all_but_first_char() {
        let n = PersonName::parse(" 张三 ").unwrap();
        assert_eq!(n.expose(), "张三");
        assert_eq!(n.to_string(), "张*");
        assert_eq!(PersonName::parse("欧阳娜娜").unwrap().to_string(), "欧***");
        assert!(PersonName::parse("  ").is_err());
        let e = PersonName::parse("张\u{7}三").unwrap_err().to_string();
        assert!(!e.contains('三'), "{e}");
    }

    #[test]
    fn ages_count_birthdays() {
        let b = NaiveDate::from_ymd_opt(2012, 2, 29).unwrap();
        assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()), 13);
        assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()), 14);
        assert_eq!(age_on(b, NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()), 0);
    }
}
