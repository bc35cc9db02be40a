//! The accepted range applied to the dates a patient command carries.
//!
//! Serde refuses these dates out of range; a command built in code comes through
//! [`PatientCommand::check_range`] at the top of [`super::decide`], so that nothing a patient
//! file stores is outside [`crate::calendar::EARLIEST_DATE`]`..=`[`crate::calendar::LATEST_DATE`].

use super::command::PatientCommand;
use crate::calendar::{CalendarError, check_date};

impl PatientCommand {
    /// Checks every date the command carries against the crate's accepted range.
    ///
    /// # Errors
    ///
    /// [`CalendarError::DateOutOfRange`] naming the first date out of range.
    pub(super) fn check_range(&self) -> Result<(), CalendarError> {
        match self {
            PatientCommand::Register(reg) => {
                if let Some(b) = reg.birth_date {
                    check_date("birth_date", b)?;
                }
            }
            PatientCommand::OpenChronicFile { diagnosed_on, .. } => {
                check_date("diagnosed_on", *diagnosed_on)?;
            }
            PatientCommand::RecordFollowUp { on, .. } => {
                check_date("on", *on)?;
            }
            PatientCommand::SetDeletionDeadline(d) => {
                check_date("by", d.by)?;
            }
            PatientCommand::UpdateContact(_)
            | PatientCommand::GrantConsent { .. }
            | PatientCommand::WithdrawConsent { .. }
            | PatientCommand::CloseChronicFile { .. }
            | PatientCommand::Anonymise => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patient::{ConditionCode, DeletionDeadline, DeletionReason, FollowUpCadence};
    use chrono::NaiveDate;

    #[test]
    fn each_dated_command_is_checked() {
        let far = NaiveDate::MIN;
        let cmds = [
            (
                PatientCommand::OpenChronicFile {
                    condition: ConditionCode::parse("E11").unwrap(),
                    name: "x".into(),
                    diagnosed_on: far,
                    cadence: FollowUpCadence::PUBLIC_HEALTH_DEFAULT,
                },
                "diagnosed_on",
            ),
            (
                PatientCommand::RecordFollowUp {
                    condition: ConditionCode::parse("E11").unwrap(),
                    on: far,
                },
                "on",
            ),
            (
                PatientCommand::SetDeletionDeadline(DeletionDeadline {
                    by: NaiveDate::MAX,
                    reason: DeletionReason::Requested,
                }),
                "by",
            ),
        ];
        for (cmd, field) in cmds {
            assert!(
                matches!(cmd.check_range(), Err(CalendarError::DateOutOfRange { field: f, .. }) if f == field),
                "{cmd:?}"
            );
        }
        assert_eq!(PatientCommand::Anonymise.check_range(), Ok(()));
    }
}
