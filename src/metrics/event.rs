//! Journey events: the compact facts the funnel reads.
//!
//! A [`JourneyEvent`] is one thing a patient did: a [`JourneyEventKind`] (a stage of the patient
//! journey, or a custom kind the host names), when, and optionally through which channel, with
//! which doctor, at which clinic, for how much. Events may arrive in any order; the funnel
//! sorts them itself.
//!
//! ```
//! use clinic_ops::id::PatientId;
//! use clinic_ops::metrics::event::{ChannelCode, JourneyEventKind, JourneyEvent, JourneyStage};
//!
//! let e = JourneyEvent::new(PatientId::new(7), JourneyEventKind::stage(JourneyStage::Booked), 1_767_200_000)
//!     .with_channel(ChannelCode::new(3));
//! assert_eq!(e.kind.as_stage(), Some(JourneyStage::Booked));
//! assert_eq!("booked".parse::<JourneyStage>()?, JourneyStage::Booked);
//! # Ok::<(), clinic_ops::metrics::event::EventError>(())
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::id::{ClinicId, DoctorId, PatientId};
use crate::money::Yuan;

/// A stage of the patient journey (客户运营流程), in pipeline order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum JourneyStage {
    /// 引流: first contact through a channel.
    Lead,
    /// 转化: added the clinic's WeChat, basic file opened.
    Converted,
    /// 预约挂号: booked a slot.
    Booked,
    /// 到馆: checked in.
    Arrived,
    /// 问诊: saw the doctor.
    Consulted,
    /// 取药: took medicine or bought a course.
    Purchased,
    /// 诊后随访: was followed up.
    FollowedUp,
    /// 复诊: came back.
    Revisited,
    /// 转介绍: brought a friend.
    Referred,
}

impl JourneyStage {
    /// Every stage, in pipeline order.
    pub const ALL: [JourneyStage; 9] = [
        JourneyStage::Lead,
        JourneyStage::Converted,
        JourneyStage::Booked,
        JourneyStage::Arrived,
        JourneyStage::Consulted,
        JourneyStage::Purchased,
        JourneyStage::FollowedUp,
        JourneyStage::Revisited,
        JourneyStage::Referred,
    ];

    /// The snake_case code (`followed_up`), as exports spell it.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            JourneyStage::Lead => "lead",
            JourneyStage::Converted => "converted",
            JourneyStage::Booked => "booked",
            JourneyStage::Arrived => "arrived",
            JourneyStage::Consulted => "consulted",
            JourneyStage::Purchased => "purchased",
            JourneyStage::FollowedUp => "followed_up",
            JourneyStage::Revisited => "revisited",
            JourneyStage::Referred => "referred",
        }
    }
}

impl fmt::Display for JourneyStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Event text that is not a journey stage, or a custom kind number out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The text names no journey stage.
    #[error("event kind {value:?} is not a journey stage")]
    UnknownStage {
        /// The text given.
        value: String,
    },
    /// A custom kind number beyond [`JourneyEventKind::MAX_CUSTOM`].
    #[error("custom event kind {value} is above {max}")]
    CustomOutOfRange {
        /// The number given.
        value: u32,
        /// The largest accepted.
        max: u32,
    },
}

impl FromStr for JourneyStage {
    type Err = EventError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JourneyStage::ALL
            .into_iter()
            .find(|st| st.code() == s)
            .ok_or_else(|| EventError::UnknownStage {
                value: s.to_owned(),
            })
    }
}

/// What happened: a journey stage, or a custom kind (`page_view`, `lecture_attended`) that
/// the host numbers itself.
///
/// A kind is a 4-byte code, so millions of events stay small and a kind compares in one
/// instruction. Codes `0..16` are reserved for stages; custom kind `n` is code `16 + n`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JourneyEventKind(u32);

impl JourneyEventKind {
    const CUSTOM_BASE: u32 = 16;
    /// The largest custom kind number.
    pub const MAX_CUSTOM: u32 = u32::MAX - Self::CUSTOM_BASE;

    /// The kind of a journey stage.
    #[must_use]
    pub const fn stage(stage: JourneyStage) -> Self {
        JourneyEventKind(stage as u32)
    }

    /// A custom kind numbered by the host (its own dictionary of event names).
    ///
    /// # Errors
    ///
    /// [`EventError::CustomOutOfRange`] above [`JourneyEventKind::MAX_CUSTOM`].
    pub fn custom(n: u32) -> Result<Self, EventError> {
        if n > Self::MAX_CUSTOM {
            return Err(EventError::CustomOutOfRange {
                value: n,
                max: Self::MAX_CUSTOM,
            });
        }
        Ok(JourneyEventKind(n + Self::CUSTOM_BASE))
    }

    /// The code, as [`EventColumns`](crate::metrics::funnel::EventColumns) carry it.
    #[must_use]
    pub const fn code(self) -> u32 {
        self.0
    }

    /// The kind with this code (any `u32` is a kind; unused stage codes match nothing).
    #[must_use]
    pub const fn from_code(code: u32) -> Self {
        JourneyEventKind(code)
    }

    /// The journey stage, when this kind is one.
    #[must_use]
    pub fn as_stage(self) -> Option<JourneyStage> {
        JourneyStage::ALL.get(self.0 as usize).copied()
    }

    /// The custom number, when this kind is custom.
    #[must_use]
    pub fn custom_number(self) -> Option<u32> {
        self.0.checked_sub(Self::CUSTOM_BASE)
    }
}

impl fmt::Debug for JourneyEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.as_stage(), self.custom_number()) {
            (Some(s), _) => write!(f, "{s}"),
            (None, Some(n)) => write!(f, "custom#{n}"),
            (None, None) => write!(f, "reserved#{}", self.0),
        }
    }
}

impl From<JourneyStage> for JourneyEventKind {
    fn from(s: JourneyStage) -> Self {
        JourneyEventKind::stage(s)
    }
}

/// A channel, as a small code the host assigns (its dictionary of channel strings such as
/// `doctor_ip/xiaohongshu` or a WeCom `state`), so events stay `Copy` and compact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelCode(u32);

impl ChannelCode {
    /// Wraps a host-assigned code.
    #[must_use]
    pub const fn new(code: u32) -> Self {
        ChannelCode(code)
    }

    /// The code.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0
    }
}

/// One journey event of one patient.
///
/// `at` is whole seconds since the Unix epoch (UTC), the resolution funnels and warehouses
/// use. Every other record in the crate holds a `DateTime<Utc>`; this one keeps a plain
/// `i64` on purpose: the funnel engine's columnar hot path ([`EventColumns`]) and the
/// reference calculators read `at` as a column of integers, and a `DateTime` would double
/// the event's size and add a conversion per row. Hosts that stay in `DateTime<Utc>` build
/// events with [`JourneyEvent::at_time`] and read the instant back with
/// [`JourneyEvent::at_utc`]:
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use clinic_ops::id::PatientId;
/// use clinic_ops::metrics::event::{JourneyEvent, JourneyEventKind, JourneyStage};
///
/// let at = Utc.with_ymd_and_hms(2026, 3, 2, 2, 0, 0).single().ok_or("bad time")?;
/// let booked = JourneyEventKind::from(JourneyStage::Booked);
/// let e = JourneyEvent::at_time(PatientId::new(7), booked, at);
/// assert_eq!(e.at_utc(), Some(at));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// [`EventColumns`]: crate::metrics::funnel::EventColumns
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JourneyEvent {
    /// Who.
    pub patient: PatientId,
    /// What.
    pub kind: JourneyEventKind,
    /// When, in Unix seconds.
    pub at: i64,
    /// Through which channel, if known.
    pub channel: Option<ChannelCode>,
    /// With which doctor, if any.
    pub doctor: Option<DoctorId>,
    /// At which clinic, if known.
    pub clinic: Option<ClinicId>,
    /// How much was paid, for purchases.
    pub amount: Option<Yuan>,
}

impl JourneyEvent {
    /// An event with no dimensions.
    #[must_use]
    pub const fn new(patient: PatientId, kind: JourneyEventKind, at: i64) -> Self {
        JourneyEvent {
            patient,
            kind,
            at,
            channel: None,
            doctor: None,
            clinic: None,
            amount: None,
        }
    }

    /// An event at a `DateTime`, for hosts that keep `DateTime<Utc>` like the rest of the
    /// crate. Sub-second parts are dropped (the time is rounded toward the past, to the
    /// second), so [`at_utc`](Self::at_utc) gives back the instant cut to whole seconds.
    #[must_use]
    pub fn at_time(patient: PatientId, kind: JourneyEventKind, at: DateTime<Utc>) -> Self {
        Self::new(patient, kind, at.timestamp())
    }

    /// The same event through a channel.
    #[must_use]
    pub const fn with_channel(mut self, channel: ChannelCode) -> Self {
        self.channel = Some(channel);
        self
    }

    /// The same event with a doctor.
    #[must_use]
    pub const fn with_doctor(mut self, doctor: DoctorId) -> Self {
        self.doctor = Some(doctor);
        self
    }

    /// The same event at a clinic.
    #[must_use]
    pub const fn with_clinic(mut self, clinic: ClinicId) -> Self {
        self.clinic = Some(clinic);
        self
    }

    /// The same event with an amount.
    #[must_use]
    pub const fn with_amount(mut self, amount: Yuan) -> Self {
        self.amount = Some(amount);
        self
    }

    /// When, as a `DateTime` (`None` beyond chrono's range).
    #[must_use]
    pub fn at_utc(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.at, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for s in JourneyStage::ALL {
            let k = JourneyEventKind::stage(s);
            assert_eq!(k.as_stage(), Some(s));
            assert_eq!(k.custom_number(), None);
            assert_eq!(s.code().parse::<JourneyStage>().unwrap(), s);
        }
        let c = JourneyEventKind::custom(5).unwrap();
        assert_eq!(c.as_stage(), None);
        assert_eq!(c.custom_number(), Some(5));
        assert_eq!(JourneyEventKind::from_code(c.code()), c);
        assert!(JourneyEventKind::custom(JourneyEventKind::MAX_CUSTOM + 1).is_err());
        assert!("page_view".parse::<JourneyStage>().is_err());
    }

    #[test]
    fn date_time_events_keep_whole_seconds() {
        let p = PatientId::new(1);
        let kind = JourneyEventKind::stage(JourneyStage::Arrived);
        let whole = DateTime::from_timestamp(1_772_416_800, 0).unwrap();
        let e = JourneyEvent::at_time(p, kind, whole);
        assert_eq!(e, JourneyEvent::new(p, kind, 1_772_416_800));
        assert_eq!(e.at_utc(), Some(whole));
        // Sub-second parts go toward the past, before and after the epoch alike.
        let late = DateTime::from_timestamp(1_772_416_800, 999_999_999).unwrap();
        assert_eq!(JourneyEvent::at_time(p, kind, late).at_utc(), Some(whole));
        let before_epoch = DateTime::from_timestamp(-2, 500_000_000).unwrap();
        assert_eq!(JourneyEvent::at_time(p, kind, before_epoch).at, -2);
        assert_eq!(JourneyEvent::new(p, kind, i64::MAX).at_utc(), None);
    }
}
