//! A masked serde form for logging: [`Masked`] serialises any value with every personal
//! field replaced by its masked form.
//!
//! How it works: each personal type ([`MobileNumber`](super::MobileNumber),
//! [`ResidentId`](super::ResidentId), [`PersonName`](super::PersonName),
//! [`ExternalId`](super::ExternalId)) serialises as a newtype struct with a private marker
//! name around its plain text. Formats such as serde_json write a newtype struct as its
//! content, so the plain (stored) form is unchanged; the serializer [`Masked`] runs the value
//! through forwards every call to the host's serializer, except that it writes the masked
//! text in place of a marked value. Fields that hold personal or health data in a plain type
//! are masked by name, as listed in [`Masked`].

use serde::ser::{self, Serialize, Serializer};
use std::fmt;

use super::identity::mask_middle;

/// The kinds of personal value that mark themselves for [`Masked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Personal {
    Mobile,
    ResidentId,
    Name,
    ExternalId,
}

impl Personal {
    const ALL: [Personal; 4] = [
        Personal::Mobile,
        Personal::ResidentId,
        Personal::Name,
        Personal::ExternalId,
    ];

    /// The newtype name the value serialises under: private to the crate, never written by
    /// formats that write newtype structs as their content (serde_json, bincode, postcard).
    const fn marker(self) -> &'static str {
        match self {
            Personal::Mobile => "$clinic_ops::personal::mobile",
            Personal::ResidentId => "$clinic_ops::personal::resident_id",
            Personal::Name => "$clinic_ops::personal::name",
            Personal::ExternalId => "$clinic_ops::personal::external_id",
        }
    }

    /// The masked form of a plain value: the one rule `masked()`, `Debug` and `Display` use.
    pub(crate) fn mask(self, plain: &str) -> String {
        match self {
            Personal::Mobile => mask_middle(plain, 3, 4),
            Personal::ResidentId => mask_middle(plain, 6, 4),
            Personal::Name => mask_middle(plain, 1, 0),
            Personal::ExternalId => mask_middle(plain, 2, 2),
        }
    }

    /// Serialises `plain` as this kind of personal value: as `plain` itself to any serializer
    /// but [`Masked`]'s.
    pub(crate) fn serialize<S: Serializer>(self, plain: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(self.marker(), plain)
    }
}

/// What a text leaf under the current position becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Written as it is.
    Plain,
    /// A personal value: its masked form.
    Personal(Personal),
    /// A full date (`1960-05-01`): the year only, `1960-**-**`.
    Date,
    /// Health data: `***`.
    Hidden,
}

impl Mode {
    fn apply(self, text: &str) -> Option<String> {
        match self {
            Mode::Plain => None,
            Mode::Personal(p) => Some(p.mask(text)),
            Mode::Date => Some(match text.split_once('-') {
                Some((year, _)) => format!("{year}-**-**"),
                None => "****-**-**".to_owned(),
            }),
            Mode::Hidden => Some("***".to_owned()),
        }
    }

    /// The mode of a field, by its name and the struct or variant holding it.
    fn of_field(container: &str, field: &str) -> Mode {
        match (container, field) {
            // The full birth date: with a masked resident id it would give away the id's
            // masked digits. `Debug` shows only the year too.
            (_, "birth_date") => Mode::Date,
            // A chronic condition is health data (PIPL art. 28).
            (_, "condition") => Mode::Hidden,
            ("ChronicFile" | "OpenChronicFile" | "PatientCommand", "name") => Mode::Hidden,
            _ => Mode::Plain,
        }
    }
}

/// A value to serialise for a log line: every personal field comes out masked.
///
/// `serde::Serialize` on the crate's types writes personal data as it is, because that is
/// the form a store keeps. To log a patient, an event or a command, serialise
/// `Masked(&value)` instead:
///
/// ```
/// use clinic_ops::patient::{Masked, MobileNumber};
///
/// let m = MobileNumber::parse("13812341234")?;
/// assert_eq!(serde_json::to_string(&m)?, r#""13812341234""#); // the stored form
/// assert_eq!(serde_json::to_string(&Masked(&m))?, r#""138****1234""#); // for logs
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// What is masked, wherever it sits in the value (struct fields, lists, maps, options):
///
/// | value | masked as |
/// |---|---|
/// | [`MobileNumber`](super::MobileNumber) | `138****1234` |
/// | [`ResidentId`](super::ResidentId) | `110101********2375` |
/// | [`PersonName`](super::PersonName) | `张*` |
/// | [`ExternalId`](super::ExternalId) | `wm****Yz` |
/// | a field named `birth_date` | `1960-**-**` (the year, as `Debug` shows it) |
/// | a field named `condition`, and a chronic file's `name` | `***` (health data) |
///
/// The masked form is for reading, not for loading back: it does not deserialise. It works
/// with any serializer; formats that write newtype struct names (RON with `struct_names`)
/// would write the private marker names in the plain form, so store with serde_json or
/// another format that writes newtypes as their content.
pub struct Masked<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> fmt::Debug for Masked<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value may not be Debug; serialise it to see it.
        f.write_str("Masked(..)")
    }
}

impl<T: Serialize + ?Sized> Serialize for Masked<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        With {
            value: self.0,
            mode: Mode::Plain,
        }
        .serialize(s)
    }
}

/// A value serialised through [`MaskSer`] in a mode.
struct With<'a, T: ?Sized> {
    value: &'a T,
    mode: Mode,
}

impl<T: Serialize + ?Sized> Serialize for With<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(MaskSer {
            inner: s,
            mode: self.mode,
        })
    }
}

fn with<T: ?Sized>(value: &T, mode: Mode) -> With<'_, T> {
    With { value, mode }
}

/// The forwarding serializer.
struct MaskSer<S> {
    inner: S,
    mode: Mode,
}

/// A compound in progress: forwards each element in its mode, each field in the field's.
struct Compound<C> {
    inner: C,
    mode: Mode,
    container: &'static str,
}

macro_rules! forward {
    ($($name:ident($t:ty)),* $(,)?) => {
        $(fn $name(self, v: $t) -> Result<S::Ok, S::Error> {
            self.inner.$name(v)
        })*
    };
}

impl<S: Serializer> Serializer for MaskSer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
        serialize_unit_struct(&'static str),
    );

    fn serialize_str(self, v: &str) -> Result<S::Ok, S::Error> {
        match self.mode.apply(v) {
            Some(masked) => self.inner.serialize_str(&masked),
            None => self.inner.serialize_str(v),
        }
    }

    fn collect_str<T: fmt::Display + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        match self.mode {
            Mode::Plain => self.inner.collect_str(v),
            _ => self.serialize_str(&v.to_string()),
        }
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<S::Ok, S::Error> {
        self.inner.serialize_some(&with(v, self.mode))
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        match Personal::ALL.into_iter().find(|p| p.marker() == name) {
            // The marked value is its plain text: serialised in the personal mode, that
            // text comes out masked, and the marker is not written.
            Some(p) => v.serialize(MaskSer {
                inner: self.inner,
                mode: Mode::Personal(p),
            }),
            None => self
                .inner
                .serialize_newtype_struct(name, &with(v, self.mode)),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        v: &T,
    ) -> Result<S::Ok, S::Error> {
        self.inner
            .serialize_newtype_variant(name, index, variant, &with(v, self.mode))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let c = self.inner.serialize_seq(len)?;
        Ok(Compound {
            inner: c,
            mode: self.mode,
            container: "",
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let mode = self.mode;
        Ok(Compound {
            inner: self.inner.serialize_tuple(len)?,
            mode,
            container: "",
        })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let mode = self.mode;
        Ok(Compound {
            inner: self.inner.serialize_tuple_struct(name, len)?,
            mode,
            container: name,
        })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let mode = self.mode;
        Ok(Compound {
            inner: self
                .inner
                .serialize_tuple_variant(name, index, variant, len)?,
            mode,
            container: variant,
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let mode = self.mode;
        Ok(Compound {
            inner: self.inner.serialize_map(len)?,
            mode,
            container: "",
        })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let c = self.inner.serialize_struct(name, len)?;
        Ok(Compound {
            inner: c,
            mode: self.mode,
            container: name,
        })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let mode = self.mode;
        Ok(Compound {
            inner: self
                .inner
                .serialize_struct_variant(name, index, variant, len)?,
            mode,
            container: variant,
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

impl<C> Compound<C> {
    fn field_mode(&self, field: &str) -> Mode {
        match Mode::of_field(self.container, field) {
            Mode::Plain => self.mode,
            m => m,
        }
    }
}

macro_rules! elements {
    ($($tr:ident :: $method:ident),* $(,)?) => {
        $(impl<C: ser::$tr> ser::$tr for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
                self.inner.$method(&with(v, self.mode))
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        })*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

macro_rules! fields {
    ($($tr:ident),* $(,)?) => {
        $(impl<C: ser::$tr> ser::$tr for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                v: &T,
            ) -> Result<(), C::Error> {
                let mode = self.field_mode(key);
                self.inner.serialize_field(key, &with(v, mode))
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), C::Error> {
        self.inner.serialize_key(&with(k, self.mode))
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), C::Error> {
        self.inner.serialize_value(&with(v, self.mode))
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}
