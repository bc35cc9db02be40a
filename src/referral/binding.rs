//! Members, bindings, the binding policy and the typed refusals.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::calendar::SECONDS_PER_DAY;
use crate::id::PatientId;
use crate::patient::{MobileNumber, Patient, ResidentId};

/// What the referral rules need to know about a patient: when they registered, when the
/// clinic first met them, and the identity keys that expose second accounts.
///
/// Build it from a stored [`Patient`] with [`Member::from_patient`], or field by field when
/// the host keeps patients elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The patient.
    pub id: PatientId,
    /// When the patient's file was opened. A referee registered before its referrer was
    /// already the clinic's patient, so nobody brought them.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub registered_at: DateTime<Utc>,
    /// The first contact with the clinic, where the attribution window starts. Usually the
    /// registration; earlier when a lead was met before the file was opened.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub first_contact: DateTime<Utc>,
    /// The normalised mobile number, if known.
    pub mobile: Option<MobileNumber>,
    /// The resident id, if known.
    pub resident_id: Option<ResidentId>,
}

impl Member {
    /// A member with no identity keys whose first contact is its registration.
    #[must_use]
    pub fn new(id: PatientId, registered_at: DateTime<Utc>) -> Self {
        Member {
            id,
            registered_at,
            first_contact: registered_at,
            mobile: None,
            resident_id: None,
        }
    }

    /// The member as the patient module records it: registration time as first contact,
    /// and the mobile and resident id while the patient is not anonymised.
    #[must_use]
    pub fn from_patient(p: &Patient) -> Self {
        Member {
            id: p.id(),
            registered_at: p.registered_at(),
            first_contact: p.registered_at(),
            mobile: p.mobile().copied(),
            resident_id: p.resident_id().copied(),
        }
    }

    /// The same member with a mobile number.
    #[must_use]
    pub fn with_mobile(mut self, mobile: MobileNumber) -> Self {
        self.mobile = Some(mobile);
        self
    }

    /// The same member with a resident id.
    #[must_use]
    pub fn with_resident_id(mut self, id: ResidentId) -> Self {
        self.resident_id = Some(id);
        self
    }

    /// The same member with an earlier (or later) first contact.
    #[must_use]
    pub fn with_first_contact(mut self, at: DateTime<Utc>) -> Self {
        self.first_contact = at;
        self
    }

    /// Which identity key, if any, this member shares with `other`. The mobile is checked
    /// first.
    #[must_use]
    pub fn shared_identity(&self, other: &Member) -> Option<IdentityKey> {
        if self.mobile.is_some() && self.mobile == other.mobile {
            return Some(IdentityKey::Mobile);
        }
        if self.resident_id.is_some() && self.resident_id == other.resident_id {
            return Some(IdentityKey::ResidentId);
        }
        None
    }
}

/// An identity key two patients can share: the sign of a second account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdentityKey {
    /// The normalised mobile number.
    Mobile,
    /// The resident id number.
    ResidentId,
}

impl fmt::Display for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentityKey::Mobile => "mobile",
            IdentityKey::ResidentId => "resident id",
        })
    }
}

/// One edge of the referral forest: `referrer` brought `referee`, bound at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Binding {
    /// The patient who was brought.
    pub referee: PatientId,
    /// The patient who brought them.
    pub referrer: PatientId,
    /// When the binding was made.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
}

/// How long a binding is protected against another referrer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Protection {
    /// The first referrer wins for good: a bound referee is never rebound. The default.
    #[default]
    Permanent,
    /// The first referrer is protected for `days` whole days (of 24 h) after the binding;
    /// from then on another referrer may take the referee over.
    Days {
        /// Length of the protection period.
        days: u32,
    },
}

/// The rules a binding is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingPolicy {
    /// Days (of 24 h) after the referee's first contact during which a binding may still be
    /// made. Codes entered later are refused: by then the patient came on their own.
    pub window_days: u32,
    /// Whether and when a bound referee may be rebound.
    pub protection: Protection,
}

impl Default for BindingPolicy {
    /// A 30-day attribution window and permanent protection of the first referrer.
    fn default() -> Self {
        BindingPolicy {
            window_days: 30,
            protection: Protection::Permanent,
        }
    }
}

impl BindingPolicy {
    /// The last instant (inclusive) a binding of a referee first met at `first_contact` may
    /// be made. Saturates at chrono's range.
    #[must_use]
    pub fn window_end(&self, first_contact: DateTime<Utc>) -> DateTime<Utc> {
        let secs = i64::from(self.window_days).saturating_mul(SECONDS_PER_DAY);
        first_contact
            .checked_add_signed(Duration::seconds(secs))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// When a binding made at `bound_at` stops being protected, or `None` if it never does.
    #[must_use]
    pub fn protected_until(&self, bound_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.protection {
            Protection::Permanent => None,
            Protection::Days { days } => {
                let secs = i64::from(days).saturating_mul(SECONDS_PER_DAY);
                Some(
                    bound_at
                        .checked_add_signed(Duration::seconds(secs))
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                )
            }
        }
    }
}

/// A request to bind `referee` to `referrer` at `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bind {
    /// The patient who was brought.
    pub referee: PatientId,
    /// The patient who claims to have brought them.
    pub referrer: PatientId,
    /// When the code was entered or the link followed.
    #[serde(with = "crate::calendar::in_range::instant")]
    pub at: DateTime<Utc>,
}

/// What a successful bind records. The store keeps, per referee, the binding in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
#[non_exhaustive]
pub enum ReferralEvent {
    /// A first binding of the referee.
    Bound {
        /// The new binding.
        binding: Binding,
    },
    /// The referee's protection ended and another referrer took them over.
    Rebound {
        /// The new binding.
        binding: Binding,
        /// The binding it replaced.
        previous: Binding,
    },
}

impl ReferralEvent {
    /// The binding in force after the event.
    #[must_use]
    pub fn binding(&self) -> &Binding {
        match self {
            ReferralEvent::Bound { binding } | ReferralEvent::Rebound { binding, .. } => binding,
        }
    }
}

/// Why a binding was refused. Each rule has its own variant, and [`BindError::code`] gives
/// the stable code the reference calculator prints.
///
/// When several rules are broken, the first in this order is reported: a time outside the
/// accepted range, unknown patient, self-referral, cycle, already bound, registered first,
/// same identity, outside window.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// One of the two patients is not in the forest.
    #[error("patient {patient} is unknown to the referral forest")]
    UnknownPatient {
        /// The unknown patient.
        patient: PatientId,
    },
    /// A patient named themself as referrer.
    #[error("patient {patient} cannot refer themself")]
    SelfReferral {
        /// The patient.
        patient: PatientId,
    },
    /// The referee is an ancestor of the referrer, so the binding would close a loop.
    #[error(
        "binding {referee} to {referrer} would make a cycle: {referee} is already above {referrer} in the referral tree"
    )]
    Cycle {
        /// The referee.
        referee: PatientId,
        /// The referrer.
        referrer: PatientId,
    },
    /// The referee already has a referrer and is still protected (or protection is
    /// permanent).
    #[error("referee {referee} is already bound to {current} (protected {})", show_until(.protected_until))]
    AlreadyBound {
        /// The referee.
        referee: PatientId,
        /// The referrer who holds them.
        current: PatientId,
        /// When the protection ends, `None` when it never does.
        protected_until: Option<DateTime<Utc>>,
    },
    /// The referee was the clinic's patient before the referrer was.
    #[error(
        "referee {referee} registered at {referee_registered}, before referrer {referrer} at {referrer_registered}"
    )]
    RefereeRegisteredFirst {
        /// The referee.
        referee: PatientId,
        /// The referrer.
        referrer: PatientId,
        /// The referee's registration.
        referee_registered: DateTime<Utc>,
        /// The referrer's registration.
        referrer_registered: DateTime<Utc>,
    },
    /// The two patients share a normalised mobile or resident id: one person, two accounts.
    #[error("referee {referee} and referrer {referrer} share a {key}, so they are one person")]
    SameIdentity {
        /// The referee.
        referee: PatientId,
        /// The referrer.
        referrer: PatientId,
        /// Which key they share.
        key: IdentityKey,
    },
    /// The binding came after the attribution window that opens at the referee's first
    /// contact.
    #[error(
        "binding of referee {referee} at {at} is after its attribution window ended at {window_end}"
    )]
    OutsideWindow {
        /// The referee.
        referee: PatientId,
        /// When the binding was attempted.
        at: DateTime<Utc>,
        /// The last instant the window allowed.
        window_end: DateTime<Utc>,
    },
    /// The binding's time (or a member's registration or first contact) lies outside the
    /// crate's accepted range. Checked before every other rule.
    #[error(transparent)]
    Calendar(#[from] crate::calendar::CalendarError),
}

fn show_until(until: &Option<DateTime<Utc>>) -> String {
    match until {
        Some(t) => format!("until {t}"),
        None => "for good".to_owned(),
    }
}

impl BindError {
    /// The stable refusal code: `unknown_patient`, `self_referral`, `cycle`,
    /// `already_bound`, `referee_registered_first`, `same_identity`, `outside_window` or
    /// `out_of_range`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            BindError::UnknownPatient { .. } => "unknown_patient",
            BindError::SelfReferral { .. } => "self_referral",
            BindError::Cycle { .. } => "cycle",
            BindError::AlreadyBound { .. } => "already_bound",
            BindError::RefereeRegisteredFirst { .. } => "referee_registered_first",
            BindError::SameIdentity { .. } => "same_identity",
            BindError::OutsideWindow { .. } => "outside_window",
            BindError::Calendar(_) => "out_of_range",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn window_and_protection_are_whole_days() {
        let p = BindingPolicy::default();
        assert_eq!(p.window_end(t(0)), t(30 * 86_400));
        assert_eq!(p.protected_until(t(0)), None);
        let q = BindingPolicy {
            window_days: 1,
            protection: Protection::Days { days: 2 },
        };
        assert_eq!(q.protected_until(t(10)), Some(t(10 + 2 * 86_400)));
        assert_eq!(
            q.window_end(DateTime::<Utc>::MAX_UTC),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn shared_identity_needs_a_present_key() {
        let m = MobileNumber::parse("13800138000").unwrap();
        let a = Member::new(PatientId::new(1), t(0));
        let b = Member::new(PatientId::new(2), t(0));
        assert_eq!(
            a.shared_identity(&b),
            None,
            "two missing mobiles are not a match"
        );
        let a = a.with_mobile(m);
        assert_eq!(
            a.shared_identity(&b.clone().with_mobile(m)),
            Some(IdentityKey::Mobile)
        );
        let r = ResidentId::parse("11010519491231002X").unwrap();
        assert_eq!(
            a.clone()
                .with_resident_id(r)
                .shared_identity(&b.with_resident_id(r)),
            Some(IdentityKey::ResidentId)
        );
    }

    #[test]
    fn codes_are_stable_and_messages_name_values() {
        let e = BindError::AlreadyBound {
            referee: PatientId::new(2),
            current: PatientId::new(1),
            protected_until: None,
        };
        assert_eq!(e.code(), "already_bound");
        assert_eq!(
            e.to_string(),
            "referee P2 is already bound to P1 (protected for good)"
        );
        let s = BindError::SelfReferral {
            patient: PatientId::new(5),
        };
        assert_eq!(s.code(), "self_referral");
        assert_eq!(s.to_string(), "patient P5 cannot refer themself");
    }
}
