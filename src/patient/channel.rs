//! Acquisition channels (引流渠道).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::text::{TextError, clean_text};

/// A content platform where a doctor or a clinic runs an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Platform {
    /// 小红书.
    Xiaohongshu,
    /// 抖音.
    Douyin,
    /// 快手.
    Kuaishou,
    /// 微信视频号.
    WechatChannels,
    /// 微信公众号.
    WechatOfficial,
}

impl Platform {
    /// Every platform, in a fixed order.
    pub const ALL: [Platform; 5] = [
        Platform::Xiaohongshu,
        Platform::Douyin,
        Platform::Kuaishou,
        Platform::WechatChannels,
        Platform::WechatOfficial,
    ];

    /// The code used in channel strings.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Platform::Xiaohongshu => "xiaohongshu",
            Platform::Douyin => "douyin",
            Platform::Kuaishou => "kuaishou",
            Platform::WechatChannels => "wechat_channels",
            Platform::WechatOfficial => "wechat_official",
        }
    }
}

impl fmt::Display for Platform {
    /// The code used in channel strings: `xiaohongshu`, `wechat_channels`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How a patient first met the clinic.
///
/// Written as a short code: `doctor_ip/xiaohongshu`, `clinic_account/douyin`, `kol`, `koc`,
/// `word_of_mouth`, `referral`, `community_event`, `free_clinic`, `partner`, `offline_ad`,
/// `walk_in`, or any other text, kept as [`Channel::Other`]. A bare platform code
/// (`xiaohongshu`) means a doctor's account on it, the commonest case in the sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum Channel {
    /// A doctor's personal IP account (医生IP号).
    DoctorAccount(Platform),
    /// The clinic's brand account.
    ClinicAccount(Platform),
    /// A key opinion leader.
    Kol,
    /// A key opinion consumer.
    Koc,
    /// Word of mouth (口碑).
    WordOfMouth,
    /// Brought by an existing patient (转介绍).
    Referral,
    /// A community event or health lecture.
    CommunityEvent,
    /// A free clinic (义诊).
    FreeClinic,
    /// A cross-industry partner (异业合作).
    Partner,
    /// An offline advertisement.
    OfflineAd,
    /// Walked in.
    WalkIn,
    /// Anything else, as given (trimmed, at most 32 characters).
    Other(String),
}

impl Channel {
    /// Parses a channel code; unknown codes become [`Channel::Other`].
    ///
    /// # Errors
    ///
    /// [`TextError`] when empty, longer than 32 characters or holding control characters.
    pub fn parse(s: &str) -> Result<Self, TextError> {
        let t = clean_text("channel", s, 32, false)?;
        let lower = t.to_ascii_lowercase();
        let platform = |code: &str| Platform::ALL.into_iter().find(|p| p.code() == code);
        let known = match lower.as_str() {
            "kol" => Some(Channel::Kol),
            "koc" => Some(Channel::Koc),
            "word_of_mouth" => Some(Channel::WordOfMouth),
            "referral" => Some(Channel::Referral),
            "community_event" => Some(Channel::CommunityEvent),
            "free_clinic" => Some(Channel::FreeClinic),
            "partner" => Some(Channel::Partner),
            "offline_ad" | "ad" => Some(Channel::OfflineAd),
            "walk_in" => Some(Channel::WalkIn),
            other => {
                if let Some(p) = other.strip_prefix("doctor_ip/").and_then(platform) {
                    Some(Channel::DoctorAccount(p))
                } else if let Some(p) = other.strip_prefix("clinic_account/").and_then(platform) {
                    Some(Channel::ClinicAccount(p))
                } else {
                    platform(other).map(Channel::DoctorAccount)
                }
            }
        };
        Ok(known.unwrap_or(Channel::Other(t)))
    }

    /// The canonical code.
    #[must_use]
    pub fn code(&self) -> String {
        match self {
            Channel::DoctorAccount(p) => format!("doctor_ip/{}", p.code()),
            Channel::ClinicAccount(p) => format!("clinic_account/{}", p.code()),
            Channel::Kol => "kol".into(),
            Channel::Koc => "koc".into(),
            Channel::WordOfMouth => "word_of_mouth".into(),
            Channel::Referral => "referral".into(),
            Channel::CommunityEvent => "community_event".into(),
            Channel::FreeClinic => "free_clinic".into(),
            Channel::Partner => "partner".into(),
            Channel::OfflineAd => "offline_ad".into(),
            Channel::WalkIn => "walk_in".into(),
            Channel::Other(s) => s.clone(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

impl FromStr for Channel {
    type Err = TextError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Channel {
    type Error = TextError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Channel> for String {
    fn from(c: Channel) -> String {
        c.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [
            "doctor_ip/xiaohongshu",
            "clinic_account/douyin",
            "kol",
            "walk_in",
            "义诊二队",
        ] {
            assert_eq!(Channel::parse(code).unwrap().code(), code);
        }
        assert_eq!(
            Channel::parse("Xiaohongshu").unwrap(),
            Channel::DoctorAccount(Platform::Xiaohongshu)
        );
        assert!(Channel::parse("").is_err());
        for p in Platform::ALL {
            let doctor = Channel::parse(&format!("doctor_ip/{p}")).unwrap();
            assert_eq!(doctor, Channel::DoctorAccount(p));
            assert_eq!(doctor.to_string(), format!("doctor_ip/{p}"));
        }
        assert!(Channel::parse(&"x".repeat(33)).is_err());
    }
}
