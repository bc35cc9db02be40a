//! The crate's one error.

use crate::appointment::{AppointmentError, ScheduleError as AppointmentScheduleError};
use crate::calendar::CalendarError;
use crate::campaign::{CampaignError, ReservationError};
use crate::content::ContentError;
use crate::event::OutreachEventError;

#[cfg(feature = "churn")]
use crate::churn::ChurnError;

use crate::feedback::FeedbackError;
use crate::followup::FollowUpError;
use crate::id::IdError;
use crate::journey::{AppointmentConfigError, ContentConfigError, DaysSupplyError, JourneyError};
use crate::metrics::adherence::AdherenceError;
use crate::metrics::economics::EconomicsError;
use crate::metrics::event::EventError;
use crate::metrics::funnel::FunnelError;
use crate::metrics::rates::RatesError;
use crate::metrics::retention::RetentionError;
use crate::metrics::satisfaction::SatisfactionError;
use crate::money::MoneyError;
use crate::patient::{CadenceError, MobileError, PatientError, ResidentIdError};
use crate::points::{MultiplierError, PointsError, PolicyError, RateError};
use crate::referral::{BindError, ScheduleError};
use crate::relationship::RelationshipError;
use crate::segment::{SegmentError, TagError};
use crate::text::TextError;

/// Any error of this crate: every module's error, for hosts that call several modules.
///
/// Each module keeps its own `#[non_exhaustive]` error enum for precise matching
/// ([`PatientError`], [`PointsError`], …). A host that calls three modules and wants one
/// error type uses [`Error`]: every module error converts into it with `?`, and its message
/// is the module error's message, so nothing is lost.
///
/// ```
/// use clinic_ops::money::Yuan;
/// use clinic_ops::patient::MobileNumber;
///
/// fn parse_both(mobile: &str, amount: &str) -> Result<(MobileNumber, Yuan), clinic_ops::Error> {
///     Ok((MobileNumber::parse(mobile)?, Yuan::parse(amount)?))
/// }
/// let err = parse_both("13800138000", "12.345").unwrap_err();
/// assert!(matches!(err, clinic_ops::Error::Money(_)));
/// assert!(parse_both("138", "1").unwrap_err().to_string().contains("mobile"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An appointment command was refused.
    #[error(transparent)]
    Appointment(#[from] AppointmentError),
    /// An appointment schedule or policy was refused.
    #[error(transparent)]
    AppointmentSchedule(#[from] AppointmentScheduleError),
    /// The journey's in-visit configuration was refused.
    #[error(transparent)]
    AppointmentConfig(#[from] AppointmentConfigError),
    /// The journey's content configuration (library, sequences) was refused.
    #[error(transparent)]
    ContentConfig(#[from] ContentConfigError),
    /// A complaint command or service-level policy was refused.
    #[error(transparent)]
    Feedback(#[from] FeedbackError),
    /// A clinic calendar was refused.
    #[error(transparent)]
    Calendar(#[from] CalendarError),
    /// A typed id was refused.
    #[error(transparent)]
    Id(#[from] IdError),
    /// An amount of money or points was refused.
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A short text field was refused.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A mobile number was refused.
    #[error(transparent)]
    Mobile(#[from] MobileError),
    /// A resident id was refused.
    #[error(transparent)]
    ResidentId(#[from] ResidentIdError),
    /// A chronic follow-up cadence was refused.
    #[error(transparent)]
    Cadence(#[from] CadenceError),
    /// A patient command was refused.
    #[error(transparent)]
    Patient(#[from] PatientError),
    /// A medicine fill's days of supply were refused.
    #[error(transparent)]
    DaysSupply(#[from] DaysSupplyError),
    /// A tag or tag catalog was refused.
    #[error(transparent)]
    Tag(#[from] TagError),
    /// A contact, handover or group command was refused.
    #[error(transparent)]
    Relationship(#[from] RelationshipError),
    /// A segment expression, rule or summary was refused.
    #[error(transparent)]
    Segment(#[from] SegmentError),
    /// A churn model could not be fitted or evaluated.
    #[cfg(feature = "churn")]
    #[error(transparent)]
    Churn(#[from] ChurnError),
    /// A points command was refused.
    #[error(transparent)]
    Points(#[from] PointsError),
    /// A points policy was refused.
    #[error(transparent)]
    PointsPolicy(#[from] PolicyError),
    /// A points multiplier was refused.
    #[error(transparent)]
    Multiplier(#[from] MultiplierError),
    /// A points earning rate was refused.
    #[error(transparent)]
    EarnRate(#[from] RateError),
    /// A campaign or campaign book was refused.
    #[error(transparent)]
    Campaign(#[from] CampaignError),
    /// A usage reservation could not be committed.
    #[error(transparent)]
    Reservation(#[from] ReservationError),
    /// A referral binding was refused.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// A referral reward schedule was refused.
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A care plan, policy or outcome was refused.
    #[error(transparent)]
    FollowUp(#[from] FollowUpError),
    /// A journey event was refused.
    #[error(transparent)]
    Event(#[from] EventError),
    /// A funnel spec or state was refused.
    #[error(transparent)]
    Funnel(#[from] FunnelError),
    /// A retention spec or state was refused.
    #[error(transparent)]
    Retention(#[from] RetentionError),
    /// An adherence input was refused.
    #[error(transparent)]
    Adherence(#[from] AdherenceError),
    /// A rate input was refused.
    #[error(transparent)]
    Rates(#[from] RatesError),
    /// A satisfaction score was refused.
    #[error(transparent)]
    Satisfaction(#[from] SatisfactionError),
    /// A model CLV could not enter the channel economics.
    #[error(transparent)]
    Economics(#[from] EconomicsError),
    /// The journey layer refused a clinic event.
    #[error(transparent)]
    Journey(#[from] JourneyError),
    /// A content account, post, plan or attribution was refused.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// An outreach event or a command on it was refused.
    #[error(transparent)]
    OutreachEvent(#[from] OutreachEventError),
    /// A storage port failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}
