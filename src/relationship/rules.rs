//! The platform's transfer rules, as data, with WeCom's as the default (sources on
//! [`TransferRules`]).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::RelationshipError;

/// Which WeCom transfer a handover uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransferMode {
    /// 在职继承: from an account that is still working (reassignment).
    OnJob,
    /// 离职继承: from an account that has left.
    Resigned,
}

/// What a patient who declines a transfer ends up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeclineOutcome {
    /// The patient stays with the original account.
    StaysWithOriginal,
    /// The contact through the original account ends.
    ContactLost,
}

/// How many transfers a patient may have in a rolling period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferLimit {
    /// At most this many transfers...
    pub count: u32,
    /// ...in this many days (the period ends at the new transfer, inclusive; its start is
    /// `at - days`, exclusive).
    pub days: u32,
}

/// The rules of one transfer mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeRules {
    /// The per-patient limit, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<TransferLimit>,
    /// How long the patient has to decline, in hours; the transfer takes effect when it
    /// closes. 0 to 8,760 (a year).
    pub decline_window_hours: u32,
    /// What a decline leaves.
    pub on_decline: DeclineOutcome,
}

/// The longest decline window accepted, in hours.
pub const MAX_DECLINE_WINDOW_HOURS: u32 = 8_760;
/// The longest limit period accepted, in days.
pub const MAX_LIMIT_DAYS: u32 = 3_660;

/// The transfer rules of a platform, per mode. [`TransferRules::wecom`] is the default.
///
/// # What WeCom documents
///
/// - **On-job transfer (在职继承)**, `externalcontact/transfer_customer`
///   (<https://developer.work.weixin.qq.com/document/path/96325>): "为保障客户服务体验,90个自然日内,
///   在职成员的每位客户仅可被转接2次" — within 90 natural days each customer of an active
///   member may be transferred at most twice. A result of `0` "表示成功发起接替,待24小时后自动接替,
///   并不代表最终接替成功": the transfer starts, takes effect automatically after 24 hours,
///   and may still fail. At most 100 customers per call; the message to the customer
///   (`transfer_success_msg`) is at most 200 characters.
/// - **Resigned-staff transfer (离职继承)**, `externalcontact/resigned/transfer_customer`
///   (<https://developer.work.weixin.qq.com/document/path/96331>): the departing member must
///   have left ("handover_userid必须是已离职用户"), not more than a year ago; the same
///   "automatic after 24 hours" result. The page states no per-customer limit, so none is
///   set here.
/// - **Transfer status** (<https://developer.work.weixin.qq.com/document/path/96333>):
///   1 接替完毕 (done), 2 等待接替 (waiting), 3 客户拒绝 (the customer declined),
///   4 接替成员客户达到上限 (the successor is at its customer limit). Statuses 3 and 4 are
///   typed here as [`RelationshipError::PatientDeclined`] and
///   [`RelationshipError::SuccessorAtCapacity`]; the 90-day rule's refusal is
///   [`RelationshipError::OverTransferLimit`].
///
/// # What could not be verified
///
/// What happens to a customer who declines is not on WeCom's API pages found. A WeChat
/// developer-community answer
/// (<https://developers.weixin.qq.com/community/personal/oCJUsw0mF-TDdQ8As7VPQFL6gc40/answer>,
/// not an official document) says a declined on-job transfer returns the customer to the
/// original member, and a declined resigned transfer loses the customer. The defaults
/// follow it ([`DeclineOutcome`]); a host that learns otherwise changes the data. Whether a
/// declined transfer counts toward the 90-day limit is not documented either: this module
/// counts every transfer started and not declined. That never exceeds WeCom's limit if
/// WeCom counts completed transfers only; if WeCom also counts declined ones, WeCom will
/// refuse a transfer this module allows, and the host records that refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTransferRules")]
pub struct TransferRules {
    on_job: ModeRules,
    resigned: ModeRules,
}

#[derive(Deserialize)]
struct RawTransferRules {
    on_job: ModeRules,
    resigned: ModeRules,
}

impl TryFrom<RawTransferRules> for TransferRules {
    type Error = RelationshipError;
    fn try_from(r: RawTransferRules) -> Result<Self, Self::Error> {
        TransferRules::new(r.on_job, r.resigned)
    }
}

impl Default for TransferRules {
    fn default() -> Self {
        TransferRules::wecom()
    }
}

fn check_mode(field: &'static str, m: &ModeRules) -> Result<(), RelationshipError> {
    if m.decline_window_hours > MAX_DECLINE_WINDOW_HOURS {
        return Err(RelationshipError::OutOfRange {
            field,
            value: m.decline_window_hours.to_string(),
            reason: "a decline window is at most 8760 hours",
        });
    }
    if let Some(l) = m.limit
        && (l.days == 0 || l.days > MAX_LIMIT_DAYS)
    {
        return Err(RelationshipError::OutOfRange {
            field,
            value: l.days.to_string(),
            reason: "a limit period is 1 to 3660 days",
        });
    }
    Ok(())
}

impl TransferRules {
    /// Rules of the two modes.
    ///
    /// # Errors
    ///
    /// [`RelationshipError::OutOfRange`] for a decline window over
    /// [`MAX_DECLINE_WINDOW_HOURS`] or a limit period of 0 or over [`MAX_LIMIT_DAYS`].
    pub fn new(on_job: ModeRules, resigned: ModeRules) -> Result<Self, RelationshipError> {
        check_mode("on_job", &on_job)?;
        check_mode("resigned", &resigned)?;
        Ok(TransferRules { on_job, resigned })
    }

    /// WeCom's rules (see [`TransferRules`] for the sources): on-job, at most 2
    /// transfers in 90 days, 24 hours to decline, a decline stays with the original
    /// account; resigned, no limit, 24 hours, a decline loses the contact.
    pub const fn wecom() -> Self {
        TransferRules {
            on_job: ModeRules {
                limit: Some(TransferLimit { count: 2, days: 90 }),
                decline_window_hours: 24,
                on_decline: DeclineOutcome::StaysWithOriginal,
            },
            resigned: ModeRules {
                limit: None,
                decline_window_hours: 24,
                on_decline: DeclineOutcome::ContactLost,
            },
        }
    }

    /// The rules of a mode.
    pub fn mode(&self, mode: TransferMode) -> &ModeRules {
        match mode {
            TransferMode::OnJob => &self.on_job,
            TransferMode::Resigned => &self.resigned,
        }
    }

    /// When a transfer of `mode` started at `at` takes effect.
    pub fn settles_at(&self, mode: TransferMode, at: DateTime<Utc>) -> DateTime<Utc> {
        let hours = i64::from(self.mode(mode).decline_window_hours);
        at.checked_add_signed(Duration::hours(hours)).unwrap_or(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wecom_rules_round_trip_and_bad_rules_are_refused() {
        let r = TransferRules::wecom();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<TransferRules>(&json).unwrap(), r);
        let bad = json.replace("\"days\":90", "\"days\":0");
        let e = serde_json::from_str::<TransferRules>(&bad).unwrap_err();
        assert!(e.to_string().contains("limit period"), "{e}");
        assert_eq!(r.mode(TransferMode::OnJob).limit.map(|l| l.count), Some(2));
    }
}
