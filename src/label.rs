//! Chinese and English labels for the codes a report shows.
//!
//! Reports and exports carry stable snake_case codes (`at_risk`, `care_reminder`); people who
//! run clinics read labels (`预警`, "At risk"). One trait, [`Label`], gives each code enum its
//! label in a [`Lang`], so a chart, a table or a host's screen never keeps its own copy of the
//! names.
//!
//! ```
//! use clinic_ops::label::{Label, Lang};
//! use clinic_ops::segment::Lifecycle;
//!
//! assert_eq!(Lifecycle::AtRisk.label(Lang::Zh), "预警");
//! assert_eq!(Lifecycle::AtRisk.label(Lang::En), "At risk");
//! ```

use std::fmt;
use std::str::FromStr;

use crate::followup::{TaskKind, TaskOutcome};
use crate::metrics::event::JourneyStage;
use crate::patient::{Channel, ConsentPurpose, Platform};
use crate::referral::{BindError, RewardStatus};
use crate::segment::{Lifecycle, RfmClass};

/// A language labels are given in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[non_exhaustive]
pub enum Lang {
    /// Simplified Chinese, as clinics in mainland China use it.
    #[default]
    Zh,
    /// English.
    En,
}

impl Lang {
    /// Every language, in a fixed order.
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The code: `zh` or `en`.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A language code that is not `zh` or `en`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("language {0:?} is not zh or en")]
pub struct LangError(pub String);

impl FromStr for Lang {
    type Err = LangError;

    /// Parses `zh` or `en` (any case).
    ///
    /// # Errors
    ///
    /// [`LangError`] for any other text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh" => Ok(Lang::Zh),
            "en" => Ok(Lang::En),
            _ => Err(LangError(s.to_owned())),
        }
    }
}

/// A value with a human label in each [`Lang`].
pub trait Label {
    /// The label in `lang`. Borrowed from `self` only for values that carry their own text
    /// (an unknown [`Channel::Other`] is shown as given).
    fn label(&self, lang: Lang) -> &str;
}

/// Picks the label of a language from a `(zh, en)` pair.
fn pick(lang: Lang, (zh, en): (&'static str, &'static str)) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

impl Label for Lifecycle {
    fn label(&self, lang: Lang) -> &str {
        let en = match self {
            Lifecycle::New => "New",
            Lifecycle::Active => "Active",
            Lifecycle::AtRisk => "At risk",
            Lifecycle::Dormant => "Dormant",
            Lifecycle::Lost => "Lost",
            Lifecycle::WonBack => "Won back",
        };
        pick(lang, (self.label_zh(), en))
    }
}

impl Label for JourneyStage {
    fn label(&self, lang: Lang) -> &str {
        pick(
            lang,
            match self {
                JourneyStage::Lead => ("引流", "Lead"),
                JourneyStage::Converted => ("转化", "Converted"),
                JourneyStage::Booked => ("预约挂号", "Booked"),
                JourneyStage::Arrived => ("到馆", "Arrived"),
                JourneyStage::Consulted => ("问诊", "Consulted"),
                JourneyStage::Purchased => ("取药", "Purchased"),
                JourneyStage::FollowedUp => ("诊后随访", "Followed up"),
                JourneyStage::Revisited => ("复诊", "Revisited"),
                JourneyStage::Referred => ("转介绍", "Referred"),
            },
        )
    }
}

impl Label for RfmClass {
    fn label(&self, lang: Lang) -> &str {
        let en = match self {
            RfmClass::ImportantValue => "Champions",
            RfmClass::ImportantDevelop => "High-value, developing",
            RfmClass::ImportantKeep => "High-value, to keep",
            RfmClass::ImportantRetain => "High-value, to win back",
            RfmClass::GeneralValue => "Loyal, low spend",
            RfmClass::GeneralDevelop => "Recent, developing",
            RfmClass::GeneralKeep => "Frequent, to keep",
            RfmClass::GeneralRetain => "Low-value, to win back",
        };
        pick(lang, (self.name_zh(), en))
    }
}

impl Label for Platform {
    fn label(&self, lang: Lang) -> &str {
        pick(
            lang,
            match self {
                Platform::Xiaohongshu => ("小红书", "Xiaohongshu"),
                Platform::Douyin => ("抖音", "Douyin"),
                Platform::Kuaishou => ("快手", "Kuaishou"),
                Platform::WechatChannels => ("微信视频号", "WeChat Channels"),
                Platform::WechatOfficial => ("微信公众号", "WeChat Official Account"),
            },
        )
    }
}

impl Label for Channel {
    fn label(&self, lang: Lang) -> &str {
        use Platform as P;
        let pair = match self {
            Channel::DoctorAccount(p) => match p {
                P::Xiaohongshu => ("医生IP号·小红书", "Doctor's account, Xiaohongshu"),
                P::Douyin => ("医生IP号·抖音", "Doctor's account, Douyin"),
                P::Kuaishou => ("医生IP号·快手", "Doctor's account, Kuaishou"),
                P::WechatChannels => ("医生IP号·微信视频号", "Doctor's account, WeChat Channels"),
                P::WechatOfficial => (
                    "医生IP号·微信公众号",
                    "Doctor's account, WeChat Official Account",
                ),
            },
            Channel::ClinicAccount(p) => match p {
                P::Xiaohongshu => ("诊所号·小红书", "Clinic account, Xiaohongshu"),
                P::Douyin => ("诊所号·抖音", "Clinic account, Douyin"),
                P::Kuaishou => ("诊所号·快手", "Clinic account, Kuaishou"),
                P::WechatChannels => ("诊所号·微信视频号", "Clinic account, WeChat Channels"),
                P::WechatOfficial => (
                    "诊所号·微信公众号",
                    "Clinic account, WeChat Official Account",
                ),
            },
            Channel::Kol => ("达人(KOL)", "KOL"),
            Channel::Koc => ("素人(KOC)", "KOC"),
            Channel::WordOfMouth => ("口碑", "Word of mouth"),
            Channel::Referral => ("转介绍", "Referral"),
            Channel::CommunityEvent => ("社区活动", "Community event"),
            Channel::FreeClinic => ("义诊", "Free clinic"),
            Channel::Partner => ("异业合作", "Partner"),
            Channel::OfflineAd => ("线下广告", "Offline ad"),
            Channel::WalkIn => ("自然到店", "Walk-in"),
            // An unknown channel has no translation: it is shown as the clinic wrote it.
            Channel::Other(text) => return text,
        };
        pick(lang, pair)
    }
}

impl Label for ConsentPurpose {
    fn label(&self, lang: Lang) -> &str {
        pick(
            lang,
            match self {
                ConsentPurpose::CareReminder => ("诊疗提醒", "Care reminders"),
                ConsentPurpose::Marketing => ("营销信息", "Marketing"),
                ConsentPurpose::HealthDataSegmentation => {
                    ("健康数据用于分群", "Health data for segmentation")
                }
                ConsentPurpose::GroupChat => ("患者群", "Patient group chats"),
                ConsentPurpose::ThirdPartySharing => ("向第三方提供", "Sharing with third parties"),
            },
        )
    }
}

impl Label for TaskKind {
    fn label(&self, lang: Lang) -> &str {
        pick(
            lang,
            match self {
                TaskKind::PostVisitCheck => ("疗效回访", "Post-visit check"),
                TaskKind::RevisitBooking => ("复诊预约", "Revisit booking"),
                TaskKind::Refill => ("续药提醒", "Refill reminder"),
                TaskKind::Recheck => ("复查提醒", "Re-check reminder"),
                TaskKind::ChronicFollowUp => ("慢病随访", "Chronic care follow-up"),
                TaskKind::SeasonChange => ("节气关怀", "Change-of-season care"),
                TaskKind::Birthday => ("生日关怀", "Birthday care"),
                TaskKind::WinBack => ("沉睡唤醒", "Win-back"),
                TaskKind::AppointmentReminder => ("预约提醒", "Appointment reminder"),
                TaskKind::PreVisitIntake => ("诊前问诊", "Pre-visit intake"),
                TaskKind::NoShowRecovery => ("爽约回访", "No-show call"),
                TaskKind::Rebooking => ("改约提醒", "Rebooking prompt"),
                TaskKind::ServiceRecovery => ("投诉回访", "Service recovery call"),
                TaskKind::ContentSequence => ("内容推送", "Content sequence step"),
                TaskKind::EventReminder => ("活动提醒", "Event reminder"),
            },
        )
    }
}

impl Label for TaskOutcome {
    fn label(&self, lang: Lang) -> &str {
        pick(
            lang,
            match self {
                TaskOutcome::Reached => ("已联系", "Reached"),
                TaskOutcome::NotReached => ("未联系上", "Not reached"),
                TaskOutcome::Booked => ("已预约", "Booked"),
                TaskOutcome::Declined => ("已婉拒", "Declined"),
                TaskOutcome::OptedOut => ("拒绝联系", "Opted out"),
                TaskOutcome::Cancelled => ("已取消", "Cancelled"),
            },
        )
    }
}

impl Label for RewardStatus {
    fn label(&self, lang: Lang) -> &str {
        pick(
            lang,
            match self {
                RewardStatus::Pending { .. } => ("待生效", "Pending"),
                RewardStatus::Approved { .. } => ("已发放", "Approved"),
                RewardStatus::Reversed { .. } => ("已撤回", "Reversed"),
                RewardStatus::Withheld { .. } => ("已封顶", "Withheld"),
            },
        )
    }
}

/// The label of a referral refusal code ([`BindError::code`]), or `None` for a code that
/// is not one: reports such as the `referral` calculator's carry the code, not the error.
#[must_use]
pub fn refusal_label(code: &str, lang: Lang) -> Option<&'static str> {
    let pair = match code {
        "unknown_patient" => ("未知患者", "Unknown patient"),
        "self_referral" => ("自己推荐自己", "Self-referral"),
        "cycle" => ("循环推荐", "Referral cycle"),
        "already_bound" => ("已绑定推荐人", "Already bound"),
        "referee_registered_first" => ("被推荐人先注册", "Referee registered first"),
        "same_identity" => ("同一身份", "Same identity"),
        "outside_window" => ("超出归因窗口", "Outside the attribution window"),
        "out_of_range" => ("时间超出范围", "Time out of range"),
        _ => return None,
    };
    Some(pick(lang, pair))
}

impl Label for BindError {
    fn label(&self, lang: Lang) -> &str {
        // Every code `BindError::code` gives has a label (the completeness test checks it).
        refusal_label(self.code(), lang).unwrap_or_else(|| self.code())
    }
}

/// Every refusal code [`BindError::code`] can give, in the order its documentation lists.
pub const REFUSAL_CODES: [&str; 8] = [
    "unknown_patient",
    "self_referral",
    "cycle",
    "already_bound",
    "referee_registered_first",
    "same_identity",
    "outside_window",
    "out_of_range",
];

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every label of every value: non-empty, trimmed, unique within its enum and language;
    /// Chinese labels hold Chinese characters, English ones are ASCII.
    fn complete(name: &str, labels: Vec<(Lang, String)>) {
        for lang in Lang::ALL {
            let mine: Vec<&String> = labels
                .iter()
                .filter(|(l, _)| *l == lang)
                .map(|(_, s)| s)
                .collect();
            let unique: BTreeSet<&&String> = mine.iter().collect();
            assert_eq!(unique.len(), mine.len(), "{name}: duplicate {lang} label");
            for s in mine {
                assert!(!s.is_empty() && s.trim() == s, "{name}: label {s:?}");
                match lang {
                    Lang::Zh => assert!(
                        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
                        "{name}: {s:?} has no Chinese"
                    ),
                    _ => assert!(s.is_ascii(), "{name}: {s:?} is not English"),
                }
            }
        }
    }

    fn all<T: Label>(values: impl IntoIterator<Item = T>) -> Vec<(Lang, String)> {
        values
            .into_iter()
            .flat_map(|v| Lang::ALL.map(|l| (l, v.label(l).to_owned())))
            .collect()
    }

    #[test]
    fn every_code_enum_has_both_labels() {
        complete("lifecycle", all(Lifecycle::ALL));
        complete("journey stage", all(JourneyStage::ALL));
        complete("rfm class", all(RfmClass::ALL));
        complete("consent purpose", all(ConsentPurpose::ALL));
        complete("task kind", all(TaskKind::ALL));
        complete("task outcome", all(TaskOutcome::ALL));
        complete("platform", all(Platform::ALL));
        let channels: Vec<Channel> = [
            "kol",
            "koc",
            "word_of_mouth",
            "referral",
            "community_event",
            "free_clinic",
            "partner",
            "offline_ad",
            "walk_in",
        ]
        .into_iter()
        .map(String::from)
        .chain(Platform::ALL.iter().flat_map(|p| {
            [
                format!("doctor_ip/{}", p.code()),
                format!("clinic_account/{}", p.code()),
            ]
        }))
        .map(|c| Channel::parse(&c).unwrap())
        .collect();
        assert!(!channels.iter().any(|c| matches!(c, Channel::Other(_))));
        complete("channel", all(channels));
        let refusals = REFUSAL_CODES
            .iter()
            .flat_map(|c| Lang::ALL.map(|l| (l, refusal_label(c, l).unwrap().to_owned())))
            .collect();
        complete("refusal code", refusals);
        let t = chrono::DateTime::UNIX_EPOCH;
        let statuses = [
            RewardStatus::Pending { approves_at: t },
            RewardStatus::Approved { approved_at: t },
            RewardStatus::Reversed { refunded_at: t },
            RewardStatus::Withheld {
                cap: crate::referral::CapKind::Lifetime,
            },
        ];
        complete("reward status", all(statuses));
    }

    #[test]
    fn an_unknown_channel_is_shown_as_written() {
        let c = Channel::parse("社区团购").unwrap();
        assert_eq!(c.label(Lang::En), "社区团购");
        assert_eq!(refusal_label("nonsense", Lang::En), None);
    }

    #[test]
    fn lang_parses_its_codes_only() {
        for l in Lang::ALL {
            assert_eq!(l.code().parse::<Lang>(), Ok(l));
        }
        assert_eq!("EN".parse::<Lang>(), Ok(Lang::En));
        assert!("fr".parse::<Lang>().is_err());
    }
}
