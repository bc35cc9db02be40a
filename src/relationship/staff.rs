//! The staff roster: the accounts that can hold a patient's contact.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::RelationshipError;
use crate::id::{ClinicId, StaffId};
use crate::text::Label;

/// What kind of account holds a contact. Only doctors count toward concentration risk:
/// the seed's problem is the patient who follows a doctor out of the door, while an
/// assistant's, an employee's or the brand's account is the clinic's hold on the patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AccountKind {
    /// A doctor's own account (医生号).
    Doctor,
    /// A doctor's assistant (医助).
    Assistant,
    /// The clinic's brand account (品牌号).
    Brand,
    /// Another employee: front desk, health manager.
    Employee,
}

/// Whether the account is working or has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StaffStatus {
    /// Working: adds contacts and takes them over.
    #[default]
    Active,
    /// Left the clinic: its contacts go by a resigned-staff transfer (离职继承).
    Left,
}

/// One account on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffAccount {
    /// The account.
    pub id: StaffId,
    /// Its kind.
    pub kind: AccountKind,
    /// The clinic it works at.
    pub clinic: ClinicId,
    /// Its specialty (`针灸`, `内科`), for the same-specialty handover rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub specialty: Option<Label>,
    /// How many contacts it may hold; WeCom caps a member's customers, and a clinic caps a
    /// doctor's panel. A handover never assigns past it.
    pub capacity: u32,
    /// Active or left.
    #[serde(default)]
    pub status: StaffStatus,
}

impl StaffAccount {
    /// An active account with no specialty.
    pub fn new(id: StaffId, kind: AccountKind, clinic: ClinicId, capacity: u32) -> Self {
        StaffAccount {
            id,
            kind,
            clinic,
            specialty: None,
            capacity,
            status: StaffStatus::Active,
        }
    }

    /// With a specialty.
    #[must_use]
    pub fn with_specialty(mut self, specialty: Label) -> Self {
        self.specialty = Some(specialty);
        self
    }

    /// Whether the account is active.
    pub fn is_active(&self) -> bool {
        self.status == StaffStatus::Active
    }
}

/// The most accounts a roster holds: a chain of clinics has hundreds of staff, not millions.
pub const MAX_STAFF: usize = 100_000;

/// The accounts of a clinic or chain, by id.
///
/// Its serde form is `{"accounts": [..]}`, read back through [`StaffRoster::new`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaffRoster {
    accounts: BTreeMap<StaffId, StaffAccount>,
}

impl StaffRoster {
    /// A roster of `accounts`.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::DuplicateId`] for an id given twice,
    /// [`RelationshipError::TooMany`] past [`MAX_STAFF`].
    pub fn new(accounts: Vec<StaffAccount>) -> Result<Self, RelationshipError> {
        if accounts.len() > MAX_STAFF {
            return Err(RelationshipError::TooMany {
                what: "staff roster",
                len: accounts.len(),
                max: MAX_STAFF,
            });
        }
        let mut map = BTreeMap::new();
        for a in accounts {
            let id = a.id;
            if map.insert(id, a).is_some() {
                return Err(RelationshipError::DuplicateId {
                    what: "staff",
                    id: id.to_string(),
                });
            }
        }
        Ok(StaffRoster { accounts: map })
    }

    /// One account.
    pub fn get(&self, id: StaffId) -> Option<&StaffAccount> {
        self.accounts.get(&id)
    }

    /// One account, or [`RelationshipError::UnknownStaff`].
    ///
    /// # Errors
    ///
    /// [`RelationshipError::UnknownStaff`] when it is not on the roster.
    pub fn account(&self, id: StaffId) -> Result<&StaffAccount, RelationshipError> {
        self.accounts
            .get(&id)
            .ok_or(RelationshipError::UnknownStaff { staff: id })
    }

    /// An active account.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::UnknownStaff`] or [`RelationshipError::StaffLeft`].
    pub fn active(&self, id: StaffId) -> Result<&StaffAccount, RelationshipError> {
        let a = self.account(id)?;
        if a.is_active() {
            Ok(a)
        } else {
            Err(RelationshipError::StaffLeft { staff: id })
        }
    }

    /// Marks an account as left (the host's HR event); unknown ids change nothing.
    pub fn mark_left(&mut self, id: StaffId) {
        if let Some(a) = self.accounts.get_mut(&id) {
            a.status = StaffStatus::Left;
        }
    }

    /// Every account, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &StaffAccount> {
        self.accounts.values()
    }

    /// The number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the roster is empty.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

impl Serialize for StaffRoster {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Raw<'a> {
            accounts: Vec<&'a StaffAccount>,
        }
        Raw {
            accounts: self.accounts.values().collect(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for StaffRoster {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            accounts: Vec<StaffAccount>,
        }
        let raw = Raw::deserialize(d)?;
        StaffRoster::new(raw.accounts).map_err(serde::de::Error::custom)
    }
}
