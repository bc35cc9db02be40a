//! What an outreach event is, and its static check.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::OutreachEventError;
use crate::campaign::{AdLawRule, AdLawWords};
use crate::content::{CopyFinding, MAX_COPY_CHARS, lint_findings};
use crate::id::{ClinicId, OutreachEventId};
use crate::text::Label;

/// Where a health lecture happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LectureVenue {
    /// In a patient WeChat group (群里的科普讲堂).
    Group,
    /// At the clinic or in the community.
    OnSite,
}

/// The kinds of outreach event in the sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum OutreachEventKind {
    /// A health lecture (健康公益科普讲堂).
    Lecture {
        /// Where.
        venue: LectureVenue,
    },
    /// A free clinic (义诊): a community free clinic needs an official approval before it
    /// may be held (社区义诊活动需要批准才能开展), whose reference is kept here.
    FreeClinic {
        /// The approval's reference number, once granted.
        approval: Option<Label>,
    },
    /// A member day with free checks (会员日: 免费的仪器检测, 体检).
    MemberDay,
}

/// An outreach event: a lecture, a free clinic or a member day, with its seats and the copy
/// of its invitation (checked by the Advertising Law lint, like a post's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawOutreachEvent")]
pub struct OutreachEvent {
    id: OutreachEventId,
    clinic: ClinicId,
    kind: OutreachEventKind,
    title: Label,
    #[serde(with = "crate::calendar::in_range::instant")]
    starts: DateTime<Utc>,
    capacity: u32,
    invitation: String,
    findings: Vec<CopyFinding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutreachEvent {
    id: OutreachEventId,
    clinic: ClinicId,
    kind: OutreachEventKind,
    title: Label,
    #[serde(with = "crate::calendar::in_range::instant")]
    starts: DateTime<Utc>,
    capacity: u32,
    invitation: String,
    findings: Vec<CopyFinding>,
}

impl TryFrom<RawOutreachEvent> for OutreachEvent {
    type Error = OutreachEventError;
    fn try_from(r: RawOutreachEvent) -> Result<Self, Self::Error> {
        let mut e = OutreachEvent::build(
            r.id,
            r.clinic,
            r.kind,
            r.title,
            r.starts,
            r.capacity,
            r.invitation,
        )?;
        // Stored findings record the word list of the day the invitation was written.
        e.findings = r.findings;
        Ok(e)
    }
}

impl OutreachEvent {
    /// The most seats of one event.
    pub const MAX_CAPACITY: u32 = 100_000;

    /// An event with `capacity` seats and no invitation yet.
    ///
    /// # Errors
    ///
    /// [`OutreachEventError::Capacity`] for 0 seats or more than
    /// [`OutreachEvent::MAX_CAPACITY`].
    pub fn new(
        id: OutreachEventId,
        clinic: ClinicId,
        kind: OutreachEventKind,
        title: Label,
        starts: DateTime<Utc>,
        capacity: u32,
    ) -> Result<Self, OutreachEventError> {
        Self::build(id, clinic, kind, title, starts, capacity, String::new())
    }

    /// The same event with its invitation's copy, checked against `words`.
    ///
    /// # Errors
    ///
    /// [`OutreachEventError::InvitationTooLong`] for an invitation over
    /// [`MAX_COPY_CHARS`].
    pub fn with_invitation(
        self,
        invitation: &str,
        words: &AdLawWords,
    ) -> Result<Self, OutreachEventError> {
        let mut e = Self::build(
            self.id,
            self.clinic,
            self.kind,
            self.title,
            self.starts,
            self.capacity,
            invitation.to_owned(),
        )?;
        e.findings = lint_findings(&e.invitation, words);
        Ok(e)
    }

    fn build(
        id: OutreachEventId,
        clinic: ClinicId,
        kind: OutreachEventKind,
        title: Label,
        starts: DateTime<Utc>,
        capacity: u32,
        invitation: String,
    ) -> Result<Self, OutreachEventError> {
        if capacity == 0 || capacity > Self::MAX_CAPACITY {
            return Err(OutreachEventError::Capacity {
                event: id,
                capacity,
                max: Self::MAX_CAPACITY,
            });
        }
        let chars = invitation.chars().count();
        if chars > MAX_COPY_CHARS {
            return Err(OutreachEventError::InvitationTooLong {
                event: id,
                chars,
                max: MAX_COPY_CHARS,
            });
        }
        Ok(OutreachEvent {
            id,
            clinic,
            kind,
            title,
            starts,
            capacity,
            invitation,
            findings: Vec::new(),
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> OutreachEventId {
        self.id
    }

    /// The clinic holding it.
    #[must_use]
    pub fn clinic(&self) -> ClinicId {
        self.clinic
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> &OutreachEventKind {
        &self.kind
    }

    /// The title.
    #[must_use]
    pub fn title(&self) -> &Label {
        &self.title
    }

    /// When it starts.
    #[must_use]
    pub fn starts(&self) -> DateTime<Utc> {
        self.starts
    }

    /// Its seats.
    #[must_use]
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// The invitation's copy.
    #[must_use]
    pub fn invitation(&self) -> &str {
        &self.invitation
    }

    /// The Advertising Law findings of the invitation.
    #[must_use]
    pub fn findings(&self) -> &[CopyFinding] {
        &self.findings
    }
}

/// What the static check of an event found. Every finding blocks publishing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventCheck {
    /// A free clinic without an approval reference.
    FreeClinicWithoutApproval,
    /// The event starts before `now`.
    StartsInPast,
    /// The invitation uses a word the Advertising Law forbids in medical ads, as the
    /// campaign lint finds it.
    AdLaw {
        /// The word found.
        word: String,
        /// The rule it breaks.
        rule: AdLawRule,
    },
}

/// The static check of an event before it is published, in the style of
/// [`check_book`](crate::campaign::check_book): a free clinic without an approval
/// reference, a start in the past, and every Advertising Law finding of the invitation.
/// An empty list means the event may be published.
#[must_use]
pub fn check_event(event: &OutreachEvent, now: DateTime<Utc>) -> Vec<EventCheck> {
    let mut out = Vec::new();
    if matches!(event.kind, OutreachEventKind::FreeClinic { approval: None }) {
        out.push(EventCheck::FreeClinicWithoutApproval);
    }
    if event.starts < now {
        out.push(EventCheck::StartsInPast);
    }
    out.extend(event.findings.iter().map(|f| EventCheck::AdLaw {
        word: f.word.clone(),
        rule: f.rule,
    }));
    out
}
