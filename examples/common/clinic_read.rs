//! The `clinic` calculator's fast reading of the journal's commonest lines (register,
//! consent, visit, purchase, refund, redeem, refer, expire, plan): each line is read once,
//! straight into its members as the line spells them (borrowed from the line, no
//! `serde_json::Value` tree to build and drop), and turned into its event with the same
//! parsers the general reader (`event` in `clinic.rs`) uses.
//!
//! Only the well-formed lines are read here: for anything else (another type, a missing,
//! null-only or malformed member, a member spelled as a fraction, an array or an object, a
//! duplicate member, a value the library refuses) [`event`] answers `None` and the general
//! reader reads the line again, so the errors and their line numbers are the general
//! reader's, word for word.
//!
//! `#[path]`-included by `clinic.rs`.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{self, Visitor};
use serde_json::{Map, Value};

use clinic_ops::id::{ClinicId, DoctorId, PatientId, PurchaseId, VisitId};
use clinic_ops::journey::{
    Category, Clinic, ClinicEvent, ClinicEventKind, EventKey, Purchase, Visit,
};
use clinic_ops::money::{Points, Yuan};
use clinic_ops::patient::{ConsentPurpose, Label, Registration};

/// A member's value as the line spells it: the scalars the general reader takes as text or
/// a flag, and [`Scalar::Other`] for a fraction, which it would format (the fast path
/// leaves that to it).
#[derive(Debug)]
enum Scalar<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Scalar::U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
        }
        // Arrays and objects are refused, which sends the line to the general reader.
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Scalar<'_> {
    /// The member as text, as the general reader's `text_of` takes it (a whole number as
    /// its decimal text).
    fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Scalar::Str(s) => Some(Cow::Borrowed(s)),
            Scalar::U64(n) => Some(Cow::Owned(n.to_string())),
            Scalar::I64(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Bool(_) | Scalar::Other => None,
        }
    }

    /// The member as the `Value` the general reader would have.
    fn value(&self) -> Option<Value> {
        match self {
            Scalar::Str(s) => Some(Value::String(s.to_string())),
            Scalar::U64(n) => Some(Value::from(*n)),
            Scalar::I64(n) => Some(Value::from(*n)),
            Scalar::Bool(b) => Some(Value::Bool(*b)),
            Scalar::Other => None,
        }
    }

    /// Whole points, as `Value::as_i64` reads them.
    fn points(&self) -> Option<Points> {
        match self {
            Scalar::U64(n) => i64::try_from(*n).ok().map(Points::new),
            Scalar::I64(n) => Some(Points::new(*n)),
            _ => None,
        }
    }
}

/// The members of the lines read here; a null member reads as absent, as in the general
/// reader. Unknown members are skipped; a member given twice fails the read.
#[derive(Deserialize)]
struct Members<'a> {
    #[serde(borrow, rename = "type")]
    ty: Option<Scalar<'a>>,
    #[serde(borrow)]
    at: Option<Scalar<'a>>,
    #[serde(borrow)]
    key: Option<Scalar<'a>>,
    #[serde(borrow)]
    patient: Option<Scalar<'a>>,
    #[serde(borrow)]
    name: Option<Scalar<'a>>,
    #[serde(borrow)]
    mobile: Option<Scalar<'a>>,
    #[serde(borrow)]
    clinic: Option<Scalar<'a>>,
    #[serde(borrow)]
    channel: Option<Scalar<'a>>,
    #[serde(borrow)]
    channel_code: Option<Scalar<'a>>,
    #[serde(borrow)]
    resident_id: Option<Scalar<'a>>,
    #[serde(borrow)]
    sex: Option<Scalar<'a>>,
    #[serde(borrow)]
    birth_date: Option<Scalar<'a>>,
    #[serde(borrow)]
    owner: Option<Scalar<'a>>,
    #[serde(borrow)]
    purpose: Option<Scalar<'a>>,
    #[serde(borrow)]
    granted: Option<Scalar<'a>>,
    #[serde(borrow)]
    visit: Option<Scalar<'a>>,
    #[serde(borrow)]
    doctor: Option<Scalar<'a>>,
    #[serde(borrow)]
    paid: Option<Scalar<'a>>,
    #[serde(borrow)]
    purchase: Option<Scalar<'a>>,
    #[serde(borrow)]
    amount: Option<Scalar<'a>>,
    #[serde(borrow)]
    category: Option<Scalar<'a>>,
    #[serde(borrow)]
    points: Option<Scalar<'a>>,
    #[serde(borrow)]
    referrer: Option<Scalar<'a>>,
    #[serde(borrow)]
    referee: Option<Scalar<'a>>,
}

/// A required member parsed with `FromStr`.
fn parsed<T: std::str::FromStr>(m: &Option<Scalar<'_>>) -> Option<T> {
    m.as_ref()?.text()?.parse().ok()
}

/// An optional member parsed with `FromStr`: `Some(None)` when absent.
fn opt_parsed<T: std::str::FromStr>(m: &Option<Scalar<'_>>) -> Option<Option<T>> {
    match m {
        None => Some(None),
        Some(s) => s.text()?.parse().ok().map(Some),
    }
}

fn yuan(m: &Option<Scalar<'_>>) -> Option<Yuan> {
    Yuan::parse(&m.as_ref()?.text()?).ok()
}

/// The event of a well-formed line of the types read here, and its type; `None` sends the
/// line to the general reader.
///
/// A visit is read at clinic 0: the journal does not name its clinic, and the patient's home
/// clinic is known only to the replay, which sets it with [`ReadAhead::at_home_clinic`]
/// when the line's turn comes. That keeps this reader free of the clinic's state, so it runs on its own
/// thread ahead of the replay.
pub(crate) fn event(raw: &str) -> Option<(ReadAhead, String)> {
    let m: Members<'_> = serde_json::from_str(raw).ok()?;
    let Some(Scalar::Str(ty)) = &m.ty else {
        return None;
    };
    let at = DateTime::parse_from_rfc3339(&m.at.as_ref()?.text()?)
        .ok()?
        .with_timezone(&Utc);
    let key = match &m.key {
        None => EventKey::of_content(raw.trim().as_bytes()),
        Some(Scalar::U64(k)) => EventKey::new(*k),
        Some(k) => EventKey::of_content(k.text()?.as_bytes()),
    };
    let kind = match ty.as_ref() {
        "register" => {
            let patient: PatientId = parsed(&m.patient)?;
            // As the general reader builds it: the library's serde form of a registration.
            let mut r = Map::new();
            for (member, to) in [
                (&m.name, "name"),
                (&m.mobile, "mobile"),
                (&m.clinic, "home_clinic"),
                (&m.channel, "channel"),
            ] {
                r.insert(to.into(), member.as_ref()?.value()?);
            }
            for (member, to) in [
                (&m.channel_code, "channel_code"),
                (&m.resident_id, "resident_id"),
                (&m.sex, "sex"),
                (&m.birth_date, "birth_date"),
                (&m.owner, "owner"),
            ] {
                let v = match member {
                    Some(s) => s.value()?,
                    None => Value::Null,
                };
                r.insert(to.into(), v);
            }
            r.insert("external_id".into(), Value::Null);
            for id in ["home_clinic", "owner"] {
                if let Some(Value::String(s)) = r.get(id) {
                    let v: u64 = s.trim_start_matches(['C', 'S']).parse().ok()?;
                    r.insert(id.into(), Value::from(v));
                }
            }
            let registration: Registration = serde_json::from_value(Value::Object(r)).ok()?;
            ClinicEventKind::Register {
                patient,
                registration: Box::new(registration),
            }
        }
        "consent" => {
            let Some(Scalar::Str(p)) = &m.purpose else {
                return None;
            };
            let purpose =
                ConsentPurpose::deserialize(de::value::StrDeserializer::<de::value::Error>::new(p))
                    .ok()?;
            let Some(Scalar::Bool(granted)) = m.granted else {
                return None;
            };
            ClinicEventKind::Consent {
                patient: parsed(&m.patient)?,
                purpose,
                granted,
                source: Label::parse("front_desk").ok()?,
            }
        }
        "visit" => {
            let patient: PatientId = parsed(&m.patient)?;
            ClinicEventKind::Visit(Visit {
                id: parsed::<VisitId>(&m.visit)?,
                patient,
                at,
                clinic: ClinicId::new(0),
                doctor: opt_parsed::<DoctorId>(&m.doctor)?,
                paid: yuan(&m.paid)?,
                refunded_at: None,
            })
        }
        "purchase" => {
            let category = match &m.category {
                Some(c) => Some(Category::parse(&c.text()?).ok()?),
                None => None,
            };
            let points = match &m.points {
                Some(p) => p.points()?,
                None => Points::ZERO,
            };
            ClinicEventKind::Purchase {
                purchase: Purchase {
                    id: parsed::<PurchaseId>(&m.purchase)?,
                    patient: parsed(&m.patient)?,
                    at,
                    amount: yuan(&m.amount)?,
                    category,
                    days_supply: None,
                },
                visit: opt_parsed::<VisitId>(&m.visit)?,
                points,
            }
        }
        "refund" => ClinicEventKind::Refund {
            purchase: parsed(&m.purchase)?,
            amount: yuan(&m.amount)?,
        },
        "redeem" => ClinicEventKind::Redeem {
            patient: parsed(&m.patient)?,
            points: m.points.as_ref()?.points()?,
        },
        "refer" => ClinicEventKind::Refer {
            referrer: parsed(&m.referrer)?,
            referee: parsed(&m.referee)?,
        },
        "expire" => ClinicEventKind::Expire,
        "plan" => ClinicEventKind::Plan,
        _ => return None,
    };
    Some((ReadAhead(ClinicEvent { key, at, kind }), ty.to_string()))
}

/// An event read ahead of the replay, whose visit (if it is one) is still at clinic 0: the
/// replay has to settle it with [`ReadAhead::at_home_clinic`] to get the event.
#[derive(Debug)]
pub(crate) struct ReadAhead(ClinicEvent);

impl ReadAhead {
    /// The event, a visit recorded at the patient's home clinic as the general reader does
    /// (clinic 0 for a patient the clinic does not know, whose visit the layer refuses).
    pub(crate) fn at_home_clinic(self, clinic: &Clinic) -> ClinicEvent {
        let mut e = self.0;
        if let ClinicEventKind::Visit(v) = &mut e.kind {
            v.clinic = clinic
                .patient(v.patient)
                .map_or_else(|| ClinicId::new(0), |p| p.home_clinic());
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clinic_ops::journey::JourneyConfig;

    /// Every line the fast reader reads gives the general reader's event; the rest it
    /// leaves to the general reader.
    #[test]
    fn reads_as_the_general_reader_or_leaves_the_line_to_it() {
        let config: JourneyConfig = serde_json::from_str(super::super::DEFAULT_CONFIG).unwrap();
        let mut clinic = Clinic::new();
        let reg = r#"{"at":"2026-03-01T09:00:00+08:00","type":"register","patient":"P1","name":"王芳","mobile":"13800138001","clinic":1,"channel":"walk_in"}"#;
        let (e, _) = super::super::event(1, reg, &clinic, &config).unwrap();
        let _ = clinic.handle(&config, &e);
        let read = [
            reg,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"register","patient":"P2","name":"李\u660e","mobile":"13800138002","clinic":"C1","channel":"walk_in","owner":"S3","sex":null}"#,
            r#"{"at":"2026-03-01T09:05:00+08:00","type":"consent","patient":"P1","purpose":"marketing","granted":true,"key":7}"#,
            r#"{"at":"2026-03-01T09:05:00+08:00","type":"consent","patient":"P1","purpose":"care_reminder","granted":false,"key":"k"}"#,
            r#"{"at":"2026-03-02T10:30:00+08:00","type":"visit","patient":"P1","visit":"V1","doctor":"D3","paid":"268.00","key":-4}"#,
            r#"{"at":"2026-03-02T10:30:00+08:00","type":"visit","patient":"P9","visit":"V2","paid":"1","doctor":null}"#,
            r#"{"at":"2026-03-08T15:00:00+08:00","type":"purchase","patient":"P1","purchase":"O1","amount":"300.00","category":"herbal_decoction","visit":"V1","points":5}"#,
            r#"{"at":"2026-03-08T15:00:00+08:00","type":"purchase","patient":"P1","purchase":"O2","amount":"3","points":-5,"extra":[1,{"a":2}]}"#,
            r#"{"at":"2026-03-09T09:00:00+08:00","type":"refund","purchase":"O1","amount":"100.00"}"#,
            r#"{"at":"2026-03-10T11:00:00+08:00","type":"redeem","patient":"P1","points":200}"#,
            r#"{"at":"2026-03-10T11:00:00+08:00","type":"refer","referrer":"P1","referee":"P2"}"#,
            r#"  {"at":"2026-03-10T11:00:00Z","type":"plan"}  "#,
            r#"{"at":"2026-03-10T11:00:00+08:00","type":"expire"}"#,
        ];
        for raw in read {
            let (read, ty) = event(raw).unwrap_or_else(|| panic!("not read: {raw}"));
            let fast = (read.at_home_clinic(&clinic), ty);
            let general = super::super::event(1, raw, &clinic, &config).unwrap();
            assert_eq!(fast, general, "{raw}");
        }
        let left = [
            "not json",
            "[1]",
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"visit","patient":"P1","visit":"V1","paid":1.5}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"visit","patient":"P1","patient":"P2","visit":"V1","paid":"1"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"visit","patient":"P1","visit":"V1"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"visit","patient":"P1","visit":"V1","paid":"x"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"visit","patient":"P1","visit":"V1","paid":"1","key":1.5}"#,
            r#"{"at":"2026-03-01","type":"plan"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":7}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"consent","patient":"P1","purpose":"nope","granted":true}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"consent","patient":"P1","purpose":"marketing","granted":"yes"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"redeem","patient":"P1","points":"5"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"register","patient":"P3","name":"","mobile":"1","clinic":1,"channel":"walk_in"}"#,
            r#"{"at":"2026-03-01T09:00:00+08:00","type":"book","appointment":"A1","patient":"P1","doctor":"D1","start":"2026-03-02T09:00:00+08:00"}"#,
        ];
        for raw in left {
            assert!(event(raw).is_none(), "read: {raw}");
        }
    }
}
